#!/usr/bin/python3
"""PyTorch's forward of the CLIP ViT image encoder on the encoder bench
shapes, side by side with tokenclip-bench on the same machine and the same
weights. Run with Debian's python3 (torch):

    /usr/bin/python3 tools/bench/torch_bench_encoder.py --bench build/tools/tokenclip-bench
        [--bench OTHER-tokenclip-bench ...] [--rounds R] [--reps N] [--warmup N] [--threads T]
        [--models DIR] [--device cpu|cuda] [--autocast] [--sdpa] [--batch B] [--per-run] [FILTER...]
    /usr/bin/python3 tools/bench/torch_bench_encoder.py --ours FILE [--models DIR] ...

--bench runs `tokenclip-bench --reps N encoder_...` (or the FILTERs) with
TOKENCLIP_BENCH_MODELS=DIR, so that it writes its random models there (or
reuses them), and then times PyTorch on the weights read back from those
files (fp16 on disk, fp32 in both forwards; a case whose input size is not
the model's pre-training size gets random weights of its own). Several
--bench (e.g. a build before and after a change) each get their columns.
--rounds repeats it all R times, alternating ours and torch, and prints each
round's ratios and their median: on a shared machine neighbours come and go,
and a ratio from one round compares runs that saw the same neighbours.
--models keeps the files (default: a temporary directory, removed at the
end). --ours takes the output of a tokenclip-bench run instead (pass the
same --models directory for the same weights; without one torch gets its
own random weights).

Ratios are our time over torch's (below 1: we are faster) for each of our
kernels timed on the same case (encoder_*: the encoder; layers_*: its graph
from the ops, fp32 or fp16 activations), from the wall-clock medians and
from the CPU-time medians (process CPU time per frame, both sides; the
steadier figure when other work shares the cores, as the wall clock then
measures the neighbours). Environment variables reach tokenclip-bench
unchanged (LP_NATIVE_VECTOR_WIDTH, LP_NUM_THREADS, ...).

The model is the architecture of tests/torch/clip_fixtures.py's forward
(conv patch embedding, class token, positional embedding, ln_pre, residual
blocks with fused q/k/v, QuickGELU MLP, ln_post, projection; from layer
vv_start on the value-value stream of DESIGN.md), timed under
torch.no_grad() on a batch of frames (--batch, 1 by default); attention is
computed as torch.nn.functional.multi_head_attention_forward does it
(per-head views of the fused qkv, bmm, softmax, bmm), or with --sdpa by
F.scaled_dot_product_attention (torch 2: what nn.MultiheadAttention's fast
path runs on a GPU). --autocast runs the forward under
torch.autocast(dtype=float16) (CUDA: fp16 matmuls and attention on tensor
cores, layer norms and softmax in fp32): "PyTorch fp16 eager". Cases and
flop as in tools/bench/bench_encoder.c and bench_layers.c; keep them in
step."""
import argparse
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

from torch_bench_common import bench_rows, median, time_ms

# (what, width, layers, patch, input, embed, vv_start, pre-training size) --
# the cases of bench_encoder.c and bench_layers.c
CASES = [
    ("ViT-B/16@224", 768, 12, 16, 224, 512, 0, 224),
    ("ViT-L/14@336", 1024, 24, 14, 336, 768, 0, 336),
    ("ViT-L/14@518 V-V from 6", 1024, 24, 14, 518, 768, 6, 336),
    ("tiny ViT", 256, 2, 16, 64, 128, 2, 64),  # bench_layers.c's check of gpu_run.sh (with --batch 2)
]
OUR_KERNELS = ("encoder_f32", "encoder_f16", "layers_f32", "layers_a16", "layers_f32k", "layers_a16k")


