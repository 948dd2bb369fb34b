// File: tasks/lm_eval/lm_eval_task.cc
#include "tasks/lm_eval/lm_eval_task.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/sha256.h"
#include "base/status_macros.h"
#include "base/utf8.h"
#include "jinja/template.h"
#include "py/re.h"
#include "py/str.h"
#include "tasks/lm_eval/scoring.h"
#include "tasks/python_random.h"
#include "tasks/task_util.h"

namespace evald::tasks::lm_eval {
namespace {

using base::Json;

// A doc_to_* / description value ready to apply to documents: a column
// name is told apart from a template per document set (lm-eval checks the
// dataset's features).
class Field {
 public:
  static absl::StatusOr<Field> Make(const DocField& field, const char* key) {
    Field f;
    f.field_ = field;
    f.key_ = key;
    if (field.kind == DocField::Kind::kString) {
      auto tmpl =
          jinja::Template::Parse(field.text, jinja::Environment::LmEvalTask());
      if (!tmpl.ok()) {
        // A column name never needs parsing; a template that does not parse
        // fails when it is first applied, naming the document.
        f.parse_error_ = tmpl.status();
      } else {
        f.template_ = std::make_shared<jinja::Template>(*std::move(tmpl));
      }
    }
    return f;
  }

  bool set() const { return field_.set(); }
  const char* key() const { return key_; }
  const DocField& field() const { return field_; }

  // lm-eval's doc_to_* for one document, before the output-type rules:
  // the column's value, the rendered template (a string), the list, or the
  // integer. `rendered` tells a template result apart.
  absl::StatusOr<Json> Apply(const Json& doc,
                             const std::set<std::string>& features,
                             bool* rendered) const {
    *rendered = false;
    switch (field_.kind) {
      case DocField::Kind::kUnset:
        return Json();
      case DocField::Kind::kInt:
        return Json::Int(field_.number);
      case DocField::Kind::kList: {
        Json::Array items;
        for (const std::string& s : field_.list)
          items.push_back(Json::String(s));
        return Json::MakeArray(std::move(items));
      }
      case DocField::Kind::kString:
        break;
    }
    if (features.count(field_.text) > 0) {
      const Json* v = doc.Find(field_.text);
      if (v == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("the document has no column '", field_.text, "'"));
      }
      return *v;
    }
    if (template_ == nullptr) return parse_error_;
    *rendered = true;
    ASSIGN_OR_RETURN(std::string text, template_->Render(doc));
    return Json::String(std::move(text));
  }

 private:
  DocField field_;
  const char* key_ = "";
  std::shared_ptr<const jinja::Template> template_;
  absl::Status parse_error_;
};

// Python's str() of a value, for targets compared as text.
std::string PyStr(const Json& v) {
  if (v.is_string()) return v.string_value();
  if (v.is_bool()) return v.bool_value() ? "True" : "False";
  if (v.is_int()) return absl::StrCat(v.int_value());
  if (v.is_null()) return "None";
  return v.Dump();
}

// One evaluated document, its templates applied.
struct EvalDoc {
  Json doc;
  std::string where;
  std::string description;
  std::string text;
  std::vector<std::string> choices;  // doc_to_choice; empty without one
  Json target;  // int, string or list (doc_to_target's result)
  // multiple_choice: the gold indices (-100 when out of range, as lm-eval).
  std::vector<int> gold;
  std::string target_text;  // what SampleResult::target shows
  std::string dump;         // doc.Dump(), to drop it from few-shot pools
};

struct Shot {
  std::string question;
  std::string answer;
  std::string dump;
};

struct FilterSet {
  std::string name;
  CompiledFilters filters;
};

struct Leaf {
  TaskConfig config;
  std::vector<EvalDoc> docs;  // the documents in use (limit applied)
  std::vector<Shot> pool;     // the few-shot pool
  std::vector<std::vector<size_t>> shots;  // per document, into pool
  int num_fewshot = 0;
  std::string target_delimiter;  // the task's (continuations)
  std::string shot_target_delimiter;
  std::string shot_fewshot_delimiter;
  std::vector<MetricSpec> metrics;
  std::vector<std::optional<ExactMatcher>> matchers;  // per metric
  std::vector<FilterSet> filters;  // generate_until; "none" = take_first
  bool mutual_info = false;
  std::vector<DatasetFile> files;
};

absl::Status DocError(const std::string& where, const Origin& origin,
                      const char* key, const absl::Status& status) {
  return absl::InvalidArgumentError(absl::StrCat(
      where, ": ", key, " (", origin.ToString(), "): ", status.message()));
}

// lm-eval's doc_to_text / doc_to_target / doc_to_choice of one document.
absl::StatusOr<std::string> DocToText(const Field& field, const Json& doc,
                                      const std::set<std::string>& features,
                                      bool has_choices) {
  bool rendered;
  ASSIGN_OR_RETURN(Json v, field.Apply(doc, features, &rendered));
  if (rendered && has_choices && py::IsDigit(v.string_value())) {
    return absl::InvalidArgumentError(
        "renders to a number with doc_to_choice set: a multiple-input task "
        "(the text as an index into the choices), which evald does not run");
  }
  if (!v.is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("gives ", v.Dump(),
                     ", not a string (multiple-input tasks are not "
                     "supported)"));
  }
  return v.string_value();
}

absl::StatusOr<Json> DocToTarget(const Field& field, const Json& doc,
                                 const std::set<std::string>& features,
                                 bool has_choices) {
  bool rendered;
  ASSIGN_OR_RETURN(Json v, field.Apply(doc, features, &rendered));
  if (!rendered) return v;
  const std::string& s = v.string_value();
  if (has_choices && py::IsDigit(s)) {
    auto parsed = ParsePythonLiteral(s);
    if (parsed.ok() && parsed->is_int()) return *parsed;
    return absl::InvalidArgumentError(
        absl::StrCat("'", s, "' is not a Python integer literal"));
  }
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') {
    auto parsed = ParsePythonLiteral(s);
    if (parsed.ok()) return *parsed;
  }
  return v;
}

absl::StatusOr<std::vector<std::string>> DocToChoice(
    const Field& field, const Json& doc,
    const std::set<std::string>& features) {
  bool rendered;
  ASSIGN_OR_RETURN(Json v, field.Apply(doc, features, &rendered));
  if (rendered) {
    auto parsed = ParsePythonLiteral(v.string_value());
    if (!parsed.ok()) return parsed.status();
    v = *std::move(parsed);
  }
  if (v.is_object()) {  // a dict: its values
    Json::Array values;
    for (const auto& [k, item] : v.object()) values.push_back(item);
    v = Json::MakeArray(std::move(values));
  }
  if (!v.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("gives ", v.Dump(), ", not a list of choices"));
  }
  std::vector<std::string> out;
  for (const Json& item : v.array()) {
    if (!item.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "gives a list with ", item.Dump(), ", not a list of strings"));
    }
    out.push_back(item.string_value());
  }
  return out;
}

std::set<std::string> Features(const std::vector<Doc>& docs) {
  std::set<std::string> out;
  if (!docs.empty() && docs[0].value.is_object()) {
    for (const auto& [k, v] : docs[0].value.object()) out.insert(k);
  }
  return out;
}

const DocField& Pick(const DocField& override_field, const DocField& base) {
  return override_field.set() ? override_field : base;
}

