// The NativeRunner end to end on a real (tiny, random-weight) checkpoint that
// the test writes: lm-eval tokenisation split, scores checked against a
// direct Model::Forward, determinism across batch sizes / chunking / cache
// state, per-request errors, cancellation and chat templates.
#include "runners/native/native_runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "runners/native/model/model.h"
#include "runners/native/testing/checkpoint_writer.h"
#include "runners/native/tokenizer/tokenizer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::runners::native::engine {
namespace {

using ::evald::testing::StatusIs;
using ::testing::HasSubstr;

class NativeRunnerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new evald::testing::TempDir();
    testing::CheckpointSpec spec;
    spec.arch = "llama";
    spec.hidden = 64;
    spec.layers = 2;
    spec.heads = 4;
    spec.kv_heads = 2;
    spec.intermediate = 128;
    spec.vocab = 600;
    spec.max_position = 512;
    spec.dtype = model::DType::kF32;
    spec.seed = 11;
    spec.norm_jitter = 0.1;
    const absl::Status s = testing::WriteCheckpoint(spec, dir_->Join("model"));
    ASSERT_TRUE(s.ok()) << s;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static std::string ModelDir() { return dir_->Join("model"); }

  static std::unique_ptr<Runner> Make(bool prefix_cache = true,
                                      int max_batch_tokens = 2048) {
    NativeRunnerOptions o;
    o.model_dir = ModelDir();
    o.num_threads = 2;
    o.prefix_cache = prefix_cache;
    o.max_batch_tokens = max_batch_tokens;
    auto r = CreateNativeRunner(o);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : nullptr;
  }

  static evald::testing::TempDir* dir_;
};

evald::testing::TempDir* NativeRunnerTest::dir_ = nullptr;

template <typename Req, typename Res>
std::vector<absl::StatusOr<Res>> Call(Runner* runner,
                                      const std::vector<Req>& reqs,
                                      size_t batch,
                                      const CallOptions& options = {}) {
  std::vector<absl::StatusOr<Res>> out(reqs.size(),
                                       absl::UnknownError("missing"));
  for (size_t start = 0; start < reqs.size(); start += batch) {
    const size_t n = std::min(batch, reqs.size() - start);
    absl::Span<const Req> span(reqs.data() + start, n);
    auto cb = [&](size_t i, absl::StatusOr<Res> r) {
      out[start + i] = std::move(r);
    };
    absl::Status s;
    if constexpr (std::is_same_v<Req, LoglikelihoodRequest>) {
      s = runner->Loglikelihood(span, options, cb);
    } else {
      s = runner->Generate(span, options, cb);
    }
    EXPECT_OK(s);
  }
  return out;
}

std::vector<LoglikelihoodRequest> MmluShaped() {
  const char* subjects[] = {"anatomy", "astronomy", "world history"};
  std::vector<LoglikelihoodRequest> out;
  for (const char* subject : subjects) {
    std::string header = absl::StrCat(
        "The following are multiple choice questions (with answers) about ",
        subject, ".\n\n");
    for (int d = 0; d < 3; ++d) {
      absl::StrAppend(
          &header, "What is the answer to example ", d, " of the ", subject,
          " section?\nA. one\nB. two\nC. three\nD. four\nAnswer: B\n\n");
    }
    for (int q = 0; q < 6; ++q) {
      const std::string ctx = absl::StrCat(
          header, "Which of these is true for question ", q,
          " in the world?\nA. yes\nB. no\nC. maybe\nD. never\nAnswer:");
      for (const char* choice : {" A", " B", " C", " D"})
        out.push_back({ctx, choice});
    }
  }
  // Multi-token continuations and trailing-space contexts.
  out.push_back({"The capital of France is ", "Paris, a city on the river."});
  out.push_back({"Numbers: 1, 2, 3,", " 4, 5, 6"});
  out.push_back({"", "An empty context is scored from the prefix token."});
  return out;
}

std::vector<GenerateRequest> Generations() {
  std::vector<GenerateRequest> out;
  for (int i = 0; i < 6; ++i) {
    GenerateRequest g;
    g.prompt = absl::StrCat("Question ", i, ": what comes after the number ", i,
                            "?\nAnswer:");
    g.max_new_tokens = 12;
    if (i % 2 == 1)
      g.sampling = {
          .temperature = 0.8, .top_p = 0.9, .top_k = 40, .seed = 77u + i};
    out.push_back(g);
  }
  return out;
}

