#include "runners/native/tokenizer/pipeline.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "base/status_macros.h"
#include "base/utf8.h"
#include "py/re.h"
#include "runners/native/tokenizer/text_util.h"

namespace evald::runners::native::tokenizer::internal {

namespace {

using base::Json;
using base::JsonReader;
using Spans = std::vector<std::pair<size_t, size_t>>;

absl::StatusOr<std::string> TypeOf(const JsonReader& j) {
  RETURN_IF_ERROR(j.Object().status());
  return j.Field("type").String();
}

// A {"String": s} or {"Regex": r} pattern of Split / Replace.
class Pattern {
 public:
  static absl::StatusOr<Pattern> FromJson(const JsonReader& j) {
    constexpr absl::string_view kShape = R"({"String": ...} or {"Regex": ...})";
    if (!j.json().is_object()) return j.Expected(kShape);
    Pattern p;
    if (const JsonReader s = j.Field("String"); s.present()) {
      ASSIGN_OR_RETURN(p.literal_, s.String());
      if (!base::IsValidUtf8(p.literal_)) return s.Error("invalid UTF-8");
      return p;
    }
    if (const JsonReader r = j.Field("Regex"); r.present()) {
      ASSIGN_OR_RETURN(const std::string source, r.String());
      auto regex = py::Regex::CompilePcre2(source);
      if (!regex.ok()) return r.Error(regex.status().message());
      p.regex_ = *std::move(regex);
      return p;
    }
    return j.Expected(kShape);
  }

  // Non-overlapping non-empty matches, left to right.
  absl::Status FindAll(absl::string_view s, Spans* spans) const {
    if (regex_.has_value()) return regex_->FindSpans(s, spans);
    if (literal_.empty()) return absl::OkStatus();
    size_t pos = 0;
    while ((pos = s.find(literal_, pos)) != absl::string_view::npos) {
      spans->emplace_back(pos, pos + literal_.size());
      pos += literal_.size();
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> ReplaceAll(absl::string_view s,
                                         absl::string_view content) const {
    Spans spans;
    RETURN_IF_ERROR(FindAll(s, &spans));
    if (spans.empty()) return std::string(s);
    std::string out;
    size_t prev = 0;
    for (const auto& [b, e] : spans) {
      out.append(s.data() + prev, b - prev);
      out.append(content.data(), content.size());
      prev = e;
    }
    out.append(s.data() + prev, s.size() - prev);
    return out;
  }

 private:
  std::string literal_;
  std::optional<py::Regex> regex_;
};

// ----------------------------------------------------------------------------
// Normalizers

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(NormalForm form) : form_(form) {}
  absl::StatusOr<std::string> Normalize(std::string s) const override {
    return NormalizeUnicode(s, form_);
  }

 private:
  NormalForm form_;
};

class LowercaseNormalizer : public Normalizer {
 public:
  absl::StatusOr<std::string> Normalize(std::string s) const override {
    return LowercaseUnicode(s);
  }
};

class StripAccentsNormalizer : public Normalizer {
 public:
  absl::StatusOr<std::string> Normalize(std::string s) const override {
    return StripAccents(s);
  }
};

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  absl::StatusOr<std::string> Normalize(std::string s) const override {
    size_t begin = 0, end = s.size();
    if (left_) {
      while (begin < end) {
        size_t p = begin;
        if (!IsWhitespace(base::DecodeUtf8At(s, &p))) break;
        begin = p;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t start = end - 1;
        while (start > begin && (static_cast<uint8_t>(s[start]) & 0xC0) == 0x80)
          --start;
        size_t p = start;
        if (!IsWhitespace(base::DecodeUtf8At(s, &p))) break;
        end = start;
      }
    }
    return s.substr(begin, end - begin);
  }

 private:
  bool left_, right_;
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prepend)
      : prepend_(std::move(prepend)) {}
  absl::StatusOr<std::string> Normalize(std::string s) const override {
    if (s.empty()) return s;
    return absl::StrCat(prepend_, s);
  }

