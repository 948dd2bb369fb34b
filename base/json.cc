#include "base/json.h"

#include <charconv>
#include <cmath>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"

namespace evald::base {

Json::Json(const Json& other)
    : type_(other.type_),
      bool_(other.bool_),
      is_int_(other.is_int_),
      int_(other.int_),
      double_(other.double_),
      string_(other.string_) {
  if (other.array_) array_ = std::make_shared<Array>(*other.array_);
  if (other.object_) object_ = std::make_shared<Object>(*other.object_);
}

Json& Json::operator=(const Json& other) {
  if (this != &other) {
    Json copy(other);
    *this = std::move(copy);
  }
  return *this;
}

Json Json::Bool(bool b) {
  Json j;
  j.type_ = Type::kBool;
  j.bool_ = b;
  return j;
}

Json Json::Int(int64_t v) {
  Json j;
  j.type_ = Type::kNumber;
  j.is_int_ = true;
  j.int_ = v;
  j.double_ = static_cast<double>(v);
  return j;
}

Json Json::Double(double v) {
  Json j;
  j.type_ = Type::kNumber;
  j.double_ = v;
  return j;
}

Json Json::String(std::string s) {
  Json j;
  j.type_ = Type::kString;
  j.string_ = std::move(s);
  return j;
}

Json Json::MakeArray(Array a) {
  Json j;
  j.type_ = Type::kArray;
  j.array_ = std::make_shared<Array>(std::move(a));
  return j;
}

Json Json::MakeObject(Object o) {
  Json j;
  j.type_ = Type::kObject;
  j.object_ = std::make_shared<Object>(std::move(o));
  return j;
}

bool Json::bool_value() const {
  CHECK(type_ == Type::kBool);
  return bool_;
}
int64_t Json::int_value() const {
  CHECK(is_int());
  return int_;
}
double Json::number_value() const {
  CHECK(type_ == Type::kNumber);
  return double_;
}
const std::string& Json::string_value() const {
  CHECK(type_ == Type::kString);
  return string_;
}
const Json::Array& Json::array() const {
  CHECK(type_ == Type::kArray);
  return *array_;
}
Json::Array& Json::mutable_array() {
  CHECK(type_ == Type::kArray);
  return *array_;
}
const Json::Object& Json::object() const {
  CHECK(type_ == Type::kObject);
  return *object_;
}
Json::Object& Json::mutable_object() {
  CHECK(type_ == Type::kObject);
  return *object_;
}

const Json* Json::Find(absl::string_view key) const {
  if (type_ != Type::kObject) return nullptr;
  for (const auto& [k, v] : *object_) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Json::Set(std::string key, Json value) {
  CHECK(type_ == Type::kObject);
  for (auto& [k, v] : *object_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  object_->emplace_back(std::move(key), std::move(value));
}

void Json::Push(Json value) {
  CHECK(type_ == Type::kArray);
  array_->push_back(std::move(value));
}

bool operator==(const Json& a, const Json& b) {
  if (a.type_ != b.type_) return false;
  switch (a.type_) {
    case Json::Type::kNull:
      return true;
    case Json::Type::kBool:
      return a.bool_ == b.bool_;
    case Json::Type::kNumber:
      if (a.is_int_ && b.is_int_) return a.int_ == b.int_;
      return a.double_ == b.double_;
    case Json::Type::kString:
      return a.string_ == b.string_;
    case Json::Type::kArray:
      return *a.array_ == *b.array_;
    case Json::Type::kObject:
      return *a.object_ == *b.object_;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Serialisation

namespace {

void AppendUtf16Escape(uint32_t unit, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[6] = {'\\',
                 'u',
                 kHex[(unit >> 12) & 15],
                 kHex[(unit >> 8) & 15],
                 kHex[(unit >> 4) & 15],
                 kHex[unit & 15]};
  out->append(buf, 6);
}

// Decodes one UTF-8 sequence at s[i]; returns the code point and advances i.
// Invalid bytes decode as themselves (U+0080..U+00FF range is not used for
// them: we return 0xFFFD) so that dumping never fails.
uint32_t DecodeUtf8(absl::string_view s, size_t* i) {
  unsigned char c = static_cast<unsigned char>(s[*i]);
  int len = c < 0x80         ? 1
            : (c >> 5) == 6  ? 2
            : (c >> 4) == 14 ? 3
            : (c >> 3) == 30 ? 4
                             : 0;
  if (len == 0 || *i + len > s.size()) {
    ++*i;
    return 0xFFFD;
  }
  uint32_t cp = len == 1   ? c
                : len == 2 ? (c & 0x1F)
                : len == 3 ? (c & 0x0F)
                           : (c & 0x07);
  for (int k = 1; k < len; ++k) {
    unsigned char cc = static_cast<unsigned char>(s[*i + k]);
    if ((cc & 0xC0) != 0x80) {
      ++*i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (cc & 0x3F);
  }
  *i += len;
  return cp;
}

}  // namespace

void AppendJsonString(absl::string_view s, bool ensure_ascii,
                      std::string* out) {
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      switch (c) {
        case '"':
          out->append("\\\"");
          break;
        case '\\':
          out->append("\\\\");
          break;
        case '\n':
          out->append("\\n");
          break;
        case '\r':
          out->append("\\r");
          break;
        case '\t':
          out->append("\\t");
          break;
        case '\b':
          out->append("\\b");
          break;
        case '\f':
          out->append("\\f");
          break;
        default:
          if (c < 0x20 || (ensure_ascii && c == 0x7f)) {
            AppendUtf16Escape(c, out);
          } else {
            out->push_back(static_cast<char>(c));
          }
      }
      continue;
    }
    if (!ensure_ascii) {
      out->push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    uint32_t cp = DecodeUtf8(s, &i);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      AppendUtf16Escape(0xD800 + (cp >> 10), out);
      AppendUtf16Escape(0xDC00 + (cp & 0x3FF), out);
    } else {
      AppendUtf16Escape(cp, out);
    }
  }
  out->push_back('"');
}

std::string PythonFloatRepr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  // Shortest round-trip digits in scientific form, then laid out as
  // Python's float_repr_style 'short' does: exponent form when the decimal
  // exponent is < -4 or >= 16.
  char buf[64];
  auto res =
      std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  bool neg = false;
  if (!sci.empty() && sci[0] == '-') {
    neg = true;
    sci.erase(0, 1);
  }
  size_t e = sci.find('e');
  std::string mant = sci.substr(0, e);
  int exp = std::atoi(sci.c_str() + e + 1);
  std::string digits;
  for (char ch : mant) {
    if (ch != '.') digits.push_back(ch);
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out;
  if (exp < -4 || exp >= 16) {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof(eb), "e%c%02d", exp < 0 ? '-' : '+',
                  std::abs(exp));
    out += eb;
  } else if (exp < 0) {
    out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
  } else {
    if (digits.size() <= static_cast<size_t>(exp) + 1) {
      out = digits +
            std::string(static_cast<size_t>(exp) + 1 - digits.size(), '0') +
            ".0";
    } else {
      out = digits.substr(0, static_cast<size_t>(exp) + 1) + "." +
            digits.substr(static_cast<size_t>(exp) + 1);
    }
  }
  return neg ? "-" + out : out;
}

std::string Json::Dump(const DumpOptions& options) const {
  std::string out;
  DumpTo(&out, options, 0);
  return out;
}

void Json::DumpTo(std::string* out, const DumpOptions& options,
                  int depth) const {
  auto newline = [&](int d) {
    out->push_back('\n');
    out->append(static_cast<size_t>(options.indent * d), ' ');
  };
  const char* item_sep =
      options.indent < 0 && options.spaced_separators ? ", " : ",";
  const char* key_sep =
      (options.indent >= 0 || options.spaced_separators) ? ": " : ":";
  switch (type_) {
    case Type::kNull:
      out->append("null");
      return;
    case Type::kBool:
      out->append(bool_ ? "true" : "false");
      return;
    case Type::kNumber:
      if (is_int_) {
        absl::StrAppend(out, int_);
      } else if (std::isnan(double_)) {
        out->append("NaN");
      } else if (std::isinf(double_)) {
        out->append(double_ > 0 ? "Infinity" : "-Infinity");
      } else {
        out->append(PythonFloatRepr(double_));
      }
      return;
    case Type::kString:
      AppendJsonString(string_, options.ensure_ascii, out);
      return;
    case Type::kArray: {
      out->push_back('[');
      bool first = true;
      for (const Json& v : *array_) {
        if (!first) out->append(item_sep);
        first = false;
        if (options.indent >= 0) newline(depth + 1);
        v.DumpTo(out, options, depth + 1);
      }
      if (options.indent >= 0 && !array_->empty()) newline(depth);
      out->push_back(']');
      return;
    }
    case Type::kObject: {
      out->push_back('{');
      bool first = true;
      for (const auto& [k, v] : *object_) {
        if (!first) out->append(item_sep);
        first = false;
        if (options.indent >= 0) newline(depth + 1);
        AppendJsonString(k, options.ensure_ascii, out);
        out->append(key_sep);
        v.DumpTo(out, options, depth + 1);
      }
      if (options.indent >= 0 && !object_->empty()) newline(depth);
      out->push_back('}');
      return;
    }
  }
}

// ---------------------------------------------------------------------------
// Parsing

namespace {

class Parser {
 public:
  Parser(absl::string_view text, const JsonParseOptions& options)
      : s_(text), options_(options) {}

  absl::StatusOr<Json> ParseDocument() {
    SkipWs();
    Json value;
    if (!ParseValue(&value, 0)) return Error();
    SkipWs();
    if (pos_ != s_.size()) {
      Fail("unexpected trailing characters");
      return Error();
    }
    return value;
  }

 private:
  absl::Status Error() const {
    int line = 1, col = 1;
    for (size_t i = 0; i < err_pos_ && i < s_.size(); ++i) {
      if (s_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return absl::InvalidArgumentError(
        absl::StrCat("line ", line, ", column ", col, ": ", err_));
  }

  bool Fail(std::string what) {
    if (err_.empty()) {
      err_ = std::move(what);
      err_pos_ = pos_;
    }
    return false;
  }

  void SkipWs() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' ||
                                s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Literal(absl::string_view word) {
    if (s_.substr(pos_, word.size()) == word) {
      pos_ += word.size();
      return true;
    }
    return false;
  }

  bool ParseValue(Json* out, int depth) {
    if (pos_ >= s_.size()) return Fail("unexpected end of input");
    char c = s_[pos_];
    switch (c) {
      case '{':
        return ParseObject(out, depth + 1);
      case '[':
        return ParseArray(out, depth + 1);
      case '"': {
        std::string str;
        if (!ParseString(&str)) return false;
        *out = Json::String(std::move(str));
        return true;
      }
      case 't':
        if (Literal("true")) {
          *out = Json::Bool(true);
          return true;
        }
        break;
      case 'f':
        if (Literal("false")) {
          *out = Json::Bool(false);
          return true;
        }
        break;
      case 'n':
        if (Literal("null")) {
          *out = Json::Null();
          return true;
        }
        break;
      case 'N':
        if (options_.allow_nan_literals && Literal("NaN")) {
          *out = Json::Double(std::nan(""));
          return true;
        }
        break;
      case 'I':
        if (options_.allow_nan_literals && Literal("Infinity")) {
          *out = Json::Double(HUGE_VAL);
          return true;
        }
        break;
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(out);
    }
    return Fail(absl::StrCat("unexpected character '", std::string(1, c), "'"));
  }

  bool ParseNumber(Json* out) {
    size_t start = pos_;
    if (s_[pos_] == '-') {
      ++pos_;
      if (options_.allow_nan_literals && Literal("Infinity")) {
        *out = Json::Double(-HUGE_VAL);
        return true;
      }
    }
    if (pos_ >= s_.size()) return Fail("truncated number");
    if (s_[pos_] == '0') {
      ++pos_;
    } else if (s_[pos_] >= '1' && s_[pos_] <= '9') {
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    } else {
      return Fail("invalid number");
    }
    bool is_int = true;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      is_int = false;
      ++pos_;
      size_t d = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      if (pos_ == d) return Fail("invalid number: digits expected after '.'");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      is_int = false;
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      size_t d = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      if (pos_ == d) return Fail("invalid number: digits expected in exponent");
    }
    const char* b = s_.data() + start;
    const char* e = s_.data() + pos_;
    if (is_int) {
      int64_t v = 0;
      auto r = std::from_chars(b, e, v);
      if (r.ec == std::errc() && r.ptr == e) {
        *out = Json::Int(v);
        return true;
      }
    }
    double d = 0;
    auto r = std::from_chars(b, e, d);
    if (r.ec == std::errc::result_out_of_range) {
      // Overflow becomes +-inf and underflow 0, as strtod (and Python) do.
      d = std::strtod(std::string(b, e).c_str(), nullptr);
    } else if (r.ec != std::errc() || r.ptr != e) {
      return Fail("invalid number");
    }
    *out = Json::Double(d);
    return true;
  }

  bool ParseHex4(uint32_t* out) {
    if (pos_ + 4 > s_.size()) return Fail("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_ + i];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return Fail("invalid \\u escape");
      }
    }
    pos_ += 4;
    *out = v;
    return true;
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  bool ParseString(std::string* out) {
    ++pos_;  // opening quote
    while (true) {
      if (pos_ >= s_.size()) return Fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return Fail("control character in string");
      if (c != '\\') {
        // Copy a run of plain bytes at once.
        size_t start = pos_;
        while (pos_ < s_.size() && s_[pos_] != '"' && s_[pos_] != '\\' &&
               static_cast<unsigned char>(s_[pos_]) >= 0x20) {
          ++pos_;
        }
        out->append(s_.data() + start, pos_ - start);
        continue;
      }
      ++pos_;
      if (pos_ >= s_.size()) return Fail("unterminated escape");
      char e = s_[pos_++];
      switch (e) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case '/':
          out->push_back('/');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp;
          if (!ParseHex4(&cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            size_t save = pos_;
            uint32_t lo = 0;
            if (pos_ + 1 < s_.size() && s_[pos_] == '\\' &&
                s_[pos_ + 1] == 'u') {
              pos_ += 2;
              if (!ParseHex4(&lo)) return false;
            }
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else {
              pos_ = save;
              if (!options_.allow_lone_surrogates)
                return Fail("lone surrogate in \\u escape");
            }
          } else if (cp >= 0xDC00 && cp <= 0xDFFF &&
                     !options_.allow_lone_surrogates) {
            return Fail("lone surrogate in \\u escape");
          }
          AppendUtf8(cp, out);
          break;
        }
        default:
          return Fail("invalid escape");
      }
    }
  }

  bool ParseArray(Json* out, int depth) {
    if (depth > options_.max_depth) return Fail("nesting too deep");
    ++pos_;
    Json::Array items;
    SkipWs();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      *out = Json::MakeArray(std::move(items));
      return true;
    }
    while (true) {
      SkipWs();
      Json v;
      if (!ParseValue(&v, depth)) return false;
      items.push_back(std::move(v));
      SkipWs();
      if (pos_ >= s_.size()) return Fail("unterminated array");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == ']') {
        ++pos_;
        *out = Json::MakeArray(std::move(items));
        return true;
      }
      return Fail("expected ',' or ']' in array");
    }
  }

  bool ParseObject(Json* out, int depth) {
    if (depth > options_.max_depth) return Fail("nesting too deep");
    ++pos_;
    Json::Object members;
    SkipWs();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      *out = Json::MakeObject(std::move(members));
      return true;
    }
    while (true) {
      SkipWs();
      if (pos_ >= s_.size() || s_[pos_] != '"')
        return Fail("expected a string key in object");
      std::string key;
      if (!ParseString(&key)) return false;
      SkipWs();
      if (pos_ >= s_.size() || s_[pos_] != ':')
        return Fail("expected ':' after object key");
      ++pos_;
      SkipWs();
      Json v;
      if (!ParseValue(&v, depth)) return false;
      members.emplace_back(std::move(key), std::move(v));
      SkipWs();
      if (pos_ >= s_.size()) return Fail("unterminated object");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == '}') {
        ++pos_;
        *out = Json::MakeObject(std::move(members));
        return true;
      }
      return Fail("expected ',' or '}' in object");
    }
  }