TEST_F(NativeRunnerTest, ScoresMatchADirectForwardWithTheLmEvalSplit) {
  auto runner = Make();
  ASSERT_NE(runner, nullptr);
  ASSERT_OK_AND_ASSIGN(auto tok,
                       tokenizer::Tokenizer::FromDirectory(ModelDir()));
  ASSERT_OK_AND_ASSIGN(
      auto model, model::Model::Load(ModelDir(), {.device = model::Device::kCpu,
                                                  .num_threads = 1}));
  ASSERT_OK_AND_ASSIGN(auto kv, model->AllocateKvCache(64));

  const std::vector<LoglikelihoodRequest> reqs = {
      {"The capital of France is ", "Paris"},  // trailing space moves over
      {"Count: one, two,", " three"},
      {"", "hello world"},
  };
  const auto got =
      Call<LoglikelihoodRequest, LoglikelihoodResult>(runner.get(), reqs, 3);
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_OK(got[i].status()) << i;
    std::vector<int32_t> ctx, cont;
    if (reqs[i].context.empty()) {
      ctx = {*tok->bos_id()};
      ASSERT_OK_AND_ASSIGN(cont, tok->Encode(reqs[i].continuation, false));
    } else {
      std::string c = reqs[i].context, k = reqs[i].continuation;
      while (!c.empty() && c.back() == ' ') {
        k.insert(k.begin(), ' ');
        c.pop_back();
      }
      ASSERT_OK_AND_ASSIGN(ctx, tok->Encode(c, true));
      ASSERT_OK_AND_ASSIGN(auto whole, tok->Encode(c + k, true));
      cont.assign(whole.begin() + ctx.size(), whole.end());
    }
    EXPECT_EQ(got[i]->context_tokens, static_cast<int>(ctx.size()));
    EXPECT_EQ(got[i]->continuation_token_ids, cont);
    // One chunk, fresh blocks, every continuation row.
    std::vector<int32_t> all = ctx;
    all.insert(all.end(), cont.begin(), cont.end() - 1);
    std::vector<int32_t> table;
    for (size_t b = 0; b * 16 < all.size(); ++b)
      table.push_back(static_cast<int32_t>(b + 1));
    model::SeqChunk chunk{.tokens = all, .start_pos = 0, .block_table = table};
    for (size_t j = 0; j < cont.size(); ++j)
      chunk.logit_rows.push_back(ctx.size() + j - 1);
    model::ForwardOutput out;
    ASSERT_OK(model->Forward({chunk}, kv.get(), &out));
    double want = 0;
    bool greedy = true;
    for (size_t j = 0; j < cont.size(); ++j) {
      const std::vector<float>& l = out.logits[j];
      double mx = -INFINITY;
      for (float v : l) mx = std::max<double>(mx, v);
      double z = 0;
      for (float v : l) z += std::exp(v - mx);
      want += l[cont[j]] - mx - std::log(z);
      greedy =
          greedy && std::max_element(l.begin(), l.end()) - l.begin() == cont[j];
    }
    EXPECT_NEAR(got[i]->logprob, want, 1e-9) << i;
    EXPECT_EQ(got[i]->is_greedy, greedy) << i;
    EXPECT_LT(got[i]->logprob, 0);
  }
}

