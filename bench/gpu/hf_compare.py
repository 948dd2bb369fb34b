#!/usr/bin/python3
"""Compares evald's per-token log-probabilities with Hugging Face transformers.

    hf_compare.py --model DIR --evald-logprobs BIN [--prompts N] [--length L]

Draws N random token sequences (seeded), scores them with
`BIN --model DIR --device cpu` and `--device cuda`, and with transformers'
AutoModelForCausalLM on the GPU (the checkpoint's own dtype, and float32),
then prints the largest absolute difference of the next-token log-probs for
each pair, and exits non-zero when a pair involving the CUDA backend exceeds
--bound (default 2e-2).

An AWQ checkpoint (config.json quantization_config.quant_method "awq",
version "gemm") is compared through its dequantised weights: this script
unpacks qweight/qzeros/scales with AutoAWQ's published layout (int32 words
holding output columns 0, 2, 4, 6, 1, 3, 5, 7 in nibbles 0..7; W[out, in] =
(q - z) * s per group of inputs), loads them into the dense transformers
model of the same config, and runs it in float32 ("hf-cuda-fp32-dequant").
Then evald's CPU backend must agree with it too (the layout check on real
kernels), and with the `awq` package installed transformers' own AWQ path
runs as well ("hf-cuda-awq").
"""
import argparse
import json
import os
import random
import subprocess
import sys


def evald_logprobs(binary, model, device, prompts):
    # run_checks.sh keeps the packed libraries away from python3 and names
    # them here for the evald programs.
    env = dict(os.environ)
    if "EVALD_LD_LIBRARY_PATH" in env:
        env["LD_LIBRARY_PATH"] = env["EVALD_LD_LIBRARY_PATH"]
    out = subprocess.run([binary, "--model", model, "--device", device],
                         input=json.dumps({"prompts": prompts}), capture_output=True,
                         text=True, check=False, env=env)
    if out.returncode != 0:
        sys.exit(f"{binary} --device {device}: {out.stderr.strip()}")
    return json.loads(out.stdout)["next_logprobs"]


AWQ_REVERSE_ORDER = [0, 4, 1, 5, 2, 6, 3, 7]
SAFETENSORS_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "I32": "int32"}


def read_safetensors(model_dir):
    """Every tensor of the checkpoint (single file or index), read with torch alone."""
    import os
    import struct
    import torch
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    tensors = {}
    for name in files:
        with open(os.path.join(model_dir, name), "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
            data = f.read()
        for key, info in header.items():
            if key == "__metadata__":
                continue
            begin, end = info["data_offsets"]
            dtype = getattr(torch, SAFETENSORS_DTYPES[info["dtype"]])
            t = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype)
            tensors[key] = t.reshape(info["shape"])
    return tensors


def awq_dequantize(qweight, qzeros, scales, group_size):
    """AutoAWQ GEMM layout -> float32 W [out, in]."""
    import torch
    shifts = torch.arange(0, 32, 4)

    def unpack(packed):
        vals = torch.bitwise_right_shift(packed[:, :, None], shifts[None, None, :])
        vals = vals.reshape(packed.shape[0], -1)
        order = torch.arange(vals.shape[1]).reshape(-1, 8)[:, AWQ_REVERSE_ORDER].reshape(-1)
        return torch.bitwise_and(vals[:, order], 15)

    q = unpack(qweight)  # [in, out]
    z = unpack(qzeros).repeat_interleave(group_size, dim=0)
    s = scales.float().repeat_interleave(group_size, dim=0)
    return ((q - z).float() * s).t().contiguous()


def hf_dequantized_awq_model(model_dir, config):
    from transformers import AutoConfig, AutoModelForCausalLM
    dense_config = dict(config)
    quant = dense_config.pop("quantization_config")
    group_size = quant.get("group_size", quant.get("q_group_size"))
    tensors = read_safetensors(model_dir)
    state = {}
    for key, t in tensors.items():
        if key.endswith(".qweight"):
            prefix = key[: -len(".qweight")]
            state[prefix + ".weight"] = awq_dequantize(
                t, tensors[prefix + ".qzeros"], tensors[prefix + ".scales"], group_size)
        elif not key.endswith((".qzeros", ".scales")):
            state[key] = t.float()
    cfg = AutoConfig.for_model(**dense_config)
    model = AutoModelForCausalLM.from_config(cfg).float()
    if cfg.tie_word_embeddings and "lm_head.weight" not in state:
        state["lm_head.weight"] = state["model.embed_tokens.weight"]
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if "rotary_emb" not in m]
    if missing or unexpected:
        sys.exit(f"hf_compare: dequantised AWQ state dict: missing {missing}, "
                 f"unexpected {unexpected}")
    return model.to("cuda").eval()


def hf_logprobs(model_dir, prompts, dtype, model=None):
    import torch
    from transformers import AutoModelForCausalLM
    if model is None:
        model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=dtype)
        model = model.to("cuda").eval()
    result = []
    with torch.no_grad():
        for p in prompts:
            ids = torch.tensor([p], device="cuda")
            logits = model(ids).logits[0].float()
            lp = torch.log_softmax(logits, dim=-1)
            result.append([lp[i, p[i + 1]].item() for i in range(len(p) - 1)])
    return result


def max_diff(a, b):
    return max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--evald-logprobs", required=True)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--length", type=int, default=96)
    ap.add_argument("--bound", type=float, default=2e-2)
    args = ap.parse_args()

    import torch
    with open(f"{args.model}/config.json") as f:
        config = json.load(f)
    rng = random.Random(7)
    prompts = [[rng.randrange(config["vocab_size"]) for _ in range(args.length)]
               for _ in range(args.prompts)]
    awq = config.get("quantization_config", {}).get("quant_method") == "awq"
    results = {
        "evald-cpu": evald_logprobs(args.evald_logprobs, args.model, "cpu", prompts),
        "evald-cuda": evald_logprobs(args.evald_logprobs, args.model, "cuda", prompts),
    }
    if awq:
        results["hf-cuda-fp32-dequant"] = hf_logprobs(
            args.model, prompts, None, hf_dequantized_awq_model(args.model, config))
        try:
            import awq as _  # noqa: F401  (transformers' AWQ path needs it)
            results["hf-cuda-awq"] = hf_logprobs(args.model, prompts, torch.float16)
        except ImportError:
            print("hf-cuda-awq: skipped (the awq package is not installed)")
    else:
        results["hf-cuda-fp32"] = hf_logprobs(args.model, prompts, torch.float32)
        results["hf-cuda-native"] = hf_logprobs(args.model, prompts, "auto")
    failed = False
    gpu = torch.cuda.get_device_name(0)
    kind = "AWQ INT4" if awq else "dense"
    print(f"device: {gpu}; {args.prompts} prompts x {args.length} tokens; "
          f"model {args.model} ({kind})")
    names = list(results)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            d = max_diff(results[a], results[b])
            # For AWQ, evald's CPU backend against the dequantised reference
            # checks the packing layout as well.
            gated = "evald-cuda" in (a, b) or (
                awq and {a, b} == {"evald-cpu", "hf-cuda-fp32-dequant"})
            verdict = "" if not gated else ("  ok" if d <= args.bound else "  OVER BOUND")
            failed |= gated and d > args.bound
            print(f"max |{a} - {b}| = {d:.3e}{verdict}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
