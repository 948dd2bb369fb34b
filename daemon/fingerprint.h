// File: daemon/fingerprint.h
// -----------------------------------------------------------------------------
// The environment fingerprint stored with every run (DESIGN.md §4): driver,
// CUDA and GPU facts (NVML and the CUDA runtime are dlopen()ed at run time,
// so the binaries start on machines without a driver), the CPU model, the
// build, per-model file hashes and per-task facts, plus the `pin:` check.
//
// File hashes go through a FileHashCache keyed by (path, size, mtime, inode,
// device), so an unchanged 140 GB checkpoint is hashed once. Files not in the
// cache are hashed several at a time (one thread per file: SHA-256 of one
// file is sequential, so parallelism is across a checkpoint's shards), with
// progress in the log and in a HashActivity that status RPCs list.
//
// Thread-safety: the free functions are thread-safe when the cache they are
// given is; the cache is only called from the calling thread. HashActivity is
// thread-safe.
#ifndef EVALD_DAEMON_FINGERPRINT_H_
#define EVALD_DAEMON_FINGERPRINT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/file.h"
#include "proto/store.pb.h"
#include "tasks/task.h"

namespace evald::daemon {

// Remembers file hashes by identity. Implementations must be thread-safe.
class FileHashCache {
 public:
  virtual ~FileHashCache() = default;
  virtual std::optional<std::string> Lookup(
      const std::string& path, const base::FileIdentity& identity) = 0;
  virtual void Remember(const std::string& path,
                        const base::FileIdentity& identity,
                        const std::string& sha256) = 0;
};

// Where one fingerprint's hashing stands (files found in the cache excluded).
struct HashingStatus {
  std::string what;  // "candidate model /models/llama-70b"
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  int files_done = 0;
  int files_total = 0;
  double elapsed_s = 0;
  double bytes_per_s() const {
    return elapsed_s > 0 ? static_cast<double>(bytes_done) / elapsed_s : 0;
  }
};

// "hashing candidate model /m: 12.3 of 140.0 GB (8 of 30 files), 1.94 GB/s"
std::string FormatHashingStatus(const HashingStatus& status);

class HashJob;

// The hashing in flight in this process, so that a submit (or an attempt
// start) waiting on a first sight of a large checkpoint can be seen to make
// progress. Thread-safe.
class HashActivity {
 public:
  // The process-wide list FingerprintModel adds to unless told otherwise
  // (never null, never freed).
  static HashActivity* Default();

  std::vector<HashingStatus> List() const;

 private:
  friend class HashJob;
  void Add(const HashJob* job);
  void Remove(const HashJob* job);

  mutable absl::Mutex mu_;
  std::vector<const HashJob*> jobs_
      ABSL_GUARDED_BY(mu_);  // not owned; each unlists itself
};

struct HashOptions {
  // Files hashed at once; 0: min(files to hash, hardware threads, 8).
  int max_threads = 0;
  // Bytes per read(2) (base::Sha256FileOptions::buffer_bytes).
  size_t read_buffer_bytes = size_t{4} << 20;
  // Progress is reported this often while files are hashed, and once more at
  // the end of hashing that reported any.
  absl::Duration report_every = absl::Seconds(5);
  // Receives the reports, from a hashing thread; null: LOG(INFO).
  std::function<void(const HashingStatus&)> on_progress;
  const base::Clock* clock = nullptr;  // null: base::Clock::Real()
  HashActivity* activity = HashActivity::Default();  // null: not listed
};

struct HashedFile {
  std::string sha256;
  base::FileIdentity identity;  // as stat()ed before hashing; unchanged after
};

// sha256 of each of `paths` (same order): from `cache` (may be null) where a
// file's identity is unchanged, the others hashed in parallel. `what` names
// the files in progress reports. The first failure stops the others and is
// returned, naming its file (missing, unreadable, or changed or removed while
// it was being hashed); the cache learns only hashes that completed.
absl::StatusOr<std::vector<HashedFile>> HashFilesCached(
    const std::vector<std::string>& paths, FileHashCache* cache,
    const std::string& what, const HashOptions& options = {});

// sha256 of `path`, from `cache` when its identity is unchanged (cache may be
// null).
absl::StatusOr<std::string> HashFileCached(const std::string& path,
                                           FileHashCache* cache);

// Host facts: driver/CUDA/GPUs (or "none"), CPU model, hostname, build.
// Never fails: what cannot be read is recorded as "none" or "unknown".
v1::Fingerprint CollectHostFingerprint();

// Hashes every *.safetensors, *.json, tokenizer and template file of a model
// folder (through HashFilesCached) and the chat template string. Errors name
// the folder or file.
absl::StatusOr<v1::ModelFingerprint> FingerprintModel(
    const std::string& role, const v1::ModelSpec& model, FileHashCache* cache,
    const HashOptions& options = {});

// The chat template a model folder carries (tokenizer_config.json
// "chat_template", string or the "default" entry of a list, else
// chat_template.jinja); "" when there is none.
std::string ReadChatTemplate(const std::string& model_dir);

// The stored form of a task's facts.
v1::TaskFingerprint TaskFingerprintFromInfo(const tasks::TaskInfo& info,
                                            uint64_t seed);

// Compares `pin` with `fingerprint`; one Drift per mismatching field
// ("pin.driver", "pin.datasets.mmlu", ...). Dataset pins name a task (all of
// its files hash-combined when there are several, see DatasetDigest) or a
// dataset file name.
std::vector<v1::Drift> CheckPins(const v1::PinSpec& pin,
                                 const v1::Fingerprint& fingerprint);

// One sha256 for a task's datasets: the file's own hash when there is one
// file, else sha256 over "name sha256\n" lines in file order.
std::string DatasetDigest(const v1::TaskFingerprint& task);
// One sha256 for a model: sha256 over "name sha256\n" lines in file order.
std::string ModelDigest(const v1::ModelFingerprint& model);

// What differs between two fingerprints in anything that can change a
// sample: model files, dtype and chat template per role; per task its
// version, dataset files, shots, prompt format, generation settings and seed;
// the driver, CUDA runtime, GPUs, CPU, evald version and commit, and the
// decoding mode. One Drift per difference: field names the thing
// ("candidate model: model.safetensors", "task gsm8k: dataset test.jsonl",
// "evald commit"), expected is `before`'s value, found is `now`'s ("absent"
// for a file only one side has).
std::vector<v1::Drift> DiffFingerprints(const v1::Fingerprint& before,
                                        const v1::Fingerprint& now);

// A cheap stand-in for a model folder's content: sha256 over the name, size,
// mtime and inode of each file FingerprintModel hashes (stat only, nothing
// read). It changes whenever a file is replaced or rewritten, so a resident
// model loaded from older files is never served as the new ones.
std::string ModelFilesIdentity(const std::string& model_dir);

// "Driver 580.1, CUDA 13.0 ..." multi-line text for people (`evalctl env`).
std::string FormatFingerprint(const v1::Fingerprint& fingerprint);

}  // namespace evald::daemon

#endif  // EVALD_DAEMON_FINGERPRINT_H_
