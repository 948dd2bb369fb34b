// File: tests/daemon/cluster/shard_files_test.cc
// The files transport's format: claim, worker and finish files round trip,
// the samples file is read incrementally, a truncated tail waits for the
// next read, and garbage is an error naming the file and offset.
#include "daemon/cluster/shard_files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "base/file.h"
#include "tests/testing/temp_dir.h"

namespace evald::daemon::cluster {
namespace {

using ::testing::HasSubstr;

v1::PutShardSamplesRequest Batch(int first, int n) {
  v1::PutShardSamplesRequest batch;
  batch.set_run_id("r1");
  batch.set_shard(1);
  batch.set_claim(2);
  for (int i = 0; i < n; ++i) {
    v1::SampleRecord* s = batch.add_samples();
    s->set_run_id("r1");
    s->set_task("gsm8k");
    s->set_doc_index(first + i);
    s->set_prompt(std::string(300, 'p'));
    s->add_responses("answer " + std::to_string(first + i));
    s->set_worker("shard 1 on vm");
  }
  return batch;
}

void AppendBytes(const std::string& path, const std::string& bytes) {
  std::string have = *base::ReadFileToString(path);
  ASSERT_TRUE(base::WriteFileAtomically(path, have + bytes).ok());
}

TEST(ShardFilesTest, ClaimFileRoundTripsAndMissingOneNamesThePath) {
  testing::TempDir tmp;
  v1::ClaimShardResponse claim;
  claim.set_attempt(3);
  claim.set_claim(1);
  claim.mutable_spec()->set_name("suite");
  v1::ShardTask* t = claim.add_tasks();
  t->set_task("gsm8k");
  t->set_first_doc(10);
  t->set_end_doc(20);
  t->add_todo(11);
  ASSERT_TRUE(WriteClaimFile(tmp.Join("shared"), "r1", 1, claim).ok());
  EXPECT_EQ(ClaimFilePath(tmp.Join("shared"), "r1", 1),
            tmp.Join("shared/r1/shard-1.claim"));
  struct stat st;
  ASSERT_EQ(stat(tmp.Join("shared/r1").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat(tmp.Join("shared/r1/shard-1.claim").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto read = ReadClaimFile(tmp.Join("shared"), "r1", 1);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->SerializeAsString(), claim.SerializeAsString());

  auto missing = ReadClaimFile(tmp.Join("shared"), "r1", 0);
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr(tmp.Join("shared/r1/shard-0.claim")));

  testing::WriteTestFile(tmp.Join("shared/r1/shard-2.claim"),
                         std::string(16, '\xff'));
  auto garbage = ReadClaimFile(tmp.Join("shared"), "r1", 2);
  ASSERT_FALSE(garbage.ok());
  EXPECT_THAT(std::string(garbage.status().message()),
              HasSubstr("shard-2.claim"));
}

TEST(ShardFilesTest, SamplesAreReadIncrementallyAndATruncatedTailWaits) {
  testing::TempDir tmp;
  const WorkerFiles files =
      WorkerFilesFor(tmp.Join("shared"), "r1", 1, WorkerFileId("vm", 42, 7));
  EXPECT_EQ(files.samples_path, tmp.Join("shared/r1/shard-1.vm-42-7.samples"));
  auto writer = ShardSamplesWriter::Open(files.samples_path);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE(writer->Append(Batch(0, 3)).ok());
  ASSERT_TRUE(writer->Append(Batch(3, 2)).ok());

  int64_t offset = 0;
  auto first = ReadShardSamples(files.samples_path, &offset);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].SerializeAsString(), Batch(0, 3).SerializeAsString());
  EXPECT_EQ((*first)[1].SerializeAsString(), Batch(3, 2).SerializeAsString());
  const int64_t after_two = offset;
  EXPECT_EQ(after_two, static_cast<int64_t>(
                           base::ReadFileToString(files.samples_path)->size()));

  // Nothing new: nothing read, offset unchanged.
  auto none = ReadShardSamples(files.samples_path, &offset);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(offset, after_two);

