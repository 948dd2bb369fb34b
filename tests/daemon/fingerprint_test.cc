#include "daemon/fingerprint.h"

#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/sha256.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::daemon {
namespace {

using ::evald::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// An in-memory cache that counts what it is asked.
class CountingCache : public FileHashCache {
 public:
  std::optional<std::string> Lookup(const std::string& path,
                                    const base::FileIdentity& id) override {
    ++lookups;
    auto it = entries.find(path);
    if (it == entries.end() || it->second.first.size != id.size ||
        it->second.first.mtime_ns != id.mtime_ns ||
        it->second.first.inode != id.inode) {
      return std::nullopt;
    }
    ++hits;
    return it->second.second;
  }
  void Remember(const std::string& path, const base::FileIdentity& id,
                const std::string& sha) override {
    entries[path] = {id, sha};
  }
  std::map<std::string, std::pair<base::FileIdentity, std::string>> entries;
  int lookups = 0;
  int hits = 0;
};

void WriteModel(const testing::TempDir& dir) {
  testing::WriteTestFile(dir.Join("m/config.json"),
                         R"({"architectures":["LlamaForCausalLM"]})");
  testing::WriteTestFile(dir.Join("m/model.safetensors"),
                         std::string(1000, '\x01'));
  testing::WriteTestFile(dir.Join("m/tokenizer.json"), "{}");
  testing::WriteTestFile(dir.Join("m/tokenizer_config.json"),
                         R"({"chat_template": "{{ messages }}"})");
  testing::WriteTestFile(dir.Join("m/README.md"), "not hashed");
}

TEST(FingerprintTest, HostFactsWithoutADriver) {
  v1::Fingerprint fp = CollectHostFingerprint();
  void* nvml = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (nvml == nullptr) {
    EXPECT_EQ(fp.driver_version(), "none");
    EXPECT_EQ(fp.gpus_size(), 0);
  } else {
    dlclose(nvml);
    EXPECT_NE(fp.driver_version(), "");
  }
  EXPECT_FALSE(fp.cpu_model().empty());
  EXPECT_FALSE(fp.git_commit().empty());
  EXPECT_THAT(fp.compiler(), HasSubstr("g++"));
  EXPECT_FALSE(fp.evald_version().empty());
  EXPECT_FALSE(fp.cuda_runtime_version().empty());
}

TEST(FingerprintTest, ModelFilesHashedAndCached) {
  testing::TempDir dir;
  WriteModel(dir);
  CountingCache cache;
  v1::ModelSpec spec;
  spec.set_path(dir.Join("m"));
  spec.set_dtype("auto");
  ASSERT_OK_AND_ASSIGN(v1::ModelFingerprint fp,
                       FingerprintModel("candidate", spec, &cache));
  ASSERT_EQ(fp.files_size(), 4);  // README.md is not a model file
  EXPECT_EQ(fp.files(0).name(), "config.json");
  EXPECT_EQ(fp.files(1).name(), "model.safetensors");
  EXPECT_EQ(fp.files(1).size(), 1000u);
  EXPECT_EQ(fp.files(1).sha256(), base::Sha256Hex(std::string(1000, '\x01')));
  EXPECT_EQ(fp.chat_template_sha256(), base::Sha256Hex("{{ messages }}"));
  EXPECT_EQ(cache.hits, 0);

  ASSERT_OK_AND_ASSIGN(v1::ModelFingerprint again,
                       FingerprintModel("candidate", spec, &cache));
  EXPECT_EQ(cache.hits, 4);
  EXPECT_EQ(ModelDigest(again), ModelDigest(fp));

  // A changed file is hashed again, and changes the model digest.
  testing::WriteTestFile(dir.Join("m/model.safetensors"),
                         std::string(1001, '\x02'));
  ASSERT_OK_AND_ASSIGN(v1::ModelFingerprint changed,
                       FingerprintModel("candidate", spec, &cache));
  EXPECT_EQ(cache.hits, 7);
  EXPECT_EQ(changed.files(1).sha256(),
            base::Sha256Hex(std::string(1001, '\x02')));
  EXPECT_NE(ModelDigest(changed), ModelDigest(fp));
}

// Each reading of the clock moves it on by a second, so with report_every of
// a second every read of a file is reported, without sleeping.
class SteppingClock : public base::Clock {
 public:
  int64_t NowUnixNanos() const override { return MonotonicNanos(); }
  int64_t MonotonicNanos() const override {
    return now_.fetch_add(1'000'000'000);
  }

 private:
  mutable std::atomic<int64_t> now_{0};
};

// Deterministic bytes, different per seed.
std::string Content(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>((i * 131 + seed * 7919 + i / 4093) & 0xff);
  return s;
}

constexpr absl::string_view kConfig =
    R"({"architectures":["LlamaForCausalLM"]})";

// A sharded checkpoint: config.json and shards of the given sizes.
std::vector<std::string> WriteShardedModel(const std::string& dir,
                                           const std::vector<size_t>& sizes) {
  std::vector<std::string> contents;
  testing::WriteTestFile(dir + "/config.json", std::string(kConfig));
  for (size_t i = 0; i < sizes.size(); ++i) {
    contents.push_back(Content(sizes[i], static_cast<int>(i)));
    testing::WriteTestFile(absl::StrCat(dir, "/model-0000", i + 1, "-of-0000",
                                        sizes.size(), ".safetensors"),
                           contents.back());
  }
  return contents;
}

v1::ModelSpec NativeModel(const std::string& path) {
  v1::ModelSpec spec;
  spec.set_path(path);
  spec.set_dtype("auto");
  return spec;
}

// Options for tests: small reads, reports on every read, nothing logged.
struct RecordingOptions {
  RecordingOptions() {
    options.read_buffer_bytes = 64 << 10;
    options.report_every = absl::Seconds(1);
    options.clock = &clock;
    options.activity = &activity;
    options.on_progress = [this](const HashingStatus& s) {
      std::lock_guard<std::mutex> lock(mu);
      reports.push_back(s);
      listed.push_back(activity.List().size());
      if (on_report) on_report(s);
    };
  }
  SteppingClock clock;
  HashActivity activity;
  HashOptions options;
  std::mutex mu;
  std::vector<HashingStatus> reports;
  std::vector<size_t>
      listed;  // how many jobs the activity listed at each report
  std::function<void(const HashingStatus&)> on_report;
};

TEST(FingerprintTest, ShardsHashedInParallelEqualOneAtATime) {
  testing::TempDir dir;
  const std::vector<std::string> contents = WriteShardedModel(
      dir.Join("m"), {300'000, 1'000'000, 65'536, 0, 777'777, 5});
  CountingCache cache;
  RecordingOptions parallel;
  parallel.options.max_threads = 4;
  ASSERT_OK_AND_ASSIGN(v1::ModelFingerprint fp,
                       FingerprintModel("candidate", NativeModel(dir.Join("m")),
                                        &cache, parallel.options));
  ASSERT_EQ(fp.files_size(), 7);
  EXPECT_EQ(fp.files(0).name(), "config.json");
  for (size_t i = 0; i < contents.size(); ++i) {
    EXPECT_EQ(fp.files(i + 1).size(), contents[i].size());
    EXPECT_EQ(fp.files(i + 1).sha256(), base::Sha256Hex(contents[i]))
        << fp.files(i + 1).name();
  }
  RecordingOptions serial;
  serial.options.max_threads = 1;
  ASSERT_OK_AND_ASSIGN(v1::ModelFingerprint one,
                       FingerprintModel("candidate", NativeModel(dir.Join("m")),
                                        nullptr, serial.options));
  EXPECT_EQ(one.SerializeAsString(), fp.SerializeAsString());
  EXPECT_EQ(cache.entries.size(), 7u);
}

TEST(FingerprintTest, ProgressIsReportedAndListedWhileHashing) {
  testing::TempDir dir;
  const std::vector<std::string> contents =
      WriteShardedModel(dir.Join("m"), {500'000, 400'000});
  const uint64_t total = 500'000 + 400'000 + kConfig.size();
  RecordingOptions rec;
  rec.options.max_threads = 2;
  ASSERT_OK(FingerprintModel("candidate", NativeModel(dir.Join("m")), nullptr,
                             rec.options));
  ASSERT_GE(rec.reports.size(), 900'000u / (64 << 10));
  // Bytes only grow (reports come from two threads, so in the order made).
  uint64_t max_seen = 0;
  for (const HashingStatus& s : rec.reports) {
    EXPECT_EQ(s.what, "candidate model " + dir.Join("m"));
    EXPECT_EQ(s.bytes_total, total);
    EXPECT_EQ(s.files_total, 3);
    EXPECT_LE(s.bytes_done, total);
    max_seen = std::max(max_seen, s.bytes_done);
  }
  EXPECT_EQ(max_seen, total);
  // The last report is the summary: everything, and a rate.
  const HashingStatus& last = rec.reports.back();
  EXPECT_EQ(last.bytes_done, total);
  EXPECT_EQ(last.files_done, 3);
  EXPECT_GT(last.elapsed_s, 0);
  EXPECT_GT(last.bytes_per_s(), 0);
  EXPECT_THAT(FormatHashingStatus(last),
              HasSubstr("hashed candidate model " + dir.Join("m") +
                        ": 0.0 of 0.0 GB (3 of 3 files)"));
  // Listed while it ran, gone once it returned.
  for (size_t n : rec.listed) EXPECT_EQ(n, 1u);
  EXPECT_TRUE(rec.activity.List().empty());
}

TEST(FingerprintTest, ASecondFingerprintOfTheSameFolderReadsNothing) {
  testing::TempDir dir;
  WriteShardedModel(dir.Join("m"), {1'000'000, 1'000'000, 1'000'000});
  CountingCache cache;
  RecordingOptions first;
  ASSERT_OK_AND_ASSIGN(v1::ModelFingerprint fp,
                       FingerprintModel("candidate", NativeModel(dir.Join("m")),
                                        &cache, first.options));
  EXPECT_FALSE(first.reports.empty());
  RecordingOptions second;
  ASSERT_OK_AND_ASSIGN(v1::ModelFingerprint again,
                       FingerprintModel("candidate", NativeModel(dir.Join("m")),
                                        &cache, second.options));
  EXPECT_EQ(again.SerializeAsString(), fp.SerializeAsString());
  EXPECT_EQ(cache.hits, 4);
  // Not one byte read, so not one report.
  EXPECT_TRUE(second.reports.empty());
}

TEST(FingerprintTest, AFileRemovedWhileHashedIsNamedAndNotCached) {
  testing::TempDir dir;
  WriteShardedModel(dir.Join("m"), {1'000'000, 500'000});
  const std::string big = dir.Join("m/model-00001-of-00002.safetensors");
  const std::string medium = dir.Join("m/model-00002-of-00002.safetensors");
  CountingCache cache;
  RecordingOptions rec;
  rec.options.max_threads =
      1;  // largest first: the big shard, then the medium one
  bool removed = false;
  rec.on_report = [&](const HashingStatus& s) {
    // Once the big shard is done and the medium one is being read.
    if (!removed && s.bytes_done > 1'000'000) {
      ASSERT_EQ(std::remove(medium.c_str()), 0);
      removed = true;
    }
  };
  EXPECT_THAT(
      FingerprintModel("candidate", NativeModel(dir.Join("m")), &cache,
                       rec.options),
      StatusIs(absl::StatusCode::kNotFound,
               HasSubstr(medium + ": removed while it was being hashed")));
  EXPECT_TRUE(removed);
  // The shard that completed is remembered; the one that failed, and
  // config.json (never started: the failure stopped the pool), are not.
  std::vector<std::string> cached;
  for (const auto& [path, entry] : cache.entries) cached.push_back(path);
  EXPECT_THAT(cached, ElementsAre(big));
  EXPECT_TRUE(rec.activity.List().empty());
}

TEST(FingerprintTest, ShardsTruncatedWhileHashedFailWithoutCaching) {
  testing::TempDir dir;
  WriteShardedModel(dir.Join("m"),
                    {2'000'000, 2'000'000, 2'000'000, 2'000'000});
  CountingCache cache;
  RecordingOptions rec;
  rec.options.max_threads = 2;
  // At the first report (after one read) every shard is cut short: the two
  // being read fail at their next read, the two not started would fail when
  // they were (their size no longer matches). Which thread fails first is up
  // to the scheduler, so the test asks only what does not depend on it: the
  // error names a shard, and nothing (not even config.json, which no thread
  // reaches) is cached.
  bool truncated = false;
  rec.on_report = [&](const HashingStatus&) {
    if (truncated) return;
    for (int i = 1; i <= 4; ++i) {
      const std::string shard =
          dir.Join(absl::StrCat("m/model-0000", i, "-of-00004.safetensors"));
      ASSERT_EQ(::truncate(shard.c_str(), 10), 0);
    }
    truncated = true;
  };
  EXPECT_THAT(FingerprintModel("candidate", NativeModel(dir.Join("m")), &cache,
                               rec.options),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::MatchesRegex(
                           ".*/m/model-0000[1-4]-of-00004.safetensors: "
                           "changed while it was being hashed.*")));
  EXPECT_TRUE(truncated);
  EXPECT_TRUE(cache.entries.empty());
  EXPECT_TRUE(rec.activity.List().empty());
}

TEST(FingerprintTest, MissingModelFolderIsNamed) {
  testing::TempDir dir;
  v1::ModelSpec spec;
  spec.set_path(dir.Join("absent"));
  EXPECT_THAT(
      FingerprintModel("candidate", spec, nullptr),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr(dir.Join("absent"))));
  testing::WriteTestFile(dir.Join("empty/x.txt"), "x");
  spec.set_path(dir.Join("empty"));
  EXPECT_THAT(
      FingerprintModel("candidate", spec, nullptr),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("no config.json")));
}

TEST(FingerprintTest, PinsReportFieldExpectedAndFound) {
  v1::Fingerprint fp;
  fp.set_driver_version("none");
  fp.set_cuda_runtime_version("none");
  fp.set_cuda_toolkit_version("12.4.1");
  v1::TaskFingerprint* t = fp.add_tasks();
  t->set_name("mmlu");
  v1::FileHash* f = t->add_dataset_files();
  f->set_name("/d/mmlu/test.csv");
  f->set_sha256(std::string(64, 'a'));

  v1::PinSpec pin;
  pin.set_cuda("12.4");  // matches 12.4.1
  (*pin.mutable_datasets())["mmlu"] = "sha256:" + std::string(64, 'a');
  EXPECT_TRUE(CheckPins(pin, fp).empty());

  pin.set_driver("580.159.04");
  (*pin.mutable_datasets())["mmlu"] = "sha256:" + std::string(64, 'b');
  std::vector<v1::Drift> drift = CheckPins(pin, fp);
  ASSERT_EQ(drift.size(), 2u);
  EXPECT_EQ(drift[0].field(), "pin.driver");
  EXPECT_EQ(drift[0].expected(), "580.159.04");
  EXPECT_EQ(drift[0].found(), "none");
  EXPECT_EQ(drift[1].field(), "pin.datasets.mmlu");
  EXPECT_EQ(drift[1].expected(), "sha256:" + std::string(64, 'b'));
  EXPECT_EQ(drift[1].found(), "sha256:" + std::string(64, 'a'));

  v1::PinSpec cuda_pin;
  cuda_pin.set_cuda("12.4.2");
  ASSERT_EQ(CheckPins(cuda_pin, fp).size(), 1u);
}

}  // namespace
}  // namespace evald::daemon
