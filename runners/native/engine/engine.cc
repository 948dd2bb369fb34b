#include "runners/native/engine/engine.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "runners/native/engine/block_hash.h"
#include "runners/native/engine/elastic_kv.h"
#include "runners/native/engine/kv_cache_manager.h"
#include "runners/native/engine/sampler.h"
#include "runners/native/engine/scheduler.h"
#include "runners/native/engine/sequence.h"
#include "runners/native/engine/step_turns.h"
#include "runners/native/model/model.h"
#include "runners/native/tokenizer/tokenizer.h"

namespace evald::runners::native::engine {
using model::Model;
using tokenizer::Tokenizer;

// The KV tensors and the blocks the pool may use: fixed, or elastic under a
// budget shared with the other models of the device.
struct Engine::KvPool {
  std::unique_ptr<model::KvCache> cache;
  std::unique_ptr<ElasticKv> elastic;  // null for a fixed pool
  int capacity = 0;                    // block ids
  int min_blocks = 0;  // in use from the start; a request must fit alone
  // A fixed pool counted in a shared budget is unregistered with the pool.
  planner::KvBudget* fixed_budget = nullptr;
  std::string fixed_name;

  KvPool() = default;
  KvPool(const KvPool&) = delete;
  KvPool& operator=(const KvPool&) = delete;
  ~KvPool() {
    elastic.reset();
    if (fixed_budget != nullptr) fixed_budget->Unregister(fixed_name);
  }
};

struct Engine::Request {
  Sequence seq;
  const std::atomic<bool>* cancelled = nullptr;
  // Once true, the request ends with CancelledError if it has not started.
  const std::atomic<bool>* stop_admitting = nullptr;
  bool counted = false;  // prompt tokens added to the stats

  // Score.
  std::vector<ScoreTarget> targets;
  std::vector<int> by_row;  // target indices sorted by row
  int top_k = 0;
  ScoreOutput score;
  Callback<ScoreOutput> score_done;

  // Generate.
  int max_new_tokens = 0;
  runners::SamplingParams sampling;
  std::vector<std::string> stop;
  std::vector<int32_t> eos_ids;
  std::function<void(absl::string_view)> on_text;
  std::optional<TokenRng> rng;
  runners::GenerateResult gen;
  Callback<runners::GenerateResult> gen_done;

  bool is_score() const { return seq.kind == Sequence::Kind::kScore; }

  void Fail(absl::Status status) {
    if (is_score()) {
      score_done(std::move(status));
    } else {
      gen_done(std::move(status));
    }
  }
};

namespace {
// The window past which a sequence's KV blocks can be released: the model's
// sliding_window when every layer slides, else 0 (a global layer reads every
// position, and one block table serves all layers).
int KvReleaseWindow(const model::ModelConfig& c) {
  for (int layer = 0; layer < c.num_layers; ++layer) {
    if (!model::IsSlidingLayer(c, layer)) return 0;
  }
  return c.sliding_window;
}
}  // namespace

// The engine thread's state: everything here is touched by that thread only.
class Engine::Loop {
 public:
  explicit Loop(Engine* engine)
      : root_(RootBlockHash(engine->options_.model_id)),
        e_(engine),
        // Length-dependent RoPE gives a prefix different keys in sequences
        // of different lengths, so such models share no prefixes.
        kv_(engine->pool_->capacity,
            engine->options_.prefix_cache &&
                !engine->model_->config().rope_scaling.DependsOnLength(),
            engine->pool_->min_blocks, engine->pool_->elastic.get()),
        scheduler_({.max_batch_tokens = engine->options_.max_batch_tokens,
                    .max_num_seqs = engine->options_.max_num_seqs,
                    .kv_window = engine->options_.release_window_kv
                                     ? KvReleaseWindow(engine->model_->config())
                                     : 0},
                   &kv_) {}

  void Add(std::unique_ptr<Request> r) {
    Sequence* seq = &r->seq;
    requests_.emplace(seq->id, std::move(r));
    scheduler_.Add(seq);
  }

  bool HasWork() const { return scheduler_.HasWork(); }
  // Tokens the last Step() computed at prompt positions and at generated
  // positions, to split its wall time between prefill and decode.
  int64_t last_prefill_tokens() const { return last_prefill_tokens_; }
  int64_t last_decode_tokens() const { return last_decode_tokens_; }

