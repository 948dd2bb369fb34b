// File: tasks/mmlu_task.cc
#include "tasks/mmlu_task.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "base/json.h"
#include "base/sha256.h"
#include "base/status_macros.h"
#include "py/str.h"
#include "tasks/dataset.h"
#include "tasks/task_util.h"

namespace evald::tasks {
namespace {

constexpr char kLetters[] = "ABCD";
constexpr int kDefaultShots = 5;
// lm-eval's templates, recorded verbatim in the prompt-format hash.
constexpr char kDescriptionTemplate[] =
    "The following are multiple choice questions (with answers) about "
    "{{subject words}}.\n\n";
constexpr char kDocToText[] =
    "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. "
    "{{choices[2]}}\nD. {{choices[3]}}\nAnswer:";

class MmluTask : public Task {
 public:
  MmluTask(TaskOptions options, MmluDataset data, int shots)
      : options_(std::move(options)), data_(std::move(data)), shots_(shots) {
    for (size_t s = 0; s < data_.subjects.size(); ++s) {
      size_t count = data_.subjects[s].test.size();
      if (options_.limit > 0)
        count = std::min<size_t>(count, static_cast<size_t>(options_.limit));
      for (size_t i = 0; i < count; ++i) docs_.push_back({s, i});
    }
    info_.name = "mmlu";
    info_.version = "1.0";
    info_.shots = shots_;
    info_.datasets = data_.files;
    info_.generation_settings = absl::StrCat(
        "loglikelihood of ",
        options_.chat_template ? "\"A\"..\"D\"" : "\" A\"..\" D\"",
        " after the context; acc = argmax (first on ties); groups "
        "micro-averaged "
        "(lm-eval group version 2) with pooled stderr, plus macro average");
    std::string rules =
        absl::StrCat("mmlu/1.0\ndescription=", kDescriptionTemplate,
                     "\ndoc_to_text=", kDocToText,
                     "\nchoices=A|B|C|D\ntarget_delimiter= "
                     "\nfewshot_delimiter=\n\n\nsampler=first_n(dev)\nshots=",
                     shots_, "\nchat_template=", options_.chat_template ? 1 : 0,
                     "\nfewshot_as_multiturn=1\nsystem_instruction=",
                     options_.system_instruction, "\nlimit=", options_.limit);
    info_.prompt_format_hash = base::Sha256Hex(rules);
    info_.lm_eval_config_json = LmEvalConfigs().Dump();
  }

  const TaskInfo& info() const override { return info_; }

  std::vector<std::string> DocIds() const override {
    std::vector<std::string> ids;
    ids.reserve(docs_.size());
    for (const auto& [s, i] : docs_)
      ids.push_back(absl::StrCat(data_.subjects[s].name, "/", i));
    return ids;
  }

  absl::StatusOr<PromptView> BuildPrompt(size_t doc_index) const override {
    if (doc_index >= docs_.size()) {
      return absl::OutOfRangeError(absl::StrCat("mmlu: document index ",
                                                doc_index, " out of range (",
                                                docs_.size(), " documents)"));
    }
    const auto [s, i] = docs_[doc_index];
    PromptView view;
    view.doc_id = absl::StrCat(data_.subjects[s].name, "/", i);
    view.context = RenderPlainContext(Parts(s, i), options_.system_instruction);
    for (int c = 0; c < 4; ++c)
      view.continuations.push_back(
          absl::StrCat(" ", std::string(1, kLetters[c])));
    view.target = std::string(1, kLetters[data_.subjects[s].test[i].answer]);
    return view;
  }

