// File: daemon/cluster/slurm.cc
// -----------------------------------------------------------------------------
#include "daemon/cluster/slurm.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "base/subprocess.h"

namespace evald::daemon::cluster {
namespace {

// Larger than any MaxArraySize a site would set (Slurm's ceiling is 4M):
// a record claiming more is garbage, not a job array.
constexpr int64_t kMaxExpandedIndices = 4'000'001;

// Slurm's NO_VAL - 1, which a pending array's compressed record shows in
// place of %a in its StdOut.
constexpr char kUnsplitIndex[] = "4294967294";

// `value` quoted for bash: single quotes, an embedded ' as '\''.
std::string ShellQuote(absl::string_view value) {
  return absl::StrCat("'", absl::StrReplaceAll(value, {{"'", "'\\''"}}), "'");
}

// `value` as an #SBATCH option's argument. sbatch reads these lines itself
// (no shell): it splits on blanks, groups with double quotes and takes a
// backslash as an escape. Control characters cannot be written on one line
// and are dropped (SubmitArray refuses them before rendering).
std::string SbatchValue(absl::string_view value) {
  std::string clean;
  for (char c : value) {
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) clean.push_back(c);
  }
  const bool plain =
      !clean.empty() && std::all_of(clean.begin(), clean.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
               absl::StrContains("_.,:/=@%+-", c);
      });
  if (plain) return clean;
  return absl::StrCat(
      "\"", absl::StrReplaceAll(clean, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
}

bool HasControl(absl::string_view value) {
  return std::any_of(value.begin(), value.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

bool IsFilesTransport(const v1::SlurmSpec& spec) {
  return spec.transport() == "files";
}

std::string SharedDir(const v1::SlurmSpec& spec, const WorkerJob& job) {
  return job.shared_dir.empty() ? spec.shared_dir() : job.shared_dir;
}

// "12345" or "12345_7".
bool IsJobId(absl::string_view id) {
  std::vector<absl::string_view> parts = absl::StrSplit(id, '_');
  if (parts.size() > 2) return false;
  for (absl::string_view p : parts) {
    if (p.empty() || p.size() > 19 ||
        !std::all_of(p.begin(), p.end(), [](char c) {
          return absl::ascii_isdigit(static_cast<unsigned char>(c));
        })) {
      return false;
    }
  }
  return true;
}

absl::Status CheckJobId(absl::string_view id) {
  if (IsJobId(id)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("not a Slurm job id: '", id, "' (want 12345 or 12345_7)"));
}

absl::Status CheckSubmission(const v1::SlurmSpec& spec, const WorkerJob& job,
                             const std::vector<int32_t>& indices) {
  if (indices.empty()) {
    return absl::InvalidArgumentError("sbatch: no array indices to submit");
  }
  for (int32_t i : indices) {
    if (i < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("sbatch: negative array index ", i));
    }
  }
  if (job.run_id.empty() || job.run_id == "." || job.run_id == ".." ||
      absl::StrContains(job.run_id, '/')) {
    return absl::InvalidArgumentError(
        absl::StrCat("sbatch: invalid run id '", job.run_id, "'"));
  }
  if (job.evald.empty()) {
    return absl::InvalidArgumentError(
        "cluster.slurm.evald: the worker's evald binary is not set");
  }
  if (job.log_dir.empty()) {
    return absl::InvalidArgumentError(
        "cluster.slurm.log_dir: the jobs' log folder is not set");
  }
  if (IsFilesTransport(spec)) {
    if (SharedDir(spec, job).empty()) {
      return absl::InvalidArgumentError(
          "cluster.slurm.shared_dir: transport 'files' needs a shared folder");
    }
  } else if (spec.transport().empty() || spec.transport() == "grpc") {
    if (job.coordinator.empty()) {
      return absl::InvalidArgumentError(
          "cluster.slurm.coordinator: transport 'grpc' needs the address "
          "workers dial (HOST:PORT)");
    }
    if (job.token_file.empty()) {
      return absl::InvalidArgumentError(
          "cluster.slurm: transport 'grpc' needs the token file workers read");
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster.slurm.transport: unknown transport '",
                     spec.transport(), "' (want grpc or files)"));
  }
  const std::pair<const char*, const std::string*> fields[] = {
      {"cluster.slurm.partition", &spec.partition()},
      {"cluster.slurm.gres", &spec.gres()},
      {"cluster.slurm.time", &spec.time()},
      {"cluster.slurm.account", &spec.account()},
      {"cluster.slurm.qos", &spec.qos()},
      {"cluster.slurm.evald", &job.evald},
      {"cluster.slurm.coordinator", &job.coordinator},
      {"cluster.slurm.log_dir", &job.log_dir},
      {"cluster.slurm.shared_dir", &job.shared_dir},
      {"token file", &job.token_file},
      {"job name", &job.job_name},
      {"run id", &job.run_id},
  };
  for (const auto& [name, value] : fields) {
    if (HasControl(*value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": contains a control character"));
    }
  }
  for (const std::string& arg : spec.extra_args()) {
    if (HasControl(arg)) {
      return absl::InvalidArgumentError(
          absl::StrCat("cluster.slurm.extra_args: '", absl::CEscape(arg),
                       "' contains a control character"));
    }
  }
  return absl::OkStatus();
}

// mkdir -p with mode 0700 for the folders it creates.
absl::Status MakeDirs(const std::string& path) {
  std::string prefix;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty()) {
      if (prefix.empty()) prefix.push_back('/');
      continue;
    }
    if (!prefix.empty() && prefix.back() != '/') prefix += '/';
    absl::StrAppend(&prefix, part);
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create ", prefix, " (log folder ", path,
                       "): ", std::strerror(errno)));
    }
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("log folder ", path, " is not a directory"));
  }
  return absl::OkStatus();
}

