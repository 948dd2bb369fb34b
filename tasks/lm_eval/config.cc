// File: tasks/lm_eval/config.cc
// -----------------------------------------------------------------------------
// Task and group YAML files into TaskConfig / GroupConfig. A file's
// `include:` bases are merged first, as lm-eval's loader does (each include
// in list order, later ones winning, then the file's own keys win), a
// shallow merge of top-level keys. Every key is then checked against
// lm-eval's TaskConfig schema: an unknown key is refused with the nearest
// known one, a key that needs Python is refused, and each value's type is
// checked where it is read.
#include "tasks/lm_eval/config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/edit_distance.h"
#include "base/sha256.h"
#include "base/status_macros.h"
#include "tasks/lm_eval/yaml_reader.h"
#include "yaml-cpp/yaml.h"

namespace evald::tasks::lm_eval {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxIncludeDepth = 16;
constexpr size_t kMaxFiles = 4096;
constexpr int kMaxGroupDepth = 32;

// lm-eval's TaskConfig fields, in its dataclass order (the order of
// `configs` in a results file).
const std::vector<std::string>& TaskKeys() {
  static const auto* const kKeys = new std::vector<std::string>{
      "task",
      "task_alias",
      "tag",
      "custom_dataset",
      "dataset_path",
      "dataset_name",
      "dataset_kwargs",
      "training_split",
      "validation_split",
      "test_split",
      "fewshot_split",
      "process_docs",
      "doc_to_text",
      "doc_to_target",
      "doc_to_image",
      "doc_to_audio",
      "unsafe_code",
      "doc_to_choice",
      "process_results",
      "use_prompt",
      "description",
      "target_delimiter",
      "fewshot_delimiter",
      "fewshot_config",
      "num_fewshot",
      "metric_list",
      "output_type",
      "generation_kwargs",
      "repeats",
      "filter_list",
      "should_decontaminate",
      "doc_to_decontamination_query",
      "gen_prefix",
      "metadata",
  };
  return *kKeys;
}

const std::vector<std::string>& GroupKeys() {
  static const auto* const kKeys = new std::vector<std::string>{
      "group", "group_alias", "task", "aggregate_metric_list", "metadata"};
  return *kKeys;
}

// " (did you mean 'x'?)" for the nearest of `known`, or "" when none is
// near (at most a third of the key's length, and at least 2, apart).
std::string Suggest(const std::string& key,
                    const std::vector<std::string>& known) {
  if (key.size() > 200) return "";
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (const std::string& k : known) {
    const size_t d = base::EditDistance(key, k);
    if (d < best_distance) {
      best_distance = d;
      best = k;
    }
  }
  const size_t limit = std::max<size_t>(2, key.size() / 3);
  if (best.empty() || best_distance > limit) return "";
  return absl::StrCat(" (did you mean '", best, "'?)");
}

std::string Describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return absl::StrCat("'", node.Scalar().substr(0, 40), "'");
}

// A top-level key of a (merged) file: the value and where it was written.
struct Entry {
  YAML::Node key;
  YAML::Node value;
  std::string file;
};
using Flat = std::vector<std::pair<std::string, Entry>>;

const Entry* FindEntry(const Flat& flat, absl::string_view key) {
  for (const auto& [k, e] : flat) {
    if (k == key) return &e;
  }
  return nullptr;
}

void SetEntry(Flat* flat, const std::string& key, Entry entry) {
  for (auto& [k, e] : *flat) {
    if (k == key) {
      e = std::move(entry);
      return;
    }
  }
  flat->emplace_back(key, std::move(entry));
}

absl::Status KeyError(const Entry& e, const std::string& key,
                      absl::string_view what) {
  return ErrorAt(e.file, e.value.IsDefined() ? e.value : e.key,
                 absl::StrCat("key '", key, "': ", what));
}

// Checked reads of one value.
absl::StatusOr<std::string> ReadString(const YAML::Node& node,
                                       const std::string& file,
                                       const std::string& key) {
  if (!node.IsScalar()) {
    return ErrorAt(file, node,
                   absl::StrCat("key '", key, "': expected a string, got ",
                                Describe(node)));
  }
  return node.Scalar();
}

absl::StatusOr<std::vector<std::string>> ReadStringOrList(
    const YAML::Node& node, const std::string& file, const std::string& key) {
  std::vector<std::string> out;
  if (node.IsScalar()) {
    out.push_back(node.Scalar());
    return out;
  }
  if (!node.IsSequence()) {
    return ErrorAt(file, node,
                   absl::StrCat("key '", key,
                                "': expected a string or a list of strings, "
                                "got ",
                                Describe(node)));
  }
  for (size_t i = 0; i < node.size(); ++i) {
    ASSIGN_OR_RETURN(std::string s,
                     ReadString(node[i], file, absl::StrCat(key, "[", i, "]")));
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<int64_t> ReadInt(const YAML::Node& node, const std::string& file,
                                const std::string& key, int64_t min,
                                int64_t max) {
  ASSIGN_OR_RETURN(base::Json v, YamlToJson(node, file, 16));
  if (!node.IsScalar() || !v.is_int()) {
    return ErrorAt(file, node,
                   absl::StrCat("key '", key, "': expected an integer, got ",
                                Describe(node)));
  }
  if (v.int_value() < min || v.int_value() > max) {
    return ErrorAt(file, node,
                   absl::StrCat("key '", key, "': ", v.int_value(),
                                " is out of range [", min, ", ", max, "]"));
  }
  return v.int_value();
}

absl::StatusOr<double> ReadNumber(const YAML::Node& node,
                                  const std::string& file,
                                  const std::string& key) {
  ASSIGN_OR_RETURN(base::Json v, YamlToJson(node, file, 16));
  if (!node.IsScalar() || !v.is_number()) {
    return ErrorAt(file, node,
                   absl::StrCat("key '", key, "': expected a number, got ",
                                Describe(node)));
  }
  return v.number_value();
}

absl::StatusOr<bool> ReadBool(const YAML::Node& node, const std::string& file,
                              const std::string& key) {
  ASSIGN_OR_RETURN(base::Json v, YamlToJson(node, file, 16));
  if (!node.IsScalar() || !v.is_bool()) {
    return ErrorAt(file, node,
                   absl::StrCat("key '", key, "': expected true or false, got ",
                                Describe(node)));
  }
  return v.bool_value();
}

absl::Status CheckMapKeys(const YAML::Node& map, const std::string& file,
                          const std::string& where,
                          const std::vector<std::string>& known) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return ErrorAt(
          file, it->first,
          absl::StrCat("key '", where, ".", key, "' is not one of ",
                       absl::StrJoin(known, ", "), Suggest(key, known)));
    }
  }
  return absl::OkStatus();
}

absl::Status NeedsMap(const YAML::Node& node, const std::string& file,
                      const std::string& key) {
  if (!node.IsMap()) {
    return ErrorAt(file, node,
                   absl::StrCat("key '", key, "': expected a mapping, got ",
                                Describe(node)));
  }
  return absl::OkStatus();
}