  void SweepCancelled() {
    std::vector<Request*> cancelled;
    for (auto& [id, r] : requests_) {
      if (r->cancelled != nullptr &&
          r->cancelled->load(std::memory_order_relaxed)) {
        cancelled.push_back(r.get());
      } else if (r->stop_admitting != nullptr && !r->seq.ever_admitted &&
                 r->stop_admitting->load(std::memory_order_relaxed)) {
        cancelled.push_back(
            r.get());  // never started: nothing computed is lost
      }
    }
    for (Request* r : cancelled) {
      Finish(r, absl::CancelledError(
                    absl::StrCat("request ", r->seq.id, " cancelled")));
    }
  }

  void FailAll(const absl::Status& status) {
    std::vector<Request*> all;
    for (auto& [id, r] : requests_) all.push_back(r.get());
    for (Request* r : all) Finish(r, status);
  }

  void Step();

  // After a step, and when the engine goes idle: an elastic pool gives back
  // the borrowed blocks it can spare.
  void AfterStep() {
    if (e_->pool_->elastic != nullptr)
      e_->pool_->elastic->AfterStep(kv_.mutable_pool());
  }
  void OnIdle() {
    if (e_->pool_->elastic != nullptr)
      e_->pool_->elastic->ShrinkUnused(kv_.mutable_pool());
  }

  // Adds the tokens generated since the last call to the engine's stats, so
  // a caller that reads stats() once its results have arrived counts them.
  void PublishGenerated() {
    if (generated_ == published_generated_) return;
    absl::MutexLock l(&e_->mu_);
    e_->stats_.generated_tokens += generated_ - published_generated_;
    published_generated_ = generated_;
  }

 private:
  int64_t last_prefill_tokens_ = 0;
  int64_t last_decode_tokens_ = 0;
  // Removes the request and reports `status` (OK: its result).
  void Finish(Request* r, absl::Status status) {
    PublishGenerated();
    scheduler_.Finish(&r->seq);
    std::unique_ptr<Request> owned = std::move(requests_[r->seq.id]);
    requests_.erase(r->seq.id);
    owned->score.prompt_tokens = owned->seq.num_prompt_tokens;
    owned->score.cached_tokens = owned->seq.cached_prompt_tokens;
    owned->gen.cached_tokens = owned->seq.cached_prompt_tokens;
    if (!status.ok()) {
      owned->Fail(std::move(status));
    } else if (owned->is_score()) {
      owned->score_done(std::move(owned->score));
    } else {
      owned->gen_done(std::move(owned->gen));
    }
  }

  void ScoreRow(Request* r, int pos, absl::Span<const float> logits) {
    auto it =
        std::lower_bound(r->by_row.begin(), r->by_row.end(), pos,
                         [&](int t, int p) { return r->targets[t].row < p; });
    std::optional<int32_t> argmax;
    for (; it != r->by_row.end() && r->targets[*it].row == pos; ++it) {
      const ScoreTarget& t = r->targets[*it];
      if (!argmax.has_value()) argmax = Argmax(logits);
      r->score.logprobs[*it] = TokenLogprob(logits, t.token);
      r->score.is_greedy[*it] = *argmax == t.token;
      if (r->top_k > 0) r->score.top[*it] = TopLogprobs(logits, r->top_k);
    }
  }

  static std::vector<std::pair<int32_t, double>> TopLogprobs(
      absl::Span<const float> logits, int k) {
    std::vector<int32_t> ids(logits.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
    k = std::min<int>(k, static_cast<int>(ids.size()));
    std::partial_sort(
        ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
          return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
        });
    std::vector<std::pair<int32_t, double>> top;
    for (int i = 0; i < k; ++i)
      top.emplace_back(ids[i], TokenLogprob(logits, ids[i]));
    return top;
  }

