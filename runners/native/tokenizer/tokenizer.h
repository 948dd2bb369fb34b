// File: runners/native/tokenizer/tokenizer.h
// -----------------------------------------------------------------------------
// A Hugging Face `tokenizer.json` tokenizer, exact to the reference: BPE
// models of both families - byte-level (Llama 3, Qwen: ByteLevel
// pre-tokenizer/decoder, Split regexes with Unicode classes and lookahead run
// through PCRE2) and SentencePiece-style (Llama 2, Mistral: Prepend/Replace
// normalizers or Metaspace, byte fallback) - plus added and special tokens,
// post-processor BOS/EOS rules and decoders.
//
// Thread-safety: immutable after creation; Encode/Decode are thread-safe.
#ifndef EVALD_RUNNERS_NATIVE_TOKENIZER_TOKENIZER_H_
#define EVALD_RUNNERS_NATIVE_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace evald::runners::native::tokenizer {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Reads `<dir>/tokenizer.json` and, when present,
  // `<dir>/tokenizer_config.json` (bos/eos tokens, add_bos_token/add_eos_token,
  // chat_template). Errors name the file and the field at fault.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromDirectory(
      const std::string& dir);
  // Same from in-memory file contents (tokenizer_config may be empty).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(
      absl::string_view tokenizer_json,
      absl::string_view tokenizer_config_json);

  // Encodes `text` like HF `tokenizer(text,
  // add_special_tokens=...)["input_ids"]`. Invalid UTF-8 is an InvalidArgument
  // error naming the byte offset.
  virtual absl::StatusOr<std::vector<int32_t>> Encode(
      absl::string_view text, bool add_special_tokens) const = 0;

  // Decodes like HF `tokenizer.decode(ids, skip_special_tokens=...)`. Byte
  // sequences that are not valid UTF-8 come out as U+FFFD as HF does.
  virtual std::string Decode(absl::Span<const int32_t> ids,
                             bool skip_special_tokens) const = 0;

  // Raw bytes a token id contributes when decoded in sequence (for streaming
  // and stop-string matching; may be a partial UTF-8 sequence).
  virtual std::string TokenBytes(int32_t id) const = 0;

  virtual int vocab_size() const = 0;  // including added tokens
  virtual std::optional<int32_t> TokenToId(absl::string_view token) const = 0;
  virtual std::optional<std::string> IdToToken(int32_t id) const = 0;
  virtual bool IsSpecial(int32_t id) const = 0;

  // From tokenizer_config.json / the post-processor.
  virtual std::optional<int32_t> bos_id() const = 0;
  virtual std::optional<int32_t> eos_id() const = 0;
  virtual std::string bos_token() const = 0;  // "" if none
  virtual std::string eos_token() const = 0;
  // The chat template from tokenizer_config.json ("" if none).
  virtual const std::string& chat_template() const = 0;
};

}  // namespace evald::runners::native::tokenizer

#endif  // EVALD_RUNNERS_NATIVE_TOKENIZER_TOKENIZER_H_
