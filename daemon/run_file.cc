// File: daemon/run_file.cc
// -----------------------------------------------------------------------------
#include "daemon/run_file.h"

#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "daemon/version.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace evald::daemon {
namespace {

// A sample chunk is written once it holds this many bytes.
constexpr size_t kSampleChunkBytes = 1 << 20;

// A string from the file, made safe for a one-line message.
std::string Shown(absl::string_view s) {
  return absl::CHexEscape(s.substr(0, 64));
}

// Map fields written sorted, so the same run exports to the same bytes.
std::string Deterministic(const google::protobuf::Message& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return bytes;
}

}  // namespace

bool IsRunFileStart(absl::string_view prefix) {
  return prefix.substr(0, kRunFileMagic.size()) == kRunFileMagic;
}

absl::Status CheckRunFileHeader(const v1::RunFileHeader& header,
                                absl::string_view where) {
  if (header.format() != kRunFileFormat) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": format \"", Shown(header.format()),
                     "\" is not an evald run file (\"", kRunFileFormat, "\")"));
  }
  if (header.version() != kRunFileVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": run file version ", header.version(),
                     " (written by evald ", Shown(header.evald_version()),
                     "); this evald reads version ", kRunFileVersion));
  }
  return absl::OkStatus();
}

absl::Status CheckRunFileEnd(const v1::RunFileEnd& end, int64_t samples,
                             int64_t scores, absl::string_view where) {
  if (end.samples() != samples || end.scores() != scores) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": the end chunk counts ", end.samples(), " samples and ",
        end.scores(), " scores, but ", samples, " and ", scores, " came"));
  }
  return absl::OkStatus();
}

RunFileWriter::RunFileWriter(std::ostream* out, std::string name)
    : out_(out), name_(std::move(name)) {}

absl::Status RunFileWriter::WriteChunk(const v1::ImportRunChunk& chunk) {
  const std::string bytes = Deterministic(chunk);
  std::string prefix;
  {
    google::protobuf::io::StringOutputStream stream(&prefix);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.WriteVarint64(bytes.size());
  }
  out_->write(prefix.data(), static_cast<std::streamsize>(prefix.size()));
  out_->write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!*out_) {
    return absl::UnavailableError(absl::StrCat(name_, ": write failed"));
  }
  return absl::OkStatus();
}

absl::Status RunFileWriter::Begin(
    const v1::RunRecord& run,
    const google::protobuf::RepeatedPtrField<v1::TaskScores>& scores) {
  out_->write(kRunFileMagic.data(),
              static_cast<std::streamsize>(kRunFileMagic.size()));
  v1::ImportRunChunk header;
  header.mutable_header()->set_format(std::string(kRunFileFormat));
  header.mutable_header()->set_version(kRunFileVersion);
  header.mutable_header()->set_evald_version(Version());
  RETURN_IF_ERROR(WriteChunk(header));
  v1::ImportRunChunk first;
  *first.mutable_run() = run;
  *first.mutable_scores() = scores;
  scores_ = scores.size();
  return WriteChunk(first);
}

absl::Status RunFileWriter::AddSample(const v1::SampleRecord& sample) {
  *pending_.add_samples() = sample;
  pending_bytes_ += sample.ByteSizeLong();
  ++samples_;
  if (pending_bytes_ < kSampleChunkBytes) return absl::OkStatus();
  RETURN_IF_ERROR(WriteChunk(pending_));
  pending_.Clear();
  pending_bytes_ = 0;
  return absl::OkStatus();
}

absl::Status RunFileWriter::Finish() {
  if (pending_.samples_size() > 0) RETURN_IF_ERROR(WriteChunk(pending_));
  pending_.Clear();
  v1::ImportRunChunk end;
  end.mutable_end()->set_samples(samples_);
  end.mutable_end()->set_scores(scores_);
  RETURN_IF_ERROR(WriteChunk(end));
  out_->flush();
  if (!*out_)
    return absl::UnavailableError(absl::StrCat(name_, ": write failed"));
  return absl::OkStatus();
}

RunFileReader::RunFileReader(std::istream* in, std::string name)
    : in_(in), name_(std::move(name)) {}

absl::Status RunFileReader::Error(uint64_t offset,
                                  absl::string_view what) const {
  return absl::InvalidArgumentError(
      absl::StrCat(name_, ": byte ", offset, ": ", what));
}