absl::StatusOr<Leaf> BuildLeaf(LeafTask input, const TaskOptions& options) {
  Leaf leaf;
  leaf.config = std::move(input.config);
  const TaskConfig& c = leaf.config;
  const std::string& type = c.output_type;
  const std::string origin = c.origin.ToString();
  if (type != "multiple_choice" && type != "generate_until" &&
      type != "loglikelihood" && type != "loglikelihood_rolling") {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": task '", c.task, "': output_type '", type,
                     "' is not one of multiple_choice, generate_until, "
                     "loglikelihood, loglikelihood_rolling"));
  }
  if (!c.gen_prefix.empty() || c.fewshot_config.gen_prefix.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        origin, ": task '", c.task, "': gen_prefix is not supported"));
  }
  if (c.repeats < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": task '", c.task, "': repeats must be >= 1"));
  }
  if (type == "multiple_choice" && !c.doc_to_choice.set()) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": task '", c.task,
                     "': output_type multiple_choice needs doc_to_choice"));
  }
  leaf.files = input.docs.files;
  leaf.target_delimiter = c.target_delimiter;
  const FewshotConfig& fc = c.fewshot_config;
  leaf.shot_target_delimiter = fc.target_delimiter.value_or(c.target_delimiter);
  leaf.shot_fewshot_delimiter =
      fc.fewshot_delimiter.value_or(c.fewshot_delimiter);
  leaf.num_fewshot =
      options.shots >= 0 ? options.shots : c.num_fewshot.value_or(0);
  if (type == "loglikelihood_rolling") leaf.num_fewshot = 0;

  // Metrics and filters.
  std::vector<MetricConfig> metric_configs =
      c.metric_list.empty() ? DefaultMetrics(type) : c.metric_list;
  for (const MetricConfig& m : metric_configs) {
    ASSIGN_OR_RETURN(MetricSpec spec, ResolveMetric(m, type));
    if (spec.metric == "acc_mutual_info") leaf.mutual_info = true;
    std::optional<ExactMatcher> matcher;
    if (spec.metric == "exact_match") {
      ASSIGN_OR_RETURN(ExactMatcher em, ExactMatcher::Create(m));
      matcher = std::move(em);
    }
    leaf.metrics.push_back(std::move(spec));
    leaf.matchers.push_back(std::move(matcher));
  }
  if (type == "generate_until") {
    std::vector<FilterPipeline> pipelines = c.filter_list;
    if (pipelines.empty()) {
      FilterPipeline none;
      none.name = "none";
      FilterStep take_first;
      take_first.function = "take_first";
      none.steps.push_back(take_first);
      pipelines.push_back(std::move(none));
    }
    for (const FilterPipeline& p : pipelines) {
      ASSIGN_OR_RETURN(CompiledFilters compiled, CompiledFilters::Compile(p));
      leaf.filters.push_back({p.name, std::move(compiled)});
    }
  } else if (!c.filter_list.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(c.filter_list[0].origin.ToString(), ": task '", c.task,
                     "': filter_list applies to generate_until tasks only"));
  }

  // The eval documents.
  ASSIGN_OR_RETURN(Field text_field, Field::Make(c.doc_to_text, "doc_to_text"));
  ASSIGN_OR_RETURN(Field target_field,
                   Field::Make(c.doc_to_target, "doc_to_target"));
  ASSIGN_OR_RETURN(Field choice_field,
                   Field::Make(c.doc_to_choice, "doc_to_choice"));
  ASSIGN_OR_RETURN(Field description_field,
                   Field::Make(c.description, "description"));
  const bool has_choices = c.doc_to_choice.set();
  const std::set<std::string> features =
      Features(input.docs.eval.empty() ? input.docs.fewshot : input.docs.eval);
  size_t count = input.docs.eval.size();
  if (options.limit > 0)
    count = std::min<size_t>(count, static_cast<size_t>(options.limit));
  for (size_t i = 0; i < count; ++i) {
    const Doc& d = input.docs.eval[i];
    EvalDoc e;
    e.where = d.where;
    auto fail = [&](const Field& f, const absl::Status& st) {
      return DocError(d.where, f.field().origin, f.key(), st);
    };
    if (description_field.set()) {
      bool rendered;
      auto v = description_field.Apply(d.value, features, &rendered);
      if (!v.ok()) return fail(description_field, v.status());
      e.description = PyStr(*v);
    }
    if (type != "loglikelihood_rolling") {
      auto text = DocToText(text_field, d.value, features, has_choices);
      if (!text.ok()) return fail(text_field, text.status());
      e.text = *std::move(text);
    }
    if (has_choices) {
      auto choices = DocToChoice(choice_field, d.value, features);
      if (!choices.ok()) return fail(choice_field, choices.status());
      e.choices = *std::move(choices);
    }
    auto target = DocToTarget(target_field, d.value, features, has_choices);
    if (!target.ok()) return fail(target_field, target.status());
    e.target = *std::move(target);
    if (type == "multiple_choice") {
      auto gold_of = [&](const Json& g) -> int {
        if (g.is_int()) {
          const int64_t v = g.int_value();
          return v >= 0 && v < static_cast<int64_t>(e.choices.size())
                     ? static_cast<int>(v)
                     : -100;
        }
        if (g.is_string()) {
          auto it =
              std::find(e.choices.begin(), e.choices.end(), g.string_value());
          return it == e.choices.end()
                     ? -100
                     : static_cast<int>(it - e.choices.begin());
        }
        return -100;
      };
      if (e.target.is_array()) {
        for (const Json& g : e.target.array()) e.gold.push_back(gold_of(g));
      } else {
        e.gold.push_back(gold_of(e.target));
      }
      if (e.choices.empty()) {
        return fail(choice_field,
                    absl::InvalidArgumentError("gives no choices"));
      }
      e.target_text = e.gold[0] >= 0 ? e.choices[e.gold[0]] : PyStr(e.target);
    } else if (type == "generate_until") {
      if (has_choices) {
        if (!e.target.is_int() || e.target.int_value() < 0 ||
            e.target.int_value() >= static_cast<int64_t>(e.choices.size())) {
          return fail(target_field,
                      absl::InvalidArgumentError(absl::StrCat(
                          "gives ", e.target.Dump(), ", not an index into the ",
                          e.choices.size(), " choices")));
        }
        e.target_text = e.choices[e.target.int_value()];
      } else if (e.target.is_array()) {
        std::vector<std::string> golds;
        for (const Json& g : e.target.array()) golds.push_back(PyStr(g));
        e.target_text = absl::StrJoin(golds, " | ");
      } else {
        e.target_text = PyStr(e.target);
      }
    } else {
      if (!e.target.is_string()) {
        return fail(target_field,
                    absl::InvalidArgumentError(absl::StrCat(
                        "gives ", e.target.Dump(), ", not a string")));
      }
      e.target_text = e.target.string_value();
    }
    e.dump = d.value.Dump();
    e.doc = d.value;
    leaf.docs.push_back(std::move(e));
  }

  // The few-shot pool.
  if (leaf.num_fewshot > 0) {
    // The loader gives the pool lm-eval's fewshot_docs() picks (a split or
    // the inline samples); configs built in code may give samples alone.
    std::vector<Doc> pool_docs = input.docs.fewshot;
    if (pool_docs.empty()) {
      for (size_t k = 0; k < fc.samples.size(); ++k) {
        pool_docs.push_back(
            {fc.samples[k], absl::StrCat(fc.origin.ToString(),
                                         ": fewshot_config.samples[", k, "]")});
      }
    }
    // lm-eval hands the sampler the eval document (to draw n+1 and drop
    // it) when the few-shot split equals test_split, an unset one
    // included (None == None), whichever pool the examples come from.
    const std::string& fewshot_split =
        fc.split.empty() ? c.fewshot_split : fc.split;
    const bool pool_is_eval = fewshot_split == c.test_split;
    const bool first_n = fc.sampler == "first_n";
    if (!first_n && fc.sampler != "default") {
      return absl::InvalidArgumentError(
          absl::StrCat(fc.origin.ToString(), ": task '", c.task, "': sampler '",
                       fc.sampler, "' is not default or first_n"));
    }
    // The seeded sampler draws n+1 when it must drop the eval document
    // (random.sample refuses more than the pool); first_n drops it first
    // and needs n of what is left (checked per document below).
    const size_t needed =
        static_cast<size_t>(leaf.num_fewshot) + (pool_is_eval ? 1 : 0);
    const size_t draws =
        first_n ? static_cast<size_t>(leaf.num_fewshot) : needed;
    if (pool_docs.size() < draws) {
      return absl::InvalidArgumentError(absl::StrCat(
          origin, ": task '", c.task, "': ", leaf.num_fewshot,
          " few-shot examples asked, the few-shot pool has ", pool_docs.size(),
          draws > static_cast<size_t>(leaf.num_fewshot)
              ? " (the sampler draws one more to drop the evaluated document)"
              : ""));
    }
    // first_n uses the head of the pool only; the seeded sampler all of it.
    const size_t render =
        first_n ? std::min(pool_docs.size(), needed) : pool_docs.size();
    ASSIGN_OR_RETURN(
        Field shot_text,
        Field::Make(Pick(fc.doc_to_text, c.doc_to_text), "doc_to_text"));
    ASSIGN_OR_RETURN(
        Field shot_target,
        Field::Make(Pick(fc.doc_to_target, c.doc_to_target), "doc_to_target"));
    ASSIGN_OR_RETURN(
        Field shot_choice,
        Field::Make(Pick(fc.doc_to_choice, c.doc_to_choice), "doc_to_choice"));
    const bool shot_has_choices = shot_choice.set();
    for (size_t k = 0; k < render; ++k) {
      const Doc& d = pool_docs[k];
      const std::string where = absl::StrCat(d.where, " (few-shot)");
      auto fail = [&](const Field& f, const absl::Status& st) {
        return DocError(where, f.field().origin, f.key(), st);
      };
      Shot shot;
      auto q = DocToText(shot_text, d.value, features, has_choices);
      if (!q.ok()) return fail(shot_text, q.status());
      shot.question = *std::move(q);
      auto a = DocToTarget(shot_target, d.value, features, has_choices);
      if (!a.ok()) return fail(shot_target, a.status());
      std::vector<std::string> choices;
      if (shot_has_choices) {
        auto ch = DocToChoice(shot_choice, d.value, features);
        if (!ch.ok()) return fail(shot_choice, ch.status());
        choices = *std::move(ch);
      }
      // build_qa_turn: c[a] for an index, a[0] for a list, else a.
      Json answer = *a;
      if (!choices.empty() && answer.is_int()) {
        if (answer.int_value() < 0 ||
            answer.int_value() >= static_cast<int64_t>(choices.size())) {
          return fail(shot_target, absl::InvalidArgumentError(absl::StrCat(
                                       "index ", answer.int_value(),
                                       " is outside the choices")));
        }
        answer = Json::String(choices[answer.int_value()]);
      } else if (answer.is_array() && !answer.array().empty()) {
        answer = answer.array()[0];
      }
      if (!answer.is_string()) {
        return fail(shot_target,
                    absl::InvalidArgumentError(absl::StrCat(
                        "gives ", answer.Dump(), ", not an answer text")));
      }
      shot.answer = answer.string_value();
      shot.dump = d.value.Dump();
      leaf.pool.push_back(std::move(shot));
    }
    // Draw every document's examples now, in document order, as lm-eval
    // builds its requests (a limit keeps the first documents' draws).
    leaf.shots.resize(leaf.docs.size());
    PythonRandom rng(options.seed);
    const size_t n = static_cast<size_t>(leaf.num_fewshot);
    for (size_t i = 0; i < leaf.docs.size(); ++i) {
      std::vector<size_t>& picked = leaf.shots[i];
      if (first_n) {
        for (size_t k = 0; k < leaf.pool.size() && picked.size() < n; ++k) {
          if (pool_is_eval && leaf.pool[k].dump == leaf.docs[i].dump) continue;
          picked.push_back(k);
        }
        if (picked.size() < n) {
          return absl::InvalidArgumentError(absl::StrCat(
              leaf.docs[i].where, ": task '", c.task, "': fewer than ", n,
              " few-shot examples besides the document itself"));
        }
        continue;
      }
      ASSIGN_OR_RETURN(std::vector<uint64_t> drawn,
                       rng.Sample(pool_docs.size(), pool_is_eval ? n + 1 : n));
      for (uint64_t k : drawn) {
        if (picked.size() == n) break;
        if (pool_is_eval && leaf.pool[k].dump == leaf.docs[i].dump) continue;
        picked.push_back(k);
      }
    }
  }
  return leaf;
}