TEST_F(NativeRunnerTest, BitIdenticalAcrossBatchSizesChunkingAndCacheState) {
  const auto ll = MmluShaped();
  const auto gen = Generations();
  using LL = std::vector<absl::StatusOr<LoglikelihoodResult>>;
  using GR = std::vector<absl::StatusOr<GenerateResult>>;

  // Reference: prefix cache off, everything in one call.
  auto cold = Make(/*prefix_cache=*/false);
  ASSERT_NE(cold, nullptr);
  const LL ref_ll = Call<LoglikelihoodRequest, LoglikelihoodResult>(
      cold.get(), ll, ll.size());
  const GR ref_gen =
      Call<GenerateRequest, GenerateResult>(cold.get(), gen, gen.size());
  for (const auto& r : ref_ll) ASSERT_OK(r.status());
  for (const auto& r : ref_gen) ASSERT_OK(r.status());

  auto same = [&](const LL& a, const GR& g, const std::string& what) {
    for (size_t i = 0; i < ll.size(); ++i) {
      ASSERT_OK(a[i].status()) << what << " " << i;
      EXPECT_EQ(a[i]->logprob, ref_ll[i]->logprob)
          << what << " loglikelihood " << i;
      EXPECT_EQ(a[i]->is_greedy, ref_ll[i]->is_greedy) << what << " " << i;
      EXPECT_EQ(a[i]->continuation_token_ids, ref_ll[i]->continuation_token_ids)
          << what;
    }
    for (size_t i = 0; i < gen.size(); ++i) {
      ASSERT_OK(g[i].status()) << what << " " << i;
      EXPECT_EQ(g[i]->token_ids, ref_gen[i]->token_ids)
          << what << " generate " << i;
      EXPECT_EQ(g[i]->text, ref_gen[i]->text) << what << " generate " << i;
    }
  };
  for (size_t batch : {size_t{1}, size_t{7}, size_t{64}}) {
    auto runner = Make();
    ASSERT_NE(runner, nullptr);
    const std::string what = absl::StrCat("batch ", batch, " cold");
    const LL a = Call<LoglikelihoodRequest, LoglikelihoodResult>(runner.get(),
                                                                 ll, batch);
    const GR g =
        Call<GenerateRequest, GenerateResult>(runner.get(), gen, batch);
    same(a, g, what);
    // Warm: every prefix is now cached.
    const int64_t cached_before = runner->stats().cached_prompt_tokens;
    const LL w = Call<LoglikelihoodRequest, LoglikelihoodResult>(runner.get(),
                                                                 ll, batch);
    const GR wg =
        Call<GenerateRequest, GenerateResult>(runner.get(), gen, batch);
    same(w, wg, absl::StrCat("batch ", batch, " warm"));
    EXPECT_GT(runner->stats().cached_prompt_tokens, cached_before);
  }
  // Small steps: prompts are split into many prefill chunks.
  auto chunked = Make(/*prefix_cache=*/true, /*max_batch_tokens=*/24);
  ASSERT_NE(chunked, nullptr);
  same(Call<LoglikelihoodRequest, LoglikelihoodResult>(chunked.get(), ll, 64),
       Call<GenerateRequest, GenerateResult>(chunked.get(), gen, 64),
       "24-token steps");
}

// A candidate and a judge on one memory budget (the CPU backend's elastic
// cache): the KV pool grows past its guaranteed minimum for a wide batch,
// goes back to it when idle, and every output stays bit-identical to a
// runner with a pool of its own.
TEST_F(NativeRunnerTest,
       SharedMemoryBudgetGrowsAndShrinksThePoolWithoutChangingOutputs) {
  const auto ll = MmluShaped();
  const auto gen = Generations();
  auto reference = Make(/*prefix_cache=*/false);
  ASSERT_NE(reference, nullptr);
  const auto ref_ll = Call<LoglikelihoodRequest, LoglikelihoodResult>(
      reference.get(), ll, ll.size());
  const auto ref_gen =
      Call<GenerateRequest, GenerateResult>(reference.get(), gen, gen.size());

  planner::KvBudget budget(int64_t{96} << 20);
  NativeRunnerOptions o;
  o.model_dir = ModelDir();
  o.num_threads = 2;
  o.max_context = 512;
  o.kv_budget = &budget;
  ASSERT_OK_AND_ASSIGN(auto candidate, CreateNativeRunner(o));
  ASSERT_OK_AND_ASSIGN(auto judge, CreateNativeRunner(o));
  const RunnerStats idle = candidate->stats();
  EXPECT_GT(idle.kv_min_bytes, 0);
  EXPECT_EQ(idle.kv_bytes, idle.kv_min_bytes);
  EXPECT_LT(budget.SharedFree(),
            budget.total_bytes() - 2 * idle.kv_min_bytes);  // weights too

  const auto got_ll = Call<LoglikelihoodRequest, LoglikelihoodResult>(
      candidate.get(), ll, ll.size());
  const auto got_gen =
      Call<GenerateRequest, GenerateResult>(judge.get(), gen, gen.size());
  for (size_t i = 0; i < ll.size(); ++i) {
    ASSERT_OK(got_ll[i].status()) << i;
    EXPECT_EQ(got_ll[i]->logprob, ref_ll[i]->logprob) << i;
  }
  for (size_t i = 0; i < gen.size(); ++i) {
    ASSERT_OK(got_gen[i].status()) << i;
    EXPECT_EQ(got_gen[i]->token_ids, ref_gen[i]->token_ids) << i;
  }
  // 75 prompts at once need more blocks than the 64-block minimum.
  EXPECT_GT(candidate->stats().kv_grown_bytes, 0);
  EXPECT_LE(candidate->stats().kv_bytes + judge->stats().kv_bytes,
            budget.total_bytes());
  const int64_t shared_before = budget.SharedFree();
  candidate.reset();
  EXPECT_GT(budget.SharedFree(), shared_before);  // weights and KV are back
}

