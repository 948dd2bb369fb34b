#include "store/store.h"

#include <cstdarg>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/status_macros.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"
#include "store/keys.h"

namespace evald::store {

using ::evald::v1::Fingerprint;
using ::evald::v1::HashCacheEntry;
using ::evald::v1::QueueEntry;
using ::evald::v1::RunRecord;
using ::evald::v1::SampleRecord;
using ::evald::v1::TaskProgress;
using ::evald::v1::TaskScores;

namespace {

// Stored bytes are a pure function of the record: map fields (metrics,
// labels) are written sorted by key, so the same run stores the same bytes.
std::string DeterministicBytes(const google::protobuf::MessageLite& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }  // The coded stream flushes into `bytes` here.
  return bytes;
}

// The schema this code writes. A store written by a newer schema is refused
// rather than misread.
constexpr int kSchemaVersion = 1;

constexpr ColumnFamily kAllColumnFamilies[kNumColumnFamilies] = {
    ColumnFamily::kRuns,      ColumnFamily::kSamples,
    ColumnFamily::kScores,    ColumnFamily::kFingerprints,
    ColumnFamily::kHashCache, ColumnFamily::kQueue,
    ColumnFamily::kTags,      ColumnFamily::kMeta,
};

// A read-only opener must not rotate the writer's LOG file, so it logs
// nowhere.
class NullLogger : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char* /*format*/, va_list /*ap*/) override {}
};

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view context) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat(context, ": ", s.ToString());
  switch (s.code()) {
    case rocksdb::Status::kNotFound:
      return absl::NotFoundError(msg);
    case rocksdb::Status::kCorruption:
      return absl::DataLossError(msg);
    case rocksdb::Status::kInvalidArgument:
      return absl::InvalidArgumentError(msg);
    case rocksdb::Status::kNotSupported:
      return absl::UnimplementedError(msg);
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTryAgain:
      return absl::UnavailableError(msg);
    default:
      return absl::InternalError(msg);
  }
}

template <typename Message>
absl::StatusOr<Message> Parse(absl::string_view bytes, absl::string_view what) {
  Message m;
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(absl::StrCat("corrupt ", what, " in store"));
  }
  return m;
}

// Debian's abseil has its own string_view, distinct from std::string_view
// that rocksdb::Slice speaks; these convert without copying.
rocksdb::Slice ToSlice(absl::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}
absl::string_view ToView(const rocksdb::Slice& s) {
  return absl::string_view(s.data(), s.size());
}

std::string Quote(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

}  // namespace

const char* ColumnFamilyName(ColumnFamily cf) {
  switch (cf) {
    case ColumnFamily::kRuns:
      return "runs";
    case ColumnFamily::kSamples:
      return "samples";
    case ColumnFamily::kScores:
      return "scores";
    case ColumnFamily::kFingerprints:
      return "fingerprints";
    case ColumnFamily::kHashCache:
      return "hash_cache";
    case ColumnFamily::kQueue:
      return "queue";
    case ColumnFamily::kTags:
      return "tags";
    case ColumnFamily::kMeta:
      return "meta";
  }
  return "unknown";
}

// The database and its column-family handles; closes them in the order
// RocksDB requires (handles before the database).
struct Store::Handles {
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::ColumnFamilyHandle* default_cf = nullptr;
  rocksdb::ColumnFamilyHandle* cfs[kNumColumnFamilies] = {};

  rocksdb::ColumnFamilyHandle* cf(ColumnFamily c) const {
    return cfs[static_cast<int>(c)];
  }

  ~Handles() {
    if (db == nullptr) return;
    for (rocksdb::ColumnFamilyHandle*& h : cfs) {
      if (h != nullptr) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
      h = nullptr;
    }
    if (default_cf != nullptr)
      db->DestroyColumnFamilyHandle(default_cf).PermitUncheckedError();
    db->Close().PermitUncheckedError();
  }
};