  // Takes the next token; returns true when the request is done.
  bool AppendToken(Request* r, absl::Span<const float> logits) {
    const int32_t token = SampleToken(logits, r->sampling, &*r->rng);
    r->gen.token_ids.push_back(token);
    ++generated_;
    if (std::find(r->eos_ids.begin(), r->eos_ids.end(), token) !=
        r->eos_ids.end()) {
      r->gen.finish_reason = runners::FinishReason::kEos;
      r->gen.text = Decode(r);
      return true;
    }
    // Stop strings and streaming both need the text so far: decode once.
    std::string text;
    if (!r->stop.empty() || r->on_text) text = Decode(r);
    if (!r->stop.empty()) {
      size_t cut = std::string::npos;
      for (const std::string& s : r->stop) {
        if (s.empty()) continue;
        cut = std::min(cut, text.find(s));
      }
      if (cut != std::string::npos) {
        text.resize(cut);
        r->gen.text = std::move(text);
        r->gen.finish_reason = runners::FinishReason::kStop;
        return true;
      }
    }
    if (static_cast<int>(r->gen.token_ids.size()) >= r->max_new_tokens) {
      r->gen.finish_reason = runners::FinishReason::kLength;
      r->gen.text =
          r->on_text || !r->stop.empty() ? std::move(text) : Decode(r);
      return true;
    }
    if (r->on_text) r->on_text(text);
    r->seq.tokens.push_back(token);
    ExtendBlockHashes(root_, r->seq.tokens, &r->seq.block_hashes);
    return false;
  }

  std::string Decode(const Request* r) const {
    if (e_->tokenizer_ == nullptr) return "";
    return e_->tokenizer_->Decode(r->gen.token_ids,
                                  /*skip_special_tokens=*/true);
  }

