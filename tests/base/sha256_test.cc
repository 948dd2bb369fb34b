#include "base/sha256.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <string>

#include "base/file.h"
#include "bench/scalar_sha256.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::base {
namespace {

using ::evald::testing::StatusIs;
using ::testing::HasSubstr;

// FIPS 180-2 appendix B and the usual extras; digests as coreutils'
// sha256sum gives them.
TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // Two blocks: the padding does not fit after 56 bytes.
  EXPECT_EQ(
      Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                      "hijklmnoijklmnopjklmnop"
                      "qklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  // Many blocks.
  EXPECT_EQ(Sha256Hex(std::string(1'000'000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  Sha256 empty;
  EXPECT_EQ(empty.HexDigest(), Sha256Hex(""));
}

TEST(Sha256Test, IncrementalEqualsOneShot) {
  std::string data(100003, 'x');
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<char>(i * 31 + 7);
  Sha256 h;
  for (size_t i = 0; i < data.size(); i += 777)
    h.Update(absl::string_view(data).substr(i, 777));
  EXPECT_EQ(h.HexDigest(), Sha256Hex(data));
}

TEST(Sha256Test, DigestIsTheHexDigestsBytes) {
  Sha256 h;
  h.Update("abc");
  const std::array<uint8_t, 32> d = h.Digest();
  EXPECT_EQ(d[0], 0xba);
  EXPECT_EQ(d[31], 0xad);
}

TEST(Sha256Test, ACopyContinuesFromTheSameState) {
  Sha256 prefix;
  prefix.Update("evald.kv.root\n");
  Sha256 a = prefix;
  Sha256 b(prefix);
  a.Update("model-a");
  b.Update("model-b");
  EXPECT_EQ(a.HexDigest(), Sha256Hex("evald.kv.root\nmodel-a"));
  EXPECT_EQ(b.HexDigest(), Sha256Hex("evald.kv.root\nmodel-b"));
  Sha256 assigned;
  assigned.Update("thrown away");
  assigned = prefix;
  EXPECT_EQ(assigned.HexDigest(), Sha256Hex("evald.kv.root\n"));
  EXPECT_EQ(prefix.HexDigest(), Sha256Hex("evald.kv.root\n"));
}

// Stored fingerprints, pins and KV block hashes were made by the former
// scalar implementation: the digests must not change, on every length
// around the block and padding boundaries and on random chunkings.
TEST(Sha256Test, MatchesTheFormerScalarImplementationOnRandomInputs) {
  std::mt19937_64 rng(20240611);
  auto random_bytes = [&](size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  };
  for (size_t n = 0; n <= 300; ++n) {
    const std::string data = random_bytes(n);
    ASSERT_EQ(Sha256Hex(data), bench::ScalarSha256Hex(data)) << "length " << n;
  }
  for (int trial = 0; trial < 50; ++trial) {
    const std::string data = random_bytes(rng() % 200'000);
    Sha256 h;
    bench::ScalarSha256 scalar;
    for (size_t i = 0; i < data.size();) {
      const size_t n = std::min<size_t>(data.size() - i, rng() % 5000);
      h.Update(data.data() + i, n);
      scalar.Update(data.data() + i, n);
      i += n;
    }
    ASSERT_EQ(h.HexDigest(), scalar.HexDigest())
        << "trial " << trial << ", " << data.size() << " bytes";
  }
}

// 9 MiB + 7 bytes: more than two default read buffers, and a ragged tail.
std::string LargeContent() {
  std::string data(9 * (size_t{1} << 20) + 7, '\0');
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<char>((static_cast<uint32_t>(i) * 2654435761u) >> 24);
  }
  return data;
}
constexpr char kLargeContentSha256[] =
    "ea9db2ffc7580ad8c8de611af0b3effab843ced9f512d243c0a65b781f780f09";  // sha256sum's

TEST(Sha256Test, HashesFilesLargerThanTheReadBuffer) {
  evald::testing::TempDir dir;
  evald::testing::WriteTestFile(dir.Join("big"), LargeContent());
  ASSERT_OK_AND_ASSIGN(std::string hex, Sha256File(dir.Join("big")));
  EXPECT_EQ(hex, kLargeContentSha256);
  // An odd buffer size, so reads end mid-block; the callback sees every byte.
  Sha256FileOptions options;
  options.buffer_bytes = 5000;
  uint64_t seen = 0;
  int reads = 0;
  options.on_read = [&](size_t n) {
    seen += n;
    ++reads;
    return true;
  };
  ASSERT_OK_AND_ASSIGN(hex, Sha256File(dir.Join("big"), options));
  EXPECT_EQ(hex, kLargeContentSha256);
  EXPECT_EQ(seen, LargeContent().size());
  EXPECT_GT(reads, 1000);
}

TEST(Sha256Test, HashesFilesAndNamesMissingOnes) {
  evald::testing::TempDir dir;
  ASSERT_OK(WriteFileAtomically(dir.Join("f"), "abc"));
  ASSERT_OK_AND_ASSIGN(std::string hex, Sha256File(dir.Join("f")));
  EXPECT_EQ(hex, Sha256Hex("abc"));
  ASSERT_OK(WriteFileAtomically(dir.Join("empty"), ""));
  ASSERT_OK_AND_ASSIGN(hex, Sha256File(dir.Join("empty")));
  EXPECT_EQ(hex, Sha256Hex(""));
  EXPECT_THAT(
      Sha256File(dir.Join("nope")),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr(dir.Join("nope"))));
  EXPECT_THAT(Sha256File(dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(dir.path() + ": not a regular file")));
}

// A file hashed while it is being written or replaced gives an error naming
// it, never a digest of half the old and half the new bytes.
class Sha256FileChangesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    evald::testing::WriteTestFile(path_, std::string(1 << 20, 'x'));
  }

  // Hashes path_ with 64 KiB reads, calling `change` once after the first.
  absl::StatusOr<std::string> HashWhile(const std::function<void()>& change) {
    Sha256FileOptions options;
    options.buffer_bytes = 64 << 10;
    bool changed = false;
    options.on_read = [&](size_t) {
      if (!changed) change();
      changed = true;
      return true;
    };
    return Sha256File(path_, options);
  }

  evald::testing::TempDir dir_;
  const std::string path_ = dir_.Join("model.safetensors");
};

TEST_F(Sha256FileChangesTest, Truncated) {
  EXPECT_THAT(
      HashWhile([&] { ASSERT_EQ(::truncate(path_.c_str(), 100), 0); }),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr(path_ + ": changed while it was being hashed")));
}

TEST_F(Sha256FileChangesTest, Appended) {
  EXPECT_THAT(
      HashWhile([&] { std::ofstream(path_, std::ios::app) << "more"; }),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr(path_ + ": changed while it was being hashed")));
}

TEST_F(Sha256FileChangesTest, Removed) {
  EXPECT_THAT(
      HashWhile([&] { ASSERT_EQ(std::remove(path_.c_str()), 0); }),
      StatusIs(absl::StatusCode::kNotFound,
               HasSubstr(path_ + ": removed while it was being hashed")));
}

TEST_F(Sha256FileChangesTest, Replaced) {
  EXPECT_THAT(HashWhile([&] { ASSERT_OK(WriteFileAtomically(path_, "new")); }),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(path_ + ": replaced by another file")));
}

TEST_F(Sha256FileChangesTest, CancelledByTheCallback) {
  Sha256FileOptions options;
  options.buffer_bytes = 64 << 10;
  options.on_read = [](size_t) { return false; };
  EXPECT_THAT(Sha256File(path_, options),
              StatusIs(absl::StatusCode::kCancelled,
                       HasSubstr(path_ + ": hashing cancelled")));
}

}  // namespace
}  // namespace evald::base
