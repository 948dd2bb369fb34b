// File: daemon/run_validation.h
// -----------------------------------------------------------------------------
// What Submit does before a run is stored: check the spec (model kinds and
// folders, task names, dataset paths), fingerprint the environment, models
// and tasks, and compare against the suite's `pin:`.
//
// Thread-safety: thread-safe when the hash cache is (StoreHashCache is).
#ifndef EVALD_DAEMON_RUN_VALIDATION_H_
#define EVALD_DAEMON_RUN_VALIDATION_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/fingerprint.h"
#include "proto/store.pb.h"
#include "store/store.h"
#include "tasks/task.h"

namespace evald::daemon {

// The file-hash cache kept in the store's hash-cache column family.
class StoreHashCache : public FileHashCache {
 public:
  explicit StoreHashCache(store::Store* store) : store_(store) {}
  std::optional<std::string> Lookup(
      const std::string& path, const base::FileIdentity& identity) override;
  void Remember(const std::string& path, const base::FileIdentity& identity,
                const std::string& sha256) override;

 private:
  store::Store* store_;  // not owned
};

struct PreparedRun {
  v1::Fingerprint fingerprint;
  std::vector<v1::Drift> drift;  // empty, or allowed by spec.allow_drift
};

// Validates `spec` and fingerprints it on top of `host`. Errors:
// InvalidArgument/NotFound naming the field (unknown task, missing folder),
// Unimplemented for endpoints, FailedPrecondition listing pin mismatches
// (field, expected, found) unless spec.allow_drift.
// Resolves every task option `baseline` (a run id, "tag:NAME" or a bare tag)
// to the id of a stored, finished run that has samples of that task, and
// writes the id back into `spec`, so the run records exactly which answers
// it was compared with. Errors name the field.
absl::Status ResolveBaselines(v1::RunSpec* spec, store::Store* store);

absl::StatusOr<PreparedRun> PrepareRun(const v1::RunSpec& spec,
                                       const std::string& data_dir,
                                       const v1::Fingerprint& host,
                                       FileHashCache* cache);

}  // namespace evald::daemon

#endif  // EVALD_DAEMON_RUN_VALIDATION_H_
