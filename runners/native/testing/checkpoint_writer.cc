#include "runners/native/testing/checkpoint_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/json.h"
#include "base/status_macros.h"
#include "runners/native/testing/tokenizer_writer.h"

namespace evald::runners::native::testing {
namespace {

constexpr int64_t kFillChunk = 1 << 20;  // elements generated per write

uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t NameKey(uint64_t seed, absl::string_view name) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ull;
  return Mix64(h ^ Mix64(seed + 0x9e3779b97f4a7c15ull));
}

// Element i of a tensor's stream: uniform in [-1, 1), counter-based so that
// any chunk can be produced independently.
inline float UniformAt(uint64_t key, int64_t i) {
  const uint64_t r =
      Mix64(key + static_cast<uint64_t>(i + 1) * 0x9e3779b97f4a7c15ull);
  return static_cast<float>(r >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

void StoreAs(model::DType dtype, const float* values, int64_t count,
             uint8_t* out) {
  for (int64_t i = 0; i < count; ++i) {
    if (dtype == model::DType::kF32) {
      std::memcpy(out + 4 * i, &values[i], 4);
    } else {
      const uint16_t h = dtype == model::DType::kBF16
                             ? model::FloatToBf16(values[i])
                             : model::FloatToF16(values[i]);
      out[2 * i] = static_cast<uint8_t>(h & 0xff);
      out[2 * i + 1] = static_cast<uint8_t>(h >> 8);
    }
  }
}

// uniform * sqrt(3) has std 1.
TensorToWrite RandomTensor(std::string name, model::DType dtype,
                           std::vector<int64_t> shape, uint64_t seed,
                           float center, float stddev) {
  TensorToWrite t;
  const uint64_t key = NameKey(seed, name);
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  const float scale = stddev * std::sqrt(3.0f);
  t.fill = [key, dtype, center, scale](int64_t offset, int64_t count,
                                       uint8_t* out) {
    std::vector<float> values(count);
    for (int64_t i = 0; i < count; ++i)
      values[i] = center + scale * UniformAt(key, offset + i);
    StoreAs(dtype, values.data(), count, out);
  };
  return t;
}

int64_t NumElements(const TensorToWrite& t) {
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  return n;
}

// The three AWQ tensors of one projection [rows, cols], quantised from the
// BF16 stream RandomTensor(base + ".weight", kBF16, ...) would write. Each
// fill produces the group parameters it needs from that stream (cached per
// group row, since fills arrive in order), so nothing larger than one group
// row of parameters is held.
void AppendAwqProjection(std::vector<TensorToWrite>* out,
                         const std::string& base, int64_t rows, int64_t cols,
                         int group, uint64_t seed, float stddev) {
  struct State {
    uint64_t key;
    int64_t rows, cols;
    int group;
    float scale;
    int64_t cached_group = -1;
    std::vector<AwqGroupParams> params;  // [rows] of cached_group
    float WeightAt(int64_t n, int64_t k) const {
      return model::Bf16ToFloat(
          model::FloatToBf16(scale * UniformAt(key, n * cols + k)));
    }
    const std::vector<AwqGroupParams>& Group(int64_t g) {
      if (g != cached_group) {
        params.resize(rows);
        std::vector<float> w(group);
        for (int64_t n = 0; n < rows; ++n) {
          for (int i = 0; i < group; ++i) w[i] = WeightAt(n, g * group + i);
          params[n] = AwqQuantizeGroupParams(w.data(), group);
        }
        cached_group = g;
      }
      return params;
    }
  };
  const int64_t words = rows / 8, groups = cols / group;
  auto make_state = [&] {
    auto st = std::make_shared<State>();
    st->key = NameKey(seed, base + ".weight");
    st->rows = rows;
    st->cols = cols;
    st->group = group;
    st->scale = stddev * std::sqrt(3.0f);
    return st;
  };
  TensorToWrite qweight;
  qweight.name = base + ".qweight";
  qweight.dtype = model::DType::kI32;
  qweight.shape = {cols, words};
  qweight.fill = [st = make_state(), words](int64_t offset, int64_t count,
                                            uint8_t* out) {
    for (int64_t i = 0; i < count; ++i) {
      const int64_t k = (offset + i) / words, c = (offset + i) % words;
      const std::vector<AwqGroupParams>& p = st->Group(k / st->group);
      int logical[8];
      for (int j = 0; j < 8; ++j) {
        logical[j] = AwqQuantizeValue(st->WeightAt(8 * c + j, k), p[8 * c + j]);
      }
      const uint32_t word = static_cast<uint32_t>(AwqPackWord(logical));
      std::memcpy(out + 4 * i, &word, 4);
    }
  };
  TensorToWrite qzeros;
  qzeros.name = base + ".qzeros";
  qzeros.dtype = model::DType::kI32;
  qzeros.shape = {groups, words};
  qzeros.fill = [st = make_state(), words](int64_t offset, int64_t count,
                                           uint8_t* out) {
    for (int64_t i = 0; i < count; ++i) {
      const int64_t g = (offset + i) / words, c = (offset + i) % words;
      const std::vector<AwqGroupParams>& p = st->Group(g);
      int logical[8];
      for (int j = 0; j < 8; ++j) logical[j] = p[8 * c + j].zero;
      const uint32_t word = static_cast<uint32_t>(AwqPackWord(logical));
      std::memcpy(out + 4 * i, &word, 4);
    }
  };
  TensorToWrite scales;
  scales.name = base + ".scales";
  scales.dtype = model::DType::kF16;
  scales.shape = {groups, rows};
  scales.fill = [st = make_state(), rows](int64_t offset, int64_t count,
                                          uint8_t* out) {
    for (int64_t i = 0; i < count; ++i) {
      const int64_t g = (offset + i) / rows, n = (offset + i) % rows;
      const uint16_t h = st->Group(g)[n].scale_f16;
      out[2 * i] = static_cast<uint8_t>(h & 0xff);
      out[2 * i + 1] = static_cast<uint8_t>(h >> 8);
    }
  };
  out->push_back(std::move(qweight));
  out->push_back(std::move(qzeros));
  out->push_back(std::move(scales));
}

// The sparse block of one layer (`p` = "model.layers.N."), named as the
// family names it.
void AppendMoeBlock(std::vector<TensorToWrite>* out, const CheckpointSpec& s,
                    const model::ModelConfig& c, const std::string& p) {
  const model::DType dt = s.dtype;
  const int64_t h = c.hidden_size, in = c.moe.expert_intermediate_size;
  const float wstd = 1.0f / std::sqrt(static_cast<float>(h));
  const bool mixtral = s.arch == "mixtral";
  const std::string b = p + (mixtral ? "block_sparse_moe." : "mlp.");
  out->push_back(RandomTensor(b + "gate.weight", dt, {c.moe.num_experts, h},
                              s.seed, 0, wstd));
  auto ffn = [&](const std::string& x, int64_t width, const char* gate,
                 const char* up, const char* down) {
    out->push_back(
        RandomTensor(x + gate + ".weight", dt, {width, h}, s.seed, 0, wstd));
    out->push_back(
        RandomTensor(x + up + ".weight", dt, {width, h}, s.seed, 0, wstd));
    out->push_back(RandomTensor(x + down + ".weight", dt, {h, width}, s.seed, 0,
                                1.0f / std::sqrt(static_cast<float>(width))));
  };
  for (int e = 0; e < c.moe.num_experts; ++e) {
    const std::string x = absl::StrCat(b, "experts.", e, ".");
    if (mixtral) {
      ffn(x, in, "w1", "w3", "w2");
    } else {
      ffn(x, in, "gate_proj", "up_proj", "down_proj");
    }
  }
  if (c.moe.shared_expert_intermediate_size > 0) {
    ffn(b + "shared_expert.", c.moe.shared_expert_intermediate_size,
        "gate_proj", "up_proj", "down_proj");
    out->push_back(RandomTensor(b + "shared_expert_gate.weight", dt, {1, h},
                                s.seed, 0, wstd));
  }
}

// Gemma 2 / Gemma 3: the four norms of each layer (stored as offsets from
// 1), q/k norms for Gemma 3, tied embeddings.
std::vector<TensorToWrite> GemmaTensors(const CheckpointSpec& s,
                                        const model::ModelConfig& c) {
  const model::DType dt = s.dtype;
  const int64_t h = c.hidden_size, hd = c.head_dim, v = c.vocab_size,
                in = c.intermediate_size;
  const float norm_std = static_cast<float>(s.norm_jitter);
  const float wstd = 1.0f / std::sqrt(static_cast<float>(h));
  std::vector<TensorToWrite> out;
  auto matrix = [&](const std::string& name, int64_t rows, int64_t cols,
                    float stddev) {
    out.push_back(RandomTensor(name, dt, {rows, cols}, s.seed, 0, stddev));
  };
  auto norm = [&](const std::string& name, int64_t n) {
    out.push_back(RandomTensor(name, dt, {n}, s.seed, 0, norm_std));
  };
  matrix("model.embed_tokens.weight", v, h, wstd);
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = absl::StrCat("model.layers.", l, ".");
    norm(p + "input_layernorm.weight", h);
    matrix(p + "self_attn.q_proj.weight", c.num_heads * hd, h, wstd);
    matrix(p + "self_attn.k_proj.weight", c.num_kv_heads * hd, h, wstd);
    matrix(p + "self_attn.v_proj.weight", c.num_kv_heads * hd, h, wstd);
    if (c.qk_norm) {
      norm(p + "self_attn.q_norm.weight", hd);
      norm(p + "self_attn.k_norm.weight", hd);
    }
    matrix(p + "self_attn.o_proj.weight", h, c.num_heads * hd,
           1.0f / std::sqrt(static_cast<float>(c.num_heads * hd)));
    norm(p + "post_attention_layernorm.weight", h);
    norm(p + "pre_feedforward_layernorm.weight", h);
    norm(p + "post_feedforward_layernorm.weight", h);
    matrix(p + "mlp.gate_proj.weight", in, h, wstd);
    matrix(p + "mlp.up_proj.weight", in, h, wstd);
    matrix(p + "mlp.down_proj.weight", h, in,
           1.0f / std::sqrt(static_cast<float>(in)));
  }
  norm("model.norm.weight", h);
  return out;
}

bool IsGemma(const std::string& arch) {
  return arch == "gemma2" || arch == "gemma3";
}

std::vector<TensorToWrite> SpecTensors(const CheckpointSpec& s,
                                       const model::ModelConfig& c) {
  if (IsGemma(s.arch)) return GemmaTensors(s, c);
  const model::DType dt = s.dtype;
  const int64_t h = c.hidden_size, hd = c.head_dim, v = c.vocab_size,
                in = c.intermediate_size;
  const float norm_std = static_cast<float>(s.norm_jitter);
  const float wstd = 1.0f / std::sqrt(static_cast<float>(h));
  std::vector<TensorToWrite> out;
  auto proj = [&](const std::string& base, int64_t rows, int64_t cols,
                  float stddev) {
    if (s.awq_int4) {
      AppendAwqProjection(&out, base, rows, cols, s.awq_group_size, s.seed,
                          stddev);
    } else {
      out.push_back(
          RandomTensor(base + ".weight", dt, {rows, cols}, s.seed, 0, stddev));
    }
  };
  out.push_back(
      RandomTensor("model.embed_tokens.weight", dt, {v, h}, s.seed, 0, wstd));
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = absl::StrCat("model.layers.", l, ".");
    out.push_back(RandomTensor(p + "input_layernorm.weight", dt, {h}, s.seed, 1,
                               norm_std));
    if (s.arch == "phi3") {
      proj(p + "self_attn.qkv_proj", (c.num_heads + 2 * c.num_kv_heads) * hd, h,
           wstd);
    } else {
      proj(p + "self_attn.q_proj", c.num_heads * hd, h, wstd);
      proj(p + "self_attn.k_proj", c.num_kv_heads * hd, h, wstd);
      proj(p + "self_attn.v_proj", c.num_kv_heads * hd, h, wstd);
    }
    if (c.attention_bias) {
      const float b = static_cast<float>(s.bias_std);
      out.push_back(RandomTensor(p + "self_attn.q_proj.bias", dt,
                                 {c.num_heads * hd}, s.seed, 0, b));
      out.push_back(RandomTensor(p + "self_attn.k_proj.bias", dt,
                                 {c.num_kv_heads * hd}, s.seed, 0, b));
      out.push_back(RandomTensor(p + "self_attn.v_proj.bias", dt,
                                 {c.num_kv_heads * hd}, s.seed, 0, b));
    }
    if (c.qk_norm) {
      out.push_back(RandomTensor(p + "self_attn.q_norm.weight", dt, {hd},
                                 s.seed, 1, norm_std));
      out.push_back(RandomTensor(p + "self_attn.k_norm.weight", dt, {hd},
                                 s.seed, 1, norm_std));
    }
    proj(p + "self_attn.o_proj", h, c.num_heads * hd,
         1.0f / std::sqrt(static_cast<float>(c.num_heads * hd)));
    out.push_back(RandomTensor(p + "post_attention_layernorm.weight", dt, {h},
                               s.seed, 1, norm_std));
    if (model::IsMoeLayer(c, l)) {
      AppendMoeBlock(&out, s, c, p);
      continue;
    }
    if (s.arch == "phi3") {
      proj(p + "mlp.gate_up_proj", 2 * in, h, wstd);
    } else {
      proj(p + "mlp.gate_proj", in, h, wstd);
      proj(p + "mlp.up_proj", in, h, wstd);
    }
    proj(p + "mlp.down_proj", h, in, 1.0f / std::sqrt(static_cast<float>(in)));
  }
  out.push_back(
      RandomTensor("model.norm.weight", dt, {h}, s.seed, 1, norm_std));
  if (!c.tie_word_embeddings) {
    out.push_back(RandomTensor("lm_head.weight", dt, {v, h}, s.seed, 0, wstd));
  }
  return out;
}

const char* DTypeTorchName(model::DType d) {
  switch (d) {
    case model::DType::kBF16:
      return "bfloat16";
    case model::DType::kF16:
      return "float16";
    default:
      return "float32";
  }
}

base::Json IdList(const std::vector<int32_t>& ids) {
  base::Json a = base::Json::MakeArray();
  for (int32_t id : ids) a.Push(base::Json::Int(id));
  return a;
}

std::string ConfigJson(const CheckpointSpec& s, const model::ModelConfig& c) {
  base::Json j = base::Json::MakeObject();
  base::Json archs = base::Json::MakeArray();
  archs.Push(base::Json::String(c.architecture));
  j.Set("architectures", std::move(archs));
  j.Set("model_type", base::Json::String(c.model_type));
  j.Set("attention_bias", base::Json::Bool(c.attention_bias));
  j.Set("attention_dropout", base::Json::Double(0.0));
  j.Set("bos_token_id", base::Json::Int(c.bos_token_ids.at(0)));
  j.Set("eos_token_id", IdList(c.eos_token_ids));
  j.Set("head_dim", base::Json::Int(c.head_dim));
  j.Set("hidden_act", base::Json::String("silu"));
  j.Set("hidden_size", base::Json::Int(c.hidden_size));
  j.Set("initializer_range", base::Json::Double(0.02));
  j.Set("intermediate_size", base::Json::Int(c.intermediate_size));
  j.Set("max_position_embeddings", base::Json::Int(c.max_position_embeddings));
  j.Set("mlp_bias", base::Json::Bool(false));
  j.Set("num_attention_heads", base::Json::Int(c.num_heads));
  j.Set("num_hidden_layers", base::Json::Int(c.num_layers));
  j.Set("num_key_value_heads", base::Json::Int(c.num_kv_heads));
  j.Set("rms_norm_eps", base::Json::Double(c.rms_norm_eps));
  if (c.rotary_dim > 0 && c.rotary_dim != c.head_dim) {
    j.Set("partial_rotary_factor", base::Json::Double(s.partial_rotary_factor));
  }
  const model::RopeScaling& rs = c.rope_scaling;
  if (rs.type == "yarn" || rs.type == "dynamic" || rs.type == "linear") {
    base::Json r = base::Json::MakeObject();
    r.Set("factor", base::Json::Double(rs.factor));
    if (rs.type == "yarn") {
      r.Set("original_max_position_embeddings",
            base::Json::Int(rs.original_max_position_embeddings));
    }
    r.Set("rope_type", base::Json::String(rs.type));
    j.Set("rope_scaling", std::move(r));
  } else if (rs.type == "longrope") {
    base::Json r = base::Json::MakeObject();
    base::Json shorts = base::Json::MakeArray(),
               longs = base::Json::MakeArray();
    for (double f : rs.short_factor) shorts.Push(base::Json::Double(f));
    for (double f : rs.long_factor) longs.Push(base::Json::Double(f));
    r.Set("long_factor", std::move(longs));
    r.Set("short_factor", std::move(shorts));
    r.Set("type", base::Json::String("longrope"));
    j.Set("rope_scaling", std::move(r));
    j.Set("original_max_position_embeddings",
          base::Json::Int(rs.original_max_position_embeddings));
  } else if (c.rope_scaling.type.empty()) {
    j.Set("rope_scaling", base::Json::Null());
  } else {
    base::Json r = base::Json::MakeObject();
    r.Set("factor", base::Json::Double(c.rope_scaling.factor));
    r.Set("high_freq_factor",
          base::Json::Double(c.rope_scaling.high_freq_factor));
    r.Set("low_freq_factor",
          base::Json::Double(c.rope_scaling.low_freq_factor));
    r.Set("original_max_position_embeddings",
          base::Json::Int(c.rope_scaling.original_max_position_embeddings));
    r.Set("rope_type", base::Json::String(c.rope_scaling.type));
    j.Set("rope_scaling", std::move(r));
  }
  j.Set("rope_theta", base::Json::Double(c.rope_theta));
  // The windows evald applies (Phi-3, Mistral, Mixtral); 0 writes null.
  if (s.arch == "phi3" || s.arch == "mistral" || s.arch == "mixtral") {
    j.Set("sliding_window", s.sliding_window > 0
                                ? base::Json::Int(s.sliding_window)
                                : base::Json::Null());
  }
  if (s.arch == "qwen2" || s.arch == "qwen3") {
    const bool window = s.sliding_window > 0;
    j.Set("sliding_window",
          window ? base::Json::Int(s.sliding_window) : base::Json::Null());
    j.Set("use_sliding_window", base::Json::Bool(window));
    if (window)
      j.Set("max_window_layers", base::Json::Int(s.max_window_layers));
  }
  if (c.moe.num_experts > 0) {
    const bool mixtral = s.arch == "mixtral";
    j.Set(mixtral ? "num_local_experts" : "num_experts",
          base::Json::Int(c.moe.num_experts));
    j.Set("num_experts_per_tok", base::Json::Int(c.moe.experts_per_token));
    j.Set("output_router_logits", base::Json::Bool(false));
    j.Set("router_aux_loss_coef", base::Json::Double(0.001));
    if (!mixtral) {
      j.Set("moe_intermediate_size",
            base::Json::Int(c.moe.moe_intermediate_size));
      if (s.arch == "qwen2_moe") {
        j.Set("shared_expert_intermediate_size",
              base::Json::Int(c.moe.shared_expert_intermediate_size));
      }
      j.Set("norm_topk_prob", base::Json::Bool(c.moe.norm_topk_prob));
      j.Set("decoder_sparse_step", base::Json::Int(c.moe.decoder_sparse_step));
      base::Json dense = base::Json::MakeArray();
      for (int l : c.moe.mlp_only_layers) dense.Push(base::Json::Int(l));
      j.Set("mlp_only_layers", std::move(dense));
      j.Set("sliding_window", base::Json::Null());
      j.Set("use_sliding_window", base::Json::Bool(false));
    }
  }
  if (IsGemma(s.arch)) {
    j.Set("hidden_act", base::Json::String("gelu_pytorch_tanh"));
    j.Set("hidden_activation", base::Json::String("gelu_pytorch_tanh"));
    j.Set("query_pre_attn_scalar",
          base::Json::Int(s.query_pre_attn_scalar > 0 ? s.query_pre_attn_scalar
                                                      : c.head_dim));
    j.Set("sliding_window", base::Json::Int(c.sliding_window));
    auto cap = [](double v) {
      return v > 0 ? base::Json::Double(v) : base::Json::Null();
    };
    j.Set("attn_logit_softcapping", cap(c.attn_logit_softcapping));
    j.Set("final_logit_softcapping", cap(c.final_logit_softcapping));
    if (s.arch == "gemma3") {
      j.Set("sliding_window_pattern",
            base::Json::Int(s.sliding_window_pattern));
      j.Set("rope_local_base_freq", base::Json::Double(s.rope_local_theta));
    } else {
      j.Set("cache_implementation", base::Json::String("hybrid"));
    }
  }
  j.Set("tie_word_embeddings", base::Json::Bool(c.tie_word_embeddings));
  j.Set("torch_dtype", base::Json::String(c.torch_dtype));
  j.Set("use_cache", base::Json::Bool(true));
  j.Set("vocab_size", base::Json::Int(c.vocab_size));
  if (s.awq_int4) {
    base::Json q = base::Json::MakeObject();
    q.Set("bits", base::Json::Int(4));
    q.Set("group_size", base::Json::Int(s.awq_group_size));
    q.Set("modules_to_not_convert", base::Json::Null());
    q.Set("quant_method", base::Json::String("awq"));
    q.Set("version", base::Json::String("gemm"));
    q.Set("zero_point", base::Json::Bool(true));
    j.Set("quantization_config", std::move(q));
  }
  base::Json::DumpOptions dump;
  dump.indent = 2;
  return j.Dump(dump) + "\n";
}

std::string GenerationConfigJson(const model::ModelConfig& c) {
  base::Json j = base::Json::MakeObject();
  j.Set("bos_token_id", base::Json::Int(c.bos_token_ids.at(0)));
  j.Set("eos_token_id", IdList(c.eos_token_ids));
  j.Set("do_sample", base::Json::Bool(false));
  base::Json::DumpOptions dump;
  dump.indent = 2;
  return j.Dump(dump) + "\n";
}

absl::Status WriteAll(int fd, const uint8_t* data, size_t size,
                      const std::string& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(
          absl::StrCat(path, ": write failed: ", std::strerror(errno)));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Vocabulary size of the tokenizer part: the model's vocab.
int TokenizerVocab(const CheckpointSpec& s) { return s.vocab; }

}  // namespace

AwqGroupParams AwqQuantizeGroupParams(const float* w, int64_t n) {
  float lo = w[0], hi = w[0];
  for (int64_t i = 1; i < n; ++i) {
    lo = std::min(lo, w[i]);
    hi = std::max(hi, w[i]);
  }
  AwqGroupParams p;
  p.scale_f16 = model::FloatToF16(std::max(hi - lo, 1e-5f) / 15.0f);
  const float scale = model::F16ToFloat(p.scale_f16);
  p.zero =
      static_cast<int>(std::clamp(std::nearbyint(-lo / scale), 0.0f, 15.0f));
  return p;
}

int AwqQuantizeValue(float w, const AwqGroupParams& p) {
  const float scale = model::F16ToFloat(p.scale_f16);
  return static_cast<int>(std::clamp(
      std::nearbyint(w / scale) + static_cast<float>(p.zero), 0.0f, 15.0f));
}

int32_t AwqPackWord(const int nibbles[8]) {
  static constexpr int kOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};
  uint32_t word = 0;
  for (int i = 0; i < 8; ++i)
    word |= static_cast<uint32_t>(nibbles[kOrder[i]] & 15) << (4 * i);
  return static_cast<int32_t>(word);
}

