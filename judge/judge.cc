// File: judge/judge.cc
#include "judge/judge.h"

#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "base/file.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace evald::judge {
namespace {

// The built-in templates, judge/templates/*.yaml embedded at build time:
// {"single", "..."}, {"pairwise", "..."}, {"reference", "..."}.
struct EmbeddedTemplate {
  const char* name;
  const char* yaml;
};
constexpr EmbeddedTemplate kEmbedded[] = {
#include "judge_templates.inc"
};

const JudgeTemplate& Builtin(Mode mode) {
  static const auto* const templates = [] {
    auto* parsed = new std::map<Mode, JudgeTemplate>;
    for (const EmbeddedTemplate& e : kEmbedded) {
      absl::StatusOr<JudgeTemplate> t = ParseTemplate(
          absl::StrCat("judge/templates/", e.name, ".yaml"), e.yaml);
      CHECK(t.ok()) << t.status();  // build-time data, covered by judge_test
      (*parsed)[t->mode] = *std::move(t);
    }
    return parsed;
  }();
  return templates->at(mode);
}

constexpr char kReminder[] =
    "\n\nYour previous reply did not end with a verdict in the required form. "
    "Reply again and end "
    "with the verdict exactly as asked.";

std::set<std::string> Needed(Mode mode) {
  switch (mode) {
    case Mode::kSingle:
      return {"question", "answer"};
    case Mode::kPairwise:
      return {"question", "answer_a", "answer_b"};
    case Mode::kReference:
      return {"question", "answer", "reference"};
  }
  return {};
}

}  // namespace

const JudgeTemplate& DefaultTemplate(Mode mode) { return Builtin(mode); }

absl::StatusOr<std::string> BuiltinTemplateText(absl::string_view name) {
  std::vector<std::string> names;
  for (const EmbeddedTemplate& e : kEmbedded) {
    if (name == e.name) return std::string(e.yaml);
    names.push_back(e.name);
  }
  return absl::NotFoundError(
      absl::StrCat("no built-in judge template '", name,
                   "' (known: ", absl::StrJoin(names, ", "), ")"));
}

absl::StatusOr<JudgeTemplate> ParseTemplate(const std::string& path,
                                            const std::string& yaml) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
  }
  if (!root.IsMap())
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": expected a mapping"));
  JudgeTemplate t;
  auto text = [&](const char* field,
                  bool required) -> absl::StatusOr<std::string> {
    const YAML::Node n = root[field];
    if (!n) {
      if (required)
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": field '", field, "' is missing"));
      return std::string();
    }
    if (!n.IsScalar()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", n.Mark().line + 1, ": field '", field,
                       "': expected text"));
    }
    return n.Scalar();
  };
  for (const auto& entry : root) {
    if (!entry.first.IsScalar()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", entry.first.Mark().line + 1, ": expected a field name"));
    }
    const std::string key = entry.first.Scalar();
    if (key != "name" && key != "mode" && key != "system" && key != "prompt") {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", entry.first.Mark().line + 1, ": unknown field '", key,
          "' (known: name, mode, system, prompt)"));
    }
  }
  ASSIGN_OR_RETURN(t.name, text("name", false));
  ASSIGN_OR_RETURN(std::string mode, text("mode", true));
  if (mode == "single") {
    t.mode = Mode::kSingle;
  } else if (mode == "pairwise") {
    t.mode = Mode::kPairwise;
  } else if (mode == "reference") {
    t.mode = Mode::kReference;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": field 'mode': '", mode,
                     "' is not single, pairwise or reference"));
  }
  ASSIGN_OR_RETURN(t.system, text("system", false));
  ASSIGN_OR_RETURN(t.prompt, text("prompt", true));
  // Every {name} must be one the mode fills, and every one it needs present.
  const std::set<std::string> needed = Needed(t.mode);
  std::set<std::string> found;
  for (size_t pos = t.prompt.find('{'); pos != std::string::npos;
       pos = t.prompt.find('{', pos + 1)) {
    const size_t end = t.prompt.find('}', pos);
    if (end == std::string::npos) break;
    const std::string name = t.prompt.substr(pos + 1, end - pos - 1);
    if (name.empty() || name.find_first_of(" \n{") != std::string::npos)
      continue;
    if (needed.count(name) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": field 'prompt': unknown placeholder {", name,
                       "} for mode ", mode));
    }
    found.insert(name);
  }
  for (const std::string& n : needed) {
    if (found.count(n) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": field 'prompt': mode ", mode,
                       " needs the placeholder {", n, "}"));
    }
  }
  if (t.name.empty()) t.name = path;
  return t;
}

