// File: tasks/ifeval/langdetect.cc
#include "tasks/ifeval/langdetect.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file.h"
#include "base/json.h"
#include "base/sha256.h"
#include "base/status_macros.h"
#include "base/utf8.h"
#include "py/re.h"
#include "py/str.h"
#include "tasks/python_random.h"

namespace evald::tasks::ifeval {
namespace {

using ::evald::py::Regex;

// The detector's constants (langdetect's Detector class).
constexpr double kAlphaDefault = 0.5;
constexpr double kAlphaWidth = 0.05;
constexpr int kIterationLimit = 1000;
constexpr double kProbThreshold = 0.1;
constexpr double kConvThreshold = 0.99999;
constexpr double kBaseFreq = 10000;
constexpr int kTrials = 7;
constexpr size_t kMaxTextLength = 10000;
constexpr int kNGram = 3;

std::u32string ToU32(absl::string_view s) {
  std::u32string out;
  for (uint32_t cp : base::DecodeUtf8(s))
    out.push_back(static_cast<char32_t>(cp));
  return out;
}

bool IsUpperChar(char32_t ch) {
  return py::IsUpper(
      base::EncodeUtf8(std::vector<uint32_t>{static_cast<uint32_t>(ch)}));
}

// Java-properties-style lines `key=value` with \uXXXX escapes, as the
// reference reads messages.properties.
absl::StatusOr<std::map<std::string, std::u32string>> ReadMessages(
    const std::string& path, const std::string& text) {
  std::map<std::string, std::u32string> out;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = py::Strip(line);
    if (line.empty()) continue;
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_no, ": expected key=value"));
    }
    std::u32string value;
    absl::string_view v = line.substr(eq + 1);
    for (size_t i = 0; i < v.size();) {
      if (v[i] == '\\' && i + 6 <= v.size() && v[i + 1] == 'u') {
        uint32_t cp = 0;
        if (!absl::SimpleHexAtoi(v.substr(i + 2, 4), &cp)) {
          return absl::InvalidArgumentError(
              absl::StrCat(path, ":", line_no, ": bad \\u escape"));
        }
        value.push_back(static_cast<char32_t>(cp));
        i += 6;
      } else {
        value.push_back(
            static_cast<char32_t>(static_cast<unsigned char>(v[i])));
        ++i;
      }
    }
    out[std::string(line.substr(0, eq))] = std::move(value);
  }
  return out;
}

enum class Block {
  kOther,
  kBasicLatin,
  kLatin1Supplement,
  kLatinExtendedB,
  kArabic,
  kLatinExtendedAdditional,
  kGeneralPunctuation,
  kHiragana,
  kKatakana,
  kBopomofo,
  kCjkUnifiedIdeographs,
  kHangulSyllables,
};

