// File: tasks/lm_eval/docs.cc
// -----------------------------------------------------------------------------
// The documents of a task, from local files only, read as Hugging Face
// `datasets` would read them for lm-eval:
//
//   dataset_kwargs.data_files {split: file(s)}  the files of each split,
//       relative to dataset_path when that is a folder, else to the folder
//       of the YAML file that wrote them (dataset_path may then be a
//       builder name: json, csv); a file name may be a pattern
//       (test-*.jsonl) of files in its folder;
//       a bare file or list is the split "train", as `datasets` names it.
//   dataset_path FOLDER  <split>.jsonl, <split>.json or <split>.csv in it,
//       or in FOLDER/<dataset_name>/ when dataset_name is set.
//   dataset_path FILE    the split "train".
//
// JSON files hold a list of objects, or an object whose member named after
// the split (or "data") is that list; a .json file that is not one JSON
// document is read as JSON Lines, as `datasets` does (and one object alone
// is one document). The builder names `json` and `csv` as dataset_path set
// the format of the data_files; otherwise the extension does. CSV files have a
// header row and are typed per column as pandas.read_csv (which `datasets`
// uses for CSV) types them with its defaults: a column of integers is int,
// of numbers float, of True/False bool, anything else str; pandas' NA
// spellings ("", "NA", "N/A", "null", "NaN", "None", ...) are null, and
// an integer column with a null becomes float, one with an integer past
// int64 str (checked against pandas' own read_csv). Column names as pandas
// makes them: a repeated name gets ".1", ".2", an empty one "Unnamed: i".
#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "base/file.h"
#include "base/sha256.h"
#include "base/status_macros.h"
#include "tasks/dataset.h"
#include "tasks/lm_eval/config.h"
#include "tasks/lm_eval/yaml_reader.h"

