// File: tests/tasks/lm_eval/lm_eval_engine_test.cc
// -----------------------------------------------------------------------------
// The YAML-defined MMLU through the real engine: a tiny random-weight Llama
// checkpoint written by the test, the native runner with its prefix cache,
// the built-in `mmlu` and examples/lm-eval-tasks/mmlu each on a fresh
// runner. The two tasks must score document for document alike and the
// prefix cache must serve the same share of prompt tokens to both.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runners/native/native_runner.h"
#include "runners/native/testing/checkpoint_writer.h"
#include "tasks/task.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::tasks::lm_eval {
namespace {

std::string Source(const std::string& path) {
  const char* root = std::getenv("EVALD_SOURCE_DIR");
  return absl::StrCat(root != nullptr ? root : ".", "/", path);
}

struct Outcome {
  std::map<std::string, std::vector<std::string>> responses;  // by subject/i
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;
};

Outcome RunOnFreshRunner(Task& task, const std::string& model_dir,
                         const std::string& strip_prefix) {
  runners::native::NativeRunnerOptions o;
  o.model_dir = model_dir;
  o.num_threads = 2;
  o.device = runners::native::model::Device::kCpu;
  auto runner = runners::native::CreateNativeRunner(o);
  EXPECT_TRUE(runner.ok()) << runner.status();
  Outcome out;
  if (!runner.ok()) return out;
  std::vector<size_t> all(task.DocIds().size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  absl::Status st = task.Run(**runner, all, RunContext{}, [&](SampleResult s) {
    EXPECT_EQ(s.error, "") << s.doc_id;
    std::string id = s.doc_id;
    if (id.rfind(strip_prefix, 0) == 0) id = id.substr(strip_prefix.size());
    // "A: logprob=..." (built-in) and "A: logprob=..." (YAML) carry
    // the same numbers; keep the logprob part.
    std::vector<std::string> logprobs;
    for (const std::string& r : s.responses)
      logprobs.push_back(r.substr(r.find("logprob=")));
    out.responses[id] = logprobs;
    return absl::OkStatus();
  });
  EXPECT_TRUE(st.ok()) << st;
  const runners::RunnerStats stats = (*runner)->stats();
  out.prompt_tokens = stats.prompt_tokens;
  out.cached_tokens = stats.cached_prompt_tokens;
  return out;
}

TEST(LmEvalEngineTest, YamlMmluScoresAndCachesAsTheBuiltIn) {
  ::evald::testing::TempDir dir;
  runners::native::testing::CheckpointSpec spec;
  spec.arch = "llama";
  spec.hidden = 64;
  spec.layers = 2;
  spec.heads = 4;
  spec.kv_heads = 2;
  spec.intermediate = 128;
  spec.vocab = 600;
  spec.max_position = 2048;
  spec.dtype = runners::native::model::DType::kF32;
  spec.seed = 5;
  ASSERT_OK(runners::native::testing::WriteCheckpoint(spec, dir.Join("m")));

  TaskOptions builtin_options;
  builtin_options.data_path = Source("examples/data/mmlu");
  builtin_options.shots = 5;
  ASSERT_OK_AND_ASSIGN(auto builtin, CreateTask("mmlu", builtin_options));
  TaskOptions yaml_options;
  yaml_options.task_file = Source("examples/lm-eval-tasks/mmlu");
  yaml_options.shots = 5;
  ASSERT_OK_AND_ASSIGN(auto yaml, CreateTask("mmlu", yaml_options));

  const Outcome a = RunOnFreshRunner(*builtin, dir.Join("m"), "");
  const Outcome b = RunOnFreshRunner(*yaml, dir.Join("m"), "mmlu_");
  ASSERT_EQ(a.responses.size(), builtin->DocIds().size());
  EXPECT_EQ(a.responses, b.responses);
  ASSERT_GT(a.prompt_tokens, 0);
  EXPECT_EQ(a.prompt_tokens, b.prompt_tokens);
  EXPECT_EQ(a.cached_tokens, b.cached_tokens);
  std::printf(
      "prefix cache: built-in mmlu %lld of %lld prompt tokens (%.1f%%), "
      "YAML mmlu %lld of %lld (%.1f%%)\n",
      static_cast<long long>(a.cached_tokens),
      static_cast<long long>(a.prompt_tokens),
      100.0 * static_cast<double>(a.cached_tokens) /
          static_cast<double>(a.prompt_tokens),
      static_cast<long long>(b.cached_tokens),
      static_cast<long long>(b.prompt_tokens),
      100.0 * static_cast<double>(b.cached_tokens) /
          static_cast<double>(b.prompt_tokens));
}

}  // namespace
}  // namespace evald::tasks::lm_eval