// Where a document's requests start in a flat request list, and how many.
struct Slot {
  size_t doc_index;
  size_t first;
  size_t count;
};

class LmEvalTask : public Task {
 public:
  LmEvalTask(std::string name, std::vector<Leaf> leaves,
             std::vector<GroupConfig> group_store,
             std::map<std::string, std::vector<size_t>> group_leaves,
             bool root_is_group, TaskOptions options)
      : name_(std::move(name)),
        leaves_(std::move(leaves)),
        group_store_(std::move(group_store)),
        group_leaves_(std::move(group_leaves)),
        root_is_group_(root_is_group),
        options_(std::move(options)) {
    for (size_t l = 0; l < leaves_.size(); ++l) {
      for (size_t i = 0; i < leaves_[l].docs.size(); ++i)
        docs_.push_back({l, i});
    }
  }

  void SetInfo(TaskInfo info) { info_ = std::move(info); }

  const TaskInfo& info() const override { return info_; }

  std::vector<std::string> DocIds() const override {
    std::vector<std::string> ids;
    ids.reserve(docs_.size());
    for (size_t d = 0; d < docs_.size(); ++d) ids.push_back(DocId(d));
    return ids;
  }

  absl::StatusOr<PromptView> BuildPrompt(size_t doc_index) const override {
    RETURN_IF_ERROR(CheckIndex(doc_index));
    const auto [l, i] = docs_[doc_index];
    const Leaf& leaf = leaves_[l];
    const EvalDoc& doc = leaf.docs[i];
    PromptView view;
    view.doc_id = DocId(doc_index);
    view.target = doc.target_text;
    const std::string& type = leaf.config.output_type;
    if (type == "loglikelihood_rolling") {
      view.continuations.push_back(doc.target.string_value());
      return view;
    }
    view.context = PlainContext(l, i);
    if (type == "multiple_choice") {
      for (const std::string& choice : doc.choices)
        view.continuations.push_back(leaf.target_delimiter + choice);
    } else if (type == "loglikelihood") {
      view.continuations.push_back(doc.target.string_value());
    } else {
      view.stop = Until(leaf);
      view.max_new_tokens = leaf.config.generation_kwargs.max_gen_toks;
    }
    return view;
  }