  // A record cut short (a worker killed mid-write): left for later.
  const std::string body = Batch(5, 4).SerializeAsString();
  std::string record;
  record.push_back(static_cast<char>((body.size() & 0x7f) | 0x80));
  record.push_back(static_cast<char>(body.size() >> 7));
  ASSERT_LT(body.size(), 1u << 14);
  record += body;
  AppendBytes(files.samples_path, record.substr(0, 1));  // half a length
  auto half_length = ReadShardSamples(files.samples_path, &offset);
  ASSERT_TRUE(half_length.ok()) << half_length.status();
  EXPECT_TRUE(half_length->empty());
  EXPECT_EQ(offset, after_two);
  AppendBytes(files.samples_path, record.substr(1, 40));  // part of the body
  auto half_body = ReadShardSamples(files.samples_path, &offset);
  ASSERT_TRUE(half_body.ok()) << half_body.status();
  EXPECT_TRUE(half_body->empty());
  EXPECT_EQ(offset, after_two);
  AppendBytes(files.samples_path, record.substr(41));  // the rest
  auto completed = ReadShardSamples(files.samples_path, &offset);
  ASSERT_TRUE(completed.ok()) << completed.status();
  ASSERT_EQ(completed->size(), 1u);
  EXPECT_EQ((*completed)[0].samples_size(), 4);
  EXPECT_EQ((*completed)[0].samples(3).doc_index(), 8);
  EXPECT_EQ(offset, after_two + static_cast<int64_t>(record.size()));
}

TEST(ShardFilesTest, GarbageIsAnErrorNamingTheFileAndOffset) {
  testing::TempDir tmp;
  const std::string path = tmp.Join("r1/shard-0.vm-1-1.samples");
  auto writer = ShardSamplesWriter::Open(path);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer->Append(Batch(0, 1)).ok());
  const int64_t good =
      static_cast<int64_t>(base::ReadFileToString(path)->size());
  // A complete record whose bytes are not a message (wire type 7).
  AppendBytes(path, std::string("\x04\xff\xff\xff\xff", 5));
  int64_t offset = 0;
  auto read = ReadShardSamples(path, &offset);
  ASSERT_FALSE(read.ok());
  EXPECT_TRUE(absl::IsDataLoss(read.status())) << read.status();
  EXPECT_THAT(std::string(read.status().message()), HasSubstr(path));
  EXPECT_THAT(std::string(read.status().message()),
              HasSubstr("offset " + std::to_string(good)));
  EXPECT_EQ(offset, 0);

  // A length no writer writes.
  const std::string path2 = tmp.Join("r1/shard-0.vm-1-2.samples");
  testing::WriteTestFile(path2, std::string(11, '\xff'));
  int64_t offset2 = 0;
  auto read2 = ReadShardSamples(path2, &offset2);
  ASSERT_FALSE(read2.ok());
  EXPECT_THAT(std::string(read2.status().message()), HasSubstr("offset 0"));

  int64_t offset3 = 0;
  auto missing = ReadShardSamples(tmp.Join("r1/none.samples"), &offset3);
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("none.samples"));
}

TEST(ShardFilesTest, ListShardFilesGroupsEachWorkersFiles) {
  testing::TempDir tmp;
  const std::string shared = tmp.Join("shared");
  EXPECT_TRUE(ListShardFiles(shared, "r1")->empty());  // no folder yet

  const WorkerFiles a =
      WorkerFilesFor(shared, "r1", 0, WorkerFileId("node7.cluster", 10, 5));
  EXPECT_EQ(a.worker_id, "node7_cluster-10-5");
  v1::ClaimShardRequest request;
  request.set_run_id("r1");
  request.set_node("node7.cluster");
  request.mutable_fingerprint()->set_cpu_model("cpu");
  ASSERT_TRUE(WriteWorkerFile(a.worker_path, request).ok());
  ASSERT_TRUE(
      ShardSamplesWriter::Open(a.samples_path)->Append(Batch(0, 1)).ok());
  v1::FinishShardRequest finish;
  finish.set_error("boom");
  finish.set_log_tail("line 1\nline 2");
  ASSERT_TRUE(WriteFinishFile(a.finish_path, finish).ok());

  const WorkerFiles b =
      WorkerFilesFor(shared, "r1", 1, WorkerFileId("vm", 3, 9));
  ASSERT_TRUE(WriteWorkerFile(b.worker_path, request).ok());
  ASSERT_TRUE(WriteClaimFile(shared, "r1", 1, v1::ClaimShardResponse()).ok());
  testing::WriteTestFile(b.finish_path + ".tmp.77", "partial");  // ignored
  testing::WriteTestFile(shared + "/r1/notes.txt", "x");         // ignored

  auto listed = ListShardFiles(shared, "r1");
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].shard, 0);
  EXPECT_EQ((*listed)[0].worker_id, "node7_cluster-10-5");
  EXPECT_TRUE((*listed)[0].has_worker);
  EXPECT_TRUE((*listed)[0].has_samples);
  EXPECT_TRUE((*listed)[0].has_finish);
  EXPECT_EQ((*listed)[1].shard, 1);
  EXPECT_TRUE((*listed)[1].has_worker);
  EXPECT_FALSE((*listed)[1].has_samples);
  EXPECT_FALSE((*listed)[1].has_finish);

  auto worker = ReadWorkerFile((*listed)[0].worker_path);
  ASSERT_TRUE(worker.ok());
  EXPECT_EQ(worker->node(), "node7.cluster");
  auto finished = ReadFinishFile((*listed)[0].finish_path);
  ASSERT_TRUE(finished.ok());
  EXPECT_EQ(finished->error(), "boom");
  EXPECT_EQ(finished->log_tail(), "line 1\nline 2");
  EXPECT_FALSE(ReadFinishFile(b.finish_path).ok());
}

}  // namespace
}  // namespace evald::daemon::cluster
