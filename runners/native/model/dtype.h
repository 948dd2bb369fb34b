// File: runners/native/model/dtype.h
// -----------------------------------------------------------------------------
// Element types of checkpoint tensors (the safetensors dtype strings) and
// scalar conversions between BF16/F16 and FP32.
//
// The compute path handles BF16, F16 and F32 weights today. I32 and U8 (packed
// INT4, e.g. AWQ `qweight`/`qzeros`) and F8_E4M3 parse and validate so that a
// quantized checkpoint's header can be read; the architectures reject them as
// weight dtypes until a kernel exists.
//
// Thread-safety: stateless functions.
#ifndef EVALD_RUNNERS_NATIVE_MODEL_DTYPE_H_
#define EVALD_RUNNERS_NATIVE_MODEL_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "absl/strings/string_view.h"

namespace evald::runners::native::model {

enum class DType {
  kBool,
  kU8,
  kI8,
  kI16,
  kU16,
  kI32,
  kU32,
  kI64,
  kU64,
  kF16,
  kBF16,
  kF32,
  kF64,
  kF8E4M3,
  kF8E5M2,
};

// Bytes per element.
size_t DTypeSize(DType dtype);
// The safetensors spelling ("BF16", "F8_E4M3", ...).
absl::string_view DTypeName(DType dtype);
// Inverse of DTypeName; nullopt for an unknown spelling.
std::optional<DType> ParseDType(absl::string_view name);

inline float Bf16ToFloat(uint16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// Round to nearest even, as torch does; NaN stays NaN.
inline uint16_t FloatToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((bits >> 16) | 0x40);
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float F16ToFloat(uint16_t v);
uint16_t FloatToF16(float f);

}  // namespace evald::runners::native::model

#endif  // EVALD_RUNNERS_NATIVE_MODEL_DTYPE_H_
