// File: tasks/ifeval/ifeval_task.cc
#include "tasks/ifeval/ifeval_task.h"

#include <chrono>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/file.h"
#include "base/json.h"
#include "base/sha256.h"
#include "base/status_macros.h"
#include "tasks/dataset.h"
#include "tasks/ifeval/langdetect.h"
#include "tasks/task_util.h"

namespace evald::tasks::ifeval {
namespace {

using base::Json;
using base::JsonReader;

constexpr char kTaskName[] = "ifeval";
// lm-eval's ifeval.yaml has `doc_to_target: 0`, so its logged target (and
// target_hash) is str(0).
constexpr char kTarget[] = "0";
constexpr char kTaskVersion[] = "4.0";
// Where Debian's python3-langdetect keeps its profiles and tables.
constexpr char kDebianLangdetectDir[] =
    "/usr/lib/python3/dist-packages/langdetect";
// Names every rule that shapes prompts or scores, so the fingerprint changes
// when any of them does.
constexpr char kPromptFormat[] =
    "ifeval 4.0: doc_to_text=prompt (raw), no description, 0-shot, "
    "target_delimiter ' ', "
    "system_instruction via maybe_delimit '\\n\\n'; scoring: lm-eval "
    "process_results strict + 8 "
    "loose variants; sentences: punkt_tab english; words: \\w+; word_tokenize: "
    "punkt + "
    "NLTKWordTokenizer; language: cld2 (langdetect codes); letter_frequency "
    "non-letter: the "
    "character itself";

std::string Dirname(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::StatusOr<IfevalDoc> ParseDoc(const Json& row, const std::string& where,
                                   const CheckerData& data) {
  ASSIGN_OR_RETURN(const JsonReader r, JsonReader(row, where).Object());
  IfevalDoc doc;
  doc.row = row;
  ASSIGN_OR_RETURN(doc.key, r.Field("key").Int());
  ASSIGN_OR_RETURN(doc.prompt, r.Field("prompt").String());
  ASSIGN_OR_RETURN(const JsonReader ids,
                   r.Field("instruction_id_list").Array());
  ASSIGN_OR_RETURN(const JsonReader kwargs, r.Field("kwargs").Array());
  if (kwargs.size() != ids.size()) {
    return kwargs.Error(absl::StrCat(kwargs.size(), " entries for ", ids.size(),
                                     " instructions"));
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSIGN_OR_RETURN(std::string id, ids.Item(i).String());
    absl::StatusOr<std::unique_ptr<Instruction>> inst =
        BuildInstruction(id, kwargs.json().array()[i], data);
    if (!inst.ok()) {
      std::string field = absl::IsNotFound(inst.status())
                              ? absl::StrCat("instruction_id_list[", i, "]")
                              : absl::StrCat("kwargs[", i, "] (", id, ")");
      return absl::Status(inst.status().code(),
                          absl::StrCat(where, ": field '", field,
                                       "': ", inst.status().message()));
    }
    doc.instruction_ids.push_back(std::move(id));
    doc.instructions.push_back(*std::move(inst));
  }
  return doc;
}

// The sample as lm-eval logs it (task.h, SampleResult::lm_eval_json), with
// lm-eval's per-document metric values: booleans per prompt, lists of
// booleans per instruction.
std::string LmEvalSample(const IfevalDoc& doc, const std::string& response,
                         const IfevalScore& score);

SampleResult MakeSample(size_t doc_index, const IfevalDoc& doc,
                        const std::string& context,
                        const std::string& response) {
  IfevalScore score = ScoreIfevalResponse(doc, response);
  SampleResult s;
  s.doc_index = doc_index;
  s.doc_id = absl::StrCat(doc.key);
  s.prompt = context;
  s.target = std::string(kTarget);
  s.responses = {response};
  int strict = 0, loose = 0;
  std::vector<std::string> parts;
  for (size_t i = 0; i < doc.instruction_ids.size(); ++i) {
    strict += score.strict[i];
    loose += score.loose[i];
    parts.push_back(absl::StrCat(doc.instruction_ids[i],
                                 " strict=", score.strict[i] ? 1 : 0,
                                 " loose=", score.loose[i] ? 1 : 0));
  }
  const double n = static_cast<double>(doc.instruction_ids.size());
  s.metrics["prompt_level_strict_acc"] = score.prompt_strict ? 1 : 0;
  s.metrics["prompt_level_loose_acc"] = score.prompt_loose ? 1 : 0;
  s.metrics["inst_level_strict_acc"] = n > 0 ? strict / n : 0;
  s.metrics["inst_level_loose_acc"] = n > 0 ? loose / n : 0;
  s.metrics["num_instructions"] = n;
  s.metrics["inst_strict_followed"] = strict;
  s.metrics["inst_loose_followed"] = loose;
  s.extracted = absl::StrJoin(parts, "; ");
  s.lm_eval_json = LmEvalSample(doc, response, score);
  return s;
}

Json GenerationKwargs();

std::string LmEvalSample(const IfevalDoc& doc, const std::string& response,
                         const IfevalScore& score) {
  Json args = Json::MakeArray();
  args.Push(Json::Null());  // the sample's prompt
  args.Push(GenerationKwargs());
  Json arguments = Json::MakeArray();
  arguments.Push(std::move(args));
  Json resp = Json::MakeArray();
  resp.Push(Json::String(response));
  Json resps = Json::MakeArray();
  resps.Push(resp);
  Json filtered = Json::MakeObject();
  filtered.Set("none", resp);
  auto bools = [](const std::vector<bool>& v) {
    Json list = Json::MakeArray();
    for (bool b : v) list.Push(Json::Bool(b));
    return list;
  };
  Json metrics = Json::MakeObject();
  metrics.Set("prompt_level_strict_acc", Json::Bool(score.prompt_strict));
  metrics.Set("inst_level_strict_acc", bools(score.strict));
  metrics.Set("prompt_level_loose_acc", Json::Bool(score.prompt_loose));
  metrics.Set("inst_level_loose_acc", bools(score.loose));
  Json sample = Json::MakeObject();
  sample.Set("doc", doc.row);
  sample.Set("target", Json::Int(0));
  sample.Set("arguments", std::move(arguments));
  sample.Set("resps", std::move(resps));
  sample.Set("filtered_resps", std::move(filtered));
  sample.Set("metrics", std::move(metrics));
  return sample.Dump();
}

// The generation kwargs of lm-eval's ifeval.yaml (max_gen_toks as evald
// generates).
Json GenerationKwargs() {
  Json kwargs = Json::MakeObject();
  kwargs.Set("until", Json::MakeArray());
  kwargs.Set("do_sample", Json::Bool(false));
  kwargs.Set("temperature", Json::Double(0.0));
  kwargs.Set("max_gen_toks", Json::Int(kMaxNewTokens));
  return kwargs;
}

// lm-eval's `configs` entry of ifeval.yaml. The two Python hooks lm-eval
// serialises by their source are named by their YAML tags instead.
Json LmEvalConfig() {
  auto metric = [](const char* name, const char* aggregation) {
    Json m = Json::MakeObject();
    m.Set("metric", Json::String(name));
    m.Set("aggregation", Json::String(aggregation));
    m.Set("higher_is_better", Json::Bool(true));
    return m;
  };
  constexpr char kInstAgg[] = "!function utils.agg_inst_level_acc";
  Json metrics = Json::MakeArray();
  metrics.Push(metric("prompt_level_strict_acc", "mean"));
  metrics.Push(metric("inst_level_strict_acc", kInstAgg));
  metrics.Push(metric("prompt_level_loose_acc", "mean"));
  metrics.Push(metric("inst_level_loose_acc", kInstAgg));
  Json fewshot = Json::MakeObject();
  fewshot.Set("sampler", Json::String("default"));
  fewshot.Set("split", Json::Null());
  fewshot.Set("process_docs", Json::Null());
  fewshot.Set("fewshot_indices", Json::Null());
  fewshot.Set("samples", Json::Null());
  fewshot.Set("doc_to_text", Json::String("prompt"));
  fewshot.Set("doc_to_choice", Json::Null());
  fewshot.Set("doc_to_target", Json::Int(0));
  fewshot.Set("gen_prefix", Json::Null());
  fewshot.Set("fewshot_delimiter", Json::String("\n\n"));
  fewshot.Set("target_delimiter", Json::String(" "));
  Json metadata = Json::MakeObject();
  metadata.Set("version", Json::Double(4.0));
  Json c = Json::MakeObject();
  c.Set("task", Json::String("ifeval"));
  c.Set("dataset_path", Json::String("google/IFEval"));
  c.Set("test_split", Json::String("train"));
  c.Set("doc_to_text", Json::String("prompt"));
  c.Set("doc_to_target", Json::Int(0));
  c.Set("unsafe_code", Json::Bool(false));
  c.Set("process_results", Json::String("!function utils.process_results"));
  c.Set("description", Json::String(""));
  c.Set("target_delimiter", Json::String(" "));
  c.Set("fewshot_delimiter", Json::String("\n\n"));
  c.Set("fewshot_config", std::move(fewshot));
  c.Set("num_fewshot", Json::Int(0));
  c.Set("metric_list", std::move(metrics));
  c.Set("output_type", Json::String("generate_until"));
  c.Set("generation_kwargs", GenerationKwargs());
  c.Set("repeats", Json::Int(1));
  c.Set("should_decontaminate", Json::Bool(false));
  c.Set("metadata", std::move(metadata));
  return c;
}

class IfevalTask : public Task {
 public:
  IfevalTask(TaskOptions options, std::unique_ptr<PunktTokenizer> punkt,
             std::unique_ptr<LanguageDetector> language,
             std::vector<IfevalDoc> docs, TaskInfo info)
      : options_(std::move(options)),
        punkt_(std::move(punkt)),
        language_(std::move(language)),
        docs_(std::move(docs)),
        info_(std::move(info)) {}

  const TaskInfo& info() const override { return info_; }

  std::vector<std::string> DocIds() const override {
    std::vector<std::string> ids;
    ids.reserve(docs_.size());
    for (const IfevalDoc& d : docs_) ids.push_back(absl::StrCat(d.key));
    return ids;
  }

  absl::StatusOr<PromptView> BuildPrompt(size_t doc_index) const override {
    if (doc_index >= docs_.size()) {
      return absl::OutOfRangeError(
          absl::StrCat("ifeval: document index ", doc_index, " out of range"));
    }
    PromptView view;
    view.doc_id = absl::StrCat(docs_[doc_index].key);
    view.context = PlainContext(docs_[doc_index]);
    view.target = std::string(kTarget);
    view.max_new_tokens = kMaxNewTokens;
    return view;
  }

  absl::StatusOr<SampleResult> ScoreResponse(
      size_t doc_index, const std::string& response) const override {
    if (doc_index >= docs_.size()) {
      return absl::OutOfRangeError(
          absl::StrCat("ifeval: document index ", doc_index, " out of range"));
    }
    return MakeSample(doc_index, docs_[doc_index],
                      PlainContext(docs_[doc_index]), response);
  }

  absl::Status Run(
      runners::Runner& runner, absl::Span<const size_t> doc_indices,
      const RunContext& context,
      const std::function<absl::Status(SampleResult)>& on_sample) override {
    const auto start = std::chrono::steady_clock::now();
    std::vector<runners::GenerateRequest> requests;
    std::vector<std::string> shown;  // each request's prompt as stored
    requests.reserve(doc_indices.size());
    for (size_t doc_index : doc_indices) {
      if (doc_index >= docs_.size()) {
        return absl::OutOfRangeError(absl::StrCat("ifeval: document index ",
                                                  doc_index, " out of range"));
      }
      runners::GenerateRequest request;
      const IfevalDoc& doc = docs_[doc_index];
      if (options_.chat_template) {
        PromptParts parts;
        parts.question = doc.prompt;
        ASSIGN_OR_RETURN(
            runners::ChatPrompt chat,
            PrepareChatRequest(
                runner,
                BuildChatMessages(parts, options_.system_instruction, true)));
        request.messages = std::move(chat.messages);
        shown.push_back(std::move(chat.text));
      } else {
        request.prompt = PlainContext(doc);
        shown.push_back(request.prompt);
      }
      request.max_new_tokens =
          kMaxNewTokens;  // greedy; the runner stops at EOS
      requests.push_back(std::move(request));
    }

    CancelRelay relay(context.cancelled);
    absl::Status sink_status;
    runners::CallOptions call_options;
    call_options.cancelled = relay.flag();
    call_options.stop_admitting = context.draining;
    absl::Status call_status = runner.Generate(
        requests, call_options,
        [&](size_t r, absl::StatusOr<runners::GenerateResult> result) {
          if (r >= requests.size() || !sink_status.ok()) return;
          // A cancelled document is not stored, so a resumed run redoes it.
          if (!result.ok() && absl::IsCancelled(result.status())) return;
          const IfevalDoc& doc = docs_[doc_indices[r]];
          SampleResult sample;
          if (result.ok()) {
            sample = MakeSample(doc_indices[r], doc, shown[r], result->text);
            sample.prompt_tokens = result->prompt_tokens;
            sample.cached_tokens = result->cached_tokens;
            sample.generated_tokens =
                static_cast<int64_t>(result->token_ids.size());
          } else {
            sample.doc_index = doc_indices[r];
            sample.doc_id = absl::StrCat(doc.key);
            sample.prompt = shown[r];
            sample.target = std::string(kTarget);
            sample.error = result.status().ToString();
          }
          sample.wall_seconds = std::chrono::duration<double>(
                                    std::chrono::steady_clock::now() - start)
                                    .count();
          absl::Status st = on_sample(std::move(sample));
          if (!st.ok()) {
            sink_status = st;
            relay.Cancel();
          }
        });
    RETURN_IF_ERROR(sink_status);
    RETURN_IF_ERROR(call_status);
    if (relay.outer_cancelled())
      return absl::CancelledError("ifeval: run cancelled");
    return absl::OkStatus();
  }

  std::vector<MetricResult> Aggregate(
      absl::Span<const SampleResult> samples) const override {
    return AggregateIfeval(samples);
  }

 private:
  std::string PlainContext(const IfevalDoc& doc) const {
    PromptParts parts;
    parts.question = doc.prompt;
    return RenderPlainContext(parts, options_.system_instruction);
  }

  TaskOptions options_;
  std::unique_ptr<PunktTokenizer> punkt_;  // used by docs_' instructions
  // Used by docs_' instructions; null when they use the CLD2 fallback.
  std::unique_ptr<LanguageDetector> language_;
  std::vector<IfevalDoc> docs_;
  TaskInfo info_;
};

}  // namespace

absl::StatusOr<std::vector<IfevalDoc>> LoadIfevalDataset(
    const std::string& path, const PunktTokenizer* punkt) {
  return LoadIfevalDataset(path, CheckerData{punkt, &Cld2Detector()});
}

absl::StatusOr<std::vector<IfevalDoc>> LoadIfevalDataset(
    const std::string& path, const CheckerData& data) {
  ASSIGN_OR_RETURN(std::string contents, base::ReadFileToString(path));
  std::vector<IfevalDoc> docs;
  std::set<int64_t> keys;
  size_t line_no = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_no;
    if (line.empty() || line == "\r") continue;
    const std::string where = absl::StrCat(path, ": line ", line_no);
    absl::StatusOr<Json> row = base::ParseJson(line);
    if (!row.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", row.status().message()));
    }
    RETURN_IF_ERROR(CheckJsonUtf8(*row, where));
    ASSIGN_OR_RETURN(IfevalDoc doc, ParseDoc(*row, where, data));
    if (!keys.insert(doc.key).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": field 'key': duplicate key ", doc.key));
    }
    docs.push_back(std::move(doc));
  }
  if (docs.empty())
    return absl::InvalidArgumentError(absl::StrCat(path, ": no documents"));
  return docs;
}

