#include "base/utf8.h"

#include <gtest/gtest.h>

namespace evald::base {
namespace {

TEST(Utf8Test, ValidatesStrictly) {
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80"));
  EXPECT_EQ(FindInvalidUtf8("ab\xff"), 2u);
  EXPECT_EQ(FindInvalidUtf8("\xc0\xaf"), 0u);          // overlong '/'
  EXPECT_EQ(FindInvalidUtf8("x\xed\xa0\x80"), 1u);     // surrogate
  EXPECT_EQ(FindInvalidUtf8("\xf4\x90\x80\x80"), 0u);  // > U+10FFFF
  EXPECT_EQ(FindInvalidUtf8("\xe4\xb8"), 0u);          // truncated
}

TEST(Utf8Test, DecodeEncodeRoundTrip) {
  std::string s = "a\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80";
  std::vector<uint32_t> cps = DecodeUtf8(s);
  ASSERT_EQ(cps.size(), 4u);
  EXPECT_EQ(cps[1], 0xE9u);
  EXPECT_EQ(cps[3], 0x1F600u);
  EXPECT_EQ(EncodeUtf8(cps), s);
  EXPECT_EQ(DecodeUtf8("\xff")[0], 0xFFFDu);
}

TEST(Utf8Test, CountCodePointsCountsAsPythonLen) {
  EXPECT_EQ(CountCodePoints(""), 0u);
  EXPECT_EQ(CountCodePoints("abc"), 3u);
  EXPECT_EQ(CountCodePoints("caf\xc3\xa9 \xe6\x97\xa5\xf0\x9f\x98\x80"), 7u);
  EXPECT_EQ(CountCodePoints("a\xff\xe4\xb8"),
            4u);  // each invalid byte is one U+FFFD
}

TEST(Utf8Test, EscapeInvalidUtf8WritesEachBadByteVisibly) {
  EXPECT_EQ(EscapeInvalidUtf8("plain \xc3\xa9"), "plain \xc3\xa9");
  EXPECT_EQ(EscapeInvalidUtf8("ab\xff"), "ab\\xff");
  // A truncated sequence escapes byte by byte; what follows is kept.
  EXPECT_EQ(EscapeInvalidUtf8("\xe4\xb8z"), "\\xe4\\xb8z");
  EXPECT_EQ(EscapeInvalidUtf8("\xc0\xaf"), "\\xc0\\xaf");
  EXPECT_EQ(EscapeInvalidUtf8(""), "");
  for (const std::string s :
       {"\xff\xfe", "x\xed\xa0\x80", "\xf4\x90\x80\x80\xe4"}) {
    EXPECT_TRUE(IsValidUtf8(EscapeInvalidUtf8(s))) << s;
  }
}

}  // namespace
}  // namespace evald::base
