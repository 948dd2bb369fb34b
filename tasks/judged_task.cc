// File: tasks/judged_task.cc
#include "tasks/judged_task.h"

#include <chrono>
#include <cmath>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "base/file.h"
#include "base/sha256.h"
#include "base/status_macros.h"
#include "judge/judge.h"
#include "tasks/dataset.h"
#include "tasks/judging.h"
#include "tasks/task_util.h"

namespace evald::tasks {
namespace {

constexpr char kVersion[] = "1.0";
constexpr char kCandidateFirst[] = "candidate_first";
constexpr char kBaselineFirst[] = "baseline_first";

struct Item {
  std::string id;
  std::string prompt;
  std::string reference;
  std::string category;
};

// A string, or a list of strings of which the first is taken when
// `first_turn` (MT-Bench's turns) and which must otherwise have one entry.
absl::StatusOr<std::string> OneString(const base::Json& value,
                                      absl::string_view where,
                                      bool first_turn) {
  if (value.is_string()) return value.string_value();
  if (value.is_array() && !value.array().empty() &&
      value.array()[0].is_string() &&
      (value.array().size() == 1 || first_turn)) {
    return value.array()[0].string_value();
  }
  if (value.is_array() && value.array().size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "has ", value.array().size(),
                     " entries; multi-turn prompts are not supported (option "
                     "first_turn: true uses the first)"));
  }
  return absl::InvalidArgumentError(absl::StrCat(where, "expected a string"));
}

absl::StatusOr<std::vector<Item>> LoadItems(const std::string& path,
                                            bool first_turn) {
  ASSIGN_OR_RETURN(std::vector<JsonlRecord> records, ReadJsonl(path));
  std::vector<Item> items;
  std::set<std::string> seen;
  for (const JsonlRecord& record : records) {
    auto where = [&](absl::string_view field) {
      return absl::StrCat(path, ":", record.line, ": field '", field, "': ");
    };
    Item item;
    const base::Json* id = record.value.Find("id");
    const char* id_field = "id";
    if (id == nullptr) {
      id = record.value.Find("question_id");
      id_field = "question_id";
    }
    if (id == nullptr) {
      item.id = absl::StrCat("line", record.line);
    } else if (id->is_string() && !id->string_value().empty()) {
      item.id = id->string_value();
    } else if (id->is_int()) {
      item.id = absl::StrCat(id->int_value());
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          where(id_field), "expected a non-empty string or an integer"));
    }
    if (!seen.insert(item.id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(id_field), "duplicate id '", item.id, "'"));
    }
    const base::Json* prompt = nullptr;
    const char* prompt_field = nullptr;
    for (const char* name : {"prompt", "question", "turns"}) {
      if ((prompt = record.value.Find(name)) != nullptr) {
        prompt_field = name;
        break;
      }
    }
    if (prompt == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", record.line,
          ": missing field 'prompt' (or 'question', or one-entry 'turns')"));
    }
    ASSIGN_OR_RETURN(item.prompt,
                     OneString(*prompt, where(prompt_field), first_turn));
    if (item.prompt.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(prompt_field), "is empty"));
    }
    if (const base::Json* reference = record.value.Find("reference");
        reference != nullptr && !reference->is_null()) {
      ASSIGN_OR_RETURN(item.reference,
                       OneString(*reference, where("reference"), first_turn));
    }
    if (const base::Json* category = record.value.Find("category");
        category != nullptr && !category->is_null()) {
      if (!category->is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where("category"), "expected a string"));
      }
      item.category = category->string_value();
    }
    items.push_back(std::move(item));
  }
  if (items.empty())
    return absl::InvalidArgumentError(absl::StrCat(path, ": no prompts"));
  return items;
}

absl::StatusOr<int> PositiveOption(
    const std::map<std::string, std::string>& options, const std::string& key,
    int fallback) {
  auto it = options.find(key);
  if (it == options.end()) return fallback;
  int value = 0;
  if (!absl::SimpleAtoi(it->second, &value) || value <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("option '", key, "': expected a positive integer, got '",
                     it->second, "'"));
  }
  return value;
}

std::string ModeName(judge::Mode mode) {
  switch (mode) {
    case judge::Mode::kSingle:
      return "single";
    case judge::Mode::kPairwise:
      return "pairwise";
    case judge::Mode::kReference:
      return "reference";
  }
  return "single";
}

MetricResult Count(const std::string& name, int64_t value, int64_t of) {
  MetricResult m;
  m.name = name;
  m.value = static_cast<double>(value);
  m.count = of;
  m.aggregation = "count";
  m.stderr_na = true;
  return m;
}

