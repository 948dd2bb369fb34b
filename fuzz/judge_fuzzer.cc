// Judge inputs users write or models produce: template YAML files, judge
// replies (every verdict parser), and judged-task datasets (JSONL). The
// first byte picks the target; the rest is the input. Nothing may crash,
// and a parsed verdict must be in range.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "judge/judge.h"
#include "judge/verdict.h"
#include "tasks/task.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      (void)evald::judge::ParseTemplate("fuzz.yaml", input);
      break;
    case 1: {
      if (auto r = evald::judge::ParseRating(input); r && (*r < 1 || *r > 10))
        std::abort();
      (void)evald::judge::ParsePairwise(input);
      (void)evald::judge::ParseCorrectness(input);
      break;
    }
    case 2: {
      static const std::string path =
          "/tmp/judge_fuzzer_" + std::to_string(getpid()) + ".jsonl";
      {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << input;
      }
      evald::tasks::TaskOptions options;
      options.data_path = path;
      options.options["mode"] =
          (input.size() % 2 == 0) ? "single" : "reference";
      options.options["first_turn"] =
          (input.size() % 3 == 0) ? "true" : "false";
      auto task = evald::tasks::CreateTask("judged", options);
      if (task.ok()) {
        for (size_t i = 0; i < (*task)->DocIds().size(); ++i)
          (void)(*task)->BuildPrompt(i);
      }
      break;
    }
  }
  return 0;
}
