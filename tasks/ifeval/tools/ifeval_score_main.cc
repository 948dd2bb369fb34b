// File: tasks/ifeval/tools/ifeval_score_main.cc
// -----------------------------------------------------------------------------
// ifeval_score --data INPUT.jsonl --responses RESPONSES.jsonl [--punkt DIR]
//              [--language langdetect|cld2] [--langdetect DIR] [--details
//              OUT.tsv]
// Scores the official {"prompt", "response"} JSONL against an IFEval dataset
// with the task's own scorer and prints the four metrics (in %). --details
// writes one line per document: key, prompt-strict, prompt-loose, and each
// instruction's strict/loose verdict, for comparison with other scorers.
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file.h"
#include "base/json.h"
#include "tasks/ifeval/ifeval_task.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "ifeval_score: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace evald;
  std::string data, responses_path, punkt_dir, details_path, language_id,
      langdetect_dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--data")
      data = argv[i + 1];
    else if (flag == "--responses")
      responses_path = argv[i + 1];
    else if (flag == "--punkt")
      punkt_dir = argv[i + 1];
    else if (flag == "--details")
      details_path = argv[i + 1];
    else if (flag == "--language")
      language_id = argv[i + 1];
    else if (flag == "--langdetect")
      langdetect_dir = argv[i + 1];
    else
      return Fail("unknown flag " + flag);
  }
  if (data.empty() || responses_path.empty()) {
    return Fail(
        "usage: --data INPUT.jsonl --responses RESPONSES.jsonl [--punkt DIR] "
        "[--language langdetect|cld2] [--langdetect DIR] [--details OUT]");
  }
  if (punkt_dir.empty()) {
    absl::StatusOr<std::string> dir = tasks::ifeval::ResolvePunktDir(data);
    if (!dir.ok()) return Fail(dir.status().ToString());
    punkt_dir = *dir;
  }
  auto punkt = tasks::ifeval::PunktTokenizer::Load(punkt_dir);
  if (!punkt.ok()) return Fail(punkt.status().ToString());
  auto language =
      tasks::ifeval::LoadLanguageDetector(data, language_id, langdetect_dir);
  if (!language.ok()) return Fail(language.status().ToString());
  const tasks::ifeval::LanguageDetector& detector =
      *language != nullptr ? **language : tasks::ifeval::Cld2Detector();
  std::fprintf(stderr, "language id: %s\n", detector.name().c_str());
  auto docs = tasks::ifeval::LoadIfevalDataset(
      data, tasks::ifeval::CheckerData{punkt->get(), &detector});
  if (!docs.ok()) return Fail(docs.status().ToString());
  std::map<std::string, size_t> by_prompt;
  for (size_t i = 0; i < docs->size(); ++i) by_prompt[(*docs)[i].prompt] = i;

  auto contents = base::ReadFileToString(responses_path);
  if (!contents.ok()) return Fail(contents.status().ToString());
  std::vector<tasks::SampleResult> samples;
  std::string details;
  size_t line_no = 0;
  for (absl::string_view line : absl::StrSplit(*contents, '\n')) {
    ++line_no;
    if (line.empty()) continue;
    auto row = base::ParseJson(line);
    if (!row.ok())
      return Fail(absl::StrCat(responses_path, ": line ", line_no, ": ",
                               row.status().message()));
    const base::Json* prompt = row->Find("prompt");
    const base::Json* response = row->Find("response");
    if (prompt == nullptr || !prompt->is_string() || response == nullptr ||
        !response->is_string()) {
      return Fail(absl::StrCat(responses_path, ": line ", line_no,
                               ": needs string prompt and response"));
    }
    auto it = by_prompt.find(prompt->string_value());
    if (it == by_prompt.end()) {
      return Fail(absl::StrCat(responses_path, ": line ", line_no,
                               ": prompt not in the dataset"));
    }
    const tasks::ifeval::IfevalDoc& doc = (*docs)[it->second];
    tasks::ifeval::IfevalScore score =
        tasks::ifeval::ScoreIfevalResponse(doc, response->string_value());
    tasks::SampleResult s;
    s.doc_id = absl::StrCat(doc.key);
    int strict = 0, loose = 0;
    absl::StrAppend(&details, doc.key, "\t", score.prompt_strict ? 1 : 0, "\t",
                    score.prompt_loose ? 1 : 0);
    for (size_t i = 0; i < doc.instructions.size(); ++i) {
      strict += score.strict[i];
      loose += score.loose[i];
      absl::StrAppend(&details, "\t", doc.instruction_ids[i], "=",
                      score.strict[i] ? 1 : 0, score.loose[i] ? 1 : 0);
    }
    details += "\n";
    s.metrics["prompt_level_strict_acc"] = score.prompt_strict;
    s.metrics["prompt_level_loose_acc"] = score.prompt_loose;
    s.metrics["num_instructions"] =
        static_cast<double>(doc.instructions.size());
    s.metrics["inst_strict_followed"] = strict;
    s.metrics["inst_loose_followed"] = loose;
    samples.push_back(std::move(s));
  }
  if (!details_path.empty()) {
    absl::Status st = base::WriteFileAtomically(details_path, details);
    if (!st.ok()) return Fail(st.ToString());
  }
  std::printf("documents: %zu  punkt: %s (sha256 %s)\n", samples.size(),
              punkt_dir.c_str(), (*punkt)->sha256().c_str());
  for (const tasks::MetricResult& m : tasks::ifeval::AggregateIfeval(samples)) {
    std::printf("%-24s %7.2f%%  stderr %.4f  n=%lld\n", m.name.c_str(),
                100 * m.value, m.stderr_value, static_cast<long long>(m.count));
  }
  return 0;
}
