// File: base/sha256.h
// -----------------------------------------------------------------------------
// SHA-256 (FIPS 180-4), incremental, computed by OpenSSL's libcrypto (EVP),
// which uses the CPU's SHA instructions where there are some. Used for model,
// dataset and prompt-format hashes and the KV cache's block hashes.
//
// Nothing of OpenSSL appears in this header: libcrypto is a link-time
// dependency of base only (see base/CMakeLists.txt for why base may have it).
//
// Thread-safety: not thread-safe per object; independent objects may be used
// concurrently. Sha256File may be called from any number of threads.
#ifndef EVALD_BASE_SHA256_H_
#define EVALD_BASE_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace evald::base {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  // Copies carry the state so far (hash a common prefix once, fork it).
  Sha256(const Sha256& other);
  Sha256& operator=(const Sha256& other);

  void Update(const void* data, size_t size);
  void Update(absl::string_view data) { Update(data.data(), data.size()); }
  // Finishes the hash; the object must not be updated afterwards.
  std::array<uint8_t, 32> Digest();
  // Finishes the hash and returns 64 lowercase hex digits.
  std::string HexDigest();

 private:
  struct CtxDeleter {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_md_ctx_st, CtxDeleter> ctx_;  // owned
};

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(absl::string_view data);

struct Sha256FileOptions {
  // Bytes read per read(2). Large reads keep the syscall count low on
  // network file systems; the kernel's read-ahead (asked to be sequential)
  // keeps the disk busy while a buffer is hashed.
  size_t buffer_bytes = size_t{4} << 20;
  // Called after each read with the bytes just read (from the calling
  // thread); returning false stops hashing with a CancelledError.
  std::function<bool(size_t bytes)> on_read;
};

// Lowercase hex SHA-256 of a file's contents, streamed. Errors name the
// path: NotFound when it cannot be opened or was removed while being read,
// DataLoss when a read fails, FailedPrecondition when the file changed (size,
// mtime, or another file put in its place) while it was being read, so a
// half-old, half-new hash is never returned.
absl::StatusOr<std::string> Sha256File(const std::string& path);
absl::StatusOr<std::string> Sha256File(const std::string& path,
                                       const Sha256FileOptions& options);

}  // namespace evald::base

#endif  // EVALD_BASE_SHA256_H_
