#include "runners/native/model/rope.h"

#include <cmath>

namespace evald::runners::native::model {

std::vector<double> RopeInverseFrequencies(const ModelConfig& c) {
  const int half = c.head_dim / 2;
  std::vector<double> inv(half);
  for (int i = 0; i < half; ++i) {
    inv[i] =
        1.0 / std::pow(c.rope_theta, static_cast<double>(2 * i) / c.head_dim);
  }
  const RopeScaling& r = c.rope_scaling;
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
  }
  return inv;
}

}  // namespace evald::runners::native::model
