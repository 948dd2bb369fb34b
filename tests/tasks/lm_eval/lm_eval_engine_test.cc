// File: tests/tasks/lm_eval/lm_eval_engine_test.cc
// -----------------------------------------------------------------------------
// The YAML-defined MMLU through the real engine: a tiny random-weight Llama
// checkpoint written by the test, the native runner with its prefix cache,
// the built-in `mmlu` and examples/lm-eval-tasks/mmlu each on a fresh
// runner. The two tasks must score document for document alike and the
// prefix cache must serve the same share of prompt tokens to both.
#include <gtest/gtest.h>

#include <cmath>
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

Outcome RunOnFreshRunner(Task& task, const std::vector<size_t>& order,
                         const std::string& model_dir,
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

// Runs the built-in and the YAML MMLU over `data` (CSV folder) and
// `task_file` on fresh runners and compares them.
void ExpectSameScoresAndCaching(const std::string& model_dir,
                                const std::string& data,
                                const std::string& task_file, int64_t limit,
                                double cache_tolerance) {
  TaskOptions builtin_options;
  builtin_options.data_path = data;
  builtin_options.shots = 5;
  builtin_options.limit = limit;
  ASSERT_OK_AND_ASSIGN(auto builtin, CreateTask("mmlu", builtin_options));
  TaskOptions yaml_options;
  yaml_options.task_file = task_file;
  yaml_options.shots = 5;
  yaml_options.limit = limit;
  ASSERT_OK_AND_ASSIGN(auto yaml, CreateTask("mmlu", yaml_options));

  // The same documents in the same order (the YAML group lists subjects
  // by category, the built-in alphabetically), so both send the engine the
  // same request stream.
  std::map<std::string, size_t> builtin_index;
  const std::vector<std::string> builtin_ids = builtin->DocIds();
  for (size_t i = 0; i < builtin_ids.size(); ++i)
    builtin_index["mmlu_" + builtin_ids[i]] = i;
  std::vector<size_t> builtin_order;
  std::vector<size_t> yaml_order;
  const std::vector<std::string> yaml_ids = yaml->DocIds();
  ASSERT_EQ(yaml_ids.size(), builtin_ids.size());
  for (size_t i = 0; i < yaml_ids.size(); ++i) {
    ASSERT_EQ(builtin_index.count(yaml_ids[i]), 1u) << yaml_ids[i];
    builtin_order.push_back(builtin_index[yaml_ids[i]]);
    yaml_order.push_back(i);
  }
  const Outcome a = RunOnFreshRunner(*builtin, builtin_order, model_dir, "");
  const Outcome b = RunOnFreshRunner(*yaml, yaml_order, model_dir, "mmlu_");
  ASSERT_EQ(a.responses.size(), builtin->DocIds().size());
  EXPECT_EQ(a.responses, b.responses);
  ASSERT_GT(a.prompt_tokens, 0);
  EXPECT_EQ(a.prompt_tokens, b.prompt_tokens);
  // Which blocks an evicting pool still holds can depend on how batches
  // form in time, so large runs compare shares within a tolerance.
  EXPECT_LE(std::abs(static_cast<double>(a.cached_tokens - b.cached_tokens)),
            cache_tolerance * static_cast<double>(a.prompt_tokens));
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

class LmEvalEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runners::native::testing::CheckpointSpec spec;
    spec.arch = "llama";
    spec.hidden = 64;
    spec.layers = 2;
    spec.heads = 4;
    spec.kv_heads = 2;
    spec.intermediate = 128;
    spec.vocab = 600;
    spec.max_position = 16384;  // 5-shot MMLU reaches ~7,400 tokens here
    spec.dtype = runners::native::model::DType::kF32;
    spec.seed = 5;
    ASSERT_OK(runners::native::testing::WriteCheckpoint(spec, dir_.Join("m")));
  }
  ::evald::testing::TempDir dir_;
};

TEST_F(LmEvalEngineTest, YamlMmluScoresAndCachesAsTheBuiltIn) {
  ExpectSameScoresAndCaching(dir_.Join("m"), Source("examples/data/mmlu"),
                             Source("examples/lm-eval-tasks/mmlu"), 0,
                             /*cache_tolerance=*/0);
}

// The full MMLU (not committed), the first documents of every subject:
// EVALD_REAL_DATASETS names a folder with mmlu/{dev,test}/*.csv.
TEST_F(LmEvalEngineTest, RealMmluSubsetCachesAsTheBuiltIn) {
  const char* real = std::getenv("EVALD_REAL_DATASETS");
  if (real == nullptr) GTEST_SKIP() << "EVALD_REAL_DATASETS is not set";
  const std::string root = real;
  ASSERT_EQ(std::system(absl::StrCat("/usr/bin/python3 ",
                                     Source("examples/lm-eval-tasks/mmlu/"
                                            "make_mmlu_tasks.py"),
                                     " ", root, "/mmlu ", dir_.Join("mmlu"))
                            .c_str()),
            0);
  ASSERT_EQ(
      std::system(absl::StrCat("cp ", Source("examples/lm-eval-tasks/mmlu/_*"),
                               " ", dir_.Join("mmlu"), "/")
                      .c_str()),
      0);
  ExpectSameScoresAndCaching(dir_.Join("m"), root + "/mmlu", dir_.Join("mmlu"),
                             4, /*cache_tolerance=*/0.02);
}

}  // namespace
}  // namespace evald::tasks::lm_eval