absl::StatusOr<std::unique_ptr<Store>> Store::Open(
    const StoreOptions& options) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError("store path is empty");
  }
  const bool must_exist = options.read_only || !options.create_if_missing;
  if (must_exist && !base::PathExists(options.path + "/CURRENT")) {
    return absl::NotFoundError(absl::StrCat("no store at ", options.path));
  }

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = !must_exist;
  db_options.create_missing_column_families = !options.read_only;
  db_options.keep_log_file_num = 4;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  db_options.max_open_files = -1;
  // A write-ahead log file is deleted only once every column family with
  // data in it has been flushed; rarely written families (tags, meta) would
  // otherwise keep old logs alive up to several GiB.
  db_options.max_total_wal_size = 64 << 20;
  if (options.read_only) db_options.info_log = std::make_shared<NullLogger>();

  rocksdb::ColumnFamilyOptions cf_options;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_options);
  for (ColumnFamily cf : kAllColumnFamilies) {
    descriptors.emplace_back(ColumnFamilyName(cf), cf_options);
  }

  std::vector<rocksdb::ColumnFamilyHandle*> raw_handles;
  rocksdb::DB* raw_db = nullptr;
  rocksdb::Status s;
  if (options.read_only) {
    // A concurrent writer may delete a file between our reading the manifest
    // and opening the file; a fresh attempt sees the new manifest.
    for (int attempt = 0; attempt < 3; ++attempt) {
      s = rocksdb::DB::OpenForReadOnly(db_options, options.path, descriptors,
                                       &raw_handles, &raw_db);
      if (s.ok() || !s.IsIOError()) break;
    }
  } else {
    s = rocksdb::DB::Open(db_options, options.path, descriptors, &raw_handles,
                          &raw_db);
  }
  if (!s.ok()) {
    if (s.IsIOError() && absl::StrContains(s.ToString(), "lock")) {
      return absl::FailedPreconditionError(
          absl::StrCat("store at ", options.path,
                       " is already open by another process: ", s.ToString()));
    }
    return FromRocks(s, absl::StrCat("cannot open store at ", options.path));
  }

  auto handles = std::make_unique<Handles>();
  handles->db.reset(raw_db);
  handles->default_cf = raw_handles[0];
  for (int i = 0; i < kNumColumnFamilies; ++i)
    handles->cfs[i] = raw_handles[i + 1];

  std::unique_ptr<Store> store(new Store(options, std::move(handles)));
  rocksdb::DB* db = store->handles_->db.get();
  rocksdb::ColumnFamilyHandle* meta = store->handles_->cf(ColumnFamily::kMeta);

  // Schema version: written on creation, checked on every open.
  std::string value;
  s = db->Get(rocksdb::ReadOptions(), meta,
              std::string(keys::kSchemaVersionKey), &value);
  if (s.ok()) {
    int version = 0;
    if (!absl::SimpleAtoi(value, &version) || version > kSchemaVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("store at ", options.path, " has schema version \"",
                       value, "\"; this evald reads version ", kSchemaVersion));
    }
  } else if (s.IsNotFound()) {
    if (!options.read_only) {
      rocksdb::WriteOptions wo;
      wo.sync = true;
      RETURN_IF_ERROR(FromRocks(
          db->Put(wo, meta, std::string(keys::kSchemaVersionKey),
                  absl::StrCat(kSchemaVersion)),
          absl::StrCat("store at ", options.path, ": write schema version")));
    }
  } else {
    return FromRocks(
        s, absl::StrCat("store at ", options.path, ": read schema version"));
  }

  // The queue's next sequence number survives restarts so FIFO order does.
  s = db->Get(rocksdb::ReadOptions(), meta, std::string(keys::kNextQueueSeqKey),
              &value);
  if (s.ok()) {
    uint64_t next = 0;
    if (!absl::SimpleAtoi(value, &next)) {
      return absl::DataLossError(absl::StrCat("store at ", options.path,
                                              ": corrupt queue sequence \"",
                                              value, "\""));
    }
    absl::MutexLock lock(&store->write_mu_);
    store->next_queue_seq_ = next;
  } else if (!s.IsNotFound()) {
    return FromRocks(
        s, absl::StrCat("store at ", options.path, ": read queue sequence"));
  }

  // The newest run id, so ids stay increasing across restarts.
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(
      rocksdb::ReadOptions(), store->handles_->cf(ColumnFamily::kRuns)));
  for (it->SeekToLast(); it->Valid(); it->Prev()) {
    if (keys::ParseRunId(ToView(it->key()))) {
      absl::MutexLock lock(&store->id_mu_);
      store->last_run_id_ = it->key().ToString();
      break;
    }
  }
  RETURN_IF_ERROR(FromRocks(
      it->status(), absl::StrCat("store at ", options.path, ": scan runs")));
  return store;
}