IfevalScore ScoreIfevalResponse(const IfevalDoc& doc,
                                absl::string_view response) {
  IfevalScore score;
  std::vector<std::string> variants = LooseVariants(response);
  score.prompt_strict = true;
  score.prompt_loose = true;
  for (const auto& inst : doc.instructions) {
    bool strict = FollowedStrict(*inst, response);
    bool loose = FollowedLoose(*inst, variants);
    score.strict.push_back(strict);
    score.loose.push_back(loose);
    score.prompt_strict = score.prompt_strict && strict;
    score.prompt_loose = score.prompt_loose && loose;
  }
  return score;
}

absl::StatusOr<std::string> ResolveIfevalDataFile(
    const std::string& data_path) {
  if (!base::IsDirectory(data_path)) {
    if (base::PathExists(data_path)) return data_path;
    return absl::NotFoundError(
        absl::StrCat("ifeval: dataset ", data_path, " does not exist"));
  }
  for (const char* name :
       {"input_data.jsonl", "ifeval_input_data.jsonl", "train.jsonl"}) {
    std::string candidate = absl::StrCat(data_path, "/", name);
    if (base::PathExists(candidate)) return candidate;
  }
  return absl::NotFoundError(absl::StrCat(
      "ifeval: no input_data.jsonl, ifeval_input_data.jsonl or train.jsonl in ",
      data_path));
}

