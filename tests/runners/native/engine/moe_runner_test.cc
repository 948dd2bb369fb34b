// File: tests/runners/native/engine/moe_runner_test.cc
// -----------------------------------------------------------------------------
// The mixture-of-experts families through the whole NativeRunner (scheduler,
// paged KV, prefix cache, continuous batching): scores and generations are
// bit-identical whether requests run one at a time, one token per step,
// without a prefix cache, 64 at a time with it (cold and warm), or in 24-token
// steps, so a token's expert routing and reduction do not depend on what shares
// its batch.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runners/native/native_runner.h"
#include "runners/native/testing/checkpoint_writer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::runners::native::engine {
namespace {

template <typename Req, typename Res>
std::vector<absl::StatusOr<Res>> Call(Runner* runner,
                                      const std::vector<Req>& reqs,
                                      size_t batch) {
  std::vector<absl::StatusOr<Res>> out(reqs.size(),
                                       absl::UnknownError("missing"));
  for (size_t start = 0; start < reqs.size(); start += batch) {
    const size_t n = std::min(batch, reqs.size() - start);
    absl::Span<const Req> span(reqs.data() + start, n);
    auto cb = [&](size_t i, absl::StatusOr<Res> r) {
      out[start + i] = std::move(r);
    };
    if constexpr (std::is_same_v<Req, LoglikelihoodRequest>) {
      EXPECT_OK(runner->Loglikelihood(span, {}, cb));
    } else {
      EXPECT_OK(runner->Generate(span, {}, cb));
    }
  }
  return out;
}

class MoeRunnerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(MoeRunnerTest, BitIdenticalAcrossBatchingChunkingAndCache) {
  evald::testing::TempDir dir;
  testing::CheckpointSpec spec;
  spec.arch = GetParam();
  spec.hidden = 64;
  spec.layers = 2;
  spec.heads = 4;
  spec.kv_heads = 2;
  spec.intermediate = 96;
  spec.moe_intermediate = 40;
  spec.shared_expert_intermediate = 56;
  spec.num_experts = 6;
  spec.experts_per_token = 2;
  spec.vocab = 600;
  spec.max_position = 512;
  spec.dtype = model::DType::kBF16;
  spec.seed = 3;
  spec.norm_jitter = 0.1;
  ASSERT_OK(testing::WriteCheckpoint(spec, dir.Join("model")));
  auto make = [&](bool prefix_cache, int max_batch_tokens) {
    NativeRunnerOptions o;
    o.model_dir = dir.Join("model");
    o.device = model::Device::kCpu;
    o.num_threads = 2;
    o.prefix_cache = prefix_cache;
    o.max_batch_tokens = max_batch_tokens;
    auto r = CreateNativeRunner(o);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : nullptr;
  };

  std::vector<LoglikelihoodRequest> ll;
  const std::string header =
      "The following are multiple choice questions (with answers).\n\n"
      "What is two plus two?\nA. three\nB. four\nAnswer: B\n\n";
  for (int q = 0; q < 5; ++q) {
    for (const char* choice : {" A", " B", " C", " D"}) {
      ll.push_back(
          {absl::StrCat(header, "Question ", q, ": which?\nAnswer:"), choice});
    }
  }
  ll.push_back({"The capital of France is ", "Paris, a city on the river."});
  std::vector<GenerateRequest> gen;
  for (int i = 0; i < 4; ++i) {
    GenerateRequest g;
    g.prompt = absl::StrCat("Question ", i, ": what comes next?\nAnswer:");
    g.max_new_tokens = 10;
    if (i % 2 == 1)
      g.sampling = {
          .temperature = 0.8, .top_p = 0.9, .top_k = 40, .seed = 7u + i};
    gen.push_back(g);
  }

  using LL = std::vector<absl::StatusOr<LoglikelihoodResult>>;
  using GR = std::vector<absl::StatusOr<GenerateResult>>;
  // The reference: one request at a time, one token per step.
  auto one = make(/*prefix_cache=*/false, 1);
  ASSERT_NE(one, nullptr);
  const LL ref_ll =
      Call<LoglikelihoodRequest, LoglikelihoodResult>(one.get(), ll, 1);
  const GR ref_gen = Call<GenerateRequest, GenerateResult>(one.get(), gen, 1);
  auto same = [&](const LL& a, const GR& g, const std::string& what) {
    for (size_t i = 0; i < ll.size(); ++i) {
      ASSERT_OK(ref_ll[i].status());
      ASSERT_OK(a[i].status()) << what << " " << i;
      EXPECT_EQ(a[i]->logprob, ref_ll[i]->logprob) << what << " ll " << i;
    }
    for (size_t i = 0; i < gen.size(); ++i) {
      ASSERT_OK(ref_gen[i].status());
      ASSERT_OK(g[i].status()) << what << " " << i;
      EXPECT_EQ(g[i]->token_ids, ref_gen[i]->token_ids) << what << " gen " << i;
    }
  };
  auto wide = make(/*prefix_cache=*/true, 2048);
  ASSERT_NE(wide, nullptr);
  for (const char* pass : {"cold", "warm"}) {
    same(Call<LoglikelihoodRequest, LoglikelihoodResult>(wide.get(), ll, 64),
         Call<GenerateRequest, GenerateResult>(wide.get(), gen, 64),
         absl::StrCat("batch 64 ", pass));
  }
  auto chunked = make(/*prefix_cache=*/true, 24);
  ASSERT_NE(chunked, nullptr);
  same(Call<LoglikelihoodRequest, LoglikelihoodResult>(chunked.get(), ll, 64),
       Call<GenerateRequest, GenerateResult>(chunked.get(), gen, 64),
       "24-token steps");
}

INSTANTIATE_TEST_SUITE_P(Families, MoeRunnerTest,
                         ::testing::Values("mixtral", "qwen2_moe", "qwen3_moe"),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           return i.param;
                         });

}  // namespace
}  // namespace evald::runners::native::engine
