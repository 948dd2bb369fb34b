// File: base/sha256.h
// -----------------------------------------------------------------------------
// SHA-256 (FIPS 180-4), incremental. Used for model, dataset and prompt-format
// hashes. Not thread-safe per object; independent objects may be used
// concurrently.
#ifndef EVALD_BASE_SHA256_H_
#define EVALD_BASE_SHA256_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace evald::base {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t size);
  void Update(absl::string_view data) { Update(data.data(), data.size()); }
  // Finishes the hash; the object must not be updated afterwards.
  std::array<uint8_t, 32> Digest();
  // Finishes the hash and returns 64 lowercase hex digits.
  std::string HexDigest();

 private:
  void Block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(absl::string_view data);

// Lowercase hex SHA-256 of a file's contents, streamed. Errors name the path.
absl::StatusOr<std::string> Sha256File(const std::string& path);

}  // namespace evald::base

#endif  // EVALD_BASE_SHA256_H_
