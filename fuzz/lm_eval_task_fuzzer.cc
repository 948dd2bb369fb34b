// File: fuzz/lm_eval_task_fuzzer.cc
// -----------------------------------------------------------------------------
// lm-eval task YAML as users write it: arbitrary bytes as a task or group
// file (with its names resolved), or as the data file a fixed task reads
// (JSONL, JSON or CSV). The first byte picks the target; the rest is the
// input. Nothing may crash or hang; every error is one line; a library
// that loads must resolve its own default name's tasks.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "tasks/lm_eval/config.h"

namespace {

// A folder of this process's own, so includes and data paths the input
// names relative to the file land in it.
const std::string& Dir() {
  static const std::string* const dir = [] {
    auto* d =
        new std::string("/tmp/lm_eval_task_fuzzer_" + std::to_string(getpid()));
    std::filesystem::create_directories(*d + "/data");
    return d;
  }();
  return *dir;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// Every error is one line.
bool OneLine(const absl::Status& status) {
  return status.message().find('\n') == absl::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using evald::tasks::lm_eval::LoadTaskDocs;
  using evald::tasks::lm_eval::LoadTaskLibrary;
  using evald::tasks::lm_eval::LoadTaskLibraryFromText;
  using evald::tasks::lm_eval::TaskLibrary;
  if (size == 0) return 0;
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
    case 1: {
      auto lib = LoadTaskLibraryFromText(input, Dir() + "/fuzz.yaml");
      if (!lib.ok()) {
        if (!OneLine(lib.status())) std::abort();
        break;
      }
      if (lib->tasks.empty() && lib->groups.empty()) std::abort();
      auto name = lib->DefaultName();
      if (name.ok() && !lib->Resolve(*name).ok() &&
          lib->FindGroup(*name) == nullptr) {
        std::abort();  // a default task that does not resolve
      }
      for (const auto& t : lib->tasks) {
        if (!t.config_json.is_object()) std::abort();
        (void)lib->Resolve(t.task);
      }
      break;
    }
    default: {
      static const char* const kExt[] = {"jsonl", "json", "csv"};
      const std::string ext = kExt[data[0] % 3];
      WriteFile(Dir() + "/data/test." + ext, input);
      static const std::string task_path = Dir() + "/task.yaml";
      WriteFile(task_path,
                "task: t\ndataset_path: data\ntest_split: test\n"
                "fewshot_split: test\n");
      auto lib = LoadTaskLibrary(task_path);
      if (!lib.ok() || lib->tasks.size() != 1) std::abort();
      auto docs = LoadTaskDocs(lib->tasks[0]);
      if (!docs.ok() && !OneLine(docs.status())) std::abort();
      if (docs.ok()) {
        if (docs->eval.size() != docs->fewshot.size()) std::abort();
        for (const auto& d : docs->eval) {
          if (!d.value.is_object()) std::abort();
          (void)d.value.Dump();
        }
      }
      std::filesystem::remove(Dir() + "/data/test." + ext);
      break;
    }
  }
  return 0;
}
