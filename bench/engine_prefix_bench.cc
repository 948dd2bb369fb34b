// evald-engine-prefix-bench: an MMLU-shaped 5-shot loglikelihood workload
// through the NativeRunner with the prefix cache on and off, in one run.
//
//   evald-engine-prefix-bench [--model DIR] [--subjects N] [--questions N]
//                             [--threads N] [--max-batch-tokens N]
//
// Each subject has a shared header (~600 tokens: instructions and five
// worked examples) and its questions add ~100 tokens each; every question is
// scored against 4 one-token continuations (" A" .. " D"). Without --model a
// small random-weight Llama-shaped checkpoint is written to a temp folder.
// Prints wall times, the speedup, the share of prompt tokens served from the
// prefix cache, and checks that both runs gave bit-identical scores.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runners/native/native_runner.h"
#include "runners/native/testing/checkpoint_writer.h"
#include "runners/native/tokenizer/tokenizer.h"

namespace {

using evald::runners::LoglikelihoodRequest;
using evald::runners::LoglikelihoodResult;

constexpr const char* kWords[] = {
    "the",      "of",      "and",     "a",      "to",      "in",      "is",
    "was",      "that",    "for",     "on",     "are",     "with",    "as",
    "by",       "at",      "from",    "which",  "cell",    "energy",  "law",
    "market",   "theory",  "process", "state",  "system",  "number",  "value",
    "function", "result",  "change",  "force",  "group",   "history", "model",
    "rate",     "effect",  "light",   "water",  "power",   "study",   "first",
    "second",   "between", "because", "during", "through", "against", "without",
    "within",   "under",   "always",  "never"};

std::string Words(std::mt19937_64* rng, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    if (i > 0) s += ' ';
    s += kWords[(*rng)() % (sizeof(kWords) / sizeof(kWords[0]))];
  }
  return s;
}

// Words per ~token are calibrated against the tokenizer in main().
std::string Question(std::mt19937_64* rng, int words) {
  std::string q = Words(rng, words) + "?\n";
  for (const char* letter : {"A", "B", "C", "D"}) {
    absl::StrAppend(&q, letter, ". ", Words(rng, 3), "\n");
  }
  return q + "Answer:";
}

struct Workload {
  std::vector<LoglikelihoodRequest> requests;
};

Workload MakeWorkload(int subjects, int questions, int header_words,
                      int question_words) {
  Workload w;
  std::mt19937_64 rng(2024);
  for (int s = 0; s < subjects; ++s) {
    std::string header = absl::StrCat(
        "The following are multiple choice questions (with answers) about "
        "subject ",
        s, ".\n\n");
    for (int shot = 0; shot < 5; ++shot) {
      absl::StrAppend(&header, Question(&rng, header_words / 5), " ",
                      std::string(1, "ABCD"[rng() % 4]), "\n\n");
    }
    for (int q = 0; q < questions; ++q) {
      const std::string ctx = header + Question(&rng, question_words);
      for (const char* c : {" A", " B", " C", " D"})
        w.requests.push_back({ctx, c});
    }
  }
  return w;
}

struct RunResult {
  double seconds = 0;
  evald::runners::RunnerStats stats;
  std::vector<double> logprobs;
  bool ok = true;
};

RunResult Run(const std::string& model_dir, bool prefix_cache, int threads,
              int max_batch_tokens, const Workload& w) {
  RunResult out;
  evald::runners::native::NativeRunnerOptions o;
  o.model_dir = model_dir;
  o.num_threads = threads;
  o.prefix_cache = prefix_cache;
  o.max_batch_tokens = max_batch_tokens;
  auto runner = evald::runners::native::CreateNativeRunner(o);
  if (!runner.ok()) {
    std::fprintf(stderr, "engine-prefix-bench: %s\n",
                 std::string(runner.status().message()).c_str());
    out.ok = false;
    return out;
  }
  out.logprobs.assign(w.requests.size(), 0);
  const auto t0 = std::chrono::steady_clock::now();
  const absl::Status s = (*runner)->Loglikelihood(
      w.requests, {}, [&](size_t i, absl::StatusOr<LoglikelihoodResult> r) {
        if (!r.ok()) {
          std::fprintf(stderr, "request %zu: %s\n", i,
                       std::string(r.status().message()).c_str());
          out.ok = false;
          return;
        }
        out.logprobs[i] = r->logprob;
      });
  out.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  out.ok = out.ok && s.ok();
  out.stats = (*runner)->stats();
  return out;
}

