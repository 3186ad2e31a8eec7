"""tools/tokenclip-encode end to end, against PyTorch. Run by meson with the
tool's path as the argument.

- --input x.npy: the tokens of clip_fixtures.py's float64 forward, within the
  tolerance of tests/test_encoder.c (each value within 1e-4 of its row's
  largest magnitude + 1e-4 of itself, relative L2 error <= 2e-5); also with
  --ref (the plain-C reference) and with the value-value stream, a resized
  positional embedding and fp16 weights.
- --image file.png: a PNG written here (numpy + zlib) through PyTorch's
  preprocessing (F.interpolate(bicubic or bilinear, antialias=True), /255,
  CLIP mean/std, as tests/torch/test_ref_image.py) and the same forward; an
  RGBA PNG of the same colours with varying alpha gives the same tokens.
- The settings: without --vv-start the V-V stream from round(L/4) (the
  detector's zero-shot default); the plain-CLIP cases set --vv-start 0.
  --feature-layers and --global-ln-post against ac_reference.vision (the
  tokens of several layers, the global token without ln_post), and the same
  from a head file's defaults (--head), an option overriding one.
- Errors: missing, truncated and malformed files, wrong shapes and bad
  options give a non-zero exit and a message that names the file or option."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np
import torch
import torch.nn.functional as F

import clip_fixtures as cf
import tc_ctypes as t

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(ROOT, "tests", "anomalyclip"), os.path.join(ROOT, "tools", "export")]
import ac_reference  # noqa: E402
import head_defaults  # noqa: E402

tool = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="tc-tool-encode-")
MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073], dtype=torch.float64).view(3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711], dtype=torch.float64).view(3, 1, 1)


def check(cond, what):
    print(("ok " if cond else "FAIL ") + what, flush=True)
    if not cond:
        t.failures += 1
    return cond


def run(*args):
    p = subprocess.run([tool, *args], capture_output=True, text=True, timeout=120)
    if "Vulkan validation" in p.stderr or "VUID" in p.stderr:
        check(False, f"the validation layer said nothing: {p.stderr.strip()}")
    return p.returncode, p.stdout, p.stderr


def close_tokens(what, got, want):
    """tests/test_encoder.c's tolerance."""
    if not check(got.dtype == np.float32 and got.shape == want.shape,
                 f"{what}: float32 {want.shape}, got {got.dtype} {got.shape}"):
        return
    got, want = got.astype(np.float64), want.astype(np.float64)
    lim = 1e-4 * np.abs(want).max(axis=1, keepdims=True) + 1e-4 * np.abs(want)
    ratio = np.abs(got - want) / lim
    l2 = np.linalg.norm(got - want) / np.linalg.norm(want)
    check(bool((ratio <= 1).all()) and l2 <= 2e-5,
          f"{what}: relative L2 error {l2:.3g}, worst element at {ratio.max():.2f} of its tolerance")


def write_png(path, pixels):
    """pixels: uint8 [H, W, 3] (colour type 2) or [H, W, 4] (type 6), 8 bits,
    every row with filter 0."""
    h, w, c = pixels.shape
    raw = b"".join(b"\0" + pixels[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, {3: 2, 4: 6}[c], 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9))
                + chunk(b"IEND", b""))


def torch_preprocess(rgb, size, mode):
    """uint8 [H, W, 3] -> float64 [3, size, size] as the preprocess kernel computes it."""
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).double()[None] / 255.0
    y = F.interpolate(x, size=(size, size), mode=mode, align_corners=False, antialias=True)[0]
    return ((y - MEAN) / STD).numpy()


def fixture(name, **kw):
    """A model, input.npy and tokens.npy from clip_fixtures.py, and its weights
    and config for further forwards."""
    out = os.path.join(tmp, name)
    info = cf.write_fixture(out, seed=5, **kw)
    weights = cf.quantize_all(cf.random_weights(info["cfg"], 5), info["dtype"])
    return out, info, weights


def load_json(text, what):
    try:
        return json.loads(text)
    except ValueError:
        check(False, f"{what}: the summary on stdout is JSON: {text!r}")
        return {}


# ---- --input: the fixture writer's forward ------------------------------

plain, plain_info, plain_w = fixture("plain", config="tiny", naming="hf", dtype="f32")
model = os.path.join(plain, "model.safetensors")
out = os.path.join(tmp, "tokens.npy")
want = np.load(os.path.join(plain, "tokens.npy"))
# plain CLIP: the fixture's forward without the V-V stream
rc, so, se = run("--model", model, "--input", os.path.join(plain, "input.npy"), "--output", out, "--reps", "2",
                 "--vv-start", "0")