// doc_to_text / doc_to_target / doc_to_choice: a string (column or
// template), a list of templates, an int; a mapping (doc_to_choice) reads
// as the list of its values, as lm-eval does.
absl::StatusOr<DocField> ReadDocField(const YAML::Node& node,
                                      const std::string& file,
                                      const std::string& key, bool allow_list,
                                      bool allow_int) {
  DocField f;
  f.origin = OriginOf(file, node);
  if (IsYamlNull(node)) return f;
  if (node.IsScalar()) {
    if (allow_int && node.Tag() == "?") {
      ASSIGN_OR_RETURN(base::Json v, YamlToJson(node, file, 4));
      if (v.is_int()) {
        f.kind = DocField::Kind::kInt;
        f.number = v.int_value();
        return f;
      }
    }
    f.kind = DocField::Kind::kString;
    f.text = node.Scalar();
    return f;
  }
  if (allow_list && (node.IsSequence() || node.IsMap())) {
    f.kind = DocField::Kind::kList;
    size_t i = 0;
    for (auto it = node.begin(); it != node.end(); ++it, ++i) {
      const YAML::Node item = node.IsMap() ? it->second : *it;
      ASSIGN_OR_RETURN(std::string s,
                       ReadString(item, file, absl::StrCat(key, "[", i, "]")));
      f.list.push_back(std::move(s));
    }
    return f;
  }
  return ErrorAt(file, node,
                 absl::StrCat("key '", key, "': expected ",
                              allow_list  ? "a string or a list of strings"
                              : allow_int ? "a string or an integer"
                                          : "a string",
                              ", got ", Describe(node)));
}

