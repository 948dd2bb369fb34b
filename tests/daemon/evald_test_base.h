// File: tests/daemon/evald_test_base.h
// -----------------------------------------------------------------------------
// What the end-to-end tests share: a real evald on a temp data dir, evalctl
// against it (through the daemon or offline on the store), and readers of
// its --json output.
#ifndef EVALD_TESTS_DAEMON_EVALD_TEST_BASE_H_
#define EVALD_TESTS_DAEMON_EVALD_TEST_BASE_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "base/json.h"
#include "tests/daemon/process.h"
#include "tests/testing/temp_dir.h"

namespace evald::testing {

class EvaldTestBase : public ::testing::Test {
 protected:
  // (Re)starts evald on data_dir_ with --threads 2 and `extra` flags.
  void StartDaemon(std::vector<std::string> extra = {});

  // evalctl through the daemon, or offline on the stopped daemon's store.
  ProcessResult Ctl(std::vector<std::string> args, int timeout_s = 300);
  ProcessResult Offline(std::vector<std::string> args);
  // `submit SUITE extra...`, expecting success; the run id.
  std::string Submit(const std::string& suite,
                     std::vector<std::string> extra = {});
  // stdout parsed as JSON (a failure is recorded when it does not parse).
  base::Json Json(const ProcessResult& r);
  // `results RUN --json`, parsed.
  base::Json Results(const std::string& run, bool offline = false);

  // The value at a path of object keys, or null.
  static const base::Json* Path(const base::Json& j,
                                std::initializer_list<const char*> keys);
  static std::string Str(const base::Json& j,
                         std::initializer_list<const char*> keys);
  // An int64 as JSON prints it (a number, or a string for 64-bit values).
  static int64_t Int(const base::Json* j);
  static std::string State(const base::Json& results) {
    return Str(results, {"run", "state"});
  }
  // Documents stored over every task of a `results` reply.
  static int64_t Done(const base::Json& results);
  // Polls `predicate` every 50 ms until it holds or `timeout_s` passes.
  static bool WaitFor(const std::function<bool()>& predicate,
                      int timeout_s = 240);

  TempDir tmp_;
  const std::string data_dir_ = tmp_.Join("data");
  const std::string addr_ = "unix:" + data_dir_ + "/evald.sock";
  std::unique_ptr<DaemonProcess> daemon_;
};

}  // namespace evald::testing

#endif  // EVALD_TESTS_DAEMON_EVALD_TEST_BASE_H_