  absl::StatusOr<SampleResult> ScoreResponse(
      size_t doc_index, const std::string& response) const override {
    RETURN_IF_ERROR(CheckIndex(doc_index));
    const auto [l, i] = docs_[doc_index];
    if (leaves_[l].config.output_type != "generate_until") {
      return absl::UnimplementedError(
          absl::StrCat(leaves_[l].config.task,
                       ": scoring external responses needs a "
                       "generate_until task"));
    }
    SampleResult sample = NewSample(doc_index);
    sample.prompt = PlainContext(l, i);
    ScoreGeneration(doc_index, {response}, sample.prompt, &sample);
    return sample;
  }

  absl::Status Run(
      runners::Runner& runner, absl::Span<const size_t> doc_indices,
      const RunContext& context,
      const std::function<absl::Status(SampleResult)>& on_sample) override {
    std::vector<size_t> ll_docs;
    std::vector<size_t> gen_docs;
    for (size_t doc_index : doc_indices) {
      RETURN_IF_ERROR(CheckIndex(doc_index));
      const std::string& type =
          leaves_[docs_[doc_index].first].config.output_type;
      (type == "generate_until" ? gen_docs : ll_docs).push_back(doc_index);
    }
    CancelRelay relay(context.cancelled);
    absl::Status sink_status;
    auto emit = [&](SampleResult sample) {
      if (!sink_status.ok()) return;
      absl::Status st = on_sample(std::move(sample));
      if (!st.ok()) {
        sink_status = st;
        relay.Cancel();
      }
    };
    if (!ll_docs.empty()) {
      RETURN_IF_ERROR(RunLoglikelihood(runner, ll_docs, context, &relay, emit));
      RETURN_IF_ERROR(sink_status);
    }
    if (!gen_docs.empty() && !relay.outer_cancelled()) {
      RETURN_IF_ERROR(RunGenerate(runner, gen_docs, context, &relay, emit));
      RETURN_IF_ERROR(sink_status);
    }
    if (relay.outer_cancelled())
      return absl::CancelledError(absl::StrCat(name_, ": run cancelled"));
    return absl::OkStatus();
  }

  std::vector<MetricResult> Aggregate(
      absl::Span<const SampleResult> samples) const override {
    std::map<std::string, size_t> leaf_of;
    for (size_t l = 0; l < leaves_.size(); ++l)
      leaf_of[leaves_[l].config.task] = l;
    std::vector<std::vector<const SampleResult*>> by_leaf(leaves_.size());
    for (const SampleResult& s : samples) {
      if (!s.error.empty()) continue;
      auto it = leaf_of.find(s.subtask);
      if (it != leaf_of.end()) by_leaf[it->second].push_back(&s);
    }
    std::vector<MetricResult> out;
    // Per leaf and metric key, for the groups.
    std::map<std::string, std::map<size_t, MetricResult>> leaf_results;
    const bool single = !root_is_group_ && leaves_.size() == 1;
    for (size_t l = 0; l < leaves_.size(); ++l) {
      const Leaf& leaf = leaves_[l];
      if (by_leaf[l].empty()) continue;
      const std::vector<std::string> filters = FilterNames(leaf);
      for (const MetricSpec& spec : leaf.metrics) {
        for (const std::string& filter : filters) {
          MetricResult m = AggregateLeaf(leaf, spec, filter, by_leaf[l]);
          m.group = single ? "" : leaf.config.task;
          leaf_results[m.name][l] = m;
          out.push_back(std::move(m));
        }
      }
    }
    // Groups, innermost last as lm-eval prints them; the root is "".
    for (const GroupConfig& g : group_store_) {
      auto members = group_leaves_.find(g.group);
      if (members == group_leaves_.end()) continue;
      for (const AggregateMetric& agg : g.aggregate_metric_list) {
        for (const std::string& filter : agg.filter_list) {
          const std::string key = MetricKey(agg.metric, filter);
          auto found = leaf_results.find(key);
          if (found == leaf_results.end()) continue;
          std::vector<double> stderrs;
          std::vector<int64_t> sizes;
          double weighted = 0;
          double weight = 0;
          bool stderr_na = false;
          for (size_t l : members->second) {
            auto r = found->second.find(l);
            if (r == found->second.end()) continue;
            const double w =
                agg.weight_by_size ? static_cast<double>(r->second.count) : 1;
            weighted += r->second.value * w;
            weight += w;
            stderrs.push_back(r->second.stderr_value);
            sizes.push_back(r->second.count);
            stderr_na = stderr_na || r->second.stderr_na;
          }
          if (sizes.empty() || weight == 0) continue;
          MetricResult m;
          m.name = key;
          m.group = g.group == name_ ? "" : g.group;
          m.value = weighted / weight;
          m.count = 0;
          for (int64_t n : sizes) m.count += n;
          m.aggregation = agg.weight_by_size ? "micro" : "macro";
          m.stderr_na = stderr_na;
          if (!stderr_na) m.stderr_value = PooledStderr(stderrs, sizes);
          out.push_back(std::move(m));
        }
      }
    }
    return out;
  }

 private:
  absl::Status CheckIndex(size_t doc_index) const {
    if (doc_index >= docs_.size()) {
      return absl::OutOfRangeError(absl::StrCat(name_, ": document index ",
                                                doc_index, " out of range (",
                                                docs_.size(), " documents)"));
    }
    return absl::OkStatus();
  }

  std::string DocId(size_t doc_index) const {
    const auto [l, i] = docs_[doc_index];
    return absl::StrCat(leaves_[l].config.task, "/", i);
  }

  static std::vector<std::string> Until(const Leaf& leaf) {
    const GenerationKwargs& g = leaf.config.generation_kwargs;
    // lm-eval: no `until` means the fewshot delimiter.
    if (!g.until_set) return {leaf.config.fewshot_delimiter};
    return g.until;
  }

  static std::vector<std::string> FilterNames(const Leaf& leaf) {
    if (leaf.config.output_type != "generate_until") return {"none"};
    std::vector<std::string> names;
    for (const FilterSet& f : leaf.filters) names.push_back(f.name);
    return names;
  }

  PromptParts Parts(size_t l, size_t i) const {
    const Leaf& leaf = leaves_[l];
    const EvalDoc& doc = leaf.docs[i];
    PromptParts parts;
    parts.description = doc.description;
    parts.target_delimiter = leaf.shot_target_delimiter;
    parts.fewshot_delimiter = leaf.shot_fewshot_delimiter;
    if (!leaf.shots.empty()) {
      for (size_t k : leaf.shots[i]) {
        parts.shots.push_back({leaf.pool[k].question, leaf.pool[k].answer});
      }
    }
    parts.question = doc.text;
    return parts;
  }

  // lm-eval joins the system instruction and the description with the
  // task's fewshot_delimiter and the examples with the few-shot config's;
  // PromptParts carries one, so a task whose two differ renders the system
  // part itself.
  std::string PlainContext(size_t l, size_t i) const {
    const Leaf& leaf = leaves_[l];
    PromptParts parts = Parts(l, i);
    if (leaf.config.fewshot_delimiter == parts.fewshot_delimiter)
      return RenderPlainContext(parts, options_.system_instruction);
    std::string system =
        MaybeDelimit(options_.system_instruction, parts.description,
                     leaf.config.fewshot_delimiter);
    parts.description.clear();
    return system + RenderPlainContext(parts, "");
  }

