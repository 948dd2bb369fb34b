#include "daemon/model_cache.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "daemon/fingerprint.h"

#ifdef EVALD_HAVE_NATIVE_RUNNER
#include "runners/native/native_runner.h"
#endif
#ifdef EVALD_HAVE_OPENAI_RUNNER
#include "runners/openai/openai_runner.h"
#endif

namespace evald::daemon {

namespace model = ::evald::runners::native::model;
namespace {

std::string OptionsKey(const v1::ModelSpec& model) {
  return absl::StrCat("dtype=", model.dtype().empty() ? "auto" : model.dtype(),
                      ",max_context=", model.max_context());
}

}  // namespace

RunnerFactory DefaultRunnerFactory(
    int num_threads, const std::string& device,
    runners::native::planner::KvBudget* kv_budget, int max_num_seqs) {
  return
      [num_threads, device, kv_budget, max_num_seqs](const v1::ModelSpec& model)
          -> absl::StatusOr<std::unique_ptr<runners::Runner>> {
        if (model.source_case() == v1::ModelSpec::kEndpoint) {
#ifdef EVALD_HAVE_OPENAI_RUNNER
          runners::openai::OpenAiRunnerOptions options;
          options.endpoint = model.endpoint();
          options.model = model.model();
          options.api_key_env = model.api_key_env();
          options.max_context = static_cast<int>(model.max_context());
          if (model.max_concurrency() > 0)
            options.max_concurrency = model.max_concurrency();
          if (model.timeout_s() > 0) options.timeout_s = model.timeout_s();
          return runners::openai::CreateOpenAiRunner(options);
#else
          return absl::UnimplementedError(
              absl::StrCat("model endpoint ", model.endpoint(),
                           ": OpenAI-compatible endpoints are not supported "
                           "yet (use a local 'model' folder)"));
#endif
        }
#ifdef EVALD_HAVE_NATIVE_RUNNER
        runners::native::NativeRunnerOptions options;
        options.model_dir = model.path();
        options.num_threads = num_threads;
        options.device = device == "cpu"    ? model::Device::kCpu
                         : device == "cuda" ? model::Device::kCuda
                                            : model::Device::kAuto;
        options.max_context = static_cast<int>(model.max_context());
        options.kv_budget = kv_budget;
        options.max_num_seqs = max_num_seqs;
        return runners::native::CreateNativeRunner(options);
#else
        return absl::UnimplementedError(
            absl::StrCat("model ", model.path(),
                         ": this evald was built without the native engine"));
#endif
      };
}

ModelCache::ModelCache(RunnerFactory factory, int max_resident,
                       const base::Clock* clock)
    : factory_(std::move(factory)),
      max_resident_(max_resident < 1 ? 1 : max_resident),
      clock_(clock) {}

absl::StatusOr<ModelCache::Lease> ModelCache::Get(const v1::ModelSpec& model) {
  const std::string options = OptionsKey(model);
  const bool endpoint = model.source_case() == v1::ModelSpec::kEndpoint;
  const std::string path =
      endpoint ? model.endpoint() + "#" + model.model() : model.path();
  // A folder whose files were replaced or rewritten is a different model:
  // the identity of its files is part of the key, and a resident copy of
  // the older files is let go.
  const std::string identity = endpoint ? "" : ModelFilesIdentity(model.path());
  const std::string key = absl::StrCat(path, "|", options);
  absl::MutexLock lock(&mu_);
  const int64_t now_ms = clock_->NowUnixNanos() / 1'000'000;
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->key != key) continue;
    if (it->identity != identity) {
      LOG(INFO) << "the files of resident model " << key
                << " changed; loading them again";
      entries_.erase(it);
      break;
    }
    it->last_used_unix_ms = now_ms;
    entries_.splice(entries_.begin(), entries_, it);
    return Lease{.runner = entries_.front().runner, .load_seconds = 0};
  }
  // Make room first: on one GPU the new model may need the evicted one's
  // memory.
  while (static_cast<int>(entries_.size()) >= max_resident_) {
    LOG(INFO) << "evicting resident model " << entries_.back().key;
    entries_.pop_back();
  }
  const int64_t t0 = clock_->MonotonicNanos();
  absl::StatusOr<std::unique_ptr<runners::Runner>> loaded = factory_(model);
  while (!loaded.ok() && absl::IsResourceExhausted(loaded.status()) &&
         !entries_.empty()) {
    LOG(INFO) << "evicting resident model " << entries_.back().key
              << " to make room: " << loaded.status().message();
    entries_.pop_back();
    loaded = factory_(model);
  }
  if (!loaded.ok()) return loaded.status();
  std::unique_ptr<runners::Runner> runner = *std::move(loaded);
  const double seconds =
      static_cast<double>(clock_->MonotonicNanos() - t0) / 1e9;
  LOG(INFO) << "loaded model " << key << " in " << seconds << "s";
  entries_.push_front(
      Entry{.key = key,
            .identity = identity,
            .path = path,
            .options = options,
            .runner = std::shared_ptr<runners::Runner>(std::move(runner)),
            .loaded_unix_ms = now_ms,
            .last_used_unix_ms = now_ms});
  return Lease{.runner = entries_.front().runner, .load_seconds = seconds};
}

std::vector<v1::ResidentModel> ModelCache::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::ResidentModel> out;
  for (const Entry& e : entries_) {
    v1::ResidentModel m;
    m.set_path(e.path);
    m.set_options(e.options);
    m.set_resident_bytes(e.runner->resident_bytes());
    m.set_loaded_unix_ms(e.loaded_unix_ms);
    m.set_last_used_unix_ms(e.last_used_unix_ms);
    runners::RunnerStats st = e.runner->stats();
    m.mutable_stats()->set_prompt_tokens(st.prompt_tokens);
    m.mutable_stats()->set_cached_prompt_tokens(st.cached_prompt_tokens);
    m.mutable_stats()->set_generated_tokens(st.generated_tokens);
    m.mutable_stats()->set_busy_s(st.busy_seconds);
    m.set_kv_bytes(st.kv_bytes);
    m.set_kv_min_bytes(st.kv_min_bytes);
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace evald::daemon