absl::StatusOr<std::string> ResolvePunktDir(const std::string& data_path) {
  std::string dir =
      base::IsDirectory(data_path) ? data_path : Dirname(data_path);
  std::vector<std::string> tried;
  for (const char* rel : {"/../punkt/english", "/../punkt/punkt_tab/english",
                          "/../punkt_tab/english", "/punkt/english"}) {
    std::string candidate = dir + rel;
    if (base::PathExists(candidate + "/abbrev_types.txt")) return candidate;
    tried.push_back(candidate);
  }
  return absl::NotFoundError(
      absl::StrCat("ifeval: punkt_tab english parameters not found (tried ",
                   absl::StrJoin(tried, ", "),
                   "); run `evalctl datasets fetch punkt` or give punkt_path"));
}

std::vector<MetricResult> AggregateIfeval(
    absl::Span<const SampleResult> samples) {
  std::vector<double> prompt_strict, prompt_loose;
  double inst_total = 0, inst_strict = 0, inst_loose = 0;
  auto metric = [](const SampleResult& s, const char* name) {
    auto it = s.metrics.find(name);
    return it == s.metrics.end() ? 0.0 : it->second;
  };
  for (const SampleResult& s : samples) {
    if (!s.error.empty()) continue;  // failed generations are not scored
    prompt_strict.push_back(metric(s, "prompt_level_strict_acc"));
    prompt_loose.push_back(metric(s, "prompt_level_loose_acc"));
    inst_total += metric(s, "num_instructions");
    inst_strict += metric(s, "inst_strict_followed");
    inst_loose += metric(s, "inst_loose_followed");
  }
  const int64_t n = static_cast<int64_t>(prompt_strict.size());
  std::vector<MetricResult> out;
  out.push_back({"prompt_level_strict_acc", "", Mean(prompt_strict),
                 MeanStderr(prompt_strict), n, "mean"});
  out.push_back({.name = "inst_level_strict_acc",
                 .group = "",
                 .value = inst_total > 0 ? inst_strict / inst_total : 0,
                 .count = static_cast<int64_t>(inst_total),
                 .aggregation = "flattened mean over instructions",
                 .stderr_na = true});
  out.push_back({"prompt_level_loose_acc", "", Mean(prompt_loose),
                 MeanStderr(prompt_loose), n, "mean"});
  out.push_back({.name = "inst_level_loose_acc",
                 .group = "",
                 .value = inst_total > 0 ? inst_loose / inst_total : 0,
                 .count = static_cast<int64_t>(inst_total),
                 .aggregation = "flattened mean over instructions",
                 .stderr_na = true});
  return out;
}

