#include "base/sha256.h"

#include <gtest/gtest.h>

#include "base/file.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::base {
namespace {

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, IncrementalEqualsOneShot) {
  std::string data(100003, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31 + 7);
  Sha256 h;
  for (size_t i = 0; i < data.size(); i += 777) h.Update(absl::string_view(data).substr(i, 777));
  EXPECT_EQ(h.HexDigest(), Sha256Hex(data));
}

TEST(Sha256Test, HashesFilesAndNamesMissingOnes) {
  evald::testing::TempDir dir;
  ASSERT_OK(WriteFileAtomically(dir.Join("f"), "abc"));
  ASSERT_OK_AND_ASSIGN(std::string hex, Sha256File(dir.Join("f")));
  EXPECT_EQ(hex, Sha256Hex("abc"));
  EXPECT_THAT(Sha256File(dir.Join("nope")),
              evald::testing::StatusIs(absl::StatusCode::kNotFound,
                                       ::testing::HasSubstr(dir.Join("nope"))));
}

}  // namespace
}  // namespace evald::base