// The Unicode blocks the normalisation distinguishes (ranges of langdetect's
// unicode_block table).
Block BlockOf(char32_t c) {
  if (c <= 0x7F) return Block::kBasicLatin;
  if (c <= 0xFF) return Block::kLatin1Supplement;
  if (c >= 0x180 && c <= 0x24F) return Block::kLatinExtendedB;
  if (c >= 0x600 && c <= 0x6FF) return Block::kArabic;
  if (c >= 0x1E00 && c <= 0x1EFF) return Block::kLatinExtendedAdditional;
  if (c >= 0x2000 && c <= 0x206F) return Block::kGeneralPunctuation;
  if (c >= 0x3040 && c <= 0x309F) return Block::kHiragana;
  if (c >= 0x30A0 && c <= 0x30FF) return Block::kKatakana;
  if ((c >= 0x3100 && c <= 0x312F) || (c >= 0x31A0 && c <= 0x31BF))
    return Block::kBopomofo;
  if (c >= 0x4E00 && c <= 0x9FFF) return Block::kCjkUnifiedIdeographs;
  if (c >= 0xAC00 && c <= 0xD7AF) return Block::kHangulSyllables;
  return Block::kOther;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LangDetect>> LangDetect::Load(
    const std::string& dir) {
  namespace fs = std::filesystem;
  std::string profiles = dir + "/profiles";
  std::string messages = dir + "/utils/messages.properties";
  if (!base::PathExists(profiles)) profiles = dir;
  if (!base::PathExists(messages)) messages = dir + "/messages.properties";
  if (!base::PathExists(messages)) {
    return absl::NotFoundError(
        absl::StrCat("langdetect: ", dir,
                     ": no messages.properties (expected "
                     "utils/messages.properties or messages.properties)"));
  }
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(profiles, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.' || !entry.is_regular_file()) continue;
    if (name == "messages.properties") continue;
    names.push_back(name);
  }
  if (ec)
    return absl::NotFoundError(
        absl::StrCat("langdetect: cannot list ", profiles, ": ", ec.message()));
  std::sort(names.begin(), names.end());
  if (names.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "langdetect: ", profiles, ": need at least 2 language profiles, found ",
        names.size()));
  }

  auto detector = std::unique_ptr<LangDetect>(new LangDetect());
  base::Sha256 digest;
  const int num_langs = static_cast<int>(names.size());
  for (int index = 0; index < num_langs; ++index) {
    const std::string path = absl::StrCat(profiles, "/", names[index]);
    ASSIGN_OR_RETURN(std::string text, base::ReadFileToString(path));
    digest.Update(
        absl::StrCat(names[index], "\n", base::Sha256Hex(text), "\n"));
    absl::StatusOr<base::Json> json = base::ParseJson(text);
    if (!json.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", json.status().message()));
    }
    const base::Json* name = json->Find("name");
    const base::Json* freq = json->Find("freq");
    const base::Json* n_words = json->Find("n_words");
    if (name == nullptr || !name->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": field 'name': missing or not a string"));
    }
    if (freq == nullptr || !freq->is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": field 'freq': missing or not an object"));
    }
    if (n_words == nullptr || !n_words->is_array() ||
        n_words->array().size() != kNGram) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": field 'n_words': expected a list of 3 counts"));
    }
    if (std::find(detector->languages_.begin(), detector->languages_.end(),
                  name->string_value()) != detector->languages_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": duplicate profile for '", name->string_value(), "'"));
    }
    detector->languages_.push_back(name->string_value());
    double totals[kNGram];
    for (int n = 0; n < kNGram; ++n) {
      const base::Json& v = n_words->array()[n];
      if (!v.is_number()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": field 'n_words[", n, "]': not a number"));
      }
      totals[n] = v.number_value();
    }
    for (const auto& [gram, count] : freq->object()) {
      if (!count.is_number()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": field 'freq.", gram, "': not a number"));
      }
      std::u32string key = ToU32(gram);
      if (key.empty() || key.size() > kNGram) continue;
      // freq / n_words[len - 1], as the reference computes it in doubles.
      detector->grams_[key].emplace_back(
          index, count.number_value() / totals[key.size() - 1]);
    }
  }

  ASSIGN_OR_RETURN(std::string messages_text, base::ReadFileToString(messages));
  digest.Update(absl::StrCat("messages.properties\n",
                             base::Sha256Hex(messages_text), "\n"));
  ASSIGN_OR_RETURN(auto table, ReadMessages(messages, messages_text));
  auto get = [&](const std::string& key) -> absl::StatusOr<std::u32string> {
    auto it = table.find(key);
    if (it == table.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(messages, ": missing key '", key, "'"));
    }
    return it->second;
  };
  ASSIGN_OR_RETURN(detector->latin1_excluded_, get("NGram.LATIN1_EXCLUDE"));
  ASSIGN_OR_RETURN(detector->vi_letters_, get("TO_NORMALIZE_VI_CHARS"));
  ASSIGN_OR_RETURN(detector->vi_marks_, get("DMARK_CLASS"));
  for (const char* mark : {"0300", "0301", "0303", "0309", "0323"}) {
    ASSIGN_OR_RETURN(std::u32string chars,
                     get(absl::StrCat("NORMALIZED_VI_CHARS_", mark)));
    detector->vi_out_.push_back(std::move(chars));
  }
  // Every NGram.KANJI_* class maps its characters to its first one. The
  // reference builds the map class by class in a fixed order; a character in
  // two classes keeps the later class's representative, so apply the classes
  // in that order: sorted by the two numbers of their names.
  std::vector<std::pair<std::pair<int, int>, std::u32string>> classes;
  for (const auto& [key, value] : table) {
    if (!absl::StartsWith(key, "NGram.KANJI_")) continue;
    std::vector<std::string> parts = absl::StrSplit(key.substr(12), '_');
    int a = 0, b = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &a) ||
        !absl::SimpleAtoi(parts[1], &b)) {
      continue;
    }
    classes.push_back({{a, b}, value});
  }
  std::sort(classes.begin(), classes.end());
  for (const auto& [order, chars] : classes) {
    if (chars.empty()) continue;
    for (char32_t ch : chars) detector->cjk_map_[ch] = chars[0];
  }
  detector->sha256_ = digest.HexDigest();
  return detector;
}

