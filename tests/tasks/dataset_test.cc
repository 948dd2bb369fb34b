// File: tests/tasks/dataset_test.cc
#include "tasks/dataset.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/json.h"
#include "base/sha256.h"
#include "tests/tasks/task_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::tasks {
namespace {

using ::evald::testing::StatusIs;
using ::evald::testing::TempDir;
using ::evald::testing::WriteTestFile;
using ::testing::HasSubstr;

TEST(CsvTest, Rfc4180QuotingNewlinesAndCrlf) {
  const std::string text =
      "plain,\"with, comma\",\"say \"\"hi\"\"\",\"two\nlines\",,last\r\n"
      "\n"
      "a,b,c,d,e,f";
  ASSERT_OK_AND_ASSIGN(std::vector<CsvRecord> records, ParseCsv(text, "x.csv"));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].line, 1);
  EXPECT_THAT(records[0].fields,
              ::testing::ElementsAre("plain", "with, comma", "say \"hi\"",
                                     "two\nlines", "", "last"));
  EXPECT_EQ(records[1].line, 4);  // the quoted newline and the blank line count
  EXPECT_THAT(records[1].fields,
              ::testing::ElementsAre("a", "b", "c", "d", "e", "f"));
}

TEST(CsvTest, UnterminatedQuoteNamesFileAndLine) {
  EXPECT_THAT(ParseCsv("a,b\nc,\"never closed\nmore", "bad.csv"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bad.csv:2: field 2: unterminated")));
  EXPECT_THAT(ParseCsv("\"x\"y,b", "bad.csv"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bad.csv:1: field 1")));
}

// Bytes that are not UTF-8 are refused where they are read, naming the line
// of the bad byte and the column, not carried into prompts and samples.
TEST(CsvTest, InvalidUtf8NamesLineAndColumn) {
  const std::string text = "ok,fine\n\"two\nlines \xff\",x\n";
  EXPECT_THAT(
      ParseCsv(text, "bad.csv"),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr(
              "bad.csv:3: field 1 is not valid UTF-8 (byte 10 of its value)")));
  const absl::string_view names[] = {"question", "A"};
  EXPECT_THAT(
      ParseCsv("q,a\nq,\xe3\x80\n", "bad.csv", names),  // U+3000 cut short
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("bad.csv:2: field 'A' is not valid UTF-8 (byte 0 of "
                         "its value)")));
  // Valid multi-byte text passes through unchanged.
  ASSERT_OK_AND_ASSIGN(std::vector<CsvRecord> ok,
                       ParseCsv("caf\xc3\xa9,\xe3\x80\x80\n", "ok.csv"));
  EXPECT_EQ(ok[0].fields[0], "caf\xc3\xa9");
}

TEST(JsonUtf8Test, NamesTheKeyPathOfTheBadString) {
  ASSERT_OK_AND_ASSIGN(
      base::Json row,
      base::ParseJson("{\"a\": \"ok\", \"kwargs\": [{}, {\"words\": [\"x\", "
                      "\"y\\u00e9\xc0\xaf\"]}]}"));
  EXPECT_THAT(
      CheckJsonUtf8(row, "f.jsonl:7"),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("f.jsonl:7: field 'kwargs[1].words[1]' is not valid UTF-8 "
                    "(byte 3 of its value)")));
  ASSERT_OK_AND_ASSIGN(base::Json bad_name,
                       base::ParseJson("{\"ok\": {\"n\xff\": 1}}"));
  EXPECT_THAT(
      CheckJsonUtf8(bad_name, "f.jsonl:2"),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr(
              "f.jsonl:2: the name of field 'ok.n\\xff' is not valid UTF-8")));
  ASSERT_OK_AND_ASSIGN(
      base::Json good,
      base::ParseJson("{\"q\": \"\xe2\x80\xa8 \\ud83d\\ude00\"}"));
  EXPECT_OK(CheckJsonUtf8(good, "f.jsonl:1"));
}

