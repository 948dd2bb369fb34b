#include "store/store.h"

#include <algorithm>
#include <cstdarg>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"
#include "store/keys.h"
#include "store/utf8_fields.h"

namespace evald::store {

using ::evald::v1::Fingerprint;
using ::evald::v1::HashCacheEntry;
using ::evald::v1::QueueEntry;
using ::evald::v1::RunRecord;
using ::evald::v1::SampleRecord;
using ::evald::v1::TaskProgress;
using ::evald::v1::TaskScores;

namespace {

std::string SerializeDeterministic(const google::protobuf::Message& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }  // The coded stream flushes into `bytes` here.
  return bytes;
}

// The one way a record becomes stored bytes. Stored bytes are a pure
// function of the record: map fields (metrics, labels) are written sorted by
// key, so the same run stores the same bytes. And they always parse again:
// strings that are not valid UTF-8 (which protobuf would serialise but never
// parse) have their bad bytes escaped first (utf8_fields.h).
std::string DeterministicBytes(const google::protobuf::Message& message) {
  if (!HasInvalidUtf8(message)) return SerializeDeterministic(message);
  std::unique_ptr<google::protobuf::Message> copy(message.New());
  copy->CopyFrom(message);
  EscapeInvalidUtf8Fields(copy.get());
  return SerializeDeterministic(*copy);
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
    return absl::DataLossError(absl::StrCat(
        what,
        ": unreadable record in the store (`evalctl fsck` reports the damage, "
        "`evalctl fsck --repair` mends or removes it)"));
  }
  return m;
}

// Parses a record a listing may skip: OK(nullopt) when it is unreadable, with
// the reason noted in `unreadable` (when given) and in the log.
template <typename Message>
std::optional<Message> ParseOrNote(absl::string_view bytes,
                                   absl::string_view what,
                                   Unreadable* unreadable) {
  absl::StatusOr<Message> m = Parse<Message>(bytes, what);
  if (m.ok()) return *std::move(m);
  LOG(WARNING) << m.status().message();
  if (unreadable != nullptr)
    unreadable->push_back(std::string(m.status().message()));
  return std::nullopt;
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

std::string SampleWhat(absl::string_view run_id, absl::string_view task,
                       absl::string_view key) {
  const std::optional<uint64_t> index =
      keys::DocIndexFromSampleKey(keys::SamplePrefix(run_id, task), key);
  return absl::StrCat("sample of run ", Quote(run_id), " task ", Quote(task),
                      " doc ", index ? absl::StrCat(*index) : std::string("?"));
}

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

absl::StatusOr<RunRecord> Store::ImportRun(RunRecord run,
                                           std::vector<TaskScores> scores,
                                           std::vector<SampleRecord> samples) {
  RETURN_IF_ERROR(CheckWritable("import a run"));
  if (run.created_unix_ms() == 0)
    run.set_created_unix_ms(absl::ToUnixMillis(Now()));
  if (run.id().empty()) {
    run.set_id(NewRunId(absl::FromUnixMillis(run.created_unix_ms())));
  } else {
    RETURN_IF_ERROR(keys::ValidateName("run id", run.id()));
  }
  if (run.state() == evald::v1::QUEUED || run.state() == evald::v1::RUNNING ||
      run.state() == evald::v1::RUN_STATE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat(
        "import run ", Quote(run.id()), ": only a finished run is imported"));
  }
  const std::string what = absl::StrCat("import run ", Quote(run.id()));
  rocksdb::WriteBatch batch;
  std::map<std::string, std::set<int64_t>> done;
  for (SampleRecord& sample : samples) {
    sample.set_run_id(run.id());
    RETURN_IF_ERROR(keys::ValidateName("task name", sample.task()));
    if (sample.doc_index() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": task ", Quote(sample.task()), " doc ",
                       Quote(sample.doc_id()), ": negative doc index"));
    }
    if (!done[sample.task()].insert(sample.doc_index()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": task ", Quote(sample.task()), " doc index ",
                       sample.doc_index(), " given twice"));
    }
    RETURN_IF_ERROR(FromRocks(
        batch.Put(handles_->cf(ColumnFamily::kSamples),
                  keys::SampleKey(run.id(), sample.task(),
                                  static_cast<uint64_t>(sample.doc_index())),
                  DeterministicBytes(sample)),
        what));
  }
  for (const auto& [task, indices] : done) {
    TaskProgress marker;
    marker.set_task(task);
    marker.set_done(static_cast<int64_t>(indices.size()));
    RETURN_IF_ERROR(FromRocks(batch.Put(handles_->cf(ColumnFamily::kMeta),
                                        keys::ProgressKey(run.id(), task),
                                        DeterministicBytes(marker)),
                              what));
  }
  for (TaskScores& s : scores) {
    s.set_run_id(run.id());
    RETURN_IF_ERROR(keys::ValidateName("task name", s.task()));
    RETURN_IF_ERROR(FromRocks(
        batch.Put(handles_->cf(ColumnFamily::kScores),
                  keys::ScoresKey(run.id(), s.task()), DeterministicBytes(s)),
        what));
  }
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(bool exists, RunExists(run.id()));
  if (exists) {
    return absl::AlreadyExistsError(
        absl::StrCat("run ", Quote(run.id()), " already exists"));
  }
  RETURN_IF_ERROR(AddRunToBatch(run, &batch));
  RETURN_IF_ERROR(Write(&batch, what));
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

