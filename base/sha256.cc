#include "base/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"

namespace evald::base {
namespace {

// The SHA-256 implementation, looked up once. OpenSSL 3 would otherwise
// look the algorithm up in its provider tables (a lock and a hash probe) on
// every EVP_DigestInit_ex, which costs more than hashing one KV block.
// Never freed: it lives as long as the process, and freeing it at exit would
// race OpenSSL's own clean-up.
const EVP_MD* Sha256Md() {
  static const EVP_MD* const md =
      [] {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
        const EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
#else
        const EVP_MD* m = EVP_sha256();
#endif
        CHECK(m != nullptr)
            << "OpenSSL provides no SHA-256 (libcrypto installation broken?)";
        return m;
      }();
  return md;
}

std::string Hex(const uint8_t* d, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[d[i] >> 4];
    out[2 * i + 1] = kHex[d[i] & 15];
  }
  return out;
}

absl::Status OpenError(const std::string& path, int err) {
  std::string msg = absl::StrCat(path, ": cannot open: ", std::strerror(err));
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  return absl::NotFoundError(msg);
}

int64_t MtimeNanos(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
         st.st_mtim.tv_nsec;
}

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

void Sha256::CtxDeleter::operator()(evp_md_ctx_st* ctx) const {
  EVP_MD_CTX_free(ctx);
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  // Only allocation can fail here; that is not a condition callers handle.
  CHECK(ctx_ != nullptr) << "EVP_MD_CTX_new failed";
  CHECK(EVP_DigestInit_ex(ctx_.get(), Sha256Md(), nullptr) == 1)
      << "EVP_DigestInit_ex failed";
}

Sha256::~Sha256() = default;

Sha256::Sha256(const Sha256& other) : ctx_(EVP_MD_CTX_new()) {
  CHECK(ctx_ != nullptr) << "EVP_MD_CTX_new failed";
  CHECK(EVP_MD_CTX_copy_ex(ctx_.get(), other.ctx_.get()) == 1)
      << "EVP_MD_CTX_copy_ex failed";
}

Sha256& Sha256::operator=(const Sha256& other) {
  if (this != &other) {
    CHECK(EVP_MD_CTX_copy_ex(ctx_.get(), other.ctx_.get()) == 1)
        << "EVP_MD_CTX_copy_ex failed";
  }
  return *this;
}

void Sha256::Update(const void* data, size_t size) {
  if (size == 0) return;
  CHECK(EVP_DigestUpdate(ctx_.get(), data, size) == 1)
      << "EVP_DigestUpdate failed";
}

std::array<uint8_t, 32> Sha256::Digest() {
  std::array<uint8_t, 32> out;
  unsigned int len = 0;
  CHECK(EVP_DigestFinal_ex(ctx_.get(), out.data(), &len) == 1 &&
        len == out.size())
      << "EVP_DigestFinal_ex failed";
  return out;
}

std::string Sha256::HexDigest() {
  std::array<uint8_t, 32> d = Digest();
  return Hex(d.data(), d.size());
}

std::string Sha256Hex(absl::string_view data) {
  uint8_t out[32];
  unsigned int len = 0;
  CHECK(EVP_Digest(data.data(), data.size(), out, &len, Sha256Md(), nullptr) ==
            1 &&
        len == sizeof(out))
      << "EVP_Digest failed";
  return Hex(out, sizeof(out));
}

absl::StatusOr<std::string> Sha256File(const std::string& path) {
  return Sha256File(path, Sha256FileOptions());
}

absl::StatusOr<std::string> Sha256File(const std::string& path,
                                       const Sha256FileOptions& options) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return OpenError(path, errno);
  struct stat before;
  if (::fstat(fd.get(), &before) != 0) {
    return absl::DataLossError(
        absl::StrCat(path, ": cannot stat: ", std::strerror(errno)));
  }
  if (!S_ISREG(before.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a regular file"));
  }
  // Twice the default read-ahead; advice only, so its result is ignored.
  (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  const uint64_t expected = static_cast<uint64_t>(before.st_size);
  // A small file gets a small buffer: datasets and configs are hashed often.
  const size_t buffer_bytes = static_cast<size_t>(std::clamp<uint64_t>(
      expected + 1, 4096, std::max<size_t>(options.buffer_bytes, 4096)));
  std::unique_ptr<char[]> buf(new char[buffer_bytes]);
  Sha256 h;
  uint64_t total = 0;
  while (true) {
    ssize_t n = ::read(fd.get(), buf.get(), buffer_bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::DataLossError(
          absl::StrCat(path, ": read failed after ", total,
                       " bytes: ", std::strerror(errno)));
    }
    if (n == 0) break;
    h.Update(buf.get(), static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
    if (options.on_read && !options.on_read(static_cast<size_t>(n))) {
      return absl::CancelledError(
          absl::StrCat(path, ": hashing cancelled after ", total, " of ",
                       expected, " bytes"));
    }
  }
  // The bytes hashed must be the file as it was opened: the same size, not
  // rewritten in place, and still the file `path` names.
  struct stat after;
  if (::fstat(fd.get(), &after) != 0) {
    return absl::DataLossError(
        absl::StrCat(path, ": cannot stat: ", std::strerror(errno)));
  }
  if (total != expected || static_cast<uint64_t>(after.st_size) != expected ||
      MtimeNanos(after) != MtimeNanos(before)) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": changed while it was being hashed (", expected,
        " bytes at the start, ", total, " read, ", after.st_size, " now)"));
  }
  struct stat now;
  if (::stat(path.c_str(), &now) != 0) {
    return absl::NotFoundError(
        absl::StrCat(path, ": removed while it was being hashed (",
                     std::strerror(errno), ")"));
  }
  if (now.st_ino != before.st_ino || now.st_dev != before.st_dev) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": replaced by another file while it was being hashed"));
  }
  return h.HexDigest();
}

}  // namespace evald::base
