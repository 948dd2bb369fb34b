#include "runners/native/model/rope.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"

namespace evald::runners::native::model {
namespace {

// YaRN's attention temperature: 0.1 m ln(s) + 1 above scale 1.
double YarnMscale(double scale, double m) {
  return scale <= 1.0 ? 1.0 : 0.1 * m * std::log(scale) + 1.0;
}

// The (fractional) dimension index whose wavelength makes `rotations` turns
// over `context` positions.
double YarnCorrectionDim(double rotations, int dim, double base,
                         double context) {
  return dim * std::log(context / (rotations * 2.0 * M_PI)) /
         (2.0 * std::log(base));
}

}  // namespace

bool RopeDependsOnLength(const ModelConfig& c) {
  return c.rope_scaling.DependsOnLength();
}

RopeTable RopeFrequencies(const ModelConfig& c, int seq_len) {
  const int dim = c.rotary_dim > 0 ? c.rotary_dim : c.head_dim;
  const int half = dim / 2;
  const RopeScaling& r = c.rope_scaling;
  double base = c.rope_theta;
  if (r.type == "dynamic") {
    const double orig = r.original_max_position_embeddings;
    const double len = std::max<double>(seq_len, orig);
    base *= std::pow(r.factor * len / orig - (r.factor - 1.0),
                     static_cast<double>(dim) / (dim - 2));
  }
  RopeTable t;
  std::vector<double>& inv = t.inv_freq;
  inv.resize(half);
  for (int i = 0; i < half; ++i) {
    inv[i] = 1.0 / std::pow(base, static_cast<double>(2 * i) / dim);
  }
  if (r.type == "linear") {
    for (double& f : inv) f /= r.factor;
  } else if (r.type == "llama3") {
    const double old_len = r.original_max_position_embeddings;
    const double low_wavelen = old_len / r.low_freq_factor;
    const double high_wavelen = old_len / r.high_freq_factor;
    for (double& f : inv) {
      const double wavelen = 2.0 * M_PI / f;
      if (wavelen < high_wavelen) continue;  // high frequency: unchanged
      if (wavelen > low_wavelen) {
        f /= r.factor;  // low frequency: scaled
        continue;
      }
      const double smooth = (old_len / wavelen - r.low_freq_factor) /
                            (r.high_freq_factor - r.low_freq_factor);
      f = (1.0 - smooth) * f / r.factor + smooth * f;
    }
  } else if (r.type == "yarn") {
    // Interpolate (divide by factor) the low frequencies, keep the high ones,
    // ramp linearly between the dimensions that turn beta_fast and beta_slow
    // times over the original context.
    const double orig = r.original_max_position_embeddings;
    double low =
        std::floor(YarnCorrectionDim(r.beta_fast, dim, c.rope_theta, orig));
    double high =
        std::ceil(YarnCorrectionDim(r.beta_slow, dim, c.rope_theta, orig));
    low = std::max(low, 0.0);
    high = std::min(high, static_cast<double>(dim - 1));
    if (low == high) high += 0.001;
    for (int i = 0; i < half; ++i) {
      const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
      const double extrapolation = 1.0 - ramp;
      inv[i] =
          inv[i] / r.factor * (1.0 - extrapolation) + inv[i] * extrapolation;
    }
    if (r.attention_factor > 0) {
      t.attention_factor = r.attention_factor;
    } else if (r.mscale != 0 && r.mscale_all_dim != 0) {
      t.attention_factor = YarnMscale(r.factor, r.mscale) /
                           YarnMscale(r.factor, r.mscale_all_dim);
    } else {
      t.attention_factor = YarnMscale(r.factor, 1.0);
    }
  } else if (r.type == "longrope") {
    const std::vector<double>& ext =
        seq_len > r.original_max_position_embeddings ? r.long_factor
                                                     : r.short_factor;
    for (int i = 0; i < half && i < static_cast<int>(ext.size()); ++i) {
      inv[i] /= ext[i];
    }
    if (r.attention_factor > 0) {
      t.attention_factor = r.attention_factor;
    } else if (r.factor > 1.0) {
      t.attention_factor =
          std::sqrt(1.0 + std::log(r.factor) /
                              std::log(r.original_max_position_embeddings));
    }
  }
  return t;
}

absl::Status CheckRopeOnCuda(const ModelConfig& c) {
  const std::string& type = c.rope_scaling.type;
  if (type == "yarn" || type == "dynamic" || type == "longrope") {
    return absl::UnimplementedError(absl::StrCat(
        "cuda backend: rope_scaling type '", type,
        "' is not supported (its scaled, length-dependent RoPE has no GPU "
        "kernel; use the cpu device)"));
  }
  if (c.rotary_dim > 0 && c.rotary_dim != c.head_dim) {
    return absl::UnimplementedError(absl::StrCat(
        "cuda backend: partial_rotary_factor (rotating ", c.rotary_dim, " of ",
        c.head_dim,
        " head dimensions) is not supported (no partial RoPE kernel; use the "
        "cpu device)"));
  }
  return absl::OkStatus();
}

std::vector<double> RopeInverseFrequencies(const ModelConfig& c) {
  return RopeFrequencies(c, 0).inv_freq;
}

}  // namespace evald::runners::native::model
