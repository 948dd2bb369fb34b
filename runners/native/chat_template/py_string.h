// File: runners/native/chat_template/py_string.h
// -----------------------------------------------------------------------------
// Python str semantics for the Jinja interpreter (internal): whitespace as
// str.isspace(), code-point aware strip/split/replace, case mapping (ASCII,
// Latin-1, Latin Extended-A, Greek and Cyrillic; other scripts pass through)
// and the title/capitalize variants of Python and jinja2. Pure functions;
// thread-safe.
#ifndef EVALD_RUNNERS_NATIVE_CHAT_TEMPLATE_PY_STRING_H_
#define EVALD_RUNNERS_NATIVE_CHAT_TEMPLATE_PY_STRING_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "runners/native/chat_template/value.h"

namespace evald::engine::jinja::py {

bool IsAscii(const std::string& s);
// Python's str.isspace() for one code point.
bool IsPyWhitespace(uint32_t c);

std::string Upper(std::string s);  // str.upper()
std::string Lower(std::string s);  // str.lower()
std::string Capitalize(const std::string& s);  // str.capitalize()
std::string PyTitle(const std::string& s);     // str.title()
// jinja2's title filter: words start after whitespace, '-' or an opening bracket.
std::string JinjaTitle(const std::string& s);

// str.strip/lstrip/rstrip: `chars` a string of code points, else whitespace.
std::string Strip(const std::string& s, const Value& chars, bool left, bool right);
// str.split(sep, maxsplit): `sep` a string, else runs of whitespace.
absl::StatusOr<Value> Split(const std::string& s, const Value& sep, const Value& maxsplit);
// str.replace(from, to, count); count < 0 replaces all. Fails past max_size.
absl::StatusOr<std::string> Replace(const std::string& s, const std::string& from, const std::string& to,
                                    int64_t count, size_t max_size);
// str.startswith / str.endswith with a string or a tuple of strings.
bool StartsOrEnds(const std::string& s, const Value& affix, bool ends);

}  // namespace evald::engine::jinja::py

#endif  // EVALD_RUNNERS_NATIVE_CHAT_TEMPLATE_PY_STRING_H_