class JudgedTask : public Task {
 public:
  JudgedTask(TaskOptions options, judge::JudgeTemplate tmpl,
             std::vector<Item> items, int max_new_tokens,
             int judge_max_new_tokens, std::string template_sha)
      : options_(std::move(options)),
        template_(std::move(tmpl)),
        items_(std::move(items)),
        max_new_tokens_(max_new_tokens),
        judge_max_new_tokens_(judge_max_new_tokens) {
    info_.name = "judged";
    info_.version = kVersion;
    info_.shots = 0;
    info_.needs_judge = true;
    info_.needs_baseline = template_.mode == judge::Mode::kPairwise;
    const auto baseline = options_.options.find("baseline");
    info_.prompt_format_hash = base::Sha256Hex(
        absl::StrCat("judged ", kVersion, "\nmode=", ModeName(template_.mode),
                     "\ntemplate_system=", template_.system,
                     "\ntemplate_prompt=", template_.prompt,
                     "\ntemplate_file_sha256=", template_sha, "\nbaseline=",
                     baseline == options_.options.end() ? "" : baseline->second,
                     "\nfirst_turn=",
                     options_.options.count("first_turn") > 0
                         ? options_.options.at("first_turn")
                         : "",
                     "\nchat_template=", options_.chat_template ? 1 : 0,
                     "\nsystem_instruction=", options_.system_instruction));
    info_.generation_settings = absl::StrCat(
        "candidate greedy, max ", max_new_tokens_, "; judge greedy, max ",
        judge_max_new_tokens_, ", one retry with a format reminder");
  }

  const TaskInfo& info() const override { return info_; }
  void set_dataset(DatasetFile file) { info_.datasets = {std::move(file)}; }

  std::vector<std::string> DocIds() const override {
    std::vector<std::string> ids;
    ids.reserve(NumDocs());
    for (size_t i = 0; i < NumDocs(); ++i) ids.push_back(items_[i].id);
    return ids;
  }

  absl::StatusOr<PromptView> BuildPrompt(size_t doc_index) const override {
    RETURN_IF_ERROR(CheckIndex(doc_index));
    PromptView view;
    view.doc_id = items_[doc_index].id;
    view.context = PlainPrompt(doc_index);
    view.target = items_[doc_index].reference;
    view.max_new_tokens = max_new_tokens_;
    return view;
  }