// Reads a file of at most kMaxTaskYamlBytes (+1 to tell it is larger);
// refuses what is not a regular file (a FIFO or /dev/zero never ends).
absl::StatusOr<std::string> ReadCapped(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  if (!fs::is_regular_file(st)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a regular file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot be read"));
  std::string text(kMaxTaskYamlBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

bool IsYamlName(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml";
}

class Loader {
 public:
  // Reads a file or a folder; `primary` gets the one name a lone file
  // defines.
  absl::Status AddPath(const std::string& path, std::string* primary) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) return AddFolder(path);
    if (!fs::exists(path, ec)) {
      return absl::NotFoundError(
          absl::StrCat(path, ": no such task YAML file or folder"));
    }
    ASSIGN_OR_RETURN(std::string text, ReadCapped(path));
    return AddFile(path, text, /*in_folder=*/false, primary);
  }

  absl::Status AddText(absl::string_view text, const std::string& display,
                       std::string* primary) {
    return AddFile(display, text, /*in_folder=*/false, primary);
  }

  // Whether a group file lists a name that nothing read so far defines.
  bool HasUnresolvedMembers() const {
    for (const PendingGroup& g : pending_) {
      const Entry* tasks = FindEntry(g.flat, "task");
      if (tasks == nullptr) continue;
      if (tasks->value.IsScalar() && !Known(tasks->value.Scalar())) return true;
      if (!tasks->value.IsSequence()) continue;
      for (size_t i = 0; i < tasks->value.size(); ++i) {
        const YAML::Node item = tasks->value[i];
        if (item.IsScalar() && !Known(item.Scalar())) return true;
      }
    }
    return false;
  }

  absl::Status AddFolder(const std::string& dir) {
    std::vector<fs::path> paths;
    std::error_code ec;
    fs::recursive_directory_iterator it(
        dir, fs::directory_options::skip_permission_denied, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir, ": cannot list: ", ec.message()));
    }
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      // Hidden files and folders (.git, .github/workflows/*.yml) are not
      // task files.
      if (absl::StartsWith(it->path().filename().string(), ".")) {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec) && IsYamlName(it->path())) {
        paths.push_back(it->path());
        if (paths.size() > kMaxFiles) {
          return absl::InvalidArgumentError(
              absl::StrCat(dir, ": more than ", kMaxFiles, " YAML files"));
        }
      }
    }
    std::sort(paths.begin(), paths.end());
    for (const fs::path& p : paths) {
      if (read_.count(Canonical(p.string()))) continue;
      ASSIGN_OR_RETURN(std::string text, ReadCapped(p.string()));
      std::string unused;
      RETURN_IF_ERROR(AddFile(p.string(), text, /*in_folder=*/true, &unused));
    }
    return absl::OkStatus();
  }

  absl::Status Finish() {
    // Groups are built once every file is read: whether an entry of a
    // group's `task:` list names a known task or group decides what it is
    // (lm-eval looks it up in its index of every file).
    for (const PendingGroup& p : pending_) {
      RETURN_IF_ERROR(AddGroup(p.flat, p.file, 0, "").status());
    }
    pending_.clear();
    // Every group member names something; tags do not clash with tasks.
    for (const GroupConfig& g : lib_.groups) {
      for (size_t i = 0; i < g.members.size(); ++i) {
        if (!Known(g.members[i])) {
          return absl::InvalidArgumentError(absl::StrCat(
              g.origin.ToString(), ": group '", g.group, "' lists '",
              g.members[i], "', which is no task, group or tag here"));
        }
      }
    }
    for (const TaskConfig& t : lib_.tasks) {
      for (const std::string& tag : t.tags) {
        if (lib_.FindGroup(tag) != nullptr) {
          return absl::InvalidArgumentError(
              absl::StrCat(t.origin.ToString(), ": tag '", tag, "' of task '",
                           t.task, "' is also a group's name"));
        }
      }
    }
    return absl::OkStatus();
  }

  TaskLibrary Take() { return std::move(lib_); }

 private:
  static std::string Canonical(const std::string& path) {
    std::error_code ec;
    fs::path c = fs::weakly_canonical(path, ec);
    return ec ? path : c.string();
  }

  bool Known(const std::string& name) const {
    if (lib_.FindTask(name) || lib_.FindGroup(name)) return true;
    for (const PendingGroup& g : pending_) {
      if (g.name == name) return true;
    }
    for (const TaskConfig& t : lib_.tasks) {
      if (std::find(t.tags.begin(), t.tags.end(), name) != t.tags.end()) {
        return true;
      }
    }
    return false;
  }

  absl::Status Record(const std::string& path, absl::string_view text) {
    const std::string canonical = Canonical(path);
    if (read_.insert(canonical).second) {
      if (lib_.files.size() >= kMaxFiles) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": more than ", kMaxFiles, " YAML files read"));
      }
      lib_.files.push_back({path, base::Sha256Hex(text)});
    }
    return absl::OkStatus();
  }

  absl::Status AddFile(const std::string& path, absl::string_view text,
                       bool in_folder, std::string* primary) {
    RETURN_IF_ERROR(Record(path, text));
    ASSIGN_OR_RETURN(YAML::Node root, ParseTaskYaml(text, path));
    std::vector<std::string> stack = {Canonical(path)};
    ASSIGN_OR_RETURN(Flat flat, Flatten(root, path, 0, &stack));
    const bool underscore =
        absl::StartsWith(fs::path(path).filename().string(), "_");
    if (const Entry* group = FindEntry(flat, "group")) {
      ASSIGN_OR_RETURN(std::string name,
                       ReadString(group->value, group->file, "group"));
      if (name.empty()) return KeyError(*group, "group", "is empty");
      for (const PendingGroup& other : pending_) {
        if (other.name == name) {
          return ErrorAt(
              group->file, group->key,
              absl::StrCat("group '", name, "' is defined twice (also in ",
                           other.file, ")"));
        }
      }
      RETURN_IF_ERROR(CheckGroupKeys(flat));
      *primary = name;
      pending_.push_back({std::move(flat), path, name});
      return absl::OkStatus();
    }
    const Entry* task = FindEntry(flat, "task");
    if (task == nullptr || underscore) {
      // An include base (lm-eval reads a file without `task` or `group` as
      // none of its tasks); named alone, it is a mistake.
      if (in_folder) return absl::OkStatus();
      if (task == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(path,
                         ": defines no `task:` and no `group:` (an include "
                         "base is read through another file's `include:`)"));
      }
    }
    ASSIGN_OR_RETURN(TaskConfig config, BuildTask(flat, path));
    *primary = config.task;
    return AddTask(std::move(config));
  }

  absl::Status AddTask(TaskConfig config) {
    if (const TaskConfig* other = lib_.FindTask(config.task)) {
      return absl::InvalidArgumentError(absl::StrCat(
          config.origin.ToString(), ": task '", config.task,
          "' is defined twice (also at ", other->origin.ToString(), ")"));
    }
    if (const GroupConfig* other = lib_.FindGroup(config.task)) {
      return absl::InvalidArgumentError(absl::StrCat(
          config.origin.ToString(), ": task '", config.task,
          "' has the name of a group (at ", other->origin.ToString(), ")"));
    }
    lib_.tasks.push_back(std::move(config));
    return absl::OkStatus();
  }

  // The top-level keys of `root` with its includes merged in.
  absl::StatusOr<Flat> Flatten(const YAML::Node& root, const std::string& file,
                               int depth, std::vector<std::string>* stack) {
    Flat own;
    YAML::Node include;
    for (auto it = root.begin(); it != root.end(); ++it) {
      const std::string key = it->first.Scalar();
      if (key == "include") {
        include = it->second;
        continue;
      }
      own.emplace_back(key, Entry{it->first, it->second, file});
    }
    if (!include.IsDefined() || IsYamlNull(include)) return own;
    if (depth >= kMaxIncludeDepth) {
      return ErrorAt(file, include,
                     absl::StrCat("key 'include': more than ", kMaxIncludeDepth,
                                  " levels of includes"));
    }
    ASSIGN_OR_RETURN(std::vector<std::string> includes,
                     ReadStringOrList(include, file, "include"));
    Flat merged;
    for (const std::string& inc : includes) {
      fs::path p(inc);
      if (p.is_relative()) p = fs::path(file).parent_path() / p;
      const std::string inc_path = p.lexically_normal().string();
      const std::string canonical = Canonical(inc_path);
      if (std::find(stack->begin(), stack->end(), canonical) != stack->end()) {
        return ErrorAt(file, include,
                       absl::StrCat("key 'include': include cycle: '", inc,
                                    "' includes this file again"));
      }
      absl::StatusOr<std::string> text = ReadCapped(inc_path);
      if (!text.ok()) {
        return ErrorAt(
            file, include,
            absl::StrCat("key 'include': ", text.status().message()));
      }
      RETURN_IF_ERROR(Record(inc_path, *text));
      ASSIGN_OR_RETURN(YAML::Node inc_root, ParseTaskYaml(*text, inc_path));
      stack->push_back(canonical);
      ASSIGN_OR_RETURN(Flat inc_flat,
                       Flatten(inc_root, inc_path, depth + 1, stack));
      stack->pop_back();
      for (auto& [k, e] : inc_flat) SetEntry(&merged, k, std::move(e));
    }
    for (auto& [k, e] : own) SetEntry(&merged, k, std::move(e));
    return merged;
  }

  static absl::Status CheckGroupKeys(const Flat& flat) {
    for (const auto& [key, e] : flat) {
      // `tag` on a group names it for lm-eval's index only.
      if (key == "tag") continue;
      if (std::find(GroupKeys().begin(), GroupKeys().end(), key) ==
              GroupKeys().end() &&
          std::find(TaskKeys().begin(), TaskKeys().end(), key) !=
              TaskKeys().end()) {
        return ErrorAt(e.file, e.key,
                       absl::StrCat("key '", key,
                                    "' in a group file sets it for every "
                                    "task of the group, which evald does "
                                    "not support; set it in the task "
                                    "files"));
      }
      if (std::find(GroupKeys().begin(), GroupKeys().end(), key) ==
          GroupKeys().end()) {
        return ErrorAt(e.file, e.key,
                       absl::StrCat("key '", key,
                                    "' is not an lm-eval group key (a group "
                                    "file has ",
                                    absl::StrJoin(GroupKeys(), ", "), ")",
                                    Suggest(key, GroupKeys())));
      }
    }
    return absl::OkStatus();
  }

  // Adds the group of `flat` (and its inline members); returns its name.
  // An inline group (in `parent`'s task list) and an inline task are named
  // "<parent>::<name>", as lm-eval names them.
  absl::StatusOr<std::string> AddGroup(const Flat& flat,
                                       const std::string& file, int depth,
                                       const std::string& parent) {
    if (depth > kMaxGroupDepth) {
      return KeyError(*FindEntry(flat, "group"), "group",
                      "groups nest too deep");
    }
    GroupConfig g;
    g.file = file;
    RETURN_IF_ERROR(CheckGroupKeys(flat));
    const Entry& name = *FindEntry(flat, "group");
    ASSIGN_OR_RETURN(g.group, ReadString(name.value, name.file, "group"));
    g.origin = OriginOf(name.file, name.key);
    if (g.group.empty()) return KeyError(name, "group", "is empty");
    if (!parent.empty()) g.group = absl::StrCat(parent, "::", g.group);
    const Entry* tasks = FindEntry(flat, "task");
    if (tasks == nullptr || IsYamlNull(tasks->value)) {
      return KeyError(
          name, "group",
          absl::StrCat("group '", g.group, "' lists no tasks (`task: [...]`)"));
    }
    std::vector<YAML::Node> items;
    if (tasks->value.IsSequence()) {
      for (size_t i = 0; i < tasks->value.size(); ++i) {
        items.push_back(tasks->value[i]);
      }
    } else {
      items.push_back(tasks->value);
    }
    for (size_t i = 0; i < items.size(); ++i) {
      const YAML::Node& item = items[i];
      const std::string key = absl::StrCat("task[", i, "]");
      if (item.IsScalar()) {
        g.members.push_back(item.Scalar());
        continue;
      }
      if (!item.IsMap()) {
        return ErrorAt(tasks->file, item,
                       absl::StrCat("key '", key,
                                    "': expected a task name or a task "
                                    "mapping, got ",
                                    Describe(item)));
      }
      std::vector<std::string> stack = {Canonical(tasks->file)};
      ASSIGN_OR_RETURN(Flat inline_flat, Flatten(item, tasks->file, 0, &stack));
      const char* kind = FindEntry(inline_flat, "group") != nullptr  ? "group"
                         : FindEntry(inline_flat, "task") != nullptr ? "task"
                                                                     : nullptr;
      if (kind == nullptr) {
        return ErrorAt(tasks->file, item,
                       absl::StrCat("key '", key,
                                    "': an inline entry needs `task:` (or "
                                    "`group:`)"));
      }
      const Entry& named = *FindEntry(inline_flat, kind);
      ASSIGN_OR_RETURN(
          std::string member,
          ReadString(named.value, named.file, absl::StrCat(key, ".", kind)));
      if (Known(member)) {
        // A reference to a task or group defined elsewhere; lm-eval would
        // apply the entry's other keys over its config.
        if (inline_flat.size() > 1) {
          const auto& [other, e] =
              inline_flat[inline_flat[0].first == kind ? 1 : 0];
          return ErrorAt(
              e.file, e.key,
              absl::StrCat("key '", other, "': the entry for '", member,
                           "' (defined elsewhere) overrides its "
                           "config, which evald does not "
                           "support; set it in its own file"));
        }
        g.members.push_back(std::move(member));
        continue;
      }
      if (std::string(kind) == "group") {
        ASSIGN_OR_RETURN(
            member, AddGroup(inline_flat, tasks->file, depth + 1, g.group));
        g.members.push_back(std::move(member));
        continue;
      }
      ASSIGN_OR_RETURN(TaskConfig config, BuildTask(inline_flat, tasks->file));
      config.task = absl::StrCat(g.group, "::", config.task);
      config.config_json.Set("task", base::Json::String(config.task));
      base::Json metadata = base::Json::MakeObject();
      for (const auto& [k, v] : config.config_json.Find("metadata")->object()) {
        if (k != "config_source") metadata.Set(k, v);
      }
      config.config_json.Set("metadata", std::move(metadata));
      g.members.push_back(config.task);
      RETURN_IF_ERROR(AddTask(std::move(config)));
    }
    std::vector<bool> filter_written;  // per aggregate_metric_list entry
    if (const Entry* agg = FindEntry(flat, "aggregate_metric_list")) {
      if (!IsYamlNull(agg->value)) {
        std::vector<YAML::Node> entries;
        if (agg->value.IsMap()) {
          entries.push_back(agg->value);
        } else if (agg->value.IsSequence()) {
          for (size_t i = 0; i < agg->value.size(); ++i) {
            entries.push_back(agg->value[i]);
          }
        } else {
          return KeyError(*agg, "aggregate_metric_list",
                          absl::StrCat("expected a list of mappings, got ",
                                       Describe(agg->value)));
        }
        for (size_t i = 0; i < entries.size(); ++i) {
          const std::string where =
              absl::StrCat("aggregate_metric_list[", i, "]");
          RETURN_IF_ERROR(NeedsMap(entries[i], agg->file, where));
          RETURN_IF_ERROR(CheckMapKeys(
              entries[i], agg->file, where,
              {"metric", "aggregation", "weight_by_size", "filter_list"}));
          AggregateMetric m;
          m.origin = OriginOf(agg->file, entries[i]);
          const YAML::Node metric = entries[i]["metric"];
          if (!metric.IsDefined()) {
            return ErrorAt(agg->file, entries[i],
                           absl::StrCat("key '", where, "': needs `metric:`"));
          }
          ASSIGN_OR_RETURN(m.metric,
                           ReadString(metric, agg->file, where + ".metric"));
          if (const YAML::Node a = entries[i]["aggregation"]; a.IsDefined()) {
            ASSIGN_OR_RETURN(m.aggregation,
                             ReadString(a, agg->file, where + ".aggregation"));
            if (m.aggregation != "mean") {
              return ErrorAt(agg->file, a,
                             absl::StrCat("key '", where, ".aggregation': '",
                                          m.aggregation,
                                          "' is not 'mean', the only group "
                                          "aggregation lm-eval defines"));
            }
          }
          if (const YAML::Node w = entries[i]["weight_by_size"];
              w.IsDefined()) {
            ASSIGN_OR_RETURN(m.weight_by_size,
                             ReadBool(w, agg->file, where + ".weight_by_size"));
          }
          if (const YAML::Node f = entries[i]["filter_list"]; f.IsDefined()) {
            ASSIGN_OR_RETURN(
                m.filter_list,
                ReadStringOrList(f, agg->file, where + ".filter_list"));
          }
          filter_written.push_back(entries[i]["filter_list"].IsDefined());
          g.aggregate_metric_list.push_back(std::move(m));
        }
      }
    }
    if (const Entry* meta = FindEntry(flat, "metadata")) {
      if (!IsYamlNull(meta->value)) {
        RETURN_IF_ERROR(NeedsMap(meta->value, meta->file, "metadata"));
        if (const YAML::Node v = meta->value["version"]; v.IsDefined()) {
          ASSIGN_OR_RETURN(g.version,
                           ReadString(v, meta->file, "metadata.version"));
        }
      }
    }
    // lm-eval's GroupConfig.to_dict(): every field, None included; `task`
    // as written (a name becomes a list of one), an aggregate's unwritten
    // filter_list None, metadata at least {}.
    base::Json json = base::Json::MakeObject();
    for (const std::string& key : GroupKeys()) {
      const Entry* e = FindEntry(flat, key);
      base::Json v;
      if (key == "task") {
        ASSIGN_OR_RETURN(v, YamlToJson(e->value, e->file));
        if (!v.is_array()) {
          base::Json list = base::Json::MakeArray();
          list.Push(std::move(v));
          v = std::move(list);
        }
      } else if (key == "metadata" && (e == nullptr || IsYamlNull(e->value))) {
        v = base::Json::MakeObject();
      } else if (key == "aggregate_metric_list" && e != nullptr &&
                 !g.aggregate_metric_list.empty()) {
        v = base::Json::MakeArray();
        for (size_t i = 0; i < g.aggregate_metric_list.size(); ++i) {
          const AggregateMetric& m = g.aggregate_metric_list[i];
          base::Json item = base::Json::MakeObject();
          item.Set("metric", base::Json::String(m.metric));
          base::Json filters;
          if (filter_written[i]) {
            filters = base::Json::MakeArray();
            for (const std::string& f : m.filter_list) {
              filters.Push(base::Json::String(f));
            }
          }
          item.Set("filter_list", std::move(filters));
          item.Set("aggregation", base::Json::String(m.aggregation));
          item.Set("weight_by_size", base::Json::Bool(m.weight_by_size));
          v.Push(std::move(item));
        }
      } else if (e != nullptr) {
        ASSIGN_OR_RETURN(v, YamlToJson(e->value, e->file));
      }
      json.Set(key, std::move(v));
    }
    g.config_json = std::move(json);
    if (const GroupConfig* other = lib_.FindGroup(g.group)) {
      return absl::InvalidArgumentError(absl::StrCat(
          g.origin.ToString(), ": group '", g.group,
          "' is defined twice (also at ", other->origin.ToString(), ")"));
    }
    if (const TaskConfig* other = lib_.FindTask(g.group)) {
      return absl::InvalidArgumentError(absl::StrCat(
          g.origin.ToString(), ": group '", g.group,
          "' has the name of a task (at ", other->origin.ToString(), ")"));
    }
    std::string group_name = g.group;
    lib_.groups.push_back(std::move(g));
    return group_name;
  }

  absl::StatusOr<TaskConfig> BuildTask(const Flat& flat,
                                       const std::string& file);

  // A group file read but not yet built (see Finish).
  struct PendingGroup {
    Flat flat;
    std::string file;
    std::string name;
  };

  TaskLibrary lib_;
  std::vector<PendingGroup> pending_;
  std::set<std::string> read_;
};

