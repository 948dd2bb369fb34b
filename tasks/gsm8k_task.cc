// File: tasks/gsm8k_task.cc
#include "tasks/gsm8k_task.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "base/json.h"
#include "base/logging.h"
#include "base/sha256.h"
#include "base/status_macros.h"
#include "judge/judge.h"
#include "py/re.h"
#include "py/str.h"
#include "tasks/dataset.h"
#include "tasks/judging.h"
#include "tasks/python_random.h"
#include "tasks/task_util.h"

namespace evald::tasks {
namespace {

constexpr char kFallback[] = "[invalid]";
constexpr char kFlexibleRegex[] = "(-?[$0-9.,]{2,})|(-?[0-9]+)";
constexpr int kMaxNewTokens = 256;
constexpr int kJudgeMaxNewTokens = 512;  // judge_check replies
constexpr char kJudgeFallbackMetric[] = "exact_match,flexible-extract";

// The 8 chain-of-thought exemplars (Wei et al. 2022) as lm-eval's
// gsm8k-cot.yaml lists them; the Llama variant ends each target with
// "The final answer is N" instead of "The answer is N.".
struct Exemplar {
  const char* question;
  const char* reasoning;  // target text before "The answer is"
  const char* answer;
};
constexpr Exemplar kExemplars[8] = {
    {"There are 15 trees in the grove. Grove workers will plant trees in the "
     "grove today. After they are "
     "done, there will be 21 trees. How many trees did the grove workers plant "
     "today?",
     "There are 15 trees originally. Then there were 21 trees after some more "
     "were planted. So there must "
     "have been 21 - 15 = 6.",
     "6"},
    {"If there are 3 cars in the parking lot and 2 more cars arrive, how many "
     "cars are in the parking lot?",
     "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5.", "5"},
    {"Leah had 32 chocolates and her sister had 42. If they ate 35, how many "
     "pieces do they have left in "
     "total?",
     "Originally, Leah had 32 chocolates. Her sister had 42. So in total they "
     "had 32 + 42 = 74. After "
     "eating 35, they had 74 - 35 = 39.",
     "39"},
    {"Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 "
     "lollipops. How many "
     "lollipops did Jason give to Denny?",
     "Jason started with 20 lollipops. Then he had 12 after giving some to "
     "Denny. So he gave Denny 20 - 12 "
     "= 8.",
     "8"},
    {"Shawn has five toys. For Christmas, he got two toys each from his mom "
     "and dad. How many toys does "
     "he have now?",
     "Shawn started with 5 toys. If he got 2 toys each from his mom and dad, "
     "then that is 4 more toys. 5 + "
     "4 = 9.",
     "9"},
    {"There were nine computers in the server room. Five more computers were "
     "installed each day, from "
     "monday to thursday. How many computers are now in the server room?",
     "There were originally 9 computers. For each of 4 days, 5 more computers "
     "were added. So 5 * 4 = 20 "
     "computers were added. 9 + 20 is 29.",
     "29"},
    {"Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On "
     "wednesday, he lost 2 more. How "
     "many golf balls did he have at the end of wednesday?",
     "Michael started with 58 golf balls. After losing 23 on tuesday, he had "
     "58 - 23 = 35. After losing 2 "
     "more, he had 35 - 2 = 33 golf balls.",
     "33"},
    {"Olivia has $23. She bought five bagels for $3 each. How much money does "
     "she have left?",
     "Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 "
     "dollars. So she has 23 - 15 "
     "dollars left. 23 - 15 is 8.",
     "8"},
};

enum class Kind { kRandomShots, kCot, kCotLlama };

struct Variant {
  Kind kind;
  std::string name;
  std::string version;
  int default_shots;
  std::string doc_to_text_template;  // recorded in the prompt-format hash
  std::string target_delimiter;
  std::vector<std::string> stop;
  std::string strict_regex;
  int strict_group_select;
};

const Variant& GetVariant(Kind kind) {
  static const auto* const kVariants = new std::map<Kind, Variant>{
      {Kind::kRandomShots,
       {Kind::kRandomShots,
        "gsm8k",
        "3.0",
        5,
        "Question: {{question}}\nAnswer:",
        " ",
        {"Question:", "</s>", "<|im_end|>"},
        "#### (\\-?[0-9\\.\\,]+)",
        0}},
      {Kind::kCot,
       {Kind::kCot,
        "gsm8k_cot",
        "3.0",
        8,
        "Q: {{question}}\nA:",
        " ",
        {"Q:", "</s>", "<|im_end|>"},
        "The answer is (\\-?[0-9\\.\\,]+).",
        0}},
      {Kind::kCotLlama,
       {Kind::kCotLlama,
        "gsm8k_cot_llama",
        "4.0",
        8,
        "Given the following problem, reason and give a final answer to the "
        "problem.\nProblem: "
        "{{question}}\nYour response should end with \"The final answer is "
        "[answer]\" where [answer] is "
        "the response to the problem.\n",
        "",
        {"<|eot_id|>", "<|start_header_id|>user<|end_header_id|>", "Q:", "</s>",
         "<|im_end|>"},
        "The final answer is ((-?[$0-9.,]{2,})|(-?[0-9]+))",
        -1}},
  };
  return kVariants->at(kind);
}

std::string DocToText(const Variant& variant, const std::string& question) {
  switch (variant.kind) {
    case Kind::kRandomShots:
      return absl::StrCat("Question: ", question, "\nAnswer:");
    case Kind::kCot:
      return absl::StrCat("Q: ", question, "\nA:");
    case Kind::kCotLlama:
      return absl::StrCat(
          "Given the following problem, reason and give a final answer to the "
          "problem.\nProblem: ",
          question,
          "\nYour response should end with \"The final answer is [answer]\" "
          "where [answer] is the response "
          "to the problem.\n");
  }
  return "";
}

// Compiled regexes are cached per pattern: the set is small and fixed.
const py::Regex& CachedRegex(absl::string_view pattern) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* const cache =
      new std::map<std::string, std::unique_ptr<py::Regex>>();
  absl::MutexLock lock(&mu);
  auto it = cache->find(std::string(pattern));
  if (it == cache->end()) {
    auto compiled = py::Regex::Compile(pattern);
    // The patterns are compile-time constants of this file.
    CHECK(compiled.ok()) << compiled.status();
    it = cache
             ->emplace(std::string(pattern),
                       std::make_unique<py::Regex>(*std::move(compiled)))
             .first;
  }
  return *it->second;
}

}  // namespace

