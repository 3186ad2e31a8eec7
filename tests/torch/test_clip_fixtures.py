"""tests/torch/clip_fixtures.py checked independently:
- the safetensors files it writes, read back by a separate reader, give the
  same weights in every naming and storage dtype;
- its functional forward equals a module-based ViT built from torch.nn
  (nn.Conv2d, nn.MultiheadAttention, nn.LayerNorm, nn.Linear) loaded with
  the same weights by name, with QuickGELU and GELU, at the pre-training size
  and at other sizes (positional grid resized);
- its value-value stream equals a dual-path formulation in the style of
  AnomalyCLIP's blocks ([v-v stream, ordinary stream] carried through the
  layers from vv-start on);
- the command line writes what its docstring promises, and the tokens it
  writes are the forward of the weights in the file.
(Once, by hand, the forward was also compared with open_clip 3.3.0's
VisionTransformer: see the commit that added this file.)"""
import os
import subprocess
import sys
import tempfile
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import clip_fixtures as cf
import tc_ctypes as t

torch.set_num_threads(2)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    def __init__(self, width, heads, act):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict(c_fc=nn.Linear(width, 4 * width),
                                             gelu=QuickGELU() if act == "quick_gelu" else nn.GELU(),
                                             c_proj=nn.Linear(4 * width, width)))

    def forward(self, x):  # [tokens, 1, width]
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class ViT(nn.Module):
    """Parameter names are open_clip's visual module's."""

    def __init__(self, cfg, act):
        super().__init__()
        W = cfg["width"]
        self.patch = cfg["patch"]
        self.conv1 = nn.Conv2d(3, W, cfg["patch"], cfg["patch"], bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(W))
        self.positional_embedding = nn.Parameter(torch.zeros(1 + cfg["grid"] ** 2, W))
        self.ln_pre = nn.LayerNorm(W)
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.ModuleList(Block(W, cfg["heads"], act) for _ in range(cfg["layers"]))
        self.ln_post = nn.LayerNorm(W)
        self.proj = nn.Parameter(torch.zeros(W, cfg["embed"]))

    def embed(self, image, interp):
        x = self.conv1(image)  # [1, W, gh, gw]
        gh, gw = x.shape[2:]
        x = torch.cat([self.class_embedding[None, None], x.flatten(2).permute(0, 2, 1)], 1)[0]
        pos = self.positional_embedding
        g = int(round((pos.shape[0] - 1) ** 0.5))
        if (gh, gw) != (g, g):
            grid = pos[1:].T.reshape(1, -1, g, g)
            mode = dict(bicubic=dict(mode="bicubic", align_corners=False), bilinear=dict(mode="bilinear"),
                        **{"bicubic-aa": dict(mode="bicubic", align_corners=False, antialias=True)})[interp]
            grid = F.interpolate(grid, size=(gh, gw), **mode)
            pos = torch.cat([pos[:1], grid.reshape(pos.shape[1], gh * gw).T])
        return self.ln_pre(x + pos)[:, None]  # [tokens, 1, W]

    def forward(self, image, interp="bicubic"):
        x = self.embed(image, interp)
        for blk in self.transformer.resblocks:
            x = blk(x)
        x = self.ln_post(x[:, 0]) @ self.proj
        return x  # global token first, then patches


