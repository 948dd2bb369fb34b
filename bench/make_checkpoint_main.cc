// evald-make-checkpoint: writes a random-weight Hugging Face checkpoint
// folder of a given shape (see runners/native/testing/checkpoint_writer.h).
//
//   evald-make-checkpoint --preset llama-3.2-1b --out /tmp/llama1b
//   evald-make-checkpoint --config llama70b/config.json --dtype awq-int4 --out
//   DIR evald-make-checkpoint --arch qwen3 --hidden 128 --layers 2 --heads 4
//     --kv-heads 2 --intermediate 256 --vocab 1024 --dtype f32 --seed 7 --out
//     DIR
//   evald-make-checkpoint --arch mixtral --preset tiny --out DIR
//
// Flags given after --preset or --config override their values.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file.h"
#include "runners/native/model/config_parser.h"
#include "runners/native/testing/checkpoint_writer.h"

namespace model = ::evald::runners::native::model;

namespace {

constexpr char kUsage[] =
    "usage: evald-make-checkpoint [--preset "
    "tiny|llama-3.2-1b|llama-3.1-8b|llama-3.1-70b|\n"
    "         llama-3.1-70b-awq] [--config HF_CONFIG_JSON]\n"
    "         [--arch llama|mistral|qwen2|qwen3|phi3|gemma2|gemma3] [--hidden "
    "N] [--layers "
    "N] "
    "[--heads N]\n"
    "         [--kv-heads N] [--head-dim N] [--intermediate N] [--vocab N]\n"
    "         [--max-position N] [--dtype bf16|f16|f32|awq-int4] [--seed S] "
    "[--tie-embeddings]\n"
    "         [--rope-scaling llama3|linear|yarn|dynamic|longrope|none]\n"
    "         [--rope-factor F] [--rope-original-max N] [--rope-theta T]\n"
    "         [--partial-rotary F] [--sliding-window N] "
    "[--max-window-layers N (qwen2|qwen3)]\n"
    "         [--norm-jitter X] [--max-shard-mb N] [--awq-group-size N] --out "
    "DIR\n"
    "  mixture of experts (--arch mixtral|qwen2_moe|qwen3_moe; presets "
    "mixtral-8x7b,\n"
    "  mixtral-small): [--num-experts N] [--experts-per-token N]\n"
    "         [--moe-intermediate N] [--shared-expert-intermediate N]\n"
    "         [--norm-topk-prob 0|1] [--decoder-sparse-step N] "
    "[--mlp-only-layers I,J,...]\n"
    "  gemma (--arch gemma2|gemma3): [--sliding-window-pattern N]\n"
    "         [--query-pre-attn-scalar N] [--rope-local-theta T]\n";

int Fail(const std::string& message) {
  std::fprintf(stderr, "evald-make-checkpoint: %s\n%s", message.c_str(),
               kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using evald::runners::native::testing::CheckpointSpec;
  CheckpointSpec spec;
  std::string out;
  // A preset is applied first wherever it appears, so later flags override it.
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--preset") {
      auto preset =
          evald::runners::native::testing::CheckpointPreset(argv[i + 1]);
      if (!preset.ok()) return Fail(std::string(preset.status().message()));
      spec = *preset;
    }
    if (std::string(argv[i]) == "--config") {
      auto text = evald::base::ReadFileToString(argv[i + 1]);
      if (!text.ok()) return Fail(std::string(text.status().message()));
      auto config = model::ParseModelConfig(*text, argv[i + 1]);
      if (!config.ok()) return Fail(std::string(config.status().message()));
      auto from_config =
          evald::runners::native::testing::SpecFromModelConfig(*config);
      if (!from_config.ok())
        return Fail(std::string(from_config.status().message()));
      spec = *from_config;
    }
  }
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (flag == "--tie-embeddings") {
      spec.tie_embeddings = true;
      continue;
    }
    if (i + 1 >= argc)
      return Fail(absl::StrCat("flag ", flag, " needs a value"));
    const std::string value = argv[++i];
    auto int_flag = [&](int* dst) {
      return absl::SimpleAtoi(value, dst) && *dst > 0;
    };
    bool ok = true;
    if (flag == "--preset" || flag == "--config") {
      // already applied
    } else if (flag == "--arch") {
      spec.arch = value;
    } else if (flag == "--hidden") {
      ok = int_flag(&spec.hidden);
    } else if (flag == "--layers") {
      ok = int_flag(&spec.layers);
    } else if (flag == "--heads") {
      ok = int_flag(&spec.heads);
    } else if (flag == "--kv-heads") {
      ok = int_flag(&spec.kv_heads);
    } else if (flag == "--head-dim") {
      ok = int_flag(&spec.head_dim);
    } else if (flag == "--intermediate") {
      ok = int_flag(&spec.intermediate);
    } else if (flag == "--vocab") {
      ok = int_flag(&spec.vocab);
    } else if (flag == "--max-position") {
      ok = int_flag(&spec.max_position);
    } else if (flag == "--dtype") {
      spec.awq_int4 = false;
      if (value == "bf16") {
        spec.dtype = model::DType::kBF16;
      } else if (value == "f16") {
        spec.dtype = model::DType::kF16;
      } else if (value == "f32") {
        spec.dtype = model::DType::kF32;
      } else if (value == "awq-int4") {
        // Projections in AWQ INT4, everything else BF16.
        spec.dtype = model::DType::kBF16;
        spec.awq_int4 = true;
      } else {
        ok = false;
      }
    } else if (flag == "--seed") {
      ok = absl::SimpleAtoi(value, &spec.seed);
    } else if (flag == "--rope-scaling") {
      if (value == "llama3" || value == "linear" || value == "yarn" ||
          value == "dynamic" || value == "longrope") {
        spec.rope_scaling = value;
      } else if (value == "none") {
        spec.rope_scaling = "";
      } else {
        ok = false;
      }
    } else if (flag == "--rope-factor") {
      ok = absl::SimpleAtod(value, &spec.rope_factor) && spec.rope_factor > 0;
    } else if (flag == "--rope-original-max") {
      ok = int_flag(&spec.rope_original_max_position);
    } else if (flag == "--partial-rotary") {
      ok = absl::SimpleAtod(value, &spec.partial_rotary_factor) &&
           spec.partial_rotary_factor > 0 && spec.partial_rotary_factor <= 1;
    } else if (flag == "--sliding-window") {
      ok = int_flag(&spec.sliding_window);
    } else if (flag == "--max-window-layers") {
      ok = absl::SimpleAtoi(value, &spec.max_window_layers) &&
           spec.max_window_layers >= 0;
    } else if (flag == "--sliding-window-pattern") {
      ok = int_flag(&spec.sliding_window_pattern);
    } else if (flag == "--query-pre-attn-scalar") {
      ok = int_flag(&spec.query_pre_attn_scalar);
    } else if (flag == "--rope-local-theta") {
      ok = absl::SimpleAtod(value, &spec.rope_local_theta) &&
           spec.rope_local_theta > 0;
    } else if (flag == "--rope-theta") {
      ok = absl::SimpleAtod(value, &spec.rope_theta) && spec.rope_theta > 0;
    } else if (flag == "--norm-jitter") {
      ok = absl::SimpleAtod(value, &spec.norm_jitter) && spec.norm_jitter >= 0;
    } else if (flag == "--max-shard-mb") {
      int mb = 0;
      ok = int_flag(&mb);
      spec.max_shard_bytes = static_cast<uint64_t>(mb) << 20;
    } else if (flag == "--awq-group-size") {
      ok = int_flag(&spec.awq_group_size);
    } else if (flag == "--num-experts") {
      ok = int_flag(&spec.num_experts);
    } else if (flag == "--experts-per-token") {
      ok = int_flag(&spec.experts_per_token);
    } else if (flag == "--moe-intermediate") {
      ok = int_flag(&spec.moe_intermediate);
    } else if (flag == "--shared-expert-intermediate") {
      ok = int_flag(&spec.shared_expert_intermediate);
    } else if (flag == "--norm-topk-prob") {
      ok = value == "0" || value == "1";
      spec.norm_topk_prob = value == "1" ? 1 : 0;
    } else if (flag == "--decoder-sparse-step") {
      ok = int_flag(&spec.decoder_sparse_step);
    } else if (flag == "--mlp-only-layers") {
      spec.mlp_only_layers.clear();
      for (absl::string_view part : absl::StrSplit(value, ',')) {
        int layer = -1;
        ok = ok && absl::SimpleAtoi(part, &layer) && layer >= 0;
        spec.mlp_only_layers.push_back(layer);
      }
    } else if (flag == "--out") {
      out = value;
    } else {
      return Fail(absl::StrCat("unknown flag ", flag));
    }
    if (!ok) return Fail(absl::StrCat("bad value '", value, "' for ", flag));
  }
  if (out.empty()) return Fail("--out DIR is required");
  absl::Status status =
      evald::runners::native::testing::WriteCheckpoint(spec, out);
  if (!status.ok()) {
    std::fprintf(stderr, "evald-make-checkpoint: %s\n",
                 std::string(status.message()).c_str());
    return 1;
  }
  std::printf("wrote %s checkpoint to %s\n", spec.arch.c_str(), out.c_str());
  return 0;
}