  absl::Status Run(
      runners::Runner& runner, absl::Span<const size_t> doc_indices,
      const RunContext& context,
      const std::function<absl::Status(SampleResult)>& on_sample) override {
    if (context.judge == nullptr) {
      return absl::FailedPreconditionError(
          "task 'judged' needs a judge model (suite field 'judge')");
    }
    if (template_.mode == judge::Mode::kPairwise &&
        context.baseline_responses == nullptr) {
      return absl::FailedPreconditionError(
          "pairwise mode needs a baseline run (option 'baseline')");
    }
    const auto start = std::chrono::steady_clock::now();
    std::vector<runners::GenerateRequest> requests;
    std::vector<std::string> shown;  // each request's prompt as stored
    for (size_t doc_index : doc_indices) {
      RETURN_IF_ERROR(CheckIndex(doc_index));
      runners::GenerateRequest request;
      if (options_.chat_template) {
        std::vector<runners::ChatMessage> messages;
        if (!options_.system_instruction.empty()) {
          messages.push_back({"system", options_.system_instruction});
        }
        messages.push_back({"user", items_[doc_index].prompt});
        ASSIGN_OR_RETURN(runners::ChatPrompt chat,
                         PrepareChatRequest(runner, std::move(messages)));
        request.messages = std::move(chat.messages);
        shown.push_back(std::move(chat.text));
      } else {
        request.prompt = PlainPrompt(doc_index);
        shown.push_back(request.prompt);
      }
      request.max_new_tokens = max_new_tokens_;
      requests.push_back(std::move(request));
    }
    if (requests.empty()) return absl::OkStatus();

    judge::Judge judge(context.judge, template_, judge_max_new_tokens_);
    CancelRelay relay(context.cancelled);
    RunContext judge_context = context;
    judge_context.cancelled = relay.flag();
    // Samples reach `on_sample` from the runner's callback (failed ones) and
    // from the judging thread (graded ones): one at a time.
    SampleSink sink(&on_sample, &relay);
    std::vector<SampleResult> pending(doc_indices.size());
    JudgingQueue queue(
        &judge, &judge_context,
        [&](size_t r, std::vector<judge::JudgeRecord> records) -> absl::Status {
          SampleResult sample = std::move(pending[r]);
          Score(records, &sample);
          return sink.Emit(std::move(sample));
        });
    absl::Status call_status = runner.Generate(
        requests,
        runners::CallOptions{.cancelled = relay.flag(),
                             .stop_admitting = context.draining},
        [&](size_t r, absl::StatusOr<runners::GenerateResult> result) {
          if (r >= doc_indices.size()) return;
          if (queue.failed())
            relay.Cancel();  // the judge cannot grade: stop early
          if (!result.ok() && absl::IsCancelled(result.status())) return;
          if (result.ok() &&
              result->finish_reason == runners::FinishReason::kCancelled)
            return;
          const size_t doc_index = doc_indices[r];
          const Item& item = items_[doc_index];
          SampleResult& sample = pending[r];
          sample.doc_index = doc_index;
          sample.doc_id = item.id;
          sample.subtask = item.category;
          sample.prompt = shown[r];
          sample.target = item.reference;
          sample.wall_seconds = std::chrono::duration<double>(
                                    std::chrono::steady_clock::now() - start)
                                    .count();
          if (!result.ok()) {
            // The candidate failed on this prompt: stored as failed, not
            // judged.
            sample.error = result.status().ToString();
            (void)sink.Emit(std::move(sample));
            return;
          }
          sample.prompt_tokens = result->prompt_tokens;
          sample.cached_tokens = result->cached_tokens;
          sample.generated_tokens =
              static_cast<int64_t>(result->token_ids.size());
          sample.responses = {result->text};
          std::vector<judge::JudgeItem> judge_items;
          if (template_.mode == judge::Mode::kPairwise) {
            auto it = context.baseline_responses->find(item.id);
            if (it == context.baseline_responses->end()) {
              sample.error =
                  absl::StrCat("baseline run ", context.baseline_run,
                               " has no answer for document '", item.id, "'");
              (void)sink.Emit(std::move(sample));
              return;
            }
            sample.responses.push_back(it->second);
            judge_items.push_back({item.prompt, result->text, it->second, ""});
            judge_items.push_back({item.prompt, it->second, result->text, ""});
          } else {
            judge_items.push_back(
                {item.prompt, result->text, "", item.reference});
          }
          queue.Add(r, std::move(judge_items));
        });
    absl::Status judge_status = queue.Finish();
    RETURN_IF_ERROR(sink.status());
    RETURN_IF_ERROR(call_status);
    if (relay.outer_cancelled())
      return absl::CancelledError("judged: run cancelled");
    if (!judge_status.ok()) {
      return absl::Status(judge_status.code(),
                          absl::StrCat("judge: ", judge_status.message()));
    }
    return absl::OkStatus();
  }

  std::vector<MetricResult> Aggregate(
      absl::Span<const SampleResult> samples) const override {
    std::vector<MetricResult> out;
    int64_t unparsable = 0, errors = 0, judged = 0;
    for (const SampleResult& s : samples) {
      if (!s.error.empty() || s.judge.empty()) continue;
      ++judged;
      bool has_error = false, has_unparsable = false;
      for (const JudgeCall& call : s.judge) {
        has_error |= call.verdict == "error";
        has_unparsable |= call.verdict == "unparsable";
      }
      errors += has_error ? 1 : 0;
      unparsable += !has_error && has_unparsable ? 1 : 0;
    }
    switch (template_.mode) {
      case judge::Mode::kSingle:
        MeanMetric("rating", samples, &out);
        break;
      case judge::Mode::kReference:
        MeanMetric("accuracy", samples, &out);
        break;
      case judge::Mode::kPairwise:
        PairwiseMetrics(samples, &out);
        break;
    }
    out.push_back(Count("judge_unparsable", unparsable, judged));
    out.push_back(Count("judge_errors", errors, judged));
    return out;
  }

 private:
  size_t NumDocs() const {
    return options_.limit > 0
               ? std::min<size_t>(items_.size(),
                                  static_cast<size_t>(options_.limit))
               : items_.size();
  }

  absl::Status CheckIndex(size_t doc_index) const {
    if (doc_index >= NumDocs()) {
      return absl::OutOfRangeError(absl::StrCat("judged: document index ",
                                                doc_index, " out of range (",
                                                NumDocs(), " documents)"));
    }
    return absl::OkStatus();
  }

  std::string PlainPrompt(size_t doc_index) const {
    PromptParts parts;
    parts.question = items_[doc_index].prompt;
    return RenderPlainContext(parts, options_.system_instruction);
  }

