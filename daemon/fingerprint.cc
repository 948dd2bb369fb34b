#include "daemon/fingerprint.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "base/json.h"
#include "base/logging.h"
#include "base/sha256.h"
#include "base/status_macros.h"
#include "daemon/version.h"

namespace evald::daemon {
namespace {

namespace fs = std::filesystem;

// A dlopen() handle closed on destruction.
class SharedLibrary {
 public:
  explicit SharedLibrary(std::initializer_list<const char*> names) {
    for (const char* name : names) {
      handle_ = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (handle_ != nullptr) break;
    }
  }
  ~SharedLibrary() {
    if (handle_ != nullptr) dlclose(handle_);
  }
  SharedLibrary(const SharedLibrary&) = delete;
  SharedLibrary& operator=(const SharedLibrary&) = delete;

  bool loaded() const { return handle_ != nullptr; }
  template <typename Fn>
  Fn Get(const char* symbol) const {
    return handle_ == nullptr ? nullptr
                              : reinterpret_cast<Fn>(dlsym(handle_, symbol));
  }

 private:
  void* handle_ = nullptr;
};

// The few NVML declarations used here (ABI-stable since NVML 5).
using NvmlReturn = int;
using NvmlDevice = void*;
struct NvmlMemory {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};

void CollectNvml(v1::Fingerprint* fp) {
  fp->set_driver_version("none");
  SharedLibrary nvml({"libnvidia-ml.so.1", "libnvidia-ml.so"});
  if (!nvml.loaded()) return;
  auto init = nvml.Get<NvmlReturn (*)()>("nvmlInit_v2");
  auto shutdown = nvml.Get<NvmlReturn (*)()>("nvmlShutdown");
  auto driver =
      nvml.Get<NvmlReturn (*)(char*, unsigned)>("nvmlSystemGetDriverVersion");
  auto count = nvml.Get<NvmlReturn (*)(unsigned*)>("nvmlDeviceGetCount_v2");
  auto handle = nvml.Get<NvmlReturn (*)(unsigned, NvmlDevice*)>(
      "nvmlDeviceGetHandleByIndex_v2");
  auto name = nvml.Get<NvmlReturn (*)(NvmlDevice, char*, unsigned)>(
      "nvmlDeviceGetName");
  auto uuid = nvml.Get<NvmlReturn (*)(NvmlDevice, char*, unsigned)>(
      "nvmlDeviceGetUUID");
  auto memory = nvml.Get<NvmlReturn (*)(NvmlDevice, NvmlMemory*)>(
      "nvmlDeviceGetMemoryInfo");
  auto cc = nvml.Get<NvmlReturn (*)(NvmlDevice, int*, int*)>(
      "nvmlDeviceGetCudaComputeCapability");
  if (init == nullptr || driver == nullptr || init() != 0) return;
  char buf[256] = {0};
  if (driver(buf, sizeof(buf)) == 0) fp->set_driver_version(buf);
  unsigned n = 0;
  if (count != nullptr && handle != nullptr && count(&n) == 0) {
    for (unsigned i = 0; i < n; ++i) {
      NvmlDevice dev = nullptr;
      if (handle(i, &dev) != 0) continue;
      v1::GpuInfo* gpu = fp->add_gpus();
      if (name != nullptr && name(dev, buf, sizeof(buf)) == 0)
        gpu->set_name(buf);
      if (uuid != nullptr && uuid(dev, buf, sizeof(buf)) == 0)
        gpu->set_uuid(buf);
      NvmlMemory mem{};
      if (memory != nullptr && memory(dev, &mem) == 0)
        gpu->set_memory_bytes(mem.total);
      int major = 0, minor = 0;
      if (cc != nullptr && cc(dev, &major, &minor) == 0) {
        gpu->set_compute_capability(absl::StrCat(major, ".", minor));
      }
    }
  }
  if (shutdown != nullptr) shutdown();
}

std::string CudaVersionString(int v) {
  return absl::StrCat(v / 1000, ".", (v % 1000) / 10);
}

void CollectCuda(v1::Fingerprint* fp) {
  fp->set_cuda_runtime_version("none");
  SharedLibrary cudart({"libcudart.so", "libcudart.so.13", "libcudart.so.12",
                        "libcudart.so.11.0",
                        "/usr/local/cuda/lib64/libcudart.so"});
  if (cudart.loaded()) {
    auto version = cudart.Get<int (*)(int*)>("cudaRuntimeGetVersion");
    int v = 0;
    if (version != nullptr && version(&v) == 0 && v > 0) {
      fp->set_cuda_runtime_version(CudaVersionString(v));
    }
  }
  fp->set_cuda_toolkit_version("none");
  auto text = base::ReadFileToString("/usr/local/cuda/version.json");
  if (text.ok()) {
    auto json = base::ParseJson(*text);
    if (json.ok()) {
      const base::Json* cuda = json->Find("cuda");
      const base::Json* version =
          cuda != nullptr ? cuda->Find("version") : nullptr;
      if (version != nullptr && version->is_string()) {
        fp->set_cuda_toolkit_version(version->string_value());
      }
    }
  }
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "model name")) {
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      }
    }
  }
  return "unknown";
}

