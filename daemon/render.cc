#include "daemon/render.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver_util.h>

#include <algorithm>
#include <map>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "daemon/fingerprint.h"
#include "report/text.h"

namespace evald::daemon {
namespace {

std::string TimeString(int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

std::string Labels(const v1::RunSpec& spec) {
  std::map<std::string, std::string> sorted(spec.labels().begin(),
                                            spec.labels().end());
  std::vector<std::string> parts;
  for (const auto& [k, v] : sorted) parts.push_back(absl::StrCat(k, "=", v));
  return parts.empty() ? "-" : absl::StrJoin(parts, ",");
}

std::string Shorten(std::string s, size_t n) {
  for (char& c : s) {
    if (c == '\n' || c == '\t' || c == '\r') c = ' ';
  }
  if (s.size() > n) s = s.substr(0, n) + "...";
  return s;
}

}  // namespace

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.add_whitespace = false;
  // Map fields (metrics, labels) must print in a fixed order so the same run
  // always renders the same bytes: serialise deterministically (maps sorted
  // by key), then convert that binary form to JSON.
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  static constexpr char kUrlPrefix[] = "type.googleapis.com";
  std::unique_ptr<google::protobuf::util::TypeResolver> resolver(
      google::protobuf::util::NewTypeResolverForDescriptorPool(
          kUrlPrefix, message.GetDescriptor()->file()->pool()));
  std::string out;
  auto status = google::protobuf::util::BinaryToJsonString(
      resolver.get(),
      absl::StrCat(kUrlPrefix, "/", message.GetDescriptor()->full_name()),
      bytes, &out, options);
  if (!status.ok()) return absl::StrCat("{\"error\":\"cannot render json\"}");
  return out;
}

std::string StateName(v1::RunState state) {
  return report::RunStateText(state);
}

std::string FormatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size())
        line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string FormatRunList(const v1::ListRunsResponse& runs) {
  if (runs.runs_size() == 0) return "no runs\n";
  std::vector<std::vector<std::string>> rows = {
      {"RUN", "NAME", "STATE", "CREATED (UTC)", "TASKS", "LABELS", "DRIFT"}};
  for (const v1::RunRecord& r : runs.runs()) {
    int64_t done = 0, total = 0;
    for (const v1::TaskProgress& p : r.progress()) {
      done += p.done();
      total += p.total();
    }
    std::vector<std::string> names;
    for (const v1::TaskSpec& t : r.spec().tasks()) names.push_back(t.name());
    std::string state = StateName(r.state());
    if (r.state() == v1::RUNNING && total > 0)
      absl::StrAppend(&state, " ", done, "/", total);
    rows.push_back({r.id(), r.spec().name(), state,
                    TimeString(r.created_unix_ms()), absl::StrJoin(names, ","),
                    Labels(r.spec()), r.drifted() ? "DRIFTED" : "-"});
  }
  return FormatTable(rows);
}

