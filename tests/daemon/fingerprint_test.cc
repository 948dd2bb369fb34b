#include "daemon/fingerprint.h"

#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "base/sha256.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::daemon {
namespace {

using ::evald::testing::StatusIs;
using ::testing::HasSubstr;

// An in-memory cache that counts what it is asked.
class CountingCache : public FileHashCache {
 public:
  std::optional<std::string> Lookup(const std::string& path,
                                    const base::FileIdentity& id) override {
    ++lookups;
    auto it = entries.find(path);
    if (it == entries.end() || it->second.first.size != id.size ||
        it->second.first.mtime_ns != id.mtime_ns || it->second.first.inode != id.inode) {
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
  testing::WriteTestFile(dir.Join("m/config.json"), R"({"architectures":["LlamaForCausalLM"]})");
  testing::WriteTestFile(dir.Join("m/model.safetensors"), std::string(1000, '\x01'));
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
  ASSERT_OK_AND_ASSIGN(v1::ModelFingerprint fp, FingerprintModel("candidate", spec, &cache));
  ASSERT_EQ(fp.files_size(), 4);  // README.md is not a model file
  EXPECT_EQ(fp.files(0).name(), "config.json");
  EXPECT_EQ(fp.files(1).name(), "model.safetensors");
  EXPECT_EQ(fp.files(1).size(), 1000u);
  EXPECT_EQ(fp.files(1).sha256(), base::Sha256Hex(std::string(1000, '\x01')));
  EXPECT_EQ(fp.chat_template_sha256(), base::Sha256Hex("{{ messages }}"));
  EXPECT_EQ(cache.hits, 0);

  ASSERT_OK_AND_ASSIGN(v1::ModelFingerprint again, FingerprintModel("candidate", spec, &cache));
  EXPECT_EQ(cache.hits, 4);
  EXPECT_EQ(ModelDigest(again), ModelDigest(fp));

  // A changed file is hashed again, and changes the model digest.
  testing::WriteTestFile(dir.Join("m/model.safetensors"), std::string(1001, '\x02'));
  ASSERT_OK_AND_ASSIGN(v1::ModelFingerprint changed, FingerprintModel("candidate", spec, &cache));
  EXPECT_EQ(cache.hits, 7);
  EXPECT_EQ(changed.files(1).sha256(), base::Sha256Hex(std::string(1001, '\x02')));
  EXPECT_NE(ModelDigest(changed), ModelDigest(fp));
}

TEST(FingerprintTest, MissingModelFolderIsNamed) {
  testing::TempDir dir;
  v1::ModelSpec spec;
  spec.set_path(dir.Join("absent"));
  EXPECT_THAT(FingerprintModel("candidate", spec, nullptr),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(dir.Join("absent"))));
  testing::WriteTestFile(dir.Join("empty/x.txt"), "x");
  spec.set_path(dir.Join("empty"));
  EXPECT_THAT(FingerprintModel("candidate", spec, nullptr),
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
