// File: daemon/lm_eval_files.cc
#include "daemon/lm_eval_files.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "base/json.h"
#include "base/sha256.h"
#include "base/status_macros.h"

namespace evald::daemon {
namespace {

using base::Json;

// ---------------------------------------------------------------------------
// Python's spellings

// Python's repr() of a str: single quotes unless the text holds a single
// quote and no double quote.
std::string PyStrRepr(const std::string& s) {
  const bool dq =
      s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char quote = dq ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c == static_cast<unsigned char>(quote)) {
          out += '\\';
          out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
          out += absl::StrFormat("\\x%02x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += quote;
  return out;
}

std::string PyRepr(const Json& v);

// Python's str() of a value json.loads could have made.
std::string PyStr(const Json& v) {
  if (v.is_string()) return v.string_value();
  return PyRepr(v);
}

std::string PyRepr(const Json& v) {
  switch (v.type()) {
    case Json::Type::kNull:
      return "None";
    case Json::Type::kBool:
      return v.bool_value() ? "True" : "False";
    case Json::Type::kNumber:
      if (v.is_int()) return absl::StrCat(v.int_value());
      return base::PythonFloatRepr(v.number_value());
    case Json::Type::kString:
      return PyStrRepr(v.string_value());
    case Json::Type::kArray: {
      std::string out = "[";
      for (size_t i = 0; i < v.array().size(); ++i)
        absl::StrAppend(&out, i ? ", " : "", PyRepr(v.array()[i]));
      return out + "]";
    }
    case Json::Type::kObject: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, item] : v.object()) {
        absl::StrAppend(&out, first ? "" : ", ", PyStrRepr(k), ": ",
                        PyRepr(item));
        first = false;
      }
      return out + "}";
    }
  }
  return "";
}

// lm-eval's sanitize_list: lists (and tuples) kept, everything else str().
Json SanitizeList(const Json& v) {
  if (!v.is_array()) return Json::String(PyStr(v));
  Json out = Json::MakeArray();
  for (const Json& item : v.array()) out.Push(SanitizeList(item));
  return out;
}

// A response as lm-eval's model returns it, from a task's record: a
// two-element array is a tuple (logprob, is_greedy), a one-element array
// the bare value (a generation, a rolling logprob).
Json ModelResponse(const Json& entry) {
  if (entry.is_array() && entry.array().size() == 1) return entry.array()[0];
  return entry;
}

std::string PyDumps(const Json& v) {
  Json::DumpOptions options;
  options.spaced_separators = true;
  return v.Dump(options);
}

std::string PyDumpsIndent2(const Json& v) {
  Json::DumpOptions options;
  options.indent = 2;
  return v.Dump(options);
}

// datetime.isoformat() of a UTC time with ':' replaced by '-', as lm-eval
// names its files: 2026-12-02T16-05-07.123456.
std::string DateId(int64_t unix_ms) {
  const absl::Time t = absl::FromUnixMillis(unix_ms);
  return absl::StrCat(
      absl::FormatTime("%Y-%m-%dT%H-%M-%S", t, absl::UTCTimeZone()),
      absl::StrFormat(".%06d", (unix_ms % 1000) * 1000));
}

// ---------------------------------------------------------------------------
// Export

// A metric name as evald stores it split into lm-eval's (metric, filter).
std::pair<std::string, std::string> SplitMetric(const std::string& name) {
  const size_t comma = name.find(',');
  if (comma == std::string::npos) return {name, "none"};
  return {name.substr(0, comma), name.substr(comma + 1)};
}

struct LeafTask {
  std::string name;
  Json config;
  std::vector<const v1::Metric*> metrics;
  std::vector<const v1::SampleRecord*> samples;
  int64_t sample_len = 0;
};

struct GroupTask {
  std::string name;
  std::string alias;
  std::vector<std::string> children;
  std::vector<const v1::Metric*> metrics;
};

// Metric names a config's metric_list lists (lm-eval reports no others).
std::set<std::string> ListedMetrics(const Json& config) {
  std::set<std::string> names;
  const Json* list = config.Find("metric_list");
  if (list == nullptr || !list->is_array()) return names;
  for (const Json& m : list->array()) {
    const Json* name = m.Find("metric");
    if (name != nullptr && name->is_string())
      names.insert(name->string_value());
  }
  return names;
}

bool HasTag(const Json& config, const std::string& tag) {
  const Json* t = config.Find("tag");
  if (t == nullptr) return false;
  if (t->is_string()) return t->string_value() == tag;
  if (!t->is_array()) return false;
  for (const Json& item : t->array())
    if (item.is_string() && item.string_value() == tag) return true;
  return false;
}

// The versions lm-eval's group files record (metadata.version); groups are
// not described by the tasks' configs.
Json GroupVersion(const std::string& group) {
  if (group == "mmlu" || absl::StartsWith(group, "mmlu_")) return Json::Int(2);
  return Json::Null();
}

// lm-eval's doc_id: the document's index within its (sub)task: the tail
// of evald's "<subtask>/<index>", else the index in the task (IFEval's ids
// are the dataset's keys).
int64_t LmEvalDocId(const v1::SampleRecord& s) {
  absl::string_view id = s.doc_id();
  const size_t slash = id.rfind('/');
  int64_t n = 0;
  if (slash != absl::string_view::npos &&
      absl::SimpleAtoi(id.substr(slash + 1), &n))
    return n;
  return s.doc_index();
}

Json MetricValue(const v1::Metric& m, bool stderr_value) {
  if (stderr_value && (m.std_error_na() || m.count() <= 1))
    return Json::String("N/A");
  return Json::Double(stderr_value ? m.std_error() : m.value());
}