bool IsModelFile(const std::string& name) {
  static const char* const kSuffixes[] = {".safetensors", ".json",  ".model",
                                          ".tiktoken",    ".jinja", ".txt"};
  for (const char* s : kSuffixes) {
    if (absl::EndsWith(name, s)) return true;
  }
  return false;
}

std::string LinesDigest(
    const google::protobuf::RepeatedPtrField<v1::FileHash>& files) {
  base::Sha256 h;
  for (const v1::FileHash& f : files)
    h.Update(absl::StrCat(f.name(), " ", f.sha256(), "\n"));
  return h.HexDigest();
}

std::string StripSha(absl::string_view s) {
  return std::string(absl::StripPrefix(s, "sha256:"));
}

// A found version matches a pinned one when equal or more precise
// ("13.0.48" matches a pin of "13.0").
bool VersionMatches(const std::string& expected, const std::string& found) {
  return found == expected || absl::StartsWith(found, expected + ".");
}

}  // namespace

// One HashFilesCached call's progress: the hashing threads add to it, status
// readers copy it, and whichever thread first sees that a report is due
// makes it. Listed in a HashActivity while it lives. Thread-safe.
class HashJob {
 public:
  HashJob(std::string what, uint64_t bytes_total, int files_total,
          const HashOptions& options)
      : what_(std::move(what)),
        bytes_total_(bytes_total),
        files_total_(files_total),
        options_(options),
        clock_(options.clock != nullptr ? options.clock : base::Clock::Real()),
        start_ns_(clock_->MonotonicNanos()),
        every_ns_(std::max<int64_t>(
            absl::ToInt64Nanoseconds(options.report_every), 1)),
        next_report_ns_(start_ns_ + every_ns_) {
    if (options_.activity != nullptr) options_.activity->Add(this);
  }
  ~HashJob() {
    if (options_.activity != nullptr) options_.activity->Remove(this);
  }
  HashJob(const HashJob&) = delete;
  HashJob& operator=(const HashJob&) = delete;

  void AddBytes(uint64_t n) {
    bytes_done_.fetch_add(n, std::memory_order_relaxed);
    const int64_t now = clock_->MonotonicNanos();
    int64_t due = next_report_ns_.load(std::memory_order_relaxed);
    if (now >= due &&
        next_report_ns_.compare_exchange_strong(due, now + every_ns_)) {
      reported_.store(true, std::memory_order_relaxed);
      Report(Status());
    }
  }
  void FileDone() { files_done_.fetch_add(1, std::memory_order_relaxed); }

  // One last report when there were any, so the log says how it ended.
  void Finish() {
    if (reported_.load(std::memory_order_relaxed)) Report(Status());
  }

  HashingStatus Status() const {
    HashingStatus s;
    s.what = what_;
    s.bytes_done = bytes_done_.load(std::memory_order_relaxed);
    s.bytes_total = bytes_total_;
    s.files_done = files_done_.load(std::memory_order_relaxed);
    s.files_total = files_total_;
    s.elapsed_s =
        static_cast<double>(clock_->MonotonicNanos() - start_ns_) * 1e-9;
    return s;
  }

 private:
  void Report(const HashingStatus& s) const {
    if (options_.on_progress) {
      options_.on_progress(s);
    } else {
      LOG(INFO) << FormatHashingStatus(s);
    }
  }

