// File: base/file.h
// -----------------------------------------------------------------------------
// File helpers with Status errors that name the path: whole-file reads,
// atomic writes (write temp + fsync + rename), and a read-only memory map.
// MappedFile owns its mapping (RAII); it is immutable and thread-safe to read.
#ifndef EVALD_BASE_FILE_H_
#define EVALD_BASE_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace evald::base {

absl::StatusOr<std::string> ReadFileToString(const std::string& path);
// A bearer token kept in the file `path`, given by the flag `flag`: the
// file's text without surrounding whitespace. InvalidArgument, naming the
// flag, when it cannot be read or is empty.
absl::StatusOr<std::string> ReadTokenFile(absl::string_view flag,
                                          const std::string& path);

// Writes `contents` to `path` atomically: a reader sees the old or the new
// file, never a torn one.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents);

bool PathExists(const std::string& path);
bool IsDirectory(const std::string& path);

// Identity of a file for hash caching: a change of any field invalidates.
struct FileIdentity {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;
  uint64_t device = 0;
};
absl::StatusOr<FileIdentity> StatFile(const std::string& path);

// A read-only, private memory map of a whole file.
class MappedFile {
 public:
  static absl::StatusOr<std::unique_ptr<MappedFile>> Open(
      const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  absl::string_view view() const {
    return absl::string_view(reinterpret_cast<const char*>(data_), size_);
  }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const uint8_t* data_;
  size_t size_;
};

}  // namespace evald::base

#endif  // EVALD_BASE_FILE_H_
