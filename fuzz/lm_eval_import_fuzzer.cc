// File: fuzz/lm_eval_import_fuzzer.cc
// -----------------------------------------------------------------------------
// Fuzzes ParseLmEval (daemon/lm_eval_files.h), the reader of lm-eval's output
// files behind `evalctl import`. The input is split at its first NUL into a
// results file and one samples file; each half also goes in alone beside a
// well-formed other half. Any input must be read or refused with one
// InvalidArgument line that starts with the file's name; what is read must
// make records that export writes again without failing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "daemon/lm_eval_files.h"

namespace {

using evald::daemon::LmEvalInputFile;

constexpr char kResults[] = "results_2026-01-01T00-00-00.000000.json";
constexpr char kSamples[] = "samples_t_2026-01-01T00-00-00.000000.jsonl";
constexpr char kGoodResults[] =
    R"({"results": {"t": {"name": "t", "alias": "t", "sample_len": 1,)"
    R"( "acc,none": 1.0, "acc_stderr,none": "N/A"}}, "group_subtasks": {}})";
constexpr char kGoodSamples[] =
    R"({"doc_id": 0, "doc": {"q": "x"}, "target": "1", "arguments": )"
    R"({"gen_args_0": {"arg_0": "x", "arg_1": " 1"}}, "resps": [[["-1.0", )"
    R"("True"]]], "filtered_resps": [["-1.0", "True"]], "filter": "none", )"
    R"("metrics": ["acc"], "acc": 1.0})";

void Try(const std::string& results, const std::string& samples) {
  std::vector<LmEvalInputFile> files = {{kSamples, samples}};
  auto parsed = evald::daemon::ParseLmEval({kResults, results}, files, "r1", 1);
  if (!parsed.ok()) {
    const absl::string_view m = parsed.status().message();
    if (parsed.status().code() != absl::StatusCode::kInvalidArgument ||
        m.find('\n') != absl::string_view::npos ||
        (m.substr(0, sizeof(kResults) - 1) != kResults &&
         m.substr(0, sizeof(kSamples) - 1) != kSamples)) {
      std::abort();
    }
    return;
  }
  std::map<std::string, std::vector<evald::v1::SampleRecord>> by_task;
  for (const auto& s : parsed->samples) by_task[s.task()].push_back(s);
  if (!evald::daemon::ExportLmEval(parsed->run, parsed->scores, by_task).ok())
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  if (nul == std::string::npos) {
    Try(input, kGoodSamples);
    Try(kGoodResults, input);
  } else {
    Try(input.substr(0, nul), input.substr(nul + 1));
  }
  return 0;
}