char32_t LangDetect::Normalize(char32_t ch) const {
  switch (BlockOf(ch)) {
    case Block::kBasicLatin:
      if (ch < U'A' || (ch > U'Z' && ch < U'a') || ch > U'z') return U' ';
      return ch;
    case Block::kLatin1Supplement:
      return latin1_excluded_.find(ch) != std::u32string::npos ? U' ' : ch;
    case Block::kLatinExtendedB:
      if (ch == 0x0219) return 0x015F;  // s with comma below -> with cedilla
      if (ch == 0x021B) return 0x0163;  // t with comma below -> with cedilla
      return ch;
    case Block::kGeneralPunctuation:
      return U' ';
    case Block::kArabic:
      return ch == 0x06CC ? 0x064A : ch;  // Farsi yeh -> Arabic yeh
    case Block::kLatinExtendedAdditional:
      return ch >= 0x1EA0 ? 0x1EC3 : ch;
    case Block::kHiragana:
      return 0x3042;
    case Block::kKatakana:
      return 0x30A2;
    case Block::kBopomofo:
      return 0x3105;
    case Block::kCjkUnifiedIdeographs: {
      auto it = cjk_map_.find(ch);
      return it == cjk_map_.end() ? ch : it->second;
    }
    case Block::kHangulSyllables:
      return 0xAC00;
    case Block::kOther:
      return ch;
  }
  return ch;
}

std::u32string LangDetect::Prepare(absl::string_view text) const {
  // URLs and e-mail addresses become single spaces.
  static const Regex* const kUrl = new Regex(
      Regex::CompileOrDie(R"(https?://[-_.?&~;+=/#0-9A-Za-z]{1,2076})"));
  static const Regex* const kMail = new Regex(Regex::CompileOrDie(
      R"([-_.0-9A-Za-z]{1,64}@[-_0-9A-Za-z]{1,255}[-_.0-9A-Za-z]{1,255})"));
  std::u32string in = ToU32(kMail->Sub(kUrl->Sub(text, " "), " "));

  // Vietnamese: a letter followed by a combining mark becomes the
  // precomposed letter.
  std::u32string vi;
  vi.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (i + 1 < in.size()) {
      const size_t letter = vi_letters_.find(in[i]);
      const size_t mark = vi_marks_.find(in[i + 1]);
      if (letter != std::u32string::npos && mark != std::u32string::npos &&
          mark < vi_out_.size() && letter < vi_out_[mark].size()) {
        vi.push_back(vi_out_[mark][letter]);
        ++i;
        continue;
      }
    }
    vi.push_back(in[i]);
  }

  // At most kMaxTextLength characters, runs of spaces collapsed.
  std::u32string out;
  char32_t prev = 0;
  for (size_t i = 0; i < std::min(vi.size(), kMaxTextLength); ++i) {
    const char32_t ch = vi[i];
    if (ch != U' ' || prev != U' ') out.push_back(ch);
    prev = ch;
  }

  // Text mostly outside Latin loses its Latin letters. The reference's
  // exemption of Latin Extended Additional never applies (it compares a block
  // number with a block name), so every character from U+0300 up counts.
  size_t latin = 0;
  size_t non_latin = 0;
  for (char32_t ch : out) {
    if (ch >= U'A' && ch <= U'z') {
      ++latin;
    } else if (ch >= 0x300) {
      ++non_latin;
    }
  }
  if (latin * 2 < non_latin) {
    std::u32string kept;
    for (char32_t ch : out) {
      if (ch < U'A' || ch > U'z') kept.push_back(ch);
    }
    out = std::move(kept);
  }
  return out;
}

