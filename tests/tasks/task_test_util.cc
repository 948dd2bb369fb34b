// File: tests/tasks/task_test_util.cc
#include "tests/tasks/task_test_util.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "runners/chat_prompt.h"
#include "tests/testing/temp_dir.h"

namespace evald::tasks::testing {

absl::Status FakeRunner::Loglikelihood(
    absl::Span<const runners::LoglikelihoodRequest> requests,
    const runners::CallOptions& options,
    const runners::ResultCallback<runners::LoglikelihoodResult>& on_result) {
  ++loglikelihood_calls;
  ll_requests.assign(requests.begin(), requests.end());
  for (size_t k = requests.size(); k-- > 0;) {
    if (options.cancelled != nullptr && options.cancelled->load()) {
      on_result(k, absl::CancelledError("cancelled"));
      continue;
    }
    if (!fail_context_containing.empty() &&
        requests[k].context.find(fail_context_containing) !=
            std::string::npos) {
      on_result(k, absl::InvalidArgumentError("prompt too long"));
      continue;
    }
    runners::LoglikelihoodResult result;
    result.logprob = score(requests[k]);
    result.context_tokens = static_cast<int>(requests[k].context.size());
    result.continuation_token_ids = {1};
    on_result(k, result);
  }
  return absl::OkStatus();
}

absl::Status FakeRunner::Generate(
    absl::Span<const runners::GenerateRequest> requests,
    const runners::CallOptions& options,
    const runners::ResultCallback<runners::GenerateResult>& on_result) {
  ++generate_calls;
  // Chat messages are rendered with this runner's template, as a runner with
  // a template of its own does.
  gen_requests.assign(requests.begin(), requests.end());
  for (runners::GenerateRequest& r : gen_requests) {
    if (r.messages.empty()) continue;
    absl::StatusOr<std::string> rendered = runners::RenderedPrompt(*this, r);
    r.prompt =
        rendered.ok() ? *rendered : std::string(rendered.status().message());
  }
  requests = gen_requests;
  for (size_t k = requests.size(); k-- > 0;) {
    if (raise_before_index_flag != nullptr && k < raise_before_index)
      raise_before_index_flag->store(true);
    if (options.cancelled != nullptr && options.cancelled->load()) {
      on_result(k, absl::CancelledError("cancelled"));
      continue;
    }
    runners::GenerateResult result;
    result.text = generate(requests[k]);
    result.finish_reason = runners::FinishReason::kStop;
    result.prompt_tokens = static_cast<int>(requests[k].prompt.size());
    result.token_ids = {1, 2, 3};
    on_result(k, result);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> FakeRunner::ApplyChatTemplate(
    absl::Span<const runners::ChatMessage> messages,
    bool add_generation_prompt) const {
  std::string out;
  for (const runners::ChatMessage& m : messages) {
    if (reject_system_role && m.role == "system")
      return absl::InvalidArgumentError("system role not supported");
    out += "<|" + m.role + "|>" + m.content;
  }
  if (add_generation_prompt) out += "<|assistant|>";
  return out;
}

std::string RunPython(const std::string& script) {
  ::evald::testing::TempDir dir;
  const std::string path = dir.Join("script.py");
  ::evald::testing::WriteTestFile(path, script);
  FILE* pipe = popen(("/usr/bin/python3 " + path).c_str(), "r");
  if (pipe == nullptr) {
    std::cerr << "cannot run /usr/bin/python3\n";
    std::abort();
  }
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0)
    out.append(buffer, n);
  if (pclose(pipe) != 0) {
    std::cerr << "python failed on:\n" << script << "\n";
    std::abort();
  }
  return out;
}

void WriteMmluSubject(const std::string& dir, const std::string& subject,
                      const std::string& dev_csv, const std::string& test_csv) {
  ::evald::testing::WriteTestFile(dir + "/dev/" + subject + "_dev.csv",
                                  dev_csv);
  ::evald::testing::WriteTestFile(dir + "/test/" + subject + "_test.csv",
                                  test_csv);
}

}  // namespace evald::tasks::testing
