#include "base/file.h"

#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::base {
namespace {

using ::evald::testing::StatusIs;

TEST(FileTest, AtomicWriteReadAndMap) {
  evald::testing::TempDir dir;
  std::string p = dir.Join("x.bin");
  ASSERT_OK(WriteFileAtomically(p, std::string("hello\0world", 11)));
  ASSERT_OK_AND_ASSIGN(std::string got, ReadFileToString(p));
  EXPECT_EQ(got.size(), 11u);
  ASSERT_OK_AND_ASSIGN(auto mapped, MappedFile::Open(p));
  EXPECT_EQ(mapped->view(), got);
  ASSERT_OK_AND_ASSIGN(FileIdentity id, StatFile(p));
  EXPECT_EQ(id.size, 11u);
  ASSERT_OK(WriteFileAtomically(p, "changed"));
  ASSERT_OK_AND_ASSIGN(FileIdentity id2, StatFile(p));
  EXPECT_NE(id.inode, id2.inode);  // rename replaced the file
}

TEST(FileTest, ErrorsNameThePath) {
  EXPECT_THAT(ReadFileToString("/nonexistent/evald"),
              StatusIs(absl::StatusCode::kNotFound,
                       ::testing::HasSubstr("/nonexistent/evald")));
  evald::testing::TempDir dir;
  EXPECT_THAT(MappedFile::Open(dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace evald::base