absl::Status RefusePython(const Entry& e, const std::string& key) {
  return ErrorAt(e.file, e.key,
                 absl::StrCat("key '", key,
                              "' needs Python (!function), which evald does "
                              "not run"));
}

absl::Status ReadFilterList(const Entry& e, TaskConfig* c) {
  if (!e.value.IsSequence()) {
    return KeyError(e, "filter_list",
                    absl::StrCat("expected a list of {name, filter} "
                                 "mappings, got ",
                                 Describe(e.value)));
  }
  static const std::vector<std::string> kFunctions = {
      "regex",     "take_first",        "lowercase",
      "uppercase", "remove_whitespace", "majority_vote"};
  for (size_t i = 0; i < e.value.size(); ++i) {
    const YAML::Node item = e.value[i];
    const std::string where = absl::StrCat("filter_list[", i, "]");
    RETURN_IF_ERROR(NeedsMap(item, e.file, where));
    RETURN_IF_ERROR(CheckMapKeys(item, e.file, where, {"name", "filter"}));
    FilterPipeline p;
    p.origin = OriginOf(e.file, item);
    if (!item["name"].IsDefined()) {
      return ErrorAt(e.file, item,
                     absl::StrCat("key '", where, "': needs `name:`"));
    }
    ASSIGN_OR_RETURN(p.name, ReadString(item["name"], e.file, where + ".name"));
    const YAML::Node steps = item["filter"];
    if (!steps.IsDefined() || !steps.IsSequence()) {
      return ErrorAt(e.file, steps.IsDefined() ? steps : item,
                     absl::StrCat("key '", where,
                                  ".filter': expected a list of "
                                  "{function: ...} steps"));
    }
    for (size_t j = 0; j < steps.size(); ++j) {
      const YAML::Node s = steps[j];
      const std::string sw = absl::StrCat(where, ".filter[", j, "]");
      RETURN_IF_ERROR(NeedsMap(s, e.file, sw));
      FilterStep step;
      step.origin = OriginOf(e.file, s);
      if (!s["function"].IsDefined()) {
        return ErrorAt(e.file, s,
                       absl::StrCat("key '", sw, "': needs `function:`"));
      }
      ASSIGN_OR_RETURN(step.function,
                       ReadString(s["function"], e.file, sw + ".function"));
      if (std::find(kFunctions.begin(), kFunctions.end(), step.function) ==
          kFunctions.end()) {
        return ErrorAt(e.file, s["function"],
                       absl::StrCat("key '", sw, ".function': '", step.function,
                                    "' is not a filter evald runs (",
                                    absl::StrJoin(kFunctions, ", "), ")",
                                    Suggest(step.function, kFunctions)));
      }
      RETURN_IF_ERROR(CheckMapKeys(
          s, e.file, sw,
          {"function", "regex_pattern", "group_select", "fallback"}));
      const bool is_regex = step.function == "regex";
      for (const char* k : {"regex_pattern", "group_select", "fallback"}) {
        if (s[k].IsDefined() && !is_regex) {
          return ErrorAt(e.file, s[k],
                         absl::StrCat("key '", sw, ".", k,
                                      "' belongs to function 'regex' only"));
        }
      }
      if (s["regex_pattern"].IsDefined()) {
        ASSIGN_OR_RETURN(
            step.regex_pattern,
            ReadString(s["regex_pattern"], e.file, sw + ".regex_pattern"));
      }
      if (s["group_select"].IsDefined()) {
        ASSIGN_OR_RETURN(
            int64_t gs, ReadInt(s["group_select"], e.file, sw + ".group_select",
                                -1000, 1000));
        step.group_select = static_cast<int>(gs);
      }
      if (s["fallback"].IsDefined()) {
        ASSIGN_OR_RETURN(step.fallback,
                         ReadString(s["fallback"], e.file, sw + ".fallback"));
      }
      p.steps.push_back(std::move(step));
    }
    c->filter_list.push_back(std::move(p));
  }
  return absl::OkStatus();
}