Store::Store(StoreOptions options, std::unique_ptr<Handles> handles)
    : options_(std::move(options)), handles_(std::move(handles)) {}

Store::~Store() = default;

absl::Time Store::Now() const {
  const base::Clock* clock =
      options_.clock != nullptr ? options_.clock : base::Clock::Real();
  return absl::FromUnixNanos(clock->NowUnixNanos());
}

std::string Store::NewRunId(absl::Time now) {
  absl::Time second = absl::FromUnixSeconds(absl::ToUnixSeconds(now));
  int sequence = 0;
  absl::MutexLock lock(&id_mu_);
  if (std::optional<keys::ParsedRunId> last = keys::ParseRunId(last_run_id_)) {
    // Never go back: a clock that steps backwards keeps the last second.
    if (second < last->time) second = last->time;
    if (second == last->time) sequence = last->sequence + 1;
    if (sequence > keys::kMaxRunIdSequence) {
      second += absl::Seconds(1);
      sequence = 0;
    }
  }
  last_run_id_ = keys::FormatRunId(second, sequence);
  return last_run_id_;
}

absl::Status Store::CheckWritable(absl::string_view what) const {
  if (options_.read_only) {
    return absl::FailedPreconditionError(absl::StrCat(
        "store at ", options_.path, " is open read-only; cannot ", what));
  }
  return absl::OkStatus();
}

absl::Status Store::Write(rocksdb::WriteBatch* batch, absl::string_view what) {
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  return FromRocks(handles_->db->Write(wo, batch),
                   absl::StrCat("store at ", options_.path, ": ", what));
}

absl::StatusOr<std::optional<std::string>> Store::Get(ColumnFamily cf,
                                                      absl::string_view key,
                                                      absl::string_view what) {
  std::string value;
  rocksdb::Status s = handles_->db->Get(rocksdb::ReadOptions(),
                                        handles_->cf(cf), ToSlice(key), &value);
  if (s.IsNotFound()) return std::nullopt;
  RETURN_IF_ERROR(
      FromRocks(s, absl::StrCat("store at ", options_.path, ": read ", what)));
  return value;
}

absl::Status Store::ScanPrefix(
    ColumnFamily cf, absl::string_view prefix, absl::string_view what,
    const std::function<absl::Status(absl::string_view key,
                                     absl::string_view value)>& visit) {
  std::unique_ptr<rocksdb::Iterator> it(
      handles_->db->NewIterator(rocksdb::ReadOptions(), handles_->cf(cf)));
  for (it->Seek(ToSlice(prefix)); it->Valid(); it->Next()) {
    absl::string_view key = ToView(it->key());
    if (!absl::StartsWith(key, prefix)) break;
    RETURN_IF_ERROR(visit(key, ToView(it->value())));
  }
  return FromRocks(it->status(),
                   absl::StrCat("store at ", options_.path, ": scan ", what));
}

absl::StatusOr<bool> Store::RunExists(absl::string_view run_id) {
  ASSIGN_OR_RETURN(
      std::optional<std::string> v,
      Get(ColumnFamily::kRuns, run_id, absl::StrCat("run ", Quote(run_id))));
  return v.has_value();
}

absl::Status Store::RequireRun(absl::string_view run_id) {
  RETURN_IF_ERROR(keys::ValidateName("run id", run_id));
  ASSIGN_OR_RETURN(bool exists, RunExists(run_id));
  if (!exists)
    return absl::NotFoundError(
        absl::StrCat("run ", Quote(run_id), " not found"));
  return absl::OkStatus();
}

// ---- Runs
// --------------------------------------------------------------------

absl::StatusOr<RunRecord> Store::CreateRun(RunRecord run) {
  RETURN_IF_ERROR(CheckWritable("create a run"));
  if (run.created_unix_ms() == 0)
    run.set_created_unix_ms(absl::ToUnixMillis(Now()));
  if (run.id().empty()) {
    run.set_id(NewRunId(absl::FromUnixMillis(run.created_unix_ms())));
  } else {
    RETURN_IF_ERROR(keys::ValidateName("run id", run.id()));
    absl::MutexLock lock(&id_mu_);
    if (keys::ParseRunId(run.id()) && run.id() > last_run_id_)
      last_run_id_ = run.id();
  }
  if (run.state() == evald::v1::RUN_STATE_UNSPECIFIED)
    run.set_state(evald::v1::QUEUED);

  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(bool exists, RunExists(run.id()));
  if (exists) {
    return absl::AlreadyExistsError(
        absl::StrCat("run ", Quote(run.id()), " already exists"));
  }
  rocksdb::WriteBatch batch;
  RETURN_IF_ERROR(AddRunToBatch(run, &batch));
  if (run.state() == evald::v1::QUEUED) {
    RETURN_IF_ERROR(AddToQueueLocked(run.id(), run.spec().priority(), &batch));
  }
  RETURN_IF_ERROR(Write(&batch, absl::StrCat("create run ", Quote(run.id()))));
  return run;
}