  absl::string_view s_;
  JsonParseOptions options_;
  size_t pos_ = 0;
  std::string err_;
  size_t err_pos_ = 0;
};

}  // namespace

absl::StatusOr<Json> ParseJson(absl::string_view text,
                               const JsonParseOptions& options) {
  Parser p(text, options);
  return p.ParseDocument();
}

// ---------------------------------------------------------------------------
// Checked reads

namespace {

// Path components longer than this are cut: a vocabulary token or a prompt
// used as a key would make the line unreadable.
constexpr size_t kMaxKeyInPath = 64;
constexpr size_t kMaxValueShown = 64;

bool IsPlainKey(absl::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' &&
        c != '-')
      return false;
  }
  return true;
}

// Cuts `s` to at most `n` bytes without splitting a UTF-8 sequence.
absl::string_view CutUtf8(absl::string_view s, size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// Appends `v` as JSON with Python's separators, ASCII only (so that a message
// stays valid UTF-8 whatever the input held), giving up once `out` is longer
// than `limit`: a whole vocabulary is never written out to be cut.
void AppendAbridged(const Json& v, size_t limit, std::string* out) {
  if (out->size() > limit) return;
  if (v.is_string()) {
    AppendJsonString(CutUtf8(v.string_value(), limit + 1),
                     /*ensure_ascii=*/true, out);
  } else if (v.is_array()) {
    out->push_back('[');
    for (size_t i = 0; i < v.array().size() && out->size() <= limit; ++i) {
      if (i > 0) out->append(", ");
      AppendAbridged(v.array()[i], limit, out);
    }
    out->push_back(']');
  } else if (v.is_object()) {
    out->push_back('{');
    for (size_t i = 0; i < v.object().size() && out->size() <= limit; ++i) {
      if (i > 0) out->append(", ");
      AppendJsonString(CutUtf8(v.object()[i].first, limit + 1),
                       /*ensure_ascii=*/true, out);
      out->append(": ");
      AppendAbridged(v.object()[i].second, limit, out);
    }
    out->push_back('}');
  } else {
    out->append(v.Dump());
  }
}

// The value as an error shows it: JSON, cut to a readable length.
std::string Describe(const Json& v) {
  std::string s;
  AppendAbridged(v, kMaxValueShown, &s);
  if (s.size() > kMaxValueShown) {
    s.resize(kMaxValueShown - 3);
    s += "...";
  }
  return s;
}

// `parent` + ".key", or + '["key"]' for a key that is not plain.
std::string MemberPath(const std::string& parent, absl::string_view key) {
  std::string path = parent;
  if (IsPlainKey(key) && key.size() <= kMaxKeyInPath) {
    if (!path.empty()) path += '.';
    path.append(key.data(), key.size());
  } else {
    const absl::string_view cut = CutUtf8(key, kMaxKeyInPath);
    path += '[';
    AppendJsonString(cut, /*ensure_ascii=*/true, &path);
    if (cut.size() < key.size()) path.insert(path.size() - 1, "...");
    path += ']';
  }
  return path;
}

// What a reader holds: absent and null read the same.
const Json* Present(const Json* v) {
  return v != nullptr && !v->is_null() ? v : nullptr;
}

}  // namespace

