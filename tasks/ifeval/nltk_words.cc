// File: tasks/ifeval/nltk_words.cc
#include "tasks/ifeval/nltk_words.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "py/re.h"
#include "py/str.h"

namespace evald::tasks::ifeval {
namespace {

using ::evald::py::Regex;

struct Rule {
  Regex re;
  std::string replacement;  // a re.sub template, as NLTK writes it
};

Rule MakeRule(absl::string_view pattern, absl::string_view replacement) {
  return Rule{Regex::CompileOrDie(pattern), std::string(replacement)};
}

// The substitution passes, in the order NLTKWordTokenizer.tokenize applies
// them; the text gets a space at each end between the two lists.
struct Rules {
  std::vector<Rule> before_pad;
  std::vector<Rule> after_pad;
};

const Rules& TreebankRules() {
  static const Rules* rules = [] {
    auto* r = new Rules;
    // Starting quotes.
    r->before_pad.push_back(MakeRule("([«“‘„]|[`]+)", R"( \1 )"));
    r->before_pad.push_back(MakeRule(R"(^\")", "``"));
    r->before_pad.push_back(MakeRule("(``)", R"( \1 )"));
    r->before_pad.push_back(MakeRule(R"(([ \(\[{<])(\"|\'{2}))", R"(\1 `` )"));
    r->before_pad.push_back(
        MakeRule(R"((?i)(\')(?!re|ve|ll|m|t|s|d|n)(\w)\b)", R"(\1 \2)"));
    // Punctuation.
    r->before_pad.push_back(
        MakeRule(R"(([^\.])(\.)([\]\)}>"\']*)\s*$)", R"(\1 \2 \3 )"));
    r->before_pad.push_back(MakeRule(R"(([:,])([^\d]))", R"( \1 \2)"));
    r->before_pad.push_back(MakeRule(R"(([:,])$)", R"( \1 )"));
    r->before_pad.push_back(MakeRule(R"(\.{2,})", R"( \g<0> )"));
    r->before_pad.push_back(MakeRule(R"([;@#$%&])", R"( \g<0> )"));
    r->before_pad.push_back(
        MakeRule(R"(([^\.])(\.)([\]\)}>"\']*)\s*$)", R"(\1 \2\3 )"));
    r->before_pad.push_back(MakeRule(R"([?!])", R"( \g<0> )"));
    r->before_pad.push_back(MakeRule(R"(([^'])' )", R"(\1 ' )"));
    r->before_pad.push_back(MakeRule(R"([*])", R"( \g<0> )"));
    // Brackets and double dashes.
    r->before_pad.push_back(MakeRule(R"([\]\[\(\)\{\}<>])", R"( \g<0> )"));
    r->before_pad.push_back(MakeRule("--", " -- "));
    // Ending quotes.
    r->after_pad.push_back(MakeRule("([»”’])", R"( \1 )"));
    r->after_pad.push_back(MakeRule("''", " '' "));
    r->after_pad.push_back(MakeRule("\"", " '' "));
    r->after_pad.push_back(
        MakeRule(R"(([^' ])('[sS]|'[mM]|'[dD]|') )", R"(\1 \2 )"));
    r->after_pad.push_back(
        MakeRule(R"(([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) )", R"(\1 \2 )"));
    // Contractions (MacIntyre's lists 2 and 3).
    for (const char* p :
         {R"((?i)\b(can)(?#X)(not)\b)", R"((?i)\b(d)(?#X)('ye)\b)",
          R"((?i)\b(gim)(?#X)(me)\b)", R"((?i)\b(gon)(?#X)(na)\b)",
          R"((?i)\b(got)(?#X)(ta)\b)", R"((?i)\b(lem)(?#X)(me)\b)",
          R"((?i)\b(more)(?#X)('n)\b)", R"((?i)\b(wan)(?#X)(na)(?=\s))",
          R"((?i) ('t)(?#X)(is)\b)", R"((?i) ('t)(?#X)(was)\b)"}) {
      r->after_pad.push_back(MakeRule(p, R"( \1 \2 )"));
    }
    return r;
  }();
  return *rules;
}

}  // namespace

std::vector<std::string> TreebankWordTokenize(absl::string_view sentence) {
  const Rules& rules = TreebankRules();
  std::string text(sentence);
  for (const Rule& rule : rules.before_pad)
    text = rule.re.Sub(text, rule.replacement);
  text = absl::StrCat(" ", text, " ");
  for (const Rule& rule : rules.after_pad)
    text = rule.re.Sub(text, rule.replacement);
  return py::SplitWhitespace(text);
}

std::vector<std::string> NltkWordTokenize(absl::string_view text,
                                          const PunktTokenizer& punkt) {
  std::vector<std::string> out;
  for (const std::string& sentence : punkt.Tokenize(text)) {
    for (std::string& token : TreebankWordTokenize(sentence))
      out.push_back(std::move(token));
  }
  return out;
}

size_t CountWords(absl::string_view text) {
  static const Regex* re = new Regex(Regex::CompileOrDie(R"(\w+)"));
  return re->FindIter(text).size();
}

}  // namespace evald::tasks::ifeval
