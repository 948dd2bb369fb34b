// File: runners/native/testing/tokenizer_writer.h
// -----------------------------------------------------------------------------
// Builds the tokenizer files of a synthetic checkpoint: a byte-level BPE in
// Hugging Face `tokenizer.json` format (Llama 3 pre-tokenizer regex, ByteLevel
// decoder, TemplateProcessing that adds BOS) and a `tokenizer_config.json`
// with a Llama-3-style chat template.
//
// Vocabulary layout for vocab_size V:
//   [0, 256)            the 256 byte symbols (GPT-2 byte-to-unicode map),
//                       id = byte value
//   [256, 256 + merges) tokens learned by a deterministic BPE trainer on a
//                       built-in English text (common words become one token)
//   ...                 unreachable filler entries up to the specials
//   last S ids          special tokens (S = 256 like Llama 3 when V >= 4096,
//                       else the five named ones): <|begin_of_text|>,
//                       <|end_of_text|>, <|start_header_id|>,
//                       <|end_header_id|>, <|eot_id|>
//
// Thread-safety: stateless functions.
#ifndef EVALD_RUNNERS_NATIVE_TESTING_TOKENIZER_WRITER_H_
#define EVALD_RUNNERS_NATIVE_TESTING_TOKENIZER_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace evald::runners::native::testing {

struct SyntheticTokenizer {
  std::string tokenizer_json;
  std::string tokenizer_config_json;
  int32_t bos_id = 0;  // <|begin_of_text|>
  int32_t eos_id = 0;  // <|end_of_text|>
  int32_t eot_id = 0;  // <|eot_id|>
  int num_merges = 0;
};

// REQUIRES nothing; vocab_size below 256 + 5 + 1 is an InvalidArgument.
absl::StatusOr<SyntheticTokenizer> BuildSyntheticTokenizer(
    int vocab_size, int model_max_length);

// The GPT-2 byte-level alphabet: the UTF-8 text of the symbol for `byte`.
std::string ByteLevelSymbol(uint8_t byte);

}  // namespace evald::runners::native::testing

#endif  // EVALD_RUNNERS_NATIVE_TESTING_TOKENIZER_WRITER_H_
