#!/usr/bin/python3
"""Compares evald's per-token log-probabilities with Hugging Face transformers.

    hf_compare.py --model DIR --evald-logprobs BIN [--prompts N] [--length L]

Draws N random token sequences (seeded), scores them with
`BIN --model DIR --device cpu` and `--device cuda`, and with transformers'
AutoModelForCausalLM on the GPU (the checkpoint's own dtype, and float32),
then prints the largest absolute difference of the next-token log-probs for
each pair, and exits non-zero when a pair involving the CUDA backend exceeds
--bound (default 2e-2).
"""
import argparse
import json
import random
import subprocess
import sys


def evald_logprobs(binary, model, device, prompts):
    out = subprocess.run([binary, "--model", model, "--device", device],
                         input=json.dumps({"prompts": prompts}), capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"{binary} --device {device}: {out.stderr.strip()}")
    return json.loads(out.stdout)["next_logprobs"]


def hf_logprobs(model_dir, prompts, dtype):
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=dtype).to("cuda").eval()
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
    results = {
        "evald-cpu": evald_logprobs(args.evald_logprobs, args.model, "cpu", prompts),
        "evald-cuda": evald_logprobs(args.evald_logprobs, args.model, "cuda", prompts),
        "hf-cuda-fp32": hf_logprobs(args.model, prompts, torch.float32),
        "hf-cuda-native": hf_logprobs(args.model, prompts, "auto"),
    }
    failed = False
    gpu = torch.cuda.get_device_name(0)
    print(f"device: {gpu}; {args.prompts} prompts x {args.length} tokens; model {args.model}")
    names = list(results)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            d = max_diff(results[a], results[b])
            gated = "evald-cuda" in (a, b)
            verdict = "" if not gated else ("  ok" if d <= args.bound else "  OVER BOUND")
            failed |= gated and d > args.bound
            print(f"max |{a} - {b}| = {d:.3e}{verdict}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