  const BlockHash root_;  // chain root of this model's block hashes
  int64_t generated_ = 0;
  int64_t published_generated_ = 0;  // of generated_, added to the stats
  int64_t published_released_ = 0;   // of kv_'s window releases, likewise
  Engine* const e_;
  KvCacheManager kv_;
  Scheduler scheduler_;
  absl::flat_hash_map<int64_t, std::unique_ptr<Request>> requests_;
};

void Engine::Loop::Step() {
  StepPlan plan = scheduler_.Schedule();
  int64_t prompt = 0;
  int64_t cached = 0;
  for (const ScheduledChunk& c : plan.chunks) {
    Request* r = requests_.at(c.seq->id).get();
    if (!r->counted) {
      r->counted = true;
      prompt += r->seq.num_prompt_tokens;
      cached += r->seq.cached_prompt_tokens;
    }
  }
  last_prefill_tokens_ = 0;
  last_decode_tokens_ = 0;
  for (const ScheduledChunk& c : plan.chunks) {
    const int prompt_part =
        std::clamp(c.seq->num_prompt_tokens - c.start_pos, 0, c.num_tokens);
    last_prefill_tokens_ += prompt_part;
    last_decode_tokens_ += c.num_tokens - prompt_part;
  }
  if (plan.chunks.empty() && plan.num_preempted > 0)
    return;  // retried next step
  if (plan.chunks.empty()) {
    // Every request was checked to fit the pool alone, so an empty plan with
    // work left is a bookkeeping fault: fail loudly rather than spin.
    FailAll(absl::InternalError("engine scheduler made no progress"));
    return;
  }
  std::vector<model::SeqChunk> batch;
  batch.reserve(plan.chunks.size());
  for (const ScheduledChunk& c : plan.chunks) {
    model::SeqChunk chunk;
    chunk.tokens =
        absl::MakeConstSpan(c.seq->tokens).subspan(c.start_pos, c.num_tokens);
    chunk.start_pos = c.start_pos;
    chunk.block_table = kv_.BlockTable(c.seq->id);
    chunk.logit_rows = c.logit_rows;
    chunk.rope_length = c.seq->num_prompt_tokens;
    batch.push_back(std::move(chunk));
  }
  model::ForwardOutput out;
  const absl::Status st =
      e_->model_->Forward(batch, e_->pool_->cache.get(), &out);
  size_t expected_rows = 0;
  for (const ScheduledChunk& c : plan.chunks)
    expected_rows += c.logit_rows.size();
  {
    absl::MutexLock l(&e_->mu_);
    e_->stats_.prompt_tokens += prompt;
    e_->stats_.cached_prompt_tokens += cached;
    e_->stats_.computed_tokens += plan.num_tokens();
    e_->stats_.steps += 1;
    e_->stats_.preemptions += plan.num_preempted;
    e_->stats_.max_running_seqs = std::max<int64_t>(
        e_->stats_.max_running_seqs, static_cast<int64_t>(plan.chunks.size()));
  }

  if (!st.ok() || out.logits.size() != expected_rows) {
    const absl::Status err =
        !st.ok() ? st
                 : absl::InternalError(absl::StrCat(
                       "model forward returned ", out.logits.size(),
                       " logit rows, expected ", expected_rows));
    for (const ScheduledChunk& c : plan.chunks) {
      auto it = requests_.find(c.seq->id);
      if (it != requests_.end()) Finish(it->second.get(), err);
    }
    return;
  }
  scheduler_.OnStepComputed(plan);
  if (kv_.num_window_released() != published_released_) {
    absl::MutexLock l(&e_->mu_);
    e_->stats_.kv_window_released_blocks +=
        kv_.num_window_released() - published_released_;
    published_released_ = kv_.num_window_released();
  }

  size_t k = 0;
  std::vector<Request*> done;
  for (const ScheduledChunk& c : plan.chunks) {
    Request* r = requests_.at(c.seq->id).get();
    bool finished = false;
    for (int row : c.logit_rows) {
      absl::Span<const float> logits = out.logits[k++];
      const int pos = c.start_pos + row;
      if (r->is_score()) {
        ScoreRow(r, pos, logits);
      } else if (pos == r->seq.num_tokens() - 1) {
        finished = AppendToken(r, logits);
      }
    }
    if (r->is_score() && r->seq.num_computed_tokens == r->seq.num_tokens())
      finished = true;
    if (finished) done.push_back(r);
  }
  for (Request* r : done) Finish(r, absl::OkStatus());
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(
    model::Model* model, const tokenizer::Tokenizer* tokenizer,
    const EngineOptions& options) {
  if (model == nullptr)
    return absl::InvalidArgumentError("engine: model is null");
  if (options.num_kv_blocks < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("engine: num_kv_blocks must be at least 2, got ",
                     options.num_kv_blocks));
  }
  if (options.max_batch_tokens < 1 || options.max_num_seqs < 1) {
    return absl::InvalidArgumentError(
        "engine: max_batch_tokens and max_num_seqs must be positive");
  }
  const int model_max = model->config().max_position_embeddings;
  int max_context = options.max_context > 0
                        ? std::min(options.max_context, model_max)
                        : model_max;
  if (max_context < 1)
    return absl::InvalidArgumentError("engine: model has no context window");
  auto pool = std::make_unique<KvPool>();
  pool->capacity = options.num_kv_blocks;
  pool->min_blocks = options.num_kv_blocks;
  if (options.kv_budget != nullptr) {
    // Unique per engine: one folder may be loaded twice with other options.
    static std::atomic<int64_t> next_engine{1};
    const std::string name =
        absl::StrCat(options.model_id, "#", next_engine.fetch_add(1));
    const int64_t block_bytes =
        static_cast<int64_t>(model->kv_bytes_per_token()) * model::kKvBlockSize;
    const int64_t capacity = std::min<int64_t>(
        int64_t{1} << 22,
        std::max<int64_t>(
            0, options.kv_budget->total_bytes() - options.resident_bytes) /
            std::max<int64_t>(1, block_bytes));
    absl::StatusOr<std::unique_ptr<model::KvCache>> reserved =
        capacity > options.num_kv_blocks
            ? model->ReserveKvCache(static_cast<int>(capacity))
            : absl::UnimplementedError("no room to grow");
    if (reserved.ok() && (*reserved)->commit_unit() > 0) {
      pool->cache = *std::move(reserved);
      ASSIGN_OR_RETURN(
          pool->elastic,
          ElasticKv::Create(options.kv_budget, name, pool->cache.get(),
                            options.num_kv_blocks, block_bytes,
                            options.resident_bytes));
      const int unit = pool->cache->commit_unit();
      pool->capacity = pool->cache->num_blocks() / unit * unit;
      pool->min_blocks = pool->elastic->min_blocks();
    } else {
      RETURN_IF_ERROR(options.kv_budget->Register(
          name, block_bytes * options.num_kv_blocks, options.resident_bytes));
      pool->fixed_budget = options.kv_budget;
      pool->fixed_name = name;
    }
  }
  if (pool->cache == nullptr) {
    ASSIGN_OR_RETURN(pool->cache,
                     model->AllocateKvCache(options.num_kv_blocks));
  }
  return std::unique_ptr<Engine>(
      new Engine(model, tokenizer, options, std::move(pool), max_context));
}

Engine::Engine(Model* model, const Tokenizer* tokenizer,
               const EngineOptions& options, std::unique_ptr<KvPool> pool,
               int max_context)
    : model_(model),
      tokenizer_(tokenizer),
      options_(options),
      pool_(std::move(pool)),
      max_context_(max_context),
      vocab_size_(model->config().vocab_size) {
  thread_ = std::thread([this] { Run(); });
}

Engine::~Engine() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  thread_.join();
}

