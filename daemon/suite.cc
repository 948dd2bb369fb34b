#include "daemon/suite.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file.h"
#include "base/status_macros.h"
#include "base/utf8.h"
#include "tasks/lm_eval/config.h"

namespace evald::daemon {
namespace {

namespace fs = std::filesystem;

// One `--set` override: where it points and what the user typed.
struct Override {
  std::string field;  // e.g. "tasks[0].limit"
  std::string text;   // e.g. "tasks[0].limit=5"
};

// One step of a field path: a map key or a list index.
struct PathStep {
  std::string key;
  bool is_index = false;
  size_t index = 0;
};

absl::StatusOr<std::vector<PathStep>> ParseFieldPath(absl::string_view path,
                                                     absl::string_view text) {
  std::vector<PathStep> steps;
  size_t i = 0;
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("--set ", text, ": ", why,
                     " (expected a field path such as "
                     "'candidate.model' or 'tasks[0].limit')"));
  };
  while (i < path.size()) {
    if (path[i] == '[') {
      size_t close = path.find(']', i);
      if (close == absl::string_view::npos) return bad("unclosed '['");
      size_t index = 0;
      if (!absl::SimpleAtoi(path.substr(i + 1, close - i - 1), &index)) {
        return bad("list index is not a number");
      }
      steps.push_back(PathStep{.key = "", .is_index = true, .index = index});
      i = close + 1;
      if (i < path.size() && path[i] == '.') ++i;
      continue;
    }
    size_t end = path.find_first_of(".[", i);
    if (end == absl::string_view::npos) end = path.size();
    if (end == i) return bad("empty field name");
    steps.push_back(PathStep{.key = std::string(path.substr(i, end - i))});
    i = end;
    if (i < path.size() && path[i] == '.') {
      ++i;
      if (i == path.size()) return bad("trailing '.'");
    }
  }
  if (steps.empty()) return bad("empty field path");
  return steps;
}

absl::Status ApplyOverride(YAML::Node& root, const Override& ov,
                           absl::string_view value) {
  ASSIGN_OR_RETURN(std::vector<PathStep> steps,
                   ParseFieldPath(ov.field, ov.text));
  YAML::Node parsed;
  try {
    parsed = value.empty() ? YAML::Node(std::string())
                           : YAML::Load(std::string(value));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("--set ", ov.text, ": invalid value: ", e.msg));
  }
  if (!root.IsDefined() || root.IsNull())
    root = YAML::Node(YAML::NodeType::Map);
  YAML::Node cur;
  cur.reset(root);
  std::string walked;
  for (size_t s = 0; s < steps.size(); ++s) {
    const PathStep& step = steps[s];
    const bool last = s + 1 == steps.size();
    if (step.is_index) {
      if (!cur.IsSequence() || step.index >= cur.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--set ", ov.text, ": field '", walked,
                         "' has no element [", step.index, "]"));
      }
      if (last) {
        cur[step.index] = parsed;
        return absl::OkStatus();
      }
      YAML::Node next;
      next.reset(cur[step.index]);
      cur.reset(next);
      absl::StrAppend(&walked, "[", step.index, "]");
      continue;
    }
    if (cur.IsScalar() && absl::StartsWith(walked, "tasks[")) {
      // "- mmlu" is short for "- name: mmlu"; expand it so fields can be set.
      YAML::Node expanded(YAML::NodeType::Map);
      expanded["name"] = cur.Scalar();
      cur = expanded;
    }
    if (cur.IsDefined() && !cur.IsNull() && !cur.IsMap()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--set ", ov.text, ": field '", walked, "' is not a mapping"));
    }
    if (last) {
      cur[step.key] = parsed;
      return absl::OkStatus();
    }
    if (!cur[step.key] || cur[step.key].IsNull()) {
      cur[step.key] = YAML::Node(YAML::NodeType::Map);
    }
    YAML::Node next;
    next.reset(cur[step.key]);
    cur.reset(next);
    absl::StrAppend(&walked, walked.empty() ? "" : ".", step.key);
  }
  return absl::OkStatus();
}

std::string Describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return absl::StrCat("'", node.Scalar(), "'");
}