def flop(W, L, p, S, E, vv=0):
    """Matrix-product flop of one frame, as bench_encoder.c and
    bench_layers.c count them."""
    n = (S // p) ** 2
    t = 1 + n
    vv_layers = L + 1 - vv if vv else 0
    return (2.0 * n * W * 3 * p * p + L * (2.0 * t * W * 12 * W + 4.0 * t * t * W) +
            vv_layers * (4.0 * t * t * W + 2.0 * t * W * W) + 2.0 * t * W * E)


def case_name(what, batch):
    """The bench cases' "what" for a batch of frames."""
    return what if batch == 1 else f"{what}, {batch} frames"


def model_file(models, W, L, p, S, E):
    """Where tokenclip-bench keeps the case's model (bench_encoder.c; S the
    pre-training size)."""
    return os.path.join(models, f"encoder-{W}-{L}-{p}-{S}-{E}.safetensors")


def read_safetensors(path):
    """name -> fp32 tensor of a safetensors file (the F16/F32 tensors it has)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        begin, end = t["data_offsets"]
        dtype = {"F16": np.float16, "F32": np.float32}[t["dtype"]]
        a = np.frombuffer(data[begin:end], dtype=dtype).reshape(t["shape"])
        out[name] = torch.from_numpy(a.astype(np.float32))
    return out


def load_model(path, L):
    """The forward's parameters from an open_clip-named file."""
    t = read_safetensors(path)
    v = "visual."

    def ln(name):
        return t[v + name + ".weight"], t[v + name + ".bias"]

    m = {"conv1": t[v + "conv1.weight"], "cls": t[v + "class_embedding"], "pos": t[v + "positional_embedding"],
         "ln_pre": ln("ln_pre"), "ln_post": ln("ln_post"), "proj": t[v + "proj"].T.contiguous(), "blocks": []}
    for i in range(L):
        b = f"transformer.resblocks.{i}."
        m["blocks"].append(dict(
            ln_1=ln(b + "ln_1"), ln_2=ln(b + "ln_2"),
            qkv=(t[v + b + "attn.in_proj_weight"], t[v + b + "attn.in_proj_bias"]),
            out=(t[v + b + "attn.out_proj.weight"], t[v + b + "attn.out_proj.bias"]),
            fc=(t[v + b + "mlp.c_fc.weight"], t[v + b + "mlp.c_fc.bias"]),
            c_proj=(t[v + b + "mlp.c_proj.weight"], t[v + b + "mlp.c_proj.bias"])))
    return m


def random_model(W, L, p, S, E, g):
    """Random weights of the same shapes (when there are no bench files)."""
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


def attention(q, k, v, sdpa):
    """softmax(q kᵀ / sqrt(d)) v on [frames, heads, tokens, d]."""
    if sdpa:
        return F.scaled_dot_product_attention(q, k, v)
    return torch.softmax((q * q.shape[-1] ** -0.5) @ k.transpose(-1, -2), dim=-1) @ v


def forward(m, x, W, p, vv=0, sdpa=False):
    """Tokens [frames, 1 + N, E] of frames x [frames, 3, S, S]: the global
    token from the ordinary stream, patch tokens from the V-V stream when
    vv > 0 (DESIGN.md)."""
    heads, d = W // 64, 64
    B = x.shape[0]
    x = F.conv2d(x, m["conv1"], stride=p).flatten(2).transpose(1, 2)
    x = torch.cat([m["cls"].expand(B, 1, W), x], dim=1) + m["pos"]
    x = F.layer_norm(x, (W,), *m["ln_pre"])
    n = x.shape[1]
    y = None
    split = lambda t: t.reshape(B, n, heads, d).transpose(1, 2)  # noqa: E731
    merge = lambda t: t.transpose(1, 2).reshape(B, n, W)  # noqa: E731
    for i, b in enumerate(m["blocks"]):
        if vv and i + 1 == vv:
            y = x
        qkv = F.linear(F.layer_norm(x, (W,), *b["ln_1"]), *b["qkv"])
        q, k, v = (split(qkv[..., j * W:(j + 1) * W]) for j in range(3))
        x = x + F.linear(merge(attention(q, k, v, sdpa)), *b["out"])
        if y is not None:
            y = y + F.linear(merge(attention(v, v, v, sdpa)), *b["out"])
        h = F.linear(F.layer_norm(x, (W,), *b["ln_2"]), *b["fc"])
        x = x + F.linear(h * torch.sigmoid(1.702 * h), *b["c_proj"])
    out = F.layer_norm(x, (W,), *m["ln_post"]) @ m["proj"].T
    if y is not None:
        out = torch.cat([out[:, :1], F.layer_norm(y[:, 1:], (W,), *m["ln_post"]) @ m["proj"].T], dim=1)
    return out


def to_device(m, device):
    if isinstance(m, torch.Tensor):
        return m.to(device)
    if isinstance(m, dict):
        return {k: to_device(v, device) for k, v in m.items()}
    if isinstance(m, (list, tuple)):
        return type(m)(to_device(v, device) for v in m)
    return m


def time_case(m, W, p, S, vv, reps, device="cpu", autocast=False, sdpa=False, batch=1, warmup=1):
    g = torch.Generator().manual_seed(0)
    m = to_device(m, device)
    x = (torch.rand(batch, 3, S, S, generator=g) * 4 - 2).to(device)
    cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    def run():
        if autocast:
            with torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.float16 if cuda else torch.bfloat16):
                return forward(m, x, W, p, vv, sdpa)
        return forward(m, x, W, p, vv, sdpa)

    ms, cpu = time_ms(run, reps, sync, warmup)
    return median(ms), min(ms), median(cpu), ms