// The rows lm-eval logs for one leaf task: filter by filter, document by
// document within each.
absl::Status SampleRows(const LeafTask& leaf, std::vector<std::string>* rows,
                        std::string* task_hash_input,
                        std::vector<std::string>* warnings) {
  struct Parsed {
    int64_t doc_id;
    const v1::SampleRecord* record;
    Json json;
  };
  std::vector<Parsed> parsed;
  std::vector<std::string> filters;
  int64_t failed = 0;
  for (const v1::SampleRecord* s : leaf.samples) {
    if (!s->error().empty()) ++failed;
    if (!s->error().empty() || s->lm_eval_json().empty()) continue;
    auto json = base::ParseJson(s->lm_eval_json());
    if (!json.ok() || !json->is_object()) {
      warnings->push_back(
          absl::StrCat("task ", leaf.name, " document ", s->doc_id(),
                       ": unreadable lm-eval record, left out"));
      continue;
    }
    const Json* filtered = json->Find("filtered_resps");
    if (filtered != nullptr && filtered->is_object()) {
      for (const auto& [f, unused] : filtered->object()) {
        if (std::find(filters.begin(), filters.end(), f) == filters.end())
          filters.push_back(f);
      }
    }
    parsed.push_back({LmEvalDocId(*s), s, *std::move(json)});
  }
  if (failed > 0) {
    warnings->push_back(absl::StrCat(
        "task ", leaf.name, ": ", failed,
        " document(s) failed (see `evalctl samples --failed`); left out of "
        "its samples file and scores, as lm-eval would not have them"));
  }
  std::stable_sort(
      parsed.begin(), parsed.end(),
      [](const Parsed& a, const Parsed& b) { return a.doc_id < b.doc_id; });
  std::vector<std::string> metric_order;
  if (const Json* list = leaf.config.Find("metric_list");
      list != nullptr && list->is_array()) {
    for (const Json& m : list->array()) {
      const Json* name = m.Find("metric");
      if (name != nullptr && name->is_string())
        metric_order.push_back(name->string_value());
    }
  }
  for (const std::string& filter : filters) {
    for (const Parsed& p : parsed) {
      const Json* filtered = p.json.Find("filtered_resps");
      const Json* value = filtered->Find(filter);
      if (value == nullptr) continue;
      const Json empty_doc = Json::MakeObject();
      const Json* doc = p.json.Find("doc");
      if (doc == nullptr) doc = &empty_doc;
      const Json* target_json = p.json.Find("target");
      const std::string target =
          target_json != nullptr ? PyStr(*target_json) : p.record->target();
      Json arguments = Json::MakeObject();
      std::string context;
      if (const Json* args = p.json.Find("arguments");
          args != nullptr && args->is_array()) {
        for (size_t i = 0; i < args->array().size(); ++i) {
          const Json& request = args->array()[i];
          Json entry = Json::MakeObject();
          if (request.is_array()) {
            for (size_t j = 0; j < request.array().size(); ++j) {
              // A null context is the sample's prompt, stored once.
              entry.Set(absl::StrCat("arg_", j),
                        j == 0 && request.array()[j].is_null()
                            ? Json::String(p.record->prompt())
                            : request.array()[j]);
            }
            if (i == 0 && !request.array().empty()) {
              context = request.array()[0].is_string()
                            ? request.array()[0].string_value()
                            : p.record->prompt();
            }
          }
          arguments.Set(absl::StrCat("gen_args_", i), std::move(entry));
        }
      }
      Json resps = Json::MakeArray();
      if (const Json* r = p.json.Find("resps"); r != nullptr && r->is_array()) {
        for (const Json& entry : r->array()) {
          Json per_request = Json::MakeArray();
          per_request.Push(SanitizeList(ModelResponse(entry)));
          resps.Push(std::move(per_request));
        }
      }
      Json filtered_value = *value;
      if (!filtered_value.is_array()) {
        Json list = Json::MakeArray();
        list.Push(std::move(filtered_value));
        filtered_value = std::move(list);
      }
      // The metric values of this filter, in the task's metric_list order:
      // the record's own "metrics" (lm-eval's per-document values: lists,
      // booleans) where it has them, else the sample's numbers.
      std::vector<std::pair<std::string, Json>> values;
      auto keep = [&](const std::string& key, Json value) {
        auto [metric, f] = SplitMetric(key);
        if (f != filter) return;
        if (!metric_order.empty() &&
            std::find(metric_order.begin(), metric_order.end(), metric) ==
                metric_order.end())
          return;
        values.push_back({metric, std::move(value)});
      };
      if (const Json* own = p.json.Find("metrics");
          own != nullptr && own->is_object()) {
        for (const auto& [key, v] : own->object()) keep(key, v);
      } else {
        for (const auto& [key, v] : p.record->metrics())
          keep(key, Json::Double(v));
      }
      std::stable_sort(
          values.begin(), values.end(), [&](const auto& a, const auto& b) {
            auto rank = [&](const std::string& m) {
              return std::find(metric_order.begin(), metric_order.end(), m) -
                     metric_order.begin();
            };
            return rank(a.first) < rank(b.first);
          });
      Json metric_names = Json::MakeArray();
      for (const auto& [m, v] : values) metric_names.Push(Json::String(m));
      const std::string doc_hash = base::Sha256Hex(PyDumpsIndent2(*doc));
      const std::string prompt_hash = base::Sha256Hex(context);
      const std::string target_hash = base::Sha256Hex(target);
      Json row = Json::MakeObject();
      row.Set("doc_id", Json::Int(p.doc_id));
      row.Set("doc", *doc);
      row.Set("target", Json::String(target));
      row.Set("arguments", std::move(arguments));
      row.Set("resps", std::move(resps));
      row.Set("filtered_resps", SanitizeList(filtered_value));
      row.Set("filter", Json::String(filter));
      row.Set("metrics", std::move(metric_names));
      row.Set("doc_hash", Json::String(doc_hash));
      row.Set("prompt_hash", Json::String(prompt_hash));
      row.Set("target_hash", Json::String(target_hash));
      for (const auto& [m, v] : values) row.Set(m, v);
      rows->push_back(PyDumps(row));
      absl::StrAppend(task_hash_input, doc_hash, prompt_hash, target_hash);
    }
  }
  return absl::OkStatus();
}

// model_args and model_name as lm-eval's tracker derives them.
void ModelNames(const v1::RunSpec& spec, std::string* model_args,
                std::string* model_name) {
  const v1::ModelSpec& m = spec.candidate();
  if (m.has_endpoint()) {
    *model_args = absl::StrCat("model=", m.model(), ",base_url=", m.endpoint());
    *model_name = m.model();
  } else {
    *model_args = absl::StrCat("pretrained=", m.path());
    if (!m.dtype().empty()) absl::StrAppend(model_args, ",dtype=", m.dtype());
    *model_name = m.path();
  }
}

}  // namespace

std::string SanitizeModelName(absl::string_view name) {
  std::string out;
  bool in_run = false;
  for (char c : name) {
    if (absl::string_view("\"<>:/|\\?*[]").find(c) != absl::string_view::npos) {
      if (!in_run) out += "__";
      in_run = true;
    } else {
      out += c;
      in_run = false;
    }
  }
  return out;
}