absl::Status Store::AddRunToBatch(const RunRecord& run,
                                  rocksdb::WriteBatch* batch) {
  // The fingerprint (one hash per weight shard, dataset file, ...) lives in
  // its own column family so that listing runs stays cheap.
  RunRecord stored = run;
  if (run.has_fingerprint()) {
    RETURN_IF_ERROR(
        FromRocks(batch->Put(handles_->cf(ColumnFamily::kFingerprints),
                             run.id(), DeterministicBytes(run.fingerprint())),
                  "batch fingerprint"));
    stored.clear_fingerprint();
  }
  return FromRocks(batch->Put(handles_->cf(ColumnFamily::kRuns), run.id(),
                              DeterministicBytes(stored)),
                   "batch run");
}

absl::Status Store::PutRun(const RunRecord& run) {
  RETURN_IF_ERROR(CheckWritable(absl::StrCat("write run ", Quote(run.id()))));
  RETURN_IF_ERROR(keys::ValidateName("run id", run.id()));
  rocksdb::WriteBatch batch;
  RETURN_IF_ERROR(AddRunToBatch(run, &batch));
  return Write(&batch, absl::StrCat("write run ", Quote(run.id())));
}

absl::Status Store::AttachProgress(RunRecord* run) {
  return ScanPrefix(
      ColumnFamily::kMeta, keys::ProgressPrefix(run->id()),
      absl::StrCat("progress of run ", Quote(run->id())),
      [&](absl::string_view, absl::string_view value) -> absl::Status {
        ASSIGN_OR_RETURN(
            TaskProgress marker,
            Parse<TaskProgress>(value, absl::StrCat("progress marker of run ",
                                                    Quote(run->id()))));
        for (TaskProgress& p : *run->mutable_progress()) {
          if (p.task() == marker.task()) {
            p.set_done(marker.done());
            return absl::OkStatus();
          }
        }
        *run->add_progress() = std::move(marker);
        return absl::OkStatus();
      });
}

absl::StatusOr<RunRecord> Store::GetRun(absl::string_view run_id) {
  RETURN_IF_ERROR(keys::ValidateName("run id", run_id));
  ASSIGN_OR_RETURN(
      std::optional<std::string> bytes,
      Get(ColumnFamily::kRuns, run_id, absl::StrCat("run ", Quote(run_id))));
  if (!bytes)
    return absl::NotFoundError(
        absl::StrCat("run ", Quote(run_id), " not found"));
  ASSIGN_OR_RETURN(
      RunRecord run,
      Parse<RunRecord>(*bytes, absl::StrCat("run ", Quote(run_id))));
  ASSIGN_OR_RETURN(std::optional<std::string> fp,
                   Get(ColumnFamily::kFingerprints, run_id,
                       absl::StrCat("fingerprint of run ", Quote(run_id))));
  if (fp) {
    ASSIGN_OR_RETURN(*run.mutable_fingerprint(),
                     Parse<Fingerprint>(*fp, absl::StrCat("fingerprint of run ",
                                                          Quote(run_id))));
  }
  RETURN_IF_ERROR(AttachProgress(&run));
  return run;
}

absl::StatusOr<Fingerprint> Store::GetFingerprint(absl::string_view run_id) {
  RETURN_IF_ERROR(RequireRun(run_id));
  ASSIGN_OR_RETURN(std::optional<std::string> fp,
                   Get(ColumnFamily::kFingerprints, run_id,
                       absl::StrCat("fingerprint of run ", Quote(run_id))));
  if (!fp) {
    return absl::NotFoundError(
        absl::StrCat("run ", Quote(run_id), " has no fingerprint yet"));
  }
  return Parse<Fingerprint>(*fp,
                            absl::StrCat("fingerprint of run ", Quote(run_id)));
}

