// File: tests/py/python.cc
#include "tests/py/python.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file.h"
#include "base/utf8.h"
#include "tests/testing/temp_dir.h"

namespace evald::testing {

absl::StatusOr<std::string> RunPythonScript(const std::string& script) {
  constexpr char kPython[] = "/usr/bin/python3";
  if (::access(kPython, X_OK) != 0)
    return absl::NotFoundError(absl::StrCat("no ", kPython));
  TempDir dir;
  const std::string path = dir.Join("script.py");
  const std::string errors = dir.Join("stderr");
  WriteTestFile(path, script);
  FILE* pipe =
      ::popen(absl::StrCat(kPython, " ", path, " 2>", errors).c_str(), "r");
  if (pipe == nullptr)
    return absl::InternalError(absl::StrCat("cannot start ", kPython));
  std::string out;
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0)
    out.append(buffer, n);
  if (::pclose(pipe) != 0) {
    absl::StatusOr<std::string> stderr_text = base::ReadFileToString(errors);
    return absl::InternalError(
        absl::StrCat(kPython, " failed: ", stderr_text.ok() ? *stderr_text : "",
                     "\nscript:\n", script));
  }
  return out;
}

std::string PythonStrLiteral(absl::string_view s) {
  std::string out = "\"";
  for (size_t pos = 0; pos < s.size();) {
    const uint32_t cp = base::DecodeUtf8At(s, &pos);
    if (cp >= 0x20 && cp < 0x7f && cp != '"' && cp != '\\') {
      out.push_back(static_cast<char>(cp));
    } else {
      absl::StrAppendFormat(&out, "\\U%08x", cp);
    }
  }
  return out + "\"";
}

}  // namespace evald::testing