def read_ours(lines):
    """what -> {kernel: (ms, cpu ms)} from tokenclip-bench's encoder_ and
    layers_ rows."""
    ours = {}
    for kernel, _, what, ms, cpu in bench_rows(lines):
        if kernel in OUR_KERNELS:
            ours.setdefault(what, {})[kernel] = (ms, cpu)
    return ours


def run_bench(bench, reps, filters, models):
    env = dict(os.environ, TOKENCLIP_BENCH_MODELS=models)
    out = subprocess.run([bench, "--reps", str(reps), *(filters or ["encoder_"])], capture_output=True, text=True,
                         check=True, env=env).stdout
    print(out, end="", flush=True)
    return read_ours(out.splitlines())


def selected(filters, name, S, p):
    """Whether a case is in the run, as tokenclip-bench matches "name shape what"."""
    return not filters or any(f in f"{k} {S}/{p} {name}" for f in filters for k in OUR_KERNELS)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1, help="ours-then-torch rounds (with --bench)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed torch runs before the timed ones (default 1)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2, the cores lavapipe uses)")
    ap.add_argument("--ours", help="output of tokenclip-bench encoder_ to compare with")
    ap.add_argument("--bench", action="append", help="tokenclip-bench to run first (same filters and --reps); "
                    "may be given several times")
    ap.add_argument("--models", help="directory of the bench's model files (default: a temporary one)")
    ap.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    ap.add_argument("--autocast", action="store_true",
                    help="under torch.autocast: fp16 on cuda (bf16 on cpu); default fp32")
    ap.add_argument("--sdpa", action="store_true", help="attention by F.scaled_dot_product_attention (torch 2)")
    ap.add_argument("--batch", type=int, default=1, help="frames per forward (default 1); times are per forward")
    ap.add_argument("--per-run", action="store_true", help="print every timed torch run")
    ap.add_argument("filters", nargs="*")
    a = ap.parse_args()
    if a.sdpa and not hasattr(F, "scaled_dot_product_attention"):
        ap.error(f"--sdpa: torch {torch.__version__} has no F.scaled_dot_product_attention")
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error("--device cuda: torch sees no CUDA device")
    torch.set_num_threads(a.threads)
    models = a.models or (tempfile.mkdtemp(prefix="tokenclip-models-") if a.bench else None)
    if models:
        os.makedirs(models, exist_ok=True)
    dev = torch.cuda.get_device_name() if a.device.startswith("cuda") else f"cpu, {torch.get_num_threads()} threads"
    precision = ("fp16 autocast" if a.device.startswith("cuda") else "bf16 autocast") if a.autocast else "fp32"
    try:
        rounds = []  # per round: name -> {kernel: (wall ratio, cpu ratio)}
        for r in range(a.rounds if a.bench else 1):
            if a.bench:
                ours = {}
                for i, bench in enumerate(a.bench):
                    print(f"# round {r + 1} of {a.rounds}: ours, {bench}", flush=True)
                    tag = f"#{i + 1} " if len(a.bench) > 1 else ""
                    for name, by_kernel in run_bench(bench, a.reps, a.filters, models).items():
                        for kernel, v in by_kernel.items():
                            ours.setdefault(name, {})[tag + kernel] = v
            elif a.ours:
                with open(a.ours) as f:
                    ours = read_ours(f)
            else:
                ours = {}
            print(f"# torch {torch.__version__} on {a.device} ({dev}), {precision}, attention "
                  f"{'sdpa' if a.sdpa else 'bmm'}, {a.batch} frame(s) per forward, median of {a.reps} after "
                  f"{a.warmup} warm-up, weights: {'the bench files in ' + models if models else 'random'}")
            columns = sorted({k for by_kernel in ours.values() for k in by_kernel})
            header = f"{'# model':<30} {'shape':<8} {'ms':>10} {'best ms':>10} {'GFLOP/s':>9} {'cpu ms':>10}"
            header += "".join(f" {k.replace('encoder_', '') + '/torch':>14} {'(cpu)':>6}" for k in columns)
            print(header)
            ratios = {}
            for what, W, L, p, S, E, vv, pre in CASES:
                name = case_name(what, a.batch)
                if not selected(a.filters, name, S, p):
                    continue
                path = model_file(models, W, L, p, S, E) if models and S == pre else None
                same = path is not None and os.path.exists(path)
                m = load_model(path, L) if same else random_model(W, L, p, S, E, torch.Generator().manual_seed(0))
                ms, best, cpu, runs = time_case(m, W, p, S, vv, a.reps, a.device, a.autocast, a.sdpa, a.batch,
                                                a.warmup)
                del m
                line = (f"{name:<30} {f'{S}/{p}':<8} {ms:>10.3f} {best:>10.3f} "
                        f"{a.batch * flop(W, L, p, S, E, vv) / (ms * 1e6):>9.2f} {cpu:>10.1f}")
                for kernel in columns:
                    o = ours.get(name, {}).get(kernel)
                    if o:
                        ratios.setdefault(name, {})[kernel] = (o[0] / ms, o[1] / cpu)
                        line += f" {o[0] / ms:>14.2f} {o[1] / cpu:>6.2f}"
                    else:
                        line += f" {'-':>14} {'-':>6}"
                print(line + ("" if same or not models else "  (torch: random weights)"), flush=True)
                if a.per_run:
                    print(f"# runs {name}: " + " ".join(f"{v:.3f}" for v in runs))
            rounds.append(ratios)
        if len(rounds) > 1:
            print(f"# ours / torch over {len(rounds)} rounds: wall-clock ratios, CPU-time ratios, and their medians")
            for name in rounds[0]:
                for kernel in rounds[0][name]:
                    w = [rd[name][kernel][0] for rd in rounds if kernel in rd.get(name, {})]
                    c = [rd[name][kernel][1] for rd in rounds if kernel in rd.get(name, {})]
                    print(f"{name:<24} {kernel:<15} wall {' '.join(f'{x:.2f}' for x in w)} (median {median(w):.2f})"
                          f"  cpu {' '.join(f'{x:.2f}' for x in c)} (median {median(c):.2f})")
    finally:
        if models and not a.models:
            shutil.rmtree(models, ignore_errors=True)


if __name__ == "__main__":
    main()
