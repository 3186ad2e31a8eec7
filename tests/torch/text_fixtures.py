#!/usr/bin/env python3
"""Random CLIP text encoders for the tests, and their PyTorch forward.

(a) random_text_weights() builds a text tower's weights for a config;
    text_named() names them as Hugging Face (text_model.*, text_projection.weight
    [embed, width]) or open_clip/OpenAI (token_embedding.weight,
    positional_embedding, transformer.resblocks.N.*, ln_final.*,
    text_projection [width, embed]) does.
(b) text_forward() is the text transformer written from the architecture:
    token + positional embedding, pre-LN residual blocks with a causal mask
    (ln_1, multi-head self-attention, ln_2, MLP with QuickGELU or GELU),
    ln_final on the end-of-text token (argmax of the ids), text projection.
(c) the command line writes a model (optionally with a tiny vision tower from
    clip_fixtures.py, so one file serves the detector), random token ids and
    the expected embeddings:

    text_fixtures.py --naming hf --dtype f16 --seed 0 --out DIR

    DIR/model.safetensors  the weights
    DIR/ids.npy            float32 [n, 77]: token ids (exact in float32), [sot, ..., eot, 0...]
    DIR/embeddings.npy     float32 [n, embed]: text_forward in float64
    DIR/fixture.json       the config and options

Only numpy is needed to write weights; torch is imported for the forward.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_fixtures as cf  # noqa: E402

TEXT_CONFIGS = {
    # embed 96 = clip_fixtures' tiny vision tower, so both fit one detector
    "tiny": dict(width=128, layers=2, context=77, vocab=1000, embed=96),
    # CLIP's real vocabulary size, for the end-to-end tests with the tokenizer
    "tiny-vocab": dict(width=64, layers=2, context=77, vocab=49408, embed=96),
}


def text_config(name="tiny", **overrides):
    cfg = dict(TEXT_CONFIGS[name])
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    cfg["heads"] = cfg["width"] // 64
    cfg["mlp"] = 4 * cfg["width"]
    return cfg


def random_text_weights(cfg, seed):
    """float32 arrays keyed by role (per layer role.N), kernel layouts:
    Linear [out, in], qkv fused [3W, W], proj [embed, W]."""
    rng = np.random.default_rng(seed + 500)
    W, E = cfg["width"], cfg["embed"]

    def normal(*shape, std=1.0):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def ln():
        return 1.0 + normal(W, std=0.1), normal(W, std=0.1)

    w = {"token_embed": normal(cfg["vocab"], W, std=0.5), "pos_embed": normal(cfg["context"], W, std=0.5)}
    cf.random_block_weights(w, cfg, normal, ln)
    w["ln_final_weight"], w["ln_final_bias"] = ln()
    w["proj"] = normal(E, W, std=W ** -0.5)
    return w


def text_named(w, cfg, naming, prefix=""):
    W, out = cfg["width"], {}
    if naming == "hf":
        t = prefix + "text_model."
        out[t + "embeddings.token_embedding.weight"] = w["token_embed"]
        out[t + "embeddings.position_embedding.weight"] = w["pos_embed"]
        for i in range(cfg["layers"]):
            b = f"{t}encoder.layers.{i}."
            for k, part in enumerate("qkv"):
                out[b + f"self_attn.{part}_proj.weight"] = w[f"qkv_weight.{i}"][k * W:(k + 1) * W]
                out[b + f"self_attn.{part}_proj.bias"] = w[f"qkv_bias.{i}"][k * W:(k + 1) * W]
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
        out[t + "final_layer_norm.weight"] = w["ln_final_weight"]
        out[t + "final_layer_norm.bias"] = w["ln_final_bias"]
        out[prefix + "text_projection.weight"] = w["proj"]
    else:
        out[prefix + "token_embedding.weight"] = w["token_embed"]
        out[prefix + "positional_embedding"] = w["pos_embed"]
        for i in range(cfg["layers"]):
            b = f"{prefix}transformer.resblocks.{i}."
            for role, name in (("ln_1_weight", "ln_1.weight"), ("ln_1_bias", "ln_1.bias"),
                               ("qkv_weight", "attn.in_proj_weight"), ("qkv_bias", "attn.in_proj_bias"),
                               ("attn_out_weight", "attn.out_proj.weight"), ("attn_out_bias", "attn.out_proj.bias"),
                               ("ln_2_weight", "ln_2.weight"), ("ln_2_bias", "ln_2.bias"),
                               ("mlp_fc_weight", "mlp.c_fc.weight"), ("mlp_fc_bias", "mlp.c_fc.bias"),
                               ("mlp_proj_weight", "mlp.c_proj.weight"), ("mlp_proj_bias", "mlp.c_proj.bias")):
                out[b + name] = w[f"{role}.{i}"]
        out[prefix + "ln_final.weight"] = w["ln_final_weight"]
        out[prefix + "ln_final.bias"] = w["ln_final_bias"]
        out[prefix + "text_projection"] = np.ascontiguousarray(w["proj"].T)  # [width, embed]: x @ text_projection
    return out


def text_forward(w, cfg, ids, act="quick_gelu", dtype="float64"):
    """ids [n, T] integers -> numpy [n, embed], not normalised."""
    import torch
    import torch.nn.functional as F
    tdt = getattr(torch, dtype)
    T = {k: torch.from_numpy(np.asarray(v)).to(tdt) for k, v in w.items()}
    W, H = cfg["width"], cfg["heads"]
    d = W // H
    ids = torch.as_tensor(np.asarray(ids, np.int64))
    n, L = ids.shape
    x = T["token_embed"][ids] + T["pos_embed"][:L]  # [n, L, W]
    mask = torch.full((L, L), float("-inf"), dtype=tdt).triu(1)

    def ln(t, name, layer=None):
        at = "" if layer is None else f".{layer}"
        return F.layer_norm(t, (W,), T[f"{name}_weight{at}"], T[f"{name}_bias{at}"], eps=1e-5)

    def act_fn(t):
        return t * torch.sigmoid(1.702 * t) if act == "quick_gelu" else F.gelu(t)

    for i in range(cfg["layers"]):
        h = ln(x, "ln_1", i)
        qkv = h @ T[f"qkv_weight.{i}"].T + T[f"qkv_bias.{i}"]
        q, k, v = (t.reshape(n, L, H, d).transpose(1, 2) for t in qkv.split(W, dim=-1))
        a = torch.softmax(q @ k.transpose(-1, -2) / d ** 0.5 + mask, dim=-1) @ v
        a = a.transpose(1, 2).reshape(n, L, W)
        x = x + a @ T[f"attn_out_weight.{i}"].T + T[f"attn_out_bias.{i}"]
        m = act_fn(ln(x, "ln_2", i) @ T[f"mlp_fc_weight.{i}"].T + T[f"mlp_fc_bias.{i}"])
        x = x + m @ T[f"mlp_proj_weight.{i}"].T + T[f"mlp_proj_bias.{i}"]
    pooled = x[torch.arange(n), ids.argmax(dim=-1)]
    return (ln(pooled, "ln_final") @ T["proj"].T).numpy()


def random_ids(cfg, n, seed):
    """n rows [sot, random ids..., eot, 0 ...] with sot = vocab - 2, eot = vocab - 1 (the largest, as in CLIP)."""
    rng = np.random.default_rng(seed + 900)
    V, C = cfg["vocab"], cfg["context"]
    ids = np.zeros((n, C), np.int64)
    lengths = [2, C] + list(rng.integers(3, 20, size=max(0, n - 2)))
    for r in range(n):
        L = int(lengths[r % len(lengths)])
        ids[r, 0] = V - 2
        ids[r, 1:L - 1] = rng.integers(0, V - 2, size=L - 2)
        ids[r, L - 1] = V - 1
    return ids


def save_text_model(path, wt, cfg, naming, dtype, prefix="", vision=None, act=None):
    """Text tower (+ the vision tower of clip_fixtures when vision = (weights, cfg)) in one file."""
    tensors = {}
    if vision is not None:
        vw, vcfg = vision
        for name, x in cf.to_named(vw, vcfg, naming, prefix).items():
            tensors[name] = (x, dtype)
    for name, x in text_named(wt, cfg, naming, prefix).items():
        tensors[name] = (x, dtype)
    tensors[prefix + "logit_scale"] = (np.array(4.6052, np.float32), "f32")
    meta = {"format": "pt"}
    if act:
        meta["hidden_act"] = act
    cf.write_safetensors(path, tensors, meta)


def write_fixture(out, config="tiny", naming="hf", dtype="f32", seed=0, act="quick_gelu", prefix="", n=6,
                  with_vision=False):
    cfg = text_config(config)
    os.makedirs(out, exist_ok=True)
    wt = cf.quantize_all(random_text_weights(cfg, seed), dtype)
    vision = None
    if with_vision:
        vcfg = cf.full_config("tiny", embed=cfg["embed"])
        vision = (cf.quantize_all(cf.random_weights(vcfg, seed), dtype), vcfg)
    save_text_model(os.path.join(out, "model.safetensors"), wt, cfg, naming, dtype, prefix, vision,
                    act if act != "quick_gelu" else None)
    ids = random_ids(cfg, n, seed)
    np.save(os.path.join(out, "ids.npy"), ids.astype(np.float32))
    np.save(os.path.join(out, "embeddings.npy"), text_forward(wt, cfg, ids, act).astype(np.float32))
    info = dict(config=config, cfg=cfg, naming=naming, dtype=dtype, seed=seed, act=act, prefix=prefix,
                with_vision=with_vision)
    with open(os.path.join(out, "fixture.json"), "w") as f:
        json.dump(info, f, indent=1)
    return info


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", choices=sorted(TEXT_CONFIGS), default="tiny")
    ap.add_argument("--naming", choices=("hf", "openclip"), default="hf")
    ap.add_argument("--dtype", choices=cf.DTYPES, default="f32")
    ap.add_argument("--act", choices=cf.ACTS, default="quick_gelu")
    ap.add_argument("--prefix", default="")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prompts", type=int, default=6, help="rows of ids.npy")
    ap.add_argument("--with-vision", action="store_true", help="add clip_fixtures' tiny vision tower")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    print(json.dumps(write_fixture(a.out, a.config, a.naming, a.dtype, a.seed, a.act, a.prefix, a.prompts,
                                   a.with_vision)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