  // Fills the verdict, the per-sample metric and the stored judge calls.
  void Score(const std::vector<judge::JudgeRecord>& records,
             SampleResult* sample) const {
    const judge::Mode mode = template_.mode;
    if (mode == judge::Mode::kPairwise) {
      sample->judge.push_back(ToJudgeCall(mode, records[0], kCandidateFirst));
      sample->judge.push_back(ToJudgeCall(mode, records[1], kBaselineFirst));
      if (records[0].parsed && records[1].parsed) {
        const judge::Outcome o =
            judge::CombineOrders(*records[0].pair, *records[1].pair);
        const double score = o == judge::Outcome::kWin   ? 1.0
                             : o == judge::Outcome::kTie ? 0.5
                                                         : 0.0;
        sample->metrics["win"] = score;
        // The orders agree when both name the same answer (a win or a loss)
        // or both say tie; anything else is position bias.
        const bool agree = o != judge::Outcome::kTie ||
                           (*records[0].pair == judge::PairVerdict::kTie &&
                            *records[1].pair == judge::PairVerdict::kTie);
        sample->metrics["order_disagreement"] = agree ? 0 : 1;
        sample->extracted =
            absl::StrCat(o == judge::Outcome::kWin    ? "win"
                         : o == judge::Outcome::kLoss ? "loss"
                                                      : "tie",
                         " (candidate first: ", sample->judge[0].verdict,
                         "; baseline first: ", sample->judge[1].verdict, ")");
      } else {
        sample->extracted = absl::StrCat(
            "no verdict (candidate first: ", sample->judge[0].verdict,
            "; baseline first: ", sample->judge[1].verdict, ")");
      }
      return;
    }
    const judge::JudgeRecord& record = records[0];
    sample->judge.push_back(ToJudgeCall(mode, record, ""));
    sample->extracted = sample->judge[0].verdict;
    if (!record.parsed) return;
    if (mode == judge::Mode::kSingle) {
      sample->metrics["rating"] = record.rating;
    } else {
      sample->metrics["accuracy"] = *record.correct ? 1.0 : 0.0;
    }
  }

  // Mean of a per-sample metric overall and per category.
  void MeanMetric(const std::string& name,
                  absl::Span<const SampleResult> samples,
                  std::vector<MetricResult>* out) const {
    std::map<std::string, std::vector<double>> by_category;
    std::vector<double> all;
    for (const SampleResult& s : samples) {
      if (!s.error.empty()) continue;
      auto it = s.metrics.find(name);
      if (it == s.metrics.end()) continue;
      all.push_back(it->second);
      if (!s.subtask.empty()) by_category[s.subtask].push_back(it->second);
    }
    if (all.empty())
      return;  // no verdict parsed: only the counts below are reported
    out->push_back({name, "", Mean(all), MeanStderr(all),
                    static_cast<int64_t>(all.size()), "mean"});
    if (by_category.size() < 2) return;
    for (const auto& [category, values] : by_category) {
      out->push_back({name, category, Mean(values), MeanStderr(values),
                      static_cast<int64_t>(values.size()), "mean"});
    }
  }

  void PairwiseMetrics(absl::Span<const SampleResult> samples,
                       std::vector<MetricResult>* out) const {
    std::vector<judge::Outcome> outcomes;
    int64_t wins = 0, ties = 0, losses = 0, disagreements = 0;
    for (const SampleResult& s : samples) {
      if (!s.error.empty()) continue;
      auto it = s.metrics.find("win");
      if (it == s.metrics.end()) continue;
      const judge::Outcome o = it->second == 1.0   ? judge::Outcome::kWin
                               : it->second == 0.0 ? judge::Outcome::kLoss
                                                   : judge::Outcome::kTie;
      outcomes.push_back(o);
      wins += o == judge::Outcome::kWin;
      ties += o == judge::Outcome::kTie;
      losses += o == judge::Outcome::kLoss;
      auto d = s.metrics.find("order_disagreement");
      disagreements += d != s.metrics.end() && d->second > 0 ? 1 : 0;
    }
    if (outcomes.empty()) return;
    const judge::RateInterval rate = judge::WinRate(outcomes);
    const double n = static_cast<double>(rate.n);
    MetricResult win_rate{
        "win_rate", "",
        rate.rate,  rate.n > 0 ? std::sqrt(rate.rate * (1 - rate.rate) / n) : 0,
        rate.n,     "mean"};
    out->push_back(win_rate);
    MetricResult low = Count("win_rate_ci_low", 0, rate.n);
    low.value = rate.low;
    low.aggregation = "wilson 95%";
    MetricResult high = Count("win_rate_ci_high", 0, rate.n);
    high.value = rate.high;
    high.aggregation = "wilson 95%";
    out->push_back(low);
    out->push_back(high);
    out->push_back(Count("wins", wins, rate.n));
    out->push_back(Count("ties", ties, rate.n));
    out->push_back(Count("losses", losses, rate.n));
    MetricResult disagree = Count("order_disagreement", 0, rate.n);
    disagree.value = rate.n > 0 ? static_cast<double>(disagreements) / n : 0;
    disagree.aggregation = "share";
    out->push_back(disagree);
  }

