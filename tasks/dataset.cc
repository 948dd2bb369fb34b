// File: tasks/dataset.cc
#include "tasks/dataset.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <system_error>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file.h"
#include "base/sha256.h"
#include "base/status_macros.h"
#include "base/utf8.h"
#include "py/str.h"

namespace evald::tasks {
namespace fs = std::filesystem;

namespace {

// A string of a JSON row that is not valid UTF-8.
struct BadUtf8 {
  std::string field;  // key path, e.g. "choices[2]"
  size_t byte = 0;    // offset of the fault in the string
  bool in_name = false;
};

// Depth first in file order; `path` is the key path of `value`.
std::optional<BadUtf8> FindBadUtf8(const base::Json& value,
                                   const std::string& path) {
  if (value.is_string()) {
    if (std::optional<size_t> bad =
            base::FindInvalidUtf8(value.string_value())) {
      return BadUtf8{path, *bad, false};
    }
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.array().size(); ++i) {
      if (auto bad =
              FindBadUtf8(value.array()[i], absl::StrCat(path, "[", i, "]")))
        return bad;
    }
  } else if (value.is_object()) {
    const std::string prefix = path.empty() ? "" : path + ".";
    for (const auto& [key, member] : value.object()) {
      if (std::optional<size_t> bad = base::FindInvalidUtf8(key)) {
        // The name itself cannot be printed as it is.
        return BadUtf8{prefix + absl::CHexEscape(key), *bad, true};
      }
      if (auto bad = FindBadUtf8(member, prefix + key)) return bad;
    }
  }
  return std::nullopt;
}

}  // namespace

absl::Status CheckJsonUtf8(const base::Json& value, absl::string_view where) {
  std::optional<BadUtf8> bad = FindBadUtf8(value, "");
  if (!bad.has_value()) return absl::OkStatus();
  if (bad->in_name) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": the name of field '", bad->field,
        "' is not valid UTF-8 (byte ", bad->byte, " of the name)"));
  }
  return absl::InvalidArgumentError(absl::StrCat(where, ": field '", bad->field,
                                                 "' is not valid UTF-8 (byte ",
                                                 bad->byte, " of its value)"));
}

absl::StatusOr<std::vector<CsvRecord>> ParseCsv(
    absl::string_view text, absl::string_view file,
    absl::Span<const absl::string_view> column_names) {
  std::vector<CsvRecord> records;
  size_t pos = 0;
  int line = 1;
  const size_t n = text.size();
  while (pos < n) {
    // Blank lines between records carry no data (pandas and Python's csv
    // module skip them too).
    if (text[pos] == '\n' || text[pos] == '\r') {
      if (text[pos] == '\n') ++line;
      ++pos;
      continue;
    }
    CsvRecord record;
    record.line = line;
    while (true) {
      std::string field;
      const int field_line = line;
      if (pos < n && text[pos] == '"') {
        const int quote_line = line;
        ++pos;
        bool closed = false;
        while (pos < n) {
          char c = text[pos];
          if (c == '"') {
            if (pos + 1 < n && text[pos + 1] == '"') {
              field.push_back('"');
              pos += 2;
              continue;
            }
            ++pos;
            closed = true;
            break;
          }
          if (c == '\n') ++line;
          field.push_back(c);
          ++pos;
        }
        if (!closed) {
          return absl::InvalidArgumentError(absl::StrCat(
              file, ":", quote_line, ": field ", record.fields.size() + 1,
              ": unterminated quoted field"));
        }
        if (pos < n && text[pos] != ',' && text[pos] != '\n' &&
            text[pos] != '\r') {
          return absl::InvalidArgumentError(absl::StrCat(
              file, ":", line, ": field ", record.fields.size() + 1,
              ": unexpected character after closing quote"));
        }
      } else {
        while (pos < n && text[pos] != ',' && text[pos] != '\n' &&
               text[pos] != '\r') {
          field.push_back(text[pos]);
          ++pos;
        }
      }
      if (std::optional<size_t> bad = base::FindInvalidUtf8(field);
          bad.has_value()) {
        const size_t column = record.fields.size();
        const int bad_line =
            field_line + static_cast<int>(std::count(
                             field.begin(), field.begin() + *bad, '\n'));
        return absl::InvalidArgumentError(
            absl::StrCat(file, ":", bad_line, ": field ",
                         column < column_names.size()
                             ? absl::StrCat("'", column_names[column], "'")
                             : absl::StrCat(column + 1),
                         " is not valid UTF-8 (byte ", *bad, " of its value)"));
      }
      record.fields.push_back(std::move(field));
      if (pos < n && text[pos] == ',') {
        ++pos;
        continue;
      }
      // End of record: "\n", "\r\n", a lone "\r", or end of text.
      if (pos < n && text[pos] == '\r') ++pos;
      if (pos < n && text[pos] == '\n') {
        ++pos;
        ++line;
      }
      break;
    }
    records.push_back(std::move(record));
  }
  return records;
}