  std::vector<runners::ChatMessage> ChatMessages(size_t l, size_t i) const {
    const Leaf& leaf = leaves_[l];
    PromptParts parts = Parts(l, i);
    if (leaf.config.fewshot_delimiter == parts.fewshot_delimiter) {
      return BuildChatMessages(parts, options_.system_instruction,
                               /*fewshot_as_multiturn=*/true);
    }
    std::string system =
        MaybeDelimit(options_.system_instruction, parts.description,
                     leaf.config.fewshot_delimiter);
    parts.description.clear();
    std::vector<runners::ChatMessage> messages =
        BuildChatMessages(parts, "", /*fewshot_as_multiturn=*/true);
    if (!system.empty())
      messages.insert(messages.begin(), {"system", std::move(system)});
    return messages;
  }

  SampleResult NewSample(size_t doc_index) const {
    const auto [l, i] = docs_[doc_index];
    SampleResult sample;
    sample.doc_index = doc_index;
    sample.doc_id = DocId(doc_index);
    sample.subtask = leaves_[l].config.task;
    sample.target = leaves_[l].docs[i].target_text;
    return sample;
  }

  // The context sent for a document, and the target delimiter of its
  // continuations (lm-eval drops it under a chat template).
  absl::StatusOr<std::pair<std::string, std::string>> Context(
      const runners::Runner& runner, size_t l, size_t i) const {
    const Leaf& leaf = leaves_[l];
    if (leaf.config.output_type == "loglikelihood_rolling")
      return std::make_pair(std::string(), std::string());
    if (options_.chat_template) {
      ASSIGN_OR_RETURN(std::string ctx, RenderChat(runner, ChatMessages(l, i)));
      return std::make_pair(std::move(ctx), std::string());
    }
    return std::make_pair(PlainContext(l, i), leaf.target_delimiter);
  }

