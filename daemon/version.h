// File: daemon/version.h
// -----------------------------------------------------------------------------
// The version, commit and build type baked into this build, in one place for
// evald and evalctl (`--version`). The values are compile definitions of
// version.cc only, so a new commit recompiles one file.
//
// Thread-safety: constants.
#ifndef EVALD_DAEMON_VERSION_H_
#define EVALD_DAEMON_VERSION_H_

#include <string>

namespace evald::daemon {

// "0.1.0"; the project version of CMakeLists.txt.
const char* Version();
// The short git commit the build was configured at, or "unknown".
const char* GitCommit();
// CMAKE_BUILD_TYPE: "Release", "Debug", ...
const char* BuildType();
// "evald 0.1.0 (commit 1a2b3c4d5e6f, Release)": what `--version` prints.
std::string VersionLine();

}  // namespace evald::daemon

#endif  // EVALD_DAEMON_VERSION_H_