absl::StatusOr<LmEvalExport> ExportLmEval(
    const v1::RunRecord& run, absl::Span<const v1::TaskScores> scores,
    const std::map<std::string, std::vector<v1::SampleRecord>>& samples) {
  LmEvalExport out;
  const v1::RunSpec& spec = run.spec();
  std::vector<LeafTask> leaves;
  std::vector<GroupTask> groups;
  std::map<std::string, Json> group_versions;  // as the task gave them
  Json n_shot = Json::MakeObject();
  int64_t limit = 0;
  for (int i = 0; i < spec.tasks_size(); ++i) {
    const v1::TaskSpec& task = spec.tasks(i);
    const v1::TaskFingerprint* fp = nullptr;
    if (i < run.fingerprint().tasks_size()) fp = &run.fingerprint().tasks(i);
    if (task.limit() > 0) limit = task.limit();
    if (fp == nullptr || fp->lm_eval_config_json().empty()) {
      out.warnings.push_back(absl::StrCat(
          "task ", task.name(),
          " records no lm-eval configuration (stored before evald recorded "
          "it, or a task without an lm-eval form); left out"));
      continue;
    }
    auto configs = base::ParseJson(fp->lm_eval_config_json());
    if (!configs.ok() || !configs->is_object()) {
      return absl::DataLossError(absl::StrCat(
          "run ", run.id(), " task ", task.name(),
          ": the stored lm-eval configuration is not a JSON object"));
    }
    const v1::TaskScores* task_scores = nullptr;
    for (const v1::TaskScores& s : scores)
      if (s.task() == task.name()) task_scores = &s;
    auto sample_it = samples.find(task.name());
    const Json* single = configs->Find("task");
    if (single != nullptr && single->is_string()) {
      LeafTask leaf;
      leaf.name = single->string_value();
      leaf.config = *configs;
      const std::set<std::string> listed = ListedMetrics(leaf.config);
      if (task_scores != nullptr) {
        for (const v1::Metric& m : task_scores->metrics()) {
          if (!m.group().empty()) continue;
          if (!listed.empty() && !listed.count(SplitMetric(m.name()).first))
            continue;
          leaf.metrics.push_back(&m);
          leaf.sample_len = m.count();
        }
      }
      if (sample_it != samples.end())
        for (const v1::SampleRecord& s : sample_it->second)
          leaf.samples.push_back(&s);
      leaves.push_back(std::move(leaf));
      continue;
    }
    // A group: {"<subtask>": config, ...}; the group is named by the task.
    const std::string group_name =
        fp->name().empty() ? task.name() : fp->name();
    std::map<std::string, size_t> leaf_index;
    std::set<std::string> listed;
    for (const auto& [name, config] : configs->object()) {
      leaf_index[name] = leaves.size();
      LeafTask leaf;
      leaf.name = name;
      leaf.config = config;
      for (const std::string& m : ListedMetrics(config)) listed.insert(m);
      leaves.push_back(std::move(leaf));
    }
    auto leaf_for = [&](const std::string& sub) -> LeafTask* {
      for (const std::string& name :
           {absl::StrCat(group_name, "_", sub), sub}) {
        auto it = leaf_index.find(name);
        if (it != leaf_index.end()) return &leaves[it->second];
      }
      return nullptr;
    };
    if (!fp->lm_eval_groups_json().empty()) {
      // The task gave its groups (lm-eval task YAML): their children as
      // written, scores by group name ("" for the task's own group).
      auto structure = base::ParseJson(fp->lm_eval_groups_json());
      if (!structure.ok() || !structure->is_object()) {
        return absl::DataLossError(absl::StrCat(
            "run ", run.id(), " task ", task.name(),
            ": the stored lm-eval group structure is not a JSON object"));
      }
      for (const auto& [name, entry] : structure->object()) {
        GroupTask g;
        g.name = name;
        const Json* alias = entry.Find("alias");
        g.alias = alias != nullptr && alias->is_string() ? alias->string_value()
                                                         : name;
        if (const Json* c = entry.Find("children");
            c != nullptr && c->is_array()) {
          for (const Json& child : c->array())
            if (child.is_string()) g.children.push_back(child.string_value());
        }
        if (const Json* v = entry.Find("version");
            v != nullptr && !v->is_null())
          group_versions[name] = *v;
        groups.push_back(std::move(g));
      }
      if (task_scores != nullptr) {
        for (const v1::Metric& m : task_scores->metrics()) {
          const std::string& owner = m.group().empty() ? group_name : m.group();
          if (auto it = leaf_index.find(owner); it != leaf_index.end()) {
            leaves[it->second].metrics.push_back(&m);
            leaves[it->second].sample_len = m.count();
            continue;
          }
          for (GroupTask& g : groups)
            if (g.name == owner) g.metrics.push_back(&m);
        }
      }
      if (sample_it != samples.end()) {
        for (const v1::SampleRecord& s : sample_it->second) {
          if (LeafTask* leaf = leaf_for(s.subtask()))
            leaf->samples.push_back(&s);
        }
      }
      continue;
    }
    GroupTask top;
    top.name = group_name;
    top.alias = group_name;
    std::vector<GroupTask> subgroups;
    std::set<std::string> in_subgroup;
    if (task_scores != nullptr) {
      for (const v1::Metric& m : task_scores->metrics()) {
        if (!listed.empty() && !listed.count(SplitMetric(m.name()).first))
          continue;
        if (m.group().empty()) {
          top.metrics.push_back(&m);
        } else if (LeafTask* leaf = leaf_for(m.group())) {
          leaf->metrics.push_back(&m);
          leaf->sample_len = m.count();
        } else {
          // MMLU names its groups "stem", lm-eval "mmlu_stem"; a group
          // named in full keeps its name.
          const std::string name =
              absl::StartsWith(m.group(), group_name + "_")
                  ? m.group()
                  : absl::StrCat(group_name, "_", m.group());
          auto it =
              std::find_if(subgroups.begin(), subgroups.end(),
                           [&](const GroupTask& g) { return g.name == name; });
          if (it == subgroups.end()) {
            GroupTask g;
            g.name = name;
            g.alias =
                std::string(absl::StripPrefix(m.group(), group_name + "_"));
            for (const auto& [leaf_name, index] : leaf_index) {
              if (HasTag(leaves[index].config, name + "_tasks") ||
                  HasTag(leaves[index].config, name)) {
                g.children.push_back(leaf_name);
                in_subgroup.insert(leaf_name);
              }
            }
            subgroups.push_back(std::move(g));
            it = subgroups.end() - 1;
          }
          it->metrics.push_back(&m);
        }
      }
    }
    for (const GroupTask& g : subgroups) top.children.push_back(g.name);
    for (const auto& [name, config] : configs->object())
      if (!in_subgroup.count(name)) top.children.push_back(name);
    if (sample_it != samples.end()) {
      for (const v1::SampleRecord& s : sample_it->second) {
        if (LeafTask* leaf = leaf_for(s.subtask())) leaf->samples.push_back(&s);
      }
    }
    groups.push_back(std::move(top));
    for (GroupTask& g : subgroups) groups.push_back(std::move(g));
  }
  // Leaves of a group whose scores name none of them (no document ran,
  // or every one failed).
  for (const LeafTask& l : leaves) {
    if (l.metrics.empty() && !l.samples.empty()) {
      out.warnings.push_back(absl::StrCat(
          "task ", l.name, ": all ", l.samples.size(),
          " document(s) failed (see `evalctl samples --failed`); left out"));
    }
  }
  leaves.erase(std::remove_if(leaves.begin(), leaves.end(),
                              [](const LeafTask& l) {
                                return l.metrics.empty() &&
                                       std::none_of(
                                           l.samples.begin(), l.samples.end(),
                                           [](const v1::SampleRecord* s) {
                                             return s->error().empty();
                                           });
                              }),
               leaves.end());
  std::set<std::string> present;
  for (const LeafTask& l : leaves) present.insert(l.name);
  for (GroupTask& g : groups) {
    std::vector<std::string> kept;
    for (const std::string& c : g.children) {
      const bool is_group =
          std::any_of(groups.begin(), groups.end(),
                      [&](const GroupTask& other) { return other.name == c; });
      if (is_group || present.count(c)) kept.push_back(c);
    }
    g.children = std::move(kept);
  }

  const std::string date_id =
      DateId(run.finished_unix_ms() > 0 ? run.finished_unix_ms()
                                        : run.created_unix_ms());
  std::string model_args;
  std::string model_name;
  ModelNames(spec, &model_args, &model_name);
  const std::string sanitized = SanitizeModelName(model_name);

  // results, leaves then groups' own entries.
  Json results = Json::MakeObject();
  Json configs = Json::MakeObject();
  Json versions = Json::MakeObject();
  Json higher = Json::MakeObject();
  Json n_samples = Json::MakeObject();
  Json task_hashes = Json::MakeObject();
  std::map<std::string, int64_t> leaf_len;
  std::map<std::string, Json> leaf_higher;
  std::map<std::string, Json> leaf_shots;
  for (const LeafTask& leaf : leaves) {
    Json entry = Json::MakeObject();
    entry.Set("name", Json::String(leaf.name));
    const Json* alias = leaf.config.Find("task_alias");
    entry.Set("alias", alias != nullptr && alias->is_string()
                           ? *alias
                           : Json::String(leaf.name));
    // lm-eval's sample_len counts documents (an instruction-level metric
    // counts instructions in evald's scores).
    int64_t sample_len = 0;
    for (const v1::SampleRecord* s : leaf.samples)
      if (s->error().empty()) ++sample_len;
    if (sample_len == 0) sample_len = leaf.sample_len;
    entry.Set("sample_len", Json::Int(sample_len));
    Json hib = Json::MakeObject();
    for (const v1::Metric* m : leaf.metrics) {
      auto [metric, filter] = SplitMetric(m->name());
      entry.Set(m->name().find(',') == std::string::npos
                    ? absl::StrCat(metric, ",", filter)
                    : m->name(),
                MetricValue(*m, false));
      entry.Set(absl::StrCat(metric, "_stderr,", filter),
                MetricValue(*m, true));
      hib.Set(metric, Json::Bool(true));
    }
    if (const Json* list = leaf.config.Find("metric_list");
        list != nullptr && list->is_array()) {
      for (const Json& m : list->array()) {
        const Json* name = m.Find("metric");
        const Json* h = m.Find("higher_is_better");
        if (name != nullptr && name->is_string() && h != nullptr &&
            h->is_bool())
          hib.Set(name->string_value(), *h);
      }
    }
    results.Set(leaf.name, std::move(entry));
    configs.Set(leaf.name, leaf.config);
    const Json* metadata = leaf.config.Find("metadata");
    const Json* version =
        metadata != nullptr ? metadata->Find("version") : nullptr;
    versions.Set(leaf.name, version != nullptr ? *version : Json::Null());
    const Json* shots = leaf.config.Find("num_fewshot");
    leaf_shots[leaf.name] = shots != nullptr ? *shots : Json::Int(0);
    leaf_higher[leaf.name] = hib;
    higher.Set(leaf.name, std::move(hib));
    leaf_len[leaf.name] = sample_len;
    Json count = Json::MakeObject();
    // The dataset's size is not stored; without a limit it is what ran.
    count.Set("original", Json::Int(sample_len));
    count.Set("effective", Json::Int(sample_len));
    n_samples.Set(leaf.name, std::move(count));

    std::vector<std::string> rows;
    std::string hash_input;
    RETURN_IF_ERROR(SampleRows(leaf, &rows, &hash_input, &out.warnings));
    if (!rows.empty()) {
      std::string content;
      for (const std::string& row : rows) absl::StrAppend(&content, row, "\n");
      out.files.push_back({absl::StrCat(sanitized, "/samples_", leaf.name, "_",
                                        date_id, ".jsonl"),
                           std::move(content)});
      task_hashes.Set(leaf.name, Json::String(base::Sha256Hex(hash_input)));
    }
  }
  // Groups: bottom-up (subgroups before the group that holds them).
  Json group_results = Json::MakeObject();
  Json group_subtasks = Json::MakeObject();
  std::map<std::string, Json> group_entries;
  for (auto it = groups.rbegin(); it != groups.rend(); ++it) {
    const GroupTask& g = *it;
    int64_t len = 0;
    std::function<void(const std::string&)> add_len =
        [&](const std::string& c) {
          if (leaf_len.count(c)) len += leaf_len[c];
          for (const GroupTask& other : groups)
            if (other.name == c)
              for (const std::string& cc : other.children) add_len(cc);
        };
    for (const std::string& c : g.children) add_len(c);
    Json entry = Json::MakeObject();
    entry.Set("alias", Json::String(g.alias));
    entry.Set("name", Json::String(g.name));
    entry.Set("sample_len", Json::Int(len));
    Json sample_count = Json::MakeObject();
    for (const v1::Metric* m : g.metrics) {
      auto [metric, filter] = SplitMetric(m->name());
      const std::string key = absl::StrCat(metric, ",", filter);
      entry.Set(key, MetricValue(*m, false));
      entry.Set(absl::StrCat(metric, "_stderr,", filter),
                MetricValue(*m, true));
      sample_count.Set(key, Json::Int(m->count()));
    }
    if (!sample_count.object().empty())
      entry.Set("sample_count", std::move(sample_count));
    group_entries[g.name] = entry;
    auto given_version = group_versions.find(g.name);
    versions.Set(g.name, given_version != group_versions.end()
                             ? given_version->second
                             : GroupVersion(g.name));
    // higher_is_better and n-shot propagate from the children.
    Json hib = Json::MakeObject();
    std::set<std::string> shot_values;
    Json shot_value;
    for (const std::string& c : g.children) {
      if (const Json* h = higher.Find(c); h != nullptr && h->is_object())
        for (const auto& [m, v] : h->object())
          if (hib.Find(m) == nullptr) hib.Set(m, v);
      auto s = leaf_shots.find(c);
      if (s != leaf_shots.end()) {
        shot_values.insert(PyDumps(s->second));
        shot_value = s->second;
      }
    }
    if (!hib.object().empty()) higher.Set(g.name, std::move(hib));
    if (shot_values.size() == 1) leaf_shots[g.name] = shot_value;
    Json children = Json::MakeArray();
    for (const std::string& c : g.children) children.Push(Json::String(c));
    group_subtasks.Set(g.name, std::move(children));
  }
  // Groups' entries ahead of their subtasks', as lm-eval prints them.
  Json ordered = Json::MakeObject();
  for (const GroupTask& g : groups) {
    ordered.Set(g.name, group_entries[g.name]);
    if (!g.metrics.empty()) group_results.Set(g.name, group_entries[g.name]);
  }
  for (const auto& [name, entry] : results.object()) ordered.Set(name, entry);
  for (const auto& [name, shots] : leaf_shots) n_shot.Set(name, shots);

  auto sorted = [](const Json& object) {
    std::vector<std::pair<std::string, Json>> items = object.object();
    std::stable_sort(
        items.begin(), items.end(),
        [](const auto& a, const auto& b) { return a.first < b.first; });
    return Json::MakeObject(std::move(items));
  };

  Json doc = Json::MakeObject();
  doc.Set("results", std::move(ordered));
  if (!group_results.object().empty())
    doc.Set("groups", std::move(group_results));
  doc.Set("group_subtasks", std::move(group_subtasks));
  doc.Set("configs", sorted(configs));
  doc.Set("versions", sorted(versions));
  doc.Set("n-shot", sorted(n_shot));
  doc.Set("higher_is_better", sorted(higher));
  doc.Set("n-samples", std::move(n_samples));
  Json config = Json::MakeObject();
  config.Set("model", Json::String("evald"));
  config.Set("model_args", Json::String(model_args));
  config.Set("batch_size", Json::String("auto"));
  config.Set("batch_sizes", Json::MakeArray());
  config.Set("device", run.fingerprint().gpus_size() > 0 ? Json::String("cuda")
                                                         : Json::String("cpu"));
  config.Set("use_cache", Json::Null());
  config.Set("limit", limit > 0 ? Json::Int(limit) : Json::Null());
  config.Set("bootstrap_iters", Json::Int(100000));
  config.Set("gen_kwargs", Json::Null());
  config.Set("random_seed", Json::Int(0));
  config.Set("numpy_seed", Json::Int(1234));
  config.Set("torch_seed", Json::Int(1234));
  config.Set("fewshot_seed", Json::Int(static_cast<int64_t>(spec.seed())));
  doc.Set("config", std::move(config));
  doc.Set("git_hash",
          Json::String(run.fingerprint().git_commit().substr(0, 7)));
  const double start_s = static_cast<double>(run.started_unix_ms()) / 1000.0;
  const double end_s = static_cast<double>(run.finished_unix_ms()) / 1000.0;
  doc.Set("date", Json::Double(start_s));
  doc.Set("pretty_env_info", Json::String("N/A (evald)"));
  doc.Set("transformers_version", Json::String("N/A"));
  doc.Set("lm_eval_version", Json::String(absl::StrCat(
                                 "evald ", run.fingerprint().evald_version())));
  doc.Set("upper_git_hash", Json::Null());
  doc.Set("task_hashes", std::move(task_hashes));
  doc.Set("model_source", Json::String("evald"));
  doc.Set("model_name", Json::String(model_name));
  doc.Set("model_name_sanitized", Json::String(sanitized));
  const std::string system_instruction =
      spec.tasks_size() > 0 ? spec.tasks(0).system_instruction() : "";
  doc.Set("system_instruction", system_instruction.empty()
                                    ? Json::Null()
                                    : Json::String(system_instruction));
  doc.Set("system_instruction_sha",
          system_instruction.empty()
              ? Json::Null()
              : Json::String(base::Sha256Hex(system_instruction)));
  const bool chat = spec.candidate().chat_template();
  doc.Set("fewshot_as_multiturn", Json::Bool(chat));
  std::string chat_sha;
  for (const v1::ModelFingerprint& m : run.fingerprint().models())
    if (m.role() == "candidate" && m.chat_template_sha256() != "none")
      chat_sha = m.chat_template_sha256();
  doc.Set("chat_template", Json::Null());
  doc.Set("chat_template_sha",
          chat && !chat_sha.empty() ? Json::String(chat_sha) : Json::Null());
  doc.Set("start_time", Json::Double(start_s));
  doc.Set("end_time", Json::Double(end_s));
  doc.Set("total_evaluation_time_seconds",
          Json::String(base::PythonFloatRepr(end_s - start_s)));
  Json evald = Json::MakeObject();
  evald.Set("run_id", Json::String(run.id()));
  evald.Set("run_name", Json::String(spec.name()));
  evald.Set("evald_version", Json::String(run.fingerprint().evald_version()));
  evald.Set("git_commit", Json::String(run.fingerprint().git_commit()));
  evald.Set("decoding_mode", Json::String(run.fingerprint().decoding_mode()));
  Json models = Json::MakeArray();
  for (const v1::ModelFingerprint& m : run.fingerprint().models()) {
    Json model = Json::MakeObject();
    model.Set("role", Json::String(m.role()));
    model.Set("path", Json::String(m.path()));
    Json files = Json::MakeObject();
    for (const v1::FileHash& f : m.files())
      files.Set(f.name(), Json::String(f.sha256()));
    model.Set("sha256", std::move(files));
    models.Push(std::move(model));
  }
  evald.Set("models", std::move(models));
  Json datasets = Json::MakeObject();
  for (const v1::TaskFingerprint& t : run.fingerprint().tasks())
    for (const v1::FileHash& f : t.dataset_files())
      datasets.Set(f.name(), Json::String(f.sha256()));
  evald.Set("datasets", std::move(datasets));
  Json labels = Json::MakeObject();
  std::map<std::string, std::string> sorted_labels(spec.labels().begin(),
                                                   spec.labels().end());
  for (const auto& [k, v] : sorted_labels) labels.Set(k, Json::String(v));
  evald.Set("labels", std::move(labels));
  // The whole fingerprint, as `evalctl env --json` prints it (less the
  // tasks' lm-eval configurations, which are `configs` above).
  v1::Fingerprint fingerprint = run.fingerprint();
  for (v1::TaskFingerprint& t : *fingerprint.mutable_tasks())
    t.clear_lm_eval_config_json();
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  std::string fingerprint_text;
  if (google::protobuf::util::MessageToJsonString(fingerprint,
                                                  &fingerprint_text, print)
          .ok()) {
    auto parsed = base::ParseJson(fingerprint_text);
    if (parsed.ok()) evald.Set("fingerprint", *std::move(parsed));
  }
  doc.Set("evald", std::move(evald));

  Json::DumpOptions options;
  options.indent = 2;
  out.files.insert(out.files.begin(),
                   {absl::StrCat(sanitized, "/results_", date_id, ".json"),
                    doc.Dump(options)});
  return out;
}