TEST_F(NativeRunnerTest, PrefixCacheServesTheSharedHeader) {
  auto runner = Make();
  ASSERT_NE(runner, nullptr);
  const auto ll = MmluShaped();
  const auto got = Call<LoglikelihoodRequest, LoglikelihoodResult>(
      runner.get(), ll, ll.size());
  int64_t cached = 0;
  for (const auto& r : got) {
    ASSERT_OK(r.status());
    cached += r->cached_tokens;
  }
  const RunnerStats s = runner->stats();
  EXPECT_EQ(s.cached_prompt_tokens > 0, true);
  // The 4 choices of a question share one sequence; questions share the
  // header: most prompt tokens come from the cache.
  EXPECT_GT(static_cast<double>(s.cached_prompt_tokens) / s.prompt_tokens, 0.5)
      << s.cached_prompt_tokens << "/" << s.prompt_tokens;
  EXPECT_GT(cached, 0);
  EXPECT_GT(s.busy_seconds, 0);
  EXPECT_GT(runner->resident_bytes(), 0u);
}

TEST_F(NativeRunnerTest, PerRequestErrorsNameTheRequest) {
  auto runner = Make();
  ASSERT_NE(runner, nullptr);
  std::string long_text;
  for (int i = 0; i < 600; ++i) absl::StrAppend(&long_text, "w", i % 10, " ");
  const std::vector<LoglikelihoodRequest> ll = {
      {"fine context", " fine"},
      {"bad \xff utf8", " x"},
      {long_text, " end"},
  };
  const auto got =
      Call<LoglikelihoodRequest, LoglikelihoodResult>(runner.get(), ll, 3);
  EXPECT_OK(got[0].status());
  EXPECT_THAT(got[1].status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("loglikelihood request 1")));
  EXPECT_THAT(got[2].status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("loglikelihood request 2"),
                                        HasSubstr("context window of 512"))));
  std::vector<GenerateRequest> gen(3);
  gen[0].prompt = "ok";
  gen[0].max_new_tokens = 3;
  gen[1].prompt = "bad \xc3";
  gen[2].prompt = long_text;
  const auto g = Call<GenerateRequest, GenerateResult>(runner.get(), gen, 3);
  EXPECT_OK(g[0].status());
  EXPECT_THAT(g[1].status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                      HasSubstr("generate request 1")));
  EXPECT_THAT(g[2].status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("generate request 2"),
                                        HasSubstr("context window is 512"))));
}

TEST_F(NativeRunnerTest, CancelledCallReturnsCancelledErrors) {
  auto runner = Make();
  ASSERT_NE(runner, nullptr);
  std::atomic<bool> cancelled{true};
  const auto gen = Generations();
  const auto g = Call<GenerateRequest, GenerateResult>(
      runner.get(), gen, gen.size(), {.cancelled = &cancelled});
  for (const auto& r : g)
    EXPECT_THAT(r.status(), StatusIs(absl::StatusCode::kCancelled));
}

// Many generations at once, with distinct prompts of known token counts.
std::vector<GenerateRequest> ManyGenerations(int n) {
  std::vector<GenerateRequest> out;
  for (int i = 0; i < n; ++i) {
    GenerateRequest g;
    g.prompt = absl::StrCat("Document ", i,
                            " of many: continue the text after this line.");
    g.max_new_tokens = 24;
    out.push_back(g);
  }
  return out;
}

