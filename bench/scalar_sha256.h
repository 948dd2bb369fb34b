// File: bench/scalar_sha256.h
// -----------------------------------------------------------------------------
// The portable scalar SHA-256 that base/sha256 used before it moved to
// OpenSSL. Kept only as a yardstick: evald-hash-bench measures it beside the
// production path, and Sha256Test checks that both give the same digests.
// Never link it into evald itself.
//
// Thread-safety: not thread-safe per object; independent objects may be used
// concurrently.
#ifndef EVALD_BENCH_SCALAR_SHA256_H_
#define EVALD_BENCH_SCALAR_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace evald::bench {

class ScalarSha256 {
 public:
  ScalarSha256();
  void Update(const void* data, size_t size);
  void Update(absl::string_view data) { Update(data.data(), data.size()); }
  // Finishes the hash; the object must not be updated afterwards.
  std::array<uint8_t, 32> Digest();
  std::string HexDigest();

 private:
  void Block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string ScalarSha256Hex(absl::string_view data);

// The former base::Sha256File: 1 MiB reads, one file at a time.
absl::StatusOr<std::string> ScalarSha256File(const std::string& path);

}  // namespace evald::bench

#endif  // EVALD_BENCH_SCALAR_SHA256_H_
