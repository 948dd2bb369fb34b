#include "runners/native/model/decoder_weights.h"

#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

namespace evald::runners::native::model {
namespace {

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

}  // namespace

absl::StatusOr<const TensorInfo*> WeightLoader::Find(
    absl::string_view name, const std::vector<int64_t>& shape) {
  const TensorInfo* t = store_->Find(name);
  if (t == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint is missing tensor '", name,
                     "' (expected shape ", ShapeString(shape), ")"));
  }
  if (t->shape != shape) {
    return absl::InvalidArgumentError(
        absl::StrCat(t->file, ": tensor '", name, "' has shape ",
                     ShapeString(t->shape), ", expected ", ShapeString(shape)));
  }
  return t;
}

absl::StatusOr<const TensorInfo*> WeightLoader::Get(
    absl::string_view name, std::vector<int64_t> shape) {
  ASSIGN_OR_RETURN(const TensorInfo* t, Find(name, shape));
  if (t->dtype != DType::kBF16 && t->dtype != DType::kF16 &&
      t->dtype != DType::kF32) {
    return absl::InvalidArgumentError(
        absl::StrCat(t->file, ": tensor '", name, "' has dtype ",
                     DTypeName(t->dtype), "; supported: BF16, F16, F32"));
  }
  return t;
}

absl::StatusOr<WeightMatrix> WeightLoader::Matrix(absl::string_view name,
                                                  int64_t rows, int64_t cols,
                                                  DecoderWeights* weights) {
  ASSIGN_OR_RETURN(const TensorInfo* t, Get(name, {rows, cols}));
  WeightMatrix m;
  m.rows = rows;
  m.cols = cols;
  if (t->dtype == DType::kF16) {
    auto buffer = std::make_unique<std::vector<float>>(t->num_elements);
    const uint8_t* src = t->data;
    for (int64_t i = 0; i < t->num_elements; ++i) {
      (*buffer)[i] =
          F16ToFloat(static_cast<uint16_t>(src[2 * i] | (src[2 * i + 1] << 8)));
    }
    m.dtype = DType::kF32;
    m.data = buffer->data();
    weights->bytes += buffer->size() * sizeof(float);
    weights->owned.push_back(std::move(buffer));
  } else {
    m.dtype = t->dtype;
    m.data = t->data;
    weights->bytes += t->size_bytes;
  }
  return m;
}

absl::StatusOr<WeightMatrix> WeightLoader::MappedMatrix(
    absl::string_view name, int64_t rows, int64_t cols,
    DecoderWeights* weights) {
  ASSIGN_OR_RETURN(const TensorInfo* t, Get(name, {rows, cols}));
  if (t->dtype == DType::kF16) {
    return absl::InvalidArgumentError(absl::StrCat(
        t->file, ": tensor '", name,
        "' is F16; expert weights are read in place and must be BF16 or F32"));
  }
  return Matrix(name, rows, cols, weights);
}

absl::StatusOr<const TensorInfo*> WeightLoader::GetTyped(
    absl::string_view name, std::vector<int64_t> shape, DType dtype,
    size_t alignment) {
  ASSIGN_OR_RETURN(const TensorInfo* t, Find(name, shape));
  if (t->dtype != dtype) {
    return absl::InvalidArgumentError(
        absl::StrCat(t->file, ": tensor '", name, "' has dtype ",
                     DTypeName(t->dtype), ", expected ", DTypeName(dtype)));
  }
  if (reinterpret_cast<uintptr_t>(t->data) % alignment != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(t->file, ": tensor '", name, "' is not ", alignment,
                     "-byte aligned in the file"));
  }
  return t;
}

absl::StatusOr<WeightMatrix> WeightLoader::AwqMatrix(absl::string_view prefix,
                                                     int64_t rows, int64_t cols,
                                                     int group_size,
                                                     DecoderWeights* weights) {
  if (rows % 8 != 0 || group_size <= 0 || cols % group_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "awq tensor '", prefix, "': shape [", rows, ", ", cols,
        "] needs out_features % 8 == 0 and in_features % group_size (",
        group_size, ") == 0"));
  }
  const int64_t groups = cols / group_size;
  ASSIGN_OR_RETURN(const TensorInfo* qw,
                   GetTyped(absl::StrCat(prefix, ".qweight"), {cols, rows / 8},
                            DType::kI32, 4));
  ASSIGN_OR_RETURN(const TensorInfo* qz,
                   GetTyped(absl::StrCat(prefix, ".qzeros"), {groups, rows / 8},
                            DType::kI32, 4));
  ASSIGN_OR_RETURN(const TensorInfo* sc,
                   GetTyped(absl::StrCat(prefix, ".scales"), {groups, rows},
                            DType::kF16, 2));
  WeightMatrix m;
  m.format = WeightFormat::kAwqInt4;
  m.rows = rows;
  m.cols = cols;
  m.qweight = reinterpret_cast<const int32_t*>(qw->data);
  m.qzeros = reinterpret_cast<const int32_t*>(qz->data);
  m.scales = reinterpret_cast<const uint16_t*>(sc->data);
  m.group_size = group_size;
  weights->bytes += qw->size_bytes + qz->size_bytes + sc->size_bytes;
  return m;
}