absl::StatusOr<std::vector<RunRecord>> Store::ListRuns(
    const RunFilter& filter) {
  // Ids made by NewRunId carry a second no earlier than the run's creation,
  // so once an id's second is before `since`'s, every older run is too.
  std::optional<absl::Time> since_second;
  if (filter.since_unix_ms) {
    since_second = absl::FromUnixSeconds(
        absl::ToUnixSeconds(absl::FromUnixMillis(*filter.since_unix_ms)));
  }
  std::vector<RunRecord> runs;
  std::unique_ptr<rocksdb::Iterator> it(handles_->db->NewIterator(
      rocksdb::ReadOptions(), handles_->cf(ColumnFamily::kRuns)));
  for (it->SeekToLast(); it->Valid(); it->Prev()) {
    absl::string_view id = ToView(it->key());
    if (since_second) {
      std::optional<keys::ParsedRunId> parsed = keys::ParseRunId(id);
      if (parsed && parsed->time < *since_second) break;
    }
    ASSIGN_OR_RETURN(
        RunRecord run,
        Parse<RunRecord>(ToView(it->value()), absl::StrCat("run ", Quote(id))));
    if (filter.since_unix_ms && run.created_unix_ms() < *filter.since_unix_ms)
      continue;
    if (filter.state && run.state() != *filter.state) continue;
    bool labels_match = true;
    for (const auto& [k, v] : filter.labels) {
      auto found = run.spec().labels().find(k);
      if (found == run.spec().labels().end() || found->second != v) {
        labels_match = false;
        break;
      }
    }
    if (!labels_match) continue;
    if (filter.with_fingerprint) {
      ASSIGN_OR_RETURN(std::optional<std::string> fp,
                       Get(ColumnFamily::kFingerprints, id,
                           absl::StrCat("fingerprint of run ", Quote(id))));
      if (fp) {
        ASSIGN_OR_RETURN(
            *run.mutable_fingerprint(),
            Parse<Fingerprint>(*fp,
                               absl::StrCat("fingerprint of run ", Quote(id))));
      }
    }
    RETURN_IF_ERROR(AttachProgress(&run));
    runs.push_back(std::move(run));
    if (filter.limit != 0 && runs.size() >= filter.limit) break;
  }
  RETURN_IF_ERROR(FromRocks(
      it->status(), absl::StrCat("store at ", options_.path, ": list runs")));
  return runs;
}

// ---- Samples
// -----------------------------------------------------------------

absl::Status Store::PutSample(const SampleRecord& sample) {
  const std::string where =
      absl::StrCat("sample of run ", Quote(sample.run_id()), " task ",
                   Quote(sample.task()), " doc ", sample.doc_index());
  RETURN_IF_ERROR(CheckWritable(absl::StrCat("write ", where)));
  RETURN_IF_ERROR(keys::ValidateName("run id", sample.run_id()));
  RETURN_IF_ERROR(keys::ValidateName("task name", sample.task()));
  if (sample.doc_index() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": negative doc index"));
  }
  const std::string key =
      keys::SampleKey(sample.run_id(), sample.task(),
                      static_cast<uint64_t>(sample.doc_index()));
  const std::string progress_key =
      keys::ProgressKey(sample.run_id(), sample.task());

  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(bool run_exists, RunExists(sample.run_id()));
  if (!run_exists) {
    return absl::NotFoundError(absl::StrCat("run ", Quote(sample.run_id()),
                                            " not found (", where, ")"));
  }
  ASSIGN_OR_RETURN(std::optional<std::string> previous,
                   Get(ColumnFamily::kSamples, key, where));
  rocksdb::WriteBatch batch;
  RETURN_IF_ERROR(FromRocks(batch.Put(handles_->cf(ColumnFamily::kSamples), key,
                                      DeterministicBytes(sample)),
                            where));
  if (!previous) {
    ASSIGN_OR_RETURN(std::optional<std::string> marker_bytes,
                     Get(ColumnFamily::kMeta, progress_key,
                         absl::StrCat("progress of ", where)));
    TaskProgress marker;
    if (marker_bytes) {
      ASSIGN_OR_RETURN(
          marker, Parse<TaskProgress>(*marker_bytes,
                                      absl::StrCat("progress of ", where)));
    }
    marker.set_task(sample.task());
    marker.set_done(marker.done() + 1);
    RETURN_IF_ERROR(
        FromRocks(batch.Put(handles_->cf(ColumnFamily::kMeta), progress_key,
                            DeterministicBytes(marker)),
                  where));
  }
  return Write(&batch, absl::StrCat("write ", where));
}

