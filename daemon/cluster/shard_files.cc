// File: daemon/cluster/shard_files.cc
#include "daemon/cluster/shard_files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "base/file.h"

namespace evald::daemon::cluster {
namespace {

// A record's length never comes near this; a larger one is garbage, not a
// record still being written.
constexpr uint64_t kMaxRecordBytes = uint64_t{1} << 30;

absl::Status ErrnoStatus(const std::string& path, const char* what, int err) {
  return absl::Status(
      err == ENOENT ? absl::StatusCode::kNotFound : absl::StatusCode::kInternal,
      absl::StrCat(path, ": ", what, ": ", std::strerror(err)));
}

absl::Status MakePrivateDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat(dir, ": cannot create: ", ec.message()));
  }
  ::chmod(dir.c_str(), 0700);
  return absl::OkStatus();
}

absl::Status WriteMessage(const std::string& path,
                          const google::protobuf::Message& message) {
  std::string bytes;
  if (!message.SerializeToString(&bytes)) {
    return absl::InternalError(
        absl::StrCat(path, ": cannot serialize ", message.GetTypeName()));
  }
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    if (absl::Status s = MakePrivateDir(path.substr(0, slash)); !s.ok())
      return s;
  }
  const mode_t old = ::umask(0077);
  absl::Status written = base::WriteFileAtomically(path, bytes);
  ::umask(old);
  return written;
}

template <typename M>
absl::StatusOr<M> ReadMessage(const std::string& path) {
  absl::StatusOr<std::string> bytes = base::ReadFileToString(path);
  if (!bytes.ok()) {
    if (!base::PathExists(path)) {
      return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    }
    return bytes.status();
  }
  M message;
  if (!message.ParseFromString(*bytes)) {
    return absl::DataLossError(absl::StrCat(path, ": not a ",
                                            message.GetTypeName(), " (",
                                            bytes->size(), " bytes)"));
  }
  return message;
}

void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

}  // namespace

std::string ShardRunDir(const std::string& shared_dir,
                        const std::string& run_id) {
  return absl::StrCat(shared_dir, "/", run_id);
}

std::string ClaimFilePath(const std::string& shared_dir,
                          const std::string& run_id, int32_t shard) {
  return absl::StrCat(ShardRunDir(shared_dir, run_id), "/shard-", shard,
                      ".claim");
}

absl::Status WriteClaimFile(const std::string& shared_dir,
                            const std::string& run_id, int32_t shard,
                            const v1::ClaimShardResponse& claim) {
  return WriteMessage(ClaimFilePath(shared_dir, run_id, shard), claim);
}

absl::StatusOr<v1::ClaimShardResponse> ReadClaimFile(
    const std::string& shared_dir, const std::string& run_id, int32_t shard) {
  const std::string path = ClaimFilePath(shared_dir, run_id, shard);
  absl::StatusOr<v1::ClaimShardResponse> claim =
      ReadMessage<v1::ClaimShardResponse>(path);
  if (absl::IsNotFound(claim.status())) {
    return absl::NotFoundError(absl::StrCat(
        "claim file ", path,
        " does not exist (the coordinator writes it "
        "before it submits the shard; check --shared-dir, --run and --shard)"));
  }
  return claim;
}

std::string WorkerFileId(const std::string& node, int64_t pid,
                         int64_t unix_ms) {
  std::string safe = node.empty() ? "unknown" : node;
  for (char& c : safe) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return absl::StrCat(safe, "-", pid, "-", unix_ms);
}

WorkerFiles WorkerFilesFor(const std::string& shared_dir,
                           const std::string& run_id, int32_t shard,
                           const std::string& worker_id) {
  WorkerFiles files;
  files.shard = shard;
  files.worker_id = worker_id;
  const std::string stem = absl::StrCat(ShardRunDir(shared_dir, run_id),
                                        "/shard-", shard, ".", worker_id);
  files.worker_path = stem + ".worker";
  files.samples_path = stem + ".samples";
  files.finish_path = stem + ".finish";
  return files;
}

absl::StatusOr<std::vector<WorkerFiles>> ListShardFiles(
    const std::string& shared_dir, const std::string& run_id) {
  const std::string dir = ShardRunDir(shared_dir, run_id);
  std::vector<WorkerFiles> out;
  if (!base::IsDirectory(dir)) return out;
  std::map<std::pair<int32_t, std::string>, WorkerFiles> found;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    // shard-<i>.<W>.<kind>, W without '.'.
    if (name.rfind("shard-", 0) != 0) continue;
    const size_t first_dot = name.find('.');
    const size_t last_dot = name.rfind('.');
    if (first_dot == std::string::npos || last_dot == first_dot) continue;
    int32_t shard = -1;
    if (!absl::SimpleAtoi(absl::string_view(name).substr(6, first_dot - 6),
                          &shard) ||
        shard < 0) {
      continue;
    }
    const std::string worker_id =
        name.substr(first_dot + 1, last_dot - first_dot - 1);
    const std::string kind = name.substr(last_dot + 1);
    if (worker_id.empty() || worker_id.find('.') != std::string::npos) continue;
    if (kind != "worker" && kind != "samples" && kind != "finish") continue;
    auto [entry, inserted] =
        found.try_emplace({shard, worker_id},
                          WorkerFilesFor(shared_dir, run_id, shard, worker_id));
    WorkerFiles& files = entry->second;
    if (kind == "worker") files.has_worker = true;
    if (kind == "samples") files.has_samples = true;
    if (kind == "finish") files.has_finish = true;
  }
  if (ec) {
    return absl::InternalError(
        absl::StrCat(dir, ": cannot list: ", ec.message()));
  }
  for (auto& [key, files] : found) out.push_back(std::move(files));
  return out;
}