  absl::Status Run(
      runners::Runner& runner, absl::Span<const size_t> doc_indices,
      const RunContext& context,
      const std::function<absl::Status(SampleResult)>& on_sample) override {
    const auto start = std::chrono::steady_clock::now();
    std::vector<runners::LoglikelihoodRequest> requests;
    std::vector<std::string> contexts;
    std::vector<std::string> delimiters;  // before each choice letter
    requests.reserve(doc_indices.size() * 4);
    for (size_t doc_index : doc_indices) {
      if (doc_index >= docs_.size()) {
        return absl::OutOfRangeError(
            absl::StrCat("mmlu: document index ", doc_index, " out of range"));
      }
      const auto [s, i] = docs_[doc_index];
      std::string ctx;
      std::string delimiter = " ";
      if (options_.chat_template) {
        // lm-eval: chat-rendered contexts score the bare choice right after
        // the generation prompt (target delimiter "").
        ASSIGN_OR_RETURN(
            ctx,
            RenderChat(runner, BuildChatMessages(
                                   Parts(s, i), options_.system_instruction,
                                   /*fewshot_as_multiturn=*/true)));
        delimiter = "";
      } else {
        ctx = RenderPlainContext(Parts(s, i), options_.system_instruction);
      }
      for (int c = 0; c < 4; ++c) {
        requests.push_back(
            {ctx, absl::StrCat(delimiter, std::string(1, kLetters[c]))});
      }
      contexts.push_back(std::move(ctx));
      delimiters.push_back(std::move(delimiter));
    }

    if (requests.empty()) return absl::OkStatus();
    struct Pending {
      int received = 0;
      double logprob[4] = {0, 0, 0, 0};
      bool greedy[4] = {false, false, false, false};
      int64_t prompt_tokens = 0;
      int64_t cached_tokens = 0;
      std::string error;
      bool cancelled = false;
    };
    std::vector<Pending> pending(doc_indices.size());
    CancelRelay relay(context.cancelled);
    absl::Status sink_status;
    runners::CallOptions call_options;
    call_options.cancelled = relay.flag();
    call_options.stop_admitting = context.draining;
    absl::Status call_status = runner.Loglikelihood(
        requests, call_options,
        [&](size_t r, absl::StatusOr<runners::LoglikelihoodResult> result) {
          const size_t d = r / 4;
          const int c = static_cast<int>(r % 4);
          if (d >= pending.size()) return;
          Pending& p = pending[d];
          if (!result.ok()) {
            if (absl::IsCancelled(result.status())) {
              p.cancelled = true;
            } else if (p.error.empty()) {
              p.error = absl::StrCat("choice ", std::string(1, kLetters[c]),
                                     ": ", result.status().ToString());
            }
          } else {
            p.logprob[c] = result->logprob;
            p.greedy[c] = result->is_greedy;
            p.prompt_tokens +=
                result->context_tokens +
                static_cast<int64_t>(result->continuation_token_ids.size());
            p.cached_tokens += result->cached_tokens;
          }
          if (++p.received < 4 || p.cancelled || !sink_status.ok()) return;
          // A cancelled document is not stored, so a resumed run redoes it.
          absl::Status st = on_sample(MakeSample(
              doc_indices[d], contexts[d], delimiters[d], p.logprob, p.greedy,
              p.prompt_tokens, p.cached_tokens, p.error,
              std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                            start)
                  .count()));
          if (!st.ok()) {
            sink_status = st;
            relay.Cancel();
          }
        });
    RETURN_IF_ERROR(sink_status);
    RETURN_IF_ERROR(call_status);
    if (relay.outer_cancelled())
      return absl::CancelledError("mmlu: run cancelled");
    return absl::OkStatus();
  }

  std::vector<MetricResult> Aggregate(
      absl::Span<const SampleResult> samples) const override {
    // Per-subject accuracy lists, in subject order.
    std::map<std::string, std::vector<double>> by_subject;
    for (const SampleResult& sample : samples) {
      if (!sample.error.empty()) continue;
      auto it = sample.metrics.find("acc");
      if (it == sample.metrics.end()) continue;
      by_subject[sample.subtask].push_back(it->second);
    }
    std::vector<MetricResult> out;
    struct Leaf {
      std::string subject;
      std::string group;
      double acc;
      double stderr_value;
      int64_t n;
    };
    std::vector<Leaf> leaves;
    for (const auto& [subject, group] : MmluSubjects()) {
      auto it = by_subject.find(subject);
      if (it == by_subject.end() || it->second.empty()) continue;
      Leaf leaf{subject, group, Mean(it->second), MeanStderr(it->second),
                static_cast<int64_t>(it->second.size())};
      out.push_back(
          {"acc", subject, leaf.acc, leaf.stderr_value, leaf.n, "mean"});
      leaves.push_back(std::move(leaf));
    }
    auto micro = [&](const std::string& name, const std::string& group_filter) {
      std::vector<double> stderrs;
      std::vector<int64_t> sizes;
      double weighted = 0;
      int64_t total = 0;
      for (const Leaf& leaf : leaves) {
        if (!group_filter.empty() && leaf.group != group_filter) continue;
        weighted += leaf.acc * static_cast<double>(leaf.n);
        total += leaf.n;
        stderrs.push_back(leaf.stderr_value);
        sizes.push_back(leaf.n);
      }
      if (total == 0) return;
      out.push_back({"acc", name, weighted / static_cast<double>(total),
                     PooledStderr(stderrs, sizes), total, "micro"});
    };
    for (const char* group : {"stem", "humanities", "social_sciences", "other"})
      micro(group, group);
    micro("", "");
    if (!leaves.empty()) {
      // The unweighted mean over subjects that model cards report; its
      // stderr treats subjects as independent: sqrt(Σ se_i²) / k.
      double sum = 0;
      double var = 0;
      int64_t total = 0;
      for (const Leaf& leaf : leaves) {
        sum += leaf.acc;
        var += leaf.stderr_value * leaf.stderr_value;
        total += leaf.n;
      }
      const double k = static_cast<double>(leaves.size());
      out.push_back(
          {"acc_macro", "", sum / k, std::sqrt(var) / k, total, "macro"});
    }
    return out;
  }

