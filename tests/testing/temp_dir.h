// File: tests/testing/temp_dir.h
// -----------------------------------------------------------------------------
// A temporary directory that is removed (recursively) when the object dies.
#ifndef EVALD_TESTS_TESTING_TEMP_DIR_H_
#define EVALD_TESTS_TESTING_TEMP_DIR_H_

#include <string>

namespace evald::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string Join(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Directory holding evald's built programs (evald, evalctl, ...), from the
// EVALD_BIN_DIR environment variable that ctest sets.
std::string BinDir();

// Writes `contents` to `path`, creating parent directories. Aborts the test
// process on failure (test fixtures only).
void WriteTestFile(const std::string& path, const std::string& contents);

}  // namespace evald::testing

#endif  // EVALD_TESTS_TESTING_TEMP_DIR_H_
