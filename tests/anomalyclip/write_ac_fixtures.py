#!/usr/bin/python3
"""Writes the AnomalyCLIP fixtures: a tiny random CLIP, a random AnomalyCLIP
checkpoint, the heads the exporter makes of them, and for a few random
images what our reference of AnomalyCLIP's inference (ac_reference.py)
gives, for one feature layer and for several.

    write_ac_fixtures.py --out DIR [--seed S]

DIR/clip.safetensors        tiny CLIP, both towers, OpenAI naming, F32
                            (vision: width 128, 4 layers, patch 8, pre-training
                            size 32; text: width 128, 10 layers; embed 96)
DIR/checkpoint.pth          {"prompt_learner": state dict} in AnomalyCLIP's layout
DIR/head-single.safetensors exporter output, feature_layers [4]
DIR/head-multi.safetensors  exporter output, feature_layers [1, 2, 3, 4]
                            (both: input_size 48, vv_start 2, the other
                            defaults AnomalyCLIP's: HEAD_DEFAULTS.md)
DIR/text_features.npy       [2, 96] the reference's text features (normal,
                            abnormal), L2-normalised
DIR/fixture.json            sizes, layers, cases, images, tolerances
DIR/imgK/ (K = 0, 1, 2)     one image each:
  image.npy        [H, W, 3] RGB, integer values 0..255 (stored as float32)
  input.npy        [3, 48, 48] preprocessed: PIL bicubic resize (8-bit, as
                   AnomalyCLIP), /255, OpenAI mean/std
  input_float.npy  [3, 48, 48] the same filter in float, unrounded (what
                   torch's antialias=True gives)
  global.npy       [96] global token x_final[CLS] @ proj (no ln_post, not normalised)
  tokens.npy       [4, 36, 96] patch tokens of layers 1..4 through ln_post and
                   proj (not normalised): layer 1 the ordinary stream, layers
                   2..4 the V-V stream (vv_start 2)
  image_score.npy  [1] softmax(cos(global, text) / 0.07)[abnormal]
  image_score.txt  the same as text (for the element test, which reads no .npy)
  resized.rgba     [48, 48, 4] bytes: the picture through PIL's 8-bit resize to
                   S x S (what input.npy normalises), RGBA with alpha 255: the
                   frame tokenclip-eval gives the detector
  single/, multi/  for feature layers [4] and [1, 2, 3, 4]:
    grids.npy      [n, 6, 6] abnormal probability per feature layer on the grid
    grid_sum.npy   [6, 6] their sum
    map.npy        [48, 48] sum over layers of the bilinearly upsampled maps
    map_blur.npy   [48, 48] gaussian_filter(map, sigma 4, reflect, truncate 4)
Everything is computed in float64 and stored as float32."""
import argparse
import json
import os
import sys

import numpy as np
import torch

import ac_fixtures as acf
import ac_reference as ref

SIZE = 48
VV_START = 2
CASES = {"single": [4], "multi": [1, 2, 3, 4]}
IMAGES = [(40, 56), (64, 64), (97, 31)]  # H, W: down- and upscaling, both axes


def save(path, x):
    np.save(path, np.ascontiguousarray(np.asarray(x, np.float64), np.float32))


def random_image(rng, h, w):
    """Smooth structure plus noise, so that resizing and blurring both matter."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([np.sin(xx / (3 + c) + c) * np.cos(yy / (4 + c)) for c in range(3)], -1) * 90 + 128
    return np.clip(base + rng.normal(0, 30, (h, w, 3)), 0, 255).round()


def write(out, seed=0):
    os.makedirs(out, exist_ok=True)
    vw, vcfg, tw, tcfg = acf.tiny_clip(seed)
    clip = os.path.join(out, "clip.safetensors")
    acf.save_clip(clip, vw, vcfg, tw, tcfg, "openclip", "f32")
    sd = acf.random_checkpoint(tw, tcfg, seed)
    ckpt = os.path.join(out, "checkpoint.pth")
    acf.save_checkpoint(ckpt, sd)
    exporter = acf.load_exporter()
    for case, layers in CASES.items():
        exporter.export(clip, ckpt, os.path.join(out, f"head-{case}.safetensors"),
                        dict(input_size=SIZE, vv_start=VV_START, feature_layers=layers))
    text = ref.text_features(tw, tcfg, sd)
    save(os.path.join(out, "text_features.npy"), text)
    rng = np.random.default_rng(seed + 11)
    all_layers = list(range(1, vcfg["layers"] + 1))
    for k, (h, w) in enumerate(IMAGES):
        d = os.path.join(out, f"img{k}")
        os.makedirs(d, exist_ok=True)
        image = random_image(rng, h, w)
        x = ref.preprocess(image, SIZE)
        o = ref.vision(vw, vcfg, x, VV_START, all_layers)
        save(os.path.join(d, "image.npy"), image)
        save(os.path.join(d, "input.npy"), x)
        save(os.path.join(d, "input_float.npy"), ref.preprocess(image, SIZE, pil=False))
        save(os.path.join(d, "global.npy"), o["global_token"])
        save(os.path.join(d, "tokens.npy"), torch.stack([o["tokens"][l] for l in all_layers]))
        for case, layers in CASES.items():
            m = ref.maps(o, text, layers, SIZE, sigma=4.0)
            os.makedirs(os.path.join(d, case), exist_ok=True)
            for name in ("grids", "grid_sum", "map", "map_blur"):
                save(os.path.join(d, case, name + ".npy"), m[name])
        save(os.path.join(d, "image_score.npy"), [m["image_score"]])  # the same for every case
        with open(os.path.join(d, "image_score.txt"), "w") as f:
            f.write(f"{m['image_score']:.9g}\n")
        rgba = np.concatenate([ref.resize_pil(image, SIZE), np.full((SIZE, SIZE, 1), 255.0)], axis=-1)
        rgba.astype(np.uint8).tofile(os.path.join(d, "resized.rgba"))
    info = dict(seed=seed, size=SIZE, grid=[SIZE // vcfg["patch"]] * 2, vv_start=VV_START, cases=CASES,
                images=[dict(dir=f"img{k}", height=h, width=w) for k, (h, w) in enumerate(IMAGES)],
                vision=vcfg, text=tcfg, sigma=4.0, temperature=ref.TEMPERATURE,
                pos_interp="bilinear", resample="PIL bicubic, 8-bit passes, horizontal first",
                tolerance="relative 1e-4 in fp32 (the C side's target)")
    with open(os.path.join(out, "fixture.json"), "w") as f:
        json.dump(info, f, indent=1)
    return info


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    write(a.out, a.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
