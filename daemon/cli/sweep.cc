// File: daemon/cli/sweep.cc
// -----------------------------------------------------------------------------
#include "daemon/cli/sweep.h"

#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "base/file.h"
#include "base/natural_order.h"
#include "base/status_macros.h"

namespace evald::daemon::cli {
namespace {

namespace fs = std::filesystem;

absl::Status Bad(absl::string_view value, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("--sweep ", value, ": ", what));
}

absl::StatusOr<std::vector<std::string>> Glob(absl::string_view value,
                                              const std::string& pattern) {
  glob_t g{};
  const int rc = glob(pattern.c_str(), 0, nullptr, &g);
  std::vector<std::string> paths;
  if (rc == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) paths.emplace_back(g.gl_pathv[i]);
  }
  globfree(&g);
  if (rc == GLOB_NOMATCH || (rc == 0 && paths.empty())) {
    return Bad(value, absl::StrCat("'", pattern, "' matches no path"));
  }
  if (rc != 0) return Bad(value, absl::StrCat("cannot read '", pattern, "'"));
  return paths;
}

absl::StatusOr<std::vector<std::string>> ListFile(absl::string_view value,
                                                  const std::string& file) {
  auto text = base::ReadFileToString(file);
  if (!text.ok()) {
    return Bad(value, absl::StrCat("cannot read the list ", file));
  }
  std::vector<std::string> paths;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    paths.emplace_back(line);
  }
  if (paths.empty()) {
    return Bad(value, absl::StrCat(file, " lists no path"));
  }
  return paths;
}

}  // namespace

absl::StatusOr<Sweep> ExpandSweep(absl::string_view value) {
  const size_t eq = value.find('=');
  if (eq == absl::string_view::npos) {
    return Bad(value,
               "expected FIELD=GLOB or FIELD=@FILE, e.g. "
               "candidate.model=/ckpts/step-*");
  }
  Sweep sweep;
  sweep.field = std::string(value.substr(0, eq));
  const std::string source(value.substr(eq + 1));
  if (sweep.field != "candidate.model" && sweep.field != "judge.model") {
    return Bad(value, absl::StrCat("'", sweep.field,
                                   "' is not a model path; a sweep varies "
                                   "candidate.model or judge.model"));
  }
  if (source.empty() || source == "@") return Bad(value, "no paths given");
  std::vector<std::string> paths;
  if (source[0] == '@') {
    ASSIGN_OR_RETURN(paths, ListFile(value, source.substr(1)));
  } else {
    ASSIGN_OR_RETURN(paths, Glob(value, source));
  }
  std::set<std::string> seen;
  for (const std::string& p : paths) {
    std::error_code ec;
    std::string abs = fs::absolute(p, ec).lexically_normal().string();
    if (ec) abs = p;
    while (abs.size() > 1 && abs.back() == '/') abs.pop_back();
    if (!base::IsDirectory(abs)) {
      return Bad(value, absl::StrCat(abs, ": not a checkpoint folder (",
                                     base::PathExists(abs) ? "not a folder"
                                                           : "no such path",
                                     ")"));
    }
    if (!base::PathExists(abs + "/config.json")) {
      return Bad(value, absl::StrCat(abs,
                                     ": not a checkpoint folder (no "
                                     "config.json)"));
    }
    if (!seen.insert(abs).second) {
      return Bad(value, absl::StrCat(abs, ": listed twice"));
    }
    sweep.points.push_back({abs, fs::path(abs).filename().string()});
  }
  std::sort(sweep.points.begin(), sweep.points.end(),
            [](const SweepPoint& a, const SweepPoint& b) {
              return base::NaturalLess(a.path, b.path);
            });
  return sweep;
}

std::string DefaultSweepName(absl::string_view suite_name, absl::Time now) {
  return absl::StrCat(
      suite_name, "-",
      absl::FormatTime("%Y%m%dT%H%M%SZ", now, absl::UTCTimeZone()));
}

}  // namespace evald::daemon::cli