  const std::string what_;
  const uint64_t bytes_total_;
  const int files_total_;
  const HashOptions& options_;  // outlives the job (HashFilesCached's argument)
  const base::Clock* const clock_;
  const int64_t start_ns_;
  const int64_t every_ns_;
  std::atomic<uint64_t> bytes_done_{0};
  std::atomic<int> files_done_{0};
  std::atomic<int64_t> next_report_ns_;
  std::atomic<bool> reported_{false};
};

std::string FormatHashingStatus(const HashingStatus& s) {
  const bool done = s.files_done == s.files_total;
  return absl::StrFormat(
      "%s %s: %.1f of %.1f GB (%d of %d files) in %.1f s, %.2f GB/s",
      done ? "hashed" : "hashing", s.what, s.bytes_done * 1e-9,
      s.bytes_total * 1e-9, s.files_done, s.files_total, s.elapsed_s,
      s.bytes_per_s() * 1e-9);
}

HashActivity* HashActivity::Default() {
  static HashActivity* const activity = new HashActivity();
  return activity;
}

std::vector<HashingStatus> HashActivity::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<HashingStatus> out;
  out.reserve(jobs_.size());
  for (const HashJob* job : jobs_) out.push_back(job->Status());
  return out;
}

void HashActivity::Add(const HashJob* job) {
  absl::MutexLock lock(&mu_);
  jobs_.push_back(job);
}

void HashActivity::Remove(const HashJob* job) {
  absl::MutexLock lock(&mu_);
  jobs_.erase(std::remove(jobs_.begin(), jobs_.end(), job), jobs_.end());
}

namespace {

// Hashes one file for HashFilesCached; gives up early once `stop` is set.
absl::StatusOr<std::string> HashOneFile(const std::string& path,
                                        const base::FileIdentity& identity,
                                        const HashOptions& options,
                                        HashJob& job,
                                        const std::atomic<bool>& stop) {
  base::Sha256FileOptions read;
  read.buffer_bytes = options.read_buffer_bytes;
  read.on_read = [&](size_t n) {
    job.AddBytes(n);
    return !stop.load(std::memory_order_relaxed);
  };
  ASSIGN_OR_RETURN(std::string sha, base::Sha256File(path, read));
  // Sha256File checks the file it opened; this also catches a file replaced
  // between the stat that keys the cache and the open.
  absl::StatusOr<base::FileIdentity> now = base::StatFile(path);
  if (!now.ok()) {
    return absl::NotFoundError(
        absl::StrCat(path, ": removed while it was being hashed"));
  }
  if (now->size != identity.size || now->mtime_ns != identity.mtime_ns ||
      now->inode != identity.inode || now->device != identity.device) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": changed while it was being hashed"));
  }
  return sha;
}

// Below this, a first sight of the files is not worth a line in the log.
constexpr uint64_t kAnnounceBytes = uint64_t{1} << 30;
constexpr int kMaxHashThreads = 8;

}  // namespace