 private:
  std::string prepend_;
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(Pattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  absl::StatusOr<std::string> Normalize(std::string s) const override {
    return pattern_.ReplaceAll(s, content_);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

class NormalizerSequence : public Normalizer {
 public:
  explicit NormalizerSequence(std::vector<std::unique_ptr<Normalizer>> parts)
      : parts_(std::move(parts)) {}
  absl::StatusOr<std::string> Normalize(std::string s) const override {
    for (const auto& p : parts_) {
      ASSIGN_OR_RETURN(s, p->Normalize(std::move(s)));
    }
    return s;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

// ----------------------------------------------------------------------------
// Pre-tokenizers

enum class SplitBehavior {
  kRemoved,
  kIsolated,
  kMergedWithPrevious,
  kMergedWithNext,
  kContiguous
};

// Splits `s` at `spans` (matches) per `behavior`, appending non-empty parts.
void SplitBySpans(absl::string_view s, const Spans& spans,
                  SplitBehavior behavior, bool invert,
                  std::vector<std::string>* out) {
  struct Seg {
    size_t b, e;
    bool is_match;
  };
  std::vector<Seg> segs;
  size_t prev = 0;
  for (const auto& [b, e] : spans) {
    if (prev < b) segs.push_back({prev, b, invert});
    segs.push_back({b, e, !invert});
    prev = e;
  }
  if (prev < s.size()) segs.push_back({prev, s.size(), invert});

  std::vector<std::pair<size_t, size_t>> parts;
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const Seg& g : segs) {
        if (!g.is_match) parts.emplace_back(g.b, g.e);
      }
      break;
    case SplitBehavior::kIsolated:
      for (const Seg& g : segs) parts.emplace_back(g.b, g.e);
      break;
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (const Seg& g : segs) {
        if (g.is_match && !previous_match && !parts.empty()) {
          parts.back().second = g.e;
        } else {
          parts.emplace_back(g.b, g.e);
        }
        previous_match = g.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous_match = false;
      for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
        if (it->is_match && !previous_match && !parts.empty()) {
          parts.back().first = it->b;
        } else {
          parts.emplace_back(it->b, it->e);
        }
        previous_match = it->is_match;
      }
      std::reverse(parts.begin(), parts.end());
      break;
    }
    case SplitBehavior::kContiguous: {
      bool previous_match = false;
      bool first = true;
      for (const Seg& g : segs) {
        if (!first && g.is_match == previous_match) {
          parts.back().second = g.e;
        } else {
          parts.emplace_back(g.b, g.e);
        }
        first = false;
        previous_match = g.is_match;
      }
      break;
    }
  }
  for (const auto& [b, e] : parts) {
    if (e > b) out->emplace_back(s.substr(b, e - b));
  }
}

// Applies `split` to each piece, keeping at_origin on the first child of the
// piece that had it.
template <typename Fn>
absl::Status SplitEach(std::vector<Piece>* pieces, Fn split) {
  std::vector<Piece> out;
  out.reserve(pieces->size());
  std::vector<std::string> parts;
  for (Piece& p : *pieces) {
    parts.clear();
    RETURN_IF_ERROR(split(p, &parts));
    bool first = true;
    for (std::string& part : parts) {
      out.push_back(Piece{std::move(part), p.at_origin && first});
      first = false;
    }
  }
  *pieces = std::move(out);
  return absl::OkStatus();
}

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(Pattern pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  absl::Status PreTokenize(std::vector<Piece>* pieces) const override {
    return SplitEach(pieces, [this](Piece& p, std::vector<std::string>* parts) {
      Spans spans;
      RETURN_IF_ERROR(pattern_.FindAll(p.text, &spans));
      SplitBySpans(p.text, spans, behavior_, invert_, parts);
      return absl::OkStatus();
    });
  }

 private:
  Pattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

// The GPT-2 split used by ByteLevel when use_regex is set.
constexpr absl::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, std::optional<py::Regex> regex)
      : add_prefix_space_(add_prefix_space), regex_(std::move(regex)) {}
  absl::Status PreTokenize(std::vector<Piece>* pieces) const override {
    return SplitEach(pieces, [this](Piece& p, std::vector<std::string>* parts) {
      std::string text = std::move(p.text);
      if (add_prefix_space_ && !absl::StartsWith(text, " "))
        text = absl::StrCat(" ", text);
      std::vector<std::string> raw;
      if (regex_.has_value()) {
        Spans spans;
        RETURN_IF_ERROR(regex_->FindSpans(text, &spans));
        SplitBySpans(text, spans, SplitBehavior::kIsolated, false, &raw);
      } else if (!text.empty()) {
        raw.push_back(std::move(text));
      }
      for (const std::string& r : raw) {
        std::string mapped;
        mapped.reserve(r.size() * 2);
        for (char c : r) mapped += ByteToChar(static_cast<uint8_t>(c));
        parts->push_back(std::move(mapped));
      }
      return absl::OkStatus();
    });
  }

 private:
  bool add_prefix_space_;
  std::optional<py::Regex> regex_;  // none when use_regex is false
};

enum class PrependScheme { kAlways, kFirst, kNever };

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme,
                        bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  absl::Status PreTokenize(std::vector<Piece>* pieces) const override {
    return SplitEach(pieces, [this](Piece& p, std::vector<std::string>* parts) {
      std::string text;
      text.reserve(p.text.size() + replacement_.size());
      for (char c : p.text) {
        if (c == ' ') {
          text += replacement_;
        } else {
          text.push_back(c);
        }
      }
      const bool starts = absl::StartsWith(text, replacement_);
      if (!starts && (scheme_ == PrependScheme::kAlways ||
                      (scheme_ == PrependScheme::kFirst && p.at_origin))) {
        text = absl::StrCat(replacement_, text);
      }
      if (!split_) {
        if (!text.empty()) parts->push_back(std::move(text));
        return absl::OkStatus();
      }
      Spans spans;
      size_t pos = 0;
      while ((pos = text.find(replacement_, pos)) != std::string::npos) {
        spans.emplace_back(pos, pos + replacement_.size());
        pos += replacement_.size();
      }
      SplitBySpans(text, spans, SplitBehavior::kMergedWithNext, false, parts);
      return absl::OkStatus();
    });
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

class WhitespaceSplitPreTokenizer : public PreTokenizer {
 public:
  absl::Status PreTokenize(std::vector<Piece>* pieces) const override {
    return SplitEach(pieces, [](Piece& p, std::vector<std::string>* parts) {
      size_t pos = 0, start = 0;
      while (pos < p.text.size()) {
        const size_t at = pos;
        const uint32_t cp = base::DecodeUtf8At(p.text, &pos);
        if (IsWhitespace(cp)) {
          if (at > start) parts->push_back(p.text.substr(start, at - start));
          start = pos;
        }
      }
      if (p.text.size() > start) parts->push_back(p.text.substr(start));
      return absl::OkStatus();
    });
  }
};

class PreTokenizerSequence : public PreTokenizer {
 public:
  explicit PreTokenizerSequence(
      std::vector<std::unique_ptr<PreTokenizer>> parts)
      : parts_(std::move(parts)) {}
  absl::Status PreTokenize(std::vector<Piece>* pieces) const override {
    for (const auto& p : parts_) RETURN_IF_ERROR(p->PreTokenize(pieces));
    return absl::OkStatus();
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

absl::StatusOr<PrependScheme> ParsePrependScheme(const JsonReader& j) {
  if (const JsonReader s = j.Field("prepend_scheme"); s.present()) {
    ASSIGN_OR_RETURN(const std::string v, s.String());
    if (v == "always") return PrependScheme::kAlways;
    if (v == "first") return PrependScheme::kFirst;
    if (v == "never") return PrependScheme::kNever;
    return s.Error(
        absl::StrCat("unknown scheme '", v, "' (always, first or never)"));
  }
  // Older files state the same with add_prefix_space.
  ASSIGN_OR_RETURN(bool add, j.Field("add_prefix_space").BoolOr(true));
  return add ? PrependScheme::kAlways : PrependScheme::kNever;
}

absl::StatusOr<std::string> ReplacementChar(const JsonReader& j) {
  const JsonReader field = j.Field("replacement");
  ASSIGN_OR_RETURN(std::string r, field.StringOr("\xE2\x96\x81"));  // U+2581
  if (r.empty() || !base::IsValidUtf8(r) ||
      Utf8Len(static_cast<uint8_t>(r[0])) != r.size()) {
    return field.Expected("a single character");
  }
  return r;
}

// ----------------------------------------------------------------------------
// Decoders

class ByteLevelDecoder : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>* tokens) const override {
    std::string bytes;
    for (std::string& t : *tokens) {
      TokenBytes(&t);
      bytes += t;
    }
    tokens->assign(1, Utf8Lossy(bytes));
  }
  void TokenBytes(std::string* token) const override {
    std::string bytes;
    bytes.reserve(token->size());
    size_t pos = 0;
    while (pos < token->size()) {
      const int b = CharToByte(base::DecodeUtf8At(*token, &pos));
      // A token with a character outside the byte alphabet (an added token)
      // contributes its own text.
      if (b < 0) return;
      bytes.push_back(static_cast<char>(b));
    }
    *token = std::move(bytes);
  }
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(Pattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void DecodeChain(std::vector<std::string>* tokens) const override {
    for (std::string& t : *tokens) TokenBytes(&t);
  }
  void TokenBytes(std::string* token) const override {
    auto r = pattern_.ReplaceAll(*token, content_);
    if (r.ok()) *token = std::move(r).value();
  }

 private:
  Pattern pattern_;
  std::string content_;
};

int ByteFallbackValue(absl::string_view t) {
  if (t.size() != 6 || !absl::StartsWith(t, "<0x") || t[5] != '>') return -1;
  int v = 0;
  for (char c : t.substr(3, 2)) {
    v *= 16;
    if (c >= '0' && c <= '9') {
      v += c - '0';
    } else if (c >= 'A' && c <= 'F') {
      v += c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      v += c - 'a' + 10;
    } else {
      return -1;
    }
  }
  return v;
}

class ByteFallbackDecoder : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>* tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    size_t pending_count = 0;
    auto flush = [&] {
      if (pending_count == 0) return;
      if (base::IsValidUtf8(pending)) {
        out.push_back(pending);
      } else {
        // Each byte of an invalid run becomes its own U+FFFD, as the
        // reference does.
        for (size_t i = 0; i < pending_count; ++i)
          out.push_back("\xEF\xBF\xBD");
      }
      pending.clear();
      pending_count = 0;
    };
    for (std::string& t : *tokens) {
      const int b = ByteFallbackValue(t);
      if (b >= 0) {
        pending.push_back(static_cast<char>(b));
        ++pending_count;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    *tokens = std::move(out);
  }
  void TokenBytes(std::string* token) const override {
    const int b = ByteFallbackValue(*token);
    if (b >= 0) token->assign(1, static_cast<char>(b));
  }
};

class FuseDecoder : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>* tokens) const override {
    tokens->assign(1, absl::StrJoin(*tokens, ""));
  }
  void TokenBytes(std::string*) const override {}
};

class StripDecoder : public Decoder {
 public:
  StripDecoder(std::string content, int64_t start, int64_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void DecodeChain(std::vector<std::string>* tokens) const override {
    for (std::string& t : *tokens) {
      absl::string_view v = t;
      for (int64_t i = 0; i < start_ && absl::StartsWith(v, content_); ++i) {
        v.remove_prefix(content_.size());
      }
      for (int64_t i = 0; i < stop_ && absl::EndsWith(v, content_); ++i) {
        v.remove_suffix(content_.size());
      }
      t = std::string(v);
    }
  }
  void TokenBytes(std::string*) const override {}

 private:
  std::string content_;
  int64_t start_, stop_;
};

class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, PrependScheme scheme)
      : replacement_(std::move(replacement)), scheme_(scheme) {}
  void DecodeChain(std::vector<std::string>* tokens) const override {
    for (size_t i = 0; i < tokens->size(); ++i) {
      std::string& t = (*tokens)[i];
      const bool drop = i == 0 && scheme_ != PrependScheme::kNever;
      std::string out;
      size_t pos = 0;
      while ((pos = t.find(replacement_)) != std::string::npos) {
        out.append(t, 0, pos);
        if (!drop) out.push_back(' ');
        t.erase(0, pos + replacement_.size());
      }
      out += t;
      t = std::move(out);
    }
  }
  void TokenBytes(std::string* token) const override {
    *token = absl::StrReplaceAll(*token, {{replacement_, " "}});
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
};

class DecoderSequence : public Decoder {
 public:
  explicit DecoderSequence(std::vector<std::unique_ptr<Decoder>> parts)
      : parts_(std::move(parts)) {}
  void DecodeChain(std::vector<std::string>* tokens) const override {
    for (const auto& p : parts_) p->DecodeChain(tokens);
  }
  void TokenBytes(std::string* token) const override {
    for (const auto& p : parts_) p->TokenBytes(token);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

// ----------------------------------------------------------------------------
// Post-processors

class WrapPostProcessor : public PostProcessor {
 public:
  WrapPostProcessor(std::vector<int32_t> leading, std::vector<int32_t> trailing)
      : leading_(std::move(leading)), trailing_(std::move(trailing)) {}
  void Process(std::vector<int32_t>* ids,
               bool add_special_tokens) const override {
    if (!add_special_tokens) return;
    ids->insert(ids->begin(), leading_.begin(), leading_.end());
    ids->insert(ids->end(), trailing_.begin(), trailing_.end());
  }
  std::vector<int32_t> LeadingIds() const override { return leading_; }
  std::vector<int32_t> TrailingIds() const override { return trailing_; }

 private:
  std::vector<int32_t> leading_, trailing_;
};

class NoopPostProcessor : public PostProcessor {
 public:
  void Process(std::vector<int32_t>*, bool) const override {}
};

class PostProcessorSequence : public PostProcessor {
 public:
  explicit PostProcessorSequence(
      std::vector<std::unique_ptr<PostProcessor>> parts)
      : parts_(std::move(parts)) {}
  void Process(std::vector<int32_t>* ids,
               bool add_special_tokens) const override {
    for (const auto& p : parts_) p->Process(ids, add_special_tokens);
  }
  std::vector<int32_t> LeadingIds() const override {
    std::vector<int32_t> out;
    for (const auto& p : parts_) {
      auto l = p->LeadingIds();
      out.insert(out.begin(), l.begin(), l.end());
    }
    return out;
  }
  std::vector<int32_t> TrailingIds() const override {
    std::vector<int32_t> out;
    for (const auto& p : parts_) {
      auto t = p->TrailingIds();
      out.insert(out.end(), t.begin(), t.end());
    }
    return out;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

absl::StatusOr<std::unique_ptr<PostProcessor>> TemplateFromJson(
    const JsonReader& j,
    const std::function<std::optional<int32_t>(absl::string_view)>&
        token_to_id) {
  ASSIGN_OR_RETURN(const JsonReader single, j.Field("single").Array());
  const JsonReader specials = j.Field("special_tokens");
  if (specials.present()) RETURN_IF_ERROR(specials.Object().status());
  std::vector<int32_t> leading, trailing;
  bool seen_sequence = false;
  for (size_t i = 0; i < single.size(); ++i) {
    ASSIGN_OR_RETURN(const JsonReader item, single.Item(i).Object());
    if (const JsonReader seq = item.Field("Sequence"); seq.present()) {
      RETURN_IF_ERROR(seq.Object().status());
      ASSIGN_OR_RETURN(const std::string id, seq.Field("id").String());
      if (id != "A") {
        return seq.Field("id").Error(
            "a single-sequence template may only use sequence A");
      }
      if (seen_sequence) return item.Error("sequence A appears twice");
      seen_sequence = true;
      continue;
    }
    const JsonReader special = item.Field("SpecialToken");
    if (!special.json().is_object()) {
      return item.Expected(R"({"Sequence": ...} or {"SpecialToken": ...})");
    }
    ASSIGN_OR_RETURN(const std::string name, special.Field("id").String());
    std::vector<int32_t> ids;
    if (const JsonReader entry = specials.Field(name); entry.present()) {
      RETURN_IF_ERROR(entry.Object().status());
      ASSIGN_OR_RETURN(const JsonReader id_list, entry.Field("ids").Array());
      for (size_t k = 0; k < id_list.size(); ++k) {
        ASSIGN_OR_RETURN(const int64_t id, id_list.Item(k).Int(0, INT32_MAX));
        ids.push_back(static_cast<int32_t>(id));
      }
    } else {
      std::optional<int32_t> id = token_to_id(name);
      if (!id.has_value()) {
        return special.Field("id").Error(
            absl::StrCat("unknown token '", name, "'"));
      }
      ids.push_back(*id);
    }
    auto& dst = seen_sequence ? trailing : leading;
    dst.insert(dst.end(), ids.begin(), ids.end());
  }
  return std::make_unique<WrapPostProcessor>(std::move(leading),
                                             std::move(trailing));
}

absl::StatusOr<int32_t> PairId(const JsonReader& pair) {
  const JsonReader id = pair.Item(1);
  if (pair.size() != 2 || !id.json().is_int() || id.json().int_value() < 0 ||
      id.json().int_value() > INT32_MAX) {
    return pair.Expected("[token, id]");
  }
  return static_cast<int32_t>(id.json().int_value());
}

}  // namespace

absl::StatusOr<std::unique_ptr<Normalizer>> NormalizerFromJson(
    const JsonReader& j) {
  ASSIGN_OR_RETURN(std::string type, TypeOf(j));
  if (type == "NFC")
    return std::make_unique<UnicodeNormalizer>(NormalForm::kNfc);
  if (type == "NFD")
    return std::make_unique<UnicodeNormalizer>(NormalForm::kNfd);
  if (type == "NFKC")
    return std::make_unique<UnicodeNormalizer>(NormalForm::kNfkc);
  if (type == "NFKD")
    return std::make_unique<UnicodeNormalizer>(NormalForm::kNfkd);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
  if (type == "Strip") {
    ASSIGN_OR_RETURN(bool left, j.Field("strip_left").BoolOr(true));
    ASSIGN_OR_RETURN(bool right, j.Field("strip_right").BoolOr(true));
    return std::make_unique<StripNormalizer>(left, right);
  }
  if (type == "Prepend") {
    ASSIGN_OR_RETURN(std::string prepend, j.Field("prepend").String());
    if (!base::IsValidUtf8(prepend))
      return j.Field("prepend").Error("invalid UTF-8");
    return std::make_unique<PrependNormalizer>(std::move(prepend));
  }
  if (type == "Replace") {
    ASSIGN_OR_RETURN(Pattern pattern, Pattern::FromJson(j.Field("pattern")));
    ASSIGN_OR_RETURN(std::string content, j.Field("content").String());
    if (!base::IsValidUtf8(content))
      return j.Field("content").Error("invalid UTF-8");
    return std::make_unique<ReplaceNormalizer>(std::move(pattern),
                                               std::move(content));
  }
  if (type == "Sequence") {
    ASSIGN_OR_RETURN(const JsonReader list, j.Field("normalizers").Array());
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      ASSIGN_OR_RETURN(auto part, NormalizerFromJson(list.Item(i)));
      parts.push_back(std::move(part));
    }
    return std::make_unique<NormalizerSequence>(std::move(parts));
  }
  return j.Field("type").Error(
      absl::StrCat("unknown normalizer type '", type, "'"));
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizerFromJson(
    const JsonReader& j) {
  ASSIGN_OR_RETURN(std::string type, TypeOf(j));
  if (type == "Split") {
    ASSIGN_OR_RETURN(Pattern pattern, Pattern::FromJson(j.Field("pattern")));
    ASSIGN_OR_RETURN(std::string b, j.Field("behavior").String());
    SplitBehavior behavior;
    if (b == "Removed") {
      behavior = SplitBehavior::kRemoved;
    } else if (b == "Isolated") {
      behavior = SplitBehavior::kIsolated;
    } else if (b == "MergedWithPrevious") {
      behavior = SplitBehavior::kMergedWithPrevious;
    } else if (b == "MergedWithNext") {
      behavior = SplitBehavior::kMergedWithNext;
    } else if (b == "Contiguous") {
      behavior = SplitBehavior::kContiguous;
    } else {
      return j.Field("behavior")
          .Error(absl::StrCat("unknown behavior '", b, "'"));
    }
    ASSIGN_OR_RETURN(bool invert, j.Field("invert").BoolOr(false));
    return std::make_unique<SplitPreTokenizer>(std::move(pattern), behavior,
                                               invert);
  }
  if (type == "ByteLevel") {
    ASSIGN_OR_RETURN(bool add_prefix_space,
                     j.Field("add_prefix_space").BoolOr(true));
    ASSIGN_OR_RETURN(bool use_regex, j.Field("use_regex").BoolOr(true));
    std::optional<py::Regex> regex;
    if (use_regex) {
      ASSIGN_OR_RETURN(regex, py::Regex::CompilePcre2(kGpt2Pattern));
    }
    return std::make_unique<ByteLevelPreTokenizer>(add_prefix_space,
                                                   std::move(regex));
  }
  if (type == "Metaspace") {
    ASSIGN_OR_RETURN(std::string replacement, ReplacementChar(j));
    ASSIGN_OR_RETURN(PrependScheme scheme, ParsePrependScheme(j));
    ASSIGN_OR_RETURN(bool split, j.Field("split").BoolOr(true));
    return std::make_unique<MetaspacePreTokenizer>(std::move(replacement),
                                                   scheme, split);
  }
  if (type == "WhitespaceSplit")
    return std::make_unique<WhitespaceSplitPreTokenizer>();
  if (type == "Digits") {
    ASSIGN_OR_RETURN(bool individual,
                     j.Field("individual_digits").BoolOr(false));
    const Json pattern = Json::MakeObject({{"Regex", Json::String("\\p{N}")}});
    ASSIGN_OR_RETURN(
        Pattern p, Pattern::FromJson(JsonReader(pattern, j.where(), j.path())));
    return std::make_unique<SplitPreTokenizer>(
        std::move(p),
        individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous,
        false);
  }
  if (type == "Sequence") {
    ASSIGN_OR_RETURN(const JsonReader list, j.Field("pretokenizers").Array());
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      ASSIGN_OR_RETURN(auto part, PreTokenizerFromJson(list.Item(i)));
      parts.push_back(std::move(part));
    }
    return std::make_unique<PreTokenizerSequence>(std::move(parts));
  }
  return j.Field("type").Error(
      absl::StrCat("unknown pre-tokenizer type '", type, "'"));
}

absl::StatusOr<std::unique_ptr<Decoder>> DecoderFromJson(const JsonReader& j) {
  ASSIGN_OR_RETURN(std::string type, TypeOf(j));
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Replace") {
    ASSIGN_OR_RETURN(Pattern pattern, Pattern::FromJson(j.Field("pattern")));
    ASSIGN_OR_RETURN(std::string content, j.Field("content").String());
    return std::make_unique<ReplaceDecoder>(std::move(pattern),
                                            std::move(content));
  }
  if (type == "Strip") {
    ASSIGN_OR_RETURN(std::string content, j.Field("content").String());
    if (content.empty()) return j.Field("content").Expected("a character");
    ASSIGN_OR_RETURN(int64_t start, j.Field("start").IntOr(0));
    ASSIGN_OR_RETURN(int64_t stop, j.Field("stop").IntOr(0));
    return std::make_unique<StripDecoder>(std::move(content), start, stop);
  }
  if (type == "Metaspace") {
    ASSIGN_OR_RETURN(std::string replacement, ReplacementChar(j));
    ASSIGN_OR_RETURN(PrependScheme scheme, ParsePrependScheme(j));
    return std::make_unique<MetaspaceDecoder>(std::move(replacement), scheme);
  }
  if (type == "Sequence") {
    ASSIGN_OR_RETURN(const JsonReader list, j.Field("decoders").Array());
    std::vector<std::unique_ptr<Decoder>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      ASSIGN_OR_RETURN(auto part, DecoderFromJson(list.Item(i)));
      parts.push_back(std::move(part));
    }
    return std::make_unique<DecoderSequence>(std::move(parts));
  }
  return j.Field("type").Error(
      absl::StrCat("unknown decoder type '", type, "'"));
}

absl::StatusOr<std::unique_ptr<PostProcessor>> PostProcessorFromJson(
    const JsonReader& j,
    const std::function<std::optional<int32_t>(absl::string_view)>&
        token_to_id) {
  ASSIGN_OR_RETURN(std::string type, TypeOf(j));
  if (type == "ByteLevel") return std::make_unique<NoopPostProcessor>();
  if (type == "TemplateProcessing") return TemplateFromJson(j, token_to_id);
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    ASSIGN_OR_RETURN(int32_t cls, PairId(j.Field("cls")));
    ASSIGN_OR_RETURN(int32_t sep, PairId(j.Field("sep")));
    return std::make_unique<WrapPostProcessor>(std::vector<int32_t>{cls},
                                               std::vector<int32_t>{sep});
  }
  if (type == "Sequence") {
    ASSIGN_OR_RETURN(const JsonReader list, j.Field("processors").Array());
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      ASSIGN_OR_RETURN(auto part,
                       PostProcessorFromJson(list.Item(i), token_to_id));
      parts.push_back(std::move(part));
    }
    return std::make_unique<PostProcessorSequence>(std::move(parts));
  }
  return j.Field("type").Error(
      absl::StrCat("unknown post-processor type '", type, "'"));
}

std::unique_ptr<PostProcessor> MakeWrapPostProcessor(
    std::vector<int32_t> leading, std::vector<int32_t> trailing) {
  return std::make_unique<WrapPostProcessor>(std::move(leading),
                                             std::move(trailing));
}

}  // namespace evald::runners::native::tokenizer::internal
