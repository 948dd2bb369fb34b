// File: tasks/ifeval/instructions.cc
#include "tasks/ifeval/instructions.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "base/utf8.h"
#include "py/re.h"
#include "py/str.h"
#include "tasks/ifeval/language.h"
#include "tasks/ifeval/nltk_words.h"

namespace evald::tasks::ifeval {
namespace {

using ::evald::py::ReFlags;
using ::evald::py::Regex;
using ::evald::py::ReMatch;

using base::Json;

// ---------------------------------------------------------------------------
// kwargs access with the reference's "drop falsy values" rule.

bool Truthy(const Json& v) {
  switch (v.type()) {
    case Json::Type::kNull:
      return false;
    case Json::Type::kBool:
      return v.bool_value();
    case Json::Type::kNumber:
      return v.number_value() != 0;
    case Json::Type::kString:
      return !v.string_value().empty();
    case Json::Type::kArray:
      return !v.array().empty();
    case Json::Type::kObject:
      return !v.object().empty();
  }
  return false;
}

class Kwargs {
 public:
  explicit Kwargs(const Json& obj) : obj_(obj) {}

  const Json* Get(absl::string_view name) const {
    const Json* v = obj_.is_object() ? obj_.Find(name) : nullptr;
    return v != nullptr && Truthy(*v) ? v : nullptr;
  }

  absl::StatusOr<double> Number(absl::string_view name) const {
    const Json* v = Get(name);
    if (v == nullptr) return Missing(name);
    if (!v->is_number()) return BadType(name, "a number");
    return v->number_value();
  }

  absl::StatusOr<std::string> String(absl::string_view name) const {
    const Json* v = Get(name);
    if (v == nullptr) return Missing(name);
    if (!v->is_string()) return BadType(name, "a string");
    return v->string_value();
  }

  absl::StatusOr<std::vector<std::string>> StringList(
      absl::string_view name) const {
    const Json* v = Get(name);
    if (v == nullptr) return Missing(name);
    if (!v->is_array()) return BadType(name, "a list of strings");
    std::vector<std::string> out;
    for (const Json& item : v->array()) {
      if (!item.is_string()) return BadType(name, "a list of strings");
      out.push_back(item.string_value());
    }
    return out;
  }

  // "less than" or "at least".
  absl::StatusOr<bool> LessThan(absl::string_view name) const {
    ASSIGN_OR_RETURN(std::string relation, String(name));
    if (relation == "less than") return true;
    if (relation == "at least") return false;
    return absl::InvalidArgumentError(
        absl::StrCat("kwargs.", name, ": relation '", relation,
                     "' is not 'less than' or 'at least'"));
  }

 private:
  static absl::Status Missing(absl::string_view name) {
    // The reference would draw a random value here; a score must not.
    return absl::InvalidArgumentError(
        absl::StrCat("kwargs.", name, ": missing, null or empty (required)"));
  }
  static absl::Status BadType(absl::string_view name, absl::string_view want) {
    return absl::InvalidArgumentError(
        absl::StrCat("kwargs.", name, ": must be ", want));
  }
  const Json& obj_;
};

bool Compare(double actual, double threshold, bool less_than) {
  return less_than ? actual < threshold : actual >= threshold;
}

absl::StatusOr<Regex> CompileKwargRegex(absl::string_view field,
                                        absl::string_view pattern,
                                        ReFlags flags) {
  absl::StatusOr<Regex> re = Regex::Compile(pattern, flags);
  if (!re.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kwargs.", field, ": ", re.status().message()));
  }
  return re;
}

// A checker made of a closure; each builder below captures its arguments.
class FnInstruction : public Instruction {
 public:
  explicit FnInstruction(std::function<bool(absl::string_view)> fn)
      : fn_(std::move(fn)) {}
  bool CheckFollowing(absl::string_view response) const override {
    return fn_(response);
  }

