#include "runners/native/model/config_parser.h"

#include <cctype>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/json.h"
#include "base/status_macros.h"

namespace evald::engine {
namespace {

class FieldReader {
 public:
  FieldReader(const base::Json& obj, absl::string_view file, absl::string_view prefix)
      : obj_(obj), file_(file), prefix_(prefix) {}

  absl::Status Error(absl::string_view field, absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ": field '", prefix_, field, "' ", what));
  }

  // Required positive integer.
  absl::StatusOr<int> PositiveInt(absl::string_view field) const {
    const base::Json* v = obj_.Find(field);
    if (v == nullptr || v->is_null()) return Error(field, "is missing");
    return CheckPositive(field, *v);
  }
  // Optional positive integer; `fallback` when absent or null.
  absl::StatusOr<int> PositiveIntOr(absl::string_view field, int fallback) const {
    const base::Json* v = obj_.Find(field);
    if (v == nullptr || v->is_null()) return fallback;
    return CheckPositive(field, *v);
  }
  absl::StatusOr<double> NumberOr(absl::string_view field, double fallback) const {
    const base::Json* v = obj_.Find(field);
    if (v == nullptr || v->is_null()) return fallback;
    if (!v->is_number()) return Error(field, "is not a number");
    return v->number_value();
  }
  absl::StatusOr<bool> BoolOr(absl::string_view field, bool fallback) const {
    const base::Json* v = obj_.Find(field);
    if (v == nullptr || v->is_null()) return fallback;
    if (!v->is_bool()) return Error(field, "is not a boolean");
    return v->bool_value();
  }
  absl::StatusOr<std::string> StringOr(absl::string_view field, std::string fallback) const {
    const base::Json* v = obj_.Find(field);
    if (v == nullptr || v->is_null()) return fallback;
    if (!v->is_string()) return Error(field, "is not a string");
    return v->string_value();
  }
  // An int or a list of ints (token ids); empty when absent.
  absl::StatusOr<std::vector<int32_t>> TokenIds(absl::string_view field) const {
    std::vector<int32_t> ids;
    const base::Json* v = obj_.Find(field);
    if (v == nullptr || v->is_null()) return ids;
    auto one = [&](const base::Json& x) -> absl::Status {
      if (!x.is_int() || x.int_value() < 0 || x.int_value() > INT32_MAX) {
        return Error(field, "holds something that is not a token id");
      }
      ids.push_back(static_cast<int32_t>(x.int_value()));
      return absl::OkStatus();
    };
    if (v->is_array()) {
      for (const base::Json& x : v->array()) RETURN_IF_ERROR(one(x));
    } else {
      RETURN_IF_ERROR(one(*v));
    }
    return ids;
  }

 private:
  absl::StatusOr<int> CheckPositive(absl::string_view field, const base::Json& v) const {
    if (!v.is_int()) return Error(field, "is not an integer");
    if (v.int_value() <= 0 || v.int_value() > (1 << 30)) {
      return Error(field, absl::StrCat("is out of range (", v.int_value(), ")"));
    }
    return static_cast<int>(v.int_value());
  }

  const base::Json& obj_;
  absl::string_view file_;
  absl::string_view prefix_;
};

}  // namespace