std::string ApplyRegexFilter(absl::string_view pattern, int group_select,
                             absl::string_view response) {
  const py::Regex& regex = CachedRegex(pattern);
  std::vector<std::vector<std::string>> matches = regex.FindAll(response);
  if (matches.empty()) return kFallback;
  const int n = static_cast<int>(matches.size());
  int index = group_select < 0 ? n + group_select : group_select;
  // Python raises IndexError here; lm-eval's patterns never hit it.
  if (index < 0 || index >= n) return kFallback;
  const std::vector<std::string>& match = matches[index];
  std::string picked;
  if (regex.group_count() <= 1) {
    picked = match[0];
  } else {
    picked = kFallback;
    for (const std::string& group : match) {
      if (!group.empty()) {
        picked = group;
        break;
      }
    }
  }
  return std::string(py::Strip(picked));
}

std::string Gsm8kNormalize(absl::string_view text) {
  static constexpr const char* kIgnore[] = {",", "\\$", "(?s).*#### ", "\\.$"};
  std::string out(text);
  for (const char* pattern : kIgnore) out = CachedRegex(pattern).Sub(out, "");
  // ignore_case: the compared strings are numbers or "[invalid]", where
  // ASCII lowering equals numpy's Unicode lower().
  return absl::AsciiStrToLower(out);
}

double Gsm8kExactMatch(absl::string_view prediction,
                       absl::string_view reference) {
  return Gsm8kNormalize(prediction) == Gsm8kNormalize(reference) ? 1.0 : 0.0;
}