absl::StatusOr<CheckpointSpec> CheckpointPreset(absl::string_view name) {
  CheckpointSpec s;
  if (name == "tiny") {
    return s;
  }
  s.arch = "llama";
  s.vocab = 128256;
  s.rope_scaling = "llama3";
  s.rope_theta = 500000.0;
  s.rms_norm_eps = 1e-5;
  s.max_position = 131072;
  s.dtype = model::DType::kBF16;
  if (name == "llama-3.2-1b") {
    s.hidden = 2048;
    s.layers = 16;
    s.heads = 32;
    s.kv_heads = 8;
    s.intermediate = 8192;
    s.tie_embeddings = true;
    s.rope_factor = 32.0;
    return s;
  }
  if (name == "llama-3.1-8b") {
    s.hidden = 4096;
    s.layers = 32;
    s.heads = 32;
    s.kv_heads = 8;
    s.intermediate = 14336;
    return s;
  }
  if (name == "llama-3.1-70b-awq") {
    s.hidden = 8192;
    s.layers = 80;
    s.heads = 64;
    s.kv_heads = 8;
    s.intermediate = 28672;
    s.awq_int4 = true;
    s.awq_group_size = 128;
    return s;
  }
  if (name == "mixtral-8x7b" || name == "mixtral-small") {
    s.arch = "mixtral";
    s.vocab = 32000;
    s.rope_scaling = "";
    s.rope_theta = 1000000.0;
    s.max_position = 32768;
    s.num_experts = 8;
    s.experts_per_token = 2;
    s.layers = 32;
    s.heads = 32;
    s.kv_heads = 8;
    s.hidden = name == "mixtral-8x7b" ? 4096 : 1024;
    s.intermediate = name == "mixtral-8x7b" ? 14336 : 3584;
    if (name == "mixtral-small") s.layers = 8;
    return s;
  }
  if (name == "llama-3.1-70b") {
    s.hidden = 8192;
    s.layers = 80;
    s.heads = 64;
    s.kv_heads = 8;
    s.intermediate = 28672;
    return s;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown preset '", name,
                   "' (known: tiny, llama-3.2-1b, llama-3.1-8b, llama-3.1-70b, "
                   "llama-3.1-70b-awq, mixtral-8x7b, mixtral-small)"));
}

