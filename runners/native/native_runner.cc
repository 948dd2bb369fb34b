#include "runners/native/native_runner.h"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/file.h"
#include "base/json.h"
#include "base/status_macros.h"
#include "base/utf8.h"
#include "runners/chat_prompt.h"
#include "runners/loglikelihood_split.h"
#include "runners/native/chat_template/chat_template.h"
#include "runners/native/engine/engine.h"
#include "runners/native/engine/step_turns.h"
#include "runners/native/model/model.h"
#include "runners/native/model/model_config.h"
#include "runners/native/planner/footprint.h"
#include "runners/native/tokenizer/tokenizer.h"

namespace evald::runners::native {
namespace {

using engine::Engine;
using model::Model;
using tokenizer::Tokenizer;

absl::Status CheckUtf8(absl::string_view what, size_t index,
                       absl::string_view field, absl::string_view text) {
  if (std::optional<size_t> bad = base::FindInvalidUtf8(text);
      bad.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " request ", index, ": ", field,
                     " is not valid UTF-8 (byte ", *bad, ")"));
  }
  return absl::OkStatus();
}

absl::Status Annotate(absl::string_view what, size_t index,
                      const absl::Status& s) {
  return absl::Status(
      s.code(), absl::StrCat(what, " request ", index, ": ", s.message()));
}

// Results of one call, produced on the engine thread and handed to the
// caller's callback on the calling thread, one at a time.
template <typename T>
class CallResults {
 public:
  void Push(size_t index, absl::StatusOr<T> result) {
    absl::MutexLock l(&mu_);
    queue_.emplace_back(index, std::move(result));
  }

  // Delivers results until `total` have been delivered.
  void Drain(size_t total, const ResultCallback<T>& on_result) {
    for (size_t delivered = 0; delivered < total; ++delivered) {
      std::pair<size_t, absl::StatusOr<T>> next{0, absl::UnknownError("")};
      {
        absl::MutexLock l(&mu_);
        mu_.Await(absl::Condition(
            +[](std::deque<std::pair<size_t, absl::StatusOr<T>>>* q) {
              return !q->empty();
            },
            &queue_));
        next = std::move(queue_.front());
        queue_.pop_front();
      }
      on_result(next.first, std::move(next.second));
    }
  }

 private:
  absl::Mutex mu_;
  std::deque<std::pair<size_t, absl::StatusOr<T>>> queue_ ABSL_GUARDED_BY(mu_);
};

