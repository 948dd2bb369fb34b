// File: jinja/py_string.cc
#include "jinja/py_string.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/utf8.h"
#include "py/str.h"

namespace evald::jinja::pystr {
namespace {

using Cps = std::vector<uint32_t>;

absl::Status CheckSize(size_t n, size_t max_size) {
  if (n > max_size) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "string of ", n, " bytes exceeds the limit of ", max_size));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsAscii(const std::string& s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

// jinja2's do_title: "".join(item[0].upper() + item[1:].lower() for item in
// re.split(r"([-\s({\[<]+)", s) if item). Separator runs have no case, so
// only the runs between them change.
std::string JinjaTitle(const std::string& s) {
  auto is_separator = [](uint32_t c) {
    return py::IsSpace(c) || c == '-' || c == '(' || c == '{' || c == '[' ||
           c == '<';
  };
  std::string out;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t start = pos;
    const bool separator = is_separator(base::DecodeUtf8At(s, &pos));
    while (pos < s.size()) {
      size_t next = pos;
      if (is_separator(base::DecodeUtf8At(s, &next)) != separator) break;
      pos = next;
    }
    const absl::string_view item =
        absl::string_view(s).substr(start, pos - start);
    if (separator) {
      absl::StrAppend(&out, item);
      continue;
    }
    size_t first = 0;
    base::DecodeUtf8At(item, &first);
    absl::StrAppend(&out, py::Upper(item.substr(0, first)),
                    py::Lower(item.substr(first)));
  }
  return out;
}

std::string Strip(const std::string& s, const Value& chars, bool left,
                  bool right) {
  // str.strip(None) strips whitespace; any other non-string is a TypeError in
  // Python, and whitespace here.
  absl::string_view out = s;
  if (chars.is_string()) {
    if (left) out = py::LStrip(out, chars.string_value());
    if (right) out = py::RStrip(out, chars.string_value());
  } else {
    if (left) out = py::LStrip(out);
    if (right) out = py::RStrip(out);
  }
  return std::string(out);
}

absl::StatusOr<Value> Split(const std::string& s, const Value& sep,
                            const Value& maxsplit_v) {
  const int64_t maxsplit = maxsplit_v.is_int() ? maxsplit_v.int_value() : -1;
  if (sep.is_string() && sep.string_value().empty())
    return absl::InvalidArgumentError("split: empty separator");
  ValueList parts;
  for (std::string& part : sep.is_string()
                               ? py::Split(s, sep.string_value(), maxsplit)
                               : py::SplitWhitespace(s, maxsplit)) {
    parts.push_back(Value::String(std::move(part)));
  }
  return Value::List(std::move(parts));
}

absl::StatusOr<std::string> Replace(const std::string& s,
                                    const std::string& from,
                                    const std::string& to, int64_t count,
                                    size_t max_size) {
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
    return ends ? s.compare(s.size() - a.size(), a.size(), a) == 0
                : s.compare(0, a.size(), a) == 0;
  };
  if (affix.is_string()) return one(affix.string_value());
  if (affix.is_list()) {
    for (const Value& v : affix.list()) {
      if (v.is_string() && one(v.string_value())) return true;
    }
  }
  return false;
}

}  // namespace evald::jinja::pystr
