// File: tasks/ifeval/nltk_words.h
// -----------------------------------------------------------------------------
// Word tokenization as the IFEval reference counts words:
//  * TreebankWordTokenize: NLTK's NLTKWordTokenizer (the improved Treebank
//    tokenizer behind nltk.word_tokenize) on one sentence: starting quotes,
//    punctuation, brackets, double dashes, ending quotes and clitics, then a
//    whitespace split.
//  * NltkWordTokenize: nltk.word_tokenize: Punkt sentences, then the Treebank
//    tokenizer on each.
//  * CountWords: nltk RegexpTokenizer(r"\w+") token count (Unicode \w).
//
// Pure functions; thread-safe.
#ifndef EVALD_TASKS_IFEVAL_NLTK_WORDS_H_
#define EVALD_TASKS_IFEVAL_NLTK_WORDS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "tasks/ifeval/punkt.h"

namespace evald::tasks::ifeval {

std::vector<std::string> TreebankWordTokenize(absl::string_view sentence);
std::vector<std::string> NltkWordTokenize(absl::string_view text,
                                          const PunktTokenizer& punkt);
size_t CountWords(absl::string_view text);

}  // namespace evald::tasks::ifeval

#endif  // EVALD_TASKS_IFEVAL_NLTK_WORDS_H_