// generation_config.json's eos_token_id (an id or a list; none when the file
// or the key is absent): Gemma 2 instruction-tuned checkpoints end a turn
// with <end_of_turn>, listed there and not in config.json, and transformers'
// generate and vLLM stop on it.
absl::StatusOr<std::vector<int32_t>> GenerationEosIds(const std::string& dir) {
  const std::string path = dir + "/generation_config.json";
  if (!base::PathExists(path)) return std::vector<int32_t>{};
  ASSIGN_OR_RETURN(const std::string text, base::ReadFileToString(path));
  absl::StatusOr<base::Json> json = base::ParseJson(text);
  if (!json.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", json.status().message()));
  }
  const base::JsonReader root(*json, path);
  ASSIGN_OR_RETURN(const base::JsonReader object, root.Object());
  const base::JsonReader eos = object.Field("eos_token_id");
  std::vector<int32_t> ids;
  if (!eos.present()) return ids;
  if (!eos.json().is_array()) {
    ASSIGN_OR_RETURN(const int64_t id, eos.Int(0, INT32_MAX));
    ids.push_back(static_cast<int32_t>(id));
    return ids;
  }
  for (size_t i = 0; i < eos.size(); ++i) {
    ASSIGN_OR_RETURN(const int64_t id, eos.Item(i).Int(0, INT32_MAX));
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

class NativeRunner final : public Runner {
 public:
  NativeRunner(std::string name, std::unique_ptr<Model> model,
               std::unique_ptr<Tokenizer> tokenizer,
               const std::vector<int32_t>& generation_eos_ids)
      : name_(std::move(name)),
        model_(std::move(model)),
        tokenizer_(std::move(tokenizer)) {
    for (int32_t id : model_->config().eos_token_ids) eos_ids_.push_back(id);
    for (int32_t id : generation_eos_ids) {
      if (std::find(eos_ids_.begin(), eos_ids_.end(), id) == eos_ids_.end())
        eos_ids_.push_back(id);
    }
    if (auto eos = tokenizer_->eos_id();
        eos.has_value() &&
        std::find(eos_ids_.begin(), eos_ids_.end(), *eos) == eos_ids_.end()) {
      eos_ids_.push_back(*eos);
    }
  }

  absl::Status Start(const engine::EngineOptions& options) {
    ASSIGN_OR_RETURN(engine_,
                     Engine::Create(model_.get(), tokenizer_.get(), options));
    return absl::OkStatus();
  }

  std::string model_name() const override { return name_; }
  int max_context() const override { return engine_->max_context(); }

  absl::Status Loglikelihood(
      absl::Span<const LoglikelihoodRequest> requests,
      const CallOptions& options,
      const ResultCallback<LoglikelihoodResult>& on_result) override;
  absl::Status Generate(
      absl::Span<const GenerateRequest> requests, const CallOptions& options,
      const ResultCallback<GenerateResult>& on_result) override;
  absl::StatusOr<std::string> ApplyChatTemplate(
      absl::Span<const ChatMessage> messages,
      bool add_generation_prompt) const override;

  RunnerStats stats() const override {
    const engine::EngineStats s = engine_->stats();
    return RunnerStats{.prompt_tokens = s.prompt_tokens,
                       .cached_prompt_tokens = s.cached_prompt_tokens,
                       .generated_tokens = s.generated_tokens,
                       .busy_seconds = s.busy_seconds,
                       .prefill_seconds = s.prefill_seconds,
                       .decode_seconds = s.decode_seconds,
                       .kv_bytes = s.kv_blocks * KvBlockBytes(),
                       .kv_min_bytes = s.kv_min_blocks * KvBlockBytes(),
                       .kv_grown_bytes = s.kv_grown_blocks * KvBlockBytes(),
                       .max_running_seqs = s.max_running_seqs};
  }
  int64_t KvBlockBytes() const {
    return static_cast<int64_t>(model_->kv_bytes_per_token()) *
           model::kKvBlockSize;
  }

  size_t resident_bytes() const override {
    return model_->weight_bytes() + engine_->kv_cache_bytes();
  }

  absl::StatusOr<std::vector<int32_t>> Tokenize(
      const std::string& text, bool add_special_tokens) const override {
    return Encode(text, add_special_tokens);
  }
  absl::StatusOr<std::string> TokenText(int32_t id) const override {
    if (id < 0 || id >= model_->config().vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", id, " is out of range"));
    }
    return tokenizer_->Decode(absl::MakeConstSpan(&id, 1),
                              /*skip_special_tokens=*/false);
  }
  absl::StatusOr<std::vector<TokenLogprob>> PromptLogprobs(
      absl::Span<const int32_t> token_ids, int top_k,
      const CallOptions& options) override;

 private:
  // One scoring sequence shared by the requests with identical fed tokens.
  struct Member {
    size_t index;
    int context_tokens;
    std::vector<int32_t> continuation;
    size_t first_target;  // its targets in the group's request
  };

  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text,
                                              bool add_special) const {
    return tokenizer_->Encode(text, add_special);
  }

  const std::string name_;
  const std::unique_ptr<Model> model_;
  const std::unique_ptr<Tokenizer> tokenizer_;
  std::vector<int32_t> eos_ids_;
  std::unique_ptr<Engine> engine_;  // last: borrows model_ and tokenizer_
};

absl::Status NativeRunner::Loglikelihood(
    absl::Span<const LoglikelihoodRequest> requests, const CallOptions& options,
    const ResultCallback<LoglikelihoodResult>& on_result) {
  auto results = std::make_shared<CallResults<LoglikelihoodResult>>();
  // Requests whose fed tokens agree (e.g. the choices of a multiple-choice
  // question with one-token answers) share one sequence and one forward.
  struct Group {
    engine::ScoreRequest request;
    std::vector<Member> members;
  };
  std::vector<Group> groups;
  absl::flat_hash_map<std::vector<int32_t>, size_t> group_of;
  for (size_t i = 0; i < requests.size(); ++i) {
    auto fail = [&](absl::Status s) { results->Push(i, std::move(s)); };
    const LoglikelihoodRequest& req = requests[i];
    if (absl::Status s = CheckUtf8("loglikelihood", i, "context", req.context);
        !s.ok()) {
      fail(s);
      continue;
    }
    if (absl::Status s =
            CheckUtf8("loglikelihood", i, "continuation", req.continuation);
        !s.ok()) {
      fail(s);
      continue;
    }
    // lm-eval's split: trailing context whitespace joins the continuation.
    const auto [context, continuation] =
        SplitContextContinuation(req.context, req.continuation);
    std::vector<int32_t> context_enc;
    std::vector<int32_t> continuation_enc;
    if (context.empty()) {
      std::optional<int32_t> prefix = tokenizer_->bos_id();
      if (!prefix.has_value()) prefix = tokenizer_->eos_id();
      if (!prefix.has_value()) {
        fail(absl::InvalidArgumentError(absl::StrCat(
            "loglikelihood request ", i,
            ": empty context and the tokenizer has no bos or eos")));
        continue;
      }
      context_enc = {*prefix};
      absl::StatusOr<std::vector<int32_t>> c =
          Encode(continuation, /*add_special=*/false);
      if (!c.ok()) {
        fail(Annotate("loglikelihood", i, c.status()));
        continue;
      }
      continuation_enc = *std::move(c);
    } else {
      // lm-eval (its #3347, has_bos_prefix): a context that already starts
      // with the BOS text, as a rendered chat template does (Llama 3, Gemma),
      // is encoded without the tokenizer's special tokens: one BOS, not two.
      const std::string bos_text = tokenizer_->bos_token();
      const bool add_special =
          bos_text.empty() || !absl::StartsWith(context, bos_text);
      absl::StatusOr<std::vector<int32_t>> whole =
          Encode(context + continuation, add_special);
      absl::StatusOr<std::vector<int32_t>> ctx = Encode(context, add_special);
      if (!whole.ok() || !ctx.ok()) {
        fail(Annotate("loglikelihood", i,
                      !whole.ok() ? whole.status() : ctx.status()));
        continue;
      }
      context_enc = *std::move(ctx);
      const size_t n = std::min(context_enc.size(), whole->size());
      continuation_enc.assign(whole->begin() + n, whole->end());
    }
    LoglikelihoodResult base;
    base.context_tokens = static_cast<int>(context_enc.size());
    base.continuation_token_ids = continuation_enc;
    if (continuation_enc.empty()) {
      // Nothing to score: log 1 = 0, and trivially greedy.
      base.is_greedy = true;
      results->Push(i, std::move(base));
      continue;
    }
    std::vector<int32_t> fed = context_enc;
    fed.insert(fed.end(), continuation_enc.begin(), continuation_enc.end() - 1);
    if (static_cast<int>(fed.size()) > engine_->max_context()) {
      fail(absl::InvalidArgumentError(absl::StrCat(
          "loglikelihood request ", i, ": ",
          context_enc.size() + continuation_enc.size(), " tokens (context ",
          context_enc.size(), " + continuation ", continuation_enc.size(),
          ") exceed the context window of ", engine_->max_context())));
      continue;
    }
    auto [it, inserted] = group_of.try_emplace(fed, groups.size());
    if (inserted) {
      groups.emplace_back();
      groups.back().request.tokens = std::move(fed);
      groups.back().request.cancelled = options.cancelled;
      groups.back().request.stop_admitting = options.stop_admitting;
    }
    Group& g = groups[it->second];
    Member m{i, base.context_tokens, continuation_enc,
             g.request.targets.size()};
    for (size_t j = 0; j < continuation_enc.size(); ++j) {
      g.request.targets.push_back(
          {static_cast<int>(context_enc.size() + j) - 1, continuation_enc[j]});
    }
    g.members.push_back(std::move(m));
  }

  for (Group& g : groups) {
    auto members = std::make_shared<std::vector<Member>>(std::move(g.members));
    const absl::Status s = engine_->SubmitScore(
        std::move(g.request),
        [results, members](absl::StatusOr<engine::ScoreOutput> out) {
          for (const Member& m : *members) {
            if (!out.ok()) {
              results->Push(m.index,
                            Annotate("loglikelihood", m.index, out.status()));
              continue;
            }
            LoglikelihoodResult r;
            r.context_tokens = m.context_tokens;
            r.continuation_token_ids = m.continuation;
            r.cached_tokens = std::min(out->cached_tokens, m.context_tokens);
            r.is_greedy = true;
            for (size_t j = 0; j < m.continuation.size(); ++j) {
              r.logprob += out->logprobs[m.first_target + j];
              r.is_greedy = r.is_greedy && out->is_greedy[m.first_target + j];
            }
            results->Push(m.index, std::move(r));
          }
        });
    if (!s.ok()) {
      for (const Member& m : *members)
        results->Push(m.index, Annotate("loglikelihood", m.index, s));
    }
  }
  results->Drain(requests.size(), on_result);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Runner::TokenLogprob>> NativeRunner::PromptLogprobs(
    absl::Span<const int32_t> token_ids, int top_k,
    const CallOptions& options) {
  std::vector<TokenLogprob> out(token_ids.size());
  if (token_ids.size() < 2) return out;
  if (static_cast<int>(token_ids.size()) - 1 > engine_->max_context()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prompt of ", token_ids.size(),
        " tokens exceeds the context window of ", engine_->max_context()));
  }
  engine::ScoreRequest request;
  request.tokens.assign(token_ids.begin(), token_ids.end() - 1);
  for (size_t p = 1; p < token_ids.size(); ++p) {
    request.targets.push_back({static_cast<int>(p) - 1, token_ids[p]});
  }
  request.cancelled = options.cancelled;
  request.stop_admitting = options.stop_admitting;
  request.top_k = top_k;
  auto done = std::make_shared<CallResults<engine::ScoreOutput>>();
  RETURN_IF_ERROR(engine_->SubmitScore(
      std::move(request), [done](absl::StatusOr<engine::ScoreOutput> result) {
        done->Push(0, std::move(result));
      }));
  absl::StatusOr<engine::ScoreOutput> result =
      absl::InternalError("prompt logprobs: no result");
  done->Drain(1, [&](size_t, absl::StatusOr<engine::ScoreOutput> r) {
    result = std::move(r);
  });
  RETURN_IF_ERROR(result.status());
  for (size_t p = 1; p < token_ids.size(); ++p) {
    out[p].logprob = result->logprobs[p - 1];
    if (top_k > 0) out[p].top = std::move(result->top[p - 1]);
  }
  return out;
}

