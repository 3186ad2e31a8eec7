#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz (corpus/<target>/): small valid
inputs of every parser plus the cases of known defects. numpy and PIL only;
run it again after changing a format, and commit what it writes."""
import gzip
import io
import json
import os
import struct
import sys

import numpy as np
from PIL import Image

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
rng = np.random.default_rng(15)


def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None):
    """tensors: name -> (dtype string, shape, raw bytes)."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, (dt, shape, raw) in tensors.items():
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def f32(a):
    a = np.asarray(a, np.float32)
    return ("F32", a.shape, a.tobytes())


def f16(a):
    a = np.asarray(a, np.float16)
    return ("F16", a.shape, a.tobytes())


def bf16(a):
    a = np.asarray(a, np.float32)
    return ("BF16", a.shape, (a.view(np.uint32) >> 16).astype(np.uint16).tobytes())


def i32(a):
    a = np.asarray(a, np.int32)
    return ("I32", a.shape, a.tobytes())


# ---- json
for i, doc in enumerate(['{"a":[1,2.5e-3,-0,true,false,null],"b":{"c":"\\u00e9\\ud83d\\ude00\\n"}}', "[]", "{}",
                         '"x"', "123456789012345678901234567890", '{"k":1,"k":2}', "[[[[[[[[[[1]]]]]]]]]]",
                         '{"a":1} x', '{"a":"\\ud800"}', "[1,]", "\t\n 0.5e+10 "]):
    put("json", f"doc{i:02d}.json", doc)

# ---- safetensors
w = rng.standard_normal((4, 3)).astype(np.float32)
put("safetensors", "mixed.safetensors", safetensors(
    {"a": f32(w), "b": f16(w), "c": bf16(w), "ids": ("I64", (1, 3), np.arange(3, dtype=np.int64).tobytes()),
     "scalar": f32(np.float32(2.0).reshape(())), "empty": f32(np.zeros((0, 3)))},
    {"format": "pt", "hidden_act": "quick_gelu"}))
put("safetensors", "truncated.safetensors", safetensors({"a": f32(w)})[:-5])
put("safetensors", "overlap.safetensors",
    struct.pack("<Q", 96) + json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}
                                       ).encode().ljust(96) + bytes(12))

# ---- npy
for name, a in (("f4.npy", rng.standard_normal((2, 3)).astype("<f4")), ("f2.npy", np.ones(5, "<f2")),
                ("f8.npy", np.arange(6, dtype="<f8").reshape(1, 2, 3)), ("scalar.npy", np.float32(3)),
                ("fortran.npy", np.asfortranarray(np.ones((2, 3), "<f4"))), ("i4.npy", np.ones(3, "<i4"))):
    b = io.BytesIO()
    np.save(b, a)
    put("npy", name, b.getvalue())

# ---- head files (subspaces and defaults: tools/export/HEAD_DEFAULTS.md)
S = rng.standard_normal((2, 2, 8)).astype(np.float32)
put("head_file", "plain.safetensors", safetensors({"subspaces": f32(S)}))
put("head_file", "half.safetensors", safetensors({"subspaces": f16(S)}))
put("head_file", "defaults.safetensors", safetensors({
    "subspaces": f32(S), "input_size": i32([518]), "vv_start": i32([6]), "pos_interp": i32([2]), "resample": i32([2]),
    "feature_layers": i32([6, 12, 18, 24]), "global_ln_post": i32([0]), "temperature": f32([0.07]),
    "sinkhorn_eps": f32([0.05]), "sinkhorn_iters": i32([100]), "topk": i32([2]), "image_blend": f32([0.0]),
    "sigma": f32([4.0])}))
put("head_file", "topk-above-q.safetensors", safetensors({"subspaces": f32(S), "topk": i32([3])}))
put("head_file", "nan.safetensors", safetensors({"subspaces": f32(np.full((1, 2, 8), np.nan))}))

# ---- CLIP towers: HF naming, width 8, one layer, both towers
W, E, M = 8, 4, 16


def layer(prefix):
    t = {}
    for p in ("q_proj", "k_proj", "v_proj", "out_proj"):
        t[f"{prefix}.self_attn.{p}.weight"] = f16(rng.standard_normal((W, W)) * 0.1)
        t[f"{prefix}.self_attn.{p}.bias"] = f16(np.zeros(W))
    for n in ("layer_norm1", "layer_norm2"):
        t[f"{prefix}.{n}.weight"] = f16(np.ones(W))
        t[f"{prefix}.{n}.bias"] = f16(np.zeros(W))
    t[f"{prefix}.mlp.fc1.weight"] = f16(rng.standard_normal((M, W)) * 0.1)
    t[f"{prefix}.mlp.fc1.bias"] = f16(np.zeros(M))
    t[f"{prefix}.mlp.fc2.weight"] = f16(rng.standard_normal((W, M)) * 0.1)
    t[f"{prefix}.mlp.fc2.bias"] = f16(np.zeros(W))
    return t


vision = {"vision_model.embeddings.patch_embedding.weight": f16(rng.standard_normal((W, 3, 2, 2))),
          "vision_model.embeddings.class_embedding": f16(rng.standard_normal(W)),
          "vision_model.embeddings.position_embedding.weight": f16(rng.standard_normal((5, W))),
          "vision_model.pre_layrnorm.weight": f16(np.ones(W)), "vision_model.pre_layrnorm.bias": f16(np.zeros(W)),
          "vision_model.post_layernorm.weight": f16(np.ones(W)), "vision_model.post_layernorm.bias": f16(np.zeros(W)),
          "visual_projection.weight": f16(rng.standard_normal((E, W)))}