size_t Engine::kv_cache_bytes() const { return pool_->cache->bytes(); }

void Engine::WaitUntilIdle() const {
  absl::MutexLock l(&mu_);
  mu_.Await(absl::Condition(
      +[](const Engine* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(e->mu_) {
        return e->stop_ || (e->idle_ && e->incoming_.empty());
      },
      this));
}

EngineStats Engine::stats() const {
  EngineStats s;
  {
    absl::MutexLock l(&mu_);
    s = stats_;
  }
  s.kv_min_blocks = pool_->min_blocks;
  if (pool_->elastic != nullptr) {
    s.kv_blocks = pool_->elastic->committed_blocks();
    s.kv_grown_blocks = pool_->elastic->grown_blocks();
    s.kv_shrunk_blocks = pool_->elastic->shrunk_blocks();
  } else {
    s.kv_blocks = pool_->capacity;
  }
  return s;
}

absl::Status Engine::SubmitScore(ScoreRequest request,
                                 Callback<ScoreOutput> done) {
  const int n = static_cast<int>(request.tokens.size());
  if (n == 0) return absl::InvalidArgumentError("score request has no tokens");
  if (n > max_context_) {
    return absl::InvalidArgumentError(
        absl::StrCat("score request has ", n, " tokens, the context window is ",
                     max_context_));
  }
  if (request.targets.empty())
    return absl::InvalidArgumentError("score request has no targets");
  for (const ScoreTarget& t : request.targets) {
    if (t.row < 0 || t.row >= n || t.token < 0 || t.token >= vocab_size_) {
      return absl::InvalidArgumentError(absl::StrCat("score target (row ",
                                                     t.row, ", token ", t.token,
                                                     ") is out of range"));
    }
  }
  auto r = std::make_unique<Request>();
  r->seq.kind = Sequence::Kind::kScore;
  r->seq.tokens = std::move(request.tokens);
  r->targets = std::move(request.targets);
  r->top_k = request.top_k;
  r->by_row.resize(r->targets.size());
  for (size_t i = 0; i < r->by_row.size(); ++i)
    r->by_row[i] = static_cast<int>(i);
  std::stable_sort(r->by_row.begin(), r->by_row.end(), [&](int a, int b) {
    return r->targets[a].row < r->targets[b].row;
  });
  for (int t : r->by_row) {
    const int row = r->targets[t].row;
    if (r->seq.logit_rows.empty() || r->seq.logit_rows.back() != row) {
      r->seq.logit_rows.push_back(row);
    }
  }
  r->score.logprobs.assign(r->targets.size(), 0.0);
  r->score.is_greedy.assign(r->targets.size(), false);
  if (r->top_k > 0) r->score.top.assign(r->targets.size(), {});
  r->cancelled = request.cancelled;
  r->stop_admitting = request.stop_admitting;
  r->score_done = std::move(done);
  return Enqueue(std::move(r));
}

absl::Status Engine::SubmitGenerate(GenerateTokensRequest request,
                                    Callback<runners::GenerateResult> done) {
  const int n = static_cast<int>(request.prompt.size());
  if (n == 0)
    return absl::InvalidArgumentError("generate request has an empty prompt");
  if (n >= max_context_) {
    return absl::InvalidArgumentError(
        absl::StrCat("generate request prompt has ", n,
                     " tokens, the context window is ", max_context_));
  }
  if (request.max_new_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("generate request max_new_tokens must be positive, got ",
                     request.max_new_tokens));
  }
  if (!request.stop.empty() && tokenizer_ == nullptr) {
    return absl::InvalidArgumentError(
        "generate request has stop strings but no tokenizer");
  }
  if (request.on_text && tokenizer_ == nullptr) {
    return absl::InvalidArgumentError(
        "generate request streams text but has no tokenizer");
  }
  const auto& s = request.sampling;
  if (!(s.temperature >= 0) || std::isinf(s.temperature) ||
      !(s.top_p > 0 && s.top_p <= 1) || s.top_k < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "generate request sampling is invalid (temperature ", s.temperature,
        ", top_p ", s.top_p, ", top_k ", s.top_k, ")"));
  }
  auto r = std::make_unique<Request>();
  r->seq.kind = Sequence::Kind::kGenerate;
  r->seq.tokens = std::move(request.prompt);
  r->max_new_tokens = std::min(request.max_new_tokens, max_context_ - n);
  r->sampling = request.sampling;
  r->rng.emplace(request.sampling.seed);
  r->stop = std::move(request.stop);
  r->eos_ids = std::move(request.eos_ids);
  r->on_text = std::move(request.on_text);
  r->cancelled = request.cancelled;
  r->stop_admitting = request.stop_admitting;
  r->gen.prompt_tokens = n;
  r->gen_done = std::move(done);
  return Enqueue(std::move(r));
}