absl::Status NativeRunner::Generate(
    absl::Span<const GenerateRequest> requests, const CallOptions& options,
    const ResultCallback<GenerateResult>& on_result) {
  auto results = std::make_shared<CallResults<GenerateResult>>();
  const std::optional<int32_t> bos = tokenizer_->bos_id();
  const std::string bos_text = tokenizer_->bos_token();
  for (size_t i = 0; i < requests.size(); ++i) {
    const GenerateRequest& request = requests[i];
    // Chat messages are rendered with the model's own template.
    std::optional<GenerateRequest> rendered;
    if (!request.messages.empty()) {
      absl::Status utf8 = absl::OkStatus();
      for (const ChatMessage& m : request.messages) {
        if (utf8.ok())
          utf8 = CheckUtf8("generate", i, "chat message", m.content);
      }
      if (!utf8.ok()) {
        results->Push(i, utf8);
        continue;
      }
      absl::StatusOr<std::string> text = RenderedPrompt(*this, request);
      if (!text.ok()) {
        results->Push(i, Annotate("generate", i, text.status()));
        continue;
      }
      rendered = request;
      rendered->prompt = *std::move(text);
    }
    const GenerateRequest& req = rendered.has_value() ? *rendered : request;
    if (absl::Status s = CheckUtf8("generate", i, "prompt", req.prompt);
        !s.ok()) {
      results->Push(i, s);
      continue;
    }
    absl::Status stop_ok = absl::OkStatus();
    for (const std::string& stop : req.stop) {
      if (stop_ok.ok()) stop_ok = CheckUtf8("generate", i, "stop string", stop);
    }
    if (!stop_ok.ok()) {
      results->Push(i, stop_ok);
      continue;
    }
    absl::StatusOr<std::vector<int32_t>> prompt =
        Encode(req.prompt, /*add_special=*/true);
    if (!prompt.ok()) {
      results->Push(i, Annotate("generate", i, prompt.status()));
      continue;
    }
    // A rendered chat template already starts with the BOS text; the
    // tokenizer's own BOS would double it.
    if (bos.has_value() && !bos_text.empty() && prompt->size() >= 2 &&
        (*prompt)[0] == *bos && (*prompt)[1] == *bos &&
        absl::string_view(req.prompt).substr(0, bos_text.size()) == bos_text) {
      prompt->erase(prompt->begin());
    }
    const int n = static_cast<int>(prompt->size());
    if (n >= engine_->max_context()) {
      results->Push(
          i, absl::InvalidArgumentError(absl::StrCat(
                 "generate request ", i, ": prompt is ", n,
                 " tokens, the context window is ", engine_->max_context())));
      continue;
    }
    engine::GenerateTokensRequest g;
    g.prompt = *std::move(prompt);
    g.max_new_tokens = req.max_new_tokens;
    g.sampling = req.sampling;
    g.stop = req.stop;
    g.eos_ids = eos_ids_;
    g.cancelled = options.cancelled;
    g.stop_admitting = options.stop_admitting;
    g.on_text = req.on_text;
    const absl::Status s = engine_->SubmitGenerate(
        std::move(g), [results, i](absl::StatusOr<GenerateResult> out) {
          results->Push(i, out.ok() ? std::move(out)
                                    : Annotate("generate", i, out.status()));
        });
    if (!s.ok()) results->Push(i, Annotate("generate", i, s));
  }
  results->Drain(requests.size(), on_result);
  return absl::OkStatus();
}