vision.update(layer("vision_model.encoder.layers.0"))
text = {"text_model.embeddings.token_embedding.weight": f16(rng.standard_normal((16, W))),
        "text_model.embeddings.position_embedding.weight": f16(rng.standard_normal((4, W))),
        "text_model.final_layer_norm.weight": f16(np.ones(W)), "text_model.final_layer_norm.bias": f16(np.zeros(W)),
        "text_projection.weight": f16(rng.standard_normal((E, W)))}
text.update(layer("text_model.encoder.layers.0"))
meta = {"format": "pt", "hidden_act": "quick_gelu", "num_attention_heads": "2", "text_num_attention_heads": "2"}
put("clip_tower", "hf-both.safetensors", safetensors({**vision, **text}, meta))
put("clip_tower", "hf-vision.safetensors", safetensors(vision, {"hidden_act": "gelu", "num_attention_heads": "4"}))
openclip = {k.replace("vision_model.", "visual.").replace("text_model.", ""): v for k, v in {**vision, **text}.items()}
put("clip_tower", "renamed.safetensors", safetensors(openclip, meta))

# ---- tokenizer vocabularies: first byte 0 merges file, 1 vocab.json\0merges.txt, 2 the same as a folder
merges = "#version: 0.2\n" + "\n".join(["t h", "th e</w>", "a </w>", "p h", "ph o", "o t", "pho to</w>", "s c",
                                         "sc r", "scr e", "scre w", "d a", "da m"]) + "\n"
put("tokenizer_vocab", "merges.txt", b"\x00" + merges.encode())
put("tokenizer_vocab", "merges.txt.gz", b"\x00" + gzip.compress(merges.encode(), mtime=0))
letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
vocab = {t: i for i, t in enumerate(letters + [c + "</w>" for c in letters] + ["<|startoftext|>", "<|endoftext|>"])}
pair = json.dumps(vocab).encode() + b"\x00" + b"#version: 0.2\nt h\na </w>\n"
put("tokenizer_vocab", "hf-pair", b"\x01" + pair)
put("tokenizer_vocab", "hf-folder", b"\x02" + pair)
put("tokenizer_vocab", "hf-bad-id", b"\x01" + b'{"a": -1}\x00t h\n')

# ---- texts to encode (issue 15: the empty text made tc_tokenizer_encode copy from NULL)
for i, t in enumerate(["", "a photo of a damaged screw.", "&amp;&lt;b&gt; &#39;it&#39;s&#x27; &nbsp;",
                       "Ünïcödé ÇÀFÉ ﬁne ß ΣΑΣ 日本語 😀👍🏽", "   \t\n  ", "don't it's I'LL we've",
                       " ".join(["word"] * 90), "\u200b\u0301\ufeff", "a" * 300, "<|startoftext|>x<|endoftext|>"]):
    put("tokenizer_encode", f"text{i:02d}.txt", t)
put("tokenizer_encode", "invalid-utf8.txt", b"ok \xff\xfe \xc3( \xed\xa0\x80")

# ---- prompt templates
put("prompts", "two.txt", "a photo of a {}.\n\na cropped photo of the {}.\n")
put("prompts", "none.txt", "no placeholder here\n")
put("prompts", "two-braces.txt", "{} and {}\n")
put("prompts", "crlf.txt", "a {}.\r\n  spaced {}  \r\n")

# ---- pictures
px = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
for name, img, kw in (("rgb.png", Image.fromarray(px), {}), ("rgba.png", Image.fromarray(px).convert("RGBA"), {}),
                      ("palette.png", Image.fromarray(px).convert("P"), {}),
                      ("grey16.png", Image.fromarray((px[..., 0].astype(np.uint16) * 257)), {}),
                      ("interlaced.png", Image.fromarray(px), {"interlace": 1})):
    b = io.BytesIO()
    img.save(b, "PNG", **kw)
    put("image", name, b.getvalue())
for name, img, kw in (("baseline.jpg", Image.fromarray(px), {"quality": 85}),
                      ("progressive.jpg", Image.fromarray(px), {"progressive": True}),
                      ("grey.jpg", Image.fromarray(px[..., 0]), {})):
    b = io.BytesIO()
    img.save(b, "JPEG", **kw)
    put("image", name, b.getvalue())
b = io.BytesIO()
Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(b, "JPEG", quality=90)
jpeg = b.getvalue()
sof, sos = jpeg.index(b"\xff\xc0"), jpeg.index(b"\xff\xda")
bomb = bytearray(jpeg[:sos + 64])  # issue 15: 25443 x 25443 claimed, 2.6 GB allocated
bomb[sof + 5:sof + 9] = (25443).to_bytes(2, "big") * 2
put("image", "bomb.jpg", bytes(bomb))
put("image", "stops-at-eoi.jpg", jpeg[:sos + (len(jpeg) - sos) // 3] + b"\xff\xd9")  # issue 15: was a grey picture
put("image", "truncated.png", open(os.path.join(root, "image", "rgb.png"), "rb").read()[:60])
print("corpus written to", root, file=sys.stderr)
