#!/usr/bin/python3
"""PyTorch's forward of the CLIP ViT image encoder on the encoder bench
shapes, for comparison with tokenclip-bench on the same machine. Run with
Debian's python3 (torch):

    /usr/bin/python3 tools/bench/torch_bench_encoder.py [--reps N] [--threads T]
        [--ours FILE | --bench build/tools/tokenclip-bench] [FILTER...]

The model is the architecture of tests/torch/clip_fixtures.py's forward
(conv patch embedding, class token, positional embedding, ln_pre, residual
blocks with fused q/k/v, QuickGELU MLP, ln_post, projection) in fp32 with
random weights, timed under torch.no_grad(); attention is computed as
torch.nn.functional.multi_head_attention_forward does it (per-head views of
the fused qkv, bmm, softmax, bmm). --ours takes the output of
`tokenclip-bench encoder_`, --bench runs that command first (so both times
come from the same run), and columns give our time over torch's (below 1:
we are faster), from the wall-clock medians and from the CPU-time medians
(process CPU time per frame, both sides: the steadier figure on a shared
machine, where the wall clock mostly measures the neighbours).
Cases and flop as in tools/bench/bench_encoder.c; keep the two in step."""
import argparse
import subprocess

import torch
import torch.nn.functional as F

from torch_bench_common import bench_rows, median, time_ms

# (what, width, layers, patch, image, embed) -- the cases of bench_encoder.c
CASES = [
    ("ViT-B/16@224", 768, 12, 16, 224, 512),
    ("ViT-L/14@336", 1024, 24, 14, 336, 768),
]


def flop(W, L, p, S, E):
    """Matrix-product flop of one frame, as bench_encoder.c counts them."""
    n = (S // p) ** 2
    t = 1 + n
    return 2.0 * n * W * 3 * p * p + L * (2.0 * t * W * 12 * W + 4.0 * t * t * W) + 2.0 * t * W * E


def make_model(W, L, p, S, E, g):
    def u(*shape, a=1.0, centre=0.0):
        return centre + (torch.rand(*shape, generator=g) * 2 - 1) * a

    aw, am = 3 ** 0.5 / W ** 0.5, 3 ** 0.5 / (4 * W) ** 0.5
    m = {"conv1": u(W, 3, p, p, a=3 ** 0.5 / (3 * p * p) ** 0.5), "cls": u(W, a=0.5),
         "pos": u(1 + (S // p) ** 2, W, a=0.5), "ln_pre": (u(W, a=0.1, centre=1), u(W, a=0.1)),
         "ln_post": (u(W, a=0.1, centre=1), u(W, a=0.1)), "proj": u(E, W, a=aw), "blocks": []}
    for _ in range(L):
        m["blocks"].append(dict(ln_1=(u(W, a=0.1, centre=1), u(W, a=0.1)), qkv=(u(3 * W, W, a=aw), u(3 * W, a=0.1)),
                                out=(u(W, W, a=aw), u(W, a=0.1)), ln_2=(u(W, a=0.1, centre=1), u(W, a=0.1)),
                                fc=(u(4 * W, W, a=aw), u(4 * W, a=0.1)), c_proj=(u(W, 4 * W, a=am), u(W, a=0.1))))
    return m


def forward(m, x, W, p):
    heads, d = W // 64, 64
    x = F.conv2d(x[None], m["conv1"], stride=p).flatten(2)[0].T
    x = torch.cat([m["cls"][None], x]) + m["pos"]
    x = F.layer_norm(x, (W,), *m["ln_pre"])
    n = x.shape[0]
    for b in m["blocks"]:
        qkv = F.linear(F.layer_norm(x, (W,), *b["ln_1"]), *b["qkv"])
        q, k, v = (qkv[:, i * W:(i + 1) * W].reshape(n, heads, d).transpose(0, 1) for i in range(3))
        a = torch.bmm(torch.softmax(torch.bmm(q * d ** -0.5, k.transpose(1, 2)), dim=-1), v)
        x = x + F.linear(a.transpose(0, 1).reshape(n, W), *b["out"])
        h = F.linear(F.layer_norm(x, (W,), *b["ln_2"]), *b["fc"])
        x = x + F.linear(h * torch.sigmoid(1.702 * h), *b["c_proj"])
    return F.layer_norm(x, (W,), *m["ln_post"]) @ m["proj"].T


def to_device(m, device):
    if isinstance(m, torch.Tensor):
        return m.to(device)
    if isinstance(m, dict):
        return {k: to_device(v, device) for k, v in m.items()}
    if isinstance(m, (list, tuple)):
        return type(m)(to_device(v, device) for v in m)
    return m


def time_case(W, L, p, S, E, reps, device="cpu"):
    g = torch.Generator().manual_seed(0)
    m = to_device(make_model(W, L, p, S, E, g), device)
    x = (torch.rand(3, S, S, generator=g) * 4 - 2).to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    ms, cpu = time_ms(lambda: forward(m, x, W, p), reps, sync)
    return median(ms), min(ms), median(cpu)


def read_ours(lines):
    """what -> {kernel: (ms, cpu ms)} from tokenclip-bench encoder_'s output."""
    ours = {}
    for kernel, _, what, ms, cpu in bench_rows(lines):
        if kernel.startswith("encoder"):
            ours.setdefault(what, {})[kernel] = (ms, cpu)
    return ours


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2, the cores lavapipe uses)")
    ap.add_argument("--ours", help="output of tokenclip-bench encoder_ to compare with")
    ap.add_argument("--bench", help="tokenclip-bench to run first (same filters and --reps)")
    ap.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda, fp32 either way")
    ap.add_argument("filters", nargs="*")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ours = {}
    if a.bench:
        out = subprocess.run([a.bench, "--reps", str(a.reps), *(a.filters or ["encoder_"])], capture_output=True,
                             text=True, check=True).stdout
        print(out, end="")
        ours = read_ours(out.splitlines())
    elif a.ours:
        with open(a.ours) as f:
            ours = read_ours(f)
    print(f"# torch {torch.__version__} on {a.device}, {torch.get_num_threads()} threads, fp32, median of {a.reps}")
    header = f"{'# model':<14} {'shape':<8} {'ms':>10} {'best ms':>10} {'GFLOP/s':>9} {'cpu ms':>10}"
    if ours:
        header += "".join(f" {k + '/torch':>11} {'(cpu)':>8}" for k in ("f32", "f16"))
    print(header)
    for what, W, L, p, S, E in CASES:
        if a.filters and not any(f in f"encoder_f32 encoder_f16 {S}/{p} {what}" for f in a.filters):
            continue
        ms, best, cpu = time_case(W, L, p, S, E, a.reps, a.device)
        line = (f"{what:<14} {f'{S}/{p}':<8} {ms:>10.1f} {best:>10.1f} {flop(W, L, p, S, E) / (ms * 1e6):>9.2f}"
                f" {cpu:>10.1f}")
        for kernel in ("encoder_f32", "encoder_f16") if ours else ():
            o = ours.get(what, {}).get(kernel)
            line += f" {o[0] / ms:>11.2f} {o[1] / cpu:>8.2f}" if o else f" {'-':>11} {'-':>8}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
