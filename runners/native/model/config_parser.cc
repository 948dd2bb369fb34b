#include "runners/native/model/config_parser.h"

#include <algorithm>
#include <cctype>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/json.h"
#include "base/status_macros.h"

namespace evald::runners::native::model {
namespace {

// Dimensions and counts are positive and at most 2^30, so that a product of
// two fits int64.
constexpr int64_t kMaxSize = int64_t{1} << 30;

// `bos_token_id` / `eos_token_id`: an int or a list of ints; empty when
// absent.
absl::StatusOr<std::vector<int32_t>> TokenIds(const base::JsonReader& field) {
  std::vector<int32_t> ids;
  if (!field.present()) return ids;
  const bool list = field.json().is_array();
  for (size_t i = 0; i < (list ? field.size() : 1); ++i) {
    const base::Json& id = list ? field.json().array()[i] : field.json();
    if (!id.is_int() || id.int_value() < 0 || id.int_value() > INT32_MAX) {
      return field.Expected("a token id or a list of token ids");
    }
    ids.push_back(static_cast<int32_t>(id.int_value()));
  }
  return ids;
}

// A list of rotary_dim / 2 positive numbers (longrope's short_factor and
// long_factor).
absl::StatusOr<std::vector<double>> FactorList(const base::JsonReader& field,
                                               int n) {
  if (!field.json().is_array() || static_cast<int>(field.size()) != n) {
    return field.Expected(
        absl::StrCat("a list of ", n, " numbers (rotary dimensions / 2)"));
  }
  std::vector<double> out;
  for (int i = 0; i < n; ++i) {
    ASSIGN_OR_RETURN(const double f, field.Item(i).Number());
    if (!(f > 0)) return field.Item(i).Expected("a number > 0");
    out.push_back(f);
  }
  return out;
}

// The keys of `yarn`, `dynamic` and `longrope` (rope.h computes with them),
// as Hugging Face's modeling_rope_utils reads them. These types extend the
// context: positions up to factor x the original context are accepted.
absl::Status ParseLongContextRope(const base::JsonReader& r,
                                  const base::JsonReader& s,
                                  const std::string& type, ModelConfig* c) {
  RopeScaling& rs = c->rope_scaling;
  const base::JsonReader original = s.Field("original_max_position_embeddings");
  if (type == "dynamic") {
    // NTK against the configured context, which then grows by `factor`.
    rs.original_max_position_embeddings = c->max_position_embeddings;
    c->max_position_embeddings = static_cast<int>(std::min<double>(
        kMaxSize, rs.factor * rs.original_max_position_embeddings));
    return absl::OkStatus();
  }
  if (type == "yarn") {
    // `factor` as given, also when original_max_position_embeddings is
    // (transformers before the fix of its issue 38224 replaced it by
    // max_position_embeddings / original_max_position_embeddings).
    ASSIGN_OR_RETURN(rs.original_max_position_embeddings,
                     original.IntOr(c->max_position_embeddings, 1, kMaxSize));
    ASSIGN_OR_RETURN(rs.beta_fast, s.Field("beta_fast").NumberOr(32.0));
    ASSIGN_OR_RETURN(rs.beta_slow, s.Field("beta_slow").NumberOr(1.0));
    ASSIGN_OR_RETURN(rs.mscale, s.Field("mscale").NumberOr(0.0));
    ASSIGN_OR_RETURN(rs.mscale_all_dim,
                     s.Field("mscale_all_dim").NumberOr(0.0));
    const base::JsonReader af = s.Field("attention_factor");
    ASSIGN_OR_RETURN(rs.attention_factor, af.NumberOr(-1.0));
    if (af.present() && !(rs.attention_factor > 0)) {
      return af.Expected("a number > 0");
    }
    c->max_position_embeddings = std::max<int>(
        c->max_position_embeddings,
        static_cast<int>(std::min<double>(
            kMaxSize, rs.factor * rs.original_max_position_embeddings)));
    return absl::OkStatus();
  }
  if (type != "longrope") return absl::OkStatus();
  // Phi-3 writes the original context at the top level, which then wins over
  // rope_scaling's; without a `factor` the factor is the ratio of the
  // contexts (transformers' rules).
  const base::JsonReader top_original =
      r.Field("original_max_position_embeddings");
  if (top_original.present()) {
    ASSIGN_OR_RETURN(rs.original_max_position_embeddings,
                     top_original.Int(1, kMaxSize));
  } else {
    ASSIGN_OR_RETURN(rs.original_max_position_embeddings,
                     original.IntOr(c->max_position_embeddings, 1, kMaxSize));
  }
  if (!s.Field("factor").present()) {
    rs.factor = static_cast<double>(c->max_position_embeddings) /
                rs.original_max_position_embeddings;
  }
  const base::JsonReader af = s.Field("attention_factor");
  ASSIGN_OR_RETURN(rs.attention_factor, af.NumberOr(-1.0));
  if (af.present() && !(rs.attention_factor > 0)) {
    return af.Expected("a number > 0");
  }
  ASSIGN_OR_RETURN(rs.short_factor,
                   FactorList(s.Field("short_factor"), c->rotary_dim / 2));
  ASSIGN_OR_RETURN(rs.long_factor,
                   FactorList(s.Field("long_factor"), c->rotary_dim / 2));
  return absl::OkStatus();
}

// `layer_types` when present: sets c->sliding_layers (sized num_layers) from
// it and returns true; false when absent.
absl::StatusOr<bool> ReadLayerTypes(const base::JsonReader& r, ModelConfig* c) {
  const base::JsonReader types = r.Field("layer_types");
  if (!types.present()) return false;
  if (!types.json().is_array() ||
      static_cast<int>(types.size()) != c->num_layers) {
    return types.Expected(absl::StrCat("a list of ", c->num_layers,
                                       " layer types (num_hidden_layers)"));
  }
  c->sliding_layers.assign(c->num_layers, false);
  for (int l = 0; l < c->num_layers; ++l) {
    ASSIGN_OR_RETURN(const std::string t, types.Item(l).String());
    if (t != "sliding_attention" && t != "full_attention") {
      return types.Item(l).Expected("'sliding_attention' or 'full_attention'");
    }
    c->sliding_layers[l] = t == "sliding_attention";
  }
  return true;
}

// Qwen2 / Qwen3: `sliding_window` applies only with `use_sliding_window`,
// and then (as transformers' Qwen2Config / Qwen3Config derive layer_types)
// to the layers listed as sliding_attention in `layer_types`, else to the
// layers numbered >= `max_window_layers`. Defaults: false, 4096, 28.
absl::Status ParseQwenWindow(const base::JsonReader& r, ModelConfig* c) {
  ASSIGN_OR_RETURN(const bool use, r.Field("use_sliding_window").BoolOr(false));
  if (!use) return absl::OkStatus();
  // Written as null: no window; absent: Qwen2Config's 4096.
  const base::Json* raw =
      r.json().is_object() ? r.json().Find("sliding_window") : nullptr;
  if (raw != nullptr && raw->is_null()) return absl::OkStatus();
  ASSIGN_OR_RETURN(const int w,
                   r.Field("sliding_window").IntOr(4096, 1, kMaxSize));
  ASSIGN_OR_RETURN(const bool typed, ReadLayerTypes(r, c));
  if (!typed) {
    ASSIGN_OR_RETURN(const int first,
                     r.Field("max_window_layers").IntOr(28, 0, kMaxSize));
    c->sliding_layers.assign(c->num_layers, false);
    for (int l = first; l < c->num_layers; ++l) c->sliding_layers[l] = true;
  }
  bool any = false;
  for (bool s : c->sliding_layers) any = any || s;
  if (!any) {
    c->sliding_layers.clear();
    return absl::OkStatus();
  }
  c->sliding_window = w;
  return absl::OkStatus();
}

// Gemma 2 / Gemma 3 keys, with the defaults of transformers' Gemma2Config and
// Gemma3TextConfig. query_pre_attn_scalar is demanded: every published
// checkpoint writes it and the scores depend on it.
absl::Status ParseGemmaKeys(const base::JsonReader& r, ModelConfig* c) {
  const bool gemma3 = c->architecture == "Gemma3ForCausalLM";
  const base::JsonReader scalar = r.Field("query_pre_attn_scalar");
  if (!scalar.present()) return scalar.Expected("a number > 0");
  ASSIGN_OR_RETURN(c->query_pre_attn_scalar, scalar.Number());
  if (!(c->query_pre_attn_scalar > 0)) return scalar.Expected("a number > 0");
  base::JsonReader act = r.Field("hidden_activation");
  if (!act.present()) act = r.Field("hidden_act");
  ASSIGN_OR_RETURN(const std::string act_name,
                   act.StringOr("gelu_pytorch_tanh"));
  if (act_name != "gelu_pytorch_tanh" && act_name != "gelu_tanh") {
    return act.Error(absl::StrCat(
        "'", act_name, "' is not supported (gelu_pytorch_tanh, gelu_tanh)"));
  }
  const base::JsonReader attn_cap = r.Field("attn_logit_softcapping");
  ASSIGN_OR_RETURN(c->attn_logit_softcapping,
                   attn_cap.NumberOr(gemma3 ? 0.0 : 50.0));
  if (c->attn_logit_softcapping < 0) return attn_cap.Expected("a number > 0");
  const base::JsonReader final_cap = r.Field("final_logit_softcapping");
  ASSIGN_OR_RETURN(c->final_logit_softcapping,
                   final_cap.NumberOr(gemma3 ? 0.0 : 30.0));
  if (c->final_logit_softcapping < 0) return final_cap.Expected("a number > 0");
  ASSIGN_OR_RETURN(c->sliding_window,
                   r.Field("sliding_window").IntOr(4096, 1, kMaxSize));
  ASSIGN_OR_RETURN(c->tie_word_embeddings,
                   r.Field("tie_word_embeddings").BoolOr(true));
  if (gemma3) {
    ASSIGN_OR_RETURN(c->rope_theta, r.Field("rope_theta").NumberOr(1e6));
    const base::JsonReader local = r.Field("rope_local_base_freq");
    ASSIGN_OR_RETURN(c->rope_local_theta, local.NumberOr(10000.0));
    if (!(c->rope_local_theta > 0)) return local.Expected("a number > 0");
  }
  // Newer transformers save RoPE per layer type: {"full_attention":
  // {rope_type, rope_theta, factor}, "sliding_attention": {...}}.
  if (const base::JsonReader per_type = r.Field("rope_parameters");
      per_type.present()) {
    ASSIGN_OR_RETURN(const base::JsonReader params, per_type.Object());
    for (const char* kind : {"full_attention", "sliding_attention"}) {
      const base::JsonReader p = params.Field(kind);
      if (!p.present()) continue;
      ASSIGN_OR_RETURN(const base::JsonReader o, p.Object());
      const bool full = std::string(kind) == "full_attention";
      const base::JsonReader theta = o.Field("rope_theta");
      ASSIGN_OR_RETURN(const double base,
                       theta.NumberOr(full || c->rope_local_theta <= 0
                                          ? c->rope_theta
                                          : c->rope_local_theta));
      if (!(base > 0)) return theta.Expected("a number > 0");
      const base::JsonReader type = o.Field("rope_type");
      ASSIGN_OR_RETURN(std::string type_name, type.StringOr("default"));
      if (type_name != "default" && !(full && type_name == "linear")) {
        return type.Error(absl::StrCat("'", type_name,
                                       "' is not supported here (default",
                                       full ? ", linear)" : ")"));
      }
      if (full) {
        c->rope_theta = base;
        c->rope_scaling = RopeScaling();
        if (type_name == "linear") {
          c->rope_scaling.type = "linear";
          const base::JsonReader factor = o.Field("factor");
          ASSIGN_OR_RETURN(c->rope_scaling.factor, factor.NumberOr(1.0));
          if (!(c->rope_scaling.factor > 0)) {
            return factor.Expected("a number > 0");
          }
        }
      } else {
        c->rope_local_theta = base;
      }
    }
  }
  const base::JsonReader bidirectional = r.Field("use_bidirectional_attention");
  ASSIGN_OR_RETURN(const bool both_ways, bidirectional.BoolOr(false));
  if (both_ways) {
    return bidirectional.Error("true is not supported (causal decoders only)");
  }
  // Which layers slide: layer_types when given, else Gemma 2 alternates
  // (even layers local) and Gemma 3 makes every sliding_window_pattern-th
  // layer global.
  c->sliding_layers.assign(c->num_layers, false);
  ASSIGN_OR_RETURN(const bool typed, ReadLayerTypes(r, c));
  if (!typed) {
    const base::JsonReader pattern = r.Field("sliding_window_pattern");
    ASSIGN_OR_RETURN(const int every,
                     pattern.IntOr(gemma3 ? 6 : 2, 1, kMaxSize));
    for (int l = 0; l < c->num_layers; ++l) {
      c->sliding_layers[l] = (l + 1) % every != 0;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelConfig> ParseModelConfig(absl::string_view json_text,
                                             absl::string_view file_name) {
  absl::StatusOr<base::Json> json = base::ParseJson(json_text);
  if (!json.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_name, ": not valid JSON: ", json.status().message()));
  }
  ASSIGN_OR_RETURN(const base::JsonReader r,
                   base::JsonReader(*json, file_name).Object());
  ModelConfig c;
  const base::JsonReader archs = r.Field("architectures");
  if (archs.size() == 0 || !archs.json().is_array() ||
      !archs.json().array()[0].is_string()) {
    return archs.Expected("a non-empty list of strings");
  }
  c.architecture = archs.json().array()[0].string_value();
  if (c.architecture == "Gemma3ForConditionalGeneration") {
    // Its weights sit under language_model.* with a nested text_config.
    return archs.Error(
        "Gemma3ForConditionalGeneration (the multimodal Gemma 3) is not "
        "supported; use a text-only Gemma3ForCausalLM checkpoint");
  }
  ASSIGN_OR_RETURN(c.model_type, r.Field("model_type").StringOr(""));
  ASSIGN_OR_RETURN(c.vocab_size, r.Field("vocab_size").Int(1, kMaxSize));
  ASSIGN_OR_RETURN(c.hidden_size, r.Field("hidden_size").Int(1, kMaxSize));
  ASSIGN_OR_RETURN(c.intermediate_size,
                   r.Field("intermediate_size").Int(1, kMaxSize));
  ASSIGN_OR_RETURN(c.num_layers, r.Field("num_hidden_layers").Int(1, kMaxSize));
  ASSIGN_OR_RETURN(c.num_heads,
                   r.Field("num_attention_heads").Int(1, kMaxSize));
  const base::JsonReader kv_heads = r.Field("num_key_value_heads");
  ASSIGN_OR_RETURN(c.num_kv_heads, kv_heads.IntOr(c.num_heads, 1, kMaxSize));
  if (c.num_heads % c.num_kv_heads != 0) {
    return kv_heads.Error(absl::StrCat(c.num_kv_heads,
                                       " does not divide num_attention_heads (",
                                       c.num_heads, ")"));
  }
  const base::JsonReader head_dim = r.Field("head_dim");
  const int default_head_dim =
      c.hidden_size % c.num_heads == 0 ? c.hidden_size / c.num_heads : 0;
  ASSIGN_OR_RETURN(c.head_dim, head_dim.IntOr(default_head_dim, 1, kMaxSize));
  if (c.head_dim == 0) {
    return head_dim.Error(absl::StrCat(
        "not given, and hidden_size (", c.hidden_size,
        ") is not a multiple of num_attention_heads (", c.num_heads, ")"));
  }
  if (c.head_dim % 2 != 0) {
    return head_dim.Error(
        absl::StrCat(c.head_dim, " is odd; RoPE rotates pairs"));
  }
  const base::JsonReader eps = r.Field("rms_norm_eps");
  ASSIGN_OR_RETURN(c.rms_norm_eps, eps.NumberOr(1e-6));
  if (c.rms_norm_eps < 0) return eps.Expected("a number >= 0");
  const base::JsonReader theta = r.Field("rope_theta");
  ASSIGN_OR_RETURN(c.rope_theta, theta.NumberOr(10000.0));
  if (c.rope_theta <= 0) return theta.Expected("a number > 0");
  ASSIGN_OR_RETURN(c.max_position_embeddings,
                   r.Field("max_position_embeddings").IntOr(2048, 1, kMaxSize));
  ASSIGN_OR_RETURN(c.tie_word_embeddings,
                   r.Field("tie_word_embeddings").BoolOr(false));
  ASSIGN_OR_RETURN(c.torch_dtype, r.Field("torch_dtype").StringOr(""));
  ASSIGN_OR_RETURN(c.bos_token_ids, TokenIds(r.Field("bos_token_id")));
  ASSIGN_OR_RETURN(c.eos_token_ids, TokenIds(r.Field("eos_token_id")));
  ASSIGN_OR_RETURN(c.attention_bias, r.Field("attention_bias").BoolOr(false));
  const base::JsonReader partial = r.Field("partial_rotary_factor");
  ASSIGN_OR_RETURN(const double partial_factor, partial.NumberOr(1.0));
  c.rotary_dim = static_cast<int>(c.head_dim * partial_factor);
  if (!(partial_factor > 0 && partial_factor <= 1) || c.rotary_dim < 2 ||
      c.rotary_dim % 2 != 0) {
    return partial.Error(absl::StrCat(
        partial_factor, " times head_dim (", c.head_dim,
        ") must give an even number of rotated dimensions, at most head_dim"));
  }
  // Phi-3's, Mistral's and Mixtral's `sliding_window` apply to every layer
  // (null: none); Qwen2's and Qwen3's need `use_sliding_window` and apply
  // per layer; Gemma reads its own per-layer windows.
  if (c.architecture == "Phi3ForCausalLM" ||
      c.architecture == "MistralForCausalLM" ||
      c.architecture == "MixtralForCausalLM") {
    const base::JsonReader window = r.Field("sliding_window");
    ASSIGN_OR_RETURN(c.sliding_window, window.IntOr(0, 0, kMaxSize));
  }
  if (c.architecture == "Qwen2ForCausalLM" ||
      c.architecture == "Qwen3ForCausalLM") {
    RETURN_IF_ERROR(ParseQwenWindow(r, &c));
  }
  // The Qwen mixtures of experts: a window evald does not apply is refused
  // rather than ignored.
  if (c.architecture == "Qwen2MoeForCausalLM" ||
      c.architecture == "Qwen3MoeForCausalLM") {
    const base::JsonReader use = r.Field("use_sliding_window");
    ASSIGN_OR_RETURN(const bool on, use.BoolOr(false));
    if (on) {
      return use.Error(absl::StrCat("true is not supported for ",
                                    c.architecture,
                                    " (its sliding window is not applied)"));
    }
  }

  // Mixture of experts: read when present; the architecture decides which
  // keys it needs (arch_mixtral.cc, arch_qwen2_moe.cc, arch_qwen3_moe.cc).
  {
    const base::JsonReader local = r.Field("num_local_experts");
    ASSIGN_OR_RETURN(c.moe.num_experts,
                     (local.present() ? local : r.Field("num_experts"))
                         .IntOr(0, 1, kMaxSize));
    ASSIGN_OR_RETURN(c.moe.experts_per_token,
                     r.Field("num_experts_per_tok").IntOr(0, 1, kMaxSize));
    ASSIGN_OR_RETURN(c.moe.moe_intermediate_size,
                     r.Field("moe_intermediate_size").IntOr(0, 1, kMaxSize));
    ASSIGN_OR_RETURN(
        c.moe.shared_expert_intermediate_size,
        r.Field("shared_expert_intermediate_size").IntOr(0, 0, kMaxSize));
    ASSIGN_OR_RETURN(c.moe.norm_topk_prob,
                     r.Field("norm_topk_prob").BoolOr(false));
    ASSIGN_OR_RETURN(c.moe.qkv_bias, r.Field("qkv_bias").BoolOr(true));
    ASSIGN_OR_RETURN(c.moe.decoder_sparse_step,
                     r.Field("decoder_sparse_step").IntOr(1, 1, kMaxSize));
    const base::JsonReader dense = r.Field("mlp_only_layers");
    if (dense.present() && !dense.json().is_null()) {
      if (!dense.json().is_array()) return dense.Expected("a list of layers");
      for (const base::Json& l : dense.json().array()) {
        if (!l.is_int() || l.int_value() < 0 || l.int_value() > kMaxSize) {
          return dense.Expected("a list of layer indices");
        }
        c.moe.mlp_only_layers.push_back(static_cast<int>(l.int_value()));
      }
    }
  }

  if (const base::JsonReader scaling = r.Field("rope_scaling");
      scaling.present()) {
    ASSIGN_OR_RETURN(const base::JsonReader s, scaling.Object());
    base::JsonReader type_field = s.Field("rope_type");
    ASSIGN_OR_RETURN(std::string type, type_field.StringOr(""));
    if (type.empty()) {  // older configs name it `type`
      type_field = s.Field("type");
      ASSIGN_OR_RETURN(type, type_field.StringOr(""));
    }
    if (type == "default") type = "";
    if (type == "su") type = "longrope";  // Phi-3's first name for it
    if (type != "" && type != "llama3" && type != "linear" && type != "yarn" &&
        type != "dynamic" && type != "longrope") {
      return type_field.Error(absl::StrCat(
          "'", type,
          "' is not supported (llama3, linear, yarn, dynamic, longrope, su)"));
    }
    c.rope_scaling.type = type;
    if (!type.empty()) {
      const base::JsonReader factor = s.Field("factor");
      ASSIGN_OR_RETURN(c.rope_scaling.factor, factor.NumberOr(1.0));
      if (c.rope_scaling.factor <= 0) return factor.Expected("a number > 0");
    }
    if (type == "llama3") {
      ASSIGN_OR_RETURN(c.rope_scaling.low_freq_factor,
                       s.Field("low_freq_factor").NumberOr(1.0));
      const base::JsonReader high = s.Field("high_freq_factor");
      ASSIGN_OR_RETURN(c.rope_scaling.high_freq_factor, high.NumberOr(4.0));
      ASSIGN_OR_RETURN(
          c.rope_scaling.original_max_position_embeddings,
          s.Field("original_max_position_embeddings").IntOr(8192, 1, kMaxSize));
      if (!(c.rope_scaling.high_freq_factor > c.rope_scaling.low_freq_factor)) {
        return high.Error(absl::StrCat(c.rope_scaling.high_freq_factor,
                                       " does not exceed low_freq_factor (",
                                       c.rope_scaling.low_freq_factor, ")"));
      }
    }
    RETURN_IF_ERROR(ParseLongContextRope(r, s, type, &c));
  }
  if (c.architecture == "Gemma2ForCausalLM" ||
      c.architecture == "Gemma3ForCausalLM") {
    RETURN_IF_ERROR(ParseGemmaKeys(r, &c));
  }
  if (const base::JsonReader quant = r.Field("quantization_config");
      quant.present()) {
    ASSIGN_OR_RETURN(const base::JsonReader q, quant.Object());
    const base::JsonReader method = q.Field("quant_method");
    ASSIGN_OR_RETURN(std::string method_name, method.StringOr(""));
    if (method_name != "awq") {
      return method.Error(
          absl::StrCat("'", method_name, "' is not supported (awq)"));
    }
    const base::JsonReader bits = q.Field("bits");
    ASSIGN_OR_RETURN(c.quantization.bits, bits.IntOr(4, 1, kMaxSize));
    if (c.quantization.bits != 4) {
      return bits.Error(
          absl::StrCat(c.quantization.bits, " is not supported (4)"));
    }
    const base::JsonReader group_size = q.Field("group_size");
    ASSIGN_OR_RETURN(c.quantization.group_size,
                     group_size.IntOr(128, 1, kMaxSize));
    const base::JsonReader zero_point = q.Field("zero_point");
    ASSIGN_OR_RETURN(const bool has_zero_point, zero_point.BoolOr(true));
    if (!has_zero_point) {
      return zero_point.Error("false is not supported (only zero-point AWQ)");
    }
    const base::JsonReader version = q.Field("version");
    ASSIGN_OR_RETURN(std::string version_name, version.StringOr("gemm"));
    for (char& ch : version_name) {
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    if (version_name != "gemm") {
      return version.Error(
          absl::StrCat("'", version_name, "' is not supported (gemm)"));
    }
    const int g = c.quantization.group_size;
    if (c.hidden_size % g != 0 || c.intermediate_size % g != 0) {
      return group_size.Error(
          absl::StrCat(g, " does not divide hidden_size (", c.hidden_size,
                       ") and intermediate_size (", c.intermediate_size, ")"));
    }
    c.quantization.awq = true;
  }
  return c;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& dir) {
  const std::string path = dir + "/config.json";
  ASSIGN_OR_RETURN(std::string text, base::ReadFileToString(path));
  return ParseModelConfig(text, path);
}

}  // namespace evald::runners::native::model