std::vector<const std::vector<std::pair<int, double>>*>
LangDetect::ExtractNgrams(const std::u32string& text) const {
  std::vector<const std::vector<std::pair<int, double>>*> result;
  std::u32string grams(1, U' ');
  bool capital_word = false;
  for (char32_t raw : text) {
    const char32_t ch = Normalize(raw);
    const char32_t last = grams.back();
    bool appended = true;
    if (last == U' ') {
      grams.resize(1);
      grams[0] = U' ';
      capital_word = false;
      if (ch == U' ') appended = false;
    } else if (grams.size() >= kNGram) {
      grams.erase(0, 1);
    }
    if (appended) {
      grams.push_back(ch);
      if (IsUpperChar(ch)) {
        if (IsUpperChar(last)) capital_word = true;
      } else {
        capital_word = false;
      }
    }
    if (capital_word) continue;
    for (size_t n = 1; n <= kNGram; ++n) {
      if (grams.size() < n) break;
      std::u32string w = grams.substr(grams.size() - n);
      if (w == U" ") continue;
      auto it = grams_.find(w);
      if (it != grams_.end()) result.push_back(&it->second);
    }
  }
  return result;
}

absl::StatusOr<std::vector<std::pair<std::string, double>>>
LangDetect::Probabilities(absl::string_view text) const {
  const std::u32string prepared = Prepare(text);
  const auto ngrams = ExtractNgrams(prepared);
  if (ngrams.empty())
    return absl::NotFoundError("langdetect: no features in text");

  const size_t num = languages_.size();
  std::vector<double> langprob(num, 0.0);
  PythonRandom random(0);
  std::vector<double> prob(num);
  std::vector<double> factor(num);
  for (int t = 0; t < kTrials; ++t) {
    std::fill(prob.begin(), prob.end(), 1.0 / static_cast<double>(num));
    const double alpha = kAlphaDefault + random.Gauss(0.0, 1.0) * kAlphaWidth;
    const double weight = alpha / kBaseFreq;
    for (int i = 0;; ++i) {
      const auto& entry = *ngrams[random.RandBelow(ngrams.size())];
      std::fill(factor.begin(), factor.end(), weight);
      for (const auto& [lang, p] : entry) factor[lang] = weight + p;
      for (size_t j = 0; j < num; ++j) prob[j] *= factor[j];
      if (i % 5 == 0) {
        double sum = 0;
        for (double p : prob) sum += p;
        double max_p = 0;
        for (double& p : prob) {
          p = p / sum;
          if (max_p < p) max_p = p;
        }
        if (max_p > kConvThreshold || i >= kIterationLimit) break;
      }
    }
    for (size_t j = 0; j < num; ++j) langprob[j] += prob[j] / kTrials;
  }
  std::vector<std::pair<std::string, double>> out;
  for (size_t j = 0; j < num; ++j) {
    if (langprob[j] > kProbThreshold)
      out.emplace_back(languages_[j], langprob[j]);
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.second > b.second;
  });
  return out;
}

std::optional<std::string> LangDetect::Detect(absl::string_view text) const {
  absl::StatusOr<std::vector<std::pair<std::string, double>>> probs =
      Probabilities(text);
  if (!probs.ok()) return std::nullopt;
  if (probs->empty()) return std::string("unknown");
  return probs->front().first;
}

}  // namespace evald::tasks::ifeval