std::string FormatResults(const v1::GetResultsResponse& results) {
  const v1::RunRecord& r = results.run();
  std::string out = absl::StrCat("run ", r.id(), " (", r.spec().name(),
                                 "): ", StateName(r.state()));
  if (r.drifted())
    absl::StrAppend(&out,
                    "  [DRIFTED: environment differs from the suite's pin]");
  absl::StrAppend(&out, "\n");
  if (!r.error().empty()) absl::StrAppend(&out, "error: ", r.error(), "\n");
  std::vector<std::vector<std::string>> rows = {
      {"TASK", "METRIC", "GROUP", "VALUE", "STDERR", "N"}};
  for (const v1::TaskScores& s : results.scores()) {
    for (const v1::Metric& m : s.metrics()) {
      rows.push_back({s.task(), m.name(), m.group().empty() ? "-" : m.group(),
                      absl::StrFormat("%.4f", m.value()),
                      m.std_error_na()
                          ? std::string("N/A")
                          : absl::StrFormat("± %.4f", m.std_error()),
                      absl::StrCat(m.count())});
    }
  }
  if (rows.size() == 1) {
    absl::StrAppend(&out, "no scores yet\n");
  } else {
    absl::StrAppend(&out, FormatTable(rows));
  }
  const v1::PhaseTimes& p = r.phases();
  absl::StrAppendFormat(
      &out,
      "wall time: total %.1fs (queue %.1fs, model load %.1fs, prefill %.1fs, "
      "decode %.1fs, scoring %.1fs, judge %.1fs%s)\n",
      p.total_s(), p.queue_s(), p.model_load_s(), p.prefill_s(), p.decode_s(),
      p.scoring_s(), p.judge_s(),
      p.judge_s() > 0
          ? absl::StrFormat(" of which %.1fs while the candidate generated",
                            p.judge_overlap_s())
          : std::string());
  const v1::EngineStats& st = r.stats();
  if (st.prompt_tokens() > 0 || st.generated_tokens() > 0) {
    absl::StrAppendFormat(
        &out,
        "engine: %d prompt tokens (%.1f%% from prefix cache), %d generated, "
        "%.1f tok/s\n",
        st.prompt_tokens(),
        st.prompt_tokens() > 0
            ? 100.0 * static_cast<double>(st.cached_prompt_tokens()) /
                  static_cast<double>(st.prompt_tokens())
            : 0.0,
        st.generated_tokens(),
        st.busy_s() > 0
            ? static_cast<double>(st.prompt_tokens() + st.generated_tokens()) /
                  st.busy_s()
            : 0.0);
  }
  return out;
}

std::string FormatSample(const v1::SampleRecord& s) {
  std::string out;
  std::vector<std::string> metrics;
  std::map<std::string, double> sorted(s.metrics().begin(), s.metrics().end());
  for (const auto& [k, v] : sorted)
    metrics.push_back(absl::StrFormat("%s=%g", k, v));
  absl::StrAppend(
      &out, "#", s.doc_index(), " ", s.doc_id(),
      s.subtask().empty() ? "" : absl::StrCat(" [", s.subtask(), "]"), "  ",
      absl::StrJoin(metrics, " "), "\n");
  absl::StrAppend(&out, "  prompt:    ", Shorten(s.prompt(), 160), "\n");
  absl::StrAppend(&out, "  target:    ", Shorten(s.target(), 160), "\n");
  for (const std::string& r : s.responses()) {
    absl::StrAppend(&out, "  response:  ", Shorten(r, 160), "\n");
  }
  if (!s.extracted().empty())
    absl::StrAppend(&out, "  extracted: ", Shorten(s.extracted(), 160), "\n");
  for (const v1::JudgeCallRecord& j : s.judge()) {
    absl::StrAppend(&out, "  judge",
                    j.order().empty() ? "" : absl::StrCat(" (", j.order(), ")"),
                    ": ", j.verdict(), j.raw_size() > 1 ? " after a retry" : "",
                    j.error().empty() ? "" : absl::StrCat(" (", j.error(), ")"),
                    "\n");
    if (j.raw_size() > 0) {
      absl::StrAppend(
          &out, "    reply:   ", Shorten(j.raw(j.raw_size() - 1), 160), "\n");
    }
  }
  if (!s.error().empty())
    absl::StrAppend(&out, "  error:     ", s.error(), "\n");
  return out;
}

std::string FormatSamples(const v1::ListSamplesResponse& samples) {
  std::string out;
  for (const v1::SampleRecord& s : samples.samples())
    absl::StrAppend(&out, FormatSample(s));
  if (out.empty()) out = "no samples\n";
  return out;
}