absl::StatusOr<std::vector<JsonlRecord>> ReadJsonl(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, base::ReadFileToString(path));
  std::vector<JsonlRecord> records;
  int line = 0;
  for (absl::string_view row : absl::StrSplit(text, '\n')) {
    ++line;
    if (py::Strip(row).empty()) continue;
    auto parsed = base::ParseJson(row);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", line, ": malformed JSON: ", parsed.status().message()));
    }
    if (!parsed->is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line, ": expected a JSON object"));
    }
    RETURN_IF_ERROR(CheckJsonUtf8(*parsed, absl::StrCat(path, ":", line)));
    records.push_back({line, *std::move(parsed)});
  }
  return records;
}

const std::vector<std::pair<std::string, std::string>>& MmluSubjects() {
  static const auto* const kSubjects =
      new std::vector<std::pair<std::string, std::string>>{
          {"abstract_algebra", "stem"},
          {"anatomy", "stem"},
          {"astronomy", "stem"},
          {"business_ethics", "other"},
          {"clinical_knowledge", "other"},
          {"college_biology", "stem"},
          {"college_chemistry", "stem"},
          {"college_computer_science", "stem"},
          {"college_mathematics", "stem"},
          {"college_medicine", "other"},
          {"college_physics", "stem"},
          {"computer_security", "stem"},
          {"conceptual_physics", "stem"},
          {"econometrics", "social_sciences"},
          {"electrical_engineering", "stem"},
          {"elementary_mathematics", "stem"},
          {"formal_logic", "humanities"},
          {"global_facts", "other"},
          {"high_school_biology", "stem"},
          {"high_school_chemistry", "stem"},
          {"high_school_computer_science", "stem"},
          {"high_school_european_history", "humanities"},
          {"high_school_geography", "social_sciences"},
          {"high_school_government_and_politics", "social_sciences"},
          {"high_school_macroeconomics", "social_sciences"},
          {"high_school_mathematics", "stem"},
          {"high_school_microeconomics", "social_sciences"},
          {"high_school_physics", "stem"},
          {"high_school_psychology", "social_sciences"},
          {"high_school_statistics", "stem"},
          {"high_school_us_history", "humanities"},
          {"high_school_world_history", "humanities"},
          {"human_aging", "other"},
          {"human_sexuality", "social_sciences"},
          {"international_law", "humanities"},
          {"jurisprudence", "humanities"},
          {"logical_fallacies", "humanities"},
          {"machine_learning", "stem"},
          {"management", "other"},
          {"marketing", "other"},
          {"medical_genetics", "other"},
          {"miscellaneous", "other"},
          {"moral_disputes", "humanities"},
          {"moral_scenarios", "humanities"},
          {"nutrition", "other"},
          {"philosophy", "humanities"},
          {"prehistory", "humanities"},
          {"professional_accounting", "other"},
          {"professional_law", "humanities"},
          {"professional_medicine", "other"},
          {"professional_psychology", "social_sciences"},
          {"public_relations", "social_sciences"},
          {"security_studies", "social_sciences"},
          {"sociology", "social_sciences"},
          {"us_foreign_policy", "social_sciences"},
          {"virology", "other"},
          {"world_religions", "humanities"},
      };
  return *kSubjects;
}

std::string MmluGroupOf(absl::string_view subject) {
  for (const auto& [name, group] : MmluSubjects()) {
    if (name == subject) return group;
  }
  return "";
}