JsonReader::JsonReader(const Json& value, absl::string_view where,
                       std::string path)
    : JsonReader(Present(&value), where, std::move(path)) {}

JsonReader JsonReader::Field(absl::string_view key) const {
  return JsonReader(Present(value_ != nullptr ? value_->Find(key) : nullptr),
                    where_, MemberPath(path_, key));
}

JsonReader JsonReader::Item(size_t index) const {
  if (value_ != nullptr && value_->is_object() &&
      index < value_->object().size()) {
    const auto& [key, member] = value_->object()[index];
    return JsonReader(Present(&member), where_, MemberPath(path_, key));
  }
  const Json* item = nullptr;
  if (value_ != nullptr && value_->is_array() &&
      index < value_->array().size()) {
    item = Present(&value_->array()[index]);
  }
  return JsonReader(item, where_, absl::StrCat(path_, "[", index, "]"));
}

const Json& JsonReader::json() const {
  static const Json* const kNull = new Json();
  return value_ != nullptr ? *value_ : *kNull;
}

size_t JsonReader::size() const {
  if (value_ == nullptr) return 0;
  if (value_->is_array()) return value_->array().size();
  if (value_->is_object()) return value_->object().size();
  return 0;
}

absl::Status JsonReader::MakeError(absl::string_view separator,
                                   absl::string_view what) const {
  std::string message(where_);
  if (!path_.empty())
    absl::StrAppend(&message, message.empty() ? "" : ": ", "field '", path_,
                    "'");
  absl::StrAppend(&message, message.empty() ? "" : separator, what);
  return absl::InvalidArgumentError(message);
}

