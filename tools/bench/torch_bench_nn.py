#!/usr/bin/python3
"""PyTorch on the layer norm, softmax and attention bench shapes, for
comparison with tokenclip-bench on the same machine. Run with Debian's
python3 (torch):

    /usr/bin/python3 tools/bench/torch_bench_nn.py [--reps N] [--threads T] [--ours FILE] [FILTER...]

--ours takes the output of `tokenclip-bench layernorm softmax attention`
and adds a column with our time over torch's (below 1: we are faster).
Cases and flop conventions as in tools/bench/bench_nn.c; keep the two lists
in step. Attention is timed as torch.nn.functional.multi_head_attention_forward
computes its core: per-head views of the fused qkv, q * scale, bmm, softmax,
bmm, and the heads put back side by side."""
import argparse

import torch
import torch.nn.functional as F

from torch_bench_common import bench_rows, median, time_ms

# (kernel, shape, what, params) -- the cases of bench_nn.c
CASES = [
    ("layernorm", "ViT-B/16 ln_1", (197, 768)),
    ("layernorm", "ViT-L/14@336 ln_1", (577, 1024)),
    ("layernorm", "ViT-L/14@518 ln_1", (1370, 1024)),
    ("softmax", "ViT-B/16 scores", (12, 197)),
    ("softmax", "ViT-L/14@336 scores", (16, 577)),
    ("softmax", "ViT-L/14@518 scores", (16, 1370)),
    ("attention", "ViT-B/16", (197, 12, False)),
    ("attention", "ViT-L/14@336", (577, 16, False)),
    ("attention", "ViT-L/14@518", (1370, 16, False)),
    ("attention", "text encoder, causal", (77, 8, True)),
]


def make(kernel, p, g):
    """(shape string, flop, function to time) for one case."""
    if kernel == "layernorm":
        rows, cols = p
        x = torch.rand(rows, cols, generator=g) * 4 - 2
        w, b = torch.rand(cols, generator=g) + 0.5, torch.rand(cols, generator=g) * 0.2 - 0.1
        return f"{rows}x{cols}", 8.0 * rows * cols, lambda: F.layer_norm(x, (cols,), w, b, 1e-5)
    if kernel == "softmax":
        heads, n = p
        x = torch.rand(heads * n, n, generator=g) * 16 - 8
        return f"{heads}*{n}x{n}", 5.0 * heads * n * n, lambda: torch.softmax(x * 0.125, dim=-1)
    n, heads, causal = p
    w, hd = heads * 64, 64
    qkv = torch.rand(n, 3 * w, generator=g) * 2 - 1
    mask = torch.triu(torch.full((n, n), float("-inf")), 1) if causal else None

    def attention():
        q, k, v = (qkv[:, i * w:(i + 1) * w].reshape(n, heads, hd).transpose(0, 1) for i in range(3))
        s = torch.bmm(q * 0.125, k.transpose(1, 2))
        if mask is not None:
            s += mask
        o = torch.bmm(torch.softmax(s, dim=-1), v)
        return o.transpose(0, 1).reshape(n, w)

    return f"{n}x{heads}x{hd}", (2.0 if causal else 4.0) * n * n * hd * heads, attention


def read_ours(path):
    """(kernel, shape, what) -> ms from tokenclip-bench's output."""
    with open(path) as f:
        return {(kernel, shape, what): ms for kernel, shape, what, ms, _ in bench_rows(f)}


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
    print(f"{'# kernel':<12} {'shape':<16} {'what':<28} {'ms':>10} {'GFLOP/s':>9}" + (f" {'ours/torch':>11}" if ours else ""))
    g = torch.Generator().manual_seed(0)
    for kernel, what, p in CASES:
        shape, flop, fn = make(kernel, p, g)
        if a.filters and not any(f in f"{kernel} {shape} {what}" for f in a.filters):
            continue
        ms = median(time_ms(fn, a.reps)[0])
        line = f"{kernel:<12} {shape:<16} {what:<28} {ms:>10.3f} {flop / (ms * 1e6):>9.2f}"
        if ours:
            o = ours.get((kernel, shape, what))
            line += f" {o / ms:>11.2f}" if o is not None else f" {'-':>11}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