absl::StatusOr<std::vector<HashedFile>> HashFilesCached(
    const std::vector<std::string>& paths, FileHashCache* cache,
    const std::string& what, const HashOptions& options) {
  std::vector<HashedFile> out(paths.size());
  std::vector<size_t> todo;
  uint64_t todo_bytes = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    ASSIGN_OR_RETURN(out[i].identity, base::StatFile(paths[i]));
    if (cache != nullptr) {
      if (std::optional<std::string> hit =
              cache->Lookup(paths[i], out[i].identity)) {
        out[i].sha256 = std::move(*hit);
        continue;
      }
    }
    todo.push_back(i);
    todo_bytes += out[i].identity.size;
  }
  if (todo.empty()) return out;
  // Largest first, so the last file to finish is a small one and the
  // threads end together.
  std::stable_sort(todo.begin(), todo.end(), [&](size_t a, size_t b) {
    return out[a].identity.size > out[b].identity.size;
  });
  int threads = options.max_threads;
  if (threads <= 0) {
    threads = std::min<int>(
        kMaxHashThreads,
        std::max<int>(1,
                      static_cast<int>(std::thread::hardware_concurrency())));
  }
  threads = std::min<int>(threads, static_cast<int>(todo.size()));

  HashJob job(what, todo_bytes, static_cast<int>(todo.size()), options);
  if (todo_bytes >= kAnnounceBytes) {
    LOG(INFO) << absl::StrFormat(
        "hashing %s: %d files, %.1f GB not in the hash cache, on %d %s", what,
        todo.size(), todo_bytes * 1e-9, threads,
        threads == 1 ? "thread" : "threads");
  }
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  absl::Mutex mu;
  absl::Status first_error;  // guarded by mu
  std::vector<char> completed(paths.size(),
                              0);  // each index written by one thread only
  auto work = [&] {
    while (!stop.load(std::memory_order_relaxed)) {
      const size_t k = next.fetch_add(1);
      if (k >= todo.size()) return;
      const size_t i = todo[k];
      absl::StatusOr<std::string> sha =
          HashOneFile(paths[i], out[i].identity, options, job, stop);
      if (!sha.ok()) {
        absl::MutexLock lock(&mu);
        // The first failure is the one to report; later ones are mostly
        // the cancellations it caused.
        if (first_error.ok()) first_error = sha.status();
        stop.store(true);
        return;
      }
      out[i].sha256 = std::move(*sha);
      completed[i] = 1;
      job.FileDone();
    }
  };
  {
    // The calling thread hashes too; the others are joined at the end of
    // this scope, before anything they wrote is read.
    std::vector<std::jthread> pool;
    pool.reserve(threads - 1);
    for (int t = 1; t < threads; ++t) {
      // Out of threads: hash with those there are rather than fail (or
      // throw out of evald's code).
      try {
        pool.emplace_back(work);
      } catch (const std::system_error& e) {
        LOG(WARNING) << "hashing " << what << ": started " << t << " of "
                     << threads << " threads: " << e.what();
        break;
      }
    }
    work();
  }
  job.Finish();
  // Hashes that completed are right even when another file failed.
  if (cache != nullptr) {
    for (size_t i : todo) {
      if (completed[i])
        cache->Remember(paths[i], out[i].identity, out[i].sha256);
    }
  }
  absl::MutexLock lock(&mu);
  if (!first_error.ok()) return first_error;
  return out;
}

absl::StatusOr<std::string> HashFileCached(const std::string& path,
                                           FileHashCache* cache) {
  ASSIGN_OR_RETURN(std::vector<HashedFile> hashed,
                   HashFilesCached({path}, cache, path));
  return std::move(hashed[0].sha256);
}

v1::Fingerprint CollectHostFingerprint() {
  v1::Fingerprint fp;
  CollectNvml(&fp);
  CollectCuda(&fp);
  fp.set_cpu_model(CpuModel());
  fp.set_evald_version(Version());
  fp.set_git_commit(GitCommit());
  fp.set_compiler(absl::StrCat("g++ ", __VERSION__));
  fp.set_build_type(BuildType());
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) == 0) fp.set_hostname(host);
  return fp;
}

std::string ReadChatTemplate(const std::string& model_dir) {
  auto text = base::ReadFileToString(model_dir + "/tokenizer_config.json");
  if (text.ok()) {
    auto json = base::ParseJson(*text);
    const base::Json* t = json.ok() ? json->Find("chat_template") : nullptr;
    if (t != nullptr && t->is_string()) return t->string_value();
    if (t != nullptr && t->is_array()) {
      for (const base::Json& entry : t->array()) {
        const base::Json* name = entry.Find("name");
        const base::Json* body = entry.Find("template");
        if (name != nullptr && name->is_string() &&
            name->string_value() == "default" && body != nullptr &&
            body->is_string()) {
          return body->string_value();
        }
      }
    }
  }
  auto jinja = base::ReadFileToString(model_dir + "/chat_template.jinja");
  return jinja.ok() ? *jinja : std::string();
}