absl::StatusOr<std::optional<v1::ImportRunChunk>> RunFileReader::ReadChunk(
    uint64_t* chunk_offset) {
  *chunk_offset = offset_;
  uint64_t size = 0;
  for (int shift = 0;; shift += 7) {
    const int c = in_->get();
    if (c == std::char_traits<char>::eof()) {
      if (shift == 0) return std::nullopt;
      return Error(*chunk_offset, "the file ends inside a chunk's length");
    }
    ++offset_;
    if (shift > 63) return Error(*chunk_offset, "a chunk length over 64 bits");
    size |= static_cast<uint64_t>(c & 0x7f) << shift;
    if ((c & 0x80) == 0) break;
  }
  if (size > kMaxRunFileChunkBytes) {
    return Error(
        *chunk_offset,
        absl::StrCat("a chunk of ", size, " bytes (at most ",
                     kMaxRunFileChunkBytes, "): not a run file chunk"));
  }
  std::string bytes(size, '\0');
  in_->read(bytes.data(), static_cast<std::streamsize>(size));
  const uint64_t got = static_cast<uint64_t>(in_->gcount());
  offset_ += got;
  if (got != size) {
    return Error(*chunk_offset,
                 absl::StrCat("the file ends inside a chunk (", got, " of ",
                              size, " bytes): truncated"));
  }
  v1::ImportRunChunk chunk;
  if (!chunk.ParseFromString(bytes)) {
    return Error(*chunk_offset, "unreadable chunk (damaged file?)");
  }
  return chunk;
}

absl::StatusOr<v1::ImportRunChunk> RunFileReader::ReadStart() {
  std::string magic(kRunFileMagic.size(), '\0');
  in_->read(magic.data(), static_cast<std::streamsize>(magic.size()));
  offset_ += static_cast<uint64_t>(in_->gcount());
  if (static_cast<size_t>(in_->gcount()) != magic.size() ||
      !IsRunFileStart(magic)) {
    return Error(0,
                 "not an evald run file (it does not start with \"evald-run\"; "
                 "lm-eval output imports with --format lm-eval)");
  }
  uint64_t at = 0;
  ASSIGN_OR_RETURN(std::optional<v1::ImportRunChunk> header, ReadChunk(&at));
  if (!header) return Error(at, "the file ends before its header: truncated");
  if (!header->has_header() || header->has_run() || header->has_end() ||
      header->samples_size() > 0 || header->scores_size() > 0) {
    return Error(at, "the first chunk is not a run file header");
  }
  RETURN_IF_ERROR(
      CheckRunFileHeader(header->header(), absl::StrCat(name_, ": byte ", at)));
  ASSIGN_OR_RETURN(std::optional<v1::ImportRunChunk> first, ReadChunk(&at));
  if (!first) return Error(at, "the file ends before its run: truncated");
  if (!first->has_run() || first->has_header() || first->has_end() ||
      first->samples_size() > 0) {
    return Error(at, "the second chunk is not the run and its scores");
  }
  if (first->run().id().empty()) return Error(at, "the run has no id");
  const v1::RunState state = first->run().state();
  if (state == v1::QUEUED || state == v1::RUNNING ||
      state == v1::RUN_STATE_UNSPECIFIED) {
    return Error(at, absl::StrCat("run ", Shown(first->run().id()),
                                  " is not finished (state ",
                                  v1::RunState_Name(state), ")"));
  }
  scores_ = first->scores_size();
  *first->mutable_header() = header->header();
  started_ = true;
  return *std::move(first);
}

absl::StatusOr<std::optional<v1::ImportRunChunk>> RunFileReader::Next() {
  if (!started_) return absl::FailedPreconditionError("ReadStart first");
  uint64_t at = 0;
  ASSIGN_OR_RETURN(std::optional<v1::ImportRunChunk> chunk, ReadChunk(&at));
  if (ended_) {
    if (chunk) return Error(at, "bytes after the end chunk");
    return std::nullopt;
  }
  if (!chunk) {
    return Error(at, absl::StrCat("the file ends after ", samples_,
                                  " samples, before its end chunk: truncated"));
  }
  if (chunk->has_header() || chunk->has_run() || chunk->scores_size() > 0) {
    return Error(at, "a header, run or scores chunk among the samples");
  }
  if (chunk->has_end()) {
    if (chunk->samples_size() > 0) return Error(at, "samples in the end chunk");
    RETURN_IF_ERROR(CheckRunFileEnd(chunk->end(), samples_, scores_,
                                    absl::StrCat(name_, ": byte ", at)));
    ended_ = true;
    return chunk;
  }
  samples_ += chunk->samples_size();
  return chunk;
}

}  // namespace evald::daemon
