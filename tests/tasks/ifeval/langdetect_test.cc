// Tests for the langdetect port: loader errors on fixture profiles, and
// agreement with Python's langdetect (seed 0) on fixture profiles and, when
// Debian's python3-langdetect is installed, on its real 55 profiles.
#include "tasks/ifeval/langdetect.h"

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/file.h"
#include "base/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tasks/ifeval/ifeval_task.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::tasks::ifeval {
namespace {

using ::evald::testing::TempDir;
using ::evald::testing::WriteTestFile;
using ::testing::HasSubstr;

constexpr char kDebianDir[] = "/usr/lib/python3/dist-packages/langdetect";

// Minimal tables: the keys the loader requires, no Vietnamese or CJK data.
constexpr char kMessages[] =
    "NGram.LATIN1_EXCLUDE=\\u00A0\\u00AB\\u00B0\\u00BB\n"
    "TO_NORMALIZE_VI_CHARS=AEIOUYaeiouy\n"
    "DMARK_CLASS=\\u0300\\u0301\\u0303\\u0309\\u0323\n"
    "NORMALIZED_VI_CHARS_0300="
    "\\u00C0\\u00C8\\u00CC\\u00D2\\u00D9\\u1EF2\\u00E0\\u00E8\\u00EC\\u00F2\\u0"
    "0F9\\u1EF3\n"
    "NORMALIZED_VI_CHARS_0301="
    "\\u00C1\\u00C9\\u00CD\\u00D3\\u00DA\\u00DD\\u00E1\\u00E9\\u00ED\\u00F3\\u0"
    "0FA\\u00FD\n"
    "NORMALIZED_VI_CHARS_0303="
    "\\u00C3\\u1EBC\\u0128\\u00D5\\u0168\\u1EF8\\u00E3\\u1EBD\\u0129\\u00F5\\u0"
    "169\\u1EF9\n"
    "NORMALIZED_VI_CHARS_0309="
    "\\u1EA2\\u1EBA\\u1EC8\\u1ECE\\u1EE6\\u1EF6\\u1EA3\\u1EBB\\u1EC9\\u1ECF\\u1"
    "EE7\\u1EF7\n"
    "NORMALIZED_VI_CHARS_0323="
    "\\u1EA0\\u1EB8\\u1ECA\\u1ECC\\u1EE4\\u1EF4\\u1EA1\\u1EB9\\u1ECB\\u1ECD\\u1"
    "EE5\\u1EF5\n";

// Three toy languages with overlapping n-grams, so that the randomised
// trials matter.
void WriteFixture(const std::string& dir) {
  WriteTestFile(
      dir + "/profiles/aa",
      R"({"freq":{"a":50,"b":20,"c":10,"ab":30,"ba":12,"abc":9,"ca":4,"e":3},)"
      R"("n_words":[83,46,9],"name":"aa"})");
  WriteTestFile(
      dir + "/profiles/bb",
      R"({"freq":{"a":10,"b":40,"d":35,"bd":25,"db":20,"bdb":6,"ab":5,"e":15},)"
      R"("n_words":[100,50,6],"name":"bb"})");
  WriteTestFile(
      dir + "/profiles/cc",
      R"({"freq":{"e":60,"c":30,"a":10,"ec":22,"ce":18,"ece":7,"ca":9},)"
      R"("n_words":[100,49,7],"name":"cc"})");
  WriteTestFile(dir + "/utils/messages.properties", kMessages);
}

std::string RunPython(const std::string& script) {
  TempDir dir;
  const std::string path = dir.Join("script.py");
  WriteTestFile(path, script);
  FILE* pipe = popen(("/usr/bin/python3 " + path + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return "";
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0)
    out.append(buffer, n);
  pclose(pipe);
  return out;
}

bool PythonHasLangdetect() {
  return base::PathExists("/usr/bin/python3") &&
         RunPython("import langdetect\nprint('ok')\n") == "ok\n";
}

// Python's answers (seed 0) for `texts`, one line each: the code or
// "EXCEPTION" for "No features in text".
std::vector<std::string> PythonDetect(const std::string& profiles_dir,
                                      const std::vector<std::string>& texts) {
  base::Json list = base::Json::MakeArray();
  for (const std::string& t : texts)
    list.mutable_array().push_back(base::Json::String(t));
  const std::string script = absl::StrCat(
      "import json, sys\n"
      "from langdetect.detector_factory import DetectorFactory\n"
      "from langdetect.lang_detect_exception import LangDetectException\n"
      "f = DetectorFactory()\n"
      "f.load_profile(",
      base::Json::String(profiles_dir).Dump(),
      ")\n"
      "f.set_seed(0)\n"
      "for t in json.loads(",
      base::Json::String(list.Dump()).Dump(),
      "):\n"
      "    d = f.create()\n"
      "    d.append(t)\n"
      "    try:\n"
      "        print(d.detect())\n"
      "    except LangDetectException:\n"
      "        print('EXCEPTION')\n");
  std::string out = RunPython(script);
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  return lines;
}

std::vector<std::string> PortDetect(const LangDetect& detector,
                                    const std::vector<std::string>& texts) {
  std::vector<std::string> out;
  for (const std::string& t : texts)
    out.push_back(detector.Detect(t).value_or("EXCEPTION"));
  return out;
}

TEST(LangDetectTest, LoaderErrorsNameTheFile) {
  TempDir dir;
  WriteFixture(dir.path());
  ASSERT_OK_AND_ASSIGN(auto detector, LangDetect::Load(dir.path()));
  EXPECT_EQ(detector->languages(),
            (std::vector<std::string>{"aa", "bb", "cc"}));
  EXPECT_EQ(detector->sha256().size(), 64u);

  WriteTestFile(dir.Join("profiles/dd"),
                R"({"freq":{"a":1},"n_words":[1,0],"name":"dd"})");
  EXPECT_THAT(LangDetect::Load(dir.path()).status().message(),
              HasSubstr("profiles/dd: field 'n_words'"));
  WriteTestFile(dir.Join("profiles/dd"),
                R"({"freq":{"a":1},"n_words":[1,0,0],"name":"aa"})");
  EXPECT_THAT(LangDetect::Load(dir.path()).status().message(),
              HasSubstr("duplicate profile for 'aa'"));
  WriteTestFile(dir.Join("profiles/dd"), "{\"freq\": ");
  EXPECT_THAT(LangDetect::Load(dir.path()).status().message(),
              HasSubstr("profiles/dd"));

  TempDir no_messages;
  WriteTestFile(no_messages.Join("profiles/aa"),
                R"({"freq":{},"n_words":[1,1,1],"name":"aa"})");
  WriteTestFile(no_messages.Join("profiles/bb"),
                R"({"freq":{},"n_words":[1,1,1],"name":"bb"})");
  EXPECT_THAT(LangDetect::Load(no_messages.path()).status().message(),
              HasSubstr("no messages.properties"));
  WriteTestFile(no_messages.Join("utils/messages.properties"),
                "NGram.LATIN1_EXCLUDE=x\n");
  EXPECT_THAT(LangDetect::Load(no_messages.path()).status().message(),
              HasSubstr("missing key 'TO_NORMALIZE_VI_CHARS'"));
}

TEST(LangDetectTest, NoFeaturesAndDeterminism) {
  TempDir dir;
  WriteFixture(dir.path());
  ASSERT_OK_AND_ASSIGN(auto detector, LangDetect::Load(dir.path()));
  EXPECT_EQ(detector->Detect("123 !!! ..."), std::nullopt);
  EXPECT_EQ(detector->Detect("xyz"), std::nullopt);  // no known n-gram
  // All-capital words contribute nothing either.
  EXPECT_EQ(detector->Detect("ABC"), std::nullopt);
  const std::optional<std::string> first = detector->Detect("abc ab ba");
  ASSERT_TRUE(first.has_value());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(detector->Detect("abc ab ba"), first);
}

const std::vector<std::string>& FixtureTexts() {
  static const auto* texts = new std::vector<std::string>{
      "abc ab ba",
      "bdb db bd",
      "ece ce ec",
      "a b c d e",
      "abcde",
      "aaa bbb",
      "ab bd ec",
      "e e e a",
      "dab cab",
      "Abc Bd Ec",
      "ABc bD",
      "ca ca ca ab",
      "see http://example.com/abc and me@abc.example",
      "eee",
      "b",
      "d e a c",
  };
  return *texts;
}

TEST(LangDetectTest, MatchesPythonOnFixtureProfiles) {
  if (!PythonHasLangdetect())
    GTEST_SKIP() << "no /usr/bin/python3 with langdetect (python3-langdetect)";
  TempDir dir;
  WriteFixture(dir.path());
  ASSERT_OK_AND_ASSIGN(auto detector, LangDetect::Load(dir.path()));
  const std::vector<std::string> expected =
      PythonDetect(dir.Join("profiles"), FixtureTexts());
  ASSERT_EQ(expected.size(), FixtureTexts().size())
      << absl::StrJoin(expected, "\n");
  EXPECT_EQ(PortDetect(*detector, FixtureTexts()), expected);
}

TEST(LangDetectTest, MatchesPythonOnDebianProfiles) {
  if (!base::IsDirectory(std::string(kDebianDir) + "/profiles") ||
      !PythonHasLangdetect()) {
    GTEST_SKIP() << "Debian's python3-langdetect is not installed";
  }
  ASSERT_OK_AND_ASSIGN(auto detector, LangDetect::Load(kDebianDir));
  EXPECT_EQ(detector->languages().size(), 55u);
  const std::vector<std::string> texts = {
      "coastal elegance properties",
      "The quick brown fox jumps over the lazy dog.",
      "Le renard brun rapide saute par-dessus le chien paresseux.",
      "Der schnelle braune Fuchs springt über den faulen Hund.",
      "El rápido zorro marrón salta sobre el perro perezoso.",
      "Быстрая коричневая лиса прыгает через ленивую собаку.",
      "素早い茶色の狐がのろまな犬を飛び越える。",
      "敏捷的棕色狐狸跳过了懒狗。",
      "빠른 갈색 여우가 게으른 개를 뛰어넘는다.",
      "Con cáo nâu nhanh nhẹn nhảy qua con chó lười.",
      "Szybki brązowy lis przeskakuje nad leniwym psem.",
      "THIS IS ALL CAPITALS BUT some words are not",
      "YES",
      "ok",
      "12345 678",
      "Ψ",
      "नमस्ते, आप कैसे हैं?",
      "مرحبا كيف حالك اليوم",
      "Hyvää huomenta, miten voit tänään?",
      "Dit is een korte Nederlandse zin over het weer.",
      "Visit https://example.com/x?y=1 or mail someone@example.org today, "
      "friends.",
  };
  const std::vector<std::string> expected =
      PythonDetect(std::string(kDebianDir) + "/profiles", texts);
  ASSERT_EQ(expected.size(), texts.size()) << absl::StrJoin(expected, "\n");
  const std::vector<std::string> got = PortDetect(*detector, texts);
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(got[i], expected[i]) << texts[i];
  }
}

TEST(LangDetectTest, TaskOptionsSelectTheDetector) {
  TempDir dir;
  WriteFixture(dir.Join("langdetect"));
  EXPECT_THAT(LoadLanguageDetector(dir.Join("ifeval"), "fasttext", "")
                  .status()
                  .message(),
              HasSubstr("option 'language_id': unknown detector 'fasttext'"));
  ASSERT_OK_AND_ASSIGN(auto cld2,
                       LoadLanguageDetector(dir.Join("ifeval"), "cld2", ""));
  EXPECT_EQ(cld2, nullptr);
  ASSERT_OK_AND_ASSIGN(auto found,
                       LoadLanguageDetector(dir.Join("ifeval"), "", ""));
  ASSERT_NE(found, nullptr);  // <dir>/../langdetect
  EXPECT_EQ(found->name(), "langdetect");
  EXPECT_THAT(LoadLanguageDetector(dir.Join("ifeval"), "langdetect",
                                   dir.Join("nowhere"))
                  .status()
                  .message(),
              HasSubstr("langdetect profiles not found"));
}

}  // namespace
}  // namespace evald::tasks::ifeval
