"""Our reference of AnomalyCLIP's inference (ac_reference.py) checked
against independent formulations, and the fixtures written from it checked
for the properties the C side relies on:

- preprocess: the 8-bit emulation equals PIL's own Image.resize(BICUBIC)
  exactly (Debian's python3-pil; AnomalyCLIP's transform calls it), and the
  float form equals torch's F.interpolate(bicubic, antialias=True);
- vision: with one feature layer, equals clip_fixtures.forward (the forward
  libtokenclip's encoder is tested against) with vv_start and bilinear
  positional interpolation; layers before vv_start are the ordinary stream;
- text: without deep prompts and with the token embeddings as input, equals
  text_fixtures.text_forward (the text encoder's reference); the fp16
  rounding and the last deep prompt both change the result;
- maps: the summed 48 x 48 map is the bilinear upsampling of the summed grid
  (so the sum may be taken on the grid); the blurred map is a separable
  correlation with scipy's kernel (radius int(4 sigma + 0.5) = 16, weights
  exp(-x^2 / 2 sigma^2) normalised) over a half-sample-symmetric padding;
  the image score is softmax(cos(global, text) / 0.07)[abnormal].

    test_ac_reference.py FIXTURES_DIR"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

import ac_fixtures as acf
import ac_reference as ref
import clip_fixtures as cf
import tc_testutil as tu
import text_fixtures as tf

fx = sys.argv[1]
info = json.load(open(os.path.join(fx, "fixture.json")))
torch.set_num_threads(2)
rng = np.random.default_rng(3)


def close(what, got, want, atol):
    d = float(np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64)).max())
    return tu.check(f"{what} (max difference {d:.2e}, tolerance {atol})", np.shape(got) == np.shape(want) and d <= atol,
                    f"shapes {np.shape(got)} / {np.shape(want)}")


def apart(what, a, b, least):
    d = float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())
    return tu.check(f"{what} (max difference {d:.2e} > {least})", d > least)


# ---- preprocess
from PIL import Image  # noqa: E402  (python3-pil)

for h, w, s in [(40, 56, 48), (97, 31, 48), (10, 7, 48), (480, 640, 518), (300, 200, 37), (48, 48, 48)]:
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    pil = np.asarray(Image.fromarray(img).resize((s, s), Image.BICUBIC))
    close(f"8-bit resize {h}x{w} -> {s}: PIL's exactly", ref.resize_pil(img, s), pil, 0)
    t = F.interpolate(torch.from_numpy(img).to(torch.float64).permute(2, 0, 1)[None], size=(s, s), mode="bicubic",
                      align_corners=False, antialias=True)[0].permute(1, 2, 0)
    close(f"float resize {h}x{w} -> {s}: torch's antialiased bicubic", ref.resize_float(img, s), t, 1e-9)

# ---- vision
vw, vcfg, tw, tcfg = acf.tiny_clip(info["seed"])
L = vcfg["layers"]
x = ref.preprocess(np.load(os.path.join(fx, "img0", "image.npy")), info["size"])
for s in (0, 1, info["vv_start"], L):
    o = ref.vision(vw, vcfg, x, s, [L])
    want = cf.forward(vw, vcfg, x.numpy(), vv_start=s, pos_interp="bilinear")
    close(f"vision, vv_start {s}: tokens of layer {L} and global ln_post token are clip_fixtures.forward's",
          torch.cat([o["global_ln_post"][None], o["tokens"][L]]).numpy(), want, 1e-9)
plain = ref.vision(vw, vcfg, x, 0, list(range(1, L + 1)))
vv = ref.vision(vw, vcfg, x, info["vv_start"], list(range(1, L + 1)))
for l in range(1, L + 1):
    if l < info["vv_start"]:
        close(f"layer {l} < vv_start: the ordinary stream", vv["tokens"][l], plain["tokens"][l], 1e-12)
    else:
        apart(f"layer {l} >= vv_start: the V-V stream, not the ordinary one", vv["tokens"][l], plain["tokens"][l], 1e-2)
close("the global token does not depend on vv_start", vv["global_token"], plain["global_token"], 1e-12)

# ---- text
sd = acf.random_checkpoint(tw, tcfg, info["seed"])
tok = acf.tokenizer()
ids = np.array([tok.tokenize("a photo of a screw."), tok.tokenize("a damaged screw")])
plain_sd = {"token_prefix_pos": torch.from_numpy(np.asarray(tw["token_embed"])[ids[0]][None, None, :1]),
            "ctx_pos": torch.from_numpy(np.asarray(tw["token_embed"])[ids[0]][None, None, 1:13]),
            "token_suffix_pos": torch.from_numpy(np.asarray(tw["token_embed"])[ids[0]][None, None, 13:]),
            "token_prefix_neg": torch.from_numpy(np.asarray(tw["token_embed"])[ids[1]][None, None, :1]),
            "ctx_neg": torch.from_numpy(np.asarray(tw["token_embed"])[ids[1]][None, None, 1:13]),
            "token_suffix_neg": torch.from_numpy(np.asarray(tw["token_embed"])[ids[1]][None, None, 13:]),
            "tokenized_prompts_pos": torch.from_numpy(ids[0]), "tokenized_prompts_neg": torch.from_numpy(ids[1])}
want = tf.text_forward(tw, tcfg, ids)
want /= np.linalg.norm(want, axis=1, keepdims=True)
close("text without deep prompts: text_fixtures.text_forward's, normalised", ref.text_features(tw, tcfg, plain_sd),
      want, 1e-10)
with_fp16 = ref.text_features(tw, tcfg, sd)
apart("text: the deep prompts' fp16 rounding changes the features", with_fp16,
      ref.text_features(tw, tcfg, sd, fp16_deep=False), 1e-6)
moved = dict(sd)
moved["compound_prompts_text.7"] = sd["compound_prompts_text.7"] + 1.0
apart("text: the last deep prompt (input of layer 9) is used", with_fp16, ref.text_features(tw, tcfg, moved), 1e-5)
close("fixture text_features.npy", np.load(os.path.join(fx, "text_features.npy")), with_fp16, 1e-7)

# ---- maps and score, on the fixtures
text = np.load(os.path.join(fx, "text_features.npy")).astype(np.float64)
S, (gh, gw) = info["size"], info["grid"]
k = ref.gaussian_kernel(info["sigma"])
tu.check("scipy's kernel for sigma 4 has radius 16", len(k) == 33, str(len(k)))
for im in info["images"]:
    d = os.path.join(fx, im["dir"])
    g = np.load(os.path.join(d, "global.npy")).astype(np.float64)
    logits = text @ (g / np.linalg.norm(g)) / info["temperature"]
    close(f"{im['dir']}: image score = softmax(cos(global, text) / 0.07)[abnormal]",
          np.load(os.path.join(d, "image_score.npy")), [np.exp(logits[1]) / np.exp(logits).sum()], 1e-6)
    tokens = np.load(os.path.join(d, "tokens.npy")).astype(np.float64)
    for case, layers in info["cases"].items():
        grids = np.load(os.path.join(d, case, "grids.npy"))
        f = tokens[np.array(layers) - 1]
        f /= np.linalg.norm(f, axis=-1, keepdims=True)
        z = f @ text.T / info["temperature"]
        close(f"{im['dir']} {case}: grids = softmax(cos(tokens, text) / 0.07)[abnormal]", grids,
              (np.exp(z[..., 1]) / np.exp(z).sum(-1)).reshape(len(layers), gh, gw), 1e-6)
        grid_sum = np.load(os.path.join(d, case, "grid_sum.npy"))
        close(f"{im['dir']} {case}: grid_sum is the sum of the grids", grid_sum, grids.astype(np.float64).sum(0), 1e-6)
        up = F.interpolate(torch.from_numpy(grid_sum.astype(np.float64))[None, None], size=(S, S), mode="bilinear",
                           align_corners=False)[0, 0].numpy()
        amap = np.load(os.path.join(d, case, "map.npy"))
        close(f"{im['dir']} {case}: map = bilinear upsampling of grid_sum", amap, up, 1e-5)
        m = np.pad(amap.astype(np.float64), 16, mode="symmetric")
        m = np.apply_along_axis(lambda r: np.convolve(r, k, "valid"), 0, m)
        m = np.apply_along_axis(lambda r: np.convolve(r, k, "valid"), 1, m)
        close(f"{im['dir']} {case}: map_blur = separable Gaussian, radius 16, symmetric padding",
              np.load(os.path.join(d, case, "map_blur.npy")), m, 1e-5)
tu.finish()