std::string ResolvePath(const std::string& base_dir, const std::string& p) {
  fs::path path(p);
  if (path.is_relative()) {
    fs::path base = base_dir.empty() ? fs::current_path() : fs::path(base_dir);
    if (base.is_relative()) base = fs::current_path() / base;
    path = base / path;
  }
  return path.lexically_normal().string();
}

// Validates a parsed document against schema v1 and fills a RunSpec.
class SuiteParser {
 public:
  SuiteParser(const SuiteSource& source, std::vector<Override> overrides)
      : source_(source), overrides_(std::move(overrides)) {}

  absl::StatusOr<v1::RunSpec> Parse(const YAML::Node& root) {
    v1::RunSpec spec;
    if (!root.IsDefined() || root.IsNull()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_.display_name,
                       ": the suite is empty (expected a mapping with "
                       "'name', 'candidate' and 'tasks')"));
    }
    if (!root.IsMap())
      return Error(root, "", "expected a mapping, got " + Describe(root));
    RETURN_IF_ERROR(CheckKeys(root, "",
                              {"version", "name", "candidate", "judge", "tasks",
                               "seed", "limit", "pin", "labels", "cluster"}));
    if (root["version"]) {
      ASSIGN_OR_RETURN(int64_t version, Int(root["version"], "version"));
      if (version != 1) {
        return Error(root["version"], "version",
                     absl::StrCat("unsupported schema version ", version,
                                  " (this evald reads 1)"));
      }
    }
    ASSIGN_OR_RETURN(*spec.mutable_name(), RequiredString(root, "name", ""));
    if (spec.name().empty())
      return Error(root["name"], "name", "must not be empty");
    if (!root["candidate"])
      return Error(root, "candidate", "required field is missing");
    RETURN_IF_ERROR(
        ParseModel(root["candidate"], "candidate", spec.mutable_candidate()));
    if (root["judge"] && !root["judge"].IsNull()) {
      RETURN_IF_ERROR(ParseModel(root["judge"], "judge", spec.mutable_judge()));
    }
    spec.set_seed(1234);
    if (root["seed"]) {
      ASSIGN_OR_RETURN(int64_t seed, Int(root["seed"], "seed"));
      if (seed < 0) return Error(root["seed"], "seed", "must not be negative");
      spec.set_seed(static_cast<uint64_t>(seed));
    }
    if (root["limit"]) {
      ASSIGN_OR_RETURN(int64_t limit, Int(root["limit"], "limit"));
      if (limit < 0)
        return Error(root["limit"], "limit", "must not be negative");
      spec.set_limit(limit);
    }
    const YAML::Node tasks = root["tasks"];
    if (!tasks) return Error(root, "tasks", "required field is missing");
    if (!tasks.IsSequence()) {
      return Error(tasks, "tasks",
                   "expected a list of tasks, got " + Describe(tasks));
    }
    if (tasks.size() == 0)
      return Error(tasks, "tasks", "must list at least one task");
    for (size_t i = 0; i < tasks.size(); ++i) {
      RETURN_IF_ERROR(ParseTask(tasks[i], absl::StrCat("tasks[", i, "]"),
                                spec.limit(), spec.add_tasks()));
    }
    std::set<std::string> names;
    for (size_t i = 0; i < static_cast<size_t>(spec.tasks_size()); ++i) {
      const v1::TaskSpec& t = spec.tasks(static_cast<int>(i));
      // Samples and scores are stored per task name, so a name runs once.
      if (!names.insert(t.name()).second) {
        return Error(tasks[i], absl::StrCat("tasks[", i, "]"),
                     absl::StrCat("task '", t.name(), "' is listed twice"));
      }
    }
    if (root["pin"] && !root["pin"].IsNull()) {
      RETURN_IF_ERROR(ParsePin(root["pin"], spec.mutable_pin()));
    }
    if (root["labels"] && !root["labels"].IsNull()) {
      RETURN_IF_ERROR(
          StringMap(root["labels"], "labels", spec.mutable_labels()));
      for (const auto& [key, value] : spec.labels()) {
        if (key.size() > kMaxLabelKeyBytes ||
            value.size() > kMaxLabelValueBytes) {
          return Error(
              root["labels"], absl::StrCat("labels.", key.substr(0, 40)),
              absl::StrCat("label keys are at most ", kMaxLabelKeyBytes,
                           " bytes and values at most ", kMaxLabelValueBytes));
        }
      }
    }
    if (root["cluster"] && !root["cluster"].IsNull()) {
      RETURN_IF_ERROR(ParseCluster(root["cluster"], spec.mutable_cluster()));
    }
    spec.set_suite_yaml(source_.text);
    return spec;
  }

 private:
  absl::Status Error(const YAML::Node& node, absl::string_view field,
                     absl::string_view what) {
    std::string where;
    for (const Override& ov : overrides_) {
      if (!field.empty() &&
          (field == ov.field || absl::StartsWith(field, ov.field + ".") ||
           absl::StartsWith(field, ov.field + "["))) {
        where = absl::StrCat("--set ", ov.text);
      }
    }
    if (where.empty()) {
      const YAML::Mark mark =
          node.IsDefined() ? node.Mark() : YAML::Mark::null_mark();
      where = mark.is_null()
                  ? source_.display_name
                  : absl::StrCat(source_.display_name, ":", mark.line + 1, ":",
                                 mark.column + 1);
    }
    if (field.empty())
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": field '", field, "': ", what));
  }

  static std::string Join(absl::string_view prefix, absl::string_view key) {
    return prefix.empty() ? std::string(key) : absl::StrCat(prefix, ".", key);
  }

  absl::Status CheckKeys(const YAML::Node& map, absl::string_view prefix,
                         std::initializer_list<const char*> allowed) {
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (!it->first.IsScalar()) {
        return Error(it->first, prefix, "keys must be plain names");
      }
      const std::string key = it->first.Scalar();
      bool known = false;
      for (const char* a : allowed) known = known || key == a;
      if (!known) {
        return Error(it->first, Join(prefix, key),
                     absl::StrCat("unknown key (expected one of: ",
                                  absl::StrJoin(allowed, ", "), ")"));
      }
      if (!seen.insert(key).second) {
        return Error(it->first, Join(prefix, key), "key is given twice");
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> String(const YAML::Node& node,
                                     absl::string_view field) {
    if (!node.IsScalar()) {
      return Error(node, field, "expected a string, got " + Describe(node));
    }
    return node.Scalar();
  }

  absl::StatusOr<std::string> RequiredString(const YAML::Node& map,
                                             const char* key,
                                             absl::string_view prefix) {
    const YAML::Node node = map[key];
    if (!node)
      return Error(map, Join(prefix, key), "required field is missing");
    return String(node, Join(prefix, key));
  }

  absl::StatusOr<int64_t> Int(const YAML::Node& node, absl::string_view field) {
    int64_t v = 0;
    if (!node.IsScalar() || !absl::SimpleAtoi(node.Scalar(), &v)) {
      return Error(node, field, "expected an integer, got " + Describe(node));
    }
    return v;
  }

  absl::StatusOr<bool> Bool(const YAML::Node& node, absl::string_view field) {
    if (node.IsScalar()) {
      const std::string s = absl::AsciiStrToLower(node.Scalar());
      if (s == "true" || s == "yes" || s == "on") return true;
      if (s == "false" || s == "no" || s == "off") return false;
    }
    return Error(node, field, "expected true or false, got " + Describe(node));
  }

  absl::Status StringMap(const YAML::Node& node, absl::string_view field,
                         google::protobuf::Map<std::string, std::string>* out) {
    if (!node.IsMap())
      return Error(node, field, "expected a mapping, got " + Describe(node));
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar())
        return Error(it->first, field, "keys must be plain names");
      const std::string key = it->first.Scalar();
      if (!seen.insert(key).second) {
        return Error(it->first, Join(field, key), "key is given twice");
      }
      ASSIGN_OR_RETURN((*out)[key], String(it->second, Join(field, key)));
    }
    return absl::OkStatus();
  }

  absl::Status ParseModel(const YAML::Node& node, absl::string_view field,
                          v1::ModelSpec* model) {
    if (!node.IsMap()) {
      return Error(
          node, field,
          "expected a mapping with 'model' (a folder) or 'endpoint', got " +
              Describe(node));
    }
    RETURN_IF_ERROR(
        CheckKeys(node, field,
                  {"model", "endpoint", "api_key_env", "dtype", "chat_template",
                   "max_context", "max_concurrency", "timeout"}));
    if (node["endpoint"]) {
      ASSIGN_OR_RETURN(*model->mutable_endpoint(),
                       String(node["endpoint"], Join(field, "endpoint")));
      ASSIGN_OR_RETURN(*model->mutable_model(),
                       RequiredString(node, "model", field));
      if (node["api_key_env"]) {
        ASSIGN_OR_RETURN(
            *model->mutable_api_key_env(),
            String(node["api_key_env"], Join(field, "api_key_env")));
      }
      if (node["max_concurrency"]) {
        ASSIGN_OR_RETURN(int64_t n, Int(node["max_concurrency"],
                                        Join(field, "max_concurrency")));
        if (n < 1 || n > 1024) {
          return Error(node["max_concurrency"], Join(field, "max_concurrency"),
                       "must be between 1 and 1024");
        }
        model->set_max_concurrency(static_cast<int32_t>(n));
      }
      if (node["timeout"]) {
        ASSIGN_OR_RETURN(int64_t n,
                         Int(node["timeout"], Join(field, "timeout")));
        if (n < 1 || n > 86400) {
          return Error(node["timeout"], Join(field, "timeout"),
                       "must be between 1 and 86400 seconds");
        }
        model->set_timeout_s(static_cast<int32_t>(n));
      }
    } else {
      if (!node["model"]) {
        return Error(node, Join(field, "model"),
                     "required field is missing (a checkpoint folder, or "
                     "'endpoint' + 'model')");
      }
      ASSIGN_OR_RETURN(std::string dir,
                       String(node["model"], Join(field, "model")));
      if (dir.empty())
        return Error(node["model"], Join(field, "model"), "must not be empty");
      model->set_path(ResolvePath(source_.base_dir, dir));
      if (node["api_key_env"]) {
        return Error(node["api_key_env"], Join(field, "api_key_env"),
                     "only meaningful with 'endpoint'");
      }
      for (const char* key : {"max_concurrency", "timeout"}) {
        if (node[key])
          return Error(node[key], Join(field, key),
                       "only meaningful with 'endpoint'");
      }
    }
    if (node["dtype"]) {
      ASSIGN_OR_RETURN(std::string dtype,
                       String(node["dtype"], Join(field, "dtype")));
      static const char* const kDtypes[] = {"auto", "float32", "bfloat16",
                                            "float16"};
      bool ok = false;
      for (const char* d : kDtypes) ok = ok || dtype == d;
      if (!ok) {
        return Error(
            node["dtype"], Join(field, "dtype"),
            absl::StrCat(
                "expected one of auto, float32, bfloat16, float16, got '",
                dtype, "'"));
      }
      model->set_dtype(dtype);
    } else {
      model->set_dtype("auto");
    }
    if (node["chat_template"]) {
      ASSIGN_OR_RETURN(
          bool chat, Bool(node["chat_template"], Join(field, "chat_template")));
      model->set_chat_template(chat);
    }
    if (node["max_context"]) {
      ASSIGN_OR_RETURN(int64_t n,
                       Int(node["max_context"], Join(field, "max_context")));
      if (n < 0)
        return Error(node["max_context"], Join(field, "max_context"),
                     "must not be negative");
      model->set_max_context(n);
    }
    return absl::OkStatus();
  }

  absl::Status ParseTask(const YAML::Node& node, const std::string& field,
                         int64_t default_limit, v1::TaskSpec* task) {
    task->set_shots(-1);
    task->set_limit(default_limit);
    if (node.IsScalar()) {  // "- mmlu" is short for "- name: mmlu"
      task->set_name(node.Scalar());
      if (task->name().empty())
        return Error(node, Join(field, "name"), "must not be empty");
      return absl::OkStatus();
    }
    if (!node.IsMap()) {
      return Error(node, field,
                   "expected a task name or a mapping, got " + Describe(node));
    }
    RETURN_IF_ERROR(CheckKeys(node, field,
                              {"name", "yaml", "shots", "limit", "variant",
                               "data", "system_instruction", "options"}));
    if (node["yaml"]) {
      RETURN_IF_ERROR(ParseTaskFile(node, field, task));
    } else {
      ASSIGN_OR_RETURN(*task->mutable_name(),
                       RequiredString(node, "name", field));
    }
    if (task->name().empty())
      return Error(node["name"], Join(field, "name"), "must not be empty");
    if (node["shots"]) {
      ASSIGN_OR_RETURN(int64_t shots, Int(node["shots"], Join(field, "shots")));
      if (shots < 0 || shots > 1000) {
        return Error(node["shots"], Join(field, "shots"),
                     "must be between 0 and 1000");
      }
      task->set_shots(static_cast<int32_t>(shots));
    }
    if (node["limit"]) {
      ASSIGN_OR_RETURN(int64_t limit, Int(node["limit"], Join(field, "limit")));
      if (limit < 0)
        return Error(node["limit"], Join(field, "limit"),
                     "must not be negative");
      task->set_limit(limit);
    }
    if (node["variant"]) {
      ASSIGN_OR_RETURN(*task->mutable_variant(),
                       String(node["variant"], Join(field, "variant")));
    }
    if (node["data"]) {
      ASSIGN_OR_RETURN(std::string data,
                       String(node["data"], Join(field, "data")));
      if (data.empty())
        return Error(node["data"], Join(field, "data"), "must not be empty");
      task->set_data_path(ResolvePath(source_.base_dir, data));
    }
    if (node["system_instruction"]) {
      ASSIGN_OR_RETURN(*task->mutable_system_instruction(),
                       String(node["system_instruction"],
                              Join(field, "system_instruction")));
    }
    if (node["options"] && !node["options"].IsNull()) {
      RETURN_IF_ERROR(StringMap(node["options"], Join(field, "options"),
                                task->mutable_options()));
      // Options that name files resolve like `data:`.
      for (auto& [key, value] : *task->mutable_options()) {
        if ((key == "template" || key == "judge_template" ||
             absl::EndsWith(key, "_path")) &&
            !value.empty()) {
          value = ResolvePath(source_.base_dir, value);
        }
      }
    }
    return absl::OkStatus();
  }

  // `- yaml: PATH` (an lm-eval task file or folder) with an optional
  // `name:` (which task or group of it; default the one it is about). The
  // file is loaded here, so a broken one is refused at submit naming its
  // own file, line and key.
  absl::Status ParseTaskFile(const YAML::Node& node, const std::string& field,
                             v1::TaskSpec* task) {
    const std::string yaml_field = Join(field, "yaml");
    ASSIGN_OR_RETURN(std::string yaml, String(node["yaml"], yaml_field));
    if (yaml.empty())
      return Error(node["yaml"], yaml_field, "must not be empty");
    for (const char* key : {"variant", "data"}) {
      if (node[key]) {
        return Error(node[key], Join(field, key),
                     "not meaningful with 'yaml' (the task file names its "
                     "data)");
      }
    }
    task->set_task_file(ResolvePath(source_.base_dir, yaml));
    absl::StatusOr<tasks::lm_eval::TaskLibrary> library =
        tasks::lm_eval::LoadTaskLibrary(task->task_file());
    if (!library.ok()) {
      return Error(node["yaml"], yaml_field, library.status().message());
    }
    if (node["name"]) {
      ASSIGN_OR_RETURN(*task->mutable_name(),
                       String(node["name"], Join(field, "name")));
      if (auto resolved = library->Resolve(task->name()); !resolved.ok()) {
        return Error(node["name"], Join(field, "name"),
                     absl::StrCat(resolved.status().message(), " in ",
                                  task->task_file()));
      }
    } else {
      absl::StatusOr<std::string> name = library->DefaultName();
      if (!name.ok()) {
        return Error(node["yaml"], yaml_field, name.status().message());
      }
      task->set_name(*name);
    }
    return absl::OkStatus();
  }

  // cluster: {slurm: {shards: N, partition, gres, time, account, qos,
  // extra_args: [...], max_failures, transport, shared_dir, coordinator,
  // evald, log_dir}}
  absl::Status ParseCluster(const YAML::Node& node, v1::ClusterSpec* cluster) {
    if (!node.IsMap()) {
      return Error(node, "cluster",
                   "expected a mapping, got " + Describe(node));
    }
    RETURN_IF_ERROR(CheckKeys(node, "cluster", {"slurm"}));
    const YAML::Node slurm = node["slurm"];
    if (!slurm || slurm.IsNull()) {
      return Error(node, "cluster.slurm", "required field is missing");
    }
    if (!slurm.IsMap()) {
      return Error(slurm, "cluster.slurm",
                   "expected a mapping, got " + Describe(slurm));
    }
    RETURN_IF_ERROR(
        CheckKeys(slurm, "cluster.slurm",
                  {"shards", "partition", "gres", "time", "account", "qos",
                   "extra_args", "max_failures", "transport", "shared_dir",
                   "coordinator", "evald", "log_dir"}));
    v1::SlurmSpec* out = cluster->mutable_slurm();
    if (!slurm["shards"]) {
      return Error(slurm, "cluster.slurm.shards", "required field is missing");
    }
    ASSIGN_OR_RETURN(int64_t shards,
                     Int(slurm["shards"], "cluster.slurm.shards"));
    if (shards < 1 || shards > kMaxShards) {
      return Error(
          slurm["shards"], "cluster.slurm.shards",
          absl::StrCat("must be between 1 and ", kMaxShards, ", got ", shards));
    }
    out->set_shards(static_cast<int32_t>(shards));
    const std::pair<const char*, std::string*> strings[] = {
        {"partition", out->mutable_partition()},
        {"gres", out->mutable_gres()},
        {"time", out->mutable_time()},
        {"account", out->mutable_account()},
        {"qos", out->mutable_qos()},
        {"transport", out->mutable_transport()},
        {"shared_dir", out->mutable_shared_dir()},
        {"coordinator", out->mutable_coordinator()},
        {"evald", out->mutable_evald()},
        {"log_dir", out->mutable_log_dir()},
    };
    for (const auto& [key, field] : strings) {
      if (!slurm[key] || slurm[key].IsNull()) continue;
      const std::string name = absl::StrCat("cluster.slurm.", key);
      ASSIGN_OR_RETURN(*field, String(slurm[key], name));
      // Values reach sbatch's command line and the job script.
      for (char c : *field) {
        if (c == '\n' || c == '\r' || c == '\0') {
          return Error(slurm[key], name, "must be one line");
        }
      }
    }
    if (slurm["max_failures"]) {
      ASSIGN_OR_RETURN(int64_t max_failures, Int(slurm["max_failures"],
                                                 "cluster.slurm.max_failures"));
      if (max_failures < 0 || max_failures > 100) {
        return Error(slurm["max_failures"], "cluster.slurm.max_failures",
                     "must be between 0 and 100");
      }
      out->set_max_failures(static_cast<int32_t>(max_failures));
    } else {
      out->set_max_failures(3);
    }
    if (out->transport().empty()) out->set_transport("grpc");
    if (out->transport() != "grpc" && out->transport() != "files") {
      return Error(slurm["transport"], "cluster.slurm.transport",
                   "expected grpc or files, got " + out->transport());
    }
    if (out->transport() == "files" && out->shared_dir().empty()) {
      return Error(slurm, "cluster.slurm.shared_dir",
                   "required with transport: files (a folder both the "
                   "coordinator and the compute nodes can reach)");
    }
    if (const YAML::Node extra = slurm["extra_args"];
        extra && !extra.IsNull()) {
      if (!extra.IsSequence()) {
        return Error(extra, "cluster.slurm.extra_args",
                     "expected a list of strings, got " + Describe(extra));
      }
      for (size_t i = 0; i < extra.size(); ++i) {
        const std::string name =
            absl::StrCat("cluster.slurm.extra_args[", i, "]");
        ASSIGN_OR_RETURN(std::string arg, String(extra[i], name));
        if (arg.empty() || arg.find_first_of("\n\r") != std::string::npos) {
          return Error(extra[i], name, "must be one non-empty line");
        }
        out->add_extra_args(std::move(arg));
      }
    }
    return absl::OkStatus();
  }

  absl::Status ParsePin(const YAML::Node& node, v1::PinSpec* pin) {
    if (!node.IsMap())
      return Error(node, "pin", "expected a mapping, got " + Describe(node));
    RETURN_IF_ERROR(
        CheckKeys(node, "pin", {"driver", "cuda", "datasets", "models"}));
    if (node["driver"]) {
      ASSIGN_OR_RETURN(*pin->mutable_driver(),
                       String(node["driver"], "pin.driver"));
    }
    if (node["cuda"]) {
      ASSIGN_OR_RETURN(*pin->mutable_cuda(), String(node["cuda"], "pin.cuda"));
    }
    for (const char* key : {"datasets", "models"}) {
      const YAML::Node m = node[key];
      if (!m || m.IsNull()) continue;
      auto* out = std::string(key) == "datasets" ? pin->mutable_datasets()
                                                 : pin->mutable_models();
      RETURN_IF_ERROR(StringMap(m, Join("pin", key), out));
      for (auto it = m.begin(); it != m.end(); ++it) {
        std::string hex = it->second.Scalar();
        if (absl::StartsWith(hex, "sha256:")) hex = hex.substr(7);
        bool ok = hex.size() == 64;
        for (char c : hex)
          ok = ok && absl::ascii_isxdigit(static_cast<unsigned char>(c));
        if (!ok) {
          return Error(it->second, Join(Join("pin", key), it->first.Scalar()),
                       "expected 'sha256:' and 64 hex digits, got " +
                           Describe(it->second));
        }
      }
    }
    return absl::OkStatus();
  }

  const SuiteSource& source_;
  std::vector<Override> overrides_;
};

}  // namespace