if check(rc == 0, f"--input ran (exit {rc}) {se.strip()}"):
    close_tokens("--input tokens vs PyTorch", np.load(out), want)
    js = load_json(so, "--input")
    cfg = plain_info["cfg"]
    check(js.get("config", {}).get("width") == cfg["width"] and js["config"]["layers"] == cfg["layers"]
          and js["config"]["embed"] == cfg["embed"] and js["config"]["act"] == "quick_gelu"
          and js["naming"] == "hf" and js["input_size"] == 32 and js["grid"] == 4 and js["tokens"] == 17
          and js["dim"] == 96 and js["reps"] == 2 and js["device"] and js["kernels"] in ("cpu", "gpu")
          and js["run_ms"] > 0, f"summary: {so.strip()}")
rc, so, se = run("--model", model, "--input", os.path.join(plain, "input.npy"), "--output", out, "--ref",
                 "--vv-start", "0")
if check(rc == 0, f"--ref ran (exit {rc}) {se.strip()}"):
    close_tokens("--ref tokens vs PyTorch", np.load(out), want)
    check(load_json(so, "--ref").get("device") == "C reference", "--ref says it ran the C reference")

# ---- the settings: defaults, feature layers, the global token, a head file's defaults

x_plain = np.load(os.path.join(plain, "input.npy"))
L = plain_info["cfg"]["layers"]
rc, so, se = run("--model", model, "--input", os.path.join(plain, "input.npy"), "--output", out)
if check(rc == 0, f"no --vv-start (exit {rc}) {se.strip()}"):
    js = load_json(so, "defaults")
    check(js.get("vv_start") == max(1, round(L / 4)) and js["feature_layers"] == [L] and js["global_ln_post"],
          f"defaults: the V-V stream from round(L/4) = {max(1, round(L / 4))} of {L}, the last layer: {js}")
    close_tokens("default settings vs PyTorch with the V-V stream from round(L/4)", np.load(out),
                 cf.forward(plain_w, plain_info["cfg"], x_plain, act=plain_info["act"],
                            vv_start=max(1, round(L / 4))).astype(np.float32))


def layered(vv_start, layers):
    """ac_reference's tokens of several layers, row 0 of each the global token without ln_post: [n, 1 + N, D]."""
    o = ac_reference.vision(plain_w, plain_info["cfg"], torch.from_numpy(x_plain).double(), vv_start, layers,
                            act=plain_info["act"])
    g = o["global_token"].numpy()[None]
    return np.stack([np.concatenate([g, o["tokens"][l].numpy()]) for l in layers]).astype(np.float32)


def close_blocks(what, got, want):
    if check(got.shape == want.shape, f"{what}: shape {got.shape}, want {want.shape}"):
        close_tokens(what, got.reshape(-1, got.shape[-1]), want.reshape(-1, want.shape[-1]))


want2 = layered(2, [1, L])
rc, so, se = run("--model", model, "--input", os.path.join(plain, "input.npy"), "--output", out,
                 "--feature-layers", f"1,{L}", "--vv-start", "2", "--global-ln-post", "0")
if check(rc == 0, f"--feature-layers 1,{L} --global-ln-post 0 (exit {rc}) {se.strip()}"):
    close_blocks(f"layers 1 (ordinary stream) and {L} (V-V from 2), global without ln_post vs ac_reference",
                 np.load(out), want2)
    js = load_json(so, "--feature-layers")
    check(js.get("feature_layers") == [1, L] and js["global_ln_post"] is False, f"summary: {js}")
rc, so, se = run("--model", model, "--input", os.path.join(plain, "input.npy"), "--output", out, "--ref",
                 "--feature-layers", f"1,{L}", "--vv-start", "2", "--global-ln-post", "0")
if check(rc == 0, f"--feature-layers --ref (exit {rc}) {se.strip()}"):
    close_blocks("the same from the C reference", np.load(out), want2)
head = os.path.join(tmp, "defaults-head.safetensors")
head_defaults.write_head(head, np.random.default_rng(1).normal(size=(1, 2, 96)),
                         dict(vv_start=2, feature_layers=[1, L], global_ln_post=0))
rc, so, se = run("--model", model, "--input", os.path.join(plain, "input.npy"), "--output", out, "--head", head)
if check(rc == 0, f"--head with defaults (exit {rc}) {se.strip()}"):
    close_blocks("a head file's defaults alone give the same", np.load(out), want2)
rc, so, se = run("--model", model, "--input", os.path.join(plain, "input.npy"), "--output", out, "--head", head,
                 "--feature-layers", str(L))
if check(rc == 0, f"--head and --feature-layers (exit {rc}) {se.strip()}"):
    close_blocks("--feature-layers overrides the head file's", np.load(out)[None], want2[1:])