 private:
  PromptParts Parts(size_t s, size_t i) const {
    const MmluSubject& subject = data_.subjects[s];
    PromptParts parts;
    parts.description = absl::StrCat(
        "The following are multiple choice questions (with answers) about ",
        absl::StrReplaceAll(subject.name, {{"_", " "}}), ".\n\n");
    for (int k = 0; k < shots_; ++k) {
      const MmluQuestion& q = subject.dev[k];
      parts.shots.push_back({DocToText(q), std::string(1, kLetters[q.answer])});
    }
    parts.question = DocToText(subject.test[i]);
    return parts;
  }

  static std::string DocToText(const MmluQuestion& q) {
    return absl::StrCat(py::Strip(q.question), "\nA. ", q.choices[0], "\nB. ",
                        q.choices[1], "\nC. ", q.choices[2], "\nD. ",
                        q.choices[3], "\nAnswer:");
  }

  // lm-eval's `configs` entries: one per subject task (mmlu_<subject>), as
  // lm-eval's TaskConfig.to_dict() records the default MMLU template
  // (tasks/mmlu/default/_default_template_yaml and mmlu_<subject>.yaml).
  base::Json LmEvalConfigs() const {
    using base::Json;
    std::map<std::string, std::string> group_of;
    for (const auto& [subject, group] : MmluSubjects())
      group_of[subject] = group;
    auto choices = [] {
      Json list = Json::MakeArray();
      for (int c = 0; c < 4; ++c)
        list.Push(Json::String(std::string(1, kLetters[c])));
      return list;
    };
    Json configs = Json::MakeObject();
    for (const MmluSubject& subject : data_.subjects) {
      const std::string description = absl::StrCat(
          "The following are multiple choice questions (with answers) about ",
          absl::StrReplaceAll(subject.name, {{"_", " "}}), ".\n\n");
      Json fewshot = Json::MakeObject();
      fewshot.Set("sampler", Json::String("first_n"));
      fewshot.Set("split", Json::String("dev"));
      fewshot.Set("process_docs", Json::Null());
      fewshot.Set("fewshot_indices", Json::Null());
      fewshot.Set("samples", Json::Null());
      fewshot.Set("doc_to_text", Json::String(kDocToText));
      fewshot.Set("doc_to_choice", choices());
      fewshot.Set("doc_to_target", Json::String("answer"));
      fewshot.Set("gen_prefix", Json::Null());
      fewshot.Set("fewshot_delimiter", Json::String("\n\n"));
      fewshot.Set("target_delimiter", Json::String(" "));
      Json metric = Json::MakeObject();
      metric.Set("metric", Json::String("acc"));
      metric.Set("aggregation", Json::String("mean"));
      metric.Set("higher_is_better", Json::Bool(true));
      Json metadata = Json::MakeObject();
      metadata.Set("version", Json::Double(1.0));
      Json c = Json::MakeObject();
      c.Set("task", Json::String("mmlu_" + subject.name));
      c.Set("task_alias", Json::String(subject.name));
      c.Set("tag", Json::String(absl::StrCat("mmlu_", group_of[subject.name],
                                             "_tasks")));
      c.Set("dataset_path", Json::String("cais/mmlu"));
      c.Set("dataset_name", Json::String(subject.name));
      c.Set("test_split", Json::String("test"));
      c.Set("fewshot_split", Json::String("dev"));
      c.Set("doc_to_text", Json::String(kDocToText));
      c.Set("doc_to_target", Json::String("answer"));
      c.Set("unsafe_code", Json::Bool(false));
      c.Set("doc_to_choice", choices());
      c.Set("description", Json::String(description));
      c.Set("target_delimiter", Json::String(" "));
      c.Set("fewshot_delimiter", Json::String("\n\n"));
      c.Set("fewshot_config", std::move(fewshot));
      c.Set("num_fewshot", Json::Int(shots_));
      Json metrics = Json::MakeArray();
      metrics.Push(std::move(metric));
      c.Set("metric_list", std::move(metrics));
      c.Set("output_type", Json::String("multiple_choice"));
      c.Set("repeats", Json::Int(1));
      c.Set("should_decontaminate", Json::Bool(false));
      c.Set("metadata", std::move(metadata));
      configs.Set("mmlu_" + subject.name, std::move(c));
    }
    return configs;
  }