absl::Status ValidateSpecBounds(const v1::RunSpec& spec) {
  if (spec.suite_yaml().size() > kMaxSuiteBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "suite '", base::EscapeInvalidUtf8(spec.name().substr(0, 80)),
        "': the suite text is ", spec.suite_yaml().size(),
        " bytes; a suite is at most ", kMaxSuiteBytes, " bytes (1 MiB)"));
  }
  for (const auto& [key, value] : spec.labels()) {
    if (key.size() > kMaxLabelKeyBytes || value.size() > kMaxLabelValueBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "field 'labels.", base::EscapeInvalidUtf8(key.substr(0, 40)),
          "': label keys are at most ", kMaxLabelKeyBytes,
          " bytes and values at most ", kMaxLabelValueBytes));
    }
  }
  // Every string of the spec is stored with the run; say which one is not
  // text rather than storing an escaped copy.
  std::string bad;
  auto check = [&](absl::string_view field, absl::string_view value) {
    if (bad.empty() && !base::IsValidUtf8(value)) {
      bad = absl::StrCat("field '", field, "' is not valid UTF-8 (byte ",
                         *base::FindInvalidUtf8(value), ")");
    }
  };
  check("name", spec.name());
  for (const auto& [role, m] :
       {std::pair<const char*, const v1::ModelSpec*>{"candidate",
                                                     &spec.candidate()},
        std::pair<const char*, const v1::ModelSpec*>{"judge", &spec.judge()}}) {
    check(absl::StrCat(role, ".model"), m->path());
    check(absl::StrCat(role, ".endpoint"), m->endpoint());
    check(absl::StrCat(role, ".model"), m->model());
  }
  for (int i = 0; i < spec.tasks_size(); ++i) {
    const v1::TaskSpec& t = spec.tasks(i);
    check(absl::StrCat("tasks[", i, "].name"), t.name());
    check(absl::StrCat("tasks[", i, "].data"), t.data_path());
    check(absl::StrCat("tasks[", i, "].system_instruction"),
          t.system_instruction());
    for (const auto& [k, v] : t.options())
      check(absl::StrCat("tasks[", i, "].options.", k), v);
  }
  for (const auto& [k, v] : spec.labels()) check(absl::StrCat("labels.", k), v);
  check("suite text", spec.suite_yaml());
  if (!bad.empty()) return absl::InvalidArgumentError(bad);
  return absl::OkStatus();
}

