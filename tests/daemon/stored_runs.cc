#include "tests/daemon/stored_runs.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "daemon/queries.h"
#include "proto/store.pb.h"
#include "store/store.h"

namespace evald::testing {

std::string WriteFinishedRun(const std::string& data_dir,
                             const StoredRun& run) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  store::StoreOptions options;
  options.path = daemon::StorePath(data_dir);
  auto store = store::Store::Open(options);
  if (!store.ok()) {
    ADD_FAILURE() << "opening " << options.path << ": " << store.status();
    return "";
  }
  v1::RunRecord record;
  record.mutable_spec()->set_name("stored");
  record.mutable_spec()->add_tasks()->set_name(run.task);
  (*record.mutable_spec()->mutable_labels())[run.label_key] = run.label_value;
  auto created = (*store)->CreateRun(record);
  if (!created.ok()) {
    ADD_FAILURE() << "CreateRun: " << created.status();
    return "";
  }
  const std::string id = created->id();
  EXPECT_TRUE((*store)->RemoveFromQueue(id).ok());
  for (int i = 0; i < run.samples; ++i) {
    v1::SampleRecord sample;
    sample.set_run_id(id);
    sample.set_task(run.task);
    sample.set_doc_index(i);
    sample.set_doc_id(absl::StrCat(i));
    std::string prompt = absl::StrCat("Question ", i, ": ");
    prompt.resize(std::max(prompt.size(), run.prompt_bytes), 'x');
    sample.set_prompt(prompt);
    sample.set_target("7");
    sample.add_responses(i % 2 == 0 ? "The answer is 7." : "The answer is 8.");
    (*sample.mutable_metrics())["exact_match"] = i % 2 == 0 ? 1.0 : 0.0;
    EXPECT_TRUE((*store)->PutSample(sample).ok()) << i;
  }
  v1::TaskScores scores;
  scores.set_run_id(id);
  scores.set_task(run.task);
  v1::Metric* metric = scores.add_metrics();
  metric->set_name("exact_match");
  metric->set_value(0.5);
  metric->set_std_error(0.25);
  metric->set_count(run.samples);
  metric->set_aggregation("mean");
  EXPECT_TRUE((*store)->PutScores(scores).ok());
  created->set_state(v1::SUCCEEDED);
  created->set_finished_unix_ms(created->created_unix_ms() + 1000);
  EXPECT_TRUE((*store)->PutRun(*created).ok());
  return id;
}

}  // namespace evald::testing
