#include "runners/native/model/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runners/native/testing/checkpoint_writer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::runners::native::model {

using testing::CheckpointSpec;
using testing::WriteCheckpoint;
namespace {

using ::evald::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

// [u64 length][header][data]; the header is used verbatim.
std::vector<uint8_t> MakeFile(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> out;
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(n >> (8 * i)));
  for (char c : header) out.push_back(static_cast<uint8_t>(c));
  for (size_t i = 0; i < data_bytes; ++i)
    out.push_back(static_cast<uint8_t>(i));
  return out;
}

absl::StatusOr<SafetensorsHeader> Parse(const std::vector<uint8_t>& bytes) {
  return ParseSafetensors(absl::MakeConstSpan(bytes), "w.safetensors");
}

// 8-byte aligned header of exactly 56 bytes so data starts at 64.
std::string Padded(std::string h) {
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');
  return h;
}

TEST(SafetensorsTest, ParsesValidFile) {
  const std::string h =
      Padded(R"({"__metadata__":{"format":"pt"},)"
             R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
             R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]}})");
  const auto bytes = MakeFile(h, 22);
  ASSERT_OK_AND_ASSIGN(SafetensorsHeader header, Parse(bytes));
  ASSERT_EQ(header.tensors.size(), 2u);
  EXPECT_EQ(header.tensors[0].name, "a");
  EXPECT_EQ(header.tensors[0].num_elements, 4);
  EXPECT_EQ(header.tensors[0].data, bytes.data() + 8 + h.size());
  EXPECT_EQ(header.tensors[1].dtype, DType::kBF16);
  EXPECT_EQ(header.tensors[1].size_bytes, 6u);
  ASSERT_EQ(header.metadata.size(), 1u);
  EXPECT_EQ(header.metadata[0].second, "pt");
}

TEST(SafetensorsTest, RejectsFileShorterThanLengthPrefix) {
  EXPECT_THAT(Parse({1, 2, 3}), StatusIs(absl::StatusCode::kInvalidArgument,
                                         AllOf(HasSubstr("w.safetensors"),
                                               HasSubstr("too short"))));
}

TEST(SafetensorsTest, RejectsHeaderLengthBeyondFile) {
  auto bytes = MakeFile("{}", 0);
  bytes[0] = 200;  // claims a 200-byte header
  EXPECT_THAT(Parse(bytes), StatusIs(absl::StatusCode::kInvalidArgument,
                                     HasSubstr("runs past the end")));
}

TEST(SafetensorsTest, RejectsTruncatedHeaderJson) {
  const std::string h =
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})";
  EXPECT_THAT(Parse(MakeFile(h.substr(0, h.size() - 5), 4)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not valid JSON")));
}

TEST(SafetensorsTest, RejectsUnknownDtype) {
  EXPECT_THAT(
      Parse(MakeFile(R"({"w":{"dtype":"Q7","shape":[1],"data_offsets":[0,1]}})",
                     1)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("'w'"), HasSubstr("unknown dtype 'Q7'"))));
}

TEST(SafetensorsTest, RejectsWrongDtypeSize) {
  // 3 F32 elements need 12 bytes, the span is 8.
  EXPECT_THAT(
      Parse(MakeFile(
          Padded(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})"),
          8)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("'w'"), HasSubstr("does not match shape"))));
}

TEST(SafetensorsTest, RejectsOffsetsPastTheEnd) {
  EXPECT_THAT(
      Parse(MakeFile(
          Padded(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})"),
          12)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("'w'"), HasSubstr("past the end"))));
}

TEST(SafetensorsTest, RejectsOverlappingTensors) {
  const std::string h =
      Padded(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
             R"("y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})");
  EXPECT_THAT(
      Parse(MakeFile(h, 12)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("overlaps")));
}

TEST(SafetensorsTest, RejectsUnalignedData) {
  const std::string h =
      Padded(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})");
  EXPECT_THAT(Parse(MakeFile(h, 8)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("'w'"), HasSubstr("not aligned"))));
}

TEST(SafetensorsTest, RejectsNonStringMetadata) {
  EXPECT_THAT(
      Parse(MakeFile(R"({"__metadata__":{"format":1}})", 0)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("__metadata__")));
}

TEST(SafetensorsTest, RejectsReversedOffsetsAndBadShapes) {
  EXPECT_THAT(
      Parse(MakeFile(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[3,2]}})",
                     4)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("reversed")));
  EXPECT_THAT(
      Parse(MakeFile(
          R"({"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})", 0)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("shape")));
  EXPECT_THAT(
      Parse(MakeFile(
          R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}})",
          0)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("too large")));
}

TEST(SafetensorsTest, RejectsDuplicateTensorNames) {
  const std::string h =
      Padded(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
             R"("w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})");
  EXPECT_THAT(Parse(MakeFile(h, 2)),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(TensorStoreTest, OpensShardedCheckpoint) {
  evald::testing::TempDir dir;
  CheckpointSpec spec;
  spec.max_shard_bytes = 100 << 10;  // forces several shards
  ASSERT_OK(WriteCheckpoint(spec, dir.path()));
  ASSERT_OK_AND_ASSIGN(auto store, TensorStore::Open(dir.path()));
  EXPECT_GT(store->files().size(), 2u);
  const TensorInfo* t = store->Find("model.layers.1.mlp.down_proj.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{128, 256}));
  EXPECT_EQ(store->Find("nope"), nullptr);
}

TEST(TensorStoreTest, MissingShardIsNamed) {
  evald::testing::TempDir dir;
  evald::testing::WriteTestFile(dir.Join("model.safetensors.index.json"),
                                R"({"weight_map":{"a":"gone.safetensors"}})");
  EXPECT_THAT(
      TensorStore::Open(dir.path()).status(),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("gone.safetensors")));
}

TEST(TensorStoreTest, EmptyFolderIsNotFound) {
  evald::testing::TempDir dir;
  EXPECT_THAT(
      TensorStore::Open(dir.path()).status(),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("model.safetensors")));
}

TEST(TensorStoreTest, TruncatedFileIsNamed) {
  evald::testing::TempDir dir;
  CheckpointSpec spec;
  ASSERT_OK(WriteCheckpoint(spec, dir.path()));
  const std::string path = dir.Join("model.safetensors");
  ASSERT_EQ(::truncate(path.c_str(), 5000), 0);
  EXPECT_THAT(TensorStore::Open(dir.path()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(path), HasSubstr("past the end"))));
}

}  // namespace
}  // namespace evald::runners::native::model