def dual_attention(blk, h, heads):
    """(v-v attention, ordinary attention) of one block on h [tokens, 1, W],
    both through out_proj, computed like AnomalyCLIP's Attention class."""
    n, _, W = h.shape
    a = blk.attn
    qkv = (h[:, 0] @ a.in_proj_weight.T + a.in_proj_bias).reshape(n, 3, heads, W // heads).permute(1, 2, 0, 3)
    q, k, v = qkv[0], qkv[1], qkv[2]
    scale = (W // heads) ** -0.5
    ori = torch.softmax(q @ k.transpose(-2, -1) * scale, -1) @ v
    vv = torch.softmax(v @ v.transpose(-2, -1) * scale, -1) @ v
    out = [a.out_proj(t.transpose(0, 1).reshape(n, W))[:, None] for t in (vv, ori)]
    return out[0], out[1]


def dual_path(model, image, vv_start, heads, interp="bicubic"):
    """Blocks before vv_start run as usual; from it on each block carries
    [x, x_ori]: x_ori the ordinary stream, x += v-v attention of ln_1(x_ori)."""
    x = model.embed(image, interp)
    x_ori = None
    for idx, blk in enumerate(model.transformer.resblocks, 1):
        if idx < vv_start:
            x = blk(x)
            continue
        src = x if x_ori is None else x_ori
        vv, ori = dual_attention(blk, blk.ln_1(src), heads)
        x_ori = src + ori
        x_ori = x_ori + blk.mlp(blk.ln_2(x_ori))
        x = x + vv
    glob = model.ln_post(x_ori[:1, 0]) @ model.proj
    patches = model.ln_post(x[1:, 0]) @ model.proj
    return torch.cat([glob, patches])


def module_for(w, cfg, act):
    model = ViT(cfg, act).double().eval()
    sd = {k: torch.from_numpy(np.asarray(v)).double() for k, v in cf.to_named(w, cfg, "openclip-bare").items()}
    model.load_state_dict(sd, strict=True)
    return model


def image_for(size, seed):
    return np.random.default_rng(seed).standard_normal((3, size, size)).astype(np.float32)


with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
    # 1. files: every naming and dtype reads back to the same (stored) weights
    cfg = cf.full_config("tiny")
    w32 = cf.random_weights(cfg, 4)
    for dtype in cf.DTYPES:
        wq = cf.quantize_all(w32, dtype)
        if dtype != "f32":
            err = max(np.abs(wq[k] - w32[k]).max() / (np.abs(w32[k]).max()) for k in w32)
            bound = 2.0 ** -11 if dtype == "f16" else 2.0 ** -8
            if not 0 < err <= bound:
                print(f"FAIL {dtype} quantisation error {err:g} not in (0, {bound:g}]")
                t.failures += 1
        for naming, prefix in (("hf", ""), ("openclip", ""), ("openclip-bare", ""), ("openclip", "model.")):
            path = os.path.join(tmp, f"{naming}-{dtype}.safetensors")
            cf.save_model(path, wq, cfg, naming, dtype, prefix=prefix, act="gelu", with_text=naming != "openclip-bare",
                          seed=4)
            tensors, meta = cf.read_safetensors(path)
            back = cf.from_named({k: v for k, v in tensors.items() if v.dtype != np.int64}, cfg, naming, prefix)
            same = sorted(back) == sorted(wq) and all(np.array_equal(back[k], wq[k]) for k in wq)
            print(f"{'ok' if same else 'FAIL'} {naming}{'+' + prefix if prefix else ''} {dtype}: "
                  f"{len(tensors)} tensors read back, metadata {meta}")
            t.failures += not same
            if meta.get("hidden_act") != "gelu":
                print("FAIL hidden_act metadata")
                t.failures += 1

    # 2. the functional forward against the module-based one
    for act in cf.ACTS:
        for size, interp in ((32, "bicubic"), (48, "bicubic"), (40, "bilinear"), (48, "bicubic-aa"), (24, "bicubic")):
            img = image_for(size, 1)
            want = module_for(w32, cfg, act)(torch.from_numpy(img).double()[None], interp).numpy()
            got = cf.forward(w32, cfg, img, act=act, pos_interp=interp)
            t.close(f"forward vs nn.MultiheadAttention ViT, {act}, {size} px, {interp}", got, want, 1e-10, 1e-10)
            if act == "quick_gelu" and size == 32:
                f32 = cf.forward(w32, cfg, img, act=act, pos_interp=interp, dtype="float32")
                t.close("float32 forward vs float64", f32, want, 2e-4, 2e-4)

    # 3. the value-value stream against the dual-path formulation
    img = image_for(48, 2)
    plain = cf.forward(w32, cfg, img)
    model = module_for(w32, cfg, "quick_gelu")
    for s in range(1, cfg["layers"] + 1):
        want = dual_path(model, torch.from_numpy(img).double()[None], s, cfg["heads"]).numpy()
        got = cf.forward(w32, cfg, img, vv_start=s)
        t.close(f"v-v stream from layer {s} vs dual path", got, want, 1e-10, 1e-10)
        t.close(f"v-v stream from layer {s}: global token unchanged", got[:1], plain[:1], 1e-12, 1e-12)
        if np.abs(got[1:] - plain[1:]).max() < 1e-3:
            print(f"FAIL v-v stream from layer {s} leaves the patch tokens as they were")
            t.failures += 1
    if np.abs(cf.forward(w32, cfg, img, act="gelu") - plain).max() < 1e-3:
        print("FAIL GELU and QuickGELU give the same tokens")
        t.failures += 1

    # 4. the command line
    out = os.path.join(tmp, "cli")
    cmd = [sys.executable, cf.__file__, "--config", "tiny", "--naming", "hf", "--dtype", "bf16", "--image-size",
           "40", "--vv-start", "2", "--seed", "9", "--act", "gelu", "--pos-interp", "bilinear", "--out", out]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    image, tokens = np.load(os.path.join(out, "input.npy")), np.load(os.path.join(out, "tokens.npy"))
    grid = 40 // cfg["patch"]
    shapes_ok = image.shape == (3, 40, 40) and tokens.shape == (1 + grid * grid, cfg["embed"])
    print(f"{'ok' if shapes_ok else 'FAIL'} CLI files: input {image.shape}, tokens {tokens.shape}")
    t.failures += not shapes_ok
    tensors, meta = cf.read_safetensors(os.path.join(out, "model.safetensors"))
    w = cf.from_named({k: v for k, v in tensors.items() if v.dtype != np.int64}, cfg, "hf")
    again = cf.forward(w, cfg, image, act=meta["hidden_act"], vv_start=2, pos_interp="bilinear")
    t.close("CLI tokens = forward of the weights in the file", tokens, again, 1e-6, 1e-6)

t.finish()