namespace {

// ---------------------------------------------------------------------------
// Import

// The keys of a JsonReader path: 'a.b["c,d"][2].e' -> a, b, c,d, e (array
// indices dropped).
std::vector<std::string> PathKeys(absl::string_view path) {
  std::vector<std::string> keys;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') {
      ++i;
    } else if (path.substr(i, 2) == "[\"") {
      const size_t end = path.find("\"]", i + 2);
      if (end == absl::string_view::npos) break;
      keys.emplace_back(path.substr(i + 2, end - i - 2));
      i = end + 2;
    } else if (path[i] == '[') {
      const size_t end = path.find(']', i);
      if (end == absl::string_view::npos) break;
      i = end + 1;
    } else {
      size_t end = i;
      while (end < path.size() && path[end] != '.' && path[end] != '[') ++end;
      keys.emplace_back(path.substr(i, end - i));
      i = end;
    }
  }
  return keys;
}

// "<file>: field 'results.x[\"acc,none\"]': what" becomes "<file>: line L:
// field ...", L the line of the field's key in `text`, found key after key.
absl::Status WithLine(const absl::Status& status, const std::string& file,
                      absl::string_view text) {
  if (status.ok()) return status;
  const std::string message(status.message());
  const std::string prefix = file + ": field '";
  if (!absl::StartsWith(message, prefix)) return status;
  const size_t end = message.find("': ", prefix.size());
  const size_t end2 = message.find("' is missing", prefix.size());
  const size_t stop = std::min(end, end2);
  if (stop == std::string::npos) return status;
  size_t at = 0;
  bool found = false;
  for (const std::string& key : PathKeys(absl::string_view(message).substr(
           prefix.size(), stop - prefix.size()))) {
    std::string quoted;
    base::AppendJsonString(key, false, &quoted);
    const size_t next = text.find(quoted, at);
    if (next == absl::string_view::npos) break;
    at = next;
    found = true;
  }
  if (!found) return status;
  const int line =
      1 + static_cast<int>(std::count(text.begin(), text.begin() + at, '\n'));
  return absl::Status(status.code(), absl::StrCat(file, ": line ", line,
                                                  message.substr(file.size())));
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// A metric value of a results entry: a number, or "N/A" (stderr only).
absl::Status ReadMetric(const base::JsonReader& r, bool stderr_value,
                        double* value, bool* na) {
  *na = false;
  if (stderr_value && r.json().is_string() &&
      r.json().string_value() == "N/A") {
    *na = true;
    *value = 0;
    return absl::OkStatus();
  }
  if (r.json().is_bool()) {
    *value = r.json().bool_value() ? 1 : 0;
    return absl::OkStatus();
  }
  auto v = r.Number();
  if (!v.ok()) {
    return r.Expected(stderr_value ? "a number or \"N/A\"" : "a number");
  }
  *value = *v;
  return absl::OkStatus();
}

// evald's metric name of lm-eval's "<metric>,<filter>".
std::string EvaldMetricName(const std::string& key) {
  if (absl::EndsWith(key, ",none")) return key.substr(0, key.size() - 5);
  return key;
}

struct ImportedLeaf {
  std::string task;     // evald task (the top group, or the leaf itself)
  std::string subtask;  // "" for a task of its own
};

}  // namespace