namespace evald::tasks::lm_eval {
namespace {

namespace fs = std::filesystem;

struct SplitDocs {
  std::vector<Doc> docs;
  std::vector<DatasetFile> files;
};

bool IsBuilderName(const std::string& name) {
  return name == "json" || name == "csv" || name == "text" ||
         name == "parquet" || name == "arrow";
}

// pandas.read_csv's default NA spellings.
bool IsCsvNa(const std::string& s) {
  static const std::set<std::string>* const kNa = new std::set<std::string>{
      "",     "#N/A",   "#N/A N/A", "#NA",  "-1.#IND", "-1.#QNAN", "-NaN",
      "-nan", "1.#IND", "1.#QNAN",  "<NA>", "N/A",     "NA",       "NULL",
      "NaN",  "None",   "n/a",      "nan",  "null"};
  return kNa->count(s) > 0;
}

absl::string_view TrimSpaces(absl::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool IntShaped(const std::string& cell) {
  absl::string_view digits = TrimSpaces(cell);
  if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
    digits.remove_prefix(1);
  }
  if (digits.empty()) return false;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::optional<int64_t> CsvInt(const std::string& cell) {
  if (!IntShaped(cell)) return std::nullopt;
  absl::string_view s = TrimSpaces(cell);
  int64_t v = 0;
  if (!absl::SimpleAtoi(s, &v)) return std::nullopt;
  return v;
}

std::optional<double> CsvFloat(const std::string& cell) {
  absl::string_view s = TrimSpaces(cell);
  absl::string_view body = s;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    body.remove_prefix(1);
  }
  if (body == "inf" || body == "Inf" || body == "INF" || body == "Infinity" ||
      body == "infinity") {
    return s[0] == '-' ? -INFINITY : INFINITY;
  }
  // Decimal only: digits, one dot, an exponent; no hex, no "nan" (NA).
  bool digit = false;
  bool dot = false;
  size_t i = 0;
  for (; i < body.size(); ++i) {
    const char c = body[i];
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      break;
    }
  }
  if (!digit) return std::nullopt;
  if (i < body.size()) {
    if (body[i] != 'e' && body[i] != 'E') return std::nullopt;
    ++i;
    if (i < body.size() && (body[i] == '+' || body[i] == '-')) ++i;
    if (i == body.size()) return std::nullopt;
    for (; i < body.size(); ++i) {
      if (body[i] < '0' || body[i] > '9') return std::nullopt;
    }
  }
  double v = 0;
  if (!absl::SimpleAtod(s, &v)) return std::nullopt;
  return v;
}

std::optional<bool> CsvBool(const std::string& s) {
  if (s == "True" || s == "TRUE" || s == "true") return true;
  if (s == "False" || s == "FALSE" || s == "false") return false;
  return std::nullopt;
}

absl::StatusOr<std::vector<Doc>> ReadCsvDocs(const std::string& path,
                                             const std::string& text) {
  absl::string_view body = text;
  if (absl::StartsWith(body, "\xEF\xBB\xBF")) body.remove_prefix(3);  // BOM
  absl::StatusOr<std::vector<CsvRecord>> parsed = ParseCsv(body, path);
  if (!parsed.ok()) {
    // Name the column of a bad byte: read the header line alone, then the
    // file again with its names.
    absl::StatusOr<std::vector<CsvRecord>> head =
        ParseCsv(body.substr(0, body.find('\n')), path);
    if (head.ok() && !head->empty()) {
      std::vector<absl::string_view> names(head->front().fields.begin(),
                                           head->front().fields.end());
      RETURN_IF_ERROR(ParseCsv(body, path, names).status());
    }
    return parsed.status();
  }
  std::vector<CsvRecord> records = *std::move(parsed);
  std::vector<Doc> docs;
  if (records.empty()) return docs;
  // pandas' column names: an empty one is "Unnamed: <i>", a repeated one
  // "<name>.<n>".
  std::vector<std::string> header = records[0].fields;
  std::set<std::string> taken;
  for (size_t c = 0; c < header.size(); ++c) {
    if (header[c].empty()) header[c] = absl::StrCat("Unnamed: ", c);
    std::string name = header[c];
    for (int n = 1; taken.count(name) > 0; ++n) {
      name = absl::StrCat(header[c], ".", n);
    }
    header[c] = name;
    taken.insert(name);
  }
  for (size_t r = 1; r < records.size(); ++r) {
    if (records[r].fields.size() != header.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", records[r].line, ": ", records[r].fields.size(),
          " columns; the header has ", header.size()));
    }
  }
  enum class Type { kInt, kFloat, kBool, kString };
  std::vector<Type> types(header.size(), Type::kString);
  std::vector<bool> has_na(header.size(), false);
  for (size_t c = 0; c < header.size(); ++c) {
    bool all_int = true, all_shaped = true, all_float = true, all_bool = true,
         any = false;
    for (size_t r = 1; r < records.size(); ++r) {
      const std::string& cell = records[r].fields[c];
      if (IsCsvNa(cell)) {
        has_na[c] = true;
        continue;
      }
      any = true;
      all_int = all_int && CsvInt(cell).has_value();
      all_shaped = all_shaped && IntShaped(cell);
      all_float = all_float && CsvFloat(cell).has_value();
      all_bool = all_bool && CsvBool(cell).has_value();
    }
    if (!any) {
      types[c] = Type::kFloat;  // all NaN: float64 of nulls
    } else if (all_int) {
      types[c] = has_na[c] ? Type::kFloat : Type::kInt;
    } else if (all_shaped) {
      types[c] = Type::kString;  // integers past int64: pandas keeps str
    } else if (all_float) {
      types[c] = Type::kFloat;
    } else if (all_bool) {
      types[c] = Type::kBool;
    }
  }
  for (size_t r = 1; r < records.size(); ++r) {
    base::Json row = base::Json::MakeObject();
    for (size_t c = 0; c < header.size(); ++c) {
      const std::string& cell = records[r].fields[c];
      base::Json v;
      if (!IsCsvNa(cell)) {
        switch (types[c]) {
          case Type::kInt:
            v = base::Json::Int(*CsvInt(cell));
            break;
          case Type::kFloat:
            v = base::Json::Double(*CsvFloat(cell));
            break;
          case Type::kBool:
            v = base::Json::Bool(*CsvBool(cell));
            break;
          case Type::kString:
            v = base::Json::String(cell);
            break;
        }
      }
      row.Set(header[c], std::move(v));
    }
    docs.push_back({std::move(row), absl::StrCat(path, ":", records[r].line)});
  }
  return docs;
}

absl::StatusOr<std::vector<Doc>> ReadJsonDocs(const std::string& path,
                                              const std::string& text,
                                              const std::string& split) {
  absl::StatusOr<base::Json> parsed = base::ParseJson(text);
  if (!parsed.ok()) {
    // Not one JSON document: JSON Lines, as `datasets` tries.
    ASSIGN_OR_RETURN(std::vector<JsonlRecord> rows, ReadJsonl(path));
    std::vector<Doc> docs;
    for (JsonlRecord& row : rows) {
      docs.push_back({std::move(row.value), absl::StrCat(path, ":", row.line)});
    }
    return docs;
  }
  const base::Json* list = &*parsed;
  if (parsed->is_object()) {
    list = parsed->Find(split);
    if (list == nullptr || !list->is_array()) list = parsed->Find("data");
    if (list == nullptr || !list->is_array()) {
      // One object on its own is one document (JSON Lines of one line).
      RETURN_IF_ERROR(CheckJsonUtf8(*parsed, absl::StrCat(path, ":1")));
      std::vector<Doc> docs;
      docs.push_back({*std::move(parsed), absl::StrCat(path, ":1")});
      return docs;
    }
  }
  if (!list->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": expected a JSON list of documents (objects)"));
  }
  std::vector<Doc> docs;
  for (size_t i = 0; i < list->array().size(); ++i) {
    const base::Json& item = list->array()[i];
    const std::string where = absl::StrCat(path, ": document ", i);
    if (!item.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": not a JSON object"));
    }
    RETURN_IF_ERROR(CheckJsonUtf8(item, where));
    docs.push_back({item, where});
  }
  return docs;
}