namespace {

absl::Status AddFile(const std::string& path, std::vector<DatasetFile>* files) {
  ASSIGN_OR_RETURN(std::string sha, base::Sha256File(path));
  files->push_back({path, std::move(sha)});
  return absl::OkStatus();
}

absl::StatusOr<std::vector<MmluQuestion>> ReadMmluCsv(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, base::ReadFileToString(path));
  static constexpr absl::string_view kColumns[] = {"question", "A", "B",
                                                   "C",        "D", "answer"};
  ASSIGN_OR_RETURN(std::vector<CsvRecord> records,
                   ParseCsv(text, path, kColumns));
  std::vector<MmluQuestion> out;
  for (CsvRecord& record : records) {
    if (record.fields.size() != 6) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", record.line,
                       ": expected 6 columns (question,A,B,C,D,answer), found ",
                       record.fields.size()));
    }
    const std::string letter(py::Strip(record.fields[5]));
    if (letter.size() != 1 || letter[0] < 'A' || letter[0] > 'D') {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", record.line, ": answer: expected a letter A-D, found \"",
          record.fields[5], "\""));
    }
    MmluQuestion q;
    q.question = std::move(record.fields[0]);
    for (int i = 0; i < 4; ++i) q.choices[i] = std::move(record.fields[1 + i]);
    q.answer = letter[0] - 'A';
    out.push_back(std::move(q));
  }
  return out;
}

// Lists "<dir>/<subject><suffix>" files; unknown subjects are errors.
absl::StatusOr<std::map<std::string, std::string>> ListSubjectFiles(
    const std::string& dir, absl::string_view suffix) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec)
    return absl::NotFoundError(
        absl::StrCat(dir, ": cannot list: ", ec.message()));
  for (const fs::directory_entry& entry : it) {
    std::string name = entry.path().filename().string();
    if (!absl::EndsWith(name, suffix)) continue;
    std::string subject = name.substr(0, name.size() - suffix.size());
    if (MmluGroupOf(subject).empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          entry.path().string(), ": \"", subject, "\" is not an MMLU subject"));
    }
    out[subject] = entry.path().string();
  }
  return out;
}

absl::StatusOr<MmluDataset> LoadMmluCsv(const std::string& dir) {
  MmluDataset data;
  ASSIGN_OR_RETURN(auto test_files,
                   ListSubjectFiles(dir + "/test", "_test.csv"));
  ASSIGN_OR_RETURN(auto dev_files, ListSubjectFiles(dir + "/dev", "_dev.csv"));
  for (const auto& [subject, group] : MmluSubjects()) {
    auto test = test_files.find(subject);
    if (test == test_files.end()) continue;
    MmluSubject s;
    s.name = subject;
    ASSIGN_OR_RETURN(s.test, ReadMmluCsv(test->second));
    RETURN_IF_ERROR(AddFile(test->second, &data.files));
    auto dev = dev_files.find(subject);
    if (dev != dev_files.end()) {
      ASSIGN_OR_RETURN(s.dev, ReadMmluCsv(dev->second));
      RETURN_IF_ERROR(AddFile(dev->second, &data.files));
    }
    data.subjects.push_back(std::move(s));
  }
  return data;
}

absl::Status ReadMmluJsonl(const std::string& path, bool is_dev,
                           std::map<std::string, MmluSubject>* subjects) {
  ASSIGN_OR_RETURN(std::vector<JsonlRecord> records, ReadJsonl(path));
  for (const JsonlRecord& record : records) {
    auto where = [&](absl::string_view field) {
      return absl::StrCat(path, ":", record.line, ": ", field, ": ");
    };
    const base::Json* question = record.value.Find("question");
    const base::Json* subject = record.value.Find("subject");
    const base::Json* choices = record.value.Find("choices");
    const base::Json* answer = record.value.Find("answer");
    if (question == nullptr || !question->is_string()) {
      return absl::InvalidArgumentError(where("question") +
                                        "missing or not a string");
    }
    if (subject == nullptr || !subject->is_string()) {
      return absl::InvalidArgumentError(where("subject") +
                                        "missing or not a string");
    }
    if (MmluGroupOf(subject->string_value()).empty()) {
      return absl::InvalidArgumentError(where("subject") + "\"" +
                                        subject->string_value() +
                                        "\" is not an MMLU subject");
    }
    if (choices == nullptr || !choices->is_array() ||
        choices->array().size() != 4) {
      return absl::InvalidArgumentError(where("choices") +
                                        "expected an array of 4 strings");
    }
    if (answer == nullptr || !answer->is_int() || answer->int_value() < 0 ||
        answer->int_value() > 3) {
      return absl::InvalidArgumentError(where("answer") +
                                        "expected an integer 0-3 (A-D)");
    }
    MmluQuestion q;
    q.question = question->string_value();
    for (int i = 0; i < 4; ++i) {
      const base::Json& c = choices->array()[i];
      if (!c.is_string())
        return absl::InvalidArgumentError(where("choices") +
                                          "expected an array of 4 strings");
      q.choices[i] = c.string_value();
    }
    q.answer = static_cast<int>(answer->int_value());
    MmluSubject& s = (*subjects)[subject->string_value()];
    s.name = subject->string_value();
    (is_dev ? s.dev : s.test).push_back(std::move(q));
  }
  return absl::OkStatus();
}