// On the CPU a call's requests are not all started at once: at most 16 are
// computed together, so results arrive steadily and a kill loses at most the
// few in flight. With a wide limit every request runs at once.
TEST_F(NativeRunnerTest, OnTheCpuFewSequencesRunAtOnceSoResultsArriveSteadily) {
  const std::vector<GenerateRequest> gen = ManyGenerations(64);
  for (const int max_num_seqs : {0, 256}) {
    SCOPED_TRACE(absl::StrCat("max_num_seqs ", max_num_seqs));
    NativeRunnerOptions o;
    o.model_dir = ModelDir();
    o.num_threads = 2;
    o.max_num_seqs = max_num_seqs;
    auto runner = CreateNativeRunner(o);
    ASSERT_OK(runner);
    ASSERT_OK((*runner)->Generate(
        gen, {},
        [&](size_t, absl::StatusOr<GenerateResult> r) { EXPECT_OK(r); }));
    EXPECT_EQ((*runner)->stats().max_running_seqs, max_num_seqs == 0 ? 16 : 64);
  }
}

// A draining call (stop_admitting) finishes the requests already started,
// with the outputs they would have had, and cancels only the others.
TEST_F(NativeRunnerTest,
       StopAdmittingFinishesStartedRequestsAndCancelsTheRest) {
  auto runner = Make();
  ASSERT_NE(runner, nullptr);
  const std::vector<GenerateRequest> gen = ManyGenerations(64);
  const auto reference =
      Call<GenerateRequest, GenerateResult>(runner.get(), gen, gen.size());
  std::atomic<bool> stop{false};
  std::vector<absl::StatusOr<GenerateResult>> got(
      gen.size(), absl::UnknownError("missing"));
  ASSERT_OK(runner->Generate(gen, {.stop_admitting = &stop},
                             [&](size_t i, absl::StatusOr<GenerateResult> r) {
                               got[i] = std::move(r);
                               stop.store(
                                   true);  // drain from the first result on
                             }));
  int finished = 0, cancelled = 0;
  for (size_t i = 0; i < gen.size(); ++i) {
    if (got[i].ok()) {
      ++finished;
      ASSERT_OK(reference[i]);
      EXPECT_EQ(got[i]->token_ids, reference[i]->token_ids) << i;
    } else {
      EXPECT_THAT(got[i].status(), StatusIs(absl::StatusCode::kCancelled)) << i;
      ++cancelled;
    }
  }
  EXPECT_GE(finished, 16) << "requests in flight were thrown away";
  EXPECT_GT(cancelled, 0) << "requests not started were started anyway";
  EXPECT_EQ(finished + cancelled, 64);
}

TEST_F(NativeRunnerTest, ChatTemplateUsesTheModelsTemplateAndTokens) {
  auto runner = Make();
  ASSERT_NE(runner, nullptr);
  const std::vector<ChatMessage> msgs = {{"user", "Hi there"}};
  ASSERT_OK_AND_ASSIGN(std::string text, runner->ApplyChatTemplate(msgs, true));
  ASSERT_OK_AND_ASSIGN(auto tok,
                       tokenizer::Tokenizer::FromDirectory(ModelDir()));
  EXPECT_THAT(text, HasSubstr("Hi there"));
  EXPECT_EQ(text.rfind(tok->bos_token(), 0), 0u) << text;
  // A rendered prompt already carries BOS: generation must not double it.
  std::vector<GenerateRequest> gen(1);
  gen[0].prompt = text;
  gen[0].max_new_tokens = 2;
  const auto g = Call<GenerateRequest, GenerateResult>(runner.get(), gen, 1);
  ASSERT_OK(g[0].status());
  ASSERT_OK_AND_ASSIGN(auto ids, tok->Encode(text, false));
  EXPECT_EQ(g[0]->prompt_tokens, static_cast<int>(ids.size()));
  // Nor scoring (lm-eval's has_bos_prefix): a rendered context is encoded
  // without the tokenizer's BOS, a plain one with it.
  const std::vector<LoglikelihoodRequest> reqs = {
      {text, "Hello"}, {text.substr(tok->bos_token().size()), "Hello"}};
  const auto s =
      Call<LoglikelihoodRequest, LoglikelihoodResult>(runner.get(), reqs, 2);
  ASSERT_OK(s[0].status());
  ASSERT_OK(s[1].status());
  std::string ctx = text;  // trailing whitespace joins the continuation
  while (!ctx.empty() && (ctx.back() == ' ' || ctx.back() == '\n'))
    ctx.pop_back();
  ASSERT_OK_AND_ASSIGN(auto ctx_ids, tok->Encode(ctx, false));
  ASSERT_GE(ctx_ids.size(), 2u);
  EXPECT_EQ(ctx_ids[0], *tok->bos_id());
  EXPECT_NE(ctx_ids[1], *tok->bos_id());
  EXPECT_EQ(s[0]->context_tokens, static_cast<int>(ctx_ids.size()));
  EXPECT_EQ(s[1]->context_tokens, static_cast<int>(ctx_ids.size()));
  EXPECT_EQ(s[0]->continuation_token_ids, s[1]->continuation_token_ids);
  EXPECT_EQ(s[0]->logprob, s[1]->logprob);
}