TEST(MmluDatasetTest, InvalidUtf8IsRefusedAtLoadInBothLayouts) {
  TempDir csv;
  testing::WriteMmluSubject(
      csv.path(), "anatomy", "d,a,b,c,d,A\n",
      "Q,a,b,c,d,A\nQ2,a,b,\"c\xed\xa0\x80\",d,B\n");  // a surrogate
  EXPECT_THAT(LoadMmlu(csv.path()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("anatomy_test.csv:2: field 'C' is not valid "
                                 "UTF-8 (byte 1 of its value)")));
  TempDir jsonl;
  WriteTestFile(jsonl.Join("test.jsonl"),
                "{\"question\": \"Q?\", \"subject\": \"virology\", "
                "\"choices\": [\"a\", \"b\", \"c\", \"d\"], "
                "\"answer\": 2}\n{\"question\": \"Q?\", \"subject\": "
                "\"virology\", \"choices\": [\"a\", \"\xff"
                "b\", "
                "\"c\", \"d\"], \"answer\": 1}\n");
  EXPECT_THAT(LoadMmlu(jsonl.path()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("test.jsonl:2: field 'choices[1]' is not "
                                 "valid UTF-8 (byte 0 of its value)")));
}

TEST(Gsm8kDatasetTest, InvalidUtf8IsRefusedWithFileLineAndField) {
  TempDir dir;
  const std::string good =
      "{\"question\": \"q\", \"answer\": \"a\\n#### 3\"}\n";
  WriteTestFile(dir.Join("gsm8k/test.jsonl"),
                good + good +
                    "{\"question\": \"Sam has 3 apples \xe9 and\", \"answer\": "
                    "\"a\\n#### 3\"}\n");
  EXPECT_THAT(
      LoadGsm8k(dir.Join("gsm8k"), false),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("gsm8k/test.jsonl:3: field 'question' is not valid UTF-8 "
                    "(byte 17 of its value)")));
  // The train split too, and fields the reader does not use.
  WriteTestFile(dir.Join("gsm8k/test.jsonl"), good);
  WriteTestFile(dir.Join("gsm8k/train.jsonl"),
                "{\"question\": \"q\", \"answer\": \"a\\n#### 3\", \"note\": "
                "\"\x80\"}\n");
  EXPECT_THAT(
      LoadGsm8k(dir.Join("gsm8k"), true),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("gsm8k/train.jsonl:1: field 'note' is not valid UTF-8")));
}

TEST(MmluDatasetTest, ReadsCsvFoldersAndHashesEveryFile) {
  TempDir dir;
  const std::string dev =
      "d1,a,b,c,d,A\nd2,a,b,c,d,B\nd3,a,b,c,d,C\nd4,a,b,c,d,D\nd5,a,b,c,d,A\n";
  testing::WriteMmluSubject(dir.path(), "world_religions", dev,
                            "\"Q1\nsecond line\",w,x,y,z,D\nQ2,1,2,3,4,B\n");
  testing::WriteMmluSubject(dir.path(), "anatomy", dev, "Q,a,b,c,d,C\n");
  ASSERT_OK_AND_ASSIGN(MmluDataset data, LoadMmlu(dir.path()));
  ASSERT_EQ(data.subjects.size(), 2u);
  EXPECT_EQ(data.subjects[0].name,
            "anatomy");  // subject order, not directory order
  EXPECT_EQ(data.subjects[1].name, "world_religions");
  ASSERT_EQ(data.subjects[1].test.size(), 2u);
  EXPECT_EQ(data.subjects[1].test[0].question, "Q1\nsecond line");
  EXPECT_EQ(data.subjects[1].test[0].answer, 3);
  EXPECT_EQ(data.subjects[1].test[1].choices[2], "3");
  ASSERT_EQ(data.files.size(), 4u);
  for (const DatasetFile& f : data.files) {
    ASSERT_OK_AND_ASSIGN(std::string sha, base::Sha256File(f.path));
    EXPECT_EQ(f.sha256, sha);
  }
}

