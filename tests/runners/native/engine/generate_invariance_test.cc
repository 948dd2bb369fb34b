// Greedy generation on a GSM8K-shaped workload (shared few-shot header, long
// generations, many requests in flight, pool pressure) gives the same text
// whatever the batching and the prefix-cache state.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runners/native/native_runner.h"
#include "runners/native/testing/checkpoint_writer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::runners::native::engine {
namespace {

std::vector<GenerateRequest> Workload() {
  std::string header;
  for (int s = 0; s < 3; ++s) {
    absl::StrAppend(
        &header, "Question: A shop sells ", s + 3, " boxes with ", s + 5,
        " pens each. How many pens?\nAnswer: ", (s + 3) * (s + 5), "\n\n");
  }
  std::vector<GenerateRequest> out;
  for (int i = 0; i < 96; ++i) {
    GenerateRequest g;
    g.prompt =
        absl::StrCat(header, "Question: Tom has ", i, " apples and buys ",
                     i * 3, " more. How many now?\nAnswer:");
    g.max_new_tokens = 256;
    g.stop = {"Question:", "</s>", "<|im_end|>"};
    out.push_back(g);
  }
  return out;
}

std::vector<std::string> GenerateAll(Runner* runner,
                                     const std::vector<GenerateRequest>& reqs,
                                     size_t batch) {
  std::vector<std::string> out(reqs.size());
  for (size_t start = 0; start < reqs.size(); start += batch) {
    const size_t n = std::min(batch, reqs.size() - start);
    EXPECT_OK(runner->Generate(absl::MakeConstSpan(reqs.data() + start, n), {},
                               [&](size_t i, absl::StatusOr<GenerateResult> r) {
                                 ASSERT_OK(r.status());
                                 out[start + i] = r->text;
                               }));
  }
  return out;
}

TEST(GenerateInvarianceTest, SameTextAcrossBatchingCacheStateAndPoolPressure) {
  evald::testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(testing::CheckpointSpec spec,
                       testing::CheckpointPreset("tiny"));
  spec.seed = 1;
  ASSERT_OK(testing::WriteCheckpoint(spec, dir.Join("model")));
  auto make = [&](bool cache, size_t kv_bytes, int budget) {
    NativeRunnerOptions o;
    o.model_dir = dir.Join("model");
    o.num_threads = 2;
    o.prefix_cache = cache;
    o.kv_cache_bytes = kv_bytes;
    o.max_batch_tokens = budget;
    auto r = CreateNativeRunner(o);
    EXPECT_OK(r.status());
    return std::move(r).value();
  };
  const auto reqs = Workload();
  auto reference_runner = make(false, 0, 2048);
  const std::vector<std::string> ref =
      GenerateAll(reference_runner.get(), reqs, 1);
  // Compute time splits into prefill and decode, adding up to the busy time.
  const RunnerStats stats = reference_runner->stats();
  EXPECT_GT(stats.prefill_seconds, 0);
  EXPECT_GT(stats.decode_seconds, 0);
  EXPECT_NEAR(stats.prefill_seconds + stats.decode_seconds, stats.busy_seconds,
              1e-9 * (1 + stats.busy_seconds));
  struct Case {
    bool cache;
    size_t kv_bytes;
    int budget;
    size_t batch;
  };
  for (const Case& c :
       {Case{true, 0, 2048, 96}, Case{false, 0, 2048, 96}, Case{true, 0, 64, 7},
        Case{true, size_t{4} << 20, 512, 96}}) {
    auto runner = make(c.cache, c.kv_bytes, c.budget);
    for (int pass = 0; pass < 2; ++pass) {
      // Loglikelihood traffic in between, as a suite runs MMLU before GSM8K.
      std::vector<LoglikelihoodRequest> ll;
      for (int q = 0; q < 12; ++q) {
        for (const char* c : {" A", " B", " C", " D"}) {
          ll.push_back(
              {absl::StrCat(reqs[q].prompt,
                            " Which?\nA. 1\nB. 2\nC. 3\nD. 4\nAnswer:"),
               c});
        }
      }
      EXPECT_OK(runner->Loglikelihood(
          ll, {}, [](size_t, absl::StatusOr<LoglikelihoodResult> r) {
            EXPECT_OK(r.status());
          }));
      const std::vector<std::string> got =
          GenerateAll(runner.get(), reqs, c.batch);
      for (size_t i = 0; i < reqs.size(); ++i) {
        EXPECT_EQ(got[i], ref[i])
            << "request " << i << " cache " << c.cache << " kv " << c.kv_bytes
            << " budget " << c.budget << " batch " << c.batch << " pass "
            << pass;
      }
    }
  }
}

}  // namespace
}  // namespace evald::runners::native::engine
