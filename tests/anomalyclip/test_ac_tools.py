"""tokenclip-infer and tokenclip-eval with the exporter's AnomalyCLIP heads
alone, on the fixture pictures as PNG files (8-bit, exact), against our
float64 reference of AnomalyCLIP's inference (write_ac_fixtures.py):

- tokenclip-infer --head head-single on the picture at its own size: the
  token scores (--scores) == single/grid_sum.npy and the image score ==
  image_score.npy; the JSON gives the head file's defaults in effect;
- with --feature-layers 1,2,3,4 over head-single's [4]: multi/grid_sum.npy;
- on the picture PIL-resized to 48 x 48 with head-multi: the map (--map) ==
  multi/map_blur.npy (AnomalyCLIP's map at S x S);
- tokenclip-eval --head head-multi on the three pictures in MVTec AD
  layout (eval size: the head's input size, 48): every map (--maps) ==
  multi/map_blur.npy and every image score in the JSON == image_score.npy;
- head files whose defaults do not fit the model: errors naming the tensor.

Tolerance: |got - want| <= 1e-4 |want| + 1e-6 (fp32 against float64).

    test_ac_tools.py FIXTURES_DIR TOKENCLIP_INFER TOKENCLIP_EVAL"""
import json
import os
import shutil
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "eval"))
import eval_fixtures  # noqa: E402
import tc_testutil as tu  # noqa: E402

fx, infer, evaluate = sys.argv[1:4]
info = json.load(open(os.path.join(fx, "fixture.json")))
clip = os.path.join(fx, "clip.safetensors")
heads = {case: os.path.join(fx, f"head-{case}.safetensors") for case in ("single", "multi")}
tmp = tempfile.mkdtemp(prefix="tc-ac-tools-")
worst = {}


def close(kind, what, got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if not tu.check(f"{what}: shape {want.shape}", got.shape == want.shape, f"got {got.shape}"):
        return
    d = np.abs(got - want)
    worst[kind] = max(worst.get(kind, 0.0), float((d / np.maximum(np.abs(want), 1e-30)).max()))
    tu.check(f"{what} (max abs {d.max():.2g}, max rel {(d / np.maximum(np.abs(want), 1e-30)).max():.2g})",
             bool((d <= 1e-4 * np.abs(want) + 1e-6).all()))


def run(*args):
    p = tu.run(*args, timeout=120)
    tu.check("the validation layer (TOKENCLIP_VALIDATE=1) said nothing", "Vulkan validation" not in p.stderr,
             p.stderr)
    return p


images = [im["dir"] for im in info["images"]]
S = info["size"]
for name in images:
    d = os.path.join(fx, name)
    png = os.path.join(tmp, name + ".png")
    eval_fixtures.write_png(png, np.load(os.path.join(d, "image.npy")).astype(np.uint8))
    resized = os.path.join(tmp, name + "-48.png")
    rgba = np.fromfile(os.path.join(d, "resized.rgba"), np.uint8).reshape(S, S, 4)
    eval_fixtures.write_png(resized, rgba[:, :, :3])
    score = float(np.load(os.path.join(d, "image_score.npy"))[0])
    scores = os.path.join(tmp, "scores.npy")

    p = run(infer, "--model", clip, "--head", heads["single"], "--image", png, "--scores", scores)
    if tu.check(f"{name}: tokenclip-infer --head head-single runs", p.returncode == 0, p.stderr):
        js = json.loads(p.stdout)
        close("summed grid", f"{name}: infer, head-single alone: token scores == single/grid_sum.npy",
              np.load(scores), np.load(os.path.join(d, "single", "grid_sum.npy")))
        close("image score", f"{name}: infer: image score == image_score.npy", [js["image_score"]], [score])
        want = dict(input_size=S, vv_start=info["vv_start"], feature_layers=[4], global_ln_post=False,
                    resample="bicubic-pil", pos_interp="bilinear", image_blend=0, sigma=4, layers=1)
        tu.check(f"{name}: infer's JSON gives the head file's defaults in effect",
                 all(js.get(k) == v for k, v in want.items()), str({k: js.get(k) for k in want}))

    p = run(infer, "--model", clip, "--head", heads["single"], "--image", png, "--scores", scores,
            "--feature-layers", "1,2,3,4")
    if tu.check(f"{name}: --feature-layers 1,2,3,4 over head-single runs", p.returncode == 0, p.stderr):
        close("summed grid", f"{name}: infer, the option over the head's [4]: token scores == multi/grid_sum.npy",
              np.load(scores), np.load(os.path.join(d, "multi", "grid_sum.npy")))

    mapf = os.path.join(tmp, "map.npy")
    p = run(infer, "--model", clip, "--head", heads["multi"], "--image", resized, "--map", mapf)
    if tu.check(f"{name}: infer --head head-multi on the 48 x 48 picture runs", p.returncode == 0, p.stderr):
        close("S x S map", f"{name}: infer, head-multi: the 48 x 48 map == multi/map_blur.npy", np.load(mapf),
              np.load(os.path.join(d, "multi", "map_blur.npy")))
        close("image score", f"{name}: infer, 48 x 48: image score", [json.loads(p.stdout)["image_score"]], [score])

# tokenclip-eval on the pictures in MVTec AD layout: img0 normal, the others anomalous (masks: a disc)
root = os.path.join(tmp, "mvtec")
where = {}
for k, name in enumerate(images):
    defect = "good" if k == 0 else "dent"
    os.makedirs(os.path.join(root, "widget", "test", defect), exist_ok=True)
    image = np.load(os.path.join(fx, name, "image.npy")).astype(np.uint8)
    eval_fixtures.write_png(os.path.join(root, "widget", "test", defect, name + ".png"), image)
    if k:
        os.makedirs(os.path.join(root, "widget", "ground_truth", defect), exist_ok=True)
        h, w = image.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w]
        mask = (((yy - h / 2) ** 2 + (xx - w / 3) ** 2) < (min(h, w) / 4) ** 2) * 255
        eval_fixtures.write_png(os.path.join(root, "widget", "ground_truth", defect, name + "_mask.png"), mask)
    where[f"{defect}_{name}"] = name