bool IntFlag(const std::string& arg, const char* name, int* value, int argc,
             char** argv, int* i) {
  if (arg != name || *i + 1 >= argc) return false;
  return absl::SimpleAtoi(argv[++*i], value);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir;
  int subjects = 4, questions = 12, threads = 0, max_batch_tokens = 2048;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--model" && i + 1 < argc) {
      model_dir = argv[++i];
    } else if (!IntFlag(a, "--subjects", &subjects, argc, argv, &i) &&
               !IntFlag(a, "--questions", &questions, argc, argv, &i) &&
               !IntFlag(a, "--threads", &threads, argc, argv, &i) &&
               !IntFlag(a, "--max-batch-tokens", &max_batch_tokens, argc, argv,
                        &i)) {
      std::fprintf(stderr,
                   "usage: evald-engine-prefix-bench [--model DIR] [--subjects "
                   "N] [--questions N]"
                   " [--threads N] [--max-batch-tokens N]\n");
      return 2;
    }
  }
  std::string temp_dir;
  if (model_dir.empty()) {
    temp_dir = (std::filesystem::temp_directory_path() /
                absl::StrCat("evald_prefix_bench_", getpid()))
                   .string();
    evald::runners::native::testing::CheckpointSpec spec;
    spec.arch = "llama";
    spec.hidden = 512;
    spec.layers = 4;
    spec.heads = 8;
    spec.kv_heads = 4;
    spec.intermediate = 1536;
    spec.vocab = 4096;
    spec.max_position = 2048;
    spec.dtype = evald::runners::native::model::DType::kBF16;
    spec.seed = 5;
    if (absl::Status s =
            evald::runners::native::testing::WriteCheckpoint(spec, temp_dir);
        !s.ok()) {
      std::fprintf(stderr, "engine-prefix-bench: %s\n",
                   std::string(s.message()).c_str());
      return 1;
    }
    model_dir = temp_dir;
    std::printf(
        "model: random llama, hidden 512, 4 layers, vocab 4096, bf16 (%s)\n",
        model_dir.c_str());
  } else {
    std::printf("model: %s\n", model_dir.c_str());
  }

  // Calibrate words per token so the header is ~600 and a question ~100 tokens.
  auto tok =
      evald::runners::native::tokenizer::Tokenizer::FromDirectory(model_dir);
  if (!tok.ok()) {
    std::fprintf(stderr, "engine-prefix-bench: %s\n",
                 std::string(tok.status().message()).c_str());
    return 1;
  }
  // Size the text so the header is ~600 tokens and a question ~100.
  auto count = [&](const std::string& text) {
    return static_cast<double>((*tok)->Encode(text, true)->size());
  };
  int header_words = 400, question_words = 60;
  for (int round = 0; round < 3; ++round) {
    const Workload probe = MakeWorkload(1, 2, header_words, question_words);
    const double with_question = count(probe.requests[0].context);
    const double other_question = count(probe.requests[4].context);
    // Two questions differ only after the header: their common length.
    const std::string& a = probe.requests[0].context;
    const std::string& b = probe.requests[4].context;
    size_t common = 0;
    while (common < a.size() && common < b.size() && a[common] == b[common])
      ++common;
    const double header = count(a.substr(0, common));
    const double question = (with_question + other_question) / 2 - header;
    header_words = std::max(5, static_cast<int>(header_words * 600.0 / header));
    question_words =
        std::max(1, static_cast<int>(question_words * 100.0 / question));
  }
  const Workload w =
      MakeWorkload(subjects, questions, header_words, question_words);
  {
    const auto& r0 = w.requests[0];
    std::printf(
        "workload: %d subjects x %d questions x 4 choices = %zu requests, "
        "~%.0f-token prompts\n",
        subjects, questions, w.requests.size(), count(r0.context));
  }

  const RunResult on = Run(model_dir, true, threads, max_batch_tokens, w);
  const RunResult off = Run(model_dir, false, threads, max_batch_tokens, w);
  if (!temp_dir.empty()) std::filesystem::remove_all(temp_dir);
  if (!on.ok || !off.ok) return 1;
  size_t mismatches = 0;
  for (size_t i = 0; i < w.requests.size(); ++i)
    mismatches += on.logprobs[i] != off.logprobs[i];
  const double share = static_cast<double>(on.stats.cached_prompt_tokens) /
                       static_cast<double>(on.stats.prompt_tokens);
  std::printf(
      "prefix cache off: %8.3f s  prompt tokens %lld, cached %lld, %.0f prompt "
      "tok/s\n",
      off.seconds, static_cast<long long>(off.stats.prompt_tokens),
      static_cast<long long>(off.stats.cached_prompt_tokens),
      off.stats.prompt_tokens / off.seconds);
  std::printf(
      "prefix cache on:  %8.3f s  prompt tokens %lld, cached %lld, %.0f prompt "
      "tok/s\n",
      on.seconds, static_cast<long long>(on.stats.prompt_tokens),
      static_cast<long long>(on.stats.cached_prompt_tokens),
      on.stats.prompt_tokens / on.seconds);
  std::printf(
      "speedup (off/on): %.2fx   prompt tokens from cache: %.1f%%   score "
      "mismatches: %zu\n",
      off.seconds / on.seconds, 100.0 * share, mismatches);
  return mismatches == 0 ? 0 : 1;
}