absl::Status ReadMetricList(const Entry& e, TaskConfig* c) {
  if (!e.value.IsSequence()) {
    return KeyError(e, "metric_list",
                    absl::StrCat("expected a list of {metric: ...} "
                                 "mappings, got ",
                                 Describe(e.value)));
  }
  static const std::vector<std::string> kMetrics = {
      "acc",        "acc_norm",        "acc_mutual_info", "exact_match",
      "perplexity", "word_perplexity", "byte_perplexity", "bits_per_byte"};
  static const std::vector<std::string> kAggregations = {
      "mean", "perplexity", "weighted_perplexity", "bits_per_byte"};
  for (size_t i = 0; i < e.value.size(); ++i) {
    const YAML::Node item = e.value[i];
    const std::string where = absl::StrCat("metric_list[", i, "]");
    RETURN_IF_ERROR(NeedsMap(item, e.file, where));
    MetricConfig m;
    m.origin = OriginOf(e.file, item);
    if (!item["metric"].IsDefined()) {
      return ErrorAt(e.file, item,
                     absl::StrCat("key '", where, "': needs `metric:`"));
    }
    ASSIGN_OR_RETURN(m.metric,
                     ReadString(item["metric"], e.file, where + ".metric"));
    if (std::find(kMetrics.begin(), kMetrics.end(), m.metric) ==
        kMetrics.end()) {
      return ErrorAt(e.file, item["metric"],
                     absl::StrCat("key '", where, ".metric': '", m.metric,
                                  "' is not a metric evald computes (",
                                  absl::StrJoin(kMetrics, ", "), ")",
                                  Suggest(m.metric, kMetrics)));
    }
    RETURN_IF_ERROR(CheckMapKeys(
        item, e.file, where,
        {"metric", "aggregation", "higher_is_better", "ignore_case",
         "ignore_punctuation", "regexes_to_ignore"}));
    if (const YAML::Node a = item["aggregation"]; a.IsDefined()) {
      ASSIGN_OR_RETURN(m.aggregation,
                       ReadString(a, e.file, where + ".aggregation"));
      if (std::find(kAggregations.begin(), kAggregations.end(),
                    m.aggregation) == kAggregations.end()) {
        return ErrorAt(
            e.file, a,
            absl::StrCat("key '", where, ".aggregation': '", m.aggregation,
                         "' is not an aggregation evald computes (",
                         absl::StrJoin(kAggregations, ", "), ")",
                         Suggest(m.aggregation, kAggregations)));
      }
    }
    if (const YAML::Node h = item["higher_is_better"]; h.IsDefined()) {
      ASSIGN_OR_RETURN(bool b,
                       ReadBool(h, e.file, where + ".higher_is_better"));
      m.higher_is_better = b;
    }
    if (const YAML::Node v = item["ignore_case"]; v.IsDefined()) {
      ASSIGN_OR_RETURN(m.ignore_case,
                       ReadBool(v, e.file, where + ".ignore_case"));
    }
    if (const YAML::Node v = item["ignore_punctuation"]; v.IsDefined()) {
      ASSIGN_OR_RETURN(m.ignore_punctuation,
                       ReadBool(v, e.file, where + ".ignore_punctuation"));
    }
    if (const YAML::Node v = item["regexes_to_ignore"]; v.IsDefined()) {
      ASSIGN_OR_RETURN(
          m.regexes_to_ignore,
          ReadStringOrList(v, e.file, where + ".regexes_to_ignore"));
    }
    const bool exact = m.metric == "exact_match";
    for (const char* k :
         {"ignore_case", "ignore_punctuation", "regexes_to_ignore"}) {
      if (item[k].IsDefined() && !exact) {
        return ErrorAt(e.file, item[k],
                       absl::StrCat("key '", where, ".", k,
                                    "' belongs to metric 'exact_match' "
                                    "only"));
      }
    }
    c->metric_list.push_back(std::move(m));
  }
  return absl::OkStatus();
}

absl::Status ReadGenerationKwargs(const Entry& e, TaskConfig* c) {
  RETURN_IF_ERROR(NeedsMap(e.value, e.file, "generation_kwargs"));
  RETURN_IF_ERROR(CheckMapKeys(
      e.value, e.file, "generation_kwargs",
      {"until", "max_gen_toks", "do_sample", "temperature", "top_p", "top_k"}));
  GenerationKwargs& g = c->generation_kwargs;
  g.origin = OriginOf(e.file, e.value);
  const YAML::Node& m = e.value;
  if (m["until"].IsDefined() && !IsYamlNull(m["until"])) {
    ASSIGN_OR_RETURN(g.until, ReadStringOrList(m["until"], e.file,
                                               "generation_kwargs.until"));
    g.until_set = true;
  }
  if (m["max_gen_toks"].IsDefined()) {
    ASSIGN_OR_RETURN(int64_t n,
                     ReadInt(m["max_gen_toks"], e.file,
                             "generation_kwargs.max_gen_toks", 1, 1 << 20));
    g.max_gen_toks = static_cast<int>(n);
  }
  if (m["do_sample"].IsDefined()) {
    ASSIGN_OR_RETURN(g.do_sample, ReadBool(m["do_sample"], e.file,
                                           "generation_kwargs.do_sample"));
  }
  if (m["temperature"].IsDefined()) {
    ASSIGN_OR_RETURN(
        g.temperature,
        ReadNumber(m["temperature"], e.file, "generation_kwargs.temperature"));
  }
  if (m["top_p"].IsDefined()) {
    ASSIGN_OR_RETURN(double p,
                     ReadNumber(m["top_p"], e.file, "generation_kwargs.top_p"));
    g.top_p = p;
  }
  if (m["top_k"].IsDefined()) {
    ASSIGN_OR_RETURN(int64_t k, ReadInt(m["top_k"], e.file,
                                        "generation_kwargs.top_k", 0, 1 << 24));
    g.top_k = static_cast<int>(k);
  }
  return absl::OkStatus();
}