 private:
  std::function<bool(absl::string_view)> fn_;
};

using Check = std::function<bool(absl::string_view)>;
using Builder =
    std::function<absl::StatusOr<Check>(const Kwargs&, const CheckerData&)>;

const Regex& Re(const char* pattern, ReFlags flags = {}) {
  // A fixed pattern, compiled once: every caller keeps the result in a
  // function-local static, so the leak is bounded and intended.
  return *new Regex(Regex::CompileOrDie(pattern, flags));
}

// language:response_language, english_capital, english_lowercase: a detector
// exception (no letters) counts as followed.
bool LanguageIs(const LanguageDetector* detector, absl::string_view text,
                absl::string_view code) {
  std::optional<std::string> lang = detector->Detect(text);
  return !lang.has_value() || *lang == code;
}

const std::map<std::string, Builder>& Builders() {
  static const auto* builders = new std::map<std::string, Builder>{
      {"keywords:existence",
       [](const Kwargs& kw, const CheckerData&) -> absl::StatusOr<Check> {
         ASSIGN_OR_RETURN(std::vector<std::string> words,
                          kw.StringList("keywords"));
         std::vector<Regex> res;
         for (const std::string& w : words) {
           ASSIGN_OR_RETURN(Regex re, CompileKwargRegex("keywords", w,
                                                        {.ignore_case = true}));
           res.push_back(std::move(re));
         }
         return Check([res](absl::string_view r) {
           return std::all_of(res.begin(), res.end(), [&](const Regex& re) {
             return re.Search(r).has_value();
           });
         });
       }},
      {"keywords:frequency",
       [](const Kwargs& kw, const CheckerData&) -> absl::StatusOr<Check> {
         ASSIGN_OR_RETURN(std::string keyword, kw.String("keyword"));
         ASSIGN_OR_RETURN(double frequency, kw.Number("frequency"));
         ASSIGN_OR_RETURN(bool less, kw.LessThan("relation"));
         ASSIGN_OR_RETURN(Regex re,
                          CompileKwargRegex("keyword", py::Strip(keyword),
                                            {.ignore_case = true}));
         return Check([re, frequency, less](absl::string_view r) {
           return Compare(static_cast<double>(re.FindIter(r).size()), frequency,
                          less);
         });
       }},
      {"keywords:forbidden_words",
       [](const Kwargs& kw, const CheckerData&) -> absl::StatusOr<Check> {
         ASSIGN_OR_RETURN(std::vector<std::string> words,
                          kw.StringList("forbidden_words"));
         std::vector<Regex> res;
         for (const std::string& w :
              std::set<std::string>(words.begin(), words.end())) {
           ASSIGN_OR_RETURN(Regex re,
                            CompileKwargRegex("forbidden_words",
                                              absl::StrCat("\\b", w, "\\b"),
                                              {.ignore_case = true}));
           res.push_back(std::move(re));
         }
         return Check([res](absl::string_view r) {
           return std::none_of(res.begin(), res.end(), [&](const Regex& re) {
             return re.Search(r).has_value();
           });
         });
       }},
      {"keywords:letter_frequency",
       [](const Kwargs& kw, const CheckerData&) -> absl::StatusOr<Check> {
         ASSIGN_OR_RETURN(std::string letter, kw.String("letter"));
         ASSIGN_OR_RETURN(double frequency, kw.Number("let_frequency"));
         ASSIGN_OR_RETURN(bool less, kw.LessThan("let_relation"));
         std::string lowered = py::Lower(py::Strip(letter));
         std::vector<uint32_t> cps = base::DecodeUtf8(lowered);
         if (cps.size() != 1) {
           return absl::InvalidArgumentError(absl::StrCat(
               "kwargs.letter: '", letter, "' is not a single character"));
         }
         uint32_t target = cps[0];
         return Check([target, frequency, less](absl::string_view r) {
           std::vector<uint32_t> text = base::DecodeUtf8(py::Lower(r));
           double n = static_cast<double>(
               std::count(text.begin(), text.end(), target));
           return Compare(n, frequency, less);
         });
       }},
      {"language:response_language",
       [](const Kwargs& kw, const CheckerData& data) -> absl::StatusOr<Check> {
         ASSIGN_OR_RETURN(std::string language, kw.String("language"));
         return Check(
             [detector = data.language, language](absl::string_view r) {
               return LanguageIs(detector, r, language);
             });
       }},
      {"length_constraints:number_sentences",
       [](const Kwargs& kw, const CheckerData& data) -> absl::StatusOr<Check> {
         const PunktTokenizer* punkt = data.punkt;
         ASSIGN_OR_RETURN(double n, kw.Number("num_sentences"));
         ASSIGN_OR_RETURN(bool less, kw.LessThan("relation"));
         return Check([punkt, n, less](absl::string_view r) {
           return Compare(static_cast<double>(punkt->Tokenize(r).size()), n,
                          less);
         });
       }},
      {"length_constraints:number_paragraphs",
       [](const Kwargs& kw, const CheckerData&) -> absl::StatusOr<Check> {
         ASSIGN_OR_RETURN(double n, kw.Number("num_paragraphs"));
         return Check([n](absl::string_view r) {
           static const Regex& re = Re(R"(\s?\*\*\*\s?)");
           std::vector<std::string> paragraphs = re.Split(r);
           size_t count = paragraphs.size();
           for (size_t i = 0; i < paragraphs.size(); ++i) {
             if (!py::Strip(paragraphs[i]).empty()) continue;
             if (i == 0 || i + 1 == paragraphs.size()) {
               --count;
             } else {
               return false;
             }
           }
           return static_cast<double>(count) == n;
         });
       }},
      {"length_constraints:number_words",
       [](const Kwargs& kw, const CheckerData&) -> absl::StatusOr<Check> {
         ASSIGN_OR_RETURN(double n, kw.Number("num_words"));
         ASSIGN_OR_RETURN(bool less, kw.LessThan("relation"));
         return Check([n, less](absl::string_view r) {
           return Compare(static_cast<double>(CountWords(r)), n, less);
         });
       }},
      {"length_constraints:nth_paragraph_first_word",
       [](const Kwargs& kw, const CheckerData&) -> absl::StatusOr<Check> {
         ASSIGN_OR_RETURN(double num_paragraphs, kw.Number("num_paragraphs"));
         ASSIGN_OR_RETURN(double nth, kw.Number("nth_paragraph"));
         ASSIGN_OR_RETURN(std::string first_word, kw.String("first_word"));
         if (nth < 1 || nth != std::floor(nth)) {
           return absl::InvalidArgumentError(
               "kwargs.nth_paragraph: must be a positive integer");
         }
         std::string want = py::Lower(first_word);
         return Check([num_paragraphs, nth, want](absl::string_view r) {
           std::vector<std::string> paragraphs = py::Split(r, "\n\n");
           double count = static_cast<double>(paragraphs.size());
           for (const std::string& p : paragraphs) {
             if (py::Strip(p).empty()) count -= 1;
           }
           if (nth > count) return false;
           absl::string_view paragraph =
               py::Strip(paragraphs[static_cast<size_t>(nth) - 1]);
           if (paragraph.empty()) return false;
           std::vector<std::string> words = py::SplitWhitespace(paragraph);
           absl::string_view word = py::Strip(words[0]);
           word = py::LStrip(word, "'");
           word = py::LStrip(word, "\"");
           std::string got;
           size_t pos = 0;
           while (pos < word.size()) {
             size_t start = pos;
             uint32_t cp = base::DecodeUtf8At(word, &pos);
             if (cp == '.' || cp == ',' || cp == '?' || cp == '!' ||
                 cp == '\'' || cp == '"')
               break;
             got += py::Lower(word.substr(start, pos - start));
           }
           return count == num_paragraphs && got == want;
         });
       }},
      {"detectable_content:number_placeholders",
       [](const Kwargs& kw, const CheckerData&) -> absl::StatusOr<Check> {
         ASSIGN_OR_RETURN(double n, kw.Number("num_placeholders"));
         return Check([n](absl::string_view r) {
           static const Regex& re = Re(R"(\[.*?\])");
           return static_cast<double>(re.FindIter(r).size()) >= n;
         });
       }},
      {"detectable_content:postscript",
       [](const Kwargs& kw, const CheckerData&) -> absl::StatusOr<Check> {
         ASSIGN_OR_RETURN(std::string marker, kw.String("postscript_marker"));
         marker = std::string(py::Strip(marker));
         std::string pattern;
         if (marker == "P.P.S") {
           pattern = R"(\s*p\.\s?p\.\s?s.*$)";
         } else if (marker == "P.S.") {
           pattern = R"(\s*p\.\s?s\..*$)";
         } else {
           pattern = absl::StrCat(R"(\s*)", py::Lower(marker), ".*$");
         }
         ASSIGN_OR_RETURN(Regex re,
                          CompileKwargRegex("postscript_marker", pattern,
                                            {.multiline = true}));
         return Check([re](absl::string_view r) {
           return re.Search(py::Lower(r)).has_value();
         });
       }},
      {"detectable_format:number_bullet_lists",
       [](const Kwargs& kw, const CheckerData&) -> absl::StatusOr<Check> {
         ASSIGN_OR_RETURN(double n, kw.Number("num_bullets"));
         return Check([n](absl::string_view r) {
           static const Regex& star =
               Re(R"(^\s*\*[^\*].*$)", {.multiline = true});
           static const Regex& dash = Re(R"(^\s*-.*$)", {.multiline = true});
           return static_cast<double>(star.FindIter(r).size() +
                                      dash.FindIter(r).size()) == n;
         });
       }},
      {"detectable_format:constrained_response",
       [](const Kwargs&, const CheckerData&) -> absl::StatusOr<Check> {
         return Check([](absl::string_view r) {
           absl::string_view s = py::Strip(r);
           for (const char* option : {"My answer is yes.", "My answer is no.",
                                      "My answer is maybe."}) {
             if (absl::StrContains(s, option)) return true;
           }
           return false;
         });
       }},
      {"detectable_format:number_highlighted_sections",
       [](const Kwargs& kw, const CheckerData&) -> absl::StatusOr<Check> {
         ASSIGN_OR_RETURN(double n, kw.Number("num_highlights"));
         return Check([n](absl::string_view r) {
           static const Regex& single = Re(R"(\*[^\n\*]*\*)");
           static const Regex& dbl = Re(R"(\*\*[^\n\*]*\*\*)");
           int count = 0;
           for (const ReMatch& m : single.FindIter(r)) {
             if (!py::Strip(py::Strip(m.group(r, 0), "*")).empty()) ++count;
           }
           for (const ReMatch& m : dbl.FindIter(r)) {
             absl::string_view h = m.group(r, 0);
             h = h.substr(2, h.size() - 4);  // removeprefix/removesuffix "**"
             if (!py::Strip(h).empty()) ++count;
           }
           return count >= n;
         });
       }},
      {"detectable_format:multiple_sections",
       [](const Kwargs& kw, const CheckerData&) -> absl::StatusOr<Check> {
         ASSIGN_OR_RETURN(std::string splitter, kw.String("section_spliter"));
         ASSIGN_OR_RETURN(double n, kw.Number("num_sections"));
         ASSIGN_OR_RETURN(
             Regex re,
             CompileKwargRegex(
                 "section_spliter",
                 absl::StrCat(R"(\s?)", py::Strip(splitter), R"(\s?\d+\s?)"),
                 {}));
         return Check([re, n](absl::string_view r) {
           return static_cast<double>(re.Split(r).size() - 1) >= n;
         });
       }},
      {"detectable_format:json_format",
       [](const Kwargs&, const CheckerData&) -> absl::StatusOr<Check> {
         return Check([](absl::string_view r) {
           absl::string_view v = py::Strip(r);
           for (const char* prefix : {"```json", "```Json", "```JSON", "```"}) {
             absl::ConsumePrefix(&v, prefix);
           }
           absl::ConsumeSuffix(&v, "```");
           v = py::Strip(v);
           // Python's json.loads: also NaN/Infinity and lone surrogate escapes.
           base::JsonParseOptions options;
           options.allow_nan_literals = true;
           options.allow_lone_surrogates = true;
           options.max_depth = 990;
           return base::ParseJson(v, options).ok();
         });
       }},
      {"detectable_format:title",
       [](const Kwargs&, const CheckerData&) -> absl::StatusOr<Check> {
         return Check([](absl::string_view r) {
           static const Regex& re = Re(R"(<<[^\n]+>>)");
           for (const ReMatch& m : re.FindIter(r)) {
             absl::string_view t =
                 py::RStrip(py::LStrip(m.group(r, 0), "<"), ">");
             if (!py::Strip(t).empty()) return true;
           }
           return false;
         });
       }},
      {"combination:two_responses",
       [](const Kwargs&, const CheckerData&) -> absl::StatusOr<Check> {
         return Check([](absl::string_view r) {
           std::vector<std::string> parts = py::Split(r, "******");
           std::vector<std::string> valid;
           for (size_t i = 0; i < parts.size(); ++i) {
             if (py::Strip(parts[i]).empty()) {
               if (i != 0 && i + 1 != parts.size()) return false;
             } else {
               valid.push_back(parts[i]);
             }
           }
           return valid.size() == 2 &&
                  py::Strip(valid[0]) != py::Strip(valid[1]);
         });
       }},
      {"combination:repeat_prompt",
       [](const Kwargs& kw, const CheckerData&) -> absl::StatusOr<Check> {
         ASSIGN_OR_RETURN(std::string prompt, kw.String("prompt_to_repeat"));
         std::string want = py::Lower(py::Strip(prompt));
         return Check([want](absl::string_view r) {
           return absl::StartsWith(py::Lower(py::Strip(r)), want);
         });
       }},
      {"startend:end_checker",
       [](const Kwargs& kw, const CheckerData&) -> absl::StatusOr<Check> {
         ASSIGN_OR_RETURN(std::string phrase, kw.String("end_phrase"));
         std::string want = py::Lower(py::Strip(phrase));
         return Check([want](absl::string_view r) {
           return absl::EndsWith(py::Lower(py::Strip(py::Strip(r), "\"")),
                                 want);
         });
       }},
      {"startend:quotation",
       [](const Kwargs&, const CheckerData&) -> absl::StatusOr<Check> {
         return Check([](absl::string_view r) {
           absl::string_view s = py::Strip(r);
           return base::CountCodePoints(s) > 1 && s.front() == '"' &&
                  s.back() == '"';
         });
       }},
      {"change_case:capital_word_frequency",
       [](const Kwargs& kw, const CheckerData& data) -> absl::StatusOr<Check> {
         const PunktTokenizer* punkt = data.punkt;
         ASSIGN_OR_RETURN(double n, kw.Number("capital_frequency"));
         ASSIGN_OR_RETURN(bool less, kw.LessThan("capital_relation"));
         return Check([punkt, n, less](absl::string_view r) {
           size_t capitals = 0;
           for (const std::string& word : NltkWordTokenize(r, *punkt)) {
             if (py::IsUpper(word)) ++capitals;
           }
           return Compare(static_cast<double>(capitals), n, less);
         });
       }},
      {"change_case:english_capital",
       [](const Kwargs&, const CheckerData& data) -> absl::StatusOr<Check> {
         return Check([detector = data.language](absl::string_view r) {
           return py::IsUpper(r) && LanguageIs(detector, r, "en");
         });
       }},
      {"change_case:english_lowercase",
       [](const Kwargs&, const CheckerData& data) -> absl::StatusOr<Check> {
         return Check([detector = data.language](absl::string_view r) {
           return py::IsLower(r) && LanguageIs(detector, r, "en");
         });
       }},
      {"punctuation:no_comma",
       [](const Kwargs&, const CheckerData&) -> absl::StatusOr<Check> {
         return Check(
             [](absl::string_view r) { return !absl::StrContains(r, ","); });
       }},
  };
  return *builders;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Instruction>> BuildInstruction(
    absl::string_view id, const base::Json& kwargs, const CheckerData& data) {
  auto it = Builders().find(std::string(id));
  if (it == Builders().end()) {
    return absl::NotFoundError(
        absl::StrCat("unknown instruction id '", id, "'"));
  }
  if (!kwargs.is_null() && !kwargs.is_object()) {
    return absl::InvalidArgumentError("kwargs: must be an object");
  }
  ASSIGN_OR_RETURN(Check check, it->second(Kwargs(kwargs), data));
  return std::make_unique<FnInstruction>(std::move(check));
}

std::vector<std::string> InstructionIds() {
  std::vector<std::string> ids;
  for (const auto& [id, builder] : Builders()) ids.push_back(id);
  return ids;
}

std::vector<std::string> LooseVariants(absl::string_view response) {
  std::vector<std::string> lines = py::Split(response, "\n");
  auto join = [&](size_t begin, size_t end) {
    if (begin >= end) return std::string();
    return std::string(py::Strip(
        absl::StrJoin(lines.begin() + begin, lines.begin() + end, "\n")));
  };
  std::string remove_first = join(1, lines.size());
  std::string remove_last = join(0, lines.size() - 1);
  std::string remove_both = join(1, lines.size() - 1);
  auto no_star = [](absl::string_view s) {
    std::string out;
    for (char c : s) {
      if (c != '*') out.push_back(c);
    }
    return out;
  };
  return {std::string(response), no_star(response),   remove_first,
          remove_last,           remove_both,         no_star(remove_first),
          no_star(remove_last),  no_star(remove_both)};
}

bool FollowedStrict(const Instruction& instruction,
                    absl::string_view response) {
  return !py::Strip(response).empty() && instruction.CheckFollowing(response);
}

bool FollowedLoose(const Instruction& instruction,
                   const std::vector<std::string>& variants) {
  for (const std::string& v : variants) {
    if (!py::Strip(v).empty() && instruction.CheckFollowing(v)) return true;
  }
  return false;
}

}  // namespace evald::tasks::ifeval