  // The sample as lm-eval logs it (task.h, SampleResult::lm_eval_json).
  static std::string LmEvalSample(const MmluQuestion& q,
                                  const std::string& subject,
                                  const std::string& delimiter,
                                  const double* logprob, const bool* greedy) {
    using base::Json;
    Json doc = Json::MakeObject();
    doc.Set("question", Json::String(q.question));
    doc.Set("subject", Json::String(subject));
    Json choices = Json::MakeArray();
    for (const std::string& choice : q.choices)
      choices.Push(Json::String(choice));
    doc.Set("choices", std::move(choices));
    doc.Set("answer", Json::Int(q.answer));
    Json arguments = Json::MakeArray();
    Json resps = Json::MakeArray();
    for (int c = 0; c < 4; ++c) {
      Json args = Json::MakeArray();
      args.Push(Json::Null());  // the sample's prompt
      args.Push(
          Json::String(absl::StrCat(delimiter, std::string(1, kLetters[c]))));
      arguments.Push(std::move(args));
      Json resp = Json::MakeArray();
      resp.Push(Json::Double(logprob[c]));
      resp.Push(Json::Bool(greedy[c]));
      resps.Push(std::move(resp));
    }
    Json filtered = Json::MakeObject();
    filtered.Set("none", resps);
    Json sample = Json::MakeObject();
    sample.Set("doc", std::move(doc));
    sample.Set("target", Json::Int(q.answer));
    sample.Set("arguments", std::move(arguments));
    sample.Set("resps", std::move(resps));
    sample.Set("filtered_resps", std::move(filtered));
    return sample.Dump();
  }

  SampleResult MakeSample(size_t doc_index, const std::string& ctx,
                          const std::string& delimiter, const double* logprob,
                          const bool* greedy, int64_t prompt_tokens,
                          int64_t cached_tokens, const std::string& error,
                          double wall_seconds) const {
    const auto [s, i] = docs_[doc_index];
    const MmluQuestion& q = data_.subjects[s].test[i];
    SampleResult sample;
    sample.doc_index = doc_index;
    sample.doc_id = absl::StrCat(data_.subjects[s].name, "/", i);
    sample.subtask = data_.subjects[s].name;
    sample.prompt = ctx;
    sample.target = std::string(1, kLetters[q.answer]);
    sample.prompt_tokens = prompt_tokens;
    sample.cached_tokens = cached_tokens;
    sample.wall_seconds = wall_seconds;
    if (!error.empty()) {
      sample.error = error;
      return sample;
    }
    int best = 0;
    for (int c = 0; c < 4; ++c) {
      sample.responses.push_back(absl::StrFormat("%c: logprob=%.6f greedy=%d",
                                                 kLetters[c], logprob[c],
                                                 greedy[c] ? 1 : 0));
      if (logprob[c] > logprob[best]) best = c;  // ties keep the first
    }
    sample.extracted = std::string(1, kLetters[best]);
    sample.metrics["acc"] = best == q.answer ? 1.0 : 0.0;
    sample.lm_eval_json =
        LmEvalSample(q, data_.subjects[s].name, delimiter, logprob, greedy);
    return sample;
  }

  TaskOptions options_;
  MmluDataset data_;
  int shots_;
  std::vector<std::pair<size_t, size_t>> docs_;  // (subject, test row)
  TaskInfo info_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Task>> CreateMmluTask(
    const TaskOptions& options) {
  if (!options.variant.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("mmlu: unknown variant \"", options.variant, "\""));
  }
  const int shots = options.shots < 0 ? kDefaultShots : options.shots;
  ASSIGN_OR_RETURN(MmluDataset data, LoadMmlu(options.data_path));
  for (const MmluSubject& subject : data.subjects) {
    if (static_cast<int>(subject.dev.size()) < shots) {
      return absl::InvalidArgumentError(absl::StrCat(
          "mmlu: subject ", subject.name, " has ", subject.dev.size(),
          " dev rows, ", shots, " shots asked"));
    }
  }
  return std::unique_ptr<Task>(new MmluTask(options, std::move(data), shots));
}

namespace {
const bool kRegistered = [] {
  RegisterTask("mmlu", CreateMmluTask);
  return true;
}();
}  // namespace

}  // namespace evald::tasks
