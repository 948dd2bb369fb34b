#!/usr/bin/python3
# File: tests/runners/native/model/autoawq_reference.py
"""Writes AWQ "gemm" tensors packed the way AutoAWQ packs them, for awq_layout_test.

    /usr/bin/python3 autoawq_reference.py OUT_DIR

Built from AutoAWQ's published layout (awq/modules/linear/gemm.py,
WQLinear_GEMM.from_linear; awq/utils/packing_utils.py, dequantize_gemm), not
from evald's reader:
  * a float weight W [out, in] is quantised per group of `group_size` inputs
    with zero point (AutoAWQ's pseudo_quantize_tensor: scale = (max - min) /
    15, zero = -round(min / scale) clamped to [0, 15]);
  * intweight[in, out] = round((W.T + zero * scale) / scale), clamped;
  * qweight[in, out / 8] int32: packed column c holds, in nibble i (bits
    4i..4i+3), the output column c * 8 + order[i], order = [0, 2, 4, 6, 1, 3,
    5, 7]; qzeros[in / g, out / 8] packs the zeros the same way; scales[in /
    g, out] fp16;
  * the dequantised weight is unpacked the way dequantize_gemm does it
    (shift out the nibbles, undo the order with [0, 4, 1, 5, 2, 6, 3, 7]),
    then (q - z) * s, here in float32 (exact: a 4-bit difference times an
    fp16 scale needs at most 15 significant bits), transposed to [out, in].

OUT_DIR/model.safetensors gets, per projection P, `P.qweight`, `P.qzeros`,
`P.scales` and `P.dequantized` (F32 [out, in]); the safetensors file is
written by hand (the format is an 8-byte header length, a JSON header and the
raw little-endian data), so only torch is needed.
"""
import json
import os
import struct
import sys

import torch

AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]
AWQ_REVERSE_ORDER = [0, 4, 1, 5, 2, 6, 3, 7]

# name, out_features, in_features, group_size: shapes that tell rows from
# columns apart and have several groups and several packed words.
PROJECTIONS = [
    ("proj_square", 64, 64, 32),
    ("proj_wide", 24, 128, 64),
    ("proj_tall", 80, 32, 16),
]


def quantise(w, group_size):
    """AutoAWQ's zero-point quantisation of w [out, in]: scales and zeros [out, in / g]."""
    out_f, in_f = w.shape
    g = w.reshape(-1, group_size)
    max_val = g.amax(dim=1, keepdim=True)
    min_val = g.amin(dim=1, keepdim=True)
    scales = (max_val - min_val).clamp(min=1e-5) / 15
    zeros = (-torch.round(min_val / scales)).clamp_(0, 15)
    return scales.view(out_f, -1), zeros.view(out_f, -1)


def pack(intweight_in_out):
    """Packs int [rows, out] into int32 [rows, out / 8] in AutoAWQ's order."""
    rows, out_f = intweight_in_out.shape
    packed = torch.zeros((rows, out_f // 8), dtype=torch.int64)
    for col in range(out_f // 8):
        for i in range(8):
            packed[:, col] |= intweight_in_out[:, col * 8 + AWQ_ORDER[i]].to(
                torch.int64) << (i * 4)
    # Two's complement into int32, as the int32 tensor holds the bits.
    packed = torch.where(packed >= 2**31, packed - 2**32, packed)
    return packed.to(torch.int32)


def unpack(packed):
    """dequantize_gemm's unpacking: nibbles out, then the order undone."""
    shifts = torch.arange(0, 32, 4)
    vals = torch.bitwise_right_shift(packed[:, :, None], shifts[None, None, :])
    vals = vals.view(packed.shape[0], -1)
    reverse = torch.arange(vals.shape[-1]).view(-1, 8)[:, AWQ_REVERSE_ORDER].view(-1)
    return torch.bitwise_and(vals[:, reverse], 15)


def build(out_f, in_f, group_size, gen):
    w = torch.randn((out_f, in_f), generator=gen, dtype=torch.float32) * 0.05
    scales, zeros = quantise(w, group_size)
    scales_h = scales.to(torch.float16)  # what the checkpoint stores
    # from_linear: scale_zeros = zeros * scales; the scales it divides by are
    # the fp16 ones it stores.
    scale_zeros = zeros * scales
    intweight = []
    for idx in range(in_f):
        intweight.append(torch.round(
            (w[:, idx] + scale_zeros[:, idx // group_size]) /
            scales_h[:, idx // group_size].float()).to(torch.int32)[:, None])
    intweight = torch.cat(intweight, dim=1).clamp(0, 15)  # [out, in]
    intweight = intweight.t().contiguous()  # [in, out]
    zeros_t = zeros.to(torch.int32).t().contiguous()  # [in / g, out]
    qweight = pack(intweight)
    qzeros = pack(zeros_t)
    scales_t = scales_h.t().contiguous()  # [in / g, out]
    # Self-check of the packing against the unpacking.
    assert torch.equal(unpack(qweight), intweight)
    assert torch.equal(unpack(qzeros), zeros_t)
    iw = unpack(qweight)
    iz = unpack(qzeros).repeat_interleave(group_size, dim=0)
    s = scales_t.float().repeat_interleave(group_size, dim=0)
    dequantized = ((iw - iz).float() * s).t().contiguous()  # [out, in]
    return qweight, qzeros, scales_t, dequantized


def write_safetensors(path, tensors):
    dtypes = {torch.int32: "I32", torch.float16: "F16", torch.float32: "F32"}
    header, blobs, offset = {}, [], 0
    for name, t in tensors:
        data = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    gen = torch.Generator().manual_seed(19)
    tensors = []
    for name, out_f, in_f, group_size in PROJECTIONS:
        qweight, qzeros, scales, dequantized = build(out_f, in_f, group_size, gen)
        tensors += [(f"{name}.qweight", qweight), (f"{name}.qzeros", qzeros),
                    (f"{name}.scales", scales), (f"{name}.dequantized", dequantized)]
    os.makedirs(sys.argv[1], exist_ok=True)
    write_safetensors(os.path.join(sys.argv[1], "model.safetensors"), tensors)


if __name__ == "__main__":
    main()