namespace {

class Gsm8kTask : public Task {
 public:
  Gsm8kTask(const Variant& variant, TaskOptions options, Gsm8kDataset data,
            int shots, std::vector<std::vector<uint64_t>> shot_indices)
      : variant_(variant),
        options_(std::move(options)),
        data_(std::move(data)),
        shots_(shots),
        shot_indices_(std::move(shot_indices)) {
    num_docs_ = data_.test.size();
    if (options_.limit > 0)
      num_docs_ =
          std::min<size_t>(num_docs_, static_cast<size_t>(options_.limit));
    info_.name = variant_.name;
    info_.version = variant_.version;
    info_.shots = shots_;
    info_.datasets = data_.files;
    info_.generation_settings =
        absl::StrCat("greedy, max ", kMaxNewTokens, " new tokens, stop [\"",
                     absl::StrJoin(variant_.stop, "\", \""), "\"]");
    std::string rules =
        absl::StrCat(variant_.name, "/", variant_.version,
                     "\ndoc_to_text=", variant_.doc_to_text_template,
                     "\ntarget_delimiter=", variant_.target_delimiter,
                     "\nfewshot_delimiter=\n\n\nshots=", shots_,
                     variant_.kind == Kind::kRandomShots
                         ? absl::StrCat("\nsampler=random.Random(",
                                        options_.seed, ").sample(train)")
                         : std::string("\nsampler=first_n(cot exemplars)"),
                     "\nstrict=", variant_.strict_regex, " group_select ",
                     variant_.strict_group_select,
                     "\nflexible=", kFlexibleRegex, " group_select -1",
                     "\nregexes_to_ignore=,|\\$|(?s).*#### |\\.$ ignore_case=1 "
                     "ignore_punctuation=0",
                     "\nchat_template=", options_.chat_template ? 1 : 0,
                     "\nfewshot_as_multiturn=1\nsystem_instruction=",
                     options_.system_instruction);
    if (judge_check_) {
      // Only with judge_check, so the hash of plain gsm8k stays as it was.
      absl::StrAppend(
          &rules,
          "\njudge_check=1 consulted_when=strict-match [invalid] template=",
          judge_template_.system, "\n", judge_template_.prompt);
    }
    info_.prompt_format_hash = base::Sha256Hex(rules);
    info_.needs_judge = judge_check_;
    info_.lm_eval_config_json = LmEvalConfig().Dump();
  }

  void EnableJudgeCheck(judge::JudgeTemplate tmpl) {
    judge_check_ = true;
    judge_template_ = std::move(tmpl);
  }

  const TaskInfo& info() const override { return info_; }

  std::vector<std::string> DocIds() const override {
    std::vector<std::string> ids;
    for (size_t i = 0; i < num_docs_; ++i) ids.push_back(absl::StrCat(i));
    return ids;
  }

  absl::StatusOr<PromptView> BuildPrompt(size_t doc_index) const override {
    RETURN_IF_ERROR(CheckIndex(doc_index));
    PromptView view;
    view.doc_id = absl::StrCat(doc_index);
    view.context =
        RenderPlainContext(Parts(doc_index), options_.system_instruction);
    view.target = Target(doc_index);
    view.stop = variant_.stop;
    view.max_new_tokens = kMaxNewTokens;
    return view;
  }

  absl::StatusOr<SampleResult> ScoreResponse(
      size_t doc_index, const std::string& response) const override {
    RETURN_IF_ERROR(CheckIndex(doc_index));
    SampleResult sample;
    sample.doc_index = doc_index;
    sample.doc_id = absl::StrCat(doc_index);
    sample.prompt =
        RenderPlainContext(Parts(doc_index), options_.system_instruction);
    Score(doc_index, response, &sample);
    return sample;
  }

