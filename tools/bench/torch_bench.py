#!/usr/bin/python3
"""PyTorch's F.linear on the matmul bench shapes, for comparison with
tokenclip-bench on the same machine. Run with Debian's python3 (torch):

    /usr/bin/python3 tools/bench/torch_bench.py [--reps N] [--threads T] [--ours FILE] [FILTER...]

--ours takes the output of `tokenclip-bench matmul` and adds a column with
our time over torch's (below 1: we are faster). Shapes are M x K x N
(tokens x in x out) as in tools/bench/bench_matmul.c; keep the two lists
in step. fp16 weights are timed in torch as fp32 (CPU torch 1.13 has no fp16
matmul); bias, activation and residual are applied as the layer would."""
import argparse

import torch
import torch.nn.functional as F

from torch_bench_common import bench_rows, median, time_ms

# (what, M, K, N, bias, residual, act) -- the cases of bench_matmul.c
CASES = [
    ("probe", 197, 768, 3072, False, False, None),
    ("probe", 1024, 1024, 4096, False, False, None),
    ("ViT-B/16 attn.in_proj", 197, 768, 2304, True, False, None),
    ("ViT-B/16 attn.out_proj", 197, 768, 768, True, True, None),
    ("ViT-B/16 mlp.c_fc", 197, 768, 3072, True, False, "quick_gelu"),
    ("ViT-B/16 mlp.c_proj", 197, 3072, 768, True, True, None),
    ("ViT-L/14@336 attn.in_proj", 577, 1024, 3072, True, False, None),
    ("ViT-L/14@336 attn.out_proj", 577, 1024, 1024, True, True, None),
    ("ViT-L/14@336 mlp.c_fc", 577, 1024, 4096, True, False, "quick_gelu"),
    ("ViT-L/14@336 mlp.c_proj", 577, 4096, 1024, True, True, None),
]


def layer(x, w, b, r, act):
    y = F.linear(x, w, b)
    if act == "quick_gelu":
        y = y * torch.sigmoid(1.702 * y)
    if r is not None:
        y += r
    return y


def time_case(M, K, N, bias, residual, act, reps):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(M, K, generator=g) * 2 - 1
    w = (torch.rand(N, K, generator=g) * 2 - 1) / K**0.5
    b = torch.rand(N, generator=g) * 0.2 - 0.1 if bias else None
    r = torch.rand(M, N, generator=g) if residual else None
    ms, _ = time_ms(lambda: layer(x, w, b, r, act), reps)
    return median(ms)


def read_ours(path):
    """(shape, what) -> {kernel: ms} from tokenclip-bench matmul's output."""
    ours = {}
    with open(path) as f:
        for kernel, shape, what, ms, _ in bench_rows(f):
            if kernel.startswith("matmul_"):
                ours.setdefault((shape, what), {})[kernel] = ms
    return ours


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2, the cores lavapipe uses)")
    ap.add_argument("--ours", help="output of tokenclip-bench to compare with")
    ap.add_argument("filters", nargs="*")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ours = read_ours(a.ours) if a.ours else {}
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, median of {a.reps}")
    head = f"{'# kernel':<12} {'shape':<16} {'what':<28} {'ms':>10} {'GFLOP/s':>9}"
    print(head + (f" {'ours f32/torch':>15} {'ours f16/torch':>15}" if ours else ""))
    for what, M, K, N, bias, residual, act in CASES:
        shape = f"{M}x{K}x{N}"
        if a.filters and not any(f in f"torch_linear {shape} {what}" for f in a.filters):
            continue
        ms = time_case(M, K, N, bias, residual, act, a.reps)
        line = f"{'torch_linear':<12} {shape:<16} {what:<28} {ms:>10.3f} {2.0 * M * K * N / (ms * 1e6):>9.2f}"
        if ours:
            o = ours.get((shape, what), {})
            line += "".join(f" {o[k] / ms:>15.2f}" if k in o else f" {'-':>15}" for k in ("matmul_f32", "matmul_f16"))
        print(line, flush=True)


if __name__ == "__main__":
    main()