absl::StatusOr<v1::ModelFingerprint> FingerprintModel(
    const std::string& role, const v1::ModelSpec& model, FileHashCache* cache,
    const HashOptions& options) {
  v1::ModelFingerprint out;
  out.set_role(role);
  out.set_dtype(model.dtype());
  if (model.source_case() == v1::ModelSpec::kEndpoint) {
    out.set_path(absl::StrCat(model.endpoint(), "#", model.model()));
    return out;
  }
  const std::string& dir = model.path();
  out.set_path(dir);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(role, " model folder ", dir,
                                            ": not found or not a directory"));
  }
  if (!fs::exists(fs::path(dir) / "config.json", ec)) {
    return absl::NotFoundError(
        absl::StrCat(role, " model folder ", dir,
                     ": no config.json (expected a Hugging Face checkpoint)"));
  }
  std::vector<std::string> names;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file(ec) && IsModelFile(name)) names.push_back(name);
  }
  if (ec)
    return absl::InternalError(
        absl::StrCat(role, " model folder ", dir, ": ", ec.message()));
  std::sort(names.begin(), names.end());
  std::vector<std::string> paths;
  paths.reserve(names.size());
  for (const std::string& name : names)
    paths.push_back(absl::StrCat(dir, "/", name));
  ASSIGN_OR_RETURN(
      std::vector<HashedFile> hashed,
      HashFilesCached(paths, cache, absl::StrCat(role, " model ", dir),
                      options));
  for (size_t i = 0; i < names.size(); ++i) {
    v1::FileHash* f = out.add_files();
    f->set_name(names[i]);
    f->set_size(hashed[i].identity.size);
    f->set_sha256(std::move(hashed[i].sha256));
  }
  const std::string tmpl = ReadChatTemplate(dir);
  out.set_chat_template_sha256(tmpl.empty() ? "none" : base::Sha256Hex(tmpl));
  return out;
}

v1::TaskFingerprint TaskFingerprintFromInfo(const tasks::TaskInfo& info,
                                            uint64_t seed) {
  v1::TaskFingerprint t;
  t.set_name(info.name);
  t.set_version(info.version);
  t.set_shots(info.shots);
  t.set_prompt_format_hash(info.prompt_format_hash);
  t.set_generation_settings(info.generation_settings);
  t.set_seed(seed);
  t.set_lm_eval_config_json(info.lm_eval_config_json);
  t.set_lm_eval_groups_json(info.lm_eval_groups_json);
  for (const tasks::DatasetFile& d : info.datasets) {
    v1::FileHash* f = t.add_dataset_files();
    f->set_name(d.path);
    f->set_sha256(d.sha256);
    auto identity = base::StatFile(d.path);
    if (identity.ok()) f->set_size(identity->size);
  }
  return t;
}

std::string DatasetDigest(const v1::TaskFingerprint& task) {
  if (task.dataset_files_size() == 1) return task.dataset_files(0).sha256();
  return LinesDigest(task.dataset_files());
}

std::string ModelDigest(const v1::ModelFingerprint& model) {
  return LinesDigest(model.files());
}

std::vector<v1::Drift> CheckPins(const v1::PinSpec& pin,
                                 const v1::Fingerprint& fp) {
  std::vector<v1::Drift> drift;
  auto add = [&](std::string field, std::string expected, std::string found) {
    v1::Drift d;
    d.set_field(std::move(field));
    d.set_expected(std::move(expected));
    d.set_found(std::move(found));
    drift.push_back(std::move(d));
  };
  if (!pin.driver().empty() &&
      !VersionMatches(pin.driver(), fp.driver_version())) {
    add("pin.driver", pin.driver(), fp.driver_version());
  }
  if (!pin.cuda().empty()) {
    const std::string found = fp.cuda_runtime_version() != "none" &&
                                      !fp.cuda_runtime_version().empty()
                                  ? fp.cuda_runtime_version()
                                  : fp.cuda_toolkit_version();
    if (!VersionMatches(pin.cuda(), found)) add("pin.cuda", pin.cuda(), found);
  }
  // Deterministic order: protobuf maps iterate in unspecified order.
  std::vector<std::pair<std::string, std::string>> datasets(
      pin.datasets().begin(), pin.datasets().end());
  std::sort(datasets.begin(), datasets.end());
  for (const auto& [key, value] : datasets) {
    const std::string expected = StripSha(value);
    std::string found = "not in this run";
    for (const v1::TaskFingerprint& t : fp.tasks()) {
      if (t.name() == key) found = DatasetDigest(t);
      for (const v1::FileHash& f : t.dataset_files()) {
        if (f.name() == key || fs::path(f.name()).filename() == key)
          found = f.sha256();
      }
    }
    if (found != expected) {
      add(absl::StrCat("pin.datasets.", key), "sha256:" + expected,
          found.size() == 64 ? "sha256:" + found : found);
    }
  }
  std::vector<std::pair<std::string, std::string>> models(pin.models().begin(),
                                                          pin.models().end());
  std::sort(models.begin(), models.end());
  for (const auto& [key, value] : models) {
    const std::string expected = StripSha(value);
    std::string found = "not in this run";
    for (const v1::ModelFingerprint& m : fp.models()) {
      if (m.role() == key || m.path() == key) found = ModelDigest(m);
    }
    if (found != expected) {
      add(absl::StrCat("pin.models.", key), "sha256:" + expected,
          found.size() == 64 ? "sha256:" + found : found);
    }
  }
  return drift;
}