absl::StatusOr<std::vector<float>> WeightLoader::Vector(
    absl::string_view name, int64_t n, DecoderWeights* weights) {
  ASSIGN_OR_RETURN(const TensorInfo* t, Get(name, {n}));
  std::vector<float> v(n);
  const uint8_t* src = t->data;
  for (int64_t i = 0; i < n; ++i) {
    if (t->dtype == DType::kF32) {
      std::memcpy(&v[i], src + 4 * i, 4);
    } else {
      const uint16_t h =
          static_cast<uint16_t>(src[2 * i] | (src[2 * i + 1] << 8));
      v[i] = t->dtype == DType::kBF16 ? Bf16ToFloat(h) : F16ToFloat(h);
    }
  }
  weights->bytes += n * sizeof(float);
  return v;
}

absl::StatusOr<DecoderWeights> LoadLlamaStyleWeights(const ModelConfig& c,
                                                     WeightLoader* loader) {
  DecoderWeights w;
  const int64_t h = c.hidden_size;
  const int64_t q_dim = static_cast<int64_t>(c.num_heads) * c.head_dim;
  const int64_t kv_dim = static_cast<int64_t>(c.num_kv_heads) * c.head_dim;
  const int64_t inter = c.intermediate_size;
  // The seven projections are AWQ INT4 when the config says so; embeddings,
  // norms and lm_head stay dense.
  auto proj = [&](const std::string& name, int64_t rows, int64_t cols) {
    return c.quantization.awq
               ? loader->AwqMatrix(name, rows, cols, c.quantization.group_size,
                                   &w)
               : loader->Matrix(name + ".weight", rows, cols, &w);
  };
  ASSIGN_OR_RETURN(w.embed, loader->Matrix("model.embed_tokens.weight",
                                           c.vocab_size, h, &w));
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = absl::StrCat("model.layers.", l, ".");
    LayerWeights lw;
    ASSIGN_OR_RETURN(lw.input_norm,
                     loader->Vector(p + "input_layernorm.weight", h, &w));
    ASSIGN_OR_RETURN(lw.q, proj(p + "self_attn.q_proj", q_dim, h));
    ASSIGN_OR_RETURN(lw.k, proj(p + "self_attn.k_proj", kv_dim, h));
    ASSIGN_OR_RETURN(lw.v, proj(p + "self_attn.v_proj", kv_dim, h));
    if (c.attention_bias) {
      ASSIGN_OR_RETURN(lw.q_bias,
                       loader->Vector(p + "self_attn.q_proj.bias", q_dim, &w));
      ASSIGN_OR_RETURN(lw.k_bias,
                       loader->Vector(p + "self_attn.k_proj.bias", kv_dim, &w));
      ASSIGN_OR_RETURN(lw.v_bias,
                       loader->Vector(p + "self_attn.v_proj.bias", kv_dim, &w));
    }
    if (c.qk_norm) {
      ASSIGN_OR_RETURN(lw.q_norm, loader->Vector(p + "self_attn.q_norm.weight",
                                                 c.head_dim, &w));
      ASSIGN_OR_RETURN(lw.k_norm, loader->Vector(p + "self_attn.k_norm.weight",
                                                 c.head_dim, &w));
    }
    ASSIGN_OR_RETURN(lw.o, proj(p + "self_attn.o_proj", h, q_dim));
    ASSIGN_OR_RETURN(
        lw.post_norm,
        loader->Vector(p + "post_attention_layernorm.weight", h, &w));
    if (!IsMoeLayer(c, l)) {
      ASSIGN_OR_RETURN(lw.gate, proj(p + "mlp.gate_proj", inter, h));
      ASSIGN_OR_RETURN(lw.up, proj(p + "mlp.up_proj", inter, h));
      ASSIGN_OR_RETURN(lw.down, proj(p + "mlp.down_proj", h, inter));
    }
    w.layers.push_back(std::move(lw));
  }
  ASSIGN_OR_RETURN(w.final_norm, loader->Vector("model.norm.weight", h, &w));
  // Some tied checkpoints still ship lm_head.weight; use it when present.
  if (loader->Has("lm_head.weight") || !c.tie_word_embeddings) {
    ASSIGN_OR_RETURN(w.lm_head,
                     loader->Matrix("lm_head.weight", c.vocab_size, h, &w));
  } else {
    w.lm_head = w.embed;
  }
  return w;
}

}  // namespace evald::runners::native::model