  TaskOptions options_;
  judge::JudgeTemplate template_;
  std::vector<Item> items_;
  int max_new_tokens_;
  int judge_max_new_tokens_;
  TaskInfo info_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Task>> CreateJudgedTask(
    const TaskOptions& options) {
  static const std::set<std::string> kKnown = {"mode",
                                               "template",
                                               "baseline",
                                               "max_new_tokens",
                                               "judge_max_new_tokens",
                                               "first_turn"};
  for (const auto& [key, value] : options.options) {
    if (kKnown.count(key) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown option '", key,
                       "' (known: ", absl::StrJoin(kKnown, ", "), ")"));
    }
  }
  judge::Mode mode = judge::Mode::kSingle;
  auto mode_it = options.options.find("mode");
  if (mode_it != options.options.end()) {
    if (mode_it->second == "single") {
      mode = judge::Mode::kSingle;
    } else if (mode_it->second == "pairwise") {
      mode = judge::Mode::kPairwise;
    } else if (mode_it->second == "reference") {
      mode = judge::Mode::kReference;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("option 'mode': '", mode_it->second,
                       "' is not single, pairwise or reference"));
    }
  }
  judge::JudgeTemplate tmpl = judge::DefaultTemplate(mode);
  std::string template_sha;
  if (auto t = options.options.find("template"); t != options.options.end()) {
    ASSIGN_OR_RETURN(tmpl, judge::LoadTemplate(t->second));
    if (tmpl.mode != mode) {
      return absl::InvalidArgumentError(absl::StrCat(
          "option 'template': ", t->second, " is a ", ModeName(tmpl.mode),
          " template, the task's mode is ", ModeName(mode)));
    }
    ASSIGN_OR_RETURN(template_sha, base::Sha256File(t->second));
  }
  if (mode == judge::Mode::kPairwise &&
      options.options.count("baseline") == 0) {
    return absl::InvalidArgumentError(
        "mode pairwise needs option 'baseline' (a run id or tag:NAME of a "
        "stored run of this task)");
  }
  if (mode != judge::Mode::kPairwise && options.options.count("baseline") > 0) {
    return absl::InvalidArgumentError(
        "option 'baseline' applies to mode pairwise only");
  }
  ASSIGN_OR_RETURN(int max_new_tokens,
                   PositiveOption(options.options, "max_new_tokens", 1024));
  ASSIGN_OR_RETURN(
      int judge_max_new_tokens,
      PositiveOption(options.options, "judge_max_new_tokens", 1024));
  bool first_turn = false;
  if (auto f = options.options.find("first_turn"); f != options.options.end()) {
    if (f->second != "true" && f->second != "false") {
      return absl::InvalidArgumentError(
          absl::StrCat("option 'first_turn': expected true or false, got '",
                       f->second, "'"));
    }
    first_turn = f->second == "true";
  }
  std::string path = options.data_path;
  if (base::IsDirectory(path)) path += "/prompts.jsonl";
  ASSIGN_OR_RETURN(std::vector<Item> items, LoadItems(path, first_turn));
  if (mode == judge::Mode::kReference) {
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].reference.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": prompt '", items[i].id,
            "' has no 'reference' (mode reference needs one per prompt)"));
      }
    }
  }
  ASSIGN_OR_RETURN(std::string sha, base::Sha256File(path));
  auto task = std::make_unique<JudgedTask>(options, std::move(tmpl),
                                           std::move(items), max_new_tokens,
                                           judge_max_new_tokens, template_sha);
  task->set_dataset({path, sha});
  return task;
}

namespace {
const bool kRegistered = [] {
  RegisterTask("judged", [](const TaskOptions& options) {
    return CreateJudgedTask(options);
  });
  return true;
}();
}  // namespace

}  // namespace evald::tasks