std::vector<v1::Drift> DiffFingerprints(const v1::Fingerprint& before,
                                        const v1::Fingerprint& now) {
  std::vector<v1::Drift> out;
  auto diff = [&](std::string field, const std::string& a,
                  const std::string& b) {
    if (a == b) return;
    v1::Drift d;
    d.set_field(std::move(field));
    d.set_expected(a.empty() ? "absent" : a);
    d.set_found(b.empty() ? "absent" : b);
    out.push_back(std::move(d));
  };
  // name -> sha256 of both sides, in name order.
  auto diff_files =
      [&](const std::string& prefix,
          const google::protobuf::RepeatedPtrField<v1::FileHash>& a,
          const google::protobuf::RepeatedPtrField<v1::FileHash>& b) {
        std::map<std::string, std::pair<std::string, std::string>> files;
        for (const v1::FileHash& f : a) files[f.name()].first = f.sha256();
        for (const v1::FileHash& f : b) files[f.name()].second = f.sha256();
        for (const auto& [name, shas] : files)
          diff(absl::StrCat(prefix, name), shas.first, shas.second);
      };
  diff("driver", before.driver_version(), now.driver_version());
  diff("cuda runtime", before.cuda_runtime_version(),
       now.cuda_runtime_version());
  auto gpus = [](const v1::Fingerprint& fp) {
    std::string s;
    for (const v1::GpuInfo& g : fp.gpus())
      absl::StrAppend(&s, s.empty() ? "" : ", ", g.name());
    return s.empty() ? std::string("none") : s;
  };
  diff("gpus", gpus(before), gpus(now));
  diff("cpu", before.cpu_model(), now.cpu_model());
  diff("evald version", before.evald_version(), now.evald_version());
  diff("evald commit", before.git_commit(), now.git_commit());
  diff("decoding",
       absl::StrCat(before.decoding_mode(),
                    before.batch_invariant() ? ", batch-invariant" : ""),
       absl::StrCat(now.decoding_mode(),
                    now.batch_invariant() ? ", batch-invariant" : ""));
  std::map<std::string,
           std::pair<const v1::ModelFingerprint*, const v1::ModelFingerprint*>>
      models;
  for (const v1::ModelFingerprint& m : before.models())
    models[m.role()].first = &m;
  for (const v1::ModelFingerprint& m : now.models())
    models[m.role()].second = &m;
  const v1::ModelFingerprint none;
  for (const auto& [role, pair] : models) {
    const v1::ModelFingerprint& a = pair.first != nullptr ? *pair.first : none;
    const v1::ModelFingerprint& b =
        pair.second != nullptr ? *pair.second : none;
    const std::string prefix = absl::StrCat(role, " model: ");
    diff(absl::StrCat(role, " model path"), a.path(), b.path());
    diff(absl::StrCat(role, " model dtype"), a.dtype(), b.dtype());
    diff(absl::StrCat(role, " chat template"), a.chat_template_sha256(),
         b.chat_template_sha256());
    diff_files(prefix, a.files(), b.files());
  }
  std::map<std::string,
           std::pair<const v1::TaskFingerprint*, const v1::TaskFingerprint*>>
      tasks;
  for (const v1::TaskFingerprint& t : before.tasks())
    tasks[t.name()].first = &t;
  for (const v1::TaskFingerprint& t : now.tasks()) tasks[t.name()].second = &t;
  const v1::TaskFingerprint no_task;
  for (const auto& [name, pair] : tasks) {
    const v1::TaskFingerprint& a =
        pair.first != nullptr ? *pair.first : no_task;
    const v1::TaskFingerprint& b =
        pair.second != nullptr ? *pair.second : no_task;
    const std::string prefix = absl::StrCat("task ", name, ": ");
    diff(prefix + "version", a.version(), b.version());
    diff(prefix + "shots", absl::StrCat(a.shots()), absl::StrCat(b.shots()));
    diff(prefix + "prompt format", a.prompt_format_hash(),
         b.prompt_format_hash());
    diff(prefix + "generation", a.generation_settings(),
         b.generation_settings());
    diff(prefix + "seed", absl::StrCat(a.seed()), absl::StrCat(b.seed()));
    diff_files(prefix + "dataset ", a.dataset_files(), b.dataset_files());
  }
  return out;
}