maps, out = os.path.join(tmp, "maps"), os.path.join(tmp, "eval.json")
p = run(evaluate, "--model", clip, "--head", heads["multi"], "--data", root, "--maps", maps, "--json", out)
if tu.check("tokenclip-eval --head head-multi runs", p.returncode == 0, p.stderr):
    js = json.load(open(out))
    tu.check("eval: the head file's defaults in effect (eval size 48, layers 1..4, PIL's resize)",
             js["eval_size"] == S and js["feature_layers"] == [1, 2, 3, 4] and js["resample"] == "bicubic-pil"
             and js["vv_start"] == info["vv_start"] and js["global_ln_post"] is False, str(js))
    samples = js["categories"]["widget"]["samples"]
    tu.check("eval: three images", len(samples) == 3, str(samples))
    for smp in samples:
        stem = os.path.splitext(os.path.basename(smp["image"]))[0]
        name = where[f"{smp['defect']}_{stem}"]
        d = os.path.join(fx, name)
        close("S x S map", f"eval {name}: the map == multi/map_blur.npy", np.load(smp["map"]),
              np.load(os.path.join(d, "multi", "map_blur.npy")))
        close("image score", f"eval {name}: the image score == image_score.npy", [smp["score"]],
              np.load(os.path.join(d, "image_score.npy")))

# a head file whose defaults do not fit the model: an error naming the file and the tensor
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tools", "export"))
import head_defaults  # noqa: E402
from safetensors_io import SafetensorsFile  # noqa: E402

sub = SafetensorsFile(heads["single"]).floats("subspaces")
for name, defaults, needle in (("vv_start", dict(vv_start=9), "tensor 'vv_start' is 9"),
                               ("feature_layers", dict(feature_layers=[2, 5]), "tensor 'feature_layers' is 2,5"),
                               ("input_size", dict(input_size=50), "tensor 'input_size' is 50")):
    bad = os.path.join(tmp, f"bad-{name}.safetensors")
    head_defaults.write_head(bad, sub, defaults)
    p = run(infer, "--model", clip, "--head", bad, "--image", os.path.join(tmp, images[0] + ".png"))
    tu.check(f"infer with a head whose {name} does not fit the 4-layer, patch-8 model: exit 1, the message names "
             f"the file and the tensor", p.returncode == 1 and bad in p.stderr and needle in p.stderr, p.stderr)

print("largest relative errors against the reference:", ", ".join(f"{k} {v:.2g}" for k, v in worst.items()))
shutil.rmtree(tmp)
tu.finish()
