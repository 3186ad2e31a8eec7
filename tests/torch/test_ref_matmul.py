"""tc_ref_matmul against torch.nn.functional.linear + activation + residual.

Both sides are fp32 in and out; the reference accumulates in double and
torch in fp32 (blocked), so they differ by fp32 rounding of K products:
atol 1e-5 * sqrt(K/64) + rtol 1e-5 covers it with margin."""
import ctypes
import math

import numpy as np
import torch
import torch.nn.functional as F

import tc_ctypes as t

lib = t.lib()
lib.tc_ref_matmul.argtypes = [t.F32P, t.F32P, t.F32P, t.F32P, t.F32P, ctypes.c_size_t, ctypes.c_size_t,
                              ctypes.c_size_t, ctypes.c_int]
lib.tc_ref_matmul.restype = None

ACTS = {  # tc_act values and their definitions in the model code
    0: ("none", lambda v: v),
    1: ("quick_gelu", lambda v: v * torch.sigmoid(1.702 * v)),  # OpenAI CLIP's QuickGELU
    2: ("gelu", lambda v: F.gelu(v, approximate="none")),  # exact erf GELU (open_clip)
}

rng = np.random.default_rng(7)


def check(M, N, K, act, bias, residual, in_place):
    x = t.rand(rng, M, K)
    w = t.rand(rng, N, K, lo=-1 / math.sqrt(K), hi=1 / math.sqrt(K))
    b = t.rand(rng, N, lo=-0.5, hi=0.5) if bias else None
    r = t.rand(rng, M, N) if residual else None
    want = ACTS[act][1](F.linear(torch.from_numpy(x), torch.from_numpy(w), None if b is None else torch.from_numpy(b)))
    if r is not None:
        want = want + torch.from_numpy(r)
    y = r.copy() if in_place else np.empty((M, N), np.float32)
    lib.tc_ref_matmul(t.fptr(x), t.fptr(w), t.fptr(b), t.fptr(y) if in_place else t.fptr(r), t.fptr(y), M, N, K, act)
    what = (f"ref matmul {M}x{N}x{K} (MxNxK) act {ACTS[act][0]}{' bias' if bias else ''}"
            f"{' residual' if residual else ''}{' in place' if in_place else ''} vs torch")
    t.close(what, y, want.numpy(), 1e-5 * math.sqrt(K / 64), 1e-5)


for act in ACTS:
    check(197, 50, 768, act, bias=True, residual=False, in_place=False)
    check(7, 13, 12, act, bias=False, residual=True, in_place=False)
check(1, 773, 590, 0, bias=True, residual=True, in_place=True)
check(64, 3072, 768, 1, bias=True, residual=False, in_place=False)  # ViT-B/16 c_fc, fewer tokens
check(33, 768, 3072, 0, bias=True, residual=True, in_place=True)  # ViT-B/16 c_proj into the stream
# The activations across the range where they bend, one value per row (K = 1,
# w = 1). tc_act_f32's GELU computes 1 + erff(z), which for z << 0 keeps only
# the absolute precision of fp32 near 1: its error is about 0.5 |x| * 2^-24 plus
# erff's ulp, up to 3e-7 on [-8, 8] (torch is exact to fp32 rounding here).
xs = np.linspace(-8, 8, 4001, dtype=np.float32).reshape(-1, 1)
one = np.ones((1, 1), np.float32)
for act in ACTS:
    y = np.empty((4001, 1), np.float32)
    lib.tc_ref_matmul(t.fptr(xs), t.fptr(one), None, None, t.fptr(y), 4001, 1, 1, act)
    t.close(f"ref activation {ACTS[act][0]} on [-8, 8] vs torch", y, ACTS[act][1](torch.from_numpy(xs)).numpy(),
            5e-7, 2e-7)

t.finish()
