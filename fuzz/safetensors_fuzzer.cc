// libFuzzer target: arbitrary bytes as a whole safetensors file. The parser
// must return a Status for anything malformed, never crash, and every tensor
// it accepts must lie inside the buffer.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "runners/native/model/safetensors.h"

namespace model = ::evald::runners::native::model;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto header = model::ParseSafetensors(absl::MakeConstSpan(data, size),
                                        "fuzz.safetensors");
  if (!header.ok()) return 0;
  for (const model::TensorInfo& t : header->tensors) {
    if (t.size_bytes == 0) continue;
    if (t.data < data || t.data + t.size_bytes > data + size) std::abort();
    // Touch the first and last byte so ASan checks the bounds too.
    volatile uint8_t first = t.data[0];
    volatile uint8_t last = t.data[t.size_bytes - 1];
    (void)first;
    (void)last;
  }
  return 0;
}