absl::StatusOr<std::vector<Doc>> ReadDataFile(const std::string& path,
                                              const std::string& format,
                                              const std::string& split,
                                              std::vector<DatasetFile>* files) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such data file"));
  }
  std::string ext = format;
  if (ext.empty()) ext = fs::path(path).extension().string();
  if (!ext.empty() && ext[0] == '.') ext = ext.substr(1);
  std::vector<Doc> docs;
  if (ext == "jsonl") {
    ASSIGN_OR_RETURN(std::vector<JsonlRecord> rows, ReadJsonl(path));
    for (JsonlRecord& row : rows) {
      docs.push_back({std::move(row.value), absl::StrCat(path, ":", row.line)});
    }
  } else if (ext == "json") {
    ASSIGN_OR_RETURN(std::string text, base::ReadFileToString(path));
    ASSIGN_OR_RETURN(docs, ReadJsonDocs(path, text, split));
  } else if (ext == "csv") {
    ASSIGN_OR_RETURN(std::string text, base::ReadFileToString(path));
    ASSIGN_OR_RETURN(docs, ReadCsvDocs(path, text));
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": evald reads .jsonl, .json and .csv data files"));
  }
  ASSIGN_OR_RETURN(std::string sha, base::Sha256File(path));
  files->push_back({path, sha});
  return docs;
}