absl::Status Store::PutRun(const RunRecord& run, bool fold_figures) {
  const std::string what = absl::StrCat("write run ", Quote(run.id()));
  RETURN_IF_ERROR(CheckWritable(what));
  RETURN_IF_ERROR(keys::ValidateName("run id", run.id()));
  rocksdb::WriteBatch batch;
  RETURN_IF_ERROR(AddRunToBatch(run, &batch));
  if (fold_figures) {
    RETURN_IF_ERROR(ScanPrefix(
        ColumnFamily::kMeta, keys::FiguresPrefix(run.id()), what,
        [&](absl::string_view key, absl::string_view) {
          return FromRocks(
              batch.Delete(handles_->cf(ColumnFamily::kMeta), ToSlice(key)),
              what);
        }));
  }
  return Write(&batch, what);
}

absl::Status Store::AddUnfoldedFigures(RunRecord* run, Unreadable* unreadable) {
  return ScanPrefix(
      ColumnFamily::kMeta, keys::FiguresPrefix(run->id()),
      absl::StrCat("figures of run ", Quote(run->id())),
      [&](absl::string_view, absl::string_view value) -> absl::Status {
        std::optional<v1::AttemptFigures> f = ParseOrNote<v1::AttemptFigures>(
            value, absl::StrCat("attempt figures of run ", Quote(run->id())),
            unreadable);
        if (!f) return absl::OkStatus();
        v1::EngineStats* st = run->mutable_stats();
        st->set_prompt_tokens(st->prompt_tokens() + f->stats().prompt_tokens());
        st->set_cached_prompt_tokens(st->cached_prompt_tokens() +
                                     f->stats().cached_prompt_tokens());
        st->set_generated_tokens(st->generated_tokens() +
                                 f->stats().generated_tokens());
        st->set_busy_s(st->busy_s() + f->stats().busy_s());
        v1::PhaseTimes* ph = run->mutable_phases();
        ph->set_model_load_s(ph->model_load_s() + f->phases().model_load_s());
        ph->set_prefill_s(ph->prefill_s() + f->phases().prefill_s());
        ph->set_decode_s(ph->decode_s() + f->phases().decode_s());
        ph->set_scoring_s(ph->scoring_s() + f->phases().scoring_s());
        ph->set_judge_s(ph->judge_s() + f->phases().judge_s());
        ph->set_judge_overlap_s(ph->judge_overlap_s() +
                                f->phases().judge_overlap_s());
        return absl::OkStatus();
      });
}

