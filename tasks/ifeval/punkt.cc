// File: tasks/ifeval/punkt.cc
#include "tasks/ifeval/punkt.h"

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file.h"
#include "base/sha256.h"
#include "base/status_macros.h"
#include "base/utf8.h"
#include "py/re.h"
#include "py/str.h"

namespace evald::tasks::ifeval {
namespace {

using ::evald::py::ReFlags;
using ::evald::py::Regex;
using ::evald::py::ReMatch;

// PunktLanguageVars' patterns (English defaults). The word tokenizer accepts
// a multi-character punctuation run, or a word that starts with a word-start
// character and runs until whitespace, a non-word character, a punctuation
// run or a word-final comma, or else any single non-space character.
constexpr char kMultiChar[] = R"((?:\-{2,}|\.{2,}|(?:\.\s){2,}\.))";
constexpr char kWordStart[] = R"([^\(\"\`{\[:;&\#\*@\)}\]\-,])";
constexpr char kNonWord[] = R"((?:[)\";}\]\*:@\'\({\[!?]))";

const Regex& WordTokenizerRe() {
  static const Regex* re = new Regex(Regex::CompileOrDie(absl::StrCat(
      "(", kMultiChar, "|(?=", kWordStart, ")\\S+?(?=\\s|$|", kNonWord, "|",
      kMultiChar, "|,(?=$|\\s|", kNonWord, "|", kMultiChar, "))|\\S)")));
  return *re;
}

// A sentence-final character followed by punctuation or by whitespace and the
// next token. Group 1 is after_tok, group 2 next_tok.
const Regex& PeriodContextRe() {
  static const Regex* re = new Regex(Regex::CompileOrDie(
      absl::StrCat("[\\.\\?!](?=(", kNonWord, "|\\s+(\\S+)))")));
  return *re;
}

const Regex& BoundaryRealignmentRe() {
  static const Regex* re = new Regex(Regex::CompileOrDie(
      R"(["\')\]}]+?(?:\s+|(?=--)|$))", ReFlags{.multiline = true}));
  return *re;
}

const Regex& NumericRe() {
  static const Regex* re =
      new Regex(Regex::CompileOrDie(R"(^-?[\.,]?\d[\d,\.-]*\.?$)"));
  return *re;
}
const Regex& EllipsisRe() {
  static const Regex* re = new Regex(Regex::CompileOrDie(R"(\.\.+$)"));
  return *re;
}
const Regex& InitialRe() {
  static const Regex* re = new Regex(Regex::CompileOrDie(R"([^\W\d]\.$)"));
  return *re;
}

bool EndsWith(absl::string_view s, absl::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.substr(s.size() - suffix.size()) == suffix;
}

// Python's string.whitespace (ASCII only), as _get_last_whitespace_index uses.
bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\x0b' ||
         c == '\x0c';
}

// The first code point (Python's s[0]; "" for "").
absl::string_view FirstChar(absl::string_view s) {
  if (s.empty()) return s;
  size_t next = 0;
  base::DecodeUtf8At(s, &next);
  return s.substr(0, next);
}

// Drops the last code point.
absl::string_view DropLastChar(absl::string_view s) {
  if (s.empty()) return s;
  size_t end = s.size() - 1;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

absl::StatusOr<std::vector<std::string>> ReadLines(const std::string& path,
                                                   base::Sha256* digest,
                                                   absl::string_view name) {
  ASSIGN_OR_RETURN(std::string contents, base::ReadFileToString(path));
  digest->Update(name);
  digest->Update(absl::string_view("\0", 1));
  digest->Update(contents);
  digest->Update(absl::string_view("\0", 1));
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    lines.emplace_back(line);
  }
  return lines;
}

}  // namespace

struct PunktTokenizer::Token {
  std::string tok;
  std::string type;
  bool period_final = false;
  bool sentbreak = false;
  bool abbr = false;
  bool ellipsis = false;

