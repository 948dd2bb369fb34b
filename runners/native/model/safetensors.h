// File: runners/native/model/safetensors.h
// -----------------------------------------------------------------------------
// Reading safetensors checkpoints in place.
//
//   [u64 little-endian header length N][N bytes of JSON header][tensor data]
//
// ParseSafetensors validates a header against its buffer without copying any
// tensor data: every TensorInfo points into the buffer. SafetensorsFile owns a
// read-only mmap of one file; TensorStore opens a checkpoint folder (one
// `model.safetensors` or a sharded `model.safetensors.index.json`) and keeps
// all its files mapped for as long as it lives.
//
// Every error is an InvalidArgument (NotFound for missing files) naming the
// file and, where there is one, the tensor.
//
// Thread-safety: all types are immutable after construction; concurrent const
// access is safe. TensorInfo::data borrows from the owning file/store.
#ifndef EVALD_RUNNERS_NATIVE_MODEL_SAFETENSORS_H_
#define EVALD_RUNNERS_NATIVE_MODEL_SAFETENSORS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "base/file.h"
#include "runners/native/model/dtype.h"

namespace evald::runners::native::model {

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  int64_t num_elements = 0;
  const uint8_t* data = nullptr;  // borrowed; size_bytes long
  size_t size_bytes = 0;
  std::string file;  // the file it came from (for error messages)
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // in data-offset order
  std::vector<std::pair<std::string, std::string>> metadata;
};

// Validates `buffer` as a whole safetensors file named `file_name` (used only
// in messages). Checks: length prefix within the buffer, JSON syntax, known
// dtypes, shape x dtype size == byte span, offsets within the data section,
// no overlapping tensors, element-aligned data, `__metadata__` a map of
// strings.
absl::StatusOr<SafetensorsHeader> ParseSafetensors(
    absl::Span<const uint8_t> buffer, absl::string_view file_name);

class SafetensorsFile {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(
      const std::string& path);
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return file_->path(); }
  const SafetensorsHeader& header() const { return header_; }
  size_t size() const { return file_->size(); }

 private:
  SafetensorsFile(std::unique_ptr<base::MappedFile> file,
                  SafetensorsHeader header)
      : file_(std::move(file)), header_(std::move(header)) {}
  std::unique_ptr<base::MappedFile> file_;
  SafetensorsHeader header_;
};

// All tensors of a checkpoint folder, by name.
class TensorStore {
 public:
  // Opens `dir`/model.safetensors.index.json when present (every shard it
  // names, and every tensor it maps must be in the named shard), else
  // `dir`/model.safetensors. A tensor name present twice is an error.
  static absl::StatusOr<std::unique_ptr<TensorStore>> Open(
      const std::string& dir);
  TensorStore(const TensorStore&) = delete;
  TensorStore& operator=(const TensorStore&) = delete;

  // nullptr when absent.
  const TensorInfo* Find(absl::string_view name) const;
  std::vector<std::string> Names() const;
  const std::vector<std::string>& files() const { return paths_; }
  // Sum of the mapped files' sizes.
  size_t total_bytes() const;

 private:
  TensorStore() = default;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::vector<std::string> paths_;
  absl::flat_hash_map<std::string, const TensorInfo*> by_name_;
};

}  // namespace evald::runners::native::model

#endif  // EVALD_RUNNERS_NATIVE_MODEL_SAFETENSORS_H_