absl::Status ReadFewshotConfig(const Entry& e, TaskConfig* c) {
  RETURN_IF_ERROR(NeedsMap(e.value, e.file, "fewshot_config"));
  static const std::vector<std::string> kKeys = {
      "sampler",           "split",           "process_docs",
      "fewshot_indices",   "samples",         "doc_to_text",
      "doc_to_choice",     "doc_to_target",   "gen_prefix",
      "fewshot_delimiter", "target_delimiter"};
  RETURN_IF_ERROR(CheckMapKeys(e.value, e.file, "fewshot_config", kKeys));
  FewshotConfig& f = c->fewshot_config;
  f.origin = OriginOf(e.file, e.value);
  for (auto it = e.value.begin(); it != e.value.end(); ++it) {
    const std::string key = it->first.Scalar();
    const YAML::Node v = it->second;
    const std::string where = "fewshot_config." + key;
    if (IsYamlNull(v)) continue;
    if (key == "process_docs") {
      return ErrorAt(e.file, it->first,
                     absl::StrCat("key '", where,
                                  "' needs Python (!function), which evald "
                                  "does not run"));
    }
    if (key == "fewshot_indices") {
      return ErrorAt(e.file, it->first,
                     absl::StrCat("key '", where,
                                  "' is not supported by evald (use `split` "
                                  "or inline `samples`)"));
    }
    if (key == "sampler") {
      ASSIGN_OR_RETURN(f.sampler, ReadString(v, e.file, where));
      if (f.sampler != "default" && f.sampler != "first_n") {
        return ErrorAt(e.file, v,
                       absl::StrCat("key '", where, "': '", f.sampler,
                                    "' is not a sampler evald runs (default, "
                                    "first_n)"));
      }
    } else if (key == "split") {
      ASSIGN_OR_RETURN(f.split, ReadString(v, e.file, where));
    } else if (key == "samples") {
      if (!v.IsSequence()) {
        return ErrorAt(e.file, v,
                       absl::StrCat("key '", where,
                                    "': expected a list of documents "
                                    "(mappings), got ",
                                    Describe(v)));
      }
      for (size_t i = 0; i < v.size(); ++i) {
        if (!v[i].IsMap()) {
          return ErrorAt(e.file, v[i],
                         absl::StrCat("key '", where, "[", i,
                                      "]': expected a document (a mapping), "
                                      "got ",
                                      Describe(v[i])));
        }
        ASSIGN_OR_RETURN(base::Json doc, YamlToJson(v[i], e.file));
        f.samples.push_back(std::move(doc));
      }
    } else if (key == "doc_to_text") {
      ASSIGN_OR_RETURN(f.doc_to_text, ReadDocField(v, e.file, where, false,
                                                   /*allow_int=*/true));
    } else if (key == "doc_to_target") {
      ASSIGN_OR_RETURN(f.doc_to_target,
                       ReadDocField(v, e.file, where, true, true));
    } else if (key == "doc_to_choice") {
      ASSIGN_OR_RETURN(f.doc_to_choice,
                       ReadDocField(v, e.file, where, true, false));
    } else if (key == "gen_prefix") {
      ASSIGN_OR_RETURN(std::string s, ReadString(v, e.file, where));
      f.gen_prefix = s;
    } else if (key == "fewshot_delimiter") {
      ASSIGN_OR_RETURN(std::string s, ReadString(v, e.file, where));
      f.fewshot_delimiter = s;
    } else if (key == "target_delimiter") {
      ASSIGN_OR_RETURN(std::string s, ReadString(v, e.file, where));
      f.target_delimiter = s;
    }
  }
  return absl::OkStatus();
}

absl::Status ReadDataset(const Entry* kwargs, TaskConfig* c) {
  if (kwargs == nullptr || IsYamlNull(kwargs->value)) return absl::OkStatus();
  RETURN_IF_ERROR(NeedsMap(kwargs->value, kwargs->file, "dataset_kwargs"));
  const YAML::Node files = kwargs->value["data_files"];
  if (!files.IsDefined() || IsYamlNull(files)) return absl::OkStatus();
  const std::string where = "dataset_kwargs.data_files";
  if (files.IsScalar() || files.IsSequence()) {
    // Hugging Face `datasets`: files without a split are the train split.
    ASSIGN_OR_RETURN(std::vector<std::string> list,
                     ReadStringOrList(files, kwargs->file, where));
    c->data_files.emplace_back("train", std::move(list));
    return absl::OkStatus();
  }
  for (auto it = files.begin(); it != files.end(); ++it) {
    const std::string split = it->first.Scalar();
    ASSIGN_OR_RETURN(
        std::vector<std::string> list,
        ReadStringOrList(it->second, kwargs->file, where + "." + split));
    if (list.empty()) {
      return ErrorAt(
          kwargs->file, it->second,
          absl::StrCat("key '", where, ".", split, "': names no file"));
    }
    c->data_files.emplace_back(split, std::move(list));
  }
  return absl::OkStatus();
}

// The merged config as lm-eval's TaskConfig.to_dict() prints it: every
// field in dataclass order, None dropped; generation_kwargs and
// fewshot_config completed as TaskConfig.__post_init__ completes them.
absl::StatusOr<base::Json> ConfigJson(const Flat& flat, const TaskConfig& c) {
  base::Json out = base::Json::MakeObject();
  auto value_of = [&](const std::string& key) -> absl::StatusOr<base::Json> {
    const Entry* e = FindEntry(flat, key);
    if (e == nullptr) return base::Json::Null();
    return YamlToJson(e->value, e->file);
  };
  for (const std::string& key : TaskKeys()) {
    // lm-eval drops `tag` before it builds the task.
    if (key == "tag") continue;
    ASSIGN_OR_RETURN(base::Json v, value_of(key));
    if (key == "metadata") {
      // lm-eval's loader adds where the task came from (an inline task of a
      // group file gets none).
      if (!v.is_object()) v = base::Json::MakeObject();
      if (!c.file.empty()) {
        std::error_code ec;
        const fs::path source = fs::absolute(c.file, ec);
        v.Set("config_source",
              base::Json::String(ec ? c.file
                                    : source.lexically_normal().string()));
      }
    } else if (key == "unsafe_code" || key == "should_decontaminate") {
      if (v.is_null()) v = base::Json::Bool(false);
    } else if (key == "description") {
      if (v.is_null()) v = base::Json::String("");
    } else if (key == "target_delimiter") {
      if (v.is_null()) v = base::Json::String(" ");
    } else if (key == "fewshot_delimiter") {
      if (v.is_null()) v = base::Json::String("\n\n");
    } else if (key == "output_type") {
      if (v.is_null()) v = base::Json::String("generate_until");
    } else if (key == "repeats") {
      if (v.is_null()) v = base::Json::Int(1);
    } else if (key == "generation_kwargs") {
      if (v.is_object()) {
        if (const base::Json* t = v.Find("temperature");
            t != nullptr && t->is_number()) {
          v.Set("temperature", base::Json::Double(t->number_value()));
        }
        if (v.Find("until") == nullptr) {
          base::Json until = base::Json::MakeArray();
          until.Push(base::Json::String(c.fewshot_delimiter));
          v.Set("until", std::move(until));
        }
      } else if (v.is_null() && c.output_type == "generate_until") {
        v = base::Json::MakeObject();
        v.Set("temperature", base::Json::Double(0.0));
        v.Set("do_sample", base::Json::Bool(false));
        v.Set("max_gen_toks", base::Json::Int(256));
        base::Json until = base::Json::MakeArray();
        until.Push(base::Json::String(c.fewshot_delimiter));
        v.Set("until", std::move(until));
      }
    } else if (key == "fewshot_config") {
      // FewshotConfig.from_dict: the task's values, then the written ones.
      base::Json fc = base::Json::MakeObject();
      auto inherit = [&](const std::string& name,
                         const std::string& from) -> absl::Status {
        ASSIGN_OR_RETURN(base::Json inherited, value_of(from));
        if (name == "fewshot_delimiter" && inherited.is_null()) {
          inherited = base::Json::String("\n\n");
        }
        if (name == "target_delimiter" && inherited.is_null()) {
          inherited = base::Json::String(" ");
        }
        if (v.is_object()) {
          if (const base::Json* w = v.Find(name)) inherited = *w;
        }
        fc.Set(name, std::move(inherited));
        return absl::OkStatus();
      };
      base::Json sampler = base::Json::String("default");
      if (v.is_object()) {
        if (const base::Json* s = v.Find("sampler"); s && !s->is_null()) {
          sampler = *s;
        }
      }
      fc.Set("sampler", std::move(sampler));
      RETURN_IF_ERROR(inherit("split", "fewshot_split"));
      fc.Set("process_docs", base::Json::Null());
      fc.Set("fewshot_indices", base::Json::Null());
      base::Json samples;
      if (v.is_object()) {
        if (const base::Json* s = v.Find("samples")) samples = *s;
      }
      fc.Set("samples", std::move(samples));
      RETURN_IF_ERROR(inherit("doc_to_text", "doc_to_text"));
      RETURN_IF_ERROR(inherit("doc_to_choice", "doc_to_choice"));
      RETURN_IF_ERROR(inherit("doc_to_target", "doc_to_target"));
      RETURN_IF_ERROR(inherit("gen_prefix", "gen_prefix"));
      RETURN_IF_ERROR(inherit("fewshot_delimiter", "fewshot_delimiter"));
      RETURN_IF_ERROR(inherit("target_delimiter", "target_delimiter"));
      v = std::move(fc);
    }
    if (!v.is_null()) out.Set(key, std::move(v));
  }
  return out;
}