absl::StatusOr<std::vector<SampleRecord>> Store::ListSamples(
    absl::string_view run_id, absl::string_view task) {
  RETURN_IF_ERROR(RequireRun(run_id));
  RETURN_IF_ERROR(keys::ValidateName("task name", task));
  const std::string what =
      absl::StrCat("samples of run ", Quote(run_id), " task ", Quote(task));
  std::vector<SampleRecord> samples;
  RETURN_IF_ERROR(ScanPrefix(
      ColumnFamily::kSamples, keys::SamplePrefix(run_id, task), what,
      [&](absl::string_view, absl::string_view value) -> absl::Status {
        ASSIGN_OR_RETURN(SampleRecord s, Parse<SampleRecord>(value, what));
        samples.push_back(std::move(s));
        return absl::OkStatus();
      }));
  return samples;
}

absl::StatusOr<std::set<int64_t>> Store::DoneDocIndices(
    absl::string_view run_id, absl::string_view task) {
  RETURN_IF_ERROR(RequireRun(run_id));
  RETURN_IF_ERROR(keys::ValidateName("task name", task));
  const std::string prefix = keys::SamplePrefix(run_id, task);
  const std::string what =
      absl::StrCat("samples of run ", Quote(run_id), " task ", Quote(task));
  std::set<int64_t> done;
  RETURN_IF_ERROR(ScanPrefix(
      ColumnFamily::kSamples, prefix, what,
      [&](absl::string_view key, absl::string_view) -> absl::Status {
        std::optional<uint64_t> index =
            keys::DocIndexFromSampleKey(prefix, key);
        if (!index) {
          return absl::DataLossError(absl::StrCat("corrupt key in ", what));
        }
        done.insert(static_cast<int64_t>(*index));
        return absl::OkStatus();
      }));
  return done;
}

absl::StatusOr<int64_t> Store::CountSamples(absl::string_view run_id,
                                            absl::string_view task) {
  ASSIGN_OR_RETURN(std::set<int64_t> done, DoneDocIndices(run_id, task));
  return static_cast<int64_t>(done.size());
}

// ---- Scores
// ------------------------------------------------------------------

absl::Status Store::PutScores(const TaskScores& scores) {
  const std::string what = absl::StrCat(
      "scores of run ", Quote(scores.run_id()), " task ", Quote(scores.task()));
  RETURN_IF_ERROR(CheckWritable(absl::StrCat("write ", what)));
  RETURN_IF_ERROR(RequireRun(scores.run_id()));
  RETURN_IF_ERROR(keys::ValidateName("task name", scores.task()));
  rocksdb::WriteBatch batch;
  RETURN_IF_ERROR(
      FromRocks(batch.Put(handles_->cf(ColumnFamily::kScores),
                          keys::ScoresKey(scores.run_id(), scores.task()),
                          DeterministicBytes(scores)),
                what));
  return Write(&batch, absl::StrCat("write ", what));
}

absl::StatusOr<std::vector<TaskScores>> Store::GetScores(
    absl::string_view run_id) {
  RETURN_IF_ERROR(RequireRun(run_id));
  const std::string what = absl::StrCat("scores of run ", Quote(run_id));
  std::vector<TaskScores> all;
  RETURN_IF_ERROR(ScanPrefix(
      ColumnFamily::kScores, keys::RunPrefix(run_id), what,
      [&](absl::string_view, absl::string_view value) -> absl::Status {
        ASSIGN_OR_RETURN(TaskScores s, Parse<TaskScores>(value, what));
        all.push_back(std::move(s));
        return absl::OkStatus();
      }));
  return all;
}

// ---- Queue
// -------------------------------------------------------------------

absl::StatusOr<std::vector<std::pair<std::string, QueueEntry>>>
Store::ScanQueue(size_t max) {
  std::vector<std::pair<std::string, QueueEntry>> entries;
  RETURN_IF_ERROR(ScanPrefix(
      ColumnFamily::kQueue, "", "queue",
      [&](absl::string_view key, absl::string_view value) -> absl::Status {
        if (max != 0 && entries.size() >= max) return absl::OkStatus();
        ASSIGN_OR_RETURN(QueueEntry e, Parse<QueueEntry>(value, "queue entry"));
        entries.emplace_back(std::string(key), std::move(e));
        return absl::OkStatus();
      }));
  return entries;
}

