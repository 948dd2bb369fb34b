// File: tasks/ifeval/tools/ifeval_tokenize_main.cc
// -----------------------------------------------------------------------------
// ifeval_tokenize --punkt DIR [--langdetect DIR] < texts.jsonl > out.jsonl
// For each input line (a JSON string), prints one JSON object with the Punkt
// sentences, nltk.word_tokenize tokens, the \w+ word count and the detected
// language (langdetect with --langdetect, else CLD2), so they can be compared
// with NLTK and langdetect on real text.
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "base/json.h"
#include "tasks/ifeval/langdetect.h"
#include "tasks/ifeval/language.h"
#include "tasks/ifeval/nltk_words.h"
#include "tasks/ifeval/punkt.h"

int main(int argc, char** argv) {
  using namespace evald;
  if ((argc != 3 && argc != 5) || std::string(argv[1]) != "--punkt" ||
      (argc == 5 && std::string(argv[3]) != "--langdetect")) {
    std::fprintf(stderr,
                 "usage: ifeval_tokenize --punkt DIR [--langdetect DIR] < "
                 "texts.jsonl\n");
    return 1;
  }
  std::unique_ptr<tasks::ifeval::LangDetect> langdetect;
  if (argc == 5) {
    auto loaded = tasks::ifeval::LangDetect::Load(argv[4]);
    if (!loaded.ok()) {
      std::fprintf(stderr, "ifeval_tokenize: %s\n",
                   loaded.status().ToString().c_str());
      return 1;
    }
    langdetect = *std::move(loaded);
  }
  const tasks::ifeval::LanguageDetector& detector =
      langdetect != nullptr ? *langdetect : tasks::ifeval::Cld2Detector();
  auto punkt = tasks::ifeval::PunktTokenizer::Load(argv[2]);
  if (!punkt.ok()) {
    std::fprintf(stderr, "ifeval_tokenize: %s\n",
                 punkt.status().ToString().c_str());
    return 1;
  }
  std::string line;
  int line_no = 0;
  while (std::getline(std::cin, line)) {
    ++line_no;
    auto text = base::ParseJson(line);
    if (!text.ok() || !text->is_string()) {
      std::fprintf(stderr, "ifeval_tokenize: line %d: not a JSON string\n",
                   line_no);
      return 1;
    }
    base::Json sentences = base::Json::MakeArray();
    for (std::string& s : (*punkt)->Tokenize(text->string_value())) {
      sentences.Push(base::Json::String(std::move(s)));
    }
    base::Json words = base::Json::MakeArray();
    for (std::string& w :
         tasks::ifeval::NltkWordTokenize(text->string_value(), **punkt)) {
      words.Push(base::Json::String(std::move(w)));
    }
    base::Json out = base::Json::MakeObject();
    out.Set("sentences", std::move(sentences));
    out.Set("words", std::move(words));
    out.Set("count_words",
            base::Json::Int(static_cast<int64_t>(
                tasks::ifeval::CountWords(text->string_value()))));
    std::optional<std::string> lang = detector.Detect(text->string_value());
    out.Set("language", lang ? base::Json::String(*lang) : base::Json::Null());
    std::cout << out.Dump() << "\n";
  }
  return 0;
}
