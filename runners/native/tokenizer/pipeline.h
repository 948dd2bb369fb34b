// File: runners/native/tokenizer/pipeline.h
// -----------------------------------------------------------------------------
// The configurable stages of a tokenizer.json around the model: normalizers,
// pre-tokenizers, decoders and post-processors, each built from its JSON
// object (read through base::JsonReader, so errors name the file and the
// field's path). Behaviour follows HF
// `tokenizers` (offsets are not tracked; evald needs ids and text only).
//
// Ownership: each factory returns a uniquely owned stage; a Sequence owns its
// children. Thread-safety: every stage is immutable after construction and its
// methods may run concurrently.
#ifndef EVALD_RUNNERS_NATIVE_TOKENIZER_PIPELINE_H_
#define EVALD_RUNNERS_NATIVE_TOKENIZER_PIPELINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/json.h"

namespace evald::runners::native::tokenizer::internal {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // REQUIRES: `s` is valid UTF-8; the result is valid UTF-8.
  virtual absl::StatusOr<std::string> Normalize(std::string s) const = 0;
};
absl::StatusOr<std::unique_ptr<Normalizer>> NormalizerFromJson(
    const base::JsonReader& j);

// One piece of pre-tokenized text. `at_origin` marks the piece that starts at
// byte 0 of the caller's input (Metaspace's prepend_scheme "first").
struct Piece {
  std::string text;
  bool at_origin = false;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their finer split. Empty pieces are dropped.
  virtual absl::Status PreTokenize(std::vector<Piece>* pieces) const = 0;
};
absl::StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizerFromJson(
    const base::JsonReader& j);

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Transforms the token strings of a whole sequence (HF's decode_chain).
  // Output strings may hold any bytes; the caller repairs UTF-8.
  virtual void DecodeChain(std::vector<std::string>* tokens) const = 0;
  // Rewrites one token into the bytes it contributes mid-sequence, without
  // context-dependent steps (stripping, UTF-8 repair).
  virtual void TokenBytes(std::string* token) const = 0;
};
absl::StatusOr<std::unique_ptr<Decoder>> DecoderFromJson(
    const base::JsonReader& j);

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Wraps the ids of a single sequence; adds special tokens only when asked.
  virtual void Process(std::vector<int32_t>* ids,
                       bool add_special_tokens) const = 0;
  // The special ids placed before / after the sequence (BOS / EOS guesses when
  // tokenizer_config.json names none).
  virtual std::vector<int32_t> LeadingIds() const { return {}; }
  virtual std::vector<int32_t> TrailingIds() const { return {}; }
};
// `token_to_id` resolves token names the file uses without giving ids.
absl::StatusOr<std::unique_ptr<PostProcessor>> PostProcessorFromJson(
    const base::JsonReader& j,
    const std::function<std::optional<int32_t>(absl::string_view)>&
        token_to_id);
// A post-processor that puts `leading` before and `trailing` after the text
// (the BOS/EOS rule LlamaTokenizer-style configs state with add_bos_token).
std::unique_ptr<PostProcessor> MakeWrapPostProcessor(
    std::vector<int32_t> leading, std::vector<int32_t> trailing);

}  // namespace evald::runners::native::tokenizer::internal

#endif  // EVALD_RUNNERS_NATIVE_TOKENIZER_PIPELINE_H_