absl::StatusOr<std::unique_ptr<LanguageDetector>> LoadLanguageDetector(
    const std::string& data_path, const std::string& language_id,
    const std::string& langdetect_path) {
  if (language_id == "cld2") return std::unique_ptr<LanguageDetector>();
  if (!language_id.empty() && language_id != "langdetect") {
    return absl::InvalidArgumentError(
        absl::StrCat("ifeval: option 'language_id': unknown detector '",
                     language_id, "' (known: langdetect, cld2)"));
  }
  std::vector<std::string> candidates;
  if (!langdetect_path.empty()) {
    candidates.push_back(langdetect_path);
  } else {
    std::string dir =
        base::IsDirectory(data_path) ? data_path : Dirname(data_path);
    candidates = {dir + "/../langdetect", dir + "/langdetect",
                  std::string(kDebianLangdetectDir)};
  }
  for (const std::string& candidate : candidates) {
    if (!base::IsDirectory(candidate)) continue;
    ASSIGN_OR_RETURN(std::unique_ptr<LangDetect> detector,
                     LangDetect::Load(candidate));
    return std::unique_ptr<LanguageDetector>(std::move(detector));
  }
  if (!language_id.empty() || !langdetect_path.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "ifeval: langdetect profiles not found (tried ",
        absl::StrJoin(candidates, ", "),
        "); install python3-langdetect or give option 'langdetect_path'"));
  }
  return std::unique_ptr<LanguageDetector>();  // the CLD2 fallback
}