vv, vv_info, vv_w = fixture("vv", config="tiny", naming="openclip", dtype="f16", image_size=48, vv_start=2,
                            pos_interp="bilinear")
rc, so, se = run("--model", os.path.join(vv, "model.safetensors"), "--input", os.path.join(vv, "input.npy"),
                 "--output", out, "--vv-start", "2", "--pos-interp", "bilinear")
if check(rc == 0, f"--vv-start 2 --pos-interp bilinear at 48 (exit {rc}) {se.strip()}"):
    close_tokens("V-V stream, 6x6 grid from 4x4, fp16 weights vs PyTorch", np.load(out),
                 np.load(os.path.join(vv, "tokens.npy")))
    js = load_json(so, "--vv-start")
    check(js.get("input_size") == 48 and js["grid"] == 6 and js["vv_start"] == 2 and js["pos_interp"] == "bilinear"
          and js["naming"] == "openclip", "summary gives size 48, grid 6, vv-start 2, bilinear, openclip")

# ---- --image: PyTorch preprocessing + forward -----------------------------

rng = np.random.default_rng(11)
H, W = 45, 61  # neither square nor the input size: downscaled to 32 and upscaled to 48 below
yy, xx = np.mgrid[0:H, 0:W]
rgb = np.stack([(xx * 4) % 256, (yy * 5 + xx) % 256, 128 + 100 * np.sin(xx / 5.0) * np.cos(yy / 7.0)], axis=-1)
rgb = np.clip(rgb + rng.integers(-20, 21, size=rgb.shape), 0, 255).astype(np.uint8)
png = os.path.join(tmp, "picture.png")
write_png(png, rgb)
rgba_png = os.path.join(tmp, "picture-alpha.png")
write_png(rgba_png, np.concatenate([rgb, rng.integers(0, 256, size=(H, W, 1), dtype=np.uint8)], axis=-1))

cases = [  # (what, fixture dir, info, weights, options, size, resize mode)
    ("--image, pre-training size, bicubic", plain, plain_info, plain_w, ["--vv-start", "0"], 32, "bicubic"),
    ("--image, --input-size 48, --resample bilinear, V-V stream", vv, vv_info, vv_w,
     ["--input-size", "48", "--vv-start", "2", "--pos-interp", "bilinear", "--resample", "bilinear"], 48, "bilinear"),
]
for what, d, info, w, opts, size, mode in cases:
    x = torch_preprocess(rgb, size, mode)
    ref = cf.forward(w, info["cfg"], x, act=info["act"], vv_start=info["vv_start"], pos_interp=info["pos_interp"])
    rc, so, se = run("--model", os.path.join(d, "model.safetensors"), "--image", png, "--output", out, *opts)
    if check(rc == 0, f"{what} ran (exit {rc}) {se.strip()}"):
        got = np.load(out)
        close_tokens(f"{what}: tokens vs PyTorch", got, ref.astype(np.float32))
        js = load_json(so, what)
        check(js.get("input", {}).get("format") == "PNG" and js["input"]["width"] == W
              and js["input"]["height"] == H and js["input_size"] == size, f"{what}: summary names the picture")
        rc, _, se = run("--model", os.path.join(d, "model.safetensors"), "--image", rgba_png, "--output", out, *opts)
        check(rc == 0 and np.array_equal(np.load(out), got), f"{what}: alpha is ignored (exit {rc}) {se.strip()}")
    rc, _, se = run("--model", os.path.join(d, "model.safetensors"), "--image", png, "--output", out, "--ref", *opts)
    if check(rc == 0, f"{what} --ref ran (exit {rc}) {se.strip()}"):
        close_tokens(f"{what} --ref: tokens vs PyTorch", np.load(out), ref.astype(np.float32))

# ---- errors -------------------------------------------------------------


def fails(what, args, names, status=1):
    """The tool exits with status and its message contains every string of names."""
    rc, so, se = run(*args)
    check(rc == status and all(n in se for n in names) and "Segmentation" not in se,
          f"{what}: exit {rc} (want {status}), {se.strip().splitlines()[0] if se.strip() else 'no message'}")


inp = os.path.join(plain, "input.npy")
missing = os.path.join(tmp, "no-such-model.safetensors")
fails("missing model", ["--model", missing, "--input", inp, "--output", out], [missing])
fails("missing input", ["--model", model, "--input", os.path.join(tmp, "none.npy"), "--output", out], ["none.npy"])
fails("missing image", ["--model", model, "--image", os.path.join(tmp, "none.png"), "--output", out], ["none.png"])
for name, arr in (("flat.npy", np.zeros((3, 32), np.float32)), ("four.npy", np.zeros((4, 32, 32), np.float32)),
                  ("oblong.npy", np.zeros((3, 32, 40), np.float32)), ("odd.npy", np.zeros((3, 30, 30), np.float32))):
    p = os.path.join(tmp, name)
    np.save(p, arr)
    fails(f"wrong-shape input {arr.shape}", ["--model", model, "--input", p, "--output", out], [p])
