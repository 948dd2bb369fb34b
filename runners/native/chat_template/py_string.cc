#include "runners/native/chat_template/py_string.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/utf8.h"

namespace evald::engine::jinja::py {
namespace {

using Cps = std::vector<uint32_t>;

absl::Status CheckSize(size_t n, size_t max_size) {
  if (n > max_size) {
    return absl::ResourceExhaustedError(absl::StrCat("string of ", n, " bytes exceeds the limit of ", max_size));
  }
  return absl::OkStatus();
}

// Simple case mapping for ASCII, Latin-1, Latin Extended-A, Greek and
// Cyrillic (Python maps all of Unicode; other scripts pass through).
uint32_t ToUpperCp(uint32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c < 0x80) return c;
  if (c == 0xB5) return 0x39C;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 0x20;
  if (c == 0xFF) return 0x178;
  if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c & 1 ? c - 1 : c;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return c & 1 ? c : c - 1;
  if (c == 0x131) return 'I';
  if (c == 0x17F) return 'S';
  if (c == 0x3C2) return 0x3A3;
  if (c >= 0x3B1 && c <= 0x3C9) return c - 0x20;
  if (c == 0x3AC) return 0x386;
  if (c >= 0x3AD && c <= 0x3AF) return c - 0x25;
  if (c == 0x3CC) return 0x38C;
  if (c == 0x3CD || c == 0x3CE) return c - 0x3F;
  if (c >= 0x430 && c <= 0x44F) return c - 0x20;
  if (c >= 0x450 && c <= 0x45F) return c - 0x50;
  return c;
}

uint32_t ToLowerCp(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0x80) return c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;
  if (c == 0x178) return 0xFF;
  if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c & 1 ? c : c + 1;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return c & 1 ? c + 1 : c;
  if (c == 0x130) return 'i';
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 0x20;
  if (c == 0x386) return 0x3AC;
  if (c >= 0x388 && c <= 0x38A) return c + 0x25;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 0x3F;
  if (c >= 0x410 && c <= 0x42F) return c + 0x20;
  if (c >= 0x400 && c <= 0x40F) return c + 0x50;
  return c;
}

bool IsCasedCp(uint32_t c) { return ToUpperCp(c) != c || ToLowerCp(c) != c || c == 0xDF; }

}  // namespace

bool IsAscii(const std::string& s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

// Python's str.isspace() set.
bool IsPyWhitespace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
         c == 0x3000;
}

std::string Upper(std::string s) {
  if (IsAscii(s)) {
    for (char& c : s) c = absl::ascii_toupper(static_cast<unsigned char>(c));
    return s;
  }
  std::string out;
  for (uint32_t c : base::DecodeUtf8(s)) {
    if (c == 0xDF) {
      out += "SS";
    } else {
      base::AppendUtf8(ToUpperCp(c), &out);
    }
  }
  return out;
}
std::string Lower(std::string s) {
  if (IsAscii(s)) {
    for (char& c : s) c = absl::ascii_tolower(static_cast<unsigned char>(c));
    return s;
  }
  std::string out;
  for (uint32_t c : base::DecodeUtf8(s)) base::AppendUtf8(ToLowerCp(c), &out);
  return out;
}

std::string Capitalize(const std::string& s) {
  Cps cps = base::DecodeUtf8(s);
  std::string out;
  for (size_t i = 0; i < cps.size(); ++i) base::AppendUtf8(i == 0 ? ToUpperCp(cps[i]) : ToLowerCp(cps[i]), &out);
  return out;
}

// Python str.title(): a letter after a non-letter starts a word.
std::string PyTitle(const std::string& s) {
  std::string out;
  bool prev_cased = false;
  for (uint32_t c : base::DecodeUtf8(s)) {
    const bool cased = IsCasedCp(c);
    base::AppendUtf8(cased ? (prev_cased ? ToLowerCp(c) : ToUpperCp(c)) : c, &out);
    prev_cased = cased;
  }
  return out;
}

