#include "tests/daemon/evald_test_base.h"

#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace evald::testing {

void EvaldTestBase::StartDaemon(std::vector<std::string> extra) {
  daemon_ = std::make_unique<DaemonProcess>();
  extra.insert(extra.begin(), {"--threads", "2"});
  ASSERT_TRUE(daemon_->Start(data_dir_, extra)) << daemon_->log();
}

ProcessResult EvaldTestBase::Ctl(std::vector<std::string> args, int timeout_s) {
  args.insert(args.begin(), {BinDir() + "/evalctl", "--addr", addr_});
  return RunProcess(args, {}, timeout_s);
}

ProcessResult EvaldTestBase::Offline(std::vector<std::string> args) {
  args.insert(args.begin(), {BinDir() + "/evalctl", "--data-dir", data_dir_});
  return RunProcess(args, {}, 120);
}

std::string EvaldTestBase::Submit(const std::string& suite,
                                  std::vector<std::string> extra) {
  std::vector<std::string> args = {"submit", suite};
  args.insert(args.end(), extra.begin(), extra.end());
  ProcessResult r = Ctl(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return std::string(absl::StripAsciiWhitespace(r.out));
}

base::Json EvaldTestBase::Json(const ProcessResult& r) {
  auto json = base::ParseJson(r.out);
  EXPECT_TRUE(json.ok()) << r.out << r.err;
  return json.ok() ? *json : base::Json();
}

base::Json EvaldTestBase::Results(const std::string& run, bool offline) {
  return Json(offline ? Offline({"--json", "results", run})
                      : Ctl({"--json", "results", run}));
}

const base::Json* EvaldTestBase::Path(const base::Json& j,
                                      std::initializer_list<const char*> keys) {
  const base::Json* at = &j;
  for (const char* k : keys) {
    at = at->is_object() ? at->Find(k) : nullptr;
    if (at == nullptr) return nullptr;
  }
  return at;
}

std::string EvaldTestBase::Str(const base::Json& j,
                               std::initializer_list<const char*> keys) {
  const base::Json* at = Path(j, keys);
  return at != nullptr && at->is_string() ? at->string_value() : "";
}

int64_t EvaldTestBase::Int(const base::Json* j) {
  if (j == nullptr) return 0;
  if (j->is_int()) return j->int_value();
  int64_t v = 0;
  if (j->is_string()) (void)absl::SimpleAtoi(j->string_value(), &v);
  return v;
}

int64_t EvaldTestBase::Done(const base::Json& results) {
  int64_t done = 0;
  const base::Json* progress = Path(results, {"run", "progress"});
  if (progress == nullptr || !progress->is_array()) return 0;
  for (const base::Json& p : progress->array()) done += Int(p.Find("done"));
  return done;
}

bool EvaldTestBase::WaitFor(const std::function<bool()>& predicate,
                            int timeout_s) {
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace evald::testing