// Gemma 2 instruction-tuned checkpoints list <end_of_turn> as an EOS in
// generation_config.json only: generation stops there too.
TEST(NativeRunnerGenerationConfigTest, EosIdsOfGenerationConfigEndGeneration) {
  evald::testing::TempDir dir;
  testing::CheckpointSpec spec;
  spec.hidden = 64;
  spec.layers = 2;
  spec.heads = 4;
  spec.kv_heads = 2;
  spec.intermediate = 128;
  spec.vocab = 600;
  spec.max_position = 512;
  spec.dtype = model::DType::kF32;
  spec.seed = 12;
  ASSERT_OK(testing::WriteCheckpoint(spec, dir.path()));
  NativeRunnerOptions o;
  o.model_dir = dir.path();
  o.num_threads = 2;
  std::vector<GenerateRequest> gen(1);
  gen[0].prompt = "Once upon a time";
  gen[0].max_new_tokens = 12;
  std::vector<int32_t> free_run;
  {
    ASSERT_OK_AND_ASSIGN(auto runner, CreateNativeRunner(o));
    auto g = Call<GenerateRequest, GenerateResult>(runner.get(), gen, 1);
    ASSERT_OK(g[0].status());
    free_run = g[0]->token_ids;
  }
  ASSERT_EQ(free_run.size(), 12u);
  // The first generated token not seen before it becomes an EOS.
  size_t k = 1;
  while (k < free_run.size() &&
         std::find(free_run.begin(), free_run.begin() + k, free_run[k]) !=
             free_run.begin() + k)
    ++k;
  ASSERT_LT(k, free_run.size());
  ASSERT_OK(base::WriteFileAtomically(
      dir.Join("generation_config.json"),
      absl::StrCat(R"({"bos_token_id": 1, "eos_token_id": [599, )", free_run[k],
                   "]}")));
  {
    ASSERT_OK_AND_ASSIGN(auto runner, CreateNativeRunner(o));
    auto g = Call<GenerateRequest, GenerateResult>(runner.get(), gen, 1);
    ASSERT_OK(g[0].status());
    EXPECT_EQ(g[0]->finish_reason, FinishReason::kEos);
    EXPECT_EQ(g[0]->token_ids,
              std::vector<int32_t>(free_run.begin(), free_run.begin() + k + 1));
  }
  // A malformed file is one error naming it and the key.
  ASSERT_OK(base::WriteFileAtomically(dir.Join("generation_config.json"),
                                      R"({"eos_token_id": ["x"]})"));
  auto bad = CreateNativeRunner(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(),
              ::testing::AllOf(HasSubstr("generation_config.json"),
                               HasSubstr("eos_token_id")));
}

TEST(NativeRunnerErrorsTest, MissingFolderIsAnError) {
  NativeRunnerOptions o;
  o.model_dir = "/nonexistent/evald/model";
  EXPECT_FALSE(CreateNativeRunner(o).ok());
}

}  // namespace
}  // namespace evald::runners::native::engine