absl::Status JsonReader::Error(absl::string_view what) const {
  return MakeError(": ", what);
}

absl::Status JsonReader::Expected(absl::string_view what) const {
  // The root is never missing: a document that is just `null` is the wrong
  // type.
  if (value_ == nullptr && !path_.empty()) return MakeError(" ", "is missing");
  return Error(absl::StrCat("expected ", what, ", got ", Describe(json())));
}

absl::StatusOr<int64_t> JsonReader::Int() const {
  if (value_ == nullptr || !value_->is_int()) return Expected("an integer");
  return value_->int_value();
}

absl::StatusOr<int64_t> JsonReader::Int(int64_t lo, int64_t hi) const {
  if (value_ == nullptr || !value_->is_int() || value_->int_value() < lo ||
      value_->int_value() > hi) {
    return Expected(absl::StrCat("an integer in [", lo, ", ", hi, "]"));
  }
  return value_->int_value();
}

absl::StatusOr<double> JsonReader::Number() const {
  if (value_ == nullptr || !value_->is_number()) return Expected("a number");
  if (!std::isfinite(value_->number_value()))
    return Expected("a finite number");
  return value_->number_value();
}

absl::StatusOr<bool> JsonReader::Bool() const {
  if (value_ == nullptr || !value_->is_bool()) return Expected("true or false");
  return value_->bool_value();
}

