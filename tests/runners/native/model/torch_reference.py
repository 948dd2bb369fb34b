#!/usr/bin/python3
"""Reference forward pass for evald's numerics tests.

Reads a JSON request on stdin:
    {"model": DIR, "prompts": [[token ids], ...], "greedy": N (optional)}
and writes JSON on stdout:
    {"next_logprobs": [[log p(t[i+1] | t[..i]) for i < n-1], ...],
     "last_logprobs": [[log-softmax over the vocabulary at the last position], ...],
     "greedy": [[N argmax tokens continuing each prompt], ...] (when asked)}

The model is rebuilt from the Hugging Face architecture definitions of
LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM /
Phi3ForCausalLM / Gemma2ForCausalLM / Gemma3ForCausalLM (and the sparse MoE blocks of MixtralForCausalLM /
Qwen2MoeForCausalLM / Qwen3MoeForCausalLM) with plain torch ops in float64 (weights widened from their stored dtype), so
it is an independent, higher-precision reference for the C++ forward pass.
The safetensors files are read directly (no safetensors package needed).

AWQ INT4 checkpoints (quantization_config.quant_method "awq", version "gemm")
are dequantised with AutoAWQ's published GEMM layout, not evald's: qweight
[in, out / 8] and qzeros [in / g, out / 8] are int32 words whose nibble i
(bits 4i..4i+3) holds output column 8c + [0, 2, 4, 6, 1, 3, 5, 7][i];
scales [in / g, out]; W[out, in] = (q - z) * s.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

DT = torch.float64


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[base + begin:base + end]
        shape = info["shape"]
        dtype = info["dtype"]
        if dtype == "F32":
            arr = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif dtype == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float64)
        elif dtype == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32).astype(np.float64)
        elif dtype == "I32":
            arr = np.frombuffer(raw, dtype="<i4").astype(np.int64)
        else:
            raise ValueError("unsupported dtype " + dtype)
        tensors[name] = torch.from_numpy(arr.reshape(shape).copy())
    return tensors


def load_weights(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
        out = {}
        for name in files:
            out.update(read_safetensors(os.path.join(model_dir, name)))
        return out
    return read_safetensors(os.path.join(model_dir, "model.safetensors"))


def rope_tables(cfg, head_dim, seq_len):
    """(inv_freq [dim / 2], attention factor) as transformers'
    modeling_rope_utils defines each rope_type. dim is the rotated part of a
    head (partial_rotary_factor). `dynamic` and `longrope` depend on the
    length of the sequence, which is that of the whole prompt here (one
    forward call in transformers)."""
    theta = cfg.get("rope_theta", 10000.0)
    dim = int(head_dim * cfg.get("partial_rotary_factor", 1.0))
    rs = cfg.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type", ""))
    attention = 1.0
    if kind == "dynamic":
        # NTK-aware: the base grows with the length past the context.
        ctx = cfg.get("max_position_embeddings", 2048)
        factor = rs["factor"]
        length = max(seq_len, ctx)
        theta = theta * ((factor * length / ctx) - (factor - 1)) ** (dim / (dim - 2))
    inv = [1.0 / (theta ** (2 * i / dim)) for i in range(dim // 2)]
    if kind == "linear":
        inv = [f / rs["factor"] for f in inv]
    elif kind == "llama3":
        factor = rs["factor"]
        low = rs.get("low_freq_factor", 1.0)
        high = rs.get("high_freq_factor", 4.0)
        old = rs.get("original_max_position_embeddings", 8192)
        low_wavelen = old / low
        high_wavelen = old / high
        out = []
        for f in inv:
            wavelen = 2 * math.pi / f
            if wavelen < high_wavelen:
                out.append(f)
            elif wavelen > low_wavelen:
                out.append(f / factor)
            else:
                smooth = (old / wavelen - low) / (high - low)
                out.append((1 - smooth) * f / factor + smooth * f)
        inv = out
    elif kind == "yarn":
        factor = rs["factor"]
        old = rs.get("original_max_position_embeddings") or cfg["max_position_embeddings"]
        fast = rs.get("beta_fast") or 32
        slow = rs.get("beta_slow") or 1

        def turns_dim(turns):
            return (dim * math.log(old / (turns * 2 * math.pi))) / (2 * math.log(theta))

        lo = max(math.floor(turns_dim(fast)), 0)
        hi = min(math.ceil(turns_dim(slow)), dim - 1)
        if lo == hi:
            hi += 0.001
        out = []
        for i, f in enumerate(inv):
            keep = 1 - min(max((i - lo) / (hi - lo), 0.0), 1.0)
            out.append((f / factor) * (1 - keep) + f * keep)
        inv = out

        def mscale(scale, m=1.0):
            return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

        if rs.get("attention_factor") is not None:
            attention = rs["attention_factor"]
        elif rs.get("mscale") and rs.get("mscale_all_dim"):
            attention = mscale(factor, rs["mscale"]) / mscale(factor, rs["mscale_all_dim"])
        else:
            attention = mscale(factor)
    elif kind in ("longrope", "su"):
        # Phi-3 keeps the pretrained context at the top level (it wins);
        # without a factor, the factor is the ratio of the two contexts.
        old = (cfg.get("original_max_position_embeddings")
               or rs.get("original_max_position_embeddings")
               or cfg["max_position_embeddings"])
        factor = rs.get("factor")
        if factor is None:
            factor = cfg["max_position_embeddings"] / old
        ext = rs["long_factor"] if seq_len > old else rs["short_factor"]
        inv = [f / e for f, e in zip(inv, ext)]
        if rs.get("attention_factor") is not None:
            attention = rs["attention_factor"]
        elif factor > 1.0:
            attention = math.sqrt(1 + math.log(factor) / math.log(old))
    return torch.tensor(inv, dtype=DT), attention


def rms_norm(x, w, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def gelu_tanh(x):
    """GELU's tanh approximation (transformers' gelu_pytorch_tanh)."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def gemma_forward(cfg, w, tokens):
    """Gemma2ForCausalLM / Gemma3ForCausalLM (text) as transformers'
    modeling_gemma2.py and modeling_gemma3.py define them: embeddings times
    sqrt(hidden_size) taken in the weights' dtype; every RMSNorm multiplies
    by (1 + weight); each layer is x + post_attention_layernorm(attn(
    input_layernorm(x))), then + post_feedforward_layernorm(mlp(
    pre_feedforward_layernorm(x))); the MLP is down(gelu_tanh(gate) * up);
    scores scaled by query_pre_attn_scalar^-1/2, soft-capped as
    cap * tanh(s / cap) when attn_logit_softcapping is set, then masked
    (sliding layers: key > query - sliding_window); Gemma 3 norms q and k
    per head before RoPE and its sliding layers use rope_local_base_freq
    unscaled; final logits soft-capped by final_logit_softcapping."""
    arch = cfg["architectures"][0]
    gemma3 = arch == "Gemma3ForCausalLM"
    hidden = cfg["hidden_size"]
    n_heads = cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads") or n_heads
    head_dim = cfg.get("head_dim") or hidden // n_heads
    eps = cfg.get("rms_norm_eps", 1e-6)
    n_layers = cfg["num_hidden_layers"]
    window = cfg.get("sliding_window") or 4096
    types = cfg.get("layer_types")
    if not types:
        every = cfg.get("sliding_window_pattern", 6) if gemma3 else 2
        types = ["sliding_attention" if (i + 1) % every else "full_attention"
                 for i in range(n_layers)]
    attn_cap = cfg.get("attn_logit_softcapping", None if gemma3 else 50.0)
    final_cap = cfg.get("final_logit_softcapping", None if gemma3 else 30.0)
    scaling = cfg["query_pre_attn_scalar"] ** -0.5
    T = len(tokens)

    def norm(x, name):
        return rms_norm(x, 1.0 + w[name], eps)

    dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(
        cfg.get("torch_dtype"), torch.float32)
    normalizer = torch.tensor(hidden ** 0.5, dtype=dtype).to(DT)
    h = w["model.embed_tokens.weight"][torch.tensor(tokens)] * normalizer

    pos = torch.arange(T, dtype=DT)

    def cos_sin(rope_cfg):
        inv_freq, attention = rope_tables(rope_cfg, head_dim, T)
        freqs = torch.outer(pos, inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos() * attention, emb.sin() * attention

    global_rope = cos_sin(cfg)
    local_rope = global_rope
    if gemma3:
        local_rope = cos_sin({"rope_theta": cfg.get("rope_local_base_freq", 10000.0)})
    causal = torch.full((T, T), float("-inf"), dtype=DT).triu(1)
    q_idx = torch.arange(T).unsqueeze(1)
    k_idx = torch.arange(T).unsqueeze(0)
    sliding_mask = causal.masked_fill(k_idx <= q_idx - window, float("-inf"))

    for l in range(n_layers):
        p = "model.layers.%d." % l
        sliding = types[l] == "sliding_attention"
        cos, sin = local_rope if sliding else global_rope
        x = norm(h, p + "input_layernorm.weight")
        q = (x @ w[p + "self_attn.q_proj.weight"].T).view(T, n_heads, head_dim).transpose(0, 1)
        k = (x @ w[p + "self_attn.k_proj.weight"].T).view(T, n_kv, head_dim).transpose(0, 1)
        v = (x @ w[p + "self_attn.v_proj.weight"].T).view(T, n_kv, head_dim).transpose(0, 1)
        if gemma3:
            q = norm(q, p + "self_attn.q_norm.weight")
            k = norm(k, p + "self_attn.k_norm.weight")
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        group = n_heads // n_kv
        k = k.repeat_interleave(group, dim=0)
        v = v.repeat_interleave(group, dim=0)
        scores = (q @ k.transpose(1, 2)) * scaling
        if attn_cap:
            scores = torch.tanh(scores / attn_cap) * attn_cap
        scores = scores + (sliding_mask if sliding else causal)
        att = torch.softmax(scores, dim=-1) @ v
        att = att.transpose(0, 1).reshape(T, n_heads * head_dim)
        att = att @ w[p + "self_attn.o_proj.weight"].T
        h = h + norm(att, p + "post_attention_layernorm.weight")
        x = norm(h, p + "pre_feedforward_layernorm.weight")
        y = (gelu_tanh(x @ w[p + "mlp.gate_proj.weight"].T)
             * (x @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
        h = h + norm(y, p + "post_feedforward_layernorm.weight")

    h = norm(h, "model.norm.weight")
    head = w["model.embed_tokens.weight"]
    if not cfg.get("tie_word_embeddings", True):
        head = w["lm_head.weight"]
    logits = h @ head.T
    if final_cap:
        logits = torch.tanh(logits / final_cap) * final_cap
    return torch.log_softmax(logits, dim=-1)


def forward(cfg, w, tokens, rope_len=None):
    arch = cfg["architectures"][0]
    if arch in ("Gemma2ForCausalLM", "Gemma3ForCausalLM"):
        return gemma_forward(cfg, w, tokens)
    hidden = cfg["hidden_size"]
    n_heads = cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads") or n_heads
    head_dim = cfg.get("head_dim") or hidden // n_heads
    eps = cfg.get("rms_norm_eps", 1e-6)
    qkv_bias = (arch == "Qwen2ForCausalLM" or cfg.get("attention_bias", False)
                or (arch == "Qwen2MoeForCausalLM" and cfg.get("qkv_bias", True)))
    qk_norm = arch in ("Qwen3ForCausalLM", "Qwen3MoeForCausalLM")
    fused = arch == "Phi3ForCausalLM"
    T = len(tokens)

    h = w["model.embed_tokens.weight"][torch.tensor(tokens)]
    pos = torch.arange(T, dtype=DT)
    inv_freq, attention = rope_tables(cfg, head_dim, rope_len or T)
    rot = 2 * inv_freq.shape[0]  # rotated dimensions of each head
    freqs = torch.outer(pos, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos() * attention, emb.sin() * attention  # [T, rot]
    mask = torch.full((T, T), float("-inf"), dtype=DT).triu(1)
    window = (cfg.get("sliding_window") if arch in (
        "Phi3ForCausalLM", "MistralForCausalLM", "MixtralForCausalLM") else None)
    # Qwen2 / Qwen3 (Qwen2Config, Qwen3Config): the window exists only with
    # use_sliding_window (default 4096 when the key is absent) and covers the
    # layers that layer_types calls sliding_attention, which by default are
    # those numbered >= max_window_layers (default 28).
    slides = [window is not None] * cfg["num_hidden_layers"]
    if arch in ("Qwen2ForCausalLM", "Qwen3ForCausalLM"):
        window = cfg.get("sliding_window", 4096) if cfg.get("use_sliding_window") else None
        types = cfg.get("layer_types") or [
            "sliding_attention" if window is not None and i >= cfg.get("max_window_layers", 28)
            else "full_attention" for i in range(cfg["num_hidden_layers"])]
        slides = [t == "sliding_attention" and window is not None for t in types]
    window_mask = mask
    if window:
        # The window as transformers masks it: key index > query - window.
        q_idx = torch.arange(T).unsqueeze(1)
        k_idx = torch.arange(T).unsqueeze(0)
        window_mask = mask.masked_fill(k_idx <= q_idx - window, float("-inf"))

    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % l
        x = rms_norm(h, w[p + "input_layernorm.weight"], eps)
        if fused:
            # Phi-3: one projection, q then k then v along the output.
            qkv = x @ w[p + "self_attn.qkv_proj.weight"].T
            q = qkv[:, :n_heads * head_dim]
            k = qkv[:, n_heads * head_dim:(n_heads + n_kv) * head_dim]
            v = qkv[:, (n_heads + n_kv) * head_dim:]
        else:
            q = x @ w[p + "self_attn.q_proj.weight"].T
            k = x @ w[p + "self_attn.k_proj.weight"].T
            v = x @ w[p + "self_attn.v_proj.weight"].T
        if qkv_bias:
            q = q + w[p + "self_attn.q_proj.bias"]
            k = k + w[p + "self_attn.k_proj.bias"]
            v = v + w[p + "self_attn.v_proj.bias"]
        q = q.view(T, n_heads, head_dim).transpose(0, 1)  # [H, T, D]
        k = k.view(T, n_kv, head_dim).transpose(0, 1)
        v = v.view(T, n_kv, head_dim).transpose(0, 1)
        if qk_norm:
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q = torch.cat((q[..., :rot] * cos + rotate_half(q[..., :rot]) * sin, q[..., rot:]), dim=-1)
        k = torch.cat((k[..., :rot] * cos + rotate_half(k[..., :rot]) * sin, k[..., rot:]), dim=-1)
        group = n_heads // n_kv
        k = k.repeat_interleave(group, dim=0)
        v = v.repeat_interleave(group, dim=0)
        scores = (q @ k.transpose(1, 2)) / math.sqrt(head_dim)
        scores = scores + (window_mask if slides[l] else mask)
        att = torch.softmax(scores, dim=-1) @ v  # [H, T, D]
        att = att.transpose(0, 1).reshape(T, n_heads * head_dim)
        h = h + att @ w[p + "self_attn.o_proj.weight"].T
        x = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
        if is_sparse_layer(cfg, l):
            h = h + sparse_moe_block(cfg, w, p, x)
            continue
        if fused:
            # Phi-3: gate_up_proj's output is the gate, then the up half.
            g, u = (x @ w[p + "mlp.gate_up_proj.weight"].T).chunk(2, dim=-1)
        else:
            g = x @ w[p + "mlp.gate_proj.weight"].T
            u = x @ w[p + "mlp.up_proj.weight"].T
        h = h + (torch.nn.functional.silu(g) * u) @ w[p + "mlp.down_proj.weight"].T

    h = rms_norm(h, w["model.norm.weight"], eps)
    head = w.get("lm_head.weight")
    if head is None:
        head = w["model.embed_tokens.weight"]
    return torch.log_softmax(h @ head.T, dim=-1)  # [T, V]


def is_sparse_layer(cfg, l):
    """Which decoder layers hold a sparse MoE block instead of the MLP.

    MixtralDecoderLayer: every layer. Qwen2MoeDecoderLayer /
    Qwen3MoeDecoderLayer: layers not in mlp_only_layers with
    (l + 1) % decoder_sparse_step == 0, when num_experts > 0."""
    arch = cfg["architectures"][0]
    if arch == "MixtralForCausalLM":
        return True
    if arch in ("Qwen2MoeForCausalLM", "Qwen3MoeForCausalLM"):
        return (l not in (cfg.get("mlp_only_layers") or [])
                and cfg["num_experts"] > 0
                and (l + 1) % cfg.get("decoder_sparse_step", 1) == 0)
    return False


def swiglu(x, gate, up, down):
    return (torch.nn.functional.silu(x @ gate.T) * (x @ up.T)) @ down.T


def sparse_moe_block(cfg, w, p, x):
    """MixtralSparseMoeBlock / Qwen2MoeSparseMoeBlock / Qwen3MoeSparseMoeBlock.

    router logits = x @ gate^T; probabilities = softmax over all experts;
    keep the top num_experts_per_tok; Mixtral always divides them by their
    sum, Qwen only when norm_topk_prob; output = sum of the chosen experts'
    SwiGLU outputs times their weight. Qwen2-MoE adds the shared expert times
    sigmoid(shared_expert_gate(x))."""
    arch = cfg["architectures"][0]
    mixtral = arch == "MixtralForCausalLM"
    block = p + ("block_sparse_moe." if mixtral else "mlp.")
    names = ("w1", "w3", "w2") if mixtral else ("gate_proj", "up_proj", "down_proj")
    k = cfg["num_experts_per_tok"]
    probs = torch.softmax(x @ w[block + "gate.weight"].T, dim=-1)
    top_w, top_i = torch.topk(probs, k, dim=-1)
    if mixtral or cfg.get("norm_topk_prob", False):
        top_w = top_w / top_w.sum(dim=-1, keepdim=True)
    out = torch.zeros_like(x)
    for t in range(x.shape[0]):
        for j in range(k):
            e = int(top_i[t, j])
            ep = block + "experts.%d." % e
            y = swiglu(x[t:t + 1], *[w[ep + n + ".weight"] for n in names])
            out[t] += top_w[t, j] * y[0]
    if arch == "Qwen2MoeForCausalLM":
        sp = block + "shared_expert."
        shared = swiglu(x, w[sp + "gate_proj.weight"], w[sp + "up_proj.weight"],
                        w[sp + "down_proj.weight"])
        gate = torch.sigmoid(x @ w[block + "shared_expert_gate.weight"].T)
        out = out + gate * shared
    return out


AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]


def awq_unpack(packed):
    """int32 words [rows, out / 8] -> 4-bit values [rows, out] in column order."""
    rows, words = packed.shape
    out = torch.zeros((rows, words * 8), dtype=torch.int64)
    for i in range(8):
        nibble = torch.bitwise_and(torch.bitwise_right_shift(packed, 4 * i), 15)
        out[:, AWQ_ORDER[i]::8] = nibble
    return out


def dequantize_awq(w, group_size):
    """Replaces every P.qweight / P.qzeros / P.scales triple by P.weight."""
    for key in [k for k in w if k.endswith(".qweight")]:
        prefix = key[:-len(".qweight")]
        q = awq_unpack(w.pop(key))  # [in, out]
        z = awq_unpack(w.pop(prefix + ".qzeros")).repeat_interleave(group_size, dim=0)
        s = w.pop(prefix + ".scales").repeat_interleave(group_size, dim=0)
        w[prefix + ".weight"] = ((q - z).to(DT) * s).T.contiguous()
    return w


def main():
    req = json.load(sys.stdin)
    with open(os.path.join(req["model"], "config.json")) as f:
        cfg = json.load(f)
    w = load_weights(req["model"])
    quant = cfg.get("quantization_config") or {}
    if quant.get("quant_method") == "awq":
        w = dequantize_awq(w, quant.get("group_size") or quant.get("q_group_size"))
    next_lp, last_lp, greedy = [], [], []
    with torch.no_grad():
        for tokens in req["prompts"]:
            lp = forward(cfg, w, tokens)
            next_lp.append([lp[i, tokens[i + 1]].item() for i in range(len(tokens) - 1)])
            last_lp.append(lp[-1].tolist())
            # Greedy continuation, recomputed whole at each step; the
            # length-dependent RoPE types keep the prompt's frequencies
            # (evald's documented rule, see runners/native/model/rope.h).
            seq = list(tokens)
            for _ in range(req.get("greedy", 0)):
                nxt = int(forward(cfg, w, seq, rope_len=len(tokens))[-1].argmax())
                seq.append(nxt)
            greedy.append(seq[len(tokens):])
    result = {"next_logprobs": next_lp, "last_logprobs": last_lp}
    if req.get("greedy"):
        result["greedy"] = greedy
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