absl::StatusOr<std::unique_ptr<Task>> CreateIfevalTask(
    const TaskOptions& options, const std::string& punkt_path) {
  if (options.shots > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ifeval: shots ", options.shots, " requested; the task is 0-shot"));
  }
  if (!options.variant.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ifeval: unknown variant '", options.variant, "'"));
  }
  ASSIGN_OR_RETURN(std::string data_file,
                   ResolveIfevalDataFile(options.data_path));
  std::string punkt_dir = punkt_path;
  if (punkt_dir.empty()) {
    ASSIGN_OR_RETURN(punkt_dir, ResolvePunktDir(options.data_path));
  } else if (!base::PathExists(punkt_dir + "/abbrev_types.txt") &&
             base::PathExists(punkt_dir + "/english/abbrev_types.txt")) {
    // The punkt folder of `evalctl datasets fetch punkt` rather than its
    // english/ subfolder.
    punkt_dir += "/english";
  }
  ASSIGN_OR_RETURN(std::unique_ptr<PunktTokenizer> punkt,
                   PunktTokenizer::Load(punkt_dir));
  auto option = [&](const char* name) {
    auto it = options.options.find(name);
    return it == options.options.end() ? std::string() : it->second;
  };
  ASSIGN_OR_RETURN(
      std::unique_ptr<LanguageDetector> language,
      LoadLanguageDetector(options.data_path, option("language_id"),
                           option("langdetect_path")));
  const LanguageDetector& detector =
      language != nullptr ? *language : Cld2Detector();
  ASSIGN_OR_RETURN(
      std::vector<IfevalDoc> docs,
      LoadIfevalDataset(data_file, CheckerData{punkt.get(), &detector}));
  const std::string language_id =
      detector.sha256().empty()
          ? detector.name()
          : absl::StrCat(detector.name(), " (profiles sha256 ",
                         detector.sha256(), ")");
  if (options.limit > 0 && static_cast<size_t>(options.limit) < docs.size()) {
    docs.resize(static_cast<size_t>(options.limit));
  }

  TaskInfo info;
  info.name = kTaskName;
  info.version = kTaskVersion;
  info.shots = 0;
  info.lm_eval_config_json = LmEvalConfig().Dump();
  info.prompt_format_hash = base::Sha256Hex(absl::StrCat(
      kPromptFormat, "\nchat_template=", options.chat_template ? 1 : 0,
      "\nsystem_instruction=", options.system_instruction,
      "\npunkt_sha256=", punkt->sha256(), "\nlanguage_id=", language_id));
  info.generation_settings =
      absl::StrCat("greedy, max ", kMaxNewTokens,
                   ", stop [] (EOS only); sentence splitter "
                   "punkt_tab english (sha256 ",
                   punkt->sha256(), "); language id ", language_id);
  ASSIGN_OR_RETURN(std::string data_sha, base::Sha256File(data_file));
  info.datasets.push_back({data_file, data_sha});
  for (const char* name : {"abbrev_types.txt", "collocations.tab",
                           "ortho_context.tab", "sent_starters.txt"}) {
    std::string path = absl::StrCat(punkt_dir, "/", name);
    ASSIGN_OR_RETURN(std::string sha, base::Sha256File(path));
    info.datasets.push_back({path, sha});
  }
  return std::unique_ptr<Task>(
      new IfevalTask(options, std::move(punkt), std::move(language),
                     std::move(docs), std::move(info)));
}

namespace {
const bool kRegistered = [] {
  RegisterTask(
      kTaskName,
      [](const TaskOptions& options) -> absl::StatusOr<std::unique_ptr<Task>> {
        for (const auto& [key, value] : options.options) {
          if (key != "punkt_path" && key != "language_id" &&
              key != "langdetect_path") {
            return absl::InvalidArgumentError(absl::StrCat(
                "ifeval: unknown option '", key,
                "' (known: punkt_path, language_id, langdetect_path)"));
          }
        }
        auto it = options.options.find("punkt_path");
        return CreateIfevalTask(options,
                                it == options.options.end() ? "" : it->second);
      });
  return true;
}();
}  // namespace

}  // namespace evald::tasks::ifeval