absl::StatusOr<TaskConfig> Loader::BuildTask(const Flat& flat,
                                             const std::string& file) {
  TaskConfig c;
  c.file = file;
  static const std::set<std::string> kPython = {
      "process_docs", "process_results", "custom_dataset", "class"};
  for (const auto& [key, e] : flat) {
    if (kPython.count(key)) return RefusePython(e, key);
    if (key == "doc_to_image" || key == "doc_to_audio") {
      return ErrorAt(e.file, e.key,
                     absl::StrCat("key '", key,
                                  "' (images and audio) is not supported by "
                                  "evald"));
    }
    if (key == "use_prompt") {
      return ErrorAt(e.file, e.key,
                     "key 'use_prompt' needs promptsource (Python), which "
                     "evald does not run");
    }
    if (key == "task_list") {
      return ErrorAt(e.file, e.key,
                     "key 'task_list' is not supported by evald: write one "
                     "file per task (with `include:` for what they share)");
    }
    if (key == "group") {
      return ErrorAt(e.file, e.key,
                     "key 'group' in a task file: write the group in its own "
                     "file (`group:` and `task: [...]`), or use `tag:`");
    }
    if (std::find(TaskKeys().begin(), TaskKeys().end(), key) ==
        TaskKeys().end()) {
      return ErrorAt(e.file, e.key,
                     absl::StrCat("key '", key, "' is not an lm-eval task key",
                                  Suggest(key, TaskKeys())));
    }
  }
  const Entry* task = FindEntry(flat, "task");
  ASSIGN_OR_RETURN(c.task, ReadString(task->value, task->file, "task"));
  c.origin = OriginOf(task->file, task->key);
  if (c.task.empty()) return KeyError(*task, "task", "is empty");

  for (const auto& [key, e] : flat) {
    const YAML::Node& v = e.value;
    if (IsYamlNull(v)) continue;
    const std::string& f = e.file;
    if (key == "tag") {
      ASSIGN_OR_RETURN(c.tags, ReadStringOrList(v, f, key));
    } else if (key == "task_alias" || key == "doc_to_decontamination_query") {
      RETURN_IF_ERROR(ReadString(v, f, key).status());
    } else if (key == "dataset_path") {
      ASSIGN_OR_RETURN(c.dataset_path, ReadString(v, f, key));
      c.dataset_path_dir = fs::path(f).parent_path().string();
    } else if (key == "dataset_name") {
      ASSIGN_OR_RETURN(c.dataset_name, ReadString(v, f, key));
    } else if (key == "dataset_kwargs") {
      RETURN_IF_ERROR(ReadDataset(&e, &c));
      c.data_files_dir = fs::path(f).parent_path().string();
    } else if (key == "training_split") {
      ASSIGN_OR_RETURN(c.training_split, ReadString(v, f, key));
    } else if (key == "validation_split") {
      ASSIGN_OR_RETURN(c.validation_split, ReadString(v, f, key));
    } else if (key == "test_split") {
      ASSIGN_OR_RETURN(c.test_split, ReadString(v, f, key));
    } else if (key == "fewshot_split") {
      ASSIGN_OR_RETURN(c.fewshot_split, ReadString(v, f, key));
    } else if (key == "output_type") {
      ASSIGN_OR_RETURN(c.output_type, ReadString(v, f, key));
      static const std::vector<std::string> kTypes = {
          "multiple_choice", "generate_until", "loglikelihood",
          "loglikelihood_rolling"};
      if (std::find(kTypes.begin(), kTypes.end(), c.output_type) ==
          kTypes.end()) {
        return KeyError(
            e, key,
            absl::StrCat("'", c.output_type, "' is not an output type (",
                         absl::StrJoin(kTypes, ", "), ")",
                         Suggest(c.output_type, kTypes)));
      }
    } else if (key == "doc_to_text") {
      ASSIGN_OR_RETURN(c.doc_to_text, ReadDocField(v, f, key, false, true));
    } else if (key == "doc_to_target") {
      ASSIGN_OR_RETURN(c.doc_to_target, ReadDocField(v, f, key, true, true));
    } else if (key == "doc_to_choice") {
      ASSIGN_OR_RETURN(c.doc_to_choice, ReadDocField(v, f, key, true, false));
    } else if (key == "description") {
      ASSIGN_OR_RETURN(c.description, ReadDocField(v, f, key, false, false));
    } else if (key == "target_delimiter") {
      ASSIGN_OR_RETURN(c.target_delimiter, ReadString(v, f, key));
    } else if (key == "fewshot_delimiter") {
      ASSIGN_OR_RETURN(c.fewshot_delimiter, ReadString(v, f, key));
    } else if (key == "gen_prefix") {
      ASSIGN_OR_RETURN(c.gen_prefix, ReadString(v, f, key));
    } else if (key == "num_fewshot") {
      ASSIGN_OR_RETURN(int64_t n, ReadInt(v, f, key, 0, 100000));
      c.num_fewshot = static_cast<int>(n);
    } else if (key == "repeats") {
      ASSIGN_OR_RETURN(int64_t n, ReadInt(v, f, key, 1, 1000));
      c.repeats = static_cast<int>(n);
    } else if (key == "unsafe_code" || key == "should_decontaminate") {
      RETURN_IF_ERROR(ReadBool(v, f, key).status());
    } else if (key == "fewshot_config") {
      RETURN_IF_ERROR(ReadFewshotConfig(e, &c));
    } else if (key == "generation_kwargs") {
      RETURN_IF_ERROR(ReadGenerationKwargs(e, &c));
    } else if (key == "filter_list") {
      RETURN_IF_ERROR(ReadFilterList(e, &c));
    } else if (key == "metric_list") {
      RETURN_IF_ERROR(ReadMetricList(e, &c));
    } else if (key == "metadata") {
      RETURN_IF_ERROR(NeedsMap(v, f, key));
      if (const YAML::Node ver = v["version"]; ver.IsDefined()) {
        ASSIGN_OR_RETURN(c.version, ReadString(ver, f, "metadata.version"));
      }
    }
  }
  if (!c.generation_kwargs.until_set) {
    // lm-eval's default: stop at the few-shot delimiter.
    c.generation_kwargs.until = {c.fewshot_delimiter};
  }
  if (c.output_type == "multiple_choice" && !c.doc_to_choice.set()) {
    const Entry& e = *task;
    return ErrorAt(e.file, e.key,
                   absl::StrCat("task '", c.task,
                                "': output_type multiple_choice needs "
                                "`doc_to_choice`"));
  }
  if (c.dataset_path.empty() && c.data_files.empty()) {
    return ErrorAt(task->file, task->key,
                   absl::StrCat("task '", c.task,
                                "' names no data (`dataset_path:` or "
                                "`dataset_kwargs: {data_files: ...}`)"));
  }
  if (c.test_split.empty() && c.validation_split.empty()) {
    return ErrorAt(task->file, task->key,
                   absl::StrCat("task '", c.task,
                                "' names neither `test_split` nor "
                                "`validation_split`"));
  }
  ASSIGN_OR_RETURN(c.config_json, ConfigJson(flat, c));
  return c;
}