std::string FormatEnvironment(const v1::GetEnvironmentResponse& env) {
  std::string out = FormatFingerprint(env.fingerprint());
  if (env.drifted()) {
    absl::StrAppend(&out,
                    "DRIFTED: this run was allowed to run against a different "
                    "environment\n");
  }
  for (const v1::Drift& d : env.drift()) {
    absl::StrAppend(&out, "  ", d.field(), ": expected ", d.expected(),
                    ", found ", d.found(), "\n");
  }
  for (const v1::ResumeChange& c : env.resume_changes()) {
    std::string before;
    for (const v1::TaskProgress& p : c.samples_before()) {
      absl::StrAppend(&before, before.empty() ? "" : ", ", p.task(), " ",
                      p.done());
    }
    absl::StrAppend(&out, "inputs changed when attempt ", c.attempt(),
                    " resumed the run; the samples of earlier attempts (",
                    before.empty() ? "none" : before,
                    ") were made with the old values, the fingerprint above is "
                    "the new one:\n");
    for (const v1::Drift& d : c.changes()) {
      absl::StrAppend(&out, "  ", d.field(), ": ", d.expected(), " -> ",
                      d.found(), "\n");
    }
  }
  return out;
}

std::string FormatProgressLine(const v1::WatchEvent& event, int bar_width) {
  const v1::RunRecord& r = event.run();
  std::vector<std::string> parts;
  std::string head = absl::StrCat(r.id(), " ", StateName(r.state()));
  if (bar_width > 0) {
    int64_t done = 0, total = 0;
    for (const v1::TaskProgress& p : r.progress()) {
      done += p.done();
      total += p.total();
    }
    const int filled = total > 0
                           ? static_cast<int>(static_cast<double>(bar_width) *
                                              static_cast<double>(done) /
                                              static_cast<double>(total))
                           : 0;
    absl::StrAppend(&head, " [", std::string(filled, '#'),
                    std::string(bar_width - filled, '.'), "]");
  }
  parts.push_back(std::move(head));
  for (const v1::TaskProgress& p : r.progress()) {
    parts.push_back(absl::StrCat(p.task(), " ", p.done(), "/", p.total()));
  }
  if (r.shards_size() > 0) {
    // A sharded run: its engines run on the compute nodes.
    std::map<v1::ShardStatus, int> counts;
    for (const v1::ShardState& s : r.shards()) ++counts[s.status()];
    std::vector<std::string> states;
    for (const auto& [status, n] : counts)
      states.push_back(absl::StrCat(n, " ", ShardStatusName(status)));
    parts.push_back(absl::StrCat("shards ", absl::StrJoin(states, ", ")));
  } else if (r.state() == v1::RUNNING) {
    parts.push_back(absl::StrFormat("%.1f tok/s", event.tokens_per_s()));
    parts.push_back(
        absl::StrFormat("cache %.0f%%", 100 * event.prefix_cache_hit_rate()));
    if (event.eta_s() >= 0)
      parts.push_back(absl::StrFormat("ETA %.0fs", event.eta_s()));
    if (event.judge_queued() > 0 || event.judge_graded() > 0) {
      parts.push_back(absl::StrCat("judge ", event.judge_graded(), " graded, ",
                                   event.judge_queued(), " waiting"));
    }
  }
  return absl::StrJoin(parts, " | ");
}

std::string ShardStatusName(v1::ShardStatus status) {
  switch (status) {
    case v1::SHARD_PENDING:
      return "pending";
    case v1::SHARD_RUNNING:
      return "running";
    case v1::SHARD_DONE:
      return "done";
    case v1::SHARD_FAILED:
      return "failed";
    default:
      return "unknown";
  }
}

std::string FormatShards(const v1::RunRecord& run) {
  if (run.shards_size() == 0) return "";
  std::vector<std::vector<std::string>> rows = {{"  SHARD", "STATE", "NODE",
                                                 "SLURM JOB", "SLURM STATE",
                                                 "DONE", "FAILURES"}};
  for (const v1::ShardState& s : run.shards()) {
    rows.push_back({absl::StrCat("  ", s.index()), ShardStatusName(s.status()),
                    s.node().empty() ? "-" : s.node(),
                    s.slurm_job_id().empty() ? "-" : s.slurm_job_id(),
                    s.slurm_state().empty() ? "-" : s.slurm_state(),
                    absl::StrCat(s.done(), "/", s.documents()),
                    absl::StrCat(s.failures())});
  }
  return FormatTable(rows);
}

}  // namespace evald::daemon