absl::Status WriteWorkerFile(const std::string& path,
                             const v1::ClaimShardRequest& request) {
  return WriteMessage(path, request);
}

absl::StatusOr<v1::ClaimShardRequest> ReadWorkerFile(const std::string& path) {
  return ReadMessage<v1::ClaimShardRequest>(path);
}

absl::Status WriteFinishFile(const std::string& path,
                             const v1::FinishShardRequest& request) {
  return WriteMessage(path, request);
}

absl::StatusOr<v1::FinishShardRequest> ReadFinishFile(const std::string& path) {
  return ReadMessage<v1::FinishShardRequest>(path);
}

absl::StatusOr<ShardSamplesWriter> ShardSamplesWriter::Open(
    const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    if (absl::Status s = MakePrivateDir(path.substr(0, slash)); !s.ok())
      return s;
  }
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(path, "cannot open for appending", errno);
  return ShardSamplesWriter(path, fd);
}

ShardSamplesWriter::ShardSamplesWriter(ShardSamplesWriter&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)) {}

ShardSamplesWriter& ShardSamplesWriter::operator=(
    ShardSamplesWriter&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

ShardSamplesWriter::~ShardSamplesWriter() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status ShardSamplesWriter::Append(
    const v1::PutShardSamplesRequest& batch) {
  std::string body;
  if (!batch.SerializeToString(&body)) {
    return absl::InternalError(
        absl::StrCat(path_, ": cannot serialize a batch of samples"));
  }
  std::string record;
  AppendVarint(body.size(), &record);
  record += body;
  // One write(2) per record: O_APPEND keeps it whole against other writers
  // of the same file (there should be none) and a short write is resumed.
  size_t off = 0;
  while (off < record.size()) {
    const ssize_t n = ::write(fd_, record.data() + off, record.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(path_, "write failed", errno);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd_) != 0) return ErrnoStatus(path_, "fsync failed", errno);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::PutShardSamplesRequest>> ReadShardSamples(
    const std::string& path, int64_t* offset) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(path, "cannot open", errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoStatus(path, "cannot stat", err);
  }
  if (*offset < 0 || *offset > st.st_size) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": offset ", *offset,
                                                   " is past its end (",
                                                   st.st_size, " bytes)"));
  }
  std::string bytes(static_cast<size_t>(st.st_size - *offset), '\0');
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n =
        ::pread(fd, bytes.data() + got, bytes.size() - got,
                static_cast<off_t>(*offset + static_cast<int64_t>(got)));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return ErrnoStatus(path, "read failed", err);
    }
    if (n == 0) break;  // shrank under us: read what is there
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  bytes.resize(got);

  std::vector<v1::PutShardSamplesRequest> records;
  size_t pos = 0;
  while (pos < bytes.size()) {
    const int64_t record_offset = *offset + static_cast<int64_t>(pos);
    uint64_t size = 0;
    size_t p = pos;
    int shift = 0;
    bool complete = false;
    while (p < bytes.size()) {
      const uint8_t byte = static_cast<uint8_t>(bytes[p++]);
      if (shift >= 63 && (byte >> 1) != 0) {
        return absl::DataLossError(absl::StrCat(
            path, ": offset ", record_offset, ": malformed record length"));
      }
      size |= static_cast<uint64_t>(byte & 0x7f) << shift;
      shift += 7;
      if ((byte & 0x80) == 0) {
        complete = true;
        break;
      }
      if (shift > 63) {
        return absl::DataLossError(absl::StrCat(
            path, ": offset ", record_offset, ": malformed record length"));
      }
    }
    if (!complete) break;  // the length itself is still being written
    if (size > kMaxRecordBytes) {
      return absl::DataLossError(absl::StrCat(path, ": offset ", record_offset,
                                              ": record length ", size,
                                              " is not plausible"));
    }
    if (bytes.size() - p < size) break;  // truncated tail: read it next time
    v1::PutShardSamplesRequest record;
    if (!record.ParseFromArray(bytes.data() + p, static_cast<int>(size))) {
      return absl::DataLossError(
          absl::StrCat(path, ": offset ", record_offset, ": a record of ", size,
                       " bytes that is not a PutShardSamplesRequest"));
    }
    records.push_back(std::move(record));
    pos = p + static_cast<size_t>(size);
  }
  *offset += static_cast<int64_t>(pos);
  return records;
}

}  // namespace evald::daemon::cluster
