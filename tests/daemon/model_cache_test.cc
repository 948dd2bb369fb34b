// The resident-model cache over the real native engine and tiny checkpoints.
#include "daemon/model_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/clock.h"
#include "tests/daemon/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::daemon {
namespace {

using ::evald::testing::StatusIs;
using ::testing::HasSubstr;

v1::ModelSpec Native(const std::string& path) {
  v1::ModelSpec m;
  m.set_path(path);
  m.set_dtype("auto");
  return m;
}

TEST(ModelCacheTest, KeepsModelsResidentAndEvictsLeastRecentlyUsed) {
  testing::TempDir dir;
  for (const char* name : {"a", "b"}) {
    testing::ProcessResult made = testing::RunProcess(
        {testing::BinDir() + "/evald-make-checkpoint", "--preset", "tiny",
         "--seed", name[0] == 'a' ? "1" : "2", "--out", dir.Join(name)});
    ASSERT_EQ(made.exit_code, 0) << made.err;
  }
  ModelCache cache(DefaultRunnerFactory(/*num_threads=*/1), /*max_resident=*/1,
                   base::Clock::Real());
  ASSERT_OK_AND_ASSIGN(ModelCache::Lease a1, cache.Get(Native(dir.Join("a"))));
  EXPECT_GT(a1.load_seconds, 0);
  ASSERT_OK_AND_ASSIGN(ModelCache::Lease a2, cache.Get(Native(dir.Join("a"))));
  EXPECT_EQ(a2.runner.get(), a1.runner.get());  // resident: no second load
  EXPECT_EQ(a2.load_seconds, 0);
  ASSERT_EQ(cache.List().size(), 1u);
  EXPECT_EQ(cache.List()[0].path(), dir.Join("a"));

  // A second model evicts the first; a holder keeps the evicted one alive.
  ASSERT_OK_AND_ASSIGN(ModelCache::Lease b, cache.Get(Native(dir.Join("b"))));
  ASSERT_EQ(cache.List().size(), 1u);
  EXPECT_EQ(cache.List()[0].path(), dir.Join("b"));
  EXPECT_GT(a1.runner->max_context(), 0);
  ASSERT_OK_AND_ASSIGN(ModelCache::Lease a3, cache.Get(Native(dir.Join("a"))));
  EXPECT_NE(a3.runner.get(), a1.runner.get());  // loaded again after eviction

  // Different options are a different resident entry.
  v1::ModelSpec short_context = Native(dir.Join("a"));
  short_context.set_max_context(256);
  ASSERT_OK_AND_ASSIGN(ModelCache::Lease s, cache.Get(short_context));
  EXPECT_NE(s.runner.get(), a3.runner.get());
}

TEST(ModelCacheTest, LoadErrorsNameTheModel) {
  testing::TempDir dir;
  ModelCache cache(DefaultRunnerFactory(1), 2, base::Clock::Real());
  absl::StatusOr<ModelCache::Lease> missing =
      cache.Get(Native(dir.Join("absent")));
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr(dir.Join("absent")));
  v1::ModelSpec endpoint;
  endpoint.set_endpoint("http://127.0.0.1:1/v1");
  // Endpoints go through the OpenAI runner: a spec without a model name and
  // an endpoint that does not answer are errors naming what is wrong.
  EXPECT_THAT(cache.Get(endpoint), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("model is empty")));
  endpoint.set_model("m");
  absl::StatusOr<ModelCache::Lease> unreachable = cache.Get(endpoint);
  ASSERT_FALSE(unreachable.ok());
  EXPECT_THAT(std::string(unreachable.status().message()),
              HasSubstr("127.0.0.1:1"));
  EXPECT_TRUE(cache.List().empty());
}

}  // namespace
}  // namespace evald::daemon