absl::StatusOr<LmEvalImport> ParseLmEval(
    const LmEvalInputFile& results, absl::Span<const LmEvalInputFile> samples,
    const std::string& run_id, int64_t now_unix_ms) {
  const std::string file = BaseName(results.path);
  base::JsonParseOptions parse_options;
  parse_options.allow_nan_literals = true;
  auto parsed = base::ParseJson(results.content, parse_options);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": ", parsed.status().message()));
  }
  const Json& doc = *parsed;
  const base::JsonReader root(doc, file);
  auto fail = [&](const absl::Status& s) {
    return WithLine(s, file, results.content);
  };
  auto root_object = root.Object();
  if (!root_object.ok()) return fail(root_object.status());
  auto results_reader = root.Field("results").Object();
  if (!results_reader.ok()) return fail(results_reader.status());

  // The tree: group -> children; leaves are results entries that are no
  // group. A top group is no group's child.
  std::map<std::string, std::vector<std::string>> children;
  std::set<std::string> is_child;
  if (root.Field("group_subtasks").present()) {
    auto gs = root.Field("group_subtasks").Object();
    if (!gs.ok()) return fail(gs.status());
    for (size_t i = 0; i < gs->size(); ++i) {
      base::JsonReader g = gs->Item(i);
      const std::string name = doc.Find("group_subtasks")->object()[i].first;
      auto list = g.Array();
      if (!list.ok()) return fail(list.status());
      for (size_t j = 0; j < list->size(); ++j) {
        auto child = list->Item(j).String();
        if (!child.ok()) return fail(child.status());
        children[name].push_back(*child);
        is_child.insert(*child);
      }
    }
  }
  const Json* configs = doc.Find("configs");
  if (configs != nullptr) {
    auto c = root.Field("configs").Object();
    if (!c.ok()) return fail(c.status());
    for (size_t i = 0; i < c->size(); ++i) {
      auto one = c->Item(i).Object();
      if (!one.ok()) return fail(one.status());
    }
  }
  std::map<std::string, ImportedLeaf> leaves;
  std::set<std::string> placed_groups;  // a group listed twice, or a cycle
  std::function<void(const std::string&, const std::string&)> place =
      [&](const std::string& top, const std::string& node) {
        auto it = children.find(node);
        if (it != children.end() && !placed_groups.insert(node).second) return;
        if (it == children.end()) {
          std::string sub = node;
          if (absl::StartsWith(sub, top + "_"))
            sub = sub.substr(top.size() + 1);
          leaves[node] = {top, sub};
          return;
        }
        for (const std::string& c : it->second) place(top, c);
      };
  for (const auto& [name, unused] : children)
    if (!is_child.count(name)) place(name, name);
  // Each group's top group (the evald task it belongs to).
  std::map<std::string, std::string> top_of;
  std::function<void(const std::string&, const std::string&)> mark =
      [&](const std::string& top, const std::string& node) {
        auto it = children.find(node);
        if (it == children.end() || top_of.count(node)) return;
        top_of[node] = top;
        for (const std::string& c : it->second) mark(top, c);
      };
  for (const auto& [name, unused] : children)
    if (!is_child.count(name)) mark(name, name);
  for (const auto& [name, unused] : doc.Find("results")->object())
    if (!children.count(name) && !leaves.count(name)) leaves[name] = {name, ""};

  LmEvalImport out;
  v1::RunRecord& run = out.run;
  run.set_id(run_id);
  run.set_state(v1::SUCCEEDED);
  run.set_created_unix_ms(now_unix_ms);
  std::string model_name = "unknown";
  if (const Json* m = doc.Find("model_name"); m != nullptr && m->is_string())
    model_name = m->string_value();
  double date = 0;
  if (const Json* d = doc.Find("date"); d != nullptr && d->is_number())
    date = d->number_value();
  double total = 0;
  if (const Json* t = doc.Find("total_evaluation_time_seconds");
      t != nullptr && t->is_string())
    (void)absl::SimpleAtod(t->string_value(), &total);
  run.set_started_unix_ms(static_cast<int64_t>(std::llround(date * 1000)));
  run.set_finished_unix_ms(
      static_cast<int64_t>(std::llround((date + total) * 1000)));
  v1::RunSpec& spec = *run.mutable_spec();
  spec.set_name(absl::StrCat("lm-eval ", model_name));
  spec.mutable_candidate()->set_path(model_name);
  (*spec.mutable_labels())["imported"] = "lm-eval";
  (*spec.mutable_labels())["source"] = results.path;
  spec.set_suite_path(results.path);
  if (const Json* c = doc.Find("config"); c != nullptr && c->is_object()) {
    if (const Json* seed = c->Find("fewshot_seed");
        seed != nullptr && seed->is_int() && seed->int_value() >= 0)
      spec.set_seed(static_cast<uint64_t>(seed->int_value()));
  }
  v1::Fingerprint& fp = *run.mutable_fingerprint();
  fp.set_driver_version("unknown");
  fp.set_cuda_runtime_version("unknown");
  fp.set_cpu_model("unknown");
  fp.set_hostname("unknown");
  if (const Json* v = doc.Find("lm_eval_version");
      v != nullptr && v->is_string())
    fp.set_evald_version(absl::StrCat("lm-eval ", v->string_value()));
  if (const Json* g = doc.Find("git_hash"); g != nullptr && g->is_string())
    fp.set_git_commit(g->string_value());
  fp.set_decoding_mode("unknown (imported from lm-evaluation-harness)");
  v1::ModelFingerprint* model = fp.add_models();
  model->set_role("candidate");
  model->set_path(model_name);

  // Tasks in the order their first entry appears.
  std::vector<std::string> task_order;
  std::map<std::string, v1::TaskScores> scores;
  std::map<std::string, Json> task_configs;
  auto note_task = [&](const std::string& task) {
    if (std::find(task_order.begin(), task_order.end(), task) ==
        task_order.end())
      task_order.push_back(task);
  };
  for (size_t i = 0; i < results_reader->size(); ++i) {
    const std::string& name = doc.Find("results")->object()[i].first;
    auto entry = results_reader->Item(i).Object();
    if (!entry.ok()) return fail(entry.status());
    std::string task;
    std::string group;
    if (leaves.count(name)) {
      task = leaves[name].task;
      group = leaves[name].subtask;
    } else {
      // A group: the top one is the task; a subgroup names its group.
      auto it = top_of.find(name);
      const std::string top = it != top_of.end() ? it->second : name;
      task = top;
      if (name != top) {
        group = name;
        if (absl::StartsWith(group, top + "_"))
          group = group.substr(top.size() + 1);
      }
    }
    note_task(task);
    v1::TaskScores& ts = scores[task];
    ts.set_task(task);
    int64_t sample_len = 0;
    if (entry->Field("sample_len").present()) {
      auto n = entry->Field("sample_len").Int(0, int64_t{1} << 40);
      if (!n.ok()) return fail(n.status());
      sample_len = *n;
    }
    const Json& e = entry->json();
    for (size_t k = 0; k < e.object().size(); ++k) {
      const std::string& key = e.object()[k].first;
      if (key.find(',') == std::string::npos ||
          key.find("_stderr,") != std::string::npos)
        continue;
      double value = 0;
      bool na = false;
      RETURN_IF_ERROR(fail(ReadMetric(entry->Field(key), false, &value, &na)));
      const size_t comma = key.find(',');
      const std::string stderr_key =
          absl::StrCat(key.substr(0, comma), "_stderr", key.substr(comma));
      double se = 0;
      bool se_na = true;
      if (entry->Field(stderr_key).present()) {
        RETURN_IF_ERROR(
            fail(ReadMetric(entry->Field(stderr_key), true, &se, &se_na)));
      }
      int64_t count = sample_len;
      if (const Json* sc = e.Find("sample_count");
          sc != nullptr && sc->is_object()) {
        if (const Json* c = sc->Find(key); c != nullptr && c->is_int())
          count = c->int_value();
      }
      v1::Metric* m = ts.add_metrics();
      m->set_name(EvaldMetricName(key));
      m->set_group(group);
      m->set_value(value);
      m->set_std_error(se);
      m->set_std_error_na(se_na);
      m->set_count(count);
      m->set_aggregation(leaves.count(name) ? "mean" : "micro");
    }
    if (leaves.count(name) && configs != nullptr && configs->is_object()) {
      if (const Json* c = configs->Find(name)) {
        if (leaves[name].subtask.empty()) {
          task_configs[task] = *c;
        } else {
          if (!task_configs.count(task))
            task_configs[task] = Json::MakeObject();
          task_configs[task].Set(name, *c);
        }
      }
    }
  }

  // Samples: rows of one document (one per filter) make one sample.
  std::string date_id;
  if (absl::StartsWith(file, "results_") && absl::EndsWith(file, ".json"))
    date_id = file.substr(8, file.size() - 8 - 5);
  std::map<std::string, int64_t> next_index;
  // (task, subtask, metric) -> items of list-valued per-document metrics.
  std::map<std::tuple<std::string, std::string, std::string>, int64_t>
      list_items;
  for (const LmEvalInputFile& f : samples) {
    const std::string name = BaseName(f.path);
    const std::string suffix = absl::StrCat("_", date_id, ".jsonl");
    if (!absl::StartsWith(name, "samples_") || !absl::EndsWith(name, suffix) ||
        name.size() <= 8 + suffix.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": not a samples file of ", file,
                       " (expected samples_<task>", suffix, ")"));
    }
    const std::string leaf = name.substr(8, name.size() - 8 - suffix.size());
    auto placed = leaves.find(leaf);
    if (placed == leaves.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": task '", leaf, "' has no entry in ", file, "'s results"));
    }
    const ImportedLeaf& where = placed->second;
    struct Doc {
      v1::SampleRecord record;
      Json lm;
      Json metrics = Json::MakeObject();  // the rows' values as written
      bool own_metrics = false;           // some are not plain numbers
    };
    std::map<int64_t, Doc> docs;
    int line_number = 0;
    for (absl::string_view line : absl::StrSplit(f.content, '\n')) {
      ++line_number;
      if (line.empty()) continue;
      const std::string at = absl::StrCat(name, ": line ", line_number);
      auto row_json = base::ParseJson(line, parse_options);
      if (!row_json.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(at, ": ", row_json.status().message()));
      }
      const base::JsonReader row(*row_json, at);
      RETURN_IF_ERROR(row.Object().status());
      ASSIGN_OR_RETURN(int64_t doc_id,
                       row.Field("doc_id").Int(0, int64_t{1} << 40));
      ASSIGN_OR_RETURN(base::JsonReader doc_reader, row.Field("doc").Object());
      ASSIGN_OR_RETURN(std::string target, row.Field("target").String());
      ASSIGN_OR_RETURN(base::JsonReader args, row.Field("arguments").Object());
      ASSIGN_OR_RETURN(base::JsonReader resps, row.Field("resps").Array());
      ASSIGN_OR_RETURN(base::JsonReader filtered,
                       row.Field("filtered_resps").Array());
      ASSIGN_OR_RETURN(std::string filter, row.Field("filter").String());
      ASSIGN_OR_RETURN(base::JsonReader metrics, row.Field("metrics").Array());
      Doc& d = docs[doc_id];
      v1::SampleRecord& s = d.record;
      if (d.lm.is_null()) {
        d.lm = Json::MakeObject();
        d.lm.Set("doc", doc_reader.json());
        d.lm.Set("target", Json::String(target));
        Json arguments = Json::MakeArray();
        std::string prompt;
        for (size_t i = 0; i < args.size(); ++i) {
          ASSIGN_OR_RETURN(base::JsonReader request, args.Item(i).Object());
          if (i == 0 && request.size() > 0) {
            ASSIGN_OR_RETURN(prompt, request.Item(0).String());
          }
          Json list = Json::MakeArray();
          for (size_t j = 0; j < request.size(); ++j) {
            // The context is the sample's prompt: stored once.
            const Json& arg = request.Item(j).json();
            list.Push(j == 0 && arg.is_string() && arg.string_value() == prompt
                          ? Json::Null()
                          : arg);
          }
          arguments.Push(std::move(list));
        }
        d.lm.Set("arguments", std::move(arguments));
        Json stored_resps = Json::MakeArray();
        for (size_t i = 0; i < resps.size(); ++i) {
          ASSIGN_OR_RETURN(base::JsonReader per_request, resps.Item(i).Array());
          if (per_request.size() == 0)
            return per_request.Error("a request with no response");
          const Json& first = per_request.Item(0).json();
          stored_resps.Push(first);
          std::string shown = first.is_array() ? PyRepr(first) : PyStr(first);
          if (args.size() > 1) {
            const Json* cont = args.Item(i).Field("arg_1").present()
                                   ? &args.Item(i).Field("arg_1").json()
                                   : nullptr;
            if (cont != nullptr && cont->is_string())
              shown = absl::StrCat(cont->string_value(), ": ", shown);
          }
          s.add_responses(shown);
        }
        d.lm.Set("resps", std::move(stored_resps));
        d.lm.Set("filtered_resps", Json::MakeObject());
        s.set_task(where.task);
        s.set_subtask(where.subtask);
        std::string id = where.subtask.empty()
                             ? absl::StrCat(doc_id)
                             : absl::StrCat(where.subtask, "/", doc_id);
        // IFEval's documents are named by their dataset key, as evald's
        // ifeval names them.
        if (leaf == "ifeval") {
          if (const Json* key = doc_reader.json().Find("key");
              key != nullptr && key->is_int())
            id = absl::StrCat(key->int_value());
        }
        s.set_doc_id(id);
        s.set_prompt(prompt);
        s.set_target(target);
      }
      Json filtered_list = Json::MakeArray();
      for (size_t i = 0; i < filtered.size(); ++i)
        filtered_list.Push(filtered.Item(i).json());
      if (filter != "none" && filtered.size() == 1) {
        absl::StrAppend(s.mutable_extracted(),
                        s.extracted().empty() ? "" : "; ", filter, ": ",
                        PyStr(filtered.Item(0).json()));
      }
      Json* fr = nullptr;
      for (auto& [k, v] : d.lm.mutable_object())
        if (k == "filtered_resps") fr = &v;
      fr->Set(filter, std::move(filtered_list));
      for (size_t i = 0; i < metrics.size(); ++i) {
        ASSIGN_OR_RETURN(std::string metric, metrics.Item(i).String());
        base::JsonReader v = row.Field(metric);
        double value = 0;
        const std::string key =
            filter == "none" ? metric : absl::StrCat(metric, ",", filter);
        if (v.json().is_bool()) {
          value = v.json().bool_value() ? 1 : 0;
          d.own_metrics = true;
        } else if (v.json().is_array()) {
          // Per-instruction lists (IFEval): the sample's value is their mean.
          double sum = 0;
          for (size_t k = 0; k < v.size(); ++k) {
            const Json& item = v.Item(k).json();
            if (item.is_bool()) {
              sum += item.bool_value() ? 1 : 0;
            } else {
              ASSIGN_OR_RETURN(double x, v.Item(k).Number());
              sum += x;
            }
          }
          d.own_metrics = true;
          d.metrics.Set(key, v.json());
          // The metric counts instructions, as evald's scores count them.
          list_items[{where.task, where.subtask, key}] +=
              static_cast<int64_t>(v.size());
          if (v.size() == 0) continue;
          value = sum / static_cast<double>(v.size());
        } else {
          ASSIGN_OR_RETURN(value, v.Number());
        }
        if (!v.json().is_array()) d.metrics.Set(key, v.json());
        (*s.mutable_metrics())[key] = value;
      }
    }
    for (auto& [doc_id, d] : docs) {
      if (d.own_metrics) d.lm.Set("metrics", d.metrics);
      d.record.set_doc_index(next_index[where.task]++);
      d.record.set_lm_eval_json(d.lm.Dump());
      d.record.set_run_id(run_id);
      d.record.set_finished_unix_ms(run.finished_unix_ms());
      out.samples.push_back(std::move(d.record));
    }
  }

  for (const std::string& task : task_order) {
    v1::TaskSpec* t = spec.add_tasks();
    t->set_name(task);
    v1::TaskFingerprint* tf = fp.add_tasks();
    tf->set_name(task);
    tf->set_seed(spec.seed());
    // A group's version is its subtasks' (evald versions the task, not the
    // group): the first leaf's.
    std::string versioned = task;
    for (const auto& [leaf, placed] : leaves) {
      if (placed.task == task && !placed.subtask.empty()) {
        versioned = leaf;
        break;
      }
    }
    if (const Json* versions = doc.Find("versions"); versions != nullptr) {
      if (const Json* v = versions->Find(versioned);
          v != nullptr && !v->is_null())
        tf->set_version(PyStr(*v));
    }
    if (const Json* shots = doc.Find("n-shot"); shots != nullptr) {
      if (const Json* n = shots->Find(task); n != nullptr && n->is_int()) {
        tf->set_shots(static_cast<int32_t>(n->int_value()));
        t->set_shots(static_cast<int32_t>(n->int_value()));
      }
    }
    if (task_configs.count(task))
      tf->set_lm_eval_config_json(task_configs[task].Dump());
    v1::TaskScores& ts = scores[task];
    ts.set_run_id(run_id);
    for (v1::Metric& m : *ts.mutable_metrics()) {
      auto it = list_items.find({task, m.group(), m.name()});
      if (it != list_items.end()) m.set_count(it->second);
    }
    out.scores.push_back(ts);
    int64_t n = 0;
    for (const v1::SampleRecord& s : out.samples)
      if (s.task() == task) ++n;
    v1::TaskProgress* p = run.add_progress();
    p->set_task(task);
    p->set_done(n);
    p->set_total(n);
  }
  return out;
}

}  // namespace evald::daemon
