"""tests/ref layer norm, softmax, activations and attention against PyTorch.

torch runs in float64 on the same float32 inputs, so it is the exact answer
to fp32 output rounding; the references keep their statistics and sums in
double, so the tolerances are a few fp32 ulp of the outputs (stated per
check). Attention is written per head as softmax(q k^T * scale) v (torch 1.13
has no F.scaled_dot_product_attention) and also run through
torch.nn.MultiheadAttention with identity in/out projections, which is the
same core as used by OpenAI CLIP's ResidualAttentionBlock."""
import ctypes
import math

import numpy as np
import torch
import torch.nn.functional as F

import tc_ctypes as t

lib = t.lib()
SZ = ctypes.c_size_t
lib.tc_ref_layernorm.argtypes = [t.F32P, t.F32P, t.F32P, t.F32P, SZ, SZ, ctypes.c_float]
lib.tc_ref_softmax.argtypes = [t.F32P, t.F32P, SZ, SZ, ctypes.c_float]
lib.tc_ref_activation.argtypes = [t.F32P, t.F32P, SZ, ctypes.c_int]
lib.tc_ref_attention.argtypes = [t.F32P, SZ, t.F32P, SZ, t.F32P, SZ, t.F32P, SZ, SZ, SZ, ctypes.c_float, ctypes.c_int]
for f in (lib.tc_ref_layernorm, lib.tc_ref_softmax, lib.tc_ref_activation, lib.tc_ref_attention):
    f.restype = None

rng = np.random.default_rng(5)
d64 = lambda a: torch.from_numpy(a).double()  # noqa: E731

# Layer norm: offset inputs (the mean cancels), eps as in CLIP (1e-5); |y| <= ~6.
for rows, cols in ((1, 1), (3, 7), (197, 768), (50, 1024), (9, 1031)):
    x = t.rand(rng, rows, cols, lo=3, hi=5)
    g, b = t.rand(rng, cols, lo=-2, hi=2), t.rand(rng, cols)
    y = np.empty_like(x)
    lib.tc_ref_layernorm(t.fptr(x), t.fptr(g), t.fptr(b), t.fptr(y), rows, cols, 1e-5)
    want = F.layer_norm(d64(x), (cols,), d64(g), d64(b), eps=1e-5).numpy()
    t.close(f"ref layernorm {rows}x{cols} vs torch", y, want, 1e-6, 2e-7)

# Softmax of scale * x, rows of probabilities over e^40.
for rows, cols, scale in ((1, 1, 1.0), (7, 3, 1.0), (60, 197, 0.125), (9, 1031, -0.5), (12, 1370, 1.0)):
    x = t.rand(rng, rows, cols, lo=-20 / abs(scale), hi=20 / abs(scale))
    y = np.empty_like(x)
    lib.tc_ref_softmax(t.fptr(x), t.fptr(y), rows, cols, scale)
    want = torch.softmax(np.float32(scale) * d64(x), dim=-1).numpy()
    t.close(f"ref softmax {rows}x{cols} scale {scale} vs torch", y, want, 1e-12, 2e-7)

# Activations: tc_act_f32 is fp32 (expf, erff), so GELU keeps only the absolute
# precision of 1 + erff(z) for z << 0: 0.5 |x| * 2^-24 plus erff's ulp, <= 4e-7
# on [-10, 10]. QuickGELU's expf(-1.702 x) rounds 1.702 x, a relative error of
# |1.702 x| * 2^-24 in the result: rtol 2e-6 on [-10, 10], 8e-6 out to +-60.
for lo, hi, n, q_rtol in ((-10, 10, 20001, 2e-6), (-60, 60, 999, 8e-6)):
    x = np.linspace(lo, hi, n, dtype=np.float32)
    for act, name, fn, atol, rtol in ((1, "quick_gelu", lambda v: v * torch.sigmoid(1.702 * v), 1e-30, q_rtol),
                                      (2, "gelu", lambda v: F.gelu(v, approximate="none"), 4e-7 * hi / 10, 2e-7),
                                      (0, "none", lambda v: v, 0, 0)):
        y = np.empty_like(x)
        lib.tc_ref_activation(t.fptr(x), t.fptr(y), x.size, act)
        t.close(f"ref activation {name} on [{lo}, {hi}] vs torch", y, fn(d64(x)).numpy(), atol, rtol)