absl::StatusOr<v1::RunSpec> ParseSuite(
    const SuiteSource& source, absl::Span<const std::string> overrides) {
  if (source.text.size() > kMaxSuiteBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        source.display_name, ": ", source.text.size(),
        " bytes; a suite is at most ", kMaxSuiteBytes, " bytes (1 MiB)"));
  }
  if (std::optional<size_t> bad = base::FindInvalidUtf8(source.text)) {
    const size_t line =
        1 + std::count(source.text.begin(), source.text.begin() + *bad, '\n');
    return absl::InvalidArgumentError(absl::StrCat(
        source.display_name, ":", line, ": not valid UTF-8 (byte ", *bad, ")"));
  }
  YAML::Node root;
  try {
    root = YAML::Load(source.text);
  } catch (const YAML::ParserException& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source.display_name, ":", e.mark.line + 1, ":",
                     e.mark.column + 1, ": invalid YAML: ", e.msg));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source.display_name, ": invalid YAML: ", e.msg));
  }
  std::vector<Override> parsed_overrides;
  try {
    for (const std::string& text : overrides) {
      size_t eq = text.find('=');
      if (eq == std::string::npos || eq == 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--set ", text,
            ": expected FIELD=VALUE (e.g. candidate.model=/ckpt/1200)"));
      }
      Override ov{.field = text.substr(0, eq), .text = text};
      RETURN_IF_ERROR(
          ApplyOverride(root, ov, absl::string_view(text).substr(eq + 1)));
      parsed_overrides.push_back(std::move(ov));
    }
    SuiteParser parser(source, std::move(parsed_overrides));
    return parser.Parse(root);
  } catch (const YAML::Exception& e) {
    // yaml-cpp throws on some malformed accesses; keep it inside this module.
    return absl::InvalidArgumentError(
        absl::StrCat(source.display_name, ":", e.mark.line + 1, ":",
                     e.mark.column + 1, ": ", e.msg));
  }
}

