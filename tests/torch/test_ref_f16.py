"""The fp16 side of core/ref against PyTorch: tc_ref_round_f16 (what the
tests of the fp16-activation kernels apply where a kernel stores fp16)
against torch's float -> half conversion, bit for bit, and the references
of matmul, layer norm and attention followed by it against torch in float64
on the same fp16-rounded inputs, rounded to half.

The references compute in double, return fp32 and are then rounded to fp16:
two roundings, which can differ from torch's one (float64 -> half) only
where the fp32 result lies within an fp32 ulp of a tie between two halves,
and then by one fp16 ulp. So the tolerance is 0 plus one fp16 ulp (2^-10
relative at most, 2^-24 near zero) where the fp32 results differ by less
than their own tolerance; the share of elements equal bit for bit is
printed and checked to be above 99%."""
import ctypes
import math

import numpy as np
import torch
import torch.nn.functional as F

import tc_ctypes as t

lib = t.lib()
SZ = ctypes.c_size_t
lib.tc_ref_round_f16.argtypes = [t.F32P, SZ]
lib.tc_ref_matmul.argtypes = [t.F32P, t.F32P, t.F32P, t.F32P, t.F32P, SZ, SZ, SZ, ctypes.c_int]
lib.tc_ref_layernorm.argtypes = [t.F32P, t.F32P, t.F32P, t.F32P, SZ, SZ, ctypes.c_float]
lib.tc_ref_attention.argtypes = [t.F32P, SZ, t.F32P, SZ, t.F32P, SZ, t.F32P, SZ, SZ, SZ, ctypes.c_float, ctypes.c_int]
for f in (lib.tc_ref_round_f16, lib.tc_ref_matmul, lib.tc_ref_layernorm, lib.tc_ref_attention):
    f.restype = None

rng = np.random.default_rng(11)
ULP16_REL, ULP16_MIN = 2.0 ** -10, 2.0 ** -24


def round_f16(a):
    a = np.ascontiguousarray(a, dtype=np.float32).copy()
    lib.tc_ref_round_f16(t.fptr(a), a.size)
    return a


def half(a):
    """torch's rounding of float64 (or float32) values to half, as float64."""
    return torch.as_tensor(a).half().double().numpy()


# 1. The rounding itself, bit for bit: every magnitude from below the
# smallest subnormal half to beyond the largest half, exact ties (to even),
# signed zeros, infinities and NaN.
mags = np.exp2(rng.uniform(-27, 17, 200000)) * rng.choice([-1.0, 1.0], 200000)
ties = np.array([1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -24 * 1.5, 2 ** -24 * 2.5, 2 ** -25, 65504.0, 65519.0,
                 65520.0, 1e6, 2 ** -14 * (1 - 2 ** -11), 0.0, -0.0, np.inf, -np.inf, np.nan])
x = np.concatenate([mags, ties, -ties]).astype(np.float32)
got, want = round_f16(x), torch.from_numpy(x).half().float().numpy()
same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))
if same.all():
    print(f"ok ref round_f16 vs torch .half(), bit for bit ({x.size} values)")
else:
    i = np.argmin(same)
    print(f"FAIL ref round_f16 vs torch .half(): {(~same).sum()} of {x.size} differ; first {x[i]!r}: "
          f"got {got[i]!r} want {want[i]!r}")
    t.failures += 1


def close_f16(what, got, want64, fp32_tol):
    """got: a reference's fp32 result rounded to fp16; want64: torch's float64
    result. Equal to half(want64) up to one fp16 ulp where the fp32 result
    is within fp32_tol of want64, and mostly bit for bit."""
    exact = half(want64)
    ok = t.close(what, got, exact, ULP16_MIN + fp32_tol, ULP16_REL)
    share = float(np.mean(got == exact))
    if ok and share < 0.99:
        print(f"FAIL {what}: only {share:.4f} of the elements equal torch's half bit for bit")
        t.failures += 1
    elif ok:
        print(f"   {share:.5f} equal bit for bit")


# 2. Matmul into fp16 (fp16 x and w; bias, activation in fp32 as the kernels).
ACTS = {0: lambda v: v, 1: lambda v: v * torch.sigmoid(1.702 * v), 2: lambda v: F.gelu(v)}
for M, N, K, act in ((197, 64, 768, 1), (33, 130, 590, 2), (7, 2304, 64, 0)):
    x = round_f16(t.rand(rng, M, K))
    w = round_f16(t.rand(rng, N, K, lo=-1 / math.sqrt(K), hi=1 / math.sqrt(K)))
    b = t.rand(rng, N, lo=-0.5, hi=0.5)
    y = np.empty((M, N), np.float32)
    lib.tc_ref_matmul(t.fptr(x), t.fptr(w), t.fptr(b), None, t.fptr(y), M, N, K, act)
    want = ACTS[act](F.linear(torch.from_numpy(x).double(), torch.from_numpy(w).double(),
                              torch.from_numpy(b).double())).numpy()
    close_f16(f"ref matmul {M}x{N}x{K} act {act}, fp16 x and w, rounded to fp16, vs torch", round_f16(y), want,
              1e-5 * math.sqrt(K / 64))

# 3. Layer norm of fp32 x into fp16.
for rows, cols in ((197, 768), (50, 1024), (3, 2)):
    x = t.rand(rng, rows, cols, lo=3, hi=5)
    g, b = t.rand(rng, cols, lo=-2, hi=2), t.rand(rng, cols)
    y = np.empty_like(x)
    lib.tc_ref_layernorm(t.fptr(x), t.fptr(g), t.fptr(b), t.fptr(y), rows, cols, 1e-5)
    want = F.layer_norm(torch.from_numpy(x).double(), (cols,), torch.from_numpy(g).double(),
                        torch.from_numpy(b).double(), eps=1e-5).numpy()
    close_f16(f"ref layernorm {rows}x{cols} rounded to fp16 vs torch", round_f16(y), want, 1e-6)

# 4. Attention on fp16 q, k, v into fp16 (per head softmax(q k^T * scale) v).
for n, heads in ((197, 4), (77, 2)):
    hd, w = 64, heads * 64
    qkv = round_f16(t.rand(rng, n, 3 * w))
    out = np.empty((n, w), np.float32)
    base = qkv.ctypes.data
    ptr = lambda off: ctypes.cast(base + 4 * off, t.F32P)  # noqa: E731
    scale = np.float32(1 / math.sqrt(hd))
    lib.tc_ref_attention(ptr(0), 3 * w, ptr(w), 3 * w, ptr(2 * w), 3 * w, t.fptr(out), n, heads, hd, scale, 0)
    q, k, v = (torch.from_numpy(qkv[:, i * w:(i + 1) * w]).double().reshape(n, heads, hd).transpose(0, 1)
               for i in range(3))
    want = (torch.softmax(q @ k.transpose(1, 2) * float(scale), dim=-1) @ v).transpose(0, 1).reshape(n, w).numpy()
    close_f16(f"ref attention {n} tokens {heads}x{hd}, fp16 q/k/v, rounded to fp16, vs torch", round_f16(out), want,
              2e-7)

t.finish()
