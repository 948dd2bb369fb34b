// File: daemon/run_file.h
// -----------------------------------------------------------------------------
// evald's own run files (`evalctl export RUN`, `evalctl import FILE`): one
// finished run whole, to move it between stores. The file is the magic line
// "evald-run\n" and then length-delimited ImportRunChunk messages (a varint
// byte count, then the message), in this order:
//
//   header   RunFileHeader {format "evald-run", version 1, evald_version}
//   run      the RunRecord (spec, fingerprint, drift, phases, progress,
//            shards, ...) with its id, and every task's TaskScores
//   samples  SampleRecords a few per chunk (about 1 MiB), doc order per task
//   end      RunFileEnd {samples, scores}: the counts, so a file cut at a
//            chunk boundary is told from a whole one
//
// Writer and reader hold one chunk at a time, so a run of any size moves in
// bounded memory. Every refusal is one InvalidArgument line naming the file
// and the byte offset of the chunk at fault. Not thread-safe.
#ifndef EVALD_DAEMON_RUN_FILE_H_
#define EVALD_DAEMON_RUN_FILE_H_

#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/service.pb.h"

namespace evald::daemon {

inline constexpr absl::string_view kRunFileMagic = "evald-run\n";
inline constexpr absl::string_view kRunFileFormat = "evald-run";
inline constexpr int32_t kRunFileVersion = 1;
// The largest chunk a reader takes; a writer's are far smaller (1 MiB of
// samples, or one run record with its scores).
inline constexpr uint64_t kMaxRunFileChunkBytes = 64 << 20;

// True when `prefix` (a file's first bytes) begins a run file.
bool IsRunFileStart(absl::string_view prefix);

// OK for a header this evald reads; otherwise InvalidArgument (`where`
// first) naming the format or version.
absl::Status CheckRunFileHeader(const v1::RunFileHeader& header,
                                absl::string_view where);
// OK when the end chunk counts what came before it.
absl::Status CheckRunFileEnd(const v1::RunFileEnd& end, int64_t samples,
                             int64_t scores, absl::string_view where);

class RunFileWriter {
 public:
  // Writes to `out` (not owned); `name` names it in errors.
  RunFileWriter(std::ostream* out, std::string name);
  // The magic, the header and the run chunk. REQUIRES: called once, first.
  absl::Status Begin(
      const v1::RunRecord& run,
      const google::protobuf::RepeatedPtrField<v1::TaskScores>& scores);
  absl::Status AddSample(const v1::SampleRecord& sample);
  // The last samples and the end chunk; flushes `out`.
  absl::Status Finish();
  int64_t samples() const { return samples_; }

 private:
  absl::Status WriteChunk(const v1::ImportRunChunk& chunk);
  std::ostream* out_;
  std::string name_;
  v1::ImportRunChunk pending_;
  size_t pending_bytes_ = 0;
  int64_t samples_ = 0;
  int64_t scores_ = 0;
};

class RunFileReader {
 public:
  // Reads `in` (not owned); `name` names it in errors ("-" for stdin).
  RunFileReader(std::istream* in, std::string name);
  // The magic, the header and the run chunk, checked: a chunk with the
  // header, the run (with an id, finished) and its scores.
  absl::StatusOr<v1::ImportRunChunk> ReadStart();
  // The next chunk of samples, then the end chunk (its counts checked
  // against what came), then nullopt; after the end chunk the file must end.
  absl::StatusOr<std::optional<v1::ImportRunChunk>> Next();
  int64_t samples() const { return samples_; }
  uint64_t offset() const { return offset_; }

 private:
  // One chunk; nullopt at a clean end of the file (no byte of a next chunk).
  absl::StatusOr<std::optional<v1::ImportRunChunk>> ReadChunk(
      uint64_t* chunk_offset);
  absl::Status Error(uint64_t offset, absl::string_view what) const;

  std::istream* in_;
  std::string name_;
  uint64_t offset_ = 0;
  int64_t samples_ = 0;
  int64_t scores_ = 0;
  bool started_ = false;
  bool ended_ = false;
};

}  // namespace evald::daemon

#endif  // EVALD_DAEMON_RUN_FILE_H_
