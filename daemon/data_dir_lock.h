// File: daemon/data_dir_lock.h
// -----------------------------------------------------------------------------
// One daemon per data dir: an exclusive flock(2) on DIR/LOCK, held for the
// life of the object, with the holder's pid written into the file so a
// second daemon can say who holds it. The kernel drops the lock when the
// process dies, even by SIGKILL, so a stale file never blocks a restart.
#ifndef EVALD_DAEMON_DATA_DIR_LOCK_H_
#define EVALD_DAEMON_DATA_DIR_LOCK_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace evald::daemon {

// The data dir holds every prompt and output of every run: only its owner
// may read it. Sets the folder `data_dir` and its store folder to 0700 and
// the store's files to 0600 where they are more open (a data dir made by an
// older evald, or by hand). Returns one line per path it tightened, for the
// log. An error names the path it could not change (e.g. owned by another
// user).
absl::StatusOr<std::vector<std::string>> MakeDataDirPrivate(
    const std::string& data_dir);

class DataDirLock {
 public:
  // Creates `data_dir` when missing (mode 0700) and locks it.
  // FailedPrecondition "data dir DIR is in use by pid N" when held.
  static absl::StatusOr<std::unique_ptr<DataDirLock>> Acquire(
      const std::string& data_dir);
  ~DataDirLock();
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace evald::daemon

#endif  // EVALD_DAEMON_DATA_DIR_LOCK_H_