absl::StatusOr<JudgeTemplate> LoadTemplate(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, base::ReadFileToString(path));
  return ParseTemplate(path, text);
}

std::string Judge::RenderPrompt(const JudgeItem& item) const {
  // One pass, so text inside an answer that looks like a placeholder stays.
  return absl::StrReplaceAll(template_.prompt,
                             {{"{question}", item.question},
                              {"{answer}", item.answer},
                              {"{answer_a}", item.answer},
                              {"{answer_b}", item.answer_b},
                              {"{reference}", item.reference}});
}

absl::StatusOr<runners::ChatPrompt> Judge::JudgeTurn(
    const std::string& user) const {
  std::vector<runners::ChatMessage> messages;
  if (!template_.system.empty())
    messages.push_back({"system", template_.system});
  messages.push_back({"user", user});
  return runners::PrepareChat(*runner_, std::move(messages),
                              runners::SystemTurnFallback::kMergeIntoUser);
}

void Judge::Parse(const std::string& reply, JudgeRecord* record) const {
  switch (template_.mode) {
    case Mode::kSingle:
      if (std::optional<double> r = ParseRating(reply)) {
        record->rating = *r;
        record->parsed = true;
      }
      break;
    case Mode::kPairwise:
      record->pair = ParsePairwise(reply);
      record->parsed = record->pair.has_value();
      break;
    case Mode::kReference:
      record->correct = ParseCorrectness(reply);
      record->parsed = record->correct.has_value();
      break;
  }
}

absl::StatusOr<std::vector<JudgeRecord>> Judge::Grade(
    absl::Span<const JudgeItem> items,
    const runners::CallOptions& options) const {
  std::vector<JudgeRecord> records(items.size());
  std::vector<runners::GenerateRequest> requests(items.size());
  std::vector<std::string> users(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    users[i] = RenderPrompt(items[i]);
    ASSIGN_OR_RETURN(runners::ChatPrompt turn, JudgeTurn(users[i]));
    records[i].prompt = std::move(turn.text);
    requests[i].messages = std::move(turn.messages);
    requests[i].max_new_tokens = max_new_tokens_;
  }
  auto collect =
      [&](const std::vector<size_t>& which,
          const std::vector<runners::GenerateRequest>& batch) -> absl::Status {
    return runner_->Generate(
        batch, options,
        [&](size_t k, absl::StatusOr<runners::GenerateResult> result) {
          JudgeRecord& record = records[which[k]];
          if (!result.ok()) {
            record.error = std::string(result.status().message());
            return;
          }
          record.raw.push_back(result->text);
          Parse(result->text, &record);
        });
  };
  std::vector<size_t> all(items.size());
  for (size_t i = 0; i < items.size(); ++i) all[i] = i;
  RETURN_IF_ERROR(collect(all, requests));
  std::vector<size_t> retry;
  std::vector<runners::GenerateRequest> again;
  for (size_t i = 0; i < items.size(); ++i) {
    if (records[i].parsed || !records[i].error.empty()) continue;
    ASSIGN_OR_RETURN(runners::ChatPrompt turn, JudgeTurn(users[i] + kReminder));
    runners::GenerateRequest r = requests[i];
    r.messages = std::move(turn.messages);
    retry.push_back(i);
    again.push_back(std::move(r));
  }
  if (!retry.empty()) RETURN_IF_ERROR(collect(retry, again));
  return records;
}

RateInterval WinRate(absl::Span<const Outcome> outcomes) {
  RateInterval r;
  r.n = static_cast<int64_t>(outcomes.size());
  if (r.n == 0) return r;
  double score = 0;
  for (Outcome o : outcomes)
    score += o == Outcome::kWin ? 1.0 : o == Outcome::kTie ? 0.5 : 0.0;
  const double n = static_cast<double>(r.n);
  const double p = score / n;
  const double z = 1.959963984540054;
  const double denom = 1 + z * z / n;
  const double center = (p + z * z / (2 * n)) / denom;
  const double half =
      z * std::sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom;
  r.rate = p;
  r.low = center - half;
  r.high = center + half;
  return r;
}

}  // namespace evald::judge
