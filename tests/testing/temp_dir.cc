#include "tests/testing/temp_dir.h"

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "base/logging.h"

namespace evald::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl =
      std::string(base && *base ? base : "/tmp") + "/evald_test_XXXXXX";
  char* made = ::mkdtemp(tmpl.data());
  CHECK(made != nullptr) << "mkdtemp failed for " << tmpl;
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string BinDir() {
  const char* dir = std::getenv("EVALD_BIN_DIR");
  return dir && *dir ? dir : "build/bin";
}

void WriteTestFile(const std::string& path, const std::string& contents) {
  std::filesystem::create_directories(
      std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  CHECK(out.good()) << "cannot write " << path;
  out << contents;
  CHECK(out.good()) << "cannot write " << path;
}

}  // namespace evald::testing