absl::Status Store::AttachProgress(RunRecord* run, Unreadable* unreadable) {
  return ScanPrefix(
      ColumnFamily::kMeta, keys::ProgressPrefix(run->id()),
      absl::StrCat("progress of run ", Quote(run->id())),
      [&](absl::string_view, absl::string_view value) -> absl::Status {
        std::optional<TaskProgress> parsed = ParseOrNote<TaskProgress>(
            value, absl::StrCat("progress marker of run ", Quote(run->id())),
            unreadable);
        if (!parsed) return absl::OkStatus();
        TaskProgress& marker = *parsed;
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

absl::StatusOr<RunRecord> Store::GetRun(absl::string_view run_id,
                                        Unreadable* unreadable) {
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
    if (std::optional<Fingerprint> parsed = ParseOrNote<Fingerprint>(
            *fp, absl::StrCat("fingerprint of run ", Quote(run_id)),
            unreadable)) {
      *run.mutable_fingerprint() = *std::move(parsed);
    }
  }
  RETURN_IF_ERROR(AttachProgress(&run, unreadable));
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

absl::StatusOr<std::vector<RunRecord>> Store::ListRuns(const RunFilter& filter,
                                                       Unreadable* unreadable) {
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
    std::optional<RunRecord> parsed = ParseOrNote<RunRecord>(
        ToView(it->value()), absl::StrCat("run ", Quote(id)), unreadable);
    if (!parsed) continue;
    RunRecord& run = *parsed;
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
        if (std::optional<Fingerprint> f = ParseOrNote<Fingerprint>(
                *fp, absl::StrCat("fingerprint of run ", Quote(id)),
                unreadable)) {
          *run.mutable_fingerprint() = *std::move(f);
        }
      }
    }
    RETURN_IF_ERROR(AttachProgress(&run, unreadable));
    runs.push_back(std::move(run));
    if (filter.limit != 0 && runs.size() >= filter.limit) break;
  }
  RETURN_IF_ERROR(FromRocks(
      it->status(), absl::StrCat("store at ", options_.path, ": list runs")));
  return runs;
}

// ---- Samples
// -----------------------------------------------------------------

absl::Status Store::PutSample(const SampleRecord& sample,
                              const v1::AttemptFigures* figures) {
  return WriteSample(sample, figures, /*only_if_absent=*/false).status();
}

absl::StatusOr<bool> Store::PutSampleIfAbsent(
    const SampleRecord& sample, const v1::AttemptFigures* figures) {
  return WriteSample(sample, figures, /*only_if_absent=*/true);
}

absl::StatusOr<bool> Store::WriteSample(const SampleRecord& sample,
                                        const v1::AttemptFigures* figures,
                                        bool only_if_absent) {
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
  // Checked and written under write_mu_: two deliveries of one document
  // cannot both find it absent.
  if (only_if_absent && previous) return false;
  rocksdb::WriteBatch batch;
  RETURN_IF_ERROR(FromRocks(batch.Put(handles_->cf(ColumnFamily::kSamples), key,
                                      DeterministicBytes(sample)),
                            where));
  if (figures != nullptr) {
    RETURN_IF_ERROR(FromRocks(
        batch.Put(handles_->cf(ColumnFamily::kMeta),
                  keys::FiguresKey(sample.run_id(), figures->attempt()),
                  DeterministicBytes(*figures)),
        where));
  }
  if (!previous) {
    ASSIGN_OR_RETURN(std::optional<std::string> marker_bytes,
                     Get(ColumnFamily::kMeta, progress_key,
                         absl::StrCat("progress of ", where)));
    TaskProgress marker;
    std::optional<TaskProgress> parsed;
    if (marker_bytes) {
      parsed = ParseOrNote<TaskProgress>(
          *marker_bytes, absl::StrCat("progress of ", where), nullptr);
    }
    if (parsed) {
      marker = *std::move(parsed);
    } else if (marker_bytes) {
      // A damaged marker is counted afresh from the samples' keys.
      int64_t stored = 0;
      RETURN_IF_ERROR(
          ScanPrefix(ColumnFamily::kSamples,
                     keys::SamplePrefix(sample.run_id(), sample.task()), where,
                     [&](absl::string_view, absl::string_view) {
                       ++stored;
                       return absl::OkStatus();
                     }));
      marker.set_done(stored);
    }
    marker.set_task(sample.task());
    marker.set_done(marker.done() + 1);
    RETURN_IF_ERROR(
        FromRocks(batch.Put(handles_->cf(ColumnFamily::kMeta), progress_key,
                            DeterministicBytes(marker)),
                  where));
  }
  RETURN_IF_ERROR(Write(&batch, absl::StrCat("write ", where)));
  return true;
}