absl::StatusOr<ModelConfig> ParseModelConfig(absl::string_view json_text,
                                             absl::string_view file_name) {
  absl::StatusOr<base::Json> json = base::ParseJson(json_text);
  if (!json.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_name, ": not valid JSON: ", json.status().message()));
  }
  if (!json->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(file_name, ": not a JSON object"));
  }
  const FieldReader r(*json, file_name, "");
  ModelConfig c;
  const base::Json* archs = json->Find("architectures");
  if (archs == nullptr || !archs->is_array() || archs->array().empty() ||
      !archs->array()[0].is_string()) {
    return r.Error("architectures", "is missing or not a non-empty list of strings");
  }
  c.architecture = archs->array()[0].string_value();
  ASSIGN_OR_RETURN(c.model_type, r.StringOr("model_type", ""));
  ASSIGN_OR_RETURN(c.vocab_size, r.PositiveInt("vocab_size"));
  ASSIGN_OR_RETURN(c.hidden_size, r.PositiveInt("hidden_size"));
  ASSIGN_OR_RETURN(c.intermediate_size, r.PositiveInt("intermediate_size"));
  ASSIGN_OR_RETURN(c.num_layers, r.PositiveInt("num_hidden_layers"));
  ASSIGN_OR_RETURN(c.num_heads, r.PositiveInt("num_attention_heads"));
  ASSIGN_OR_RETURN(c.num_kv_heads, r.PositiveIntOr("num_key_value_heads", c.num_heads));
  if (c.num_heads % c.num_kv_heads != 0) {
    return r.Error("num_key_value_heads",
                   absl::StrCat("(", c.num_kv_heads, ") does not divide num_attention_heads (",
                                c.num_heads, ")"));
  }
  const int default_head_dim =
      c.hidden_size % c.num_heads == 0 ? c.hidden_size / c.num_heads : 0;
  ASSIGN_OR_RETURN(c.head_dim, r.PositiveIntOr("head_dim", default_head_dim));
  if (c.head_dim == 0) {
    return r.Error("head_dim", "is missing and hidden_size is not a multiple of the heads");
  }
  if (c.head_dim % 2 != 0) return r.Error("head_dim", "is odd (RoPE needs pairs)");
  ASSIGN_OR_RETURN(c.rms_norm_eps, r.NumberOr("rms_norm_eps", 1e-6));
  if (!(c.rms_norm_eps >= 0)) return r.Error("rms_norm_eps", "is negative");
  ASSIGN_OR_RETURN(c.rope_theta, r.NumberOr("rope_theta", 10000.0));
  if (!(c.rope_theta > 0)) return r.Error("rope_theta", "is not positive");
  ASSIGN_OR_RETURN(c.max_position_embeddings, r.PositiveIntOr("max_position_embeddings", 2048));
  ASSIGN_OR_RETURN(c.tie_word_embeddings, r.BoolOr("tie_word_embeddings", false));
  ASSIGN_OR_RETURN(c.torch_dtype, r.StringOr("torch_dtype", ""));
  ASSIGN_OR_RETURN(c.bos_token_ids, r.TokenIds("bos_token_id"));
  ASSIGN_OR_RETURN(c.eos_token_ids, r.TokenIds("eos_token_id"));
  ASSIGN_OR_RETURN(c.attention_bias, r.BoolOr("attention_bias", false));

  const base::Json* scaling = json->Find("rope_scaling");
  if (scaling != nullptr && !scaling->is_null()) {
    if (!scaling->is_object()) return r.Error("rope_scaling", "is not an object");
    const FieldReader s(*scaling, file_name, "rope_scaling.");
    ASSIGN_OR_RETURN(std::string type, s.StringOr("rope_type", ""));
    if (type.empty()) {
      ASSIGN_OR_RETURN(type, s.StringOr("type", ""));
    }
    if (type == "default") type = "";
    if (type != "" && type != "llama3" && type != "linear") {
      return s.Error("rope_type", absl::StrCat("'", type, "' is not supported (llama3, linear)"));
    }
    c.rope_scaling.type = type;
    if (!type.empty()) {
      ASSIGN_OR_RETURN(c.rope_scaling.factor, s.NumberOr("factor", 1.0));
      if (!(c.rope_scaling.factor > 0)) return s.Error("factor", "is not positive");
    }
    if (type == "llama3") {
      ASSIGN_OR_RETURN(c.rope_scaling.low_freq_factor, s.NumberOr("low_freq_factor", 1.0));
      ASSIGN_OR_RETURN(c.rope_scaling.high_freq_factor, s.NumberOr("high_freq_factor", 4.0));
      ASSIGN_OR_RETURN(c.rope_scaling.original_max_position_embeddings,
                       s.PositiveIntOr("original_max_position_embeddings", 8192));
      if (!(c.rope_scaling.high_freq_factor > c.rope_scaling.low_freq_factor)) {
        return s.Error("high_freq_factor", "must exceed low_freq_factor");
      }
    }
  }
  const base::Json* quant = json->Find("quantization_config");
  if (quant != nullptr && !quant->is_null()) {
    if (!quant->is_object()) return r.Error("quantization_config", "is not an object");
    const FieldReader q(*quant, file_name, "quantization_config.");
    ASSIGN_OR_RETURN(std::string method, q.StringOr("quant_method", ""));
    if (method != "awq") {
      return q.Error("quant_method", absl::StrCat("'", method, "' is not supported (awq)"));
    }
    ASSIGN_OR_RETURN(c.quantization.bits, q.PositiveIntOr("bits", 4));
    if (c.quantization.bits != 4) {
      return q.Error("bits", absl::StrCat("is ", c.quantization.bits, "; only 4 is supported"));
    }
    ASSIGN_OR_RETURN(c.quantization.group_size, q.PositiveIntOr("group_size", 128));
    ASSIGN_OR_RETURN(const bool zero_point, q.BoolOr("zero_point", true));
    if (!zero_point) return q.Error("zero_point", "is false; only zero-point AWQ is supported");
    ASSIGN_OR_RETURN(std::string version, q.StringOr("version", "gemm"));
    for (char& ch : version) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (version != "gemm") {
      return q.Error("version", absl::StrCat("'", version, "' is not supported (gemm)"));
    }
    const int g = c.quantization.group_size;
    if (c.hidden_size % g != 0 || c.intermediate_size % g != 0) {
      return q.Error("group_size", absl::StrCat("(", g, ") does not divide hidden_size (",
                                                c.hidden_size, ") and intermediate_size (",
                                                c.intermediate_size, ")"));
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

}  // namespace evald::engine
