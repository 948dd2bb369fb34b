#include "daemon/task_records.h"

#include <utility>

namespace evald::daemon {

v1::SampleRecord ToSampleRecord(const SampleOrigin& origin,
                                tasks::SampleResult r) {
  v1::SampleRecord s;
  s.set_run_id(origin.run_id);
  s.set_attempt(origin.attempt);
  s.set_task(origin.task);
  s.set_finished_unix_ms(origin.finished_unix_ms);
  s.set_doc_index(static_cast<int64_t>(r.doc_index));
  s.set_doc_id(std::move(r.doc_id));
  s.set_subtask(std::move(r.subtask));
  s.set_prompt(std::move(r.prompt));
  s.set_target(std::move(r.target));
  for (std::string& resp : r.responses) s.add_responses(std::move(resp));
  for (const auto& [k, v] : r.metrics) (*s.mutable_metrics())[k] = v;
  s.set_extracted(std::move(r.extracted));
  s.set_prompt_tokens(r.prompt_tokens);
  s.set_cached_tokens(r.cached_tokens);
  s.set_generated_tokens(r.generated_tokens);
  s.set_wall_s(r.wall_seconds);
  s.set_error(std::move(r.error));
  for (tasks::JudgeCall& call : r.judge) {
    v1::JudgeCallRecord* j = s.add_judge();
    j->set_order(std::move(call.order));
    j->set_prompt(std::move(call.prompt));
    for (std::string& raw : call.raw) j->add_raw(std::move(raw));
    j->set_verdict(std::move(call.verdict));
    j->set_error(std::move(call.error));
  }
  s.set_lm_eval_json(std::move(r.lm_eval_json));
  return s;
}

tasks::SampleResult FromSampleRecord(const v1::SampleRecord& s) {
  tasks::SampleResult r;
  r.doc_index = static_cast<size_t>(s.doc_index());
  r.doc_id = s.doc_id();
  r.subtask = s.subtask();
  r.prompt = s.prompt();
  r.target = s.target();
  r.responses.assign(s.responses().begin(), s.responses().end());
  for (const auto& [k, v] : s.metrics()) r.metrics[k] = v;
  r.extracted = s.extracted();
  r.prompt_tokens = s.prompt_tokens();
  r.cached_tokens = s.cached_tokens();
  r.generated_tokens = s.generated_tokens();
  r.wall_seconds = s.wall_s();
  r.error = s.error();
  for (const v1::JudgeCallRecord& j : s.judge()) {
    tasks::JudgeCall call;
    call.order = j.order();
    call.prompt = j.prompt();
    call.raw.assign(j.raw().begin(), j.raw().end());
    call.verdict = j.verdict();
    call.error = j.error();
    r.judge.push_back(std::move(call));
  }
  r.lm_eval_json = s.lm_eval_json();
  return r;
}

v1::TaskScores ToTaskScores(const std::string& run_id, const std::string& task,
                            absl::Span<const tasks::MetricResult> metrics) {
  v1::TaskScores scores;
  scores.set_run_id(run_id);
  scores.set_task(task);
  for (const tasks::MetricResult& m : metrics) {
    v1::Metric* out = scores.add_metrics();
    out->set_name(m.name);
    out->set_group(m.group);
    out->set_value(m.value);
    out->set_std_error(m.stderr_value);
    out->set_std_error_na(m.stderr_na);
    out->set_count(m.count);
    out->set_aggregation(m.aggregation);
  }
  return scores;
}

}  // namespace evald::daemon
