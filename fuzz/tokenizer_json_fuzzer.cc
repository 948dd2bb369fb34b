// Fuzzes tokenizer.json loading: any input must load or fail with a Status,
// never crash; what loads must encode and decode a few strings safely.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "runners/native/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view json(reinterpret_cast<const char*>(data), size);
  auto tokenizer =
      evald::runners::native::tokenizer::Tokenizer::FromJson(json, "");
  if (!tokenizer.ok()) return 0;
  static const char* const kInputs[] = {"",
                                        "hello world",
                                        "  spaced\n\ttext  ",
                                        "<s>special</s>",
                                        "€ é e\xCC\x81 你好 👍🏽",
                                        "don't STOP 12345",
                                        "\xFF invalid",
                                        "▁▁x"};
  for (const char* text : kInputs) {
    for (bool special : {false, true}) {
      auto ids = (*tokenizer)->Encode(text, special);
      if (!ids.ok()) continue;
      (void)(*tokenizer)->Decode(*ids, false);
      (void)(*tokenizer)->Decode(*ids, true);
      for (int32_t id : *ids) (void)(*tokenizer)->TokenBytes(id);
    }
  }
  // Ids outside the vocabulary must be harmless too.
  const int32_t odd[] = {-1, 0, 1, (*tokenizer)->vocab_size(), 1 << 30};
  (void)(*tokenizer)->Decode(odd, false);
  return 0;
}