absl::StatusOr<MmluDataset> LoadMmluJsonl(const std::string& dir) {
  MmluDataset data;
  std::map<std::string, MmluSubject> subjects;
  const std::string test_path = dir + "/test.jsonl";
  const std::string dev_path = dir + "/dev.jsonl";
  RETURN_IF_ERROR(ReadMmluJsonl(test_path, false, &subjects));
  RETURN_IF_ERROR(AddFile(test_path, &data.files));
  if (base::PathExists(dev_path)) {
    RETURN_IF_ERROR(ReadMmluJsonl(dev_path, true, &subjects));
    RETURN_IF_ERROR(AddFile(dev_path, &data.files));
  }
  for (const auto& [subject, group] : MmluSubjects()) {
    auto it = subjects.find(subject);
    if (it == subjects.end() || it->second.test.empty()) continue;
    data.subjects.push_back(std::move(it->second));
  }
  return data;
}

}  // namespace

absl::StatusOr<MmluDataset> LoadMmlu(const std::string& dir) {
  absl::StatusOr<MmluDataset> data;
  if (base::IsDirectory(dir + "/test")) {
    data = LoadMmluCsv(dir);
  } else if (base::PathExists(dir + "/test.jsonl")) {
    data = LoadMmluJsonl(dir);
  } else {
    return absl::NotFoundError(absl::StrCat(
        "mmlu dataset ", dir,
        ": expected test/ and dev/ CSV folders or test.jsonl and dev.jsonl"));
  }
  if (data.ok() && data->subjects.empty()) {
    return absl::NotFoundError(
        absl::StrCat("mmlu dataset ", dir, ": no subject test files"));
  }
  return data;
}

namespace {

absl::StatusOr<std::vector<Gsm8kProblem>> ReadGsm8kJsonl(
    const std::string& path) {
  ASSIGN_OR_RETURN(std::vector<JsonlRecord> records, ReadJsonl(path));
  std::vector<Gsm8kProblem> out;
  for (const JsonlRecord& record : records) {
    const base::Json* question = record.value.Find("question");
    const base::Json* answer = record.value.Find("answer");
    if (question == nullptr || !question->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", record.line, ": question: missing or not a string"));
    }
    if (answer == nullptr || !answer->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", record.line, ": answer: missing or not a string"));
    }
    if (!absl::StrContains(answer->string_value(), "####")) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", record.line,
                       ": answer: no \"#### <number>\" final answer"));
    }
    out.push_back({question->string_value(), answer->string_value()});
  }
  return out;
}

}  // namespace

absl::StatusOr<Gsm8kDataset> LoadGsm8k(const std::string& path,
                                       bool with_train) {
  std::string test_path = path;
  std::string train_path;
  if (base::IsDirectory(path)) {
    test_path = path + "/test.jsonl";
    train_path = path + "/train.jsonl";
  } else {
    train_path = (fs::path(path).parent_path() / "train.jsonl").string();
  }
  if (!base::PathExists(test_path)) {
    return absl::NotFoundError(
        absl::StrCat("gsm8k dataset: ", test_path, " not found"));
  }
  Gsm8kDataset data;
  ASSIGN_OR_RETURN(data.test, ReadGsm8kJsonl(test_path));
  RETURN_IF_ERROR(AddFile(test_path, &data.files));
  if (with_train) {
    if (!base::PathExists(train_path)) {
      return absl::NotFoundError(absl::StrCat(
          "gsm8k dataset: ", train_path,
          " not found (random few-shot examples come from the train split)"));
    }
    ASSIGN_OR_RETURN(data.train, ReadGsm8kJsonl(train_path));
    RETURN_IF_ERROR(AddFile(train_path, &data.files));
  }
  return data;
}

}  // namespace evald::tasks