absl::StatusOr<std::string> NativeRunner::ApplyChatTemplate(
    absl::Span<const ChatMessage> messages, bool add_generation_prompt) const {
  const std::string& tmpl = tokenizer_->chat_template();
  if (tmpl.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model ", name_, " has no chat_template in tokenizer_config.json"));
  }
  base::Json::Array list;
  for (const ChatMessage& m : messages) {
    list.push_back(
        base::Json::MakeObject({{"role", base::Json::String(m.role)},
                                {"content", base::Json::String(m.content)}}));
  }
  chat_template::ChatTemplateInputs inputs;
  inputs.messages = base::Json::MakeArray(std::move(list));
  inputs.add_generation_prompt = add_generation_prompt;
  inputs.bos_token = tokenizer_->bos_token();
  inputs.eos_token = tokenizer_->eos_token();
  return chat_template::RenderChatTemplate(tmpl, inputs);
}

// KV pool default: room for a full context plus a step's worth of tokens,
// and beyond that a prefix-cache working set, within a cap.
size_t DefaultKvBytes(const Model& model, int max_context,
                      int max_batch_tokens) {
  const size_t per_token = model.kv_bytes_per_token();
  const size_t floor_tokens =
      static_cast<size_t>(max_context) + max_batch_tokens;
  const size_t want_tokens = std::max<size_t>(
      {floor_tokens, 4 * static_cast<size_t>(max_batch_tokens), 16384});
  const size_t cap = size_t{2} << 30;
  return std::max(floor_tokens * per_token,
                  std::min(want_tokens * per_token, cap));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Runner>> CreateNativeRunner(
    const NativeRunnerOptions& options) {
  if (options.model_dir.empty())
    return absl::InvalidArgumentError("native runner: model_dir is empty");
  ASSIGN_OR_RETURN(
      std::unique_ptr<Model> model,
      Model::Load(options.model_dir, {.device = options.device,
                                      .num_threads = options.num_threads}));
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer,
                   Tokenizer::FromDirectory(options.model_dir));
  const model::ModelConfig& config = model->config();
  const int max_context =
      options.max_context > 0
          ? std::min(options.max_context, config.max_position_embeddings)
          : config.max_position_embeddings;
  const size_t per_token = model->kv_bytes_per_token();
  if (per_token == 0) {
    return absl::InternalError(absl::StrCat("model ", options.model_dir,
                                            " reports 0 kv bytes per token"));
  }
  // With a shared budget the pool starts at the planner's minimum (plus the
  // null block) and grows from there.
  const size_t kv_bytes =
      options.kv_budget != nullptr
          ? (static_cast<size_t>(planner::MinKvTokens(options.max_context)) +
             model::kKvBlockSize) *
                per_token
      : options.kv_cache_bytes > 0
          ? options.kv_cache_bytes
          : DefaultKvBytes(*model, max_context, options.max_batch_tokens);
  const size_t block_bytes = per_token * model::kKvBlockSize;
  const size_t blocks = kv_bytes / block_bytes;
  if (blocks < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("native runner: kv_cache_bytes ", kv_bytes,
                     " holds fewer than 2 blocks of ", block_bytes, " bytes"));
  }
  engine::EngineOptions eo;
  eo.max_batch_tokens = options.max_batch_tokens;
  eo.max_num_seqs = options.max_num_seqs > 0    ? options.max_num_seqs
                    : model->backend() == "cpu" ? 16
                                                : 256;
  eo.num_kv_blocks =
      static_cast<int>(std::min<size_t>(blocks, size_t{1} << 22));
  eo.prefix_cache = options.prefix_cache;
  eo.max_context = max_context;
  eo.model_id = options.model_dir;
  eo.kv_budget = options.kv_budget;
  eo.resident_bytes =
      static_cast<int64_t>(model->weight_bytes()) +
      planner::WorkspaceBytes(
          planner::ModelShape{.hidden = config.hidden_size,
                              .intermediate = config.intermediate_size,
                              .num_heads = config.num_heads,
                              .num_kv_heads = config.num_kv_heads,
                              .head_dim = config.head_dim,
                              .vocab = config.vocab_size,
                              .awq = config.quantization.awq},
          options.max_batch_tokens, model->backend() != "cpu");
  // Every model of this process shares the device: steps take turns.
  eo.turns = engine::StepTurns::Shared();
  ASSIGN_OR_RETURN(const std::vector<int32_t> generation_eos,
                   GenerationEosIds(options.model_dir));
  auto runner =
      std::make_unique<NativeRunner>(options.model_dir, std::move(model),
                                     std::move(tokenizer), generation_eos);
  RETURN_IF_ERROR(runner->Start(eo));
  return std::unique_ptr<Runner>(std::move(runner));
}

}  // namespace evald::runners::native