  template <typename Emit>
  absl::Status RunLoglikelihood(runners::Runner& runner,
                                const std::vector<size_t>& doc_indices,
                                const RunContext& context, CancelRelay* relay,
                                Emit& emit) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<runners::LoglikelihoodRequest> requests;
    std::vector<Slot> slots;
    std::vector<size_t> slot_of;  // request -> slot
    std::vector<std::string> contexts;
    for (size_t doc_index : doc_indices) {
      const auto [l, i] = docs_[doc_index];
      const Leaf& leaf = leaves_[l];
      const EvalDoc& doc = leaf.docs[i];
      ASSIGN_OR_RETURN(auto ctx, Context(runner, l, i));
      Slot slot{doc_index, requests.size(), 0};
      const std::string& type = leaf.config.output_type;
      if (type == "multiple_choice") {
        for (const std::string& choice : doc.choices)
          requests.push_back({ctx.first, ctx.second + choice});
        if (leaf.mutual_info) {
          for (const std::string& choice : doc.choices)
            requests.push_back({"", ctx.second + choice});
        }
      } else {
        // loglikelihood: (ctx, target); rolling: ("", text), the empty
        // context standing for the BOS token.
        requests.push_back({ctx.first, doc.target.string_value()});
      }
      slot.count = requests.size() - slot.first;
      for (size_t r = 0; r < slot.count; ++r) slot_of.push_back(slots.size());
      slots.push_back(slot);
      contexts.push_back(std::move(ctx.first));
    }
    if (requests.empty()) return absl::OkStatus();
    struct Pending {
      size_t received = 0;
      std::vector<double> logprob;
      std::vector<bool> greedy;
      int64_t prompt_tokens = 0;
      int64_t cached_tokens = 0;
      std::string error;
      bool cancelled = false;
    };
    std::vector<Pending> pending(slots.size());
    for (size_t s = 0; s < slots.size(); ++s) {
      pending[s].logprob.assign(slots[s].count, 0);
      pending[s].greedy.assign(slots[s].count, false);
    }
    runners::CallOptions call_options;
    call_options.cancelled = relay->flag();
    call_options.stop_admitting = context.draining;
    absl::Status call_status = runner.Loglikelihood(
        requests, call_options,
        [&](size_t r, absl::StatusOr<runners::LoglikelihoodResult> result) {
          if (r >= slot_of.size()) return;
          const size_t s = slot_of[r];
          const size_t k = r - slots[s].first;
          Pending& p = pending[s];
          if (!result.ok()) {
            if (absl::IsCancelled(result.status())) {
              p.cancelled = true;
            } else if (p.error.empty()) {
              p.error =
                  absl::StrCat("request ", k, ": ", result.status().ToString());
            }
          } else {
            p.logprob[k] = result->logprob;
            p.greedy[k] = result->is_greedy;
            p.prompt_tokens +=
                result->context_tokens +
                static_cast<int64_t>(result->continuation_token_ids.size());
            p.cached_tokens += result->cached_tokens;
          }
          if (++p.received < slots[s].count || p.cancelled) return;
          // A cancelled document is not stored, so a resumed run redoes it.
          SampleResult sample = NewSample(slots[s].doc_index);
          sample.prompt = contexts[s];
          sample.prompt_tokens = p.prompt_tokens;
          sample.cached_tokens = p.cached_tokens;
          sample.wall_seconds = std::chrono::duration<double>(
                                    std::chrono::steady_clock::now() - start)
                                    .count();
          if (!p.error.empty()) {
            sample.error = p.error;
            Json::Array arguments;
            for (size_t k = 0; k < slots[s].count; ++k) {
              const runners::LoglikelihoodRequest& req =
                  requests[slots[s].first + k];
              arguments.push_back(
                  leaves_[docs_[slots[s].doc_index].first].config.output_type ==
                          "loglikelihood_rolling"
                      ? Json::MakeArray({Json::String(req.continuation)})
                      : Json::MakeArray({Json::String(req.context),
                                         Json::String(req.continuation)}));
            }
            sample.lm_eval_json =
                ErrorRecord(slots[s].doc_index, std::move(arguments));
          } else {
            ScoreLoglikelihood(slots[s].doc_index, requests, slots[s],
                               p.logprob, p.greedy, &sample);
          }
          emit(std::move(sample));
        });
    return call_status;
  }

  template <typename Emit>
  absl::Status RunGenerate(runners::Runner& runner,
                           const std::vector<size_t>& doc_indices,
                           const RunContext& context, CancelRelay* relay,
                           Emit& emit) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<runners::GenerateRequest> requests;
    std::vector<Slot> slots;
    std::vector<size_t> slot_of;
    std::vector<std::string> shown;
    for (size_t doc_index : doc_indices) {
      const auto [l, i] = docs_[doc_index];
      const Leaf& leaf = leaves_[l];
      runners::GenerateRequest request;
      std::string prompt;
      if (options_.chat_template) {
        ASSIGN_OR_RETURN(runners::ChatPrompt chat,
                         PrepareChatRequest(runner, ChatMessages(l, i)));
        request.messages = std::move(chat.messages);
        prompt = std::move(chat.text);
      } else {
        request.prompt = PlainContext(l, i);
        prompt = request.prompt;
      }
      const GenerationKwargs& g = leaf.config.generation_kwargs;
      request.stop = Until(leaf);
      request.max_new_tokens = g.max_gen_toks;
      if (g.do_sample) {
        request.sampling.temperature = g.temperature > 0 ? g.temperature : 1.0;
        if (g.top_p.has_value()) request.sampling.top_p = *g.top_p;
        if (g.top_k.has_value()) request.sampling.top_k = *g.top_k;
      }
      Slot slot{doc_index, requests.size(),
                static_cast<size_t>(leaf.config.repeats)};
      for (int r = 0; r < leaf.config.repeats; ++r) {
        runners::GenerateRequest copy = request;
        copy.sampling.seed = options_.seed + static_cast<uint64_t>(r);
        requests.push_back(std::move(copy));
        slot_of.push_back(slots.size());
      }
      slots.push_back(slot);
      shown.push_back(std::move(prompt));
    }
    if (requests.empty()) return absl::OkStatus();
    struct Pending {
      size_t received = 0;
      std::vector<std::string> texts;
      int64_t prompt_tokens = 0;
      int64_t cached_tokens = 0;
      int64_t generated_tokens = 0;
      std::string error;
      bool cancelled = false;
    };
    std::vector<Pending> pending(slots.size());
    for (size_t s = 0; s < slots.size(); ++s)
      pending[s].texts.resize(slots[s].count);
    runners::CallOptions call_options;
    call_options.cancelled = relay->flag();
    call_options.stop_admitting = context.draining;
    absl::Status call_status = runner.Generate(
        requests, call_options,
        [&](size_t r, absl::StatusOr<runners::GenerateResult> result) {
          if (r >= slot_of.size()) return;
          const size_t s = slot_of[r];
          Pending& p = pending[s];
          if (!result.ok()) {
            if (absl::IsCancelled(result.status())) {
              p.cancelled = true;
            } else if (p.error.empty()) {
              p.error = result.status().ToString();
            }
          } else if (result->finish_reason ==
                     runners::FinishReason::kCancelled) {
            p.cancelled = true;
          } else {
            p.texts[r - slots[s].first] = result->text;
            p.prompt_tokens += result->prompt_tokens;
            p.cached_tokens += result->cached_tokens;
            p.generated_tokens +=
                static_cast<int64_t>(result->token_ids.size());
          }
          if (++p.received < slots[s].count || p.cancelled) return;
          SampleResult sample = NewSample(slots[s].doc_index);
          sample.prompt = shown[s];
          sample.prompt_tokens = p.prompt_tokens;
          sample.cached_tokens = p.cached_tokens;
          sample.generated_tokens = p.generated_tokens;
          sample.wall_seconds = std::chrono::duration<double>(
                                    std::chrono::steady_clock::now() - start)
                                    .count();
          if (!p.error.empty()) {
            sample.error = p.error;
            const Json kwargs =
                GenKwargsJson(leaves_[docs_[slots[s].doc_index].first]);
            Json::Array arguments;
            for (size_t k = 0; k < slots[s].count; ++k)
              arguments.push_back(
                  Json::MakeArray({Json::String(shown[s]), kwargs}));
            sample.lm_eval_json =
                ErrorRecord(slots[s].doc_index, std::move(arguments));
          } else {
            ScoreGeneration(slots[s].doc_index, p.texts, shown[s], &sample);
          }
          emit(std::move(sample));
        });
    return call_status;
  }

  void ScoreLoglikelihood(size_t doc_index,
                          const std::vector<runners::LoglikelihoodRequest>& rq,
                          const Slot& slot, const std::vector<double>& lls,
                          const std::vector<bool>& greedy,
                          SampleResult* sample) const {
    const auto [l, i] = docs_[doc_index];
    const Leaf& leaf = leaves_[l];
    const EvalDoc& doc = leaf.docs[i];
    const std::string& type = leaf.config.output_type;
    Json::Array arguments;
    Json::Array resps;
    Json::Array filtered;
    for (size_t k = 0; k < slot.count; ++k) {
      const runners::LoglikelihoodRequest& req = rq[slot.first + k];
      if (type == "loglikelihood_rolling") {
        arguments.push_back(Json::MakeArray({Json::String(req.continuation)}));
        resps.push_back(Json::MakeArray({Json::Double(lls[k])}));
        filtered.push_back(Json::Double(lls[k]));
      } else {
        arguments.push_back(Json::MakeArray(
            {Json::String(req.context), Json::String(req.continuation)}));
        Json pair =
            Json::MakeArray({Json::Double(lls[k]), Json::Bool(greedy[k])});
        resps.push_back(Json::MakeArray({pair}));
        filtered.push_back(pair);
      }
    }
    Json::Object filtered_resps;
    filtered_resps.emplace_back("none", Json::MakeArray(std::move(filtered)));
    Json record = Json::MakeObject();
    record.Set("doc", doc.doc);
    record.Set("target", doc.target);
    record.Set("arguments", Json::MakeArray(std::move(arguments)));
    record.Set("resps", Json::MakeArray(std::move(resps)));
    record.Set("filtered_resps", Json::MakeObject(std::move(filtered_resps)));

    if (type == "loglikelihood_rolling") {
      const std::string& text = doc.target.string_value();
      // count_words: len(re.split(r"\s+", text)); count_bytes: UTF-8 bytes.
      static const py::Regex* const kSpaces =
          new py::Regex(py::Regex::CompileOrDie(R"(\s+)"));
      const double words = static_cast<double>(kSpaces->Split(text).size());
      const double bytes = static_cast<double>(text.size());
      // lm-eval logs each perplexity metric as its (loglikelihood, weight)
      // pair, the inputs of its weighted aggregation.
      Json own = Json::MakeObject();
      for (const MetricSpec& spec : leaf.metrics) {
        const double weight = spec.metric == "word_perplexity" ? words : bytes;
        own.Set(spec.metric,
                Json::MakeArray({Json::Double(lls[0]),
                                 Json::Int(static_cast<int64_t>(weight))}));
      }
      record.Set("metrics", std::move(own));
      sample->lm_eval_json = record.Dump();
      sample->responses = {absl::StrFormat("loglikelihood=%.6f", lls[0])};
      sample->metrics["loglikelihood"] = lls[0];
      sample->metrics["words"] = words;
      sample->metrics["bytes"] = bytes;
      return;
    }
    sample->lm_eval_json = record.Dump();
    if (type == "loglikelihood") {
      sample->responses = {
          absl::StrFormat("logprob=%.6f greedy=%d", lls[0], greedy[0] ? 1 : 0)};
      for (const MetricSpec& spec : leaf.metrics) {
        if (spec.metric == "acc") sample->metrics["acc"] = greedy[0];
        if (spec.metric == "perplexity") sample->metrics["perplexity"] = lls[0];
      }
      return;
    }
    // multiple_choice.
    const size_t n = doc.choices.size();
    auto argmax = [&](auto value) {
      size_t best = 0;
      for (size_t c = 1; c < n; ++c) {
        if (value(c) > value(best)) best = c;  // ties keep the first
      }
      return static_cast<int>(best);
    };
    const int pred = argmax([&](size_t c) { return lls[c]; });
    // acc_norm divides by the choice's length in characters (len(str)).
    const int pred_norm = argmax([&](size_t c) {
      return lls[c] /
             static_cast<double>(base::CountCodePoints(doc.choices[c]));
    });
    auto hit = [&](int p) {
      return std::find(doc.gold.begin(), doc.gold.end(), p) != doc.gold.end()
                 ? 1.0
                 : 0.0;
    };
    for (size_t c = 0; c < n; ++c) {
      sample->responses.push_back(absl::StrFormat("%s: logprob=%.6f greedy=%d",
                                                  doc.choices[c], lls[c],
                                                  greedy[c] ? 1 : 0));
    }
    sample->extracted = doc.choices[pred];
    for (const MetricSpec& spec : leaf.metrics) {
      if (spec.metric == "acc") sample->metrics["acc"] = hit(pred);
      if (spec.metric == "acc_norm")
        sample->metrics["acc_norm"] = hit(pred_norm);
      if (spec.metric == "acc_mutual_info" && slot.count == 2 * n) {
        const int pred_mi =
            argmax([&](size_t c) { return lls[c] - lls[n + c]; });
        sample->metrics["acc_mutual_info"] = hit(pred_mi);
      }
    }
  }

  void ScoreGeneration(size_t doc_index,
                       const std::vector<std::string>& responses,
                       const std::string& context, SampleResult* sample) const {
    const auto [l, i] = docs_[doc_index];
    const Leaf& leaf = leaves_[l];
    const EvalDoc& doc = leaf.docs[i];
    sample->responses = responses;
    std::vector<std::string> golds;
    if (!doc.choices.empty()) {
      golds = {doc.choices[doc.target.int_value()]};
    } else if (doc.target.is_array()) {
      for (const Json& g : doc.target.array()) golds.push_back(PyStr(g));
    } else {
      golds = {PyStr(doc.target)};
    }
    Json::Object filtered_resps;
    std::vector<std::string> extracted;
    for (const FilterSet& f : leaf.filters) {
      const std::string value = f.filters.Apply(responses);
      filtered_resps.emplace_back(f.name,
                                  Json::MakeArray({Json::String(value)}));
      extracted.push_back(absl::StrCat(f.name, ": ", value));
      for (size_t m = 0; m < leaf.metrics.size(); ++m) {
        if (!leaf.matchers[m].has_value()) continue;
        double score = 0;
        for (const std::string& gold : golds)
          score = std::max(score, leaf.matchers[m]->Score(value, gold));
        sample->metrics[MetricKey(leaf.metrics[m].metric, f.name)] = score;
      }
    }
    sample->extracted = absl::StrJoin(extracted, "; ");
    const Json kwargs = GenKwargsJson(leaf);
    Json::Array arguments;
    Json::Array resps;
    for (const std::string& r : responses) {
      arguments.push_back(Json::MakeArray({Json::String(context), kwargs}));
      resps.push_back(Json::MakeArray({Json::String(r)}));
    }
    Json record = Json::MakeObject();
    record.Set("doc", doc.doc);
    record.Set("target", doc.target);
    record.Set("arguments", Json::MakeArray(std::move(arguments)));
    record.Set("resps", Json::MakeArray(std::move(resps)));
    record.Set("filtered_resps", Json::MakeObject(std::move(filtered_resps)));
    sample->lm_eval_json = record.Dump();
  }

  // The generation kwargs as lm-eval's request arguments carry them.
  static Json GenKwargsJson(const Leaf& leaf) {
    Json kwargs = Json::MakeObject();
    const GenerationKwargs& g = leaf.config.generation_kwargs;
    Json::Array until;
    for (const std::string& s : Until(leaf)) until.push_back(Json::String(s));
    kwargs.Set("until", Json::MakeArray(std::move(until)));
    kwargs.Set("max_gen_toks", Json::Int(g.max_gen_toks));
    kwargs.Set("do_sample", Json::Bool(g.do_sample));
    kwargs.Set("temperature", Json::Double(g.temperature));
    return kwargs;
  }

  // A failed document's record: what was asked, no responses.
  std::string ErrorRecord(size_t doc_index, Json::Array arguments) const {
    const auto [l, i] = docs_[doc_index];
    Json record = Json::MakeObject();
    record.Set("doc", leaves_[l].docs[i].doc);
    record.Set("target", leaves_[l].docs[i].target);
    record.Set("arguments", Json::MakeArray(std::move(arguments)));
    record.Set("resps", Json::MakeArray());
    record.Set("filtered_resps", Json::MakeObject());
    return record.Dump();
  }

  MetricResult AggregateLeaf(
      const Leaf& leaf, const MetricSpec& spec, const std::string& filter,
      const std::vector<const SampleResult*>& samples) const {
    MetricResult m;
    m.name = MetricKey(spec.metric, filter);
    m.aggregation = spec.aggregation_name;
    auto get = [](const SampleResult* s, const std::string& key, double* out) {
      auto it = s->metrics.find(key);
      if (it == s->metrics.end()) return false;
      *out = it->second;
      return true;
    };
    if (spec.aggregation == Aggregation::kMean ||
        spec.aggregation == Aggregation::kPerplexity) {
      std::vector<double> values;
      for (const SampleResult* s : samples) {
        double v;
        if (get(s, m.name, &v)) values.push_back(v);
      }
      m.count = static_cast<int64_t>(values.size());
      if (spec.aggregation == Aggregation::kMean) {
        m.value = Mean(values);
        m.stderr_value = MeanStderr(values);
        m.stderr_na = values.size() < 2;
      } else {
        m.value = std::exp(-Mean(values));
        // lm-eval bootstraps it; one document has none ("N/A").
        m.stderr_na = values.size() < 2;
        if (!m.stderr_na) m.stderr_value = PerplexityBootstrapStderr(values);
      }
      return m;
    }
    // Weighted: Σ loglikelihood over Σ words / bytes.
    double ll = 0;
    double weight = 0;
    for (const SampleResult* s : samples) {
      double v, w;
      if (!get(s, "loglikelihood", &v)) continue;
      if (!get(s, spec.metric == "word_perplexity" ? "words" : "bytes", &w))
        continue;
      ll += v;
      weight += w;
      ++m.count;
    }
    m.stderr_na = true;  // no stderr for these aggregations in lm-eval
    if (weight <= 0) return m;
    if (spec.aggregation == Aggregation::kWeightedPerplexity) {
      m.value = std::exp(-ll / weight);
    } else {
      m.value = -(ll / weight) / std::log(2.0);
    }
    return m;
  }

  std::string name_;
  std::vector<Leaf> leaves_;
  std::vector<GroupConfig> group_store_;
  std::map<std::string, std::vector<size_t>> group_leaves_;
  bool root_is_group_;
  TaskOptions options_;
  std::vector<std::pair<size_t, size_t>> docs_;  // (leaf, document)
  TaskInfo info_;
};