ints = os.path.join(tmp, "ints.npy")
np.save(ints, np.zeros((3, 32, 32), np.int32))
fails("integer .npy", ["--model", model, "--input", ints, "--output", out], [ints])
fails("--input-size differs from the .npy", ["--model", model, "--input", inp, "--output", out, "--input-size", "48"],
      [inp, "48"])
data = open(png, "rb").read()
for name, cut in (("truncated.png", len(data) // 2), ("header-only.png", 40)):
    p = os.path.join(tmp, name)
    with open(p, "wb") as f:
        f.write(data[:cut])
    fails(f"{name} ({cut} of {len(data)} bytes)", ["--model", model, "--image", p, "--output", out], [p])
# JPEG defects (issue 15): a header that claims 25443 x 25443 pixels is refused
# before anything is allocated (it made the tool allocate 2.6 GB); data that
# stops at an end-of-image marker is truncation, not a grey picture.
import io
from PIL import Image
buf = io.BytesIO()
Image.fromarray(np.random.default_rng(5).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
jpeg = buf.getvalue()
sof = jpeg.index(b"\xff\xc0")  # baseline SOF0: length(2) precision(1) height(2) width(2)
bomb = bytearray(jpeg)
bomb[sof + 5:sof + 9] = (25443).to_bytes(2, "big") * 2
bomb_path = os.path.join(tmp, "bomb.jpg")
with open(bomb_path, "wb") as f:
    f.write(bytes(bomb[:jpeg.index(b"\xff\xda") + 64]))  # the headers and a little data
fails("JPEG header claiming 25443 x 25443 pixels", ["--model", model, "--image", bomb_path, "--output", out],
      [bomb_path, "647346249 pixels", "decompression-bomb"])
sos = jpeg.index(b"\xff\xda")
cut_path = os.path.join(tmp, "stops-at-eoi.jpg")
with open(cut_path, "wb") as f:
    f.write(jpeg[:sos + (len(jpeg) - sos) // 3] + b"\xff\xd9")
fails("JPEG data stopping at an end-of-image marker", ["--model", model, "--image", cut_path, "--output", out],
      [cut_path, "truncated"])
text = os.path.join(tmp, "notes.png")
with open(text, "w") as f:
    f.write("not a picture at all\n")
fails("a text file named .png", ["--model", model, "--image", text, "--output", out], [text, "not a PNG or JPEG"])
bad_model = os.path.join(tmp, "truncated.safetensors")
with open(bad_model, "wb") as f:
    f.write(open(model, "rb").read()[:5000])
fails("truncated model", ["--model", bad_model, "--input", inp, "--output", out], [bad_model])
fails("--image size not a multiple of the patch",
      ["--model", model, "--image", png, "--output", out, "--input-size", "36"], [model, "36"])
fails("--vv-start beyond the layers", ["--model", model, "--input", inp, "--output", out, "--vv-start", "4"],
      [model, "vv-start 4"])
bad_out = os.path.join(tmp, "no-such-dir", "tokens.npy")
fails("unwritable output", ["--model", model, "--input", inp, "--output", bad_out], [bad_out])
fails("--input and --image together", ["--model", model, "--input", inp, "--image", png, "--output", out],
      ["not both"], status=2)
fails("no --output", ["--model", model, "--input", inp], ["--output"], status=2)
fails("bad --pos-interp", ["--model", model, "--input", inp, "--output", out, "--pos-interp", "nearest"],
      ["--pos-interp", "nearest"], status=2)
fails("bad --vv-start", ["--model", model, "--input", inp, "--output", out, "--vv-start", "two"], ["--vv-start"],
      status=2)
fails("decreasing --feature-layers", ["--model", model, "--input", inp, "--output", out, "--feature-layers", "3,1"],
      ["--feature-layers", "feature_layers 3,1: must be"], status=2)
fails("--feature-layers not a list", ["--model", model, "--input", inp, "--output", out, "--feature-layers", "1,,3"],
      ["--feature-layers takes layers"], status=2)
fails("--feature-layers beyond the model", ["--model", model, "--input", inp, "--output", out,
                                            "--feature-layers", "9"], [model, "feature layer 9"])
fails("a head file that is not one", ["--model", model, "--input", inp, "--output", out, "--head", inp], [inp])
rc, so, _ = run("--help")
check(rc == 0 and "--image" in so and "--vv-start" in so, f"--help prints the usage (exit {rc})")

shutil.rmtree(tmp)
t.finish()
