#include "daemon/version.h"

#include "absl/strings/str_cat.h"

#ifndef EVALD_VERSION
#define EVALD_VERSION "unknown"
#endif
#ifndef EVALD_GIT_COMMIT
#define EVALD_GIT_COMMIT "unknown"
#endif
#ifndef EVALD_BUILD_TYPE
#define EVALD_BUILD_TYPE "unknown"
#endif

namespace evald::daemon {

const char* Version() { return EVALD_VERSION; }
const char* GitCommit() { return EVALD_GIT_COMMIT; }
const char* BuildType() { return EVALD_BUILD_TYPE; }

std::string VersionLine() {
  return absl::StrCat("evald ", Version(), " (commit ", GitCommit(), ", ",
                      BuildType(), ")");
}

}  // namespace evald::daemon