absl::StatusOr<std::vector<SampleRecord>> Store::ListSamples(
    absl::string_view run_id, absl::string_view task, Unreadable* unreadable) {
  std::vector<SampleRecord> samples;
  RETURN_IF_ERROR(ScanSamples(
      run_id, task,
      [&](SampleRecord s) {
        samples.push_back(std::move(s));
        return true;
      },
      unreadable));
  return samples;
}

absl::Status Store::ScanSamples(absl::string_view run_id,
                                absl::string_view task,
                                const std::function<bool(SampleRecord)>& visit,
                                Unreadable* unreadable) {
  RETURN_IF_ERROR(RequireRun(run_id));
  RETURN_IF_ERROR(keys::ValidateName("task name", task));
  const std::string what =
      absl::StrCat("samples of run ", Quote(run_id), " task ", Quote(task));
  std::unique_ptr<rocksdb::Iterator> it(handles_->db->NewIterator(
      rocksdb::ReadOptions(), handles_->cf(ColumnFamily::kSamples)));
  const std::string prefix = keys::SamplePrefix(run_id, task);
  for (it->Seek(ToSlice(prefix)); it->Valid(); it->Next()) {
    const absl::string_view key = ToView(it->key());
    if (!absl::StartsWith(key, prefix)) break;
    std::optional<SampleRecord> s = ParseOrNote<SampleRecord>(
        ToView(it->value()), SampleWhat(run_id, task, key), unreadable);
    if (s && !visit(*std::move(s))) break;
  }
  return FromRocks(it->status(),
                   absl::StrCat("store at ", options_.path, ": scan ", what));
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
      [&](absl::string_view key, absl::string_view value) -> absl::Status {
        std::optional<uint64_t> index =
            keys::DocIndexFromSampleKey(prefix, key);
        if (!index) {
          return absl::DataLossError(absl::StrCat("corrupt key in ", what));
        }
        // An unreadable sample counts as not done: the run computes it
        // again and the new record replaces it.
        if (!ParseOrNote<SampleRecord>(value, SampleWhat(run_id, task, key),
                                       nullptr)) {
          return absl::OkStatus();
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
    absl::string_view run_id, Unreadable* unreadable) {
  RETURN_IF_ERROR(RequireRun(run_id));
  const std::string what = absl::StrCat("scores of run ", Quote(run_id));
  std::vector<TaskScores> all;
  RETURN_IF_ERROR(ScanPrefix(
      ColumnFamily::kScores, keys::RunPrefix(run_id), what,
      [&](absl::string_view key, absl::string_view value) -> absl::Status {
        std::optional<TaskScores> s = ParseOrNote<TaskScores>(
            value, absl::StrCat("scores ", Quote(absl::CHexEscape(key))),
            unreadable);
        if (s) all.push_back(*std::move(s));
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
        std::optional<QueueEntry> e = ParseOrNote<QueueEntry>(
            value, absl::StrCat("queue entry ", Quote(absl::CHexEscape(key))),
            nullptr);
        if (e) entries.emplace_back(std::string(key), *std::move(e));
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
    std::optional<RunRecord> parsed =
        ParseOrNote<RunRecord>(*bytes, what, nullptr);
    if (!parsed || parsed->state() != evald::v1::QUEUED) continue;
    RunRecord& run = *parsed;
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
  std::optional<HashCacheEntry> parsed =
      ParseOrNote<HashCacheEntry>(*bytes, what, nullptr);
  if (!parsed) return std::nullopt;  // hashed again and rewritten
  const HashCacheEntry& e = *parsed;
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

// ---- Deletion and integrity
// ---------------------------------------------------------

absl::Status Store::AddRunDeletionToBatch(absl::string_view run_id,
                                          rocksdb::WriteBatch* batch,
                                          DeletedRun* deleted) {
  const std::string what = absl::StrCat("delete run ", Quote(run_id));
  RETURN_IF_ERROR(FromRocks(
      batch->Delete(handles_->cf(ColumnFamily::kRuns), ToSlice(run_id)), what));
  RETURN_IF_ERROR(FromRocks(
      batch->Delete(handles_->cf(ColumnFamily::kFingerprints), ToSlice(run_id)),
      what));
  // Samples and scores keys both start with run_id \0.
  for (auto [cf, count] :
       {std::pair{ColumnFamily::kSamples, &deleted->samples},
        std::pair{ColumnFamily::kScores, &deleted->scores}}) {
    RETURN_IF_ERROR(ScanPrefix(
        cf, keys::RunPrefix(run_id), what,
        [&](absl::string_view key, absl::string_view) {
          ++*count;
          return FromRocks(batch->Delete(handles_->cf(cf), ToSlice(key)), what);
        }));
  }
  for (const std::string& prefix :
       {keys::ProgressPrefix(run_id), keys::FiguresPrefix(run_id)}) {
    RETURN_IF_ERROR(ScanPrefix(
        ColumnFamily::kMeta, prefix, what,
        [&](absl::string_view key, absl::string_view) {
          return FromRocks(
              batch->Delete(handles_->cf(ColumnFamily::kMeta), ToSlice(key)),
              what);
        }));
  }
  ASSIGN_OR_RETURN(auto queue, ScanQueue(0));
  for (const auto& [key, entry] : queue) {
    if (entry.run_id() != run_id) continue;
    deleted->was_queued = true;
    RETURN_IF_ERROR(FromRocks(
        batch->Delete(handles_->cf(ColumnFamily::kQueue), ToSlice(key)), what));
  }
  ASSIGN_OR_RETURN(auto tags, ListTags());
  for (const auto& [tag, target] : tags) {
    if (target != run_id) continue;
    deleted->tags.push_back(tag);
    RETURN_IF_ERROR(FromRocks(
        batch->Delete(handles_->cf(ColumnFamily::kTags), ToSlice(tag)), what));
  }
  return absl::OkStatus();
}

absl::StatusOr<DeletedRun> Store::DeleteRun(absl::string_view run_id) {
  RETURN_IF_ERROR(CheckWritable(absl::StrCat("delete run ", Quote(run_id))));
  RETURN_IF_ERROR(keys::ValidateName("run id", run_id));
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(bool exists, RunExists(run_id));
  if (!exists)
    return absl::NotFoundError(
        absl::StrCat("run ", Quote(run_id), " not found"));
  rocksdb::WriteBatch batch;
  DeletedRun deleted;
  RETURN_IF_ERROR(AddRunDeletionToBatch(run_id, &batch, &deleted));
  RETURN_IF_ERROR(Write(&batch, absl::StrCat("delete run ", Quote(run_id))));
  return deleted;
}

namespace {

// The run id a key of the samples, scores or progress families belongs to.
absl::string_view RunIdOfKey(absl::string_view key) {
  return key.substr(0, std::min(key.find('\0'), key.size()));
}

}  // namespace

absl::StatusOr<CheckReport> Store::Check(bool repair,
                                         const std::set<std::string>& skip) {
  if (repair) RETURN_IF_ERROR(CheckWritable("repair"));
  absl::MutexLock lock(&write_mu_);
  CheckReport report;
  rocksdb::WriteBatch batch;
  auto note = [&](std::string record, std::string problem, std::string action) {
    LOG(WARNING) << "store check: " << record << ": " << problem << " ("
                 << action << ")";
    report.problems.push_back(
        {std::move(record), std::move(problem), std::move(action)});
  };
  auto put = [&](ColumnFamily cf, absl::string_view key,
                 absl::string_view value) {
    return FromRocks(batch.Put(handles_->cf(cf), ToSlice(key), ToSlice(value)),
                     "repair");
  };
  auto del = [&](ColumnFamily cf, absl::string_view key) {
    return FromRocks(batch.Delete(handles_->cf(cf), ToSlice(key)), "repair");
  };
  // Visits every record of `cf`.
  auto scan = [&](ColumnFamily cf,
                  const std::function<absl::Status(absl::string_view,
                                                   absl::string_view)>& visit) {
    return ScanPrefix(cf, "", ColumnFamilyName(cf),
                      [&](absl::string_view key, absl::string_view value) {
                        ++report.records;
                        return visit(key, value);
                      });
  };
  // A record that does not parse: mended by escaping its invalid UTF-8 when
  // that makes it parse, else unreadable. Returns whether it is usable (as
  // stored or mended).
  auto check_record =
      [&](ColumnFamily cf, absl::string_view key, absl::string_view value,
          const google::protobuf::Message& prototype, const std::string& record,
          bool may_change) -> absl::StatusOr<bool> {
    std::unique_ptr<google::protobuf::Message> m(prototype.New());
    if (m->ParseFromArray(value.data(), static_cast<int>(value.size())))
      return true;
    absl::StatusOr<std::string> mended =
        RepairUtf8OnWire(value, *prototype.GetDescriptor());
    if (mended.ok() &&
        m->ParseFromArray(mended->data(), static_cast<int>(mended->size()))) {
      note(record, "holds invalid UTF-8",
           may_change ? "escape the invalid bytes"
                      : "left alone: its run is running");
      if (repair && may_change) RETURN_IF_ERROR(put(cf, key, *mended));
      return true;
    }
    return false;
  };

  // Runs first: the other families are checked against them.
  std::set<std::string> runs;        // usable run records
  std::set<std::string> unreadable;  // run records beyond repair
  RETURN_IF_ERROR(
      scan(ColumnFamily::kRuns,
           [&](absl::string_view key, absl::string_view value) -> absl::Status {
             const std::string id(key);
             const bool may_change = skip.count(id) == 0;
             ASSIGN_OR_RETURN(
                 bool usable,
                 check_record(ColumnFamily::kRuns, key, value, RunRecord(),
                              absl::StrCat("run ", Quote(id)), may_change));
             if (usable) {
               runs.insert(id);
               return absl::OkStatus();
             }
             unreadable.insert(id);
             if (!may_change) {
               note(absl::StrCat("run ", Quote(id)), "unreadable record",
                    "left alone: it is running");
               return absl::OkStatus();
             }
             DeletedRun deleted;
             if (repair)
               RETURN_IF_ERROR(AddRunDeletionToBatch(id, &batch, &deleted));
             note(absl::StrCat("run ", Quote(id)), "unreadable record",
                  "remove the run with its samples, scores and tags (`evalctl "
                  "delete` does the same)");
             return absl::OkStatus();
           }));
  // What belongs to a run that is gone (and not merely unreadable, which is
  // handled above) is an orphan.
  auto orphan = [&](absl::string_view run_id) {
    const std::string id(run_id);
    return runs.count(id) == 0 && unreadable.count(id) == 0;
  };
  auto changeable = [&](absl::string_view run_id) {
    const std::string id(run_id);
    return skip.count(id) == 0 && unreadable.count(id) == 0;
  };
  // A keyed record of a run: orphan, unreadable or fine.
  auto check_owned = [&](ColumnFamily cf, absl::string_view key,
                         absl::string_view value, absl::string_view run_id,
                         const google::protobuf::Message& prototype,
                         const std::string& record) -> absl::StatusOr<bool> {
    if (orphan(run_id)) {
      note(record,
           absl::StrCat("belongs to run ", Quote(run_id),
                        ", which does not exist"),
           "remove it");
      if (repair) RETURN_IF_ERROR(del(cf, key));
      return false;
    }
    if (unreadable.count(std::string(run_id)) > 0)
      return false;  // goes with its run
    const bool may_change = skip.count(std::string(run_id)) == 0;
    ASSIGN_OR_RETURN(bool usable, check_record(cf, key, value, prototype,
                                               record, may_change));
    if (!usable) {
      note(record, "unreadable record",
           may_change ? "remove it" : "left alone: its run is running");
      if (repair && may_change) RETURN_IF_ERROR(del(cf, key));
    }
    return usable;
  };

  RETURN_IF_ERROR(
      scan(ColumnFamily::kFingerprints,
           [&](absl::string_view key, absl::string_view value) {
             return check_owned(ColumnFamily::kFingerprints, key, value, key,
                                Fingerprint(),
                                absl::StrCat("fingerprint of run ", Quote(key)))
                 .status();
           }));
  // Readable samples per (run, task) progress key, for the markers.
  std::map<std::string, int64_t> sample_counts;
  RETURN_IF_ERROR(
      scan(ColumnFamily::kSamples,
           [&](absl::string_view key, absl::string_view value) -> absl::Status {
             const absl::string_view run_id = RunIdOfKey(key);
             const absl::string_view rest =
                 key.substr(std::min(run_id.size() + 1, key.size()));
             const absl::string_view task = RunIdOfKey(rest);
             ASSIGN_OR_RETURN(
                 bool usable,
                 check_owned(ColumnFamily::kSamples, key, value, run_id,
                             SampleRecord(), SampleWhat(run_id, task, key)));
             if (usable) ++sample_counts[keys::ProgressKey(run_id, task)];
             return absl::OkStatus();
           }));
  RETURN_IF_ERROR(scan(ColumnFamily::kScores, [&](absl::string_view key,
                                                  absl::string_view value) {
    const absl::string_view run_id = RunIdOfKey(key);
    return check_owned(
               ColumnFamily::kScores, key, value, run_id, TaskScores(),
               absl::StrCat(
                   "scores of run ", Quote(run_id), " task ",
                   Quote(key.substr(std::min(run_id.size() + 1, key.size())))))
        .status();
  }));
  // Progress markers: one per (run, task) with samples, counting them.
  std::set<std::string> markers_seen;
  RETURN_IF_ERROR(scan(
      ColumnFamily::kMeta,
      [&](absl::string_view key, absl::string_view value) -> absl::Status {
        const absl::string_view head = RunIdOfKey(key);
        if (head == "figures") {
          const absl::string_view rest =
              key.substr(std::min(head.size() + 1, key.size()));
          const absl::string_view run_id = RunIdOfKey(rest);
          return check_owned(
                     ColumnFamily::kMeta, key, value, run_id,
                     v1::AttemptFigures(),
                     absl::StrCat("attempt figures of run ", Quote(run_id)))
              .status();
        }
        if (head != "progress")
          return absl::OkStatus();  // schema version, counters
        const absl::string_view rest =
            key.substr(std::min(head.size() + 1, key.size()));
        const absl::string_view run_id = RunIdOfKey(rest);
        const absl::string_view task =
            rest.substr(std::min(run_id.size() + 1, rest.size()));
        const std::string record = absl::StrCat(
            "progress marker of run ", Quote(run_id), " task ", Quote(task));
        markers_seen.insert(std::string(key));
        TaskProgress marker;
        if (orphan(run_id)) {
          note(record,
               absl::StrCat("belongs to run ", Quote(run_id),
                            ", which does not exist"),
               "remove it");
          if (repair) RETURN_IF_ERROR(del(ColumnFamily::kMeta, key));
          return absl::OkStatus();
        }
        if (!changeable(run_id)) return absl::OkStatus();
        const bool parsed =
            marker.ParseFromArray(value.data(), static_cast<int>(value.size()));
        auto it = sample_counts.find(std::string(key));
        const int64_t count = it == sample_counts.end() ? 0 : it->second;
        if (!parsed || marker.done() != count) {
          note(record,
               parsed ? absl::StrCat("counts ", marker.done(), " samples, ",
                                     count, " are stored")
                      : std::string("unreadable record"),
               absl::StrCat("set the count to ", count));
          if (repair) {
            marker.set_task(std::string(task));
            marker.set_done(count);
            RETURN_IF_ERROR(
                put(ColumnFamily::kMeta, key, DeterministicBytes(marker)));
          }
        }
        return absl::OkStatus();
      }));
  for (const auto& [key, count] : sample_counts) {
    if (markers_seen.count(key) > 0) continue;
    const absl::string_view rest =
        absl::string_view(key).substr(sizeof("progress"));
    const absl::string_view run_id = RunIdOfKey(rest);
    if (!changeable(run_id)) continue;
    const absl::string_view task =
        rest.substr(std::min(run_id.size() + 1, rest.size()));
    note(absl::StrCat("progress marker of run ", Quote(run_id), " task ",
                      Quote(task)),
         absl::StrCat("missing while ", count, " samples are stored"),
         absl::StrCat("write it with the count ", count));
    if (repair) {
      TaskProgress marker;
      marker.set_task(std::string(task));
      marker.set_done(count);
      RETURN_IF_ERROR(
          put(ColumnFamily::kMeta, key, DeterministicBytes(marker)));
    }
  }
  RETURN_IF_ERROR(
      scan(ColumnFamily::kQueue,
           [&](absl::string_view key, absl::string_view value) -> absl::Status {
             QueueEntry entry;
             const std::string record =
                 absl::StrCat("queue entry ", Quote(absl::CHexEscape(key)));
             if (!entry.ParseFromArray(value.data(),
                                       static_cast<int>(value.size()))) {
               note(record, "unreadable record", "remove it");
               if (repair) RETURN_IF_ERROR(del(ColumnFamily::kQueue, key));
             } else if (orphan(entry.run_id())) {
               note(record,
                    absl::StrCat("queues run ", Quote(entry.run_id()),
                                 ", which does not exist"),
                    "remove it");
               if (repair) RETURN_IF_ERROR(del(ColumnFamily::kQueue, key));
             }
             return absl::OkStatus();
           }));
  RETURN_IF_ERROR(
      scan(ColumnFamily::kTags,
           [&](absl::string_view key, absl::string_view value) -> absl::Status {
             if (orphan(value)) {
               note(absl::StrCat("tag ", Quote(key)),
                    absl::StrCat("points at run ", Quote(value),
                                 ", which does not exist"),
                    "remove it");
               if (repair) RETURN_IF_ERROR(del(ColumnFamily::kTags, key));
             }
             return absl::OkStatus();
           }));
  RETURN_IF_ERROR(scan(
      ColumnFamily::kHashCache,
      [&](absl::string_view key, absl::string_view value) -> absl::Status {
        HashCacheEntry entry;
        if (!entry.ParseFromArray(value.data(),
                                  static_cast<int>(value.size()))) {
          note(absl::StrCat("hash cache entry for ",
                            Quote(absl::CHexEscape(key))),
               "unreadable record", "remove it (the file is hashed again)");
          if (repair) RETURN_IF_ERROR(del(ColumnFamily::kHashCache, key));
        }
        return absl::OkStatus();
      }));
  if (repair && batch.Count() > 0) {
    RETURN_IF_ERROR(Write(&batch, "repair the store"));
    report.repaired = true;
  }
  return report;
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