def attention_torch(q, k, v, heads, scale, causal):
    """Per head: softmax(q_h k_h^T * scale) v_h, float64; inputs [tokens, heads*hd]."""
    n, width = q.shape
    hd = width // heads
    out = torch.empty(n, width, dtype=torch.float64)
    mask = torch.triu(torch.ones(n, n, dtype=torch.bool), 1) if causal else None
    for h in range(heads):
        cols = slice(h * hd, (h + 1) * hd)
        s = (d64(q[:, cols]) @ d64(k[:, cols]).T) * scale
        if mask is not None:
            s = s.masked_fill(mask, float("-inf"))
        out[:, cols] = torch.softmax(s, dim=-1) @ d64(v[:, cols])
    return out.numpy()


def attention_ref(qkv, offs, heads, hd, scale, causal):
    """tc_ref_attention on column slices of one [tokens, stride] matrix."""
    n, stride = qkv.shape
    out = np.empty((n, heads * hd), np.float32)
    base = qkv.ctypes.data
    ptr = lambda off: ctypes.cast(base + 4 * off, t.F32P)  # noqa: E731
    lib.tc_ref_attention(ptr(offs[0]), stride, ptr(offs[1]), stride, ptr(offs[2]), stride, t.fptr(out), n, heads, hd,
                         scale, causal)
    return out


# Outputs are convex combinations of values in [-amp, amp]; both sides are
# exact to fp32 rounding of the output: atol 2e-7 * amp, rtol 2e-7.
for name, n, heads, hd, causal, amp, vv in (("tiny", 1, 1, 4, 0, 1.0, False),
                                            ("awkward", 33, 3, 20, 0, 3.0, False),
                                            ("awkward causal", 37, 2, 36, 1, 3.0, False),
                                            ("ViT-B/16@224", 197, 12, 64, 0, 1.0, False),
                                            ("text encoder", 77, 8, 64, 1, 1.0, False),
                                            ("value-value", 257, 4, 64, 0, 1.0, True)):
    w = heads * hd
    qkv = t.rand(rng, n, 3 * w, lo=-amp, hi=amp)
    offs = (2 * w, 2 * w, 2 * w) if vv else (0, w, 2 * w)
    scale = np.float32(1 / math.sqrt(hd))
    got = attention_ref(qkv, offs, heads, hd, scale, causal)
    q, k, v = (np.ascontiguousarray(qkv[:, o:o + w]) for o in offs)
    t.close(f"ref attention {name} ({n} tokens, {heads}x{hd}{', causal' if causal else ''}) vs torch", got,
            attention_torch(q, k, v, heads, float(scale), causal), 2e-7 * amp, 2e-7)

# The same core through nn.MultiheadAttention: identity in_proj (q, k, v taken
# as they are) and identity out_proj, no biases; its scale is 1/sqrt(head_dim).
n, heads, hd = 50, 4, 16
w = heads * hd
mha = torch.nn.MultiheadAttention(w, heads, bias=True, dtype=torch.float64)
with torch.no_grad():
    mha.in_proj_weight.copy_(torch.cat([torch.eye(w, dtype=torch.float64)] * 3))
    mha.in_proj_bias.zero_()
    mha.out_proj.weight.copy_(torch.eye(w, dtype=torch.float64))
    mha.out_proj.bias.zero_()
for causal in (0, 1):
    qkv = t.rand(rng, n, 3 * w)
    q, k, v = (d64(np.ascontiguousarray(qkv[:, o:o + w])).unsqueeze(1) for o in (0, w, 2 * w))  # [L, batch 1, E]
    mask = torch.triu(torch.full((n, n), float("-inf"), dtype=torch.float64), 1) if causal else None
    want, _ = mha(q, k, v, need_weights=False, attn_mask=mask)
    got = attention_ref(qkv, (0, w, 2 * w), heads, hd, np.float32(1 / math.sqrt(hd)), causal)
    t.close(f"ref attention vs nn.MultiheadAttention ({n} tokens, {heads}x{hd}{', causal' if causal else ''})", got,
            want.squeeze(1).detach().numpy(), 2e-7, 2e-7)

t.finish()