// The regular files of `pattern`'s folder whose names match its last
// component (fnmatch: *, ?, [...]), sorted; the folder part is literal.
std::vector<std::string> Glob(const std::string& pattern) {
  const fs::path p(pattern);
  const std::string name_pattern = p.filename().string();
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(p.parent_path(), ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->is_regular_file(ec) &&
        fnmatch(name_pattern.c_str(), name.c_str(), FNM_PERIOD) == 0) {
      out.push_back(it->path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

class SplitReader {
 public:
  explicit SplitReader(const TaskConfig& c) : c_(c) {
    const fs::path own = fs::path(c.file).parent_path();
    path_dir_ = c.dataset_path_dir.empty() ? own : fs::path(c.dataset_path_dir);
    files_dir_ = c.data_files_dir.empty() ? own : fs::path(c.data_files_dir);
  }

  absl::StatusOr<const SplitDocs*> Read(const std::string& split) {
    auto it = cache_.find(split);
    if (it != cache_.end()) return &it->second;
    SplitDocs out;
    RETURN_IF_ERROR(Load(split, &out));
    return &cache_.emplace(split, std::move(out)).first->second;
  }

 private:
  std::string Local(const std::string& p, const fs::path& base) const {
    fs::path path(p);
    if (path.is_relative()) path = base / path;
    return path.lexically_normal().string();
  }

  std::string Where() const {
    return absl::StrCat(c_.origin.ToString(), ": task '", c_.task, "'");
  }

  absl::Status Load(const std::string& split, SplitDocs* out) {
    std::error_code ec;
    const std::string local_path =
        c_.dataset_path.empty() ? "" : Local(c_.dataset_path, path_dir_);
    const bool path_is_dir =
        !local_path.empty() && fs::is_directory(local_path, ec);
    if (!c_.data_files.empty()) {
      const std::vector<std::string>* files = nullptr;
      std::vector<std::string> splits;
      for (const auto& [name, list] : c_.data_files) {
        splits.push_back(name);
        if (name == split) files = &list;
      }
      if (files == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(Where(), ": split '", split,
                         "' is not in dataset_kwargs.data_files (it has: ",
                         absl::StrJoin(splits, ", "), ")"));
      }
      const fs::path base = path_is_dir ? fs::path(local_path) : files_dir_;
      const std::string format =
          IsBuilderName(c_.dataset_path) ? c_.dataset_path : "";
      for (const std::string& f : *files) {
        std::vector<std::string> paths = {Local(f, base)};
        if (f.find_first_of("*?[") != std::string::npos) {
          // A pattern, as `datasets` takes them: the matching files of its
          // folder, in name order.
          paths = Glob(paths[0]);
          if (paths.empty()) {
            return absl::InvalidArgumentError(
                absl::StrCat(Where(), ": data files '", f, "' of split '",
                             split, "': no file matches"));
          }
        }
        for (const std::string& path : paths) {
          absl::StatusOr<std::vector<Doc>> docs =
              ReadDataFile(path, format, split, &out->files);
          if (absl::IsNotFound(docs.status())) {
            return absl::InvalidArgumentError(
                absl::StrCat(Where(), ": data file '", f, "' of split '", split,
                             "': ", docs.status().message()));
          }
          RETURN_IF_ERROR(docs.status());
          for (Doc& d : *docs) out->docs.push_back(std::move(d));
        }
      }
      return absl::OkStatus();
    }
    if (local_path.empty() || IsBuilderName(c_.dataset_path) ||
        !fs::exists(local_path, ec)) {
      return absl::InvalidArgumentError(absl::StrCat(
          Where(), ": dataset_path '", c_.dataset_path,
          "' is no local file or folder (looked for ", local_path,
          "); evald reads local files only: download the data and set "
          "dataset_path to its folder (relative to the YAML file), or name "
          "the files with dataset_kwargs: {data_files: {test: FILE}}"));
    }
    if (!path_is_dir) {
      if (split != "train") {
        return absl::InvalidArgumentError(absl::StrCat(
            Where(), ": dataset_path '", c_.dataset_path,
            "' is one file, which is the split 'train'; for split '", split,
            "' name it in dataset_kwargs: {data_files: {", split, ": FILE}}"));
      }
      ASSIGN_OR_RETURN(out->docs,
                       ReadDataFile(local_path, "", split, &out->files));
      return absl::OkStatus();
    }
    fs::path folder(local_path);
    if (!c_.dataset_name.empty()) {
      if (!fs::is_directory(folder / c_.dataset_name, ec)) {
        return absl::InvalidArgumentError(
            absl::StrCat(Where(), ": dataset_name '", c_.dataset_name,
                         "': no folder ", (folder / c_.dataset_name).string()));
      }
      folder /= c_.dataset_name;
    }
    for (const char* ext : {".jsonl", ".json", ".csv"}) {
      const fs::path candidate = folder / (split + ext);
      if (fs::is_regular_file(candidate, ec)) {
        ASSIGN_OR_RETURN(out->docs, ReadDataFile(candidate.string(), "", split,
                                                 &out->files));
        return absl::OkStatus();
      }
    }
    return absl::InvalidArgumentError(
        absl::StrCat(Where(), ": split '", split, "': no ",
                     (folder / split).string(), ".jsonl, .json or .csv"));
  }

  const TaskConfig& c_;
  fs::path path_dir_;
  fs::path files_dir_;
  std::map<std::string, SplitDocs> cache_;
};

absl::StatusOr<TaskDocs> LoadTaskDocsImpl(const TaskConfig& config) {
  TaskDocs out;
  SplitReader reader(config);
  const std::string eval_split =
      !config.test_split.empty() ? config.test_split : config.validation_split;
  if (eval_split.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.origin.ToString(), ": task '", config.task,
                     "' names neither test_split nor validation_split"));
  }
  std::set<std::string> seen_files;
  auto add_files = [&](const SplitDocs& docs) {
    for (const DatasetFile& f : docs.files) {
      if (seen_files.insert(f.path).second) out.files.push_back(f);
    }
  };
  ASSIGN_OR_RETURN(const SplitDocs* eval, reader.Read(eval_split));
  out.eval = eval->docs;
  add_files(*eval);

  // lm-eval's fewshot_docs(): fewshot_config.split (which defaults to
  // fewshot_split), else inline samples, else training_split, else
  // validation_split, else test_split.
  std::string fewshot_split = config.fewshot_config.split.empty()
                                  ? config.fewshot_split
                                  : config.fewshot_config.split;
  if (fewshot_split.empty() && !config.fewshot_config.samples.empty()) {
    for (size_t i = 0; i < config.fewshot_config.samples.size(); ++i) {
      out.fewshot.push_back(
          {config.fewshot_config.samples[i],
           absl::StrCat(config.fewshot_config.origin.ToString(),
                        ": fewshot_config.samples[", i, "]")});
    }
    return out;
  }
  if (fewshot_split.empty()) {
    fewshot_split = !config.training_split.empty()     ? config.training_split
                    : !config.validation_split.empty() ? config.validation_split
                                                       : config.test_split;
  }
  if (fewshot_split.empty()) return out;
  ASSIGN_OR_RETURN(const SplitDocs* fewshot, reader.Read(fewshot_split));
  out.fewshot = fewshot->docs;
  out.fewshot_is_eval = fewshot_split == eval_split;
  add_files(*fewshot);
  return out;
}

}  // namespace

absl::StatusOr<TaskDocs> LoadTaskDocs(const TaskConfig& config) {
  absl::StatusOr<TaskDocs> docs = LoadTaskDocsImpl(config);
  if (!docs.ok()) return OneLine(docs.status());
  return docs;
}

}  // namespace evald::tasks::lm_eval