absl::StatusOr<std::string> JsonReader::String() const {
  if (value_ == nullptr || !value_->is_string()) return Expected("a string");
  return value_->string_value();
}

absl::StatusOr<JsonReader> JsonReader::Object() const {
  if (value_ == nullptr || !value_->is_object()) return Expected("an object");
  return *this;
}

absl::StatusOr<JsonReader> JsonReader::Array() const {
  if (value_ == nullptr || !value_->is_array()) return Expected("an array");
  return *this;
}

absl::StatusOr<int64_t> JsonReader::IntOr(int64_t fallback) const {
  if (value_ == nullptr) return fallback;
  return Int();
}

absl::StatusOr<int64_t> JsonReader::IntOr(int64_t fallback, int64_t lo,
                                          int64_t hi) const {
  if (value_ == nullptr) return fallback;
  return Int(lo, hi);
}

absl::StatusOr<double> JsonReader::NumberOr(double fallback) const {
  if (value_ == nullptr) return fallback;
  return Number();
}

absl::StatusOr<bool> JsonReader::BoolOr(bool fallback) const {
  if (value_ == nullptr) return fallback;
  return Bool();
}

absl::StatusOr<std::string> JsonReader::StringOr(std::string fallback) const {
  if (value_ == nullptr) return fallback;
  return String();
}

}  // namespace evald::base