  explicit Token(std::string t) : tok(std::move(t)) {
    std::string lower = py::Lower(tok);
    type =
        NumericRe().Search(lower).has_value() ? "##number##" : std::move(lower);
    period_final = EndsWith(tok, ".");
  }
  std::string TypeNoPeriod() const {
    if (base::CountCodePoints(type) > 1 && type.back() == '.')
      return type.substr(0, type.size() - 1);
    return type;
  }
  std::string TypeNoSentperiod() const {
    return sentbreak ? TypeNoPeriod() : type;
  }
  bool FirstUpper() const { return py::IsUpper(FirstChar(tok)); }
  bool FirstLower() const { return py::IsLower(FirstChar(tok)); }
  bool IsEllipsis() const { return EllipsisRe().Match(tok).has_value(); }
  bool IsInitial() const { return InitialRe().Match(tok).has_value(); }
};

absl::StatusOr<std::unique_ptr<PunktTokenizer>> PunktTokenizer::Load(
    const std::string& dir) {
  PunktParameters params;
  base::Sha256 digest;
  ASSIGN_OR_RETURN(
      std::vector<std::string> abbrevs,
      ReadLines(dir + "/abbrev_types.txt", &digest, "abbrev_types.txt"));
  params.abbrev_types.insert(abbrevs.begin(), abbrevs.end());
  ASSIGN_OR_RETURN(
      std::vector<std::string> collocations,
      ReadLines(dir + "/collocations.tab", &digest, "collocations.tab"));
  for (size_t i = 0; i < collocations.size(); ++i) {
    std::vector<absl::string_view> parts =
        absl::StrSplit(collocations[i], '\t');
    if (parts.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir, "/collocations.tab: line ", i + 1,
                       ": expected two tab-separated words"));
    }
    params.collocations.insert(collocations[i]);
  }
  ASSIGN_OR_RETURN(
      std::vector<std::string> ortho,
      ReadLines(dir + "/ortho_context.tab", &digest, "ortho_context.tab"));
  for (size_t i = 0; i < ortho.size(); ++i) {
    std::vector<absl::string_view> parts = absl::StrSplit(ortho[i], '\t');
    int value = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir, "/ortho_context.tab: line ", i + 1,
                       ": expected a word, a tab and an integer"));
    }
    params.ortho_context[std::string(parts[0])] = value;
  }
  ASSIGN_OR_RETURN(
      std::vector<std::string> starters,
      ReadLines(dir + "/sent_starters.txt", &digest, "sent_starters.txt"));
  params.sent_starters.insert(starters.begin(), starters.end());
  auto tokenizer = std::make_unique<PunktTokenizer>(std::move(params));
  tokenizer->sha256_ = digest.HexDigest();
  return tokenizer;
}

std::vector<std::string> PunktTokenizer::WordTokenize(
    absl::string_view line) const {
  std::vector<std::string> out;
  for (const ReMatch& m : WordTokenizerRe().FindIter(line))
    out.emplace_back(m.group(line, 0));
  return out;
}

int PunktTokenizer::Ortho(const std::string& type) const {
  auto it = params_.ortho_context.find(type);
  return it == params_.ortho_context.end() ? 0 : it->second;
}

int PunktTokenizer::OrthoHeuristic(const Token& tok) const {
  // Sentences do not start with punctuation (a substring test, as in nltk).
  if (absl::string_view(";:,.!?").find(tok.tok) != absl::string_view::npos)
    return 0;
  int ortho = Ortho(tok.TypeNoSentperiod());
  // Capitalised, seen lower-case, never capitalised mid-sentence: a starter.
  if (tok.FirstUpper() && (ortho & kOrthoLc) && !(ortho & kOrthoMidUc))
    return 1;
  // Lower-case, and seen capitalised or never seen lower-case at a sentence
  // start: not a starter.
  if (tok.FirstLower() && ((ortho & kOrthoUc) || !(ortho & kOrthoBegLc)))
    return 0;
  return -1;
}

void PunktTokenizer::SecondPass(Token& tok1, const Token& tok2) const {
  if (!tok1.period_final) return;
  std::string typ = tok1.TypeNoPeriod();
  std::string next_typ = tok2.TypeNoSentperiod();
  bool tok_is_initial = tok1.IsInitial();

  // Collocation heuristic.
  if (params_.collocations.count(absl::StrCat(typ, "\t", next_typ))) {
    tok1.sentbreak = false;
    tok1.abbr = true;
    return;
  }
  // An abbreviation or ellipsis may still end a sentence.
  if ((tok1.abbr || tok1.ellipsis) && !tok_is_initial) {
    if (OrthoHeuristic(tok2) == 1) {
      tok1.sentbreak = true;
      return;
    }
    if (tok2.FirstUpper() && params_.sent_starters.count(next_typ)) {
      tok1.sentbreak = true;
      return;
    }
  }
  // Initials and ordinals.
  if (tok_is_initial || typ == "##number##") {
    int is_sent_starter = OrthoHeuristic(tok2);
    if (is_sent_starter == 0) {
      tok1.sentbreak = false;
      tok1.abbr = true;
      return;
    }
    if (is_sent_starter == -1 && tok_is_initial && tok2.FirstUpper() &&
        !(Ortho(next_typ) & kOrthoLc)) {
      tok1.sentbreak = false;
      tok1.abbr = true;
    }
  }
}