absl::Status Store::AddToQueueLocked(absl::string_view run_id, int32_t priority,
                                     rocksdb::WriteBatch* batch) {
  ASSIGN_OR_RETURN(auto entries, ScanQueue(0));
  for (const auto& [key, entry] : entries) {
    if (entry.run_id() == run_id) {
      return absl::AlreadyExistsError(
          absl::StrCat("run ", Quote(run_id), " is already queued"));
    }
  }
  QueueEntry entry;
  entry.set_run_id(std::string(run_id));
  entry.set_priority(priority);
  entry.set_seq(next_queue_seq_++);
  RETURN_IF_ERROR(FromRocks(batch->Put(handles_->cf(ColumnFamily::kQueue),
                                       keys::QueueKey(priority, entry.seq()),
                                       DeterministicBytes(entry)),
                            "batch queue entry"));
  return FromRocks(batch->Put(handles_->cf(ColumnFamily::kMeta),
                              std::string(keys::kNextQueueSeqKey),
                              absl::StrCat(next_queue_seq_)),
                   "batch queue sequence");
}

absl::Status Store::Enqueue(absl::string_view run_id, int32_t priority) {
  RETURN_IF_ERROR(CheckWritable(absl::StrCat("enqueue run ", Quote(run_id))));
  absl::MutexLock lock(&write_mu_);
  RETURN_IF_ERROR(RequireRun(run_id));
  rocksdb::WriteBatch batch;
  RETURN_IF_ERROR(AddToQueueLocked(run_id, priority, &batch));
  return Write(&batch, absl::StrCat("enqueue run ", Quote(run_id)));
}

absl::StatusOr<std::optional<QueueEntry>> Store::PeekQueue() {
  ASSIGN_OR_RETURN(auto head, ScanQueue(1));
  if (head.empty()) return std::nullopt;
  return std::move(head[0].second);
}

absl::StatusOr<std::optional<QueueEntry>> Store::Dequeue() {
  RETURN_IF_ERROR(CheckWritable("dequeue"));
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(auto head, ScanQueue(1));
  if (head.empty()) return std::nullopt;
  rocksdb::WriteBatch batch;
  RETURN_IF_ERROR(
      FromRocks(batch.Delete(handles_->cf(ColumnFamily::kQueue), head[0].first),
                "batch dequeue"));
  RETURN_IF_ERROR(Write(
      &batch, absl::StrCat("dequeue run ", Quote(head[0].second.run_id()))));
  return std::move(head[0].second);
}

absl::StatusOr<std::optional<RunRecord>> Store::ClaimNextRun() {
  RETURN_IF_ERROR(CheckWritable("claim the next queued run"));
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(auto entries, ScanQueue(0));
  rocksdb::WriteBatch batch;
  std::optional<RunRecord> claimed;
  for (const auto& [key, entry] : entries) {
    RETURN_IF_ERROR(
        FromRocks(batch.Delete(handles_->cf(ColumnFamily::kQueue), key),
                  "batch dequeue"));
    const std::string what = absl::StrCat("run ", Quote(entry.run_id()));
    ASSIGN_OR_RETURN(std::optional<std::string> bytes,
                     Get(ColumnFamily::kRuns, entry.run_id(), what));
    if (!bytes) continue;
    ASSIGN_OR_RETURN(RunRecord run, Parse<RunRecord>(*bytes, what));
    if (run.state() != evald::v1::QUEUED) continue;
    run.set_state(evald::v1::RUNNING);
    if (run.started_unix_ms() == 0)
      run.set_started_unix_ms(absl::ToUnixMillis(Now()));
    RETURN_IF_ERROR(FromRocks(batch.Put(handles_->cf(ColumnFamily::kRuns),
                                        run.id(), DeterministicBytes(run)),
                              what));
    claimed = std::move(run);
    break;
  }
  if (batch.Count() == 0) return std::nullopt;
  RETURN_IF_ERROR(Write(&batch, "claim the next queued run"));
  if (!claimed) return std::nullopt;
  // Return the run as GetRun would: with fingerprint and progress.
  ASSIGN_OR_RETURN(RunRecord full, GetRun(claimed->id()));
  return full;
}