// jinja2's title filter: words start after whitespace, '-', or an opening bracket.
std::string JinjaTitle(const std::string& s) {
  std::string out;
  bool start = true;
  for (uint32_t c : base::DecodeUtf8(s)) {
    const bool sep = IsPyWhitespace(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    if (sep) {
      start = true;
      base::AppendUtf8(c, &out);
      continue;
    }
    base::AppendUtf8(start ? ToUpperCp(c) : ToLowerCp(c), &out);
    start = false;
  }
  return out;
}

// Strips code points in `chars` (or Python whitespace when chars is null).
std::string Strip(const std::string& s, const Value& chars, bool left, bool right) {
  Cps cps = base::DecodeUtf8(s);
  Cps set;
  const bool custom = chars.is_string();
  if (custom) set = base::DecodeUtf8(chars.string_value());
  auto strip_it = [&](uint32_t c) {
    return custom ? std::find(set.begin(), set.end(), c) != set.end() : IsPyWhitespace(c);
  };
  size_t b = 0, e = cps.size();
  if (left) {
    while (b < e && strip_it(cps[b])) ++b;
  }
  if (right) {
    while (e > b && strip_it(cps[e - 1])) --e;
  }
  return base::EncodeUtf8(Cps(cps.begin() + b, cps.begin() + e));
}

absl::StatusOr<Value> Split(const std::string& s, const Value& sep, const Value& maxsplit_v) {
  int64_t maxsplit = maxsplit_v.is_int() ? maxsplit_v.int_value() : -1;
  ValueList parts;
  if (!sep.is_string()) {
    Cps cps = base::DecodeUtf8(s);
    size_t i = 0;
    while (true) {
      while (i < cps.size() && IsPyWhitespace(cps[i])) ++i;
      if (i >= cps.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        size_t e = cps.size();
        while (e > i && IsPyWhitespace(cps[e - 1])) --e;
        parts.push_back(Value::String(base::EncodeUtf8(Cps(cps.begin() + i, cps.begin() + e))));
        break;
      }
      size_t j = i;
      while (j < cps.size() && !IsPyWhitespace(cps[j])) ++j;
      parts.push_back(Value::String(base::EncodeUtf8(Cps(cps.begin() + i, cps.begin() + j))));
      i = j;
    }
    return Value::List(std::move(parts));
  }
  const std::string& d = sep.string_value();
  if (d.empty()) return absl::InvalidArgumentError("split: empty separator");
  size_t start = 0;
  while (true) {
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) break;
    const size_t at = s.find(d, start);
    if (at == std::string::npos) break;
    parts.push_back(Value::String(s.substr(start, at - start)));
    start = at + d.size();
  }
  parts.push_back(Value::String(s.substr(start)));
  return Value::List(std::move(parts));
}

absl::StatusOr<std::string> Replace(const std::string& s, const std::string& from, const std::string& to,
                                    int64_t count, size_t max_size) {
  std::string out;
  int64_t done = 0;
  if (from.empty()) {
    // Python inserts `to` between every code point and at both ends.
    Cps cps = base::DecodeUtf8(s);
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (count < 0 || done < count) {
        out += to;
        ++done;
      }
      if (i < cps.size()) base::AppendUtf8(cps[i], &out);
      RETURN_IF_ERROR(CheckSize(out.size(), max_size));
    }
    return out;
  }
  size_t start = 0;
  while (count < 0 || done < count) {
    const size_t at = s.find(from, start);
    if (at == std::string::npos) break;
    out.append(s, start, at - start);
    out += to;
    start = at + from.size();
    ++done;
    RETURN_IF_ERROR(CheckSize(out.size(), max_size));
  }
  out.append(s, start);
  return out;
}

bool StartsOrEnds(const std::string& s, const Value& affix, bool ends) {
  auto one = [&](const std::string& a) {
    if (a.size() > s.size()) return false;
    return ends ? s.compare(s.size() - a.size(), a.size(), a) == 0 : s.compare(0, a.size(), a) == 0;
  };
  if (affix.is_string()) return one(affix.string_value());
  if (affix.is_list()) {
    for (const Value& v : affix.list()) {
      if (v.is_string() && one(v.string_value())) return true;
    }
  }
  return false;
}

}  // namespace evald::engine::jinja::py