// Writes `contents` to `path` (mode 0600) through a temp file and rename.
absl::Status WritePrivateFile(const std::string& path,
                              absl::string_view contents) {
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return absl::InternalError(
          absl::StrCat("cannot write ", path, ": ", std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0 ||
      ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return absl::InternalError(
        absl::StrCat("cannot write ", path, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

// A failed Slurm command as one line: its stderr (else stdout, else the
// exit status). Slurm's "cannot reach the controller" is Unavailable.
absl::Status CommandFailed(const std::string& what,
                           const base::SubprocessResult& r) {
  std::string msg = base::OneLine(r.err);
  if (msg.empty()) msg = base::OneLine(r.out);
  if (msg.empty()) {
    msg = r.signal != 0
              ? absl::StrCat(what, " killed by signal ", r.signal)
              : absl::StrCat(what, " exited with status ", r.exit_code);
  }
  if (absl::StrContains(msg, "Unable to contact slurm controller") ||
      absl::StrContains(msg, "Socket timed out") ||
      absl::StrContains(msg, "Connection refused")) {
    return absl::UnavailableError(msg);
  }
  return absl::InvalidArgumentError(msg);
}

base::SubprocessOptions Options(const SlurmCommands& commands) {
  base::SubprocessOptions options;
  options.env = commands.env;
  options.timeout_s = commands.timeout_s;
  return options;
}

// Splits a `-o` record into its keys. Values may hold blanks (Reason,
// paths): a token that does not start a new Key= continues the value
// before it.
std::map<std::string, std::string> ParseRecord(absl::string_view line) {
  std::map<std::string, std::string> fields;
  std::string* last = nullptr;
  for (absl::string_view token :
       absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty())) {
    const size_t eq = token.find('=');
    bool is_key = eq != absl::string_view::npos && eq > 0 &&
                  absl::ascii_isalpha(static_cast<unsigned char>(token[0]));
    for (size_t i = 0; is_key && i < eq; ++i) {
      const char c = token[i];
      is_key = absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
               c == ':' || c == '/';
    }
    if (is_key) {
      last = &fields[std::string(token.substr(0, eq))];
      *last = std::string(token.substr(eq + 1));
    } else if (last != nullptr) {
      absl::StrAppend(last, " ", token);
    }
  }
  return fields;
}

// "0-3", "1,3", "0-15:4", "0-3%2" → the indices.
absl::StatusOr<std::vector<int32_t>> ExpandArrayTaskIds(
    absl::string_view spec) {
  const size_t throttle = spec.find('%');
  if (throttle != absl::string_view::npos) spec = spec.substr(0, throttle);
  std::vector<int32_t> out;
  const auto bad = [&] {
    return absl::InternalError(
        absl::StrCat("scontrol: unreadable ArrayTaskId '", spec, "'"));
  };
  for (absl::string_view part : absl::StrSplit(spec, ',')) {
    int64_t first = 0, last = 0, step = 1;
    absl::string_view range = part;
    const size_t colon = part.find(':');
    if (colon != absl::string_view::npos) {
      range = part.substr(0, colon);
      if (!absl::SimpleAtoi(part.substr(colon + 1), &step) || step <= 0) {
        return bad();
      }
    }
    const size_t dash = range.find('-');
    if (dash == absl::string_view::npos) {
      if (!absl::SimpleAtoi(range, &first)) return bad();
      last = first;
    } else if (!absl::SimpleAtoi(range.substr(0, dash), &first) ||
               !absl::SimpleAtoi(range.substr(dash + 1), &last)) {
      return bad();
    }
    if (first < 0 || last < first || last > INT32_MAX) return bad();
    if (static_cast<int64_t>(out.size()) + (last - first) / step + 1 >
        kMaxExpandedIndices) {
      return bad();
    }
    for (int64_t i = first; i <= last; i += step) {
      out.push_back(static_cast<int32_t>(i));
    }
  }
  return out;
}

int32_t ToInt(const std::string& s) {
  int32_t v = 0;
  return absl::SimpleAtoi(s, &v) ? v : 0;
}

}  // namespace

bool IsFinalState(const std::string& state) {
  absl::string_view s = state;
  s = s.substr(0, s.find_first_of(" +"));
  static constexpr absl::string_view kFinal[] = {
      "COMPLETED", "FAILED",        "CANCELLED", "TIMEOUT", "NODE_FAIL",
      "PREEMPTED", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"};
  return std::find(std::begin(kFinal), std::end(kFinal), s) != std::end(kFinal);
}

std::string ArrayExpression(const std::vector<int32_t>& indices) {
  std::vector<int32_t> sorted = indices;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::vector<std::string> parts;
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    parts.push_back(j == i ? absl::StrCat(sorted[i])
                           : absl::StrCat(sorted[i], "-", sorted[j]));
    i = j + 1;
  }
  return absl::StrJoin(parts, ",");
}

std::string RenderBatchScript(const v1::SlurmSpec& spec, const WorkerJob& job) {
  std::string s = "#!/bin/bash\n";
  const auto option = [&](absl::string_view name, const std::string& value) {
    if (!value.empty()) {
      absl::StrAppend(&s, "#SBATCH --", name, "=", SbatchValue(value), "\n");
    }
  };
  option("job-name", job.job_name.empty() ? absl::StrCat("evald-", job.run_id)
                                          : job.job_name);
  // sbatch expands %-patterns in the whole path: a literal % is %%.
  option("output", absl::StrCat(absl::StrReplaceAll(job.log_dir, {{"%", "%%"}}),
                                "/slurm-%A_%a.out"));
  s += "#SBATCH --requeue\n";
  // A requeued element appends to its output file: the failed attempt's
  // last lines stay readable.
  s += "#SBATCH --open-mode=append\n";
  option("partition", spec.partition());
  option("gres", spec.gres());
  option("time", spec.time());
  option("account", spec.account());
  option("qos", spec.qos());
  std::string run_comment = job.run_id;
  run_comment.erase(
      std::remove_if(run_comment.begin(), run_comment.end(),
                     [](char c) {
                       return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
                     }),
      run_comment.end());
  absl::StrAppend(&s, "#\n# evald run ", run_comment, ": ", spec.shards(),
                  " shard(s), one array element per shard; element N "
                  "evaluates shard N.\n");
  s += "set -euo pipefail\n";
  absl::StrAppend(&s, "exec ", ShellQuote(job.evald), " worker --run ",
                  ShellQuote(job.run_id), " --shard \"$SLURM_ARRAY_TASK_ID\"");
  if (IsFilesTransport(spec)) {
    absl::StrAppend(&s, " --shared-dir ", ShellQuote(SharedDir(spec, job)));
  } else {
    absl::StrAppend(&s, " --coordinator ", ShellQuote(job.coordinator),
                    " --token-file ", ShellQuote(job.token_file));
  }
  s += "\n";
  return s;
}

absl::StatusOr<std::vector<SlurmTask>> ParseJobRecords(
    const std::string& scontrol_output) {
  std::vector<SlurmTask> tasks;
  for (absl::string_view line : absl::StrSplit(scontrol_output, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    std::map<std::string, std::string> f = ParseRecord(line);
    if (f.find("JobId") == f.end()) {
      return absl::InternalError(absl::StrCat(
          "scontrol: a record without JobId: '", line.substr(0, 120), "'"));
    }
    SlurmTask base;
    base.state = f["JobState"];
    base.reason = f["Reason"];
    base.node = f["BatchHost"];
    if (base.node == "(null)") base.node.clear();
    base.exit_code = f["ExitCode"];
    base.restarts = ToInt(f["Restarts"]);
    // scontrol fills in %A, %a, %j... but leaves sbatch's %% as it is.
    base.std_out = absl::StrReplaceAll(f["StdOut"], {{"%%", "%"}});
    auto task_ids = f.find("ArrayTaskId");
    auto array_job = f.find("ArrayJobId");
    if (task_ids == f.end() || array_job == f.end()) {
      base.job_id = f["JobId"];  // not an array element
      tasks.push_back(std::move(base));
      continue;
    }
    absl::StatusOr<std::vector<int32_t>> indices =
        ExpandArrayTaskIds(task_ids->second);
    if (!indices.ok()) return indices.status();
    for (int32_t index : *indices) {
      SlurmTask t = base;
      t.index = index;
      t.job_id = absl::StrCat(array_job->second, "_", index);
      // An unsplit record names the output file with NO_VAL-1 for %a.
      t.std_out = absl::StrReplaceAll(
          t.std_out,
          {{absl::StrCat("_", kUnsplitIndex), absl::StrCat("_", index)}});
      tasks.push_back(std::move(t));
    }
  }
  std::stable_sort(
      tasks.begin(), tasks.end(),
      [](const SlurmTask& a, const SlurmTask& b) { return a.index < b.index; });
  return tasks;
}

Slurm::Slurm(SlurmCommands commands) : commands_(std::move(commands)) {}

absl::StatusOr<std::string> Slurm::SubmitArray(
    const v1::SlurmSpec& spec, const WorkerJob& job,
    const std::vector<int32_t>& indices) {
  if (absl::Status s = CheckSubmission(spec, job, indices); !s.ok()) return s;
  if (absl::Status s = MakeDirs(job.log_dir); !s.ok()) return s;
  const std::string script =
      absl::StrCat(job.log_dir, "/", job.run_id, ".sbatch");
  if (absl::Status s = WritePrivateFile(script, RenderBatchScript(spec, job));
      !s.ok()) {
    return s;
  }
  std::vector<std::string> argv = {
      commands_.sbatch, "--parsable",
      absl::StrCat("--array=", ArrayExpression(indices))};
  argv.insert(argv.end(), spec.extra_args().begin(), spec.extra_args().end());
  argv.push_back(script);
  absl::StatusOr<base::SubprocessResult> r =
      base::RunSubprocess(argv, Options(commands_));
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) return CommandFailed("sbatch", *r);
  // --parsable: "12345" or "12345;cluster" (after any warnings on stderr).
  absl::string_view out = absl::StripAsciiWhitespace(r->out);
  const size_t nl = out.rfind('\n');
  if (nl != absl::string_view::npos) out = out.substr(nl + 1);
  absl::string_view id = out.substr(0, out.find(';'));
  if (!IsJobId(id) || absl::StrContains(id, '_')) {
    return absl::InternalError(absl::StrCat("sbatch printed no job id: '",
                                            base::OneLine(r->out, 200), "'"));
  }
  return std::string(id);
}

absl::StatusOr<std::vector<SlurmTask>> Slurm::Query(
    const std::string& array_job_id) const {
  if (absl::Status s = CheckJobId(array_job_id); !s.ok()) return s;
  absl::StatusOr<base::SubprocessResult> r = base::RunSubprocess(
      {commands_.scontrol, "show", "job", "-o", array_job_id},
      Options(commands_));
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    if (absl::StrContains(r->err, "Invalid job id specified")) {
      return std::vector<SlurmTask>{};  // finished and forgotten
    }
    absl::Status failed = CommandFailed("scontrol", *r);
    return absl::Status(failed.code(),
                        absl::StrCat("scontrol show job ", array_job_id, ": ",
                                     failed.message()));
  }
  return ParseJobRecords(r->out);
}

absl::Status Slurm::Cancel(const std::string& job_id) const {
  if (absl::Status s = CheckJobId(job_id); !s.ok()) return s;
  absl::StatusOr<base::SubprocessResult> r =
      base::RunSubprocess({commands_.scancel, job_id}, Options(commands_));
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    // Nothing left to cancel is what the caller wanted.
    if (absl::StrContains(r->err, "Invalid job id specified") ||
        absl::StrContains(r->err, "already completing or completed")) {
      return absl::OkStatus();
    }
    absl::Status failed = CommandFailed("scancel", *r);
    return absl::Status(failed.code(), absl::StrCat("scancel ", job_id, ": ",
                                                    failed.message()));
  }
  return absl::OkStatus();
}

}  // namespace evald::daemon::cluster
