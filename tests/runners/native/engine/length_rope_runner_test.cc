// File: tests/runners/native/engine/length_rope_runner_test.cc
// -----------------------------------------------------------------------------
// A model whose RoPE depends on the sequence length (Phi-3 longrope) through
// the NativeRunner: a request scores the same whether or not a shorter
// request with the same prefix ran before it (no prefix-cache sharing across
// lengths), whatever the batch and however the prompt is chunked.
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

std::vector<LoglikelihoodResult> Score(
    Runner* runner, const std::vector<LoglikelihoodRequest>& reqs) {
  std::vector<LoglikelihoodResult> out(reqs.size());
  EXPECT_OK(runner->Loglikelihood(
      reqs, {}, [&](size_t i, absl::StatusOr<LoglikelihoodResult> r) {
        ASSERT_OK(r.status());
        out[i] = *r;
      }));
  return out;
}

TEST(LengthDependentRopeRunnerTest, ShorterPrefixDoesNotLeakIntoLongerOne) {
  evald::testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(testing::CheckpointSpec spec,
                       testing::CheckpointPreset("tiny"));
  spec.arch = "phi3";
  spec.seed = 3;
  spec.rope_scaling = "longrope";
  spec.rope_original_max_position = 64;
  spec.max_position = 1024;
  ASSERT_OK(testing::WriteCheckpoint(spec, dir.Join("model")));
  auto make = [&](bool cache, int budget = 2048) {
    NativeRunnerOptions o;
    o.model_dir = dir.Join("model");
    o.num_threads = 2;
    o.prefix_cache = cache;
    o.max_batch_tokens = budget;
    auto r = CreateNativeRunner(o);
    EXPECT_OK(r.status());
    return std::move(r).value();
  };
  std::string head = "Question: how many pens are in three boxes of five?";
  std::string tail;
  for (int i = 0; i < 12; ++i) {
    absl::StrAppend(&tail, " Box ", i, " holds ", 5 + i, " pens and ", 7 * i,
                    " pencils.");
  }
  const LoglikelihoodRequest short_req{head, " Fifteen"};
  const LoglikelihoodRequest long_req{head + tail, " Fifteen"};

  auto alone_runner = make(false);
  const LoglikelihoodResult alone = Score(alone_runner.get(), {long_req})[0];
  ASSERT_GT(alone.context_tokens, 64);  // long factors

  auto runner = make(true);
  const LoglikelihoodResult first = Score(runner.get(), {short_req})[0];
  ASSERT_LT(first.context_tokens + 2, 64);  // short factors
  const LoglikelihoodResult after = Score(runner.get(), {long_req})[0];
  EXPECT_EQ(after.cached_tokens, 0);
  EXPECT_EQ(after.logprob, alone.logprob);
  // Batched together, in either order.
  const auto both = Score(runner.get(), {long_req, short_req});
  EXPECT_EQ(both[0].logprob, alone.logprob);
  EXPECT_EQ(both[1].logprob, first.logprob);
  // Prefill in chunks of 24 tokens, the first ones short of the original
  // context: the whole prompt's frequencies still apply.
  auto chunked = make(false, 24);
  EXPECT_EQ(Score(chunked.get(), {long_req})[0].logprob, alone.logprob);
}

}  // namespace
}  // namespace evald::runners::native::engine
