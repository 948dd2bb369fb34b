// File: tests/runners/native/tokenizer/corpus.h
// -----------------------------------------------------------------------------
// A deterministic corpus of varied strings for tokenizer reference tests:
// prose with contractions in mixed case, code, numbers, whitespace runs,
// emoji and ZWJ sequences, CJK, Arabic, Hindi, combining marks, special-token
// text, byte-fallback lookalikes, long words, URLs and repeated punctuation,
// plus hand-written edge cases. The same seed always gives the same strings.
#ifndef EVALD_TESTS_RUNNERS_NATIVE_TOKENIZER_CORPUS_H_
#define EVALD_TESTS_RUNNERS_NATIVE_TOKENIZER_CORPUS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace evald::testing {

// Hand-written edge cases first, then `generated` random compositions.
std::vector<std::string> TokenizerCorpus(int generated, uint64_t seed);

// About `bytes` bytes of English-like prose (for speed measurements).
std::string EnglishText(size_t bytes, uint64_t seed);

}  // namespace evald::testing

#endif  // EVALD_TESTS_RUNNERS_NATIVE_TOKENIZER_CORPUS_H_