absl::StatusOr<CheckpointSpec> SpecFromModelConfig(
    const model::ModelConfig& c) {
  CheckpointSpec s;
  if (c.model_type != "llama" && c.model_type != "mistral" &&
      c.model_type != "qwen2" && c.model_type != "qwen3" &&
      c.model_type != "mixtral" && c.model_type != "qwen2_moe" &&
      c.model_type != "qwen3_moe" && c.model_type != "phi3" &&
      c.model_type != "gemma2" && c.model_type != "gemma3_text") {
    return absl::InvalidArgumentError(absl::StrCat(
        "config.json: model_type '", c.model_type,
        "' is not supported (llama, mistral, qwen2, qwen3, mixtral, "
        "qwen2_moe, qwen3_moe, phi3, gemma2, gemma3_text)"));
  }
  if (c.moe.num_experts > 0) {
    s.num_experts = c.moe.num_experts;
    s.experts_per_token = c.moe.experts_per_token;
    s.moe_intermediate = c.moe.moe_intermediate_size;
    s.shared_expert_intermediate = c.moe.shared_expert_intermediate_size;
    s.norm_topk_prob = c.moe.norm_topk_prob ? 1 : 0;
    s.decoder_sparse_step = c.moe.decoder_sparse_step;
    s.mlp_only_layers = c.moe.mlp_only_layers;
  }
  s.arch = c.model_type == "gemma3_text" ? "gemma3" : c.model_type;
  if (c.model_type == "gemma2" || c.model_type == "gemma3_text") {
    s.attn_logit_softcapping = c.attn_logit_softcapping;
    s.final_logit_softcapping = c.final_logit_softcapping;
    s.query_pre_attn_scalar = static_cast<int>(c.query_pre_attn_scalar);
    s.rope_local_theta = c.rope_local_theta > 0 ? c.rope_local_theta : 10000.0;
    // The period of the global layers (a published layer_types is periodic).
    for (int l = 0; l < static_cast<int>(c.sliding_layers.size()); ++l) {
      if (!c.sliding_layers[l]) {
        s.sliding_window_pattern = l + 1;
        break;
      }
    }
  }
  s.hidden = c.hidden_size;
  s.layers = c.num_layers;
  s.heads = c.num_heads;
  s.kv_heads = c.num_kv_heads;
  s.head_dim = c.head_dim;
  s.intermediate = c.intermediate_size;
  s.vocab = c.vocab_size;
  s.max_position = c.max_position_embeddings;
  s.tie_embeddings = c.tie_word_embeddings;
  s.rope_theta = c.rope_theta;
  s.rms_norm_eps = c.rms_norm_eps;
  s.dtype = c.torch_dtype == "float32"   ? model::DType::kF32
            : c.torch_dtype == "float16" ? model::DType::kF16
                                         : model::DType::kBF16;
  if (c.rope_scaling.type == "llama3") {
    s.rope_scaling = "llama3";
    s.rope_factor = c.rope_scaling.factor;
    s.rope_low_freq_factor = c.rope_scaling.low_freq_factor;
    s.rope_high_freq_factor = c.rope_scaling.high_freq_factor;
    s.rope_original_max_position =
        c.rope_scaling.original_max_position_embeddings;
  } else if (c.rope_scaling.type == "dynamic") {
    // The parsed context is the extended one; write the configured one.
    s.rope_scaling = "dynamic";
    s.rope_factor = c.rope_scaling.factor;
    s.max_position = c.rope_scaling.original_max_position_embeddings;
  } else if (!c.rope_scaling.type.empty()) {
    // yarn, linear, longrope: the same kind and contexts (longrope's
    // short/long factors are drawn anew).
    s.rope_scaling = c.rope_scaling.type;
    s.rope_factor = c.rope_scaling.factor;
    s.rope_original_max_position =
        c.rope_scaling.original_max_position_embeddings;
  }
  if (c.rotary_dim > 0 && c.rotary_dim != c.head_dim) {
    s.partial_rotary_factor = static_cast<double>(c.rotary_dim) / c.head_dim;
  }
  s.sliding_window = c.sliding_window;
  // Qwen2 / Qwen3: the window starts at the first sliding layer (the
  // max_window_layers rule; a layer_types that is not a suffix is not kept).
  for (int l = 0; l < static_cast<int>(c.sliding_layers.size()); ++l) {
    if (c.sliding_layers[l]) {
      s.max_window_layers = l;
      break;
    }
  }
  if (c.quantization.awq) {
    s.awq_int4 = true;
    s.awq_group_size = c.quantization.group_size;
  }
  return s;
}

