#include "daemon/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace evald::daemon {

absl::StatusOr<std::unique_ptr<DataDirLock>> DataDirLock::Acquire(
    const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create data dir ", data_dir, ": ", ec.message()));
  }
  const std::string path = data_dir + "/LOCK";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[32] = {0};
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    if (err == EWOULDBLOCK) {
      std::string pid =
          n > 0 ? std::string(absl::StripAsciiWhitespace(std::string(buf, n)))
                : std::string("unknown");
      return absl::FailedPreconditionError(
          absl::StrCat("data dir ", data_dir, " is in use by pid ", pid));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("cannot lock ", path, ": ", std::strerror(err)));
  }
  const std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The lock holds regardless; only the message of a second daemon suffers.
  }
  return std::unique_ptr<DataDirLock>(new DataDirLock(fd));
}

absl::StatusOr<std::vector<std::string>> MakeDataDirPrivate(
    const std::string& data_dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> changed;
  auto tighten = [&](const fs::path& path, fs::perms keep) -> absl::Status {
    std::error_code ec;
    const fs::perms now = fs::status(path, ec).permissions();
    if (ec) return absl::OkStatus();  // gone meanwhile: nothing to protect
    if ((now & ~keep) == fs::perms::none) return absl::OkStatus();
    fs::permissions(path, now & keep, fs::perm_options::replace, ec);
    if (ec) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot make ", path.string(),
          " private (others could read its runs): ", ec.message()));
    }
    changed.push_back(absl::StrFormat("%s: mode %04o -> %04o", path.string(),
                                      static_cast<unsigned>(now),
                                      static_cast<unsigned>(now & keep)));
    return absl::OkStatus();
  };
  const fs::perms owner_dir = fs::perms::owner_all;
  const fs::perms owner_file = fs::perms::owner_read | fs::perms::owner_write;
  if (absl::Status s = tighten(data_dir, owner_dir); !s.ok()) return s;
  const fs::path store = fs::path(data_dir) / "store";
  std::error_code ec;
  if (fs::is_directory(store, ec)) {
    if (absl::Status s = tighten(store, owner_dir); !s.ok()) return s;
    for (const fs::directory_entry& e : fs::directory_iterator(store, ec)) {
      if (!e.is_regular_file(ec)) continue;
      if (absl::Status s = tighten(e.path(), owner_file); !s.ok()) return s;
    }
  }
  return changed;
}

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) close(fd_);
}

}  // namespace evald::daemon