  absl::Status Run(
      runners::Runner& runner, absl::Span<const size_t> doc_indices,
      const RunContext& context,
      const std::function<absl::Status(SampleResult)>& on_sample) override {
    if (judge_check_ && context.judge == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          variant_.name,
          ": option judge_check needs a judge model (suite field 'judge')"));
    }
    const auto start = std::chrono::steady_clock::now();
    std::vector<runners::GenerateRequest> requests;
    std::vector<std::string> shown;  // each request's prompt as stored
    requests.reserve(doc_indices.size());
    for (size_t doc_index : doc_indices) {
      RETURN_IF_ERROR(CheckIndex(doc_index));
      runners::GenerateRequest request;
      if (options_.chat_template) {
        ASSIGN_OR_RETURN(
            runners::ChatPrompt chat,
            PrepareChatRequest(
                runner,
                BuildChatMessages(Parts(doc_index), options_.system_instruction,
                                  /*fewshot_as_multiturn=*/true)));
        request.messages = std::move(chat.messages);
        shown.push_back(std::move(chat.text));
      } else {
        request.prompt =
            RenderPlainContext(Parts(doc_index), options_.system_instruction);
        shown.push_back(request.prompt);
      }
      request.stop = variant_.stop;
      request.max_new_tokens = kMaxNewTokens;
      requests.push_back(std::move(request));
    }
    if (requests.empty()) return absl::OkStatus();
    CancelRelay relay(context.cancelled);
    // Samples reach `on_sample` from the runner's callback and, with
    // judge_check, from the judging thread: one at a time.
    SampleSink sink(&on_sample, &relay);
    std::optional<judge::Judge> judge;
    std::optional<JudgingQueue> queue;
    RunContext judge_context = context;
    judge_context.cancelled = relay.flag();
    std::vector<SampleResult> parked(judge_check_ ? doc_indices.size() : 0);
    if (judge_check_) {
      judge.emplace(context.judge, judge_template_, kJudgeMaxNewTokens);
      queue.emplace(
          &*judge, &judge_context,
          [&](size_t r,
              std::vector<judge::JudgeRecord> records) -> absl::Status {
            SampleResult sample = std::move(parked[r]);
            ApplyJudge(records[0], &sample);
            return sink.Emit(std::move(sample));
          });
    }
    runners::CallOptions call_options;
    call_options.cancelled = relay.flag();
    call_options.stop_admitting = context.draining;
    absl::Status call_status = runner.Generate(
        requests, call_options,
        [&](size_t r, absl::StatusOr<runners::GenerateResult> result) {
          if (r >= doc_indices.size()) return;
          if (queue.has_value() && queue->failed()) relay.Cancel();
          // A cancelled document is not stored, so a resumed run redoes it.
          if (!result.ok() && absl::IsCancelled(result.status())) return;
          if (result.ok() &&
              result->finish_reason == runners::FinishReason::kCancelled)
            return;
          const size_t doc_index = doc_indices[r];
          SampleResult sample;
          sample.doc_index = doc_index;
          sample.doc_id = absl::StrCat(doc_index);
          sample.prompt = shown[r];
          sample.wall_seconds = std::chrono::duration<double>(
                                    std::chrono::steady_clock::now() - start)
                                    .count();
          if (!result.ok()) {
            sample.target = Target(doc_index);
            sample.error = result.status().ToString();
          } else {
            sample.prompt_tokens = result->prompt_tokens;
            sample.cached_tokens = result->cached_tokens;
            sample.generated_tokens =
                static_cast<int64_t>(result->token_ids.size());
            const std::string strict = Score(doc_index, result->text, &sample);
            if (judge_check_) {
              if (strict == kFallback) {
                // The strict filter found no answer: the judge decides.
                parked[r] = std::move(sample);
                queue->Add(r, {{data_.test[doc_index].question, result->text,
                                "", FinalAnswer(doc_index)}});
                return;
              }
              sample.metrics["exact_match,judge"] =
                  sample.metrics["exact_match,strict-match"];
            }
          }
          (void)sink.Emit(std::move(sample));
        });
    absl::Status judge_status;
    if (queue.has_value()) judge_status = queue->Finish();
    RETURN_IF_ERROR(sink.status());
    RETURN_IF_ERROR(call_status);
    if (relay.outer_cancelled())
      return absl::CancelledError(variant_.name + ": run cancelled");
    if (!judge_status.ok()) {
      return absl::Status(
          judge_status.code(),
          absl::StrCat(variant_.name, ": judge: ", judge_status.message()));
    }
    return absl::OkStatus();
  }

  std::vector<MetricResult> Aggregate(
      absl::Span<const SampleResult> samples) const override {
    std::vector<MetricResult> out;
    for (const char* name :
         {"exact_match,strict-match", "exact_match,flexible-extract"}) {
      std::vector<double> values;
      for (const SampleResult& sample : samples) {
        if (!sample.error.empty()) continue;
        auto it = sample.metrics.find(name);
        if (it != sample.metrics.end()) values.push_back(it->second);
      }
      if (values.empty()) continue;
      out.push_back({name, "", Mean(values), MeanStderr(values),
                     static_cast<int64_t>(values.size()), "mean"});
    }
    if (judge_check_) AggregateJudge(samples, &out);
    return out;
  }

 private:
  absl::Status CheckIndex(size_t doc_index) const {
    if (doc_index >= num_docs_) {
      return absl::OutOfRangeError(
          absl::StrCat(variant_.name, ": document index ", doc_index,
                       " out of range (", num_docs_, " documents)"));
    }
    return absl::OkStatus();
  }

  // judge_check: the judge's verdict on a response the strict filter could
  // not read. An unparsable verdict (or a judge error) falls back to the
  // flexible-extract result and is counted.
  void ApplyJudge(const judge::JudgeRecord& record,
                  SampleResult* sample) const {
    sample->judge.push_back(ToJudgeCall(judge::Mode::kReference, record, ""));
    sample->metrics["judge_consulted"] = 1;
    const double flexible = sample->metrics[kJudgeFallbackMetric];
    if (record.parsed) {
      const double verdict = *record.correct ? 1.0 : 0.0;
      sample->metrics["exact_match,judge"] = verdict;
      sample->metrics["judge_agreed"] = verdict == flexible ? 1.0 : 0.0;
    } else {
      sample->metrics["exact_match,judge"] = flexible;
      sample->metrics["judge_unparsable"] = 1;
    }
    absl::StrAppend(&sample->extracted,
                    "; judge: ", sample->judge.back().verdict);
  }

  void AggregateJudge(absl::Span<const SampleResult> samples,
                      std::vector<MetricResult>* out) const {
    std::vector<double> values;
    int64_t consulted = 0, decided = 0, agreed = 0, unparsable = 0;
    for (const SampleResult& sample : samples) {
      if (!sample.error.empty()) continue;
      auto it = sample.metrics.find("exact_match,judge");
      if (it == sample.metrics.end()) continue;
      values.push_back(it->second);
      if (sample.metrics.count("judge_consulted") == 0) continue;
      ++consulted;
      if (sample.metrics.count("judge_unparsable") > 0) {
        ++unparsable;
        continue;
      }
      ++decided;
      auto a = sample.metrics.find("judge_agreed");
      agreed += a != sample.metrics.end() && a->second > 0 ? 1 : 0;
    }
    if (values.empty()) return;
    const int64_t n = static_cast<int64_t>(values.size());
    out->push_back(
        {"exact_match,judge", "", Mean(values), MeanStderr(values), n, "mean"});
    auto count = [&](const char* name, double value, int64_t of,
                     const char* aggregation) {
      MetricResult m{name, "", value, 0, of, aggregation};
      m.stderr_na = true;
      out->push_back(m);
    };
    count("judge_consulted", static_cast<double>(consulted), n, "count");
    count("judge_agreement",
          decided > 0
              ? static_cast<double>(agreed) / static_cast<double>(decided)
              : 0,
          decided, "share of decided consultations equal to flexible-extract");
    count("judge_unparsable", static_cast<double>(unparsable), consulted,
          "count");
  }

  // The final number of the reference solution (the text after "####").
  std::string FinalAnswer(size_t doc_index) const {
    std::vector<absl::string_view> pieces =
        absl::StrSplit(data_.test[doc_index].answer, "####");
    return std::string(py::Strip(pieces.back()));
  }

  // The reference answer as lm-eval's doc_to_target gives it: the whole
  // solution for gsm8k, the text after "####" (stripped) for the CoT tasks.
  std::string Target(size_t doc_index) const {
    const std::string& answer = data_.test[doc_index].answer;
    if (variant_.kind == Kind::kRandomShots) return answer;
    std::vector<absl::string_view> pieces = absl::StrSplit(answer, "####");
    return std::string(py::Strip(pieces.back()));
  }

  PromptParts Parts(size_t doc_index) const {
    PromptParts parts;
    parts.target_delimiter = variant_.target_delimiter;
    if (variant_.kind == Kind::kRandomShots) {
      for (uint64_t t : shot_indices_[doc_index]) {
        parts.shots.push_back({DocToText(variant_, data_.train[t].question),
                               data_.train[t].answer});
      }
    } else {
      for (int k = 0; k < shots_; ++k) {
        const Exemplar& e = kExemplars[k];
        std::string target =
            variant_.kind == Kind::kCot
                ? absl::StrCat(e.reasoning, " The answer is ", e.answer, ".")
                : absl::StrCat(e.reasoning, " The final answer is ", e.answer);
        parts.shots.push_back(
            {DocToText(variant_, e.question), std::move(target)});
      }
    }
    parts.question = DocToText(variant_, data_.test[doc_index].question);
    return parts;
  }

  // Scores `response` into `sample`; returns the strict-match extraction.
  std::string Score(size_t doc_index, const std::string& response,
                    SampleResult* sample) const {
    const std::string target = Target(doc_index);
    const std::string strict = ApplyRegexFilter(
        variant_.strict_regex, variant_.strict_group_select, response);
    const std::string flexible = ApplyRegexFilter(kFlexibleRegex, -1, response);
    sample->target = target;
    sample->responses = {response};
    sample->extracted = absl::StrCat("strict-match: ", strict,
                                     "; flexible-extract: ", flexible);
    sample->metrics["exact_match,strict-match"] =
        Gsm8kExactMatch(strict, target);
    sample->metrics["exact_match,flexible-extract"] =
        Gsm8kExactMatch(flexible, target);
    sample->lm_eval_json = LmEvalSample(doc_index, response, strict, flexible);
    return strict;
  }

  // The generation kwargs lm-eval's YAML gives (the request's second
  // argument), in the file's key order.
  base::Json GenerationKwargs() const {
    using base::Json;
    Json until = Json::MakeArray();
    for (const std::string& stop : variant_.stop)
      until.Push(Json::String(stop));
    Json kwargs = Json::MakeObject();
    if (variant_.kind == Kind::kRandomShots) {
      kwargs.Set("until", std::move(until));
      kwargs.Set("do_sample", Json::Bool(false));
      kwargs.Set("temperature", Json::Double(0.0));
    } else {
      kwargs.Set("do_sample", Json::Bool(false));
      kwargs.Set("until", std::move(until));
    }
    return kwargs;
  }

  // lm-eval's `configs` entry for this task: TaskConfig.to_dict() of
  // gsm8k.yaml, gsm8k-cot.yaml or gsm8k-cot-llama.yaml (None fields dropped,
  // fewshot_config whole).
  base::Json LmEvalConfig() const {
    using base::Json;
    const bool plain = variant_.kind == Kind::kRandomShots;
    const std::string doc_to_target =
        plain ? "{{answer}}"
              : "{{answer.split('####')[-1].strip() if answer is defined else "
                "target}}";
    auto regex_filter = [](const std::string& pattern, int group_select) {
      Json f = Json::MakeObject();
      f.Set("function", Json::String("regex"));
      if (group_select != 0) f.Set("group_select", Json::Int(group_select));
      f.Set("regex_pattern", Json::String(pattern));
      return f;
    };
    auto take_first = [] {
      Json f = Json::MakeObject();
      f.Set("function", Json::String("take_first"));
      return f;
    };
    auto filter = [&](const std::string& name, Json regex) {
      Json steps = Json::MakeArray();
      steps.Push(std::move(regex));
      steps.Push(take_first());
      Json f = Json::MakeObject();
      if (plain) f.Set("name", Json::String(name));
      f.Set("filter", std::move(steps));
      if (!plain) f.Set("name", Json::String(name));
      return f;
    };
    Json filters = Json::MakeArray();
    filters.Push(filter(
        "strict-match",
        regex_filter(variant_.strict_regex, variant_.strict_group_select)));
    filters.Push(filter("flexible-extract", regex_filter(kFlexibleRegex, -1)));
    Json ignore = Json::MakeArray();
    for (const char* r : {",", "\\$", "(?s).*#### ", "\\.$"})
      ignore.Push(Json::String(r));
    Json metric = Json::MakeObject();
    if (plain) metric.Set("metric", Json::String("exact_match"));
    metric.Set("aggregation", Json::String("mean"));
    metric.Set("higher_is_better", Json::Bool(true));
    metric.Set("ignore_case", Json::Bool(true));
    metric.Set("ignore_punctuation", Json::Bool(false));
    if (!plain) metric.Set("metric", Json::String("exact_match"));
    metric.Set("regexes_to_ignore", std::move(ignore));
    Json metrics = Json::MakeArray();
    metrics.Push(std::move(metric));
    Json samples = Json::Null();
    if (!plain) {
      samples = Json::MakeArray();
      for (const Exemplar& e : kExemplars) {
        Json shot = Json::MakeObject();
        shot.Set("question", Json::String(e.question));
        shot.Set("target",
                 Json::String(variant_.kind == Kind::kCot
                                  ? absl::StrCat(e.reasoning, " The answer is ",
                                                 e.answer, ".")
                                  : absl::StrCat(e.reasoning,
                                                 " The final answer is ",
                                                 e.answer)));
        samples.Push(std::move(shot));
      }
    }
    Json fewshot = Json::MakeObject();
    fewshot.Set("sampler", Json::String(plain ? "default" : "first_n"));
    fewshot.Set("split", plain ? Json::String("train") : Json::Null());
    fewshot.Set("process_docs", Json::Null());
    fewshot.Set("fewshot_indices", Json::Null());
    fewshot.Set("samples", std::move(samples));
    fewshot.Set("doc_to_text", Json::String(variant_.doc_to_text_template));
    fewshot.Set("doc_to_choice", Json::Null());
    fewshot.Set("doc_to_target", Json::String(doc_to_target));
    fewshot.Set("gen_prefix", Json::Null());
    fewshot.Set("fewshot_delimiter", Json::String("\n\n"));
    fewshot.Set("target_delimiter", Json::String(variant_.target_delimiter));
    Json tag = Json::MakeArray();
    tag.Push(Json::String(plain ? "math_word_problems" : "chain_of_thought"));
    Json metadata = Json::MakeObject();
    metadata.Set("version",
                 Json::Double(variant_.kind == Kind::kCotLlama ? 4.0 : 3.0));
    Json c = Json::MakeObject();
    c.Set("task", Json::String(variant_.name));
    c.Set("tag", std::move(tag));
    c.Set("dataset_path", Json::String("openai/gsm8k"));
    c.Set("dataset_name", Json::String("main"));
    if (plain) c.Set("training_split", Json::String("train"));
    c.Set("test_split", Json::String("test"));
    if (plain) c.Set("fewshot_split", Json::String("train"));
    c.Set("doc_to_text", Json::String(variant_.doc_to_text_template));
    c.Set("doc_to_target", Json::String(doc_to_target));
    c.Set("unsafe_code", Json::Bool(false));
    c.Set("description", Json::String(""));
    c.Set("target_delimiter", Json::String(variant_.target_delimiter));
    c.Set("fewshot_delimiter", Json::String("\n\n"));
    c.Set("fewshot_config", std::move(fewshot));
    c.Set("num_fewshot", Json::Int(shots_));
    c.Set("metric_list", std::move(metrics));
    c.Set("output_type", Json::String("generate_until"));
    c.Set("generation_kwargs", GenerationKwargs());
    c.Set("repeats", Json::Int(1));
    c.Set("filter_list", std::move(filters));
    c.Set("should_decontaminate", Json::Bool(false));
    c.Set("metadata", std::move(metadata));
    return c;
  }

  // The sample as lm-eval logs it (task.h, SampleResult::lm_eval_json).
  std::string LmEvalSample(size_t doc_index, const std::string& response,
                           const std::string& strict,
                           const std::string& flexible) const {
    using base::Json;
    const Gsm8kProblem& problem = data_.test[doc_index];
    Json doc = Json::MakeObject();
    doc.Set("question", Json::String(problem.question));
    doc.Set("answer", Json::String(problem.answer));
    Json args = Json::MakeArray();
    args.Push(Json::Null());  // the sample's prompt
    args.Push(GenerationKwargs());
    Json arguments = Json::MakeArray();
    arguments.Push(std::move(args));
    Json resp = Json::MakeArray();
    resp.Push(Json::String(response));
    Json resps = Json::MakeArray();
    resps.Push(std::move(resp));
    auto one = [](const std::string& value) {
      Json list = Json::MakeArray();
      list.Push(Json::String(value));
      return list;
    };
    Json filtered = Json::MakeObject();
    filtered.Set("strict-match", one(strict));
    filtered.Set("flexible-extract", one(flexible));
    Json sample = Json::MakeObject();
    sample.Set("doc", std::move(doc));
    sample.Set("target", Json::String(Target(doc_index)));
    sample.Set("arguments", std::move(arguments));
    sample.Set("resps", std::move(resps));
    sample.Set("filtered_resps", std::move(filtered));
    return sample.Dump();
  }

  const Variant& variant_;
  TaskOptions options_;
  Gsm8kDataset data_;
  int shots_;
  std::vector<std::vector<uint64_t>>
      shot_indices_;  // per test doc (gsm8k only)
  size_t num_docs_ = 0;
  bool judge_check_ = false;
  judge::JudgeTemplate judge_template_;
  TaskInfo info_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Task>> CreateGsm8kTask(
    const std::string& name, const TaskOptions& options) {
  Kind kind;
  std::string variant = options.variant;
  if (name == "gsm8k" && variant.empty()) {
    kind = Kind::kRandomShots;
  } else if ((name == "gsm8k" && variant == "cot") ||
             (name == "gsm8k_cot" && variant.empty())) {
    kind = Kind::kCot;
  } else if ((name == "gsm8k" && variant == "cot_llama") ||
             (name == "gsm8k_cot_llama" && variant.empty())) {
    kind = Kind::kCotLlama;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": unknown variant \"", variant,
                     "\" (gsm8k knows \"cot\" and \"cot_llama\")"));
  }
  const Variant& v = GetVariant(kind);
  const int shots = options.shots < 0 ? v.default_shots : options.shots;
  if (kind != Kind::kRandomShots && shots > 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        v.name, ": at most 8 shots (the fixed exemplars), ", shots, " asked"));
  }
  ASSIGN_OR_RETURN(
      Gsm8kDataset data,
      LoadGsm8k(options.data_path, kind == Kind::kRandomShots && shots > 0));
  std::vector<std::vector<uint64_t>> shot_indices;
  if (kind == Kind::kRandomShots) {
    // One generator for the whole task, drawn document by document in test
    // order: document i's examples depend on every earlier draw, as in
    // lm-eval (so --limit keeps the first documents' examples unchanged).
    PythonRandom rng(options.seed);
    shot_indices.resize(data.test.size());
    if (shots > 0) {
      for (auto& indices : shot_indices) {
        ASSIGN_OR_RETURN(indices, rng.Sample(data.train.size(),
                                             static_cast<uint64_t>(shots)));
      }
    }
  }
  bool judge_check = false;
  std::optional<judge::JudgeTemplate> judge_template;
  for (const auto& [key, value] : options.options) {
    if (key == "judge_check") {
      if (value != "true" && value != "false") {
        return absl::InvalidArgumentError(absl::StrCat(
            v.name, ": option 'judge_check': expected true or false, got '",
            value, "'"));
      }
      judge_check = value == "true";
    } else if (key == "judge_template") {
      ASSIGN_OR_RETURN(judge_template, judge::LoadTemplate(value));
      if (judge_template->mode != judge::Mode::kReference) {
        return absl::InvalidArgumentError(
            absl::StrCat(v.name, ": option 'judge_template': ", value,
                         " must be a reference-mode template"));
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(v.name, ": unknown option '", key,
                       "' (known: judge_check, judge_template)"));
    }
  }
  if (judge_template.has_value() && !judge_check) {
    return absl::InvalidArgumentError(absl::StrCat(
        v.name, ": option 'judge_template' needs judge_check: true"));
  }
  auto task = std::make_unique<Gsm8kTask>(v, options, std::move(data), shots,
                                          std::move(shot_indices));
  if (judge_check) {
    task->EnableJudgeCheck(judge_template.value_or(
        judge::DefaultTemplate(judge::Mode::kReference)));
  }
  return std::unique_ptr<Task>(std::move(task));
}

namespace {
const bool kRegistered = [] {
  for (const char* name : {"gsm8k", "gsm8k_cot", "gsm8k_cot_llama"}) {
    std::string task_name = name;
    RegisterTask(task_name, [task_name](const TaskOptions& options) {
      return CreateGsm8kTask(task_name, options);
    });
  }
  return true;
}();
}  // namespace

}  // namespace evald::tasks