absl::Status Store::RemoveFromQueue(absl::string_view run_id) {
  RETURN_IF_ERROR(CheckWritable(
      absl::StrCat("remove run ", Quote(run_id), " from the queue")));
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(auto entries, ScanQueue(0));
  rocksdb::WriteBatch batch;
  for (const auto& [key, entry] : entries) {
    if (entry.run_id() == run_id) {
      RETURN_IF_ERROR(
          FromRocks(batch.Delete(handles_->cf(ColumnFamily::kQueue), key),
                    "batch queue removal"));
    }
  }
  if (batch.Count() == 0) {
    return absl::NotFoundError(
        absl::StrCat("run ", Quote(run_id), " is not queued"));
  }
  return Write(&batch,
               absl::StrCat("remove run ", Quote(run_id), " from the queue"));
}

absl::StatusOr<std::vector<QueueEntry>> Store::ListQueue() {
  ASSIGN_OR_RETURN(auto entries, ScanQueue(0));
  std::vector<QueueEntry> out;
  out.reserve(entries.size());
  for (auto& [key, entry] : entries) out.push_back(std::move(entry));
  return out;
}

// ---- File-hash cache
// ---------------------------------------------------------

absl::StatusOr<std::optional<std::string>> Store::GetHash(
    absl::string_view path, const base::FileIdentity& identity) {
  RETURN_IF_ERROR(keys::ValidateName("hashed file path", path));
  const std::string what = absl::StrCat("hash cache entry for ", path);
  ASSIGN_OR_RETURN(std::optional<std::string> bytes,
                   Get(ColumnFamily::kHashCache, path, what));
  if (!bytes) return std::nullopt;
  ASSIGN_OR_RETURN(HashCacheEntry e, Parse<HashCacheEntry>(*bytes, what));
  if (e.size() != identity.size || e.mtime_ns() != identity.mtime_ns ||
      e.inode() != identity.inode || e.device() != identity.device ||
      e.sha256().empty()) {
    return std::nullopt;
  }
  return e.sha256();
}

absl::Status Store::PutHash(const HashCacheEntry& entry) {
  const std::string what = absl::StrCat("hash cache entry for ", entry.path());
  RETURN_IF_ERROR(CheckWritable(absl::StrCat("write ", what)));
  RETURN_IF_ERROR(keys::ValidateName("hashed file path", entry.path()));
  if (entry.sha256().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": sha256 is empty"));
  }
  HashCacheEntry stored = entry;
  if (stored.hashed_unix_ms() == 0)
    stored.set_hashed_unix_ms(absl::ToUnixMillis(Now()));
  rocksdb::WriteBatch batch;
  RETURN_IF_ERROR(FromRocks(batch.Put(handles_->cf(ColumnFamily::kHashCache),
                                      entry.path(), DeterministicBytes(stored)),
                            what));
  return Write(&batch, absl::StrCat("write ", what));
}

// ---- Tags
// --------------------------------------------------------------------

absl::Status Store::PutTag(absl::string_view name, absl::string_view run_id) {
  RETURN_IF_ERROR(CheckWritable(absl::StrCat("write tag ", Quote(name))));
  RETURN_IF_ERROR(keys::ValidateName("tag name", name));
  RETURN_IF_ERROR(RequireRun(run_id));
  rocksdb::WriteBatch batch;
  RETURN_IF_ERROR(FromRocks(batch.Put(handles_->cf(ColumnFamily::kTags),
                                      ToSlice(name), ToSlice(run_id)),
                            "batch tag"));
  return Write(&batch, absl::StrCat("write tag ", Quote(name)));
}

absl::StatusOr<std::string> Store::ResolveTag(absl::string_view name) {
  RETURN_IF_ERROR(keys::ValidateName("tag name", name));
  ASSIGN_OR_RETURN(
      std::optional<std::string> run_id,
      Get(ColumnFamily::kTags, name, absl::StrCat("tag ", Quote(name))));
  if (!run_id)
    return absl::NotFoundError(absl::StrCat("tag ", Quote(name), " not found"));
  return *std::move(run_id);
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>>
Store::ListTags() {
  std::vector<std::pair<std::string, std::string>> tags;
  RETURN_IF_ERROR(
      ScanPrefix(ColumnFamily::kTags, "", "tags",
                 [&](absl::string_view key, absl::string_view value) {
                   tags.emplace_back(std::string(key), std::string(value));
                   return absl::OkStatus();
                 }));
  return tags;
}

}  // namespace evald::store
