// File: jinja/py_string.h
// -----------------------------------------------------------------------------
// The Jinja interpreter's side of Python's str methods (internal): the
// argument handling of strip/split/replace/startswith on template Values, and
// jinja2's own title filter. The str semantics themselves (whitespace, case
// mapping, character classes) are py/str.h's. Pure functions; thread-safe.
#ifndef EVALD_JINJA_PY_STRING_H_
#define EVALD_JINJA_PY_STRING_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "jinja/value.h"

namespace evald::jinja::pystr {

bool IsAscii(const std::string& s);

// jinja2's title filter: each run between whitespace, '-' and opening
// brackets gets its first character uppercased and the rest lowercased.
std::string JinjaTitle(const std::string& s);

// str.strip/lstrip/rstrip: `chars` a string of code points, else whitespace.
std::string Strip(const std::string& s, const Value& chars, bool left,
                  bool right);
// str.split(sep, maxsplit): `sep` a string, else runs of whitespace.
absl::StatusOr<Value> Split(const std::string& s, const Value& sep,
                            const Value& maxsplit);
// str.replace(from, to, count); count < 0 replaces all. Fails past max_size.
absl::StatusOr<std::string> Replace(const std::string& s,
                                    const std::string& from,
                                    const std::string& to, int64_t count,
                                    size_t max_size);
// str.startswith / str.endswith with a string or a tuple of strings.
bool StartsOrEnds(const std::string& s, const Value& affix, bool ends);

}  // namespace evald::jinja::pystr

#endif  // EVALD_JINJA_PY_STRING_H_