absl::StatusOr<v1::RunSpec> ParseSuiteFile(
    const std::string& path, absl::Span<const std::string> overrides) {
  // A suite file far too large is refused before it is read.
  if (absl::StatusOr<base::FileIdentity> id = base::StatFile(path);
      id.ok() && id->size > kMaxSuiteBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", id->size, " bytes; a suite is at most ",
                     kMaxSuiteBytes, " bytes (1 MiB)"));
  }
  ASSIGN_OR_RETURN(std::string text, base::ReadFileToString(path));
  std::error_code ec;
  fs::path abs = fs::absolute(fs::path(path), ec);
  if (ec)
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", ec.message()));
  abs = abs.lexically_normal();
  SuiteSource source{.text = std::move(text),
                     .display_name = path,
                     .base_dir = abs.parent_path().string()};
  ASSIGN_OR_RETURN(v1::RunSpec spec, ParseSuite(source, overrides));
  spec.set_suite_path(abs.string());
  return spec;
}

std::string DefaultDatasetName(absl::string_view task_name) {
  if (absl::StartsWith(task_name, "gsm8k")) return "gsm8k";
  if (absl::StartsWith(task_name, "mmlu")) return "mmlu";
  if (absl::StartsWith(task_name, "ifeval")) return "ifeval";
  return std::string(task_name);
}

