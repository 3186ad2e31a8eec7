#!/usr/bin/env python3
"""Random CLIP ViT image encoders for the tests, and their PyTorch forward.

(a) random_weights() builds the weights of a CLIP vision tower for a config;
    save_model() writes them as safetensors in Hugging Face naming
    (vision_model.*, visual_projection.weight) or open_clip/OpenAI naming
    (visual.*), stored as F32, F16 or BF16, with a small pure-Python writer
    (numpy + struct + json: the safetensors package is not needed).
(b) forward() is the vision transformer written from the architecture: conv
    patch embedding without bias, class token, positional embedding (its grid
    resized when the input size differs), ln_pre, residual blocks (ln_1,
    multi-head self-attention, ln_2, MLP with QuickGELU or GELU), ln_post,
    projection; with the optional value-value attention stream of DESIGN.md.
    It returns [1 + N, embed]: row 0 the global token, then the patch tokens.
(c) the command line writes a model, an input image and the expected tokens:

    clip_fixtures.py --config tiny --naming hf --dtype f16 --image-size 48 \\
                     --vv-start 2 --seed 0 --out DIR

    DIR/model.safetensors  the weights
    DIR/input.npy          float32 [3, S, S], already CLIP-normalised (random)
    DIR/tokens.npy         float32 [1 + N, embed]: global token, N patch tokens
    DIR/fixture.json       the config and every option used

    --loader-suite DIR --header FILE writes the files of tests/test_clip_vision.c
    (tiny models in every naming and dtype, the expected kernel layouts as .npy,
    and shape-only ViT-B/32, B/16, L/14, L/14-336 files) and a C header that
    lists them.

Only numpy is needed to write weights; torch is imported for the forward.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

# Pre-training shapes of the vision towers (heads = width / 64, MLP = 4 x width).
CONFIGS = {
    "tiny": dict(width=128, layers=3, patch=8, image=32, embed=96),
    "b32": dict(width=768, layers=12, patch=32, image=224, embed=512),
    "b16": dict(width=768, layers=12, patch=16, image=224, embed=512),
    "l14": dict(width=1024, layers=24, patch=14, image=224, embed=768),
    "l14-336": dict(width=1024, layers=24, patch=14, image=336, embed=768),
}

NAMINGS = ("hf", "openclip", "openclip-bare")
DTYPES = ("f32", "f16", "bf16")
ACTS = ("quick_gelu", "gelu")
POS_INTERPS = ("bicubic", "bicubic-aa", "bilinear")

# Roles as libtokenclip's tc_clip_vision names them; per-layer roles end in "." + layer.
GLOBAL_ROLES = ("patch_embed", "class_embed", "pos_embed", "ln_pre_weight", "ln_pre_bias", "ln_post_weight",
                "ln_post_bias", "proj")
LAYER_ROLES = ("ln_1_weight", "ln_1_bias", "qkv_weight", "qkv_bias", "attn_out_weight", "attn_out_bias",
               "ln_2_weight", "ln_2_bias", "mlp_fc_weight", "mlp_fc_bias", "mlp_proj_weight", "mlp_proj_bias")


def full_config(name=None, **overrides):
    cfg = dict(CONFIGS[name or "tiny"])
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    cfg["heads"] = cfg["width"] // 64
    cfg["mlp"] = 4 * cfg["width"]
    cfg["grid"] = cfg["image"] // cfg["patch"]
    if cfg["width"] % 64:
        raise ValueError("width must be a multiple of 64 (CLIP heads are 64 wide)")
    return cfg


# ---------------------------------------------------------------- weights

def random_block_weights(w, cfg, normal, ln):
    """The residual blocks' weights into w (role.N keys), drawn in a fixed
    order from normal(*shape, std) and ln() -> (weight, bias): the same for
    the image and the text tower."""
    W, M = cfg["width"], cfg["mlp"]
    for i in range(cfg["layers"]):
        w[f"ln_1_weight.{i}"], w[f"ln_1_bias.{i}"] = ln()
        w[f"qkv_weight.{i}"] = normal(3 * W, W, std=W ** -0.5)
        w[f"qkv_bias.{i}"] = normal(3 * W, std=0.1)
        w[f"attn_out_weight.{i}"] = normal(W, W, std=W ** -0.5)
        w[f"attn_out_bias.{i}"] = normal(W, std=0.1)
        w[f"ln_2_weight.{i}"], w[f"ln_2_bias.{i}"] = ln()
        w[f"mlp_fc_weight.{i}"] = normal(M, W, std=W ** -0.5)
        w[f"mlp_fc_bias.{i}"] = normal(M, std=0.1)
        w[f"mlp_proj_weight.{i}"] = normal(W, M, std=M ** -0.5)
        w[f"mlp_proj_bias.{i}"] = normal(W, std=0.1)


def random_weights(cfg, seed):
    """Canonical weights: float32 arrays keyed by role (per layer: role.N), in
    the layouts libtokenclip hands to its kernels: Linear weights [out, in],
    qkv fused [3W, W] (rows q, k, v), conv1 [W, 3, p, p], proj [embed, W].
    Scales keep activations O(1) so every part of the network matters."""
    rng = np.random.default_rng(seed)
    W, p, E = cfg["width"], cfg["patch"], cfg["embed"]
    n_pos = 1 + cfg["grid"] ** 2

    def normal(*shape, std=1.0):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def ln():
        return 1.0 + normal(W, std=0.1), normal(W, std=0.1)

    w = {}
    w["patch_embed"] = normal(W, 3, p, p, std=(3 * p * p) ** -0.5)
    w["class_embed"] = normal(W, std=0.5)
    w["pos_embed"] = normal(n_pos, W, std=0.5)
    w["ln_pre_weight"], w["ln_pre_bias"] = ln()
    random_block_weights(w, cfg, normal, ln)
    w["ln_post_weight"], w["ln_post_bias"] = ln()
    w["proj"] = normal(E, W, std=W ** -0.5)
    return w


def f32_to_bf16_bits(x):
    """Round to nearest even, as torch's .to(torch.bfloat16) does."""
    bits = np.ascontiguousarray(x, np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return bits.astype(np.uint16)


def bf16_bits_to_f32(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def quantize(x, dtype):
    """The float32 values a tensor has after storage in dtype."""
    if dtype == "f32":
        return x
    if dtype == "f16":
        return x.astype(np.float16).astype(np.float32)
    return bf16_bits_to_f32(f32_to_bf16_bits(x))


def quantize_all(w, dtype):
    return {k: quantize(v, dtype) for k, v in w.items()}


def to_named(w, cfg, naming, prefix=""):
    """name -> float32 array in the file's own layouts."""
    W, L = cfg["width"], cfg["layers"]
    out = {}
    if naming == "hf":
        v = prefix + "vision_model."
        out[v + "embeddings.patch_embedding.weight"] = w["patch_embed"]
        out[v + "embeddings.class_embedding"] = w["class_embed"]
        out[v + "embeddings.position_embedding.weight"] = w["pos_embed"]
        out[v + "pre_layrnorm.weight"] = w["ln_pre_weight"]  # sic: Hugging Face's spelling
        out[v + "pre_layrnorm.bias"] = w["ln_pre_bias"]
        for i in range(L):
            b = f"{v}encoder.layers.{i}."
            qkv_w, qkv_b = w[f"qkv_weight.{i}"], w[f"qkv_bias.{i}"]
            for k, part in enumerate("qkv"):
                out[b + f"self_attn.{part}_proj.weight"] = qkv_w[k * W:(k + 1) * W]
                out[b + f"self_attn.{part}_proj.bias"] = qkv_b[k * W:(k + 1) * W]
            out[b + "self_attn.out_proj.weight"] = w[f"attn_out_weight.{i}"]
            out[b + "self_attn.out_proj.bias"] = w[f"attn_out_bias.{i}"]
            out[b + "layer_norm1.weight"] = w[f"ln_1_weight.{i}"]
            out[b + "layer_norm1.bias"] = w[f"ln_1_bias.{i}"]
            out[b + "mlp.fc1.weight"] = w[f"mlp_fc_weight.{i}"]
            out[b + "mlp.fc1.bias"] = w[f"mlp_fc_bias.{i}"]
            out[b + "mlp.fc2.weight"] = w[f"mlp_proj_weight.{i}"]
            out[b + "mlp.fc2.bias"] = w[f"mlp_proj_bias.{i}"]
            out[b + "layer_norm2.weight"] = w[f"ln_2_weight.{i}"]
            out[b + "layer_norm2.bias"] = w[f"ln_2_bias.{i}"]
        out[v + "post_layernorm.weight"] = w["ln_post_weight"]
        out[v + "post_layernorm.bias"] = w["ln_post_bias"]
        out[prefix + "visual_projection.weight"] = w["proj"]  # [embed, width], no bias
    elif naming in ("openclip", "openclip-bare"):
        v = prefix + ("visual." if naming == "openclip" else "")
        out[v + "conv1.weight"] = w["patch_embed"]
        out[v + "class_embedding"] = w["class_embed"]
        out[v + "positional_embedding"] = w["pos_embed"]
        out[v + "ln_pre.weight"] = w["ln_pre_weight"]
        out[v + "ln_pre.bias"] = w["ln_pre_bias"]
        for i in range(L):
            b = f"{v}transformer.resblocks.{i}."
            out[b + "ln_1.weight"] = w[f"ln_1_weight.{i}"]
            out[b + "ln_1.bias"] = w[f"ln_1_bias.{i}"]
            out[b + "attn.in_proj_weight"] = w[f"qkv_weight.{i}"]
            out[b + "attn.in_proj_bias"] = w[f"qkv_bias.{i}"]
            out[b + "attn.out_proj.weight"] = w[f"attn_out_weight.{i}"]
            out[b + "attn.out_proj.bias"] = w[f"attn_out_bias.{i}"]
            out[b + "ln_2.weight"] = w[f"ln_2_weight.{i}"]
            out[b + "ln_2.bias"] = w[f"ln_2_bias.{i}"]
            out[b + "mlp.c_fc.weight"] = w[f"mlp_fc_weight.{i}"]
            out[b + "mlp.c_fc.bias"] = w[f"mlp_fc_bias.{i}"]
            out[b + "mlp.c_proj.weight"] = w[f"mlp_proj_weight.{i}"]
            out[b + "mlp.c_proj.bias"] = w[f"mlp_proj_bias.{i}"]
        out[v + "ln_post.weight"] = w["ln_post_weight"]
        out[v + "ln_post.bias"] = w["ln_post_bias"]
        out[v + "proj"] = _transpose(w["proj"])  # [width, embed], used as x @ proj
    else:
        raise ValueError(f"unknown naming {naming!r}")
    return out


def _transpose(x):
    return x.T if isinstance(x, _ShapeOnly) else np.ascontiguousarray(x.T)


def from_named(tensors, cfg, naming, prefix=""):
    """The inverse of to_named: canonical role arrays from a file's tensors."""
    inverse = {}
    W, L = cfg["width"], cfg["layers"]
    t = {k: np.asarray(v, np.float32) for k, v in tensors.items()}
    if naming == "hf":
        v = prefix + "vision_model."
        inverse["patch_embed"] = t[v + "embeddings.patch_embedding.weight"]
        inverse["class_embed"] = t[v + "embeddings.class_embedding"]
        inverse["pos_embed"] = t[v + "embeddings.position_embedding.weight"]
        inverse["ln_pre_weight"] = t[v + "pre_layrnorm.weight"]
        inverse["ln_pre_bias"] = t[v + "pre_layrnorm.bias"]
        for i in range(L):
            b = f"{v}encoder.layers.{i}."
            inverse[f"qkv_weight.{i}"] = np.concatenate([t[b + f"self_attn.{p}_proj.weight"] for p in "qkv"])
            inverse[f"qkv_bias.{i}"] = np.concatenate([t[b + f"self_attn.{p}_proj.bias"] for p in "qkv"])
            for role, name in (("attn_out_weight", "self_attn.out_proj.weight"),
                               ("attn_out_bias", "self_attn.out_proj.bias"), ("ln_1_weight", "layer_norm1.weight"),
                               ("ln_1_bias", "layer_norm1.bias"), ("ln_2_weight", "layer_norm2.weight"),
                               ("ln_2_bias", "layer_norm2.bias"), ("mlp_fc_weight", "mlp.fc1.weight"),
                               ("mlp_fc_bias", "mlp.fc1.bias"), ("mlp_proj_weight", "mlp.fc2.weight"),
                               ("mlp_proj_bias", "mlp.fc2.bias")):
                inverse[f"{role}.{i}"] = t[b + name]
        inverse["ln_post_weight"] = t[v + "post_layernorm.weight"]
        inverse["ln_post_bias"] = t[v + "post_layernorm.bias"]
        inverse["proj"] = t[prefix + "visual_projection.weight"]
    else:
        v = prefix + ("visual." if naming == "openclip" else "")
        inverse["patch_embed"] = t[v + "conv1.weight"]
        inverse["class_embed"] = t[v + "class_embedding"]
        inverse["pos_embed"] = t[v + "positional_embedding"]
        inverse["ln_pre_weight"] = t[v + "ln_pre.weight"]
        inverse["ln_pre_bias"] = t[v + "ln_pre.bias"]
        for i in range(L):
            b = f"{v}transformer.resblocks.{i}."
            for role, name in (("ln_1_weight", "ln_1.weight"), ("ln_1_bias", "ln_1.bias"),
                               ("qkv_weight", "attn.in_proj_weight"), ("qkv_bias", "attn.in_proj_bias"),
                               ("attn_out_weight", "attn.out_proj.weight"), ("attn_out_bias", "attn.out_proj.bias"),
                               ("ln_2_weight", "ln_2.weight"), ("ln_2_bias", "ln_2.bias"),
                               ("mlp_fc_weight", "mlp.c_fc.weight"), ("mlp_fc_bias", "mlp.c_fc.bias"),
                               ("mlp_proj_weight", "mlp.c_proj.weight"), ("mlp_proj_bias", "mlp.c_proj.bias")):
                inverse[f"{role}.{i}"] = t[b + name]
        inverse["ln_post_weight"] = t[v + "ln_post.weight"]
        inverse["ln_post_bias"] = t[v + "ln_post.bias"]
        inverse["proj"] = np.ascontiguousarray(t[v + "proj"].T)
    assert W == inverse["class_embed"].shape[0]
    return inverse


def text_tower(naming, prefix, seed, width=64, embed=None):
    """A small text tower, so a file looks like a whole CLIP checkpoint."""
    rng = np.random.default_rng(seed + 1000)
    embed = embed or width

    def normal(*shape):
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    if naming == "hf":
        b = prefix + "text_model."
        return {b + "embeddings.token_embedding.weight": normal(100, width),
                b + "embeddings.position_embedding.weight": normal(77, width),
                b + "encoder.layers.0.self_attn.q_proj.weight": normal(width, width),
                b + "final_layer_norm.weight": normal(width),
                prefix + "text_projection.weight": normal(embed, width),
                prefix + "logit_scale": np.array(4.6, np.float32)}
    return {prefix + "token_embedding.weight": normal(100, width),
            prefix + "positional_embedding": normal(77, width),
            prefix + "transformer.resblocks.0.attn.in_proj_weight": normal(3 * width, width),
            prefix + "ln_final.weight": normal(width),
            prefix + "text_projection": normal(width, embed),
            prefix + "logit_scale": np.array(4.6, np.float32)}


# ---------------------------------------------------------------- safetensors

ST_DTYPE = {"f32": "F32", "f16": "F16", "bf16": "BF16"}


def _raw(x, dtype):
    if dtype == "f32":
        return np.ascontiguousarray(x, "<f4").tobytes()
    if dtype == "f16":
        return np.ascontiguousarray(x, np.float32).astype("<f2").tobytes()
    if dtype == "bf16":
        return f32_to_bf16_bits(x).astype("<u2").tobytes()
    if dtype == "i64":
        return np.ascontiguousarray(x, "<i8").tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors, metadata=None, shapes_only=False):
    """tensors: name -> (array, dtype) with dtype in f32/f16/bf16/i64, or, when
    shapes_only, name -> (shape, dtype): the data then reads as zeros and
    occupies no disk (a sparse file), for testing shape-driven code on
    full-size models."""
    sizes = {"f32": 4, "f16": 2, "bf16": 2, "i64": 8}
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, (x, dtype) in tensors.items():
        shape = list(x) if shapes_only else list(np.shape(x))
        n = sizes[dtype] * int(np.prod(shape, dtype=np.int64))
        header[name] = {"dtype": ST_DTYPE.get(dtype, "I64"), "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        if shapes_only:
            f.truncate(8 + len(text) + offset)
        else:
            for x, dtype in tensors.values():
                f.write(_raw(x, dtype))


def read_safetensors(path):
    """name -> float32 (or int64) numpy array, and the metadata."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    metadata = header.pop("__metadata__", {})
    data = blob[8 + n:]
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        raw = data[b:e]
        dt = info["dtype"]
        if dt == "F32":
            x = np.frombuffer(raw, "<f4")
        elif dt == "F16":
            x = np.frombuffer(raw, "<f2").astype(np.float32)
        elif dt == "BF16":
            x = bf16_bits_to_f32(np.frombuffer(raw, "<u2"))
        elif dt == "I64":
            x = np.frombuffer(raw, "<i8")
        else:
            raise ValueError(f"{path}: {name}: dtype {dt}")
        out[name] = x.reshape(info["shape"])
    return out, metadata


def save_model(path, w, cfg, naming, dtype, prefix="", act=None, with_text=False, seed=0, shapes_only=False):
    """Writes weights w (canonical roles) as a safetensors file. act, when
    given, is written as __metadata__ "hidden_act" (quick_gelu or gelu)."""
    if with_text and naming == "openclip-bare":
        raise ValueError("a bare visual module has no text tower beside it (their names would collide)")
    tensors = {}
    named = to_named(w, cfg, naming, prefix)
    if naming == "hf":
        # Hugging Face checkpoints often carry this int64 buffer: loaders must skip it
        n_pos = 1 + cfg["grid"] ** 2
        ids = (1, n_pos) if shapes_only else np.arange(n_pos, dtype=np.int64)[None]
        tensors[prefix + "vision_model.embeddings.position_ids"] = (ids, "i64")
    for name, x in named.items():
        tensors[name] = (x, dtype)
    if with_text:
        for name, x in text_tower(naming, prefix, seed).items():
            tensors[name] = (np.shape(x) if shapes_only else x, dtype)
    metadata = {"format": "pt"}
    if act:
        metadata["hidden_act"] = act
    write_safetensors(path, tensors, metadata, shapes_only=shapes_only)


def shape_of_roles(cfg):
    """Canonical role shapes, for shapes-only files."""
    W, p, E, M = cfg["width"], cfg["patch"], cfg["embed"], cfg["mlp"]
    s = {"patch_embed": (W, 3, p, p), "class_embed": (W,), "pos_embed": (1 + cfg["grid"] ** 2, W),
         "ln_pre_weight": (W,), "ln_pre_bias": (W,), "ln_post_weight": (W,), "ln_post_bias": (W,), "proj": (E, W)}
    per = {"ln_1_weight": (W,), "ln_1_bias": (W,), "qkv_weight": (3 * W, W), "qkv_bias": (3 * W,),
           "attn_out_weight": (W, W), "attn_out_bias": (W,), "ln_2_weight": (W,), "ln_2_bias": (W,),
           "mlp_fc_weight": (M, W), "mlp_fc_bias": (M,), "mlp_proj_weight": (W, M), "mlp_proj_bias": (W,)}
    for i in range(cfg["layers"]):
        s.update({f"{k}.{i}": v for k, v in per.items()})
    return s


class _ShapeOnly:
    """Stands in for an array where only the shape is used (to_named on shapes)."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def __getitem__(self, sl):  # q/k/v rows of a fused [3W, W]
        start, stop, _ = sl.indices(self.shape[0])
        return _ShapeOnly((stop - start,) + self.shape[1:])

    @property
    def T(self):
        return _ShapeOnly(self.shape[::-1])


def save_shapes_only(path, cfg, naming, dtype, prefix=""):
    fake = {k: _ShapeOnly(v) for k, v in shape_of_roles(cfg).items()}
    named = to_named(fake, cfg, naming, prefix)
    tensors = {}
    if naming == "hf":
        tensors[prefix + "vision_model.embeddings.position_ids"] = ((1, 1 + cfg["grid"] ** 2), "i64")
    for name, x in named.items():
        tensors[name] = (x.shape, dtype)
    write_safetensors(path, tensors, {"format": "pt"}, shapes_only=True)


def kernel_layouts(w, cfg):
    """role file name -> array in the layout tc_clip_vision hands out."""
    out = {}
    for k, x in w.items():
        if k.split(".")[0] == "patch_embed":
            x = x.reshape(cfg["width"], -1)  # [W, 3*p*p], (c, ky, kx) row-major
        out[k] = x
    return out


# ---------------------------------------------------------------- forward

def resize_pos_embed(pos, grid, new_hw, mode):
    """The grid rows of pos [1 + grid^2, W] resized to new_hw, class row kept:
    open_clip's resize_pos_embed (bicubic, optionally antialiased) or
    AnomalyCLIP's bilinear (align_corners default, i.e. False)."""
    import torch
    import torch.nn.functional as F
    if tuple(new_hw) == (grid, grid):
        return pos
    cls, g = pos[:1], pos[1:]
    img = g.reshape(1, grid, grid, -1).permute(0, 3, 1, 2)
    kwargs = {"bicubic": dict(mode="bicubic", align_corners=False),
              "bicubic-aa": dict(mode="bicubic", align_corners=False, antialias=True),
              "bilinear": dict(mode="bilinear")}[mode]
    img = F.interpolate(img, size=tuple(new_hw), **kwargs)
    return torch.cat([cls, img.permute(0, 2, 3, 1).reshape(new_hw[0] * new_hw[1], -1)])


def forward(w, cfg, image, act="quick_gelu", vv_start=0, pos_interp="bicubic", dtype="float64"):
    """The CLIP vision transformer on one image [3, S, S] (or [1, 3, S, S]).
    Returns a numpy [1 + N, embed] array: the global token
    ln_post(x_final[CLS]) @ proj, then the patch tokens ln_post(t[1:]) @ proj
    where t is the ordinary stream, or with vv_start = s > 0 the value-value
    stream y = x_s + sum_{l=s..L} VV_l(ln_1_l(x_l)) (layers counted from 1,
    x_l the ordinary stream's input to layer l, VV_l(h) =
    out_proj(softmax(V V^T / sqrt(d_head)) V) per head, no MLP)."""
    import torch
    import torch.nn.functional as F
    tdt = getattr(torch, dtype)
    T = {k: torch.from_numpy(np.asarray(v)).to(tdt) for k, v in w.items()}
    W, H, p, L = cfg["width"], cfg["heads"], cfg["patch"], cfg["layers"]
    d = W // H
    x = torch.as_tensor(np.asarray(image)).to(tdt).reshape(1, 3, image.shape[-2], image.shape[-1])
    if not 0 <= vv_start <= L:
        raise ValueError(f"vv_start {vv_start} outside 0..{L}")

    def ln(t, name, layer=None):
        at = "" if layer is None else f".{layer}"
        return F.layer_norm(t, (W,), T[f"{name}_weight{at}"], T[f"{name}_bias{at}"], eps=1e-5)

    def act_fn(t):
        return t * torch.sigmoid(1.702 * t) if act == "quick_gelu" else F.gelu(t)

    def heads(t):  # [n, W] -> [H, n, d]
        return t.reshape(t.shape[0], H, d).transpose(0, 1)

    def merge(t):  # [H, n, d] -> [n, W]
        return t.transpose(0, 1).reshape(t.shape[1], W)

    x = F.conv2d(x, T["patch_embed"], stride=p)  # [1, W, gh, gw], no bias
    gh, gw = x.shape[2], x.shape[3]
    x = x.flatten(2)[0].T  # [N, W], patches row-major over (y, x)
    x = torch.cat([T["class_embed"][None], x])
    x = x + resize_pos_embed(T["pos_embed"], cfg["grid"], (gh, gw), pos_interp)
    x = ln(x, "ln_pre")
    y = None
    for i in range(L):
        h = ln(x, "ln_1", i)
        qkv = h @ T[f"qkv_weight.{i}"].T + T[f"qkv_bias.{i}"]
        q, k, v = (heads(t) for t in qkv.split(W, dim=1))
        if vv_start and i + 1 >= vv_start:
            if i + 1 == vv_start:
                y = x
            vv = torch.softmax(v @ v.transpose(1, 2) / d ** 0.5, dim=-1) @ v
            y = y + merge(vv) @ T[f"attn_out_weight.{i}"].T + T[f"attn_out_bias.{i}"]
        a = torch.softmax(q @ k.transpose(1, 2) / d ** 0.5, dim=-1) @ v
        x = x + merge(a) @ T[f"attn_out_weight.{i}"].T + T[f"attn_out_bias.{i}"]
        m = act_fn(ln(x, "ln_2", i) @ T[f"mlp_fc_weight.{i}"].T + T[f"mlp_fc_bias.{i}"])
        x = x + m @ T[f"mlp_proj_weight.{i}"].T + T[f"mlp_proj_bias.{i}"]
    proj = T["proj"]  # [embed, W]
    global_token = ln(x[:1], "ln_post") @ proj.T
    patches = ln((y if y is not None else x)[1:], "ln_post") @ proj.T
    return torch.cat([global_token, patches]).numpy()


# ---------------------------------------------------------------- npy

def save_npy(path, x):
    np.save(path, np.ascontiguousarray(x, np.float32))


# ---------------------------------------------------------------- command line

def write_fixture(out, config="tiny", naming="hf", dtype="f32", image_size=None, vv_start=0, seed=0,
                  act="quick_gelu", act_metadata=True, pos_interp="bicubic", prefix="", with_text=False,
                  forward_dtype="float64", layouts=False, overrides=None):
    cfg = full_config(config, **(overrides or {}))
    os.makedirs(out, exist_ok=True)
    w = quantize_all(random_weights(cfg, seed), dtype)
    save_model(os.path.join(out, "model.safetensors"), w, cfg, naming, dtype, prefix=prefix,
               act=act if act_metadata else None, with_text=with_text, seed=seed)
    size = image_size or cfg["image"]
    info = dict(config=config, cfg=cfg, naming=naming, dtype=dtype, prefix=prefix, image_size=size,
                grid=[size // cfg["patch"]] * 2, vv_start=vv_start, seed=seed, act=act,
                act_in_metadata=act_metadata, pos_interp=pos_interp, forward_dtype=forward_dtype,
                input="input.npy [3, S, S] float32, CLIP-normalised",
                tokens="tokens.npy [1 + N, embed] float32: row 0 global token, rows 1.. patch tokens")
    if forward_dtype != "none":
        rng = np.random.default_rng(seed + 7)
        image = rng.standard_normal((3, size, size)).astype(np.float32)
        save_npy(os.path.join(out, "input.npy"), image)
        tokens = forward(w, cfg, image, act=act, vv_start=vv_start, pos_interp=pos_interp, dtype=forward_dtype)
        save_npy(os.path.join(out, "tokens.npy"), tokens)
    if layouts:
        ldir = os.path.join(out, "layouts")
        os.makedirs(ldir, exist_ok=True)
        for k, x in kernel_layouts(w, cfg).items():
            save_npy(os.path.join(ldir, k + ".npy"), x)
    with open(os.path.join(out, "fixture.json"), "w") as f:
        json.dump(info, f, indent=1)
    return info


def loader_suite(out, header):
    """The files of tests/test_clip_vision.c and a C header listing them."""
    os.makedirs(out, exist_ok=True)
    rows = []

    def row(file, cfg, naming, prefix, dtype, act, layouts):
        vis = {"hf": prefix + "vision_model.", "openclip": prefix + "visual.", "openclip-bare": prefix}[naming]
        rows.append(dict(file=file, naming="TC_CLIP_NAMING_HF" if naming == "hf" else "TC_CLIP_NAMING_OPENCLIP",
                         prefix=vis, dtype=dtype, act=act, layouts=layouts, **cfg))

    tiny = full_config("tiny")
    for dtype in DTYPES:
        w = quantize_all(random_weights(tiny, 1), dtype)
        layouts = f"tiny-layouts-{dtype}"
        os.makedirs(os.path.join(out, layouts), exist_ok=True)
        for k, x in kernel_layouts(w, tiny).items():
            save_npy(os.path.join(out, layouts, k + ".npy"), x)
        for naming in ("hf", "openclip"):
            name = f"tiny-{naming}-{dtype}.safetensors"
            save_model(os.path.join(out, name), w, tiny, naming, dtype)
            row(name, tiny, naming, "", dtype, "TC_ACT_QUICK_GELU", layouts)
    w = random_weights(tiny, 1)
    variants = [  # file, naming, prefix, act metadata, with text tower
        ("tiny-openclip-model-prefix.safetensors", "openclip", "model.", None, True),
        ("tiny-openclip-bare.safetensors", "openclip-bare", "", None, False),
        ("tiny-hf-full-gelu.safetensors", "hf", "", "gelu", True),
        ("tiny-openclip-quick-gelu-meta.safetensors", "openclip", "", "quick_gelu", False),
    ]
    for name, naming, prefix, act, text in variants:
        save_model(os.path.join(out, name), w, tiny, naming, "f32", prefix=prefix, act=act, with_text=text, seed=1)
        row(name, tiny, naming, prefix, "f32", "TC_ACT_GELU" if act == "gelu" else "TC_ACT_QUICK_GELU",
            "tiny-layouts-f32")
    # a bad file: an integer tensor where a weight belongs
    tensors = {n: (x, "f32") for n, x in to_named(w, tiny, "openclip").items()}
    tensors["visual.ln_post.bias"] = (np.arange(tiny["width"], dtype=np.int64), "i64")
    int_tensor = "tiny-openclip-int-ln.safetensors"
    write_safetensors(os.path.join(out, int_tensor), tensors, {"format": "pt"})
    for config in ("b32", "b16", "l14", "l14-336"):
        cfg = full_config(config)
        for naming, dtype in (("hf", "f16"), ("openclip", "f32")):
            name = f"{config}-{naming}-shapes.safetensors"
            save_shapes_only(os.path.join(out, name), cfg, naming, dtype)
            row(name, cfg, naming, "", dtype, "TC_ACT_QUICK_GELU", None)

    def c_str(s):
        return "NULL" if s is None else json.dumps(s)

    lines = ["/* Written by tests/torch/clip_fixtures.py --loader-suite: do not edit. */",
             "#ifndef CLIP_VISION_FIXTURES_H", "#define CLIP_VISION_FIXTURES_H", "",
             f"#define CLIP_FIXTURES_DIR {c_str(os.path.abspath(out))}",
             f"#define CLIP_FIXTURE_INT_TENSOR {c_str(int_tensor)}", "",
             "typedef struct clip_fixture {",
             "  const char *file, *prefix, *dtype, *layouts;",
             "  tc_clip_naming naming;",
             "  tc_act act;",
             "  int width, layers, heads, mlp, patch, grid, image, embed;",
             "} clip_fixture;", "",
             "static const clip_fixture clip_fixtures[] = {"]
    for r in rows:
        lines.append(f"  {{ {c_str(r['file'])}, {c_str(r['prefix'])}, {c_str(r['dtype'])}, {c_str(r['layouts'])}, "
                     f"{r['naming']}, {r['act']}, {r['width']}, {r['layers']}, {r['heads']}, {r['mlp']}, "
                     f"{r['patch']}, {r['grid']}, {r['image']}, {r['embed']} }},")
    lines += ["};", "", "#endif", ""]
    tmp = header + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines))
    os.replace(tmp, header)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See the module docstring for the files written.")
    ap.add_argument("--config", choices=sorted(CONFIGS), default="tiny")
    ap.add_argument("--naming", choices=NAMINGS, default="hf")
    ap.add_argument("--dtype", choices=DTYPES, default="f32", help="storage dtype of the weights")
    ap.add_argument("--image-size", type=int, help="input size S (default: the pre-training size)")
    ap.add_argument("--vv-start", type=int, default=0, help="first layer (from 1) of the V-V stream; 0 = off")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--act", choices=ACTS, default="quick_gelu", help="MLP activation of the forward")
    ap.add_argument("--no-act-metadata", action="store_true",
                    help="do not record --act as __metadata__ hidden_act (loaders then assume QuickGELU)")
    ap.add_argument("--pos-interp", choices=POS_INTERPS, default="bicubic",
                    help="positional grid resize when --image-size differs from the pre-training size")
    ap.add_argument("--prefix", default="", help="prepended to every tensor name (e.g. model.)")
    ap.add_argument("--with-text", action="store_true", help="add a small text tower, as in a full CLIP file")
    ap.add_argument("--forward-dtype", choices=("float64", "float32", "none"), default="float64",
                    help="precision of the expected tokens; none writes only the weights")
    ap.add_argument("--layouts", action="store_true", help="also write the kernel layouts as layouts/<role>.npy")
    for k in ("width", "layers", "patch", "embed"):
        ap.add_argument(f"--{k}", type=int, help=f"override the config's {k}")
    ap.add_argument("--pretrain-size", type=int, help="override the config's pre-training image size")
    ap.add_argument("--out", help="output directory")
    ap.add_argument("--loader-suite", metavar="DIR", help="write the loader test's files into DIR")
    ap.add_argument("--header", help="with --loader-suite: the C header to write")
    a = ap.parse_args(argv)
    if a.loader_suite:
        if not a.header:
            ap.error("--loader-suite needs --header")
        loader_suite(a.loader_suite, a.header)
        return 0
    if not a.out:
        ap.error("--out is required")
    overrides = dict(width=a.width, layers=a.layers, patch=a.patch, embed=a.embed, image=a.pretrain_size)
    info = write_fixture(a.out, a.config, a.naming, a.dtype, a.image_size, a.vv_start, a.seed, a.act,
                         not a.no_act_metadata, a.pos_interp, a.prefix, a.with_text, a.forward_dtype, a.layouts,
                         overrides)
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