std::vector<PunktTokenizer::Token> PunktTokenizer::AnnotatedTokens(
    absl::string_view text) const {
  std::vector<Token> tokens;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (py::Strip(line).empty()) continue;
    for (std::string& word : WordTokenize(line))
      tokens.emplace_back(std::move(word));
  }
  // First pass: sentence-final punctuation, ellipses, abbreviations.
  for (Token& t : tokens) {
    if (t.tok == "." || t.tok == "?" || t.tok == "!") {
      t.sentbreak = true;
    } else if (t.IsEllipsis()) {
      t.ellipsis = true;
    } else if (t.period_final && !EndsWith(t.tok, "..")) {
      std::string stem = py::Lower(DropLastChar(t.tok));
      absl::string_view last_part = stem;
      size_t dash = last_part.rfind('-');
      if (dash != absl::string_view::npos)
        last_part = last_part.substr(dash + 1);
      if (params_.abbrev_types.count(stem) ||
          params_.abbrev_types.count(std::string(last_part))) {
        t.abbr = true;
      } else {
        t.sentbreak = true;
      }
    }
  }
  // Second pass: each token looks at its (first-pass) successor.
  for (size_t i = 0; i + 1 < tokens.size(); ++i)
    SecondPass(tokens[i], tokens[i + 1]);
  return tokens;
}

bool PunktTokenizer::TextContainsSentbreak(absl::string_view text) const {
  bool found = false;  // a break before the last token counts
  for (const Token& t : AnnotatedTokens(text)) {
    if (found) return true;
    if (t.sentbreak) found = true;
  }
  return false;
}

std::vector<std::pair<size_t, size_t>> PunktTokenizer::SpanTokenize(
    absl::string_view text) const {
  // Candidate contexts: the word before each sentence-final character, the
  // character, and what follows it. A candidate whose word overlaps the next
  // candidate's is dropped, as nltk's _match_potential_end_contexts does.
  struct Candidate {
    ReMatch match;
    std::string context;
  };
  std::vector<Candidate> candidates;
  std::optional<ReMatch> prev_match;
  size_t prev_start = 0, prev_stop = 0;
  auto context_of = [&](const ReMatch& m, size_t start, size_t stop) {
    return absl::StrCat(text.substr(start, stop - start), m.group(text, 0),
                        m.group(text, 1));
  };
  for (ReMatch& m : PeriodContextRe().FindIter(text)) {
    absl::string_view before =
        prev_stop < m.start() ? text.substr(prev_stop, m.start() - prev_stop)
                              : absl::string_view();
    size_t last_ws = 0;
    for (size_t i = before.size(); i-- > 0;) {
      if (IsAsciiSpace(before[i])) {
        last_ws = i;
        break;
      }
    }
    size_t word_start = last_ws ? last_ws + prev_stop + 1 : prev_start;
    if (prev_match && prev_stop <= word_start) {
      candidates.push_back(
          {*prev_match, context_of(*prev_match, prev_start, prev_stop)});
    }
    prev_match = m;
    prev_start = word_start;
    prev_stop = m.start();
  }
  if (prev_match)
    candidates.push_back(
        {*prev_match, context_of(*prev_match, prev_start, prev_stop)});

  std::vector<std::pair<size_t, size_t>> slices;
  size_t last_break = 0;
  for (const Candidate& c : candidates) {
    if (!TextContainsSentbreak(c.context)) continue;
    slices.emplace_back(last_break, c.match.end());
    last_break = c.match.has(2) ? c.match.start(2) : c.match.end();
  }
  slices.emplace_back(last_break, py::RStrip(text).size());

  // Realign boundaries: closing quotes and brackets after a break belong to
  // the sentence before it.
  std::vector<std::pair<size_t, size_t>> out;
  size_t realign = 0;
  for (size_t i = 0; i < slices.size(); ++i) {
    size_t start = slices[i].first + realign;
    size_t stop = slices[i].second;
    if (i + 1 == slices.size()) {
      if (start < stop) out.emplace_back(start, stop);
      continue;
    }
    const auto& next = slices[i + 1];
    absl::string_view next_text =
        next.first < next.second
            ? text.substr(next.first, next.second - next.first)
            : absl::string_view();
    std::optional<ReMatch> m = BoundaryRealignmentRe().Match(next_text);
    if (m) {
      out.emplace_back(start,
                       next.first + py::RStrip(m->group(next_text, 0)).size());
      realign = m->end();
    } else {
      realign = 0;
      if (start < stop) out.emplace_back(start, stop);
    }
  }
  return out;
}

std::vector<std::string> PunktTokenizer::Tokenize(
    absl::string_view text) const {
  std::vector<std::string> out;
  for (const auto& [start, stop] : SpanTokenize(text)) {
    out.emplace_back(start < stop ? text.substr(start, stop - start)
                                  : absl::string_view());
  }
  return out;
}

}  // namespace evald::tasks::ifeval
