// File: tests/py/python.h
// -----------------------------------------------------------------------------
// CPython as the reference for tests/py: runs a script with /usr/bin/python3
// (scripts/install-deps.sh installs it) and returns what it printed.
#ifndef EVALD_TESTS_PY_PYTHON_H_
#define EVALD_TESTS_PY_PYTHON_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace evald::testing {

// NotFound when this machine has no /usr/bin/python3 (the caller skips the
// comparison and says so); Internal, with Python's stderr, when the script
// fails.
absl::StatusOr<std::string> RunPythonScript(const std::string& script);

// A Python str literal of the UTF-8 text `s`: printable ASCII as it is, every
// other code point as \UXXXXXXXX (a JSON string would split astral ones into
// surrogate pairs, which Python keeps as two characters).
std::string PythonStrLiteral(absl::string_view s);

}  // namespace evald::testing

#endif  // EVALD_TESTS_PY_PYTHON_H_