std::string ModelFilesIdentity(const std::string& model_dir) {
  std::error_code ec;
  std::vector<std::string> names;
  for (const fs::directory_entry& e : fs::directory_iterator(model_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file(ec) && IsModelFile(name)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  base::Sha256 h;
  for (const std::string& name : names) {
    absl::StatusOr<base::FileIdentity> id =
        base::StatFile(absl::StrCat(model_dir, "/", name));
    if (!id.ok()) continue;
    h.Update(absl::StrCat(name, " ", id->size, " ", id->mtime_ns, " ",
                          id->inode, " ", id->device, "\n"));
  }
  return h.HexDigest();
}

std::string FormatFingerprint(const v1::Fingerprint& fp) {
  std::string out;
  absl::StrAppend(&out, "driver:        ", fp.driver_version(), "\n");
  absl::StrAppend(&out, "cuda runtime:  ", fp.cuda_runtime_version(), "\n");
  absl::StrAppend(&out, "cuda toolkit:  ", fp.cuda_toolkit_version(), "\n");
  if (fp.gpus_size() == 0) absl::StrAppend(&out, "gpu:           none\n");
  for (const v1::GpuInfo& g : fp.gpus()) {
    absl::StrAppendFormat(
        &out, "gpu:           %s (%s, cc %s, %.1f GiB)\n", g.name(), g.uuid(),
        g.compute_capability(),
        static_cast<double>(g.memory_bytes()) / (1024.0 * 1024 * 1024));
  }
  absl::StrAppend(&out, "cpu:           ", fp.cpu_model(), "\n");
  absl::StrAppend(&out, "host:          ", fp.hostname(), "\n");
  absl::StrAppend(&out, "evald:         ", fp.evald_version(), " (",
                  fp.git_commit(), ", ", fp.build_type(), ")\n");
  absl::StrAppend(&out, "compiler:      ", fp.compiler(), "\n");
  if (!fp.decoding_mode().empty()) {
    absl::StrAppend(&out, "decoding:      ", fp.decoding_mode(),
                    fp.batch_invariant() ? ", batch-invariant" : "", "\n");
  }
  for (const v1::ModelFingerprint& m : fp.models()) {
    absl::StrAppend(&out, "model ", m.role(), ": ", m.path(), " (dtype ",
                    m.dtype(), ")\n");
    absl::StrAppend(&out, "  model sha256      ", ModelDigest(m),
                    "  (what pin.models.", m.role(), " compares)\n");
    absl::StrAppend(&out, "  chat template     ", m.chat_template_sha256(),
                    "\n");
    for (const v1::FileHash& f : m.files()) {
      absl::StrAppendFormat(&out, "  %-40s %12d  %s\n", f.name(), f.size(),
                            f.sha256());
    }
  }
  for (const v1::TaskFingerprint& t : fp.tasks()) {
    absl::StrAppend(&out, "task ", t.name(), ": version ", t.version(), ", ",
                    t.shots(), " shots, seed ", t.seed(), "\n");
    absl::StrAppend(&out, "  dataset sha256    ", DatasetDigest(t),
                    "  (what pin.datasets.", t.name(), " compares)\n");
    absl::StrAppend(&out, "  prompt format     ", t.prompt_format_hash(), "\n");
    absl::StrAppend(&out, "  generation        ", t.generation_settings(),
                    "\n");
    for (const v1::FileHash& f : t.dataset_files()) {
      absl::StrAppend(&out, "  ", f.name(), "  ", f.sha256(), "\n");
    }
  }
  return out;
}

}  // namespace evald::daemon