model::ModelConfig SpecToModelConfig(const CheckpointSpec& s) {
  model::ModelConfig c;
  if (s.arch == "mistral") {
    c.architecture = "MistralForCausalLM";
    c.model_type = "mistral";
  } else if (s.arch == "qwen2") {
    c.architecture = "Qwen2ForCausalLM";
    c.model_type = "qwen2";
    c.attention_bias = true;
  } else if (s.arch == "qwen3") {
    c.architecture = "Qwen3ForCausalLM";
    c.model_type = "qwen3";
    c.qk_norm = true;
  } else if (s.arch == "mixtral" || s.arch == "qwen2_moe" ||
             s.arch == "qwen3_moe") {
    c.architecture = s.arch == "mixtral"     ? "MixtralForCausalLM"
                     : s.arch == "qwen2_moe" ? "Qwen2MoeForCausalLM"
                                             : "Qwen3MoeForCausalLM";
    c.model_type = s.arch;
    c.attention_bias = s.arch == "qwen2_moe";
    c.qk_norm = s.arch == "qwen3_moe";
    c.moe.num_experts = s.num_experts;
    c.moe.experts_per_token = s.experts_per_token;
    if (s.arch == "mixtral") {
      c.moe.expert_intermediate_size = s.intermediate;
      c.moe.norm_topk_prob = true;
      c.moe.softmax_after_topk = true;
    } else {
      c.moe.moe_intermediate_size = s.moe_intermediate > 0
                                        ? s.moe_intermediate
                                        : std::max(1, s.intermediate / 2);
      c.moe.expert_intermediate_size = c.moe.moe_intermediate_size;
      c.moe.norm_topk_prob =
          s.norm_topk_prob < 0 ? s.arch == "qwen3_moe" : s.norm_topk_prob == 1;
      c.moe.decoder_sparse_step = s.decoder_sparse_step;
      c.moe.mlp_only_layers = s.mlp_only_layers;
      if (s.arch == "qwen2_moe") {
        c.moe.shared_expert_intermediate_size =
            s.shared_expert_intermediate > 0 ? s.shared_expert_intermediate
                                             : s.intermediate;
      }
    }
  } else if (s.arch == "phi3") {
    c.architecture = "Phi3ForCausalLM";
    c.model_type = "phi3";
  } else if (IsGemma(s.arch)) {
    const bool g3 = s.arch == "gemma3";
    c.architecture = g3 ? "Gemma3ForCausalLM" : "Gemma2ForCausalLM";
    c.model_type = g3 ? "gemma3_text" : "gemma2";
    c.qk_norm = g3;
    c.scale_embeddings = true;
    c.gelu_tanh = true;
    c.query_pre_attn_scalar = s.query_pre_attn_scalar;
    c.attn_logit_softcapping = s.attn_logit_softcapping >= 0
                                   ? s.attn_logit_softcapping
                               : g3 ? 0.0
                                    : 50.0;
    c.final_logit_softcapping = s.final_logit_softcapping >= 0
                                    ? s.final_logit_softcapping
                                : g3 ? 0.0
                                     : 30.0;
    if (g3) c.rope_local_theta = s.rope_local_theta;
  } else {
    c.architecture = "LlamaForCausalLM";
    c.model_type = "llama";
  }
  c.vocab_size = s.vocab;
  c.hidden_size = s.hidden;
  c.intermediate_size = s.intermediate;
  c.num_layers = s.layers;
  c.num_heads = s.heads;
  c.num_kv_heads = s.kv_heads;
  c.head_dim =
      s.head_dim > 0 ? s.head_dim : (s.heads > 0 ? s.hidden / s.heads : 0);
  c.rms_norm_eps = s.rms_norm_eps;
  c.rope_theta = s.rope_theta;
  if (s.rope_scaling == "llama3") {
    c.rope_scaling.type = "llama3";
    c.rope_scaling.factor = s.rope_factor;
    c.rope_scaling.low_freq_factor = s.rope_low_freq_factor;
    c.rope_scaling.high_freq_factor = s.rope_high_freq_factor;
    c.rope_scaling.original_max_position_embeddings =
        s.rope_original_max_position;
  }
  c.rotary_dim = static_cast<int>(c.head_dim * s.partial_rotary_factor);
  c.sliding_window = s.sliding_window;
  if (IsGemma(s.arch)) {
    if (c.sliding_window <= 0) c.sliding_window = 4096;
    const int every = s.arch == "gemma3" ? s.sliding_window_pattern : 2;
    c.sliding_layers.assign(c.num_layers, false);
    for (int l = 0; l < c.num_layers; ++l) {
      c.sliding_layers[l] = (l + 1) % every != 0;
    }
    if (c.query_pre_attn_scalar <= 0) c.query_pre_attn_scalar = c.head_dim;
  }
  if (s.rope_scaling == "linear" || s.rope_scaling == "yarn" ||
      s.rope_scaling == "dynamic" || s.rope_scaling == "longrope") {
    c.rope_scaling.type = s.rope_scaling;
    c.rope_scaling.factor = s.rope_factor;
    c.rope_scaling.original_max_position_embeddings =
        s.rope_original_max_position;
  }
  if (s.rope_scaling == "longrope") {
    // Smooth, distinct divisors like Phi-3's: short near 1, long growing
    // with the wavelength.
    auto jitter = [&](int i) {
      const double x = std::sin(12.9898 * i + 78.233 * (s.seed % 1000) + 1.0);
      return 0.05 * std::fabs(x);
    };
    const int n = c.rotary_dim / 2;
    for (int i = 0; i < n; ++i) {
      const double t = n > 1 ? static_cast<double>(i) / (n - 1) : 0.0;
      c.rope_scaling.short_factor.push_back(1.0 + 0.2 * t + jitter(2 * i));
      c.rope_scaling.long_factor.push_back(1.0 + (s.rope_factor - 1.0) * t +
                                           jitter(2 * i + 1));
    }
  }
  c.max_position_embeddings = s.max_position;
  c.tie_word_embeddings = s.tie_embeddings || IsGemma(s.arch);
  c.torch_dtype = DTypeTorchName(s.dtype);
  return c;
}

absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<TensorToWrite>& tensors) {
  base::Json header = base::Json::MakeObject();
  base::Json meta = base::Json::MakeObject();
  meta.Set("format", base::Json::String("pt"));
  header.Set("__metadata__", std::move(meta));
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    const uint64_t bytes =
        static_cast<uint64_t>(NumElements(t)) * model::DTypeSize(t.dtype);
    base::Json e = base::Json::MakeObject();
    e.Set("dtype", base::Json::String(std::string(model::DTypeName(t.dtype))));
    base::Json shape = base::Json::MakeArray();
    for (int64_t d : t.shape) shape.Push(base::Json::Int(d));
    e.Set("shape", std::move(shape));
    base::Json offsets = base::Json::MakeArray();
    offsets.Push(base::Json::Int(static_cast<int64_t>(offset)));
    offsets.Push(base::Json::Int(static_cast<int64_t>(offset + bytes)));
    e.Set("data_offsets", std::move(offsets));
    header.Set(t.name, std::move(e));
    offset += bytes;
  }
  std::string text = header.Dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  const std::string tmp = path + ".tmp";
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat(tmp, ": cannot create: ", std::strerror(errno)));
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  uint8_t len[8];
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  RETURN_IF_ERROR(WriteAll(fd, len, 8, tmp));
  RETURN_IF_ERROR(WriteAll(fd, reinterpret_cast<const uint8_t*>(text.data()),
                           text.size(), tmp));
  std::vector<uint8_t> buffer;
  for (const TensorToWrite& t : tensors) {
    const int64_t total = NumElements(t);
    const size_t esize = model::DTypeSize(t.dtype);
    for (int64_t start = 0; start < total; start += kFillChunk) {
      const int64_t count = std::min<int64_t>(kFillChunk, total - start);
      buffer.resize(static_cast<size_t>(count) * esize);
      t.fill(start, count, buffer.data());
      RETURN_IF_ERROR(WriteAll(fd, buffer.data(), buffer.size(), tmp));
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat(path, ": rename failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status WriteCheckpoint(const CheckpointSpec& spec,
                             const std::string& dir) {
  const bool moe = spec.arch == "mixtral" || spec.arch == "qwen2_moe" ||
                   spec.arch == "qwen3_moe";
  if (spec.arch != "llama" && spec.arch != "mistral" && spec.arch != "qwen2" &&
      spec.arch != "qwen3" && spec.arch != "phi3" && !moe &&
      !IsGemma(spec.arch)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown arch '", spec.arch,
        "' (known: llama, mistral, qwen2, qwen3, phi3, mixtral, qwen2_moe, "
        "qwen3_moe, gemma2, gemma3)"));
  }
  if (IsGemma(spec.arch) &&
      (spec.awq_int4 || spec.sliding_window_pattern <= 0)) {
    return absl::InvalidArgumentError(
        "gemma checkpoints are written dense only (no awq), with a positive "
        "sliding_window_pattern");
  }
  if (moe && (spec.num_experts <= 0 || spec.experts_per_token <= 0 ||
              spec.experts_per_token > spec.num_experts ||
              spec.decoder_sparse_step <= 0 || spec.awq_int4)) {
    return absl::InvalidArgumentError(
        "moe: experts and experts per token must be positive, at most the "
        "number of experts, with a positive sparse step and no AWQ");
  }
  if (spec.arch == "phi3" && spec.awq_int4) {
    return absl::InvalidArgumentError(
        "phi3 checkpoints are written dense only (no awq)");
  }
  if (spec.dtype != model::DType::kBF16 && spec.dtype != model::DType::kF16 &&
      spec.dtype != model::DType::kF32) {
    return absl::InvalidArgumentError("dtype must be bf16, f16 or f32");
  }
  if (spec.hidden <= 0 || spec.layers <= 0 || spec.heads <= 0 ||
      spec.kv_heads <= 0 || spec.intermediate <= 0 || spec.vocab <= 0 ||
      spec.heads % spec.kv_heads != 0) {
    return absl::InvalidArgumentError(
        "hidden, layers, heads, kv-heads, intermediate and vocab must be "
        "positive and kv-heads "
        "must divide heads");
  }
  if (spec.awq_int4) {
    const int64_t hd =
        spec.head_dim > 0 ? spec.head_dim : spec.hidden / spec.heads;
    const int g = spec.awq_group_size;
    if (g <= 0 || spec.hidden % g != 0 || spec.intermediate % g != 0 ||
        (spec.heads * hd) % g != 0 || spec.hidden % 8 != 0 ||
        spec.intermediate % 8 != 0 || (spec.kv_heads * hd) % 8 != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "awq-int4: group size ", g,
          " must divide hidden, intermediate and heads * head_dim, "
          "and every projection's output size must be a multiple of 8"));
    }
  }
  if (spec.head_dim <= 0 && spec.hidden % spec.heads != 0) {
    return absl::InvalidArgumentError(
        "hidden must be a multiple of heads (or give head_dim)");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return absl::InternalError(
        absl::StrCat(dir, ": cannot create: ", ec.message()));

  ASSIGN_OR_RETURN(
      SyntheticTokenizer tok,
      BuildSyntheticTokenizer(TokenizerVocab(spec), spec.max_position));
  model::ModelConfig config = SpecToModelConfig(spec);
  config.bos_token_ids = {tok.bos_id};
  config.eos_token_ids = {tok.eos_id, tok.eot_id};

  RETURN_IF_ERROR(base::WriteFileAtomically(dir + "/config.json",
                                            ConfigJson(spec, config)));
  RETURN_IF_ERROR(base::WriteFileAtomically(dir + "/generation_config.json",
                                            GenerationConfigJson(config)));
  RETURN_IF_ERROR(
      base::WriteFileAtomically(dir + "/tokenizer.json", tok.tokenizer_json));
  RETURN_IF_ERROR(base::WriteFileAtomically(dir + "/tokenizer_config.json",
                                            tok.tokenizer_config_json));

  std::vector<TensorToWrite> tensors = SpecTensors(spec, config);
  // Greedy sharding in tensor order.
  std::vector<std::vector<TensorToWrite>> shards(1);
  uint64_t shard_bytes = 0, total_bytes = 0;
  for (TensorToWrite& t : tensors) {
    const uint64_t bytes =
        static_cast<uint64_t>(NumElements(t)) * model::DTypeSize(t.dtype);
    if (!shards.back().empty() && shard_bytes + bytes > spec.max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shard_bytes += bytes;
    total_bytes += bytes;
    shards.back().push_back(std::move(t));
  }
  std::filesystem::remove(dir + "/model.safetensors", ec);
  std::filesystem::remove(dir + "/model.safetensors.index.json", ec);
  if (shards.size() == 1) {
    return WriteSafetensors(dir + "/model.safetensors", shards[0]);
  }
  base::Json weight_map = base::Json::MakeObject();
  std::vector<std::string> names(shards.size());
  for (size_t i = 0; i < shards.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", i + 1,
                  shards.size());
    names[i] = name;
    for (const TensorToWrite& t : shards[i])
      weight_map.Set(t.name, base::Json::String(name));
  }
  // Shards are independent files and every fill keeps its own state, so they
  // are generated in parallel (a 70B checkpoint is CPU-bound on generation).
  std::vector<absl::Status> results(shards.size());
  std::atomic<size_t> next{0};
  const size_t workers = std::min<size_t>(
      shards.size(), std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < shards.size();) {
        results[i] = WriteSafetensors(dir + "/" + names[i], shards[i]);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& r : results) RETURN_IF_ERROR(r);
  base::Json index = base::Json::MakeObject();
  base::Json meta = base::Json::MakeObject();
  meta.Set("total_size", base::Json::Int(static_cast<int64_t>(total_bytes)));
  index.Set("metadata", std::move(meta));
  index.Set("weight_map", std::move(weight_map));
  base::Json::DumpOptions dump;
  dump.indent = 2;
  return base::WriteFileAtomically(dir + "/model.safetensors.index.json",
                                   index.Dump(dump) + "\n");
}

}  // namespace evald::runners::native::testing