tasks::TaskOptions TaskOptionsFor(const v1::RunSpec& spec,
                                  const v1::TaskSpec& task,
                                  const std::string& data_dir) {
  tasks::TaskOptions options;
  options.data_path = task.data_path().empty()
                          ? absl::StrCat(data_dir, "/datasets/",
                                         DefaultDatasetName(task.name()))
                          : task.data_path();
  options.shots = task.shots();
  options.limit = task.limit();
  options.variant = task.variant();
  options.chat_template = spec.candidate().chat_template();
  options.system_instruction = task.system_instruction();
  options.seed = spec.seed();
  for (const auto& [key, value] : task.options()) options.options[key] = value;
  // An lm-eval task file names its own data (relative to itself).
  options.task_file = task.task_file();
  if (!options.task_file.empty()) options.data_path.clear();
  return options;
}

absl::StatusOr<std::unique_ptr<tasks::Task>> CreateSpecTask(
    const v1::RunSpec& spec, const v1::TaskSpec& task,
    const std::string& data_dir) {
  auto created =
      tasks::CreateTask(task.name(), TaskOptionsFor(spec, task, data_dir));
  if (!created.ok()) {
    return absl::Status(
        created.status().code(),
        absl::StrCat("task '", task.name(), "': ", created.status().message()));
  }
  return created;
}

}  // namespace evald::daemon