absl::StatusOr<TaskLibrary> Load(
    const std::function<absl::Status(Loader*, std::string*)>& add,
    const std::string& path) {
  Loader loader;
  std::string primary;
  try {
    RETURN_IF_ERROR(add(&loader, &primary));
    if (loader.HasUnresolvedMembers()) {
      // A lone group file: its members are defined beside it.
      std::error_code ec;
      const fs::path dir = fs::path(path).parent_path();
      if (!fs::is_directory(path, ec) &&
          fs::is_directory(dir.empty() ? fs::path(".") : dir, ec)) {
        RETURN_IF_ERROR(
            loader.AddFolder(dir.empty() ? std::string(".") : dir.string()));
      }
    }
    RETURN_IF_ERROR(loader.Finish());
  } catch (const YAML::Exception& e) {
    // yaml-cpp throws on some malformed accesses; keep it in this module.
    return absl::InvalidArgumentError(
        e.mark.is_null() ? absl::StrCat(path, ": ", e.msg)
                         : absl::StrCat(path, ":", e.mark.line + 1, ":",
                                        e.mark.column + 1, ": ", e.msg));
  } catch (const std::filesystem::filesystem_error& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", e.what()));
  }
  TaskLibrary lib = loader.Take();
  lib.primary = primary;
  if (lib.tasks.empty() && lib.groups.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": defines no lm-eval task or group"));
  }
  return lib;
}

absl::StatusOr<TaskLibrary> LoadOneLine(
    const std::function<absl::Status(Loader*, std::string*)>& add,
    const std::string& path) {
  absl::StatusOr<TaskLibrary> lib = Load(add, path);
  if (!lib.ok()) return OneLine(lib.status());
  return lib;
}

}  // namespace

std::string Origin::ToString() const {
  std::string s = file;
  if (line > 0) absl::StrAppend(&s, ":", line);
  if (line > 0 && column > 0) absl::StrAppend(&s, ":", column);
  return s;
}

const TaskConfig* TaskLibrary::FindTask(const std::string& name) const {
  for (const TaskConfig& t : tasks) {
    if (t.task == name) return &t;
  }
  return nullptr;
}

const GroupConfig* TaskLibrary::FindGroup(const std::string& name) const {
  for (const GroupConfig& g : groups) {
    if (g.group == name) return &g;
  }
  return nullptr;
}

namespace {

absl::Status ResolveInto(const TaskLibrary& lib, const std::string& name,
                         int depth, std::vector<std::string>* seen_groups,
                         std::vector<const TaskConfig*>* out) {
  auto add = [&](const TaskConfig* t) {
    if (std::find(out->begin(), out->end(), t) == out->end()) out->push_back(t);
  };
  if (const TaskConfig* t = lib.FindTask(name)) {
    add(t);
    return absl::OkStatus();
  }
  if (const GroupConfig* g = lib.FindGroup(name)) {
    if (depth > kMaxGroupDepth ||
        std::find(seen_groups->begin(), seen_groups->end(), name) !=
            seen_groups->end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          g->origin.ToString(), ": group '", name, "' contains itself"));
    }
    seen_groups->push_back(name);
    for (const std::string& m : g->members) {
      RETURN_IF_ERROR(ResolveInto(lib, m, depth + 1, seen_groups, out));
    }
    seen_groups->pop_back();
    return absl::OkStatus();
  }
  // A tag stands for its tasks in order of name (lm-eval's sorted()).
  std::vector<const TaskConfig*> tagged;
  for (const TaskConfig& t : lib.tasks) {
    if (std::find(t.tags.begin(), t.tags.end(), name) != t.tags.end()) {
      tagged.push_back(&t);
    }
  }
  std::sort(tagged.begin(), tagged.end(),
            [](const TaskConfig* a, const TaskConfig* b) {
              return a->task < b->task;
            });
  for (const TaskConfig* t : tagged) add(t);
  if (!tagged.empty()) return absl::OkStatus();
  std::vector<std::string> names;
  for (const GroupConfig& g : lib.groups) names.push_back(g.group);
  for (const TaskConfig& t : lib.tasks) names.push_back(t.task);
  std::vector<std::string> shown(
      names.begin(), names.begin() + std::min<size_t>(names.size(), 20));
  return absl::NotFoundError(absl::StrCat(
      "no lm-eval task, group or tag '", name,
      "' (known: ", absl::StrJoin(shown, ", "),
      names.size() > shown.size() ? ", ..." : "", ")", Suggest(name, names)));
}

}  // namespace

absl::StatusOr<std::vector<const TaskConfig*>> TaskLibrary::Resolve(
    const std::string& name) const {
  std::vector<const TaskConfig*> out;
  std::vector<std::string> seen;
  RETURN_IF_ERROR(OneLine(ResolveInto(*this, name, 0, &seen, &out)));
  if (out.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("lm-eval group '", name, "' holds no task"));
  }
  return out;
}

absl::StatusOr<std::string> TaskLibrary::DefaultName() const {
  if (!primary.empty()) return primary;
  std::vector<std::string> top;
  for (const GroupConfig& g : groups) {
    bool listed = false;
    for (const GroupConfig& other : groups) {
      listed = listed || std::find(other.members.begin(), other.members.end(),
                                   g.group) != other.members.end();
    }
    if (!listed) top.push_back(g.group);
  }
  if (top.size() == 1) return top[0];
  if (groups.empty() && tasks.size() == 1) return tasks[0].task;
  std::vector<std::string> candidates = top;
  if (groups.empty()) {
    for (const TaskConfig& t : tasks) candidates.push_back(t.task);
  }
  if (candidates.size() > 20) candidates.resize(20);
  return OneLine(absl::InvalidArgumentError(
      absl::StrCat("more than one lm-eval task or group here; name one "
                   "(`name:` in the suite, --name on the command line): ",
                   absl::StrJoin(candidates, ", "))));
}

absl::StatusOr<TaskLibrary> LoadTaskLibrary(const std::string& path) {
  return LoadOneLine(
      [&](Loader* loader, std::string* primary) {
        return loader->AddPath(path, primary);
      },
      path);
}

absl::StatusOr<TaskLibrary> LoadTaskLibraryFromText(
    absl::string_view text, const std::string& display_path) {
  return LoadOneLine(
      [&](Loader* loader, std::string* primary) {
        return loader->AddText(text, display_path, primary);
      },
      display_path);
}

}  // namespace evald::tasks::lm_eval