TEST(MmluDatasetTest, BadRowsNameFileLineAndField) {
  TempDir dir;
  const std::string dev = "d,a,b,c,d,A\n";
  testing::WriteMmluSubject(dir.path(), "anatomy", dev,
                            "Q,a,b,c,d,A\nQ,a,b,c,d,E\n");
  EXPECT_THAT(LoadMmlu(dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("anatomy_test.csv:2: answer")));
  testing::WriteMmluSubject(dir.path(), "anatomy", dev,
                            "Q,a,b,c,d,A\n\nQ,a,b,c,A\n");
  EXPECT_THAT(LoadMmlu(dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("anatomy_test.csv:3: expected 6 columns")));
  testing::WriteMmluSubject(dir.path(), "anatomy", dev, "Q,a,b,c,d,A\n");
  WriteTestFile(dir.Join("test/not_a_subject_test.csv"), "Q,a,b,c,d,A\n");
  EXPECT_THAT(LoadMmlu(dir.path()), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("not an MMLU subject")));
}

TEST(MmluDatasetTest, ReadsHuggingFaceJsonl) {
  TempDir dir;
  WriteTestFile(dir.Join("test.jsonl"),
                "{\"question\": \"Q?\", \"subject\": \"virology\", "
                "\"choices\": [\"a\", \"b\", \"c\", \"d\"], "
                "\"answer\": 2}\n");
  WriteTestFile(dir.Join("dev.jsonl"),
                "{\"question\": \"D?\", \"subject\": \"virology\", "
                "\"choices\": [\"a\", \"b\", \"c\", \"d\"], "
                "\"answer\": 0}\n");
  ASSERT_OK_AND_ASSIGN(MmluDataset data, LoadMmlu(dir.path()));
  ASSERT_EQ(data.subjects.size(), 1u);
  EXPECT_EQ(data.subjects[0].test[0].answer, 2);
  EXPECT_EQ(data.subjects[0].dev.size(), 1u);

  WriteTestFile(dir.Join("test.jsonl"),
                "{\"question\": \"Q?\", \"subject\": \"virology\", "
                "\"choices\": [\"a\", \"b\", \"c\", \"d\"], "
                "\"answer\": 2}\n{\"question\": \"Q?\", \"subject\": "
                "\"virology\", \"choices\": [\"a\"], "
                "\"answer\": 1}\n");
  EXPECT_THAT(LoadMmlu(dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("test.jsonl:2: choices")));
  WriteTestFile(dir.Join("test.jsonl"),
                "{\"question\": \"Q?\", \"subject\": \"virology\", "
                "\"choices\": [\"a\", \"b\", \"c\", \"d\"], \"answer\": 4}\n");
  EXPECT_THAT(LoadMmlu(dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("test.jsonl:1: answer")));
  WriteTestFile(dir.Join("test.jsonl"), "{\"question\": \"Q?\",\n");
  EXPECT_THAT(LoadMmlu(dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("test.jsonl:1: malformed JSON")));
}

TEST(Gsm8kDatasetTest, ReadsSplitsAndRejectsBadLines) {
  TempDir dir;
  WriteTestFile(dir.Join("test.jsonl"),
                "{\"question\": \"q\", \"answer\": \"a\\n#### 3\"}\n");
  WriteTestFile(dir.Join("train.jsonl"),
                "{\"question\": \"t1\", \"answer\": \"x\\n#### "
                "1\"}\n{\"question\": \"t2\", \"answer\": \"y\\n#### 2\"}\n");
  ASSERT_OK_AND_ASSIGN(Gsm8kDataset data,
                       LoadGsm8k(dir.path(), /*with_train=*/true));
  EXPECT_EQ(data.test.size(), 1u);
  EXPECT_EQ(data.train.size(), 2u);
  EXPECT_EQ(data.files.size(), 2u);
  ASSERT_OK_AND_ASSIGN(Gsm8kDataset from_file,
                       LoadGsm8k(dir.Join("test.jsonl"), /*with_train=*/true));
  EXPECT_EQ(from_file.train.size(), 2u);

  WriteTestFile(dir.Join("train.jsonl"),
                "{\"question\": \"t1\", \"answer\": \"x\\n#### "
                "1\"}\n{\"question\": \"t2\"}\n");
  EXPECT_THAT(LoadGsm8k(dir.path(), true),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("train.jsonl:2: answer")));
  WriteTestFile(dir.Join("test.jsonl"),
                "{\"question\": \"q\", \"answer\": \"no final answer\"}\n");
  EXPECT_THAT(LoadGsm8k(dir.path(), false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("test.jsonl:1: answer")));
  EXPECT_THAT(LoadGsm8k(dir.Join("missing"), false),
              StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace evald::tasks
