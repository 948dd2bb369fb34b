// File: daemon/fingerprint.h
// -----------------------------------------------------------------------------
// The environment fingerprint stored with every run (DESIGN.md §4): driver,
// CUDA and GPU facts (NVML and the CUDA runtime are dlopen()ed at run time,
// so the binaries start on machines without a driver), the CPU model, the
// build, per-model file hashes and per-task facts, plus the `pin:` check.
//
// File hashes go through a FileHashCache keyed by (path, size, mtime, inode,
// device), so an unchanged 40 GB checkpoint is hashed once.
//
// Thread-safety: the free functions are thread-safe when the cache they are
// given is.
#ifndef EVALD_DAEMON_FINGERPRINT_H_
#define EVALD_DAEMON_FINGERPRINT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/file.h"
#include "proto/store.pb.h"
#include "tasks/task.h"

namespace evald::daemon {

// Remembers file hashes by identity. Implementations must be thread-safe.
class FileHashCache {
 public:
  virtual ~FileHashCache() = default;
  virtual std::optional<std::string> Lookup(const std::string& path,
                                            const base::FileIdentity& identity) = 0;
  virtual void Remember(const std::string& path, const base::FileIdentity& identity,
                        const std::string& sha256) = 0;
};

// sha256 of `path`, from `cache` when its identity is unchanged (cache may be
// null).
absl::StatusOr<std::string> HashFileCached(const std::string& path, FileHashCache* cache);

// Host facts: driver/CUDA/GPUs (or "none"), CPU model, hostname, build.
// Never fails: what cannot be read is recorded as "none" or "unknown".
v1::Fingerprint CollectHostFingerprint();

// Hashes every *.safetensors, *.json, tokenizer and template file of a model
// folder and the chat template string. Errors name the folder or file.
absl::StatusOr<v1::ModelFingerprint> FingerprintModel(const std::string& role,
                                                      const v1::ModelSpec& model,
                                                      FileHashCache* cache);

// The chat template a model folder carries (tokenizer_config.json
// "chat_template", string or the "default" entry of a list, else
// chat_template.jinja); "" when there is none.
std::string ReadChatTemplate(const std::string& model_dir);

// The stored form of a task's facts.
v1::TaskFingerprint TaskFingerprintFromInfo(const tasks::TaskInfo& info, uint64_t seed);

// Compares `pin` with `fingerprint`; one Drift per mismatching field
// ("pin.driver", "pin.datasets.mmlu", ...). Dataset pins name a task (all of
// its files hash-combined when there are several, see DatasetDigest) or a
// dataset file name.
std::vector<v1::Drift> CheckPins(const v1::PinSpec& pin, const v1::Fingerprint& fingerprint);

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
std::vector<v1::Drift> DiffFingerprints(const v1::Fingerprint& before, const v1::Fingerprint& now);

// A cheap stand-in for a model folder's content: sha256 over the name, size,
// mtime and inode of each file FingerprintModel hashes (stat only, nothing
// read). It changes whenever a file is replaced or rewritten, so a resident
// model loaded from older files is never served as the new ones.
std::string ModelFilesIdentity(const std::string& model_dir);

// "Driver 580.1, CUDA 13.0 ..." multi-line text for people (`evalctl env`).
std::string FormatFingerprint(const v1::Fingerprint& fingerprint);

}  // namespace evald::daemon

#endif  // EVALD_DAEMON_FINGERPRINT_H_