// The leaves under a group member, recursively: a leaf task, a group, or a
// tag (every leaf carrying it).
void CollectLeaves(const std::string& member,
                   const std::map<std::string, const GroupConfig*>& groups,
                   const std::vector<Leaf>& leaves, int depth,
                   std::vector<size_t>* out) {
  if (depth > 32) return;
  for (size_t l = 0; l < leaves.size(); ++l) {
    if (leaves[l].config.task == member) {
      if (std::find(out->begin(), out->end(), l) == out->end())
        out->push_back(l);
      return;
    }
  }
  auto g = groups.find(member);
  if (g != groups.end()) {
    for (const std::string& m : g->second->members)
      CollectLeaves(m, groups, leaves, depth + 1, out);
    return;
  }
  for (size_t l = 0; l < leaves.size(); ++l) {
    const auto& tags = leaves[l].config.tags;
    if (std::find(tags.begin(), tags.end(), member) != tags.end() &&
        std::find(out->begin(), out->end(), l) == out->end())
      out->push_back(l);
  }
}

// The groups under `name` (itself included), depth first, root first.
void CollectGroups(const std::string& name,
                   const std::map<std::string, const GroupConfig*>& groups,
                   int depth, std::vector<const GroupConfig*>* out) {
  if (depth > 32) return;
  auto g = groups.find(name);
  if (g == groups.end()) return;
  if (std::find(out->begin(), out->end(), g->second) != out->end()) return;
  out->push_back(g->second);
  for (const std::string& m : g->second->members)
    CollectGroups(m, groups, depth + 1, out);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Task>> CreateLmEvalTask(
    const std::string& name, std::vector<LeafTask> inputs,
    const std::vector<GroupConfig>& groups,
    const std::vector<DatasetFile>& yaml_files, const TaskOptions& options) {
  if (inputs.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("lm-eval task '", name, "': no tasks"));
  }
  std::vector<Leaf> leaves;
  std::set<std::string> names;
  for (LeafTask& input : inputs) {
    if (!names.insert(input.config.task).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          input.config.origin.ToString(), ": task '", input.config.task,
          "' appears twice under '", name, "'"));
    }
    ASSIGN_OR_RETURN(Leaf leaf, BuildLeaf(std::move(input), options));
    leaves.push_back(std::move(leaf));
  }
  std::map<std::string, const GroupConfig*> by_name;
  for (const GroupConfig& g : groups) by_name[g.group] = &g;
  std::vector<const GroupConfig*> under;
  CollectGroups(name, by_name, 0, &under);
  std::vector<GroupConfig> group_store;
  std::map<std::string, std::vector<size_t>> group_leaves;
  for (const GroupConfig* g : under) {
    group_store.push_back(*g);
    std::vector<size_t> members;
    CollectLeaves(g->group, by_name, leaves, 0, &members);
    std::sort(members.begin(), members.end());
    group_leaves[g->group] = std::move(members);
  }
  const bool root_is_group = by_name.count(name) > 0;
  // Each group's direct children for the lm-eval export: subgroups by name,
  // tags expanded to their tasks (sorted by name, as lm-eval expands them).
  Json groups_json = Json::MakeObject();
  for (const GroupConfig* g : under) {
    Json children = Json::MakeArray();
    for (const std::string& m : g->members) {
      if (by_name.count(m) > 0) {
        children.Push(Json::String(m));
        continue;
      }
      std::vector<std::string> tagged;
      for (const Leaf& leaf : leaves) {
        const std::vector<std::string>& tags = leaf.config.tags;
        if (leaf.config.task == m ||
            std::find(tags.begin(), tags.end(), m) != tags.end())
          tagged.push_back(leaf.config.task);
      }
      std::sort(tagged.begin(), tagged.end());
      for (const std::string& t : tagged) children.Push(Json::String(t));
    }
    const Json* alias = g->config_json.is_object()
                            ? g->config_json.Find("group_alias")
                            : nullptr;
    Json entry = Json::MakeObject();
    entry.Set("alias", Json::String(alias != nullptr && alias->is_string()
                                        ? alias->string_value()
                                        : g->group));
    // metadata.version as the group file wrote it (lm-eval's `versions`).
    const Json* metadata =
        g->config_json.is_object() ? g->config_json.Find("metadata") : nullptr;
    const Json* version = metadata != nullptr && metadata->is_object()
                              ? metadata->Find("version")
                              : nullptr;
    entry.Set("version", version != nullptr ? *version : Json::Null());
    entry.Set("children", std::move(children));
    groups_json.Set(g->group, std::move(entry));
  }

  // What the fingerprint records.
  TaskInfo info;
  info.name = name;
  if (root_is_group) {
    info.version = by_name[name]->version;
  } else if (leaves.size() == 1) {
    info.version = leaves[0].config.version;
  }
  info.shots = leaves[0].num_fewshot;
  std::set<std::string> seen_files;
  for (const DatasetFile& f : yaml_files) {
    if (seen_files.insert(f.path).second) info.datasets.push_back(f);
  }
  for (const Leaf& leaf : leaves) {
    for (const DatasetFile& f : leaf.files) {
      if (seen_files.insert(f.path).second) info.datasets.push_back(f);
    }
  }
  Json configs = Json::MakeObject();
  std::string rules = absl::StrCat("lm-eval-yaml/1\nname=", name);
  for (const DatasetFile& f : yaml_files)
    absl::StrAppend(&rules, "\nfile=", f.path, " ", f.sha256);
  std::vector<std::string> settings;
  for (const Leaf& leaf : leaves) {
    Json config = leaf.config.config_json.is_object() ? leaf.config.config_json
                                                      : Json::MakeObject();
    config.Set("num_fewshot", Json::Int(leaf.num_fewshot));
    absl::StrAppend(&rules, "\nconfig=", config.Dump());
    configs.Set(leaf.config.task, std::move(config));
    const std::string& type = leaf.config.output_type;
    std::string s;
    if (type == "generate_until") {
      const GenerationKwargs& g = leaf.config.generation_kwargs;
      s = absl::StrCat(
          g.do_sample ? absl::StrCat("sampled, temperature ", g.temperature)
                      : std::string("greedy"),
          ", max ", g.max_gen_toks, " new tokens, stop [\"",
          absl::StrJoin(
              g.until_set
                  ? g.until
                  : std::vector<std::string>{leaf.config.fewshot_delimiter},
              "\", \""),
          "\"]",
          leaf.config.repeats > 1
              ? absl::StrCat(", ", leaf.config.repeats, " repeats")
              : std::string());
    } else {
      s = type;
    }
    if (std::find(settings.begin(), settings.end(), s) == settings.end())
      settings.push_back(s);
  }
  for (const GroupConfig* g : under) {
    absl::StrAppend(
        &rules, "\ngroup=",
        g->config_json.is_object() ? g->config_json.Dump() : g->group);
  }
  absl::StrAppend(&rules, "\nshots=", options.shots, "\nseed=", options.seed,
                  "\nlimit=", options.limit,
                  "\nchat_template=", options.chat_template ? 1 : 0,
                  "\nfewshot_as_multiturn=1\nsystem_instruction=",
                  options.system_instruction);
  info.prompt_format_hash = base::Sha256Hex(rules);
  info.generation_settings = absl::StrJoin(settings, "; ");
  if (!groups_json.object().empty())
    info.lm_eval_groups_json = groups_json.Dump();
  info.lm_eval_config_json = (!root_is_group && leaves.size() == 1)
                                 ? configs.object()[0].second.Dump()
                                 : configs.Dump();

  auto task = std::make_unique<LmEvalTask>(
      name, std::move(leaves), std::move(group_store), std::move(group_leaves),
      root_is_group, options);
  task->SetInfo(std::move(info));
  return std::unique_ptr<Task>(std::move(task));
}

absl::StatusOr<std::unique_ptr<Task>> CreateTaskFromFile(
    const std::string& name, const TaskOptions& options) {
  ASSIGN_OR_RETURN(TaskLibrary library, LoadTaskLibrary(options.task_file));
  std::string resolved = name;
  if (resolved.empty()) {
    ASSIGN_OR_RETURN(resolved, library.DefaultName());
  }
  ASSIGN_OR_RETURN(std::vector<const TaskConfig*> configs,
                   library.Resolve(resolved));
  std::vector<LeafTask> leaves;
  for (const TaskConfig* config : configs) {
    ASSIGN_OR_RETURN(TaskDocs docs, LoadTaskDocs(*config));
    leaves.push_back({*config, std::move(docs)});
  }
  return CreateLmEvalTask(resolved, std::move(leaves), library.groups,
                          library.files, options);
}

namespace {
const bool kRegistered = [] {
  RegisterTaskFileFactory(CreateTaskFromFile);
  return true;
}();
}  // namespace

}  // namespace evald::tasks::lm_eval