absl::Status Engine::Enqueue(std::unique_ptr<Request> r) {
  Sequence& seq = r->seq;
  for (int32_t t : seq.tokens) {
    if (t < 0 || t >= vocab_size_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token id ", t, " is outside the vocabulary of ", vocab_size_));
    }
  }
  // The longest the sequence can grow: its K/V must fit the pool alone.
  // With KV release under a window it holds at most the window's blocks (one
  // more where the window straddles a block edge) plus a step's chunk.
  const int longest = r->is_score() ? seq.num_tokens()
                                    : seq.num_tokens() + r->max_new_tokens - 1;
  int need = KvCacheManager::BlocksFor(longest);
  if (const int window =
          options_.release_window_kv ? KvReleaseWindow(model_->config()) : 0;
      window > 0) {
    need = std::min(need,
                    KvCacheManager::BlocksFor(window) + 2 +
                        KvCacheManager::BlocksFor(options_.max_batch_tokens));
  }
  if (need > pool_->min_blocks - 1) {
    return absl::ResourceExhaustedError(
        absl::StrCat("request needs ", need, " kv blocks (", longest,
                     " tokens), the pool has ", pool_->min_blocks - 1,
                     options_.kv_budget != nullptr
                         ? " guaranteed (set the model's max_context in the "
                           "suite to guarantee more)"
                         : ""));
  }
  seq.num_prompt_tokens = seq.num_tokens();
  seq.id = next_id_.fetch_add(1);
  // Hash on the caller's thread: callers run in parallel, the engine does not.
  ExtendBlockHashes(RootBlockHash(options_.model_id), seq.tokens,
                    &seq.block_hashes);
  absl::MutexLock l(&mu_);
  if (stop_) return absl::CancelledError("engine is shutting down");
  incoming_.push_back(std::move(r));
  return absl::OkStatus();
}

void Engine::Run() {
  const base::Clock* clock =
      options_.clock != nullptr ? options_.clock : base::Clock::Real();
  Loop loop(this);
  while (true) {
    if (!loop.HasWork()) {
      bool idle;
      {
        absl::MutexLock l(&mu_);
        idle = incoming_.empty() && !stop_;
      }
      // About to wait: borrowed KV goes back to the models sharing the device.
      if (idle) loop.OnIdle();
    }
    std::vector<std::unique_ptr<Request>> incoming;
    {
      absl::MutexLock l(&mu_);
      if (!loop.HasWork()) {
        idle_ = incoming_.empty() && !stop_;
        mu_.Await(absl::Condition(
            +[](Engine* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(e->mu_) {
              return e->stop_ || !e->incoming_.empty();
            },
            this));
      }
      if (stop_) {
        incoming.swap(incoming_);
        for (auto& r : incoming) loop.Add(std::move(r));
        break;
      }
      idle_ = false;
      incoming.swap(incoming_);
    }
    for (auto& r : incoming) loop.Add(std::move(r));
    loop.SweepCancelled();
    if (!loop.HasWork()) continue;
    StepTurn turn(options_.turns);
    const int64_t t0 = clock->MonotonicNanos();
    loop.Step();
    loop.AfterStep();
    loop.PublishGenerated();
    const int64_t t1 = clock->MonotonicNanos();
    absl::MutexLock l(&mu_);
    const double seconds = static_cast<double>(t1 - t0) * 1e-9;
    stats_.busy_seconds += seconds;
    const int64_t prefill = loop.last_prefill_tokens();
    const int64_t decode = loop.last_decode_tokens();
    if (prefill + decode > 0) {
      const double prefill_share =
          static_cast<double>(prefill) / static_cast<double>(prefill + decode);
      stats_.prefill_seconds += seconds * prefill_share;
      stats_.decode_seconds += seconds * (1.0 - prefill_share);
    }
  }
  loop.FailAll(absl::CancelledError("engine shut down"));
}

}  // namespace evald::runners::native::engine
