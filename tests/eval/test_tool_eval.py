"""tokenclip-eval end to end on a tiny synthetic data set (eval_fixtures)
with a tiny random model and head: the model is random, so the metrics mean
nothing, but the test checks

- the structure: the table, the JSON (parses, every value in [0, 1], the
  categories and counts of the data set), the panels (PNG files of the
  expected size), no progress bar when stderr is not a terminal;
- a known answer whatever the model: the `twins` category is one picture six
  times, so every image score ties: image AUROC 0.5 and AP 0.5 exactly;
- the whole path against an independent computation: scikit-learn and the
  AUPRO reference (aupro_ref.py) on the image scores (JSON) and maps
  (--maps) of the `widget` images, with the masks read here, must give the
  JSON's numbers; tokenclip-infer on two of the images (already at the
  evaluation size, so neither tool resizes) gives the same maps and scores;
- the images' resize to the evaluation size is PIL's (AnomalyCLIP's input):
  at --eval-size 32, tokenclip-infer on the picture resized by Debian's PIL
  gives eval's map and score (the float filter, rounded, would not); the
  masks' is AnomalyCLIP's target transform (PIL's bilinear of the 0/255
  mask, / 255 > 0.5): the pixel metrics from eval's maps and such masks
  are eval's (the float filter's masks differ);
- VisA's CSV on the same images gives the same numbers as the MVTec layout;
- --heads-dir, --categories, --limit, --eval-size (smaller than the images,
  and 0 = native) and the errors (missing mask, folder, column, category,
  head file) with messages that name the problem.

usage: test_tool_eval.py TOKENCLIP_EVAL TOKENCLIP_INFER MODEL.safetensors (embed 96)"""
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.metrics import average_precision_score, roc_auc_score

import aupro_ref
import eval_fixtures
from tc_testutil import check, finish, run
from test_tool_infer import png_size

SIZE = 64  # the images' size and the --input-size: the evaluation size


def metrics_in_range(res):
    vals = []
    for c in list(res["categories"].values()) + [res["mean"]]:
        vals += [c[k] for k in ("image_auroc", "image_ap", "pixel_auroc", "aupro", "pixel_ap") if c[k] is not None]
    return all(0 <= v <= 1 for v in vals) and len(vals) > 0


def check_pil_resize(infer, common, head, sample, size, tmp):
    """eval's map and score of `sample` at size == tokenclip-infer's on the picture resized by PIL."""
    rgb = np.asarray(Image.open(sample["image"]).convert("RGB"))
    pil = np.asarray(Image.fromarray(rgb).resize((size, size), Image.BICUBIC))
    x = torch.from_numpy(rgb).permute(2, 0, 1).double()[None]
    flt = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True)[0]
    flt = flt.round().clamp(0, 255).permute(1, 2, 0).numpy().astype(np.uint8)
    differ = int((flt != pil).any(axis=2).sum())
    check(f"the float filter, rounded, differs from PIL's in {differ} of {size * size} pixels (the check can fail)",
          differ > 0)
    png = os.path.join(tmp, "pil.png")
    Image.fromarray(pil).save(png)
    npy = os.path.join(tmp, "pil.npy")
    r = run(infer, *common, "--head", head, "--image", png, "--map", npy)
    ok = r.returncode == 0
    if ok:
        m, want = np.load(npy), np.load(sample["map"])
        ok = m.shape == want.shape and np.abs(m - want).max() <= 1e-6 and \
            abs(json.loads(r.stdout)["image_score"] - sample["score"]) <= 1e-6
    check(f"--eval-size {size}: the image resized as PIL does (tokenclip-infer on PIL's resize: the same map "
          "and score)", ok, r.stderr)


def check_mask_resize(w, by_path, size):
    """eval's pixel metrics at size == those of its maps and AnomalyCLIP's masks."""
    maps, masks, floats = [], [], []
    for x in w["samples"]:
        maps.append(np.load(x["map"]))
        path = by_path[x["image"]]["mask"]
        if path is None:
            masks.append(np.zeros((size, size), np.uint8))
            floats.append(masks[-1])
            continue
        m = (eval_fixtures.read_png_grey(path) > 0).astype(np.uint8)
        pil = np.asarray(Image.fromarray(m * 255, mode="L").resize((size, size), Image.BILINEAR))
        masks.append((pil / 255.0 > 0.5).astype(np.uint8))
        f = F.interpolate(torch.from_numpy(m).double()[None, None], size=(size, size), mode="bilinear",
                          align_corners=False, antialias=True)[0, 0].numpy()
        floats.append((f > 0.5).astype(np.uint8))
    pix, gt = np.stack(maps).ravel(), np.stack(masks).ravel()
    differ = int(sum((a != b).sum() for a, b in zip(masks, floats)))
    other = roc_auc_score(np.stack(floats).ravel(), pix)
    check(f"the float filter's masks differ from AnomalyCLIP's in {differ} pixels, pixel AUROC {other:.6f} (the "
          "check can fail)", differ > 0 and abs(other - w["pixel_auroc"]) > 1e-6)
    want = {"pixel_auroc": roc_auc_score(gt, pix), "pixel_ap": average_precision_score(gt, pix),
            "aupro": aupro_ref.aupro_mvtec(maps, masks, 0.3)}
    for k, v in want.items():
        check(f"--eval-size {size}: {k} = the reference on eval's maps and AnomalyCLIP's masks ({v:.6f})",
              abs(w[k] - v) < 1e-6, f"eval {w[k]} reference {v}")


def checks(tool, infer, model, tmp):
    head = os.path.join(tmp, "head.safetensors")
    eval_fixtures.write_head(head, 3, 96, swap=True)  # swapped: with this random model the maps find the discs
    info = eval_fixtures.write_dataset(os.path.join(tmp, "ds"), size=SIZE)
    mv, visa = os.path.join(tmp, "ds", "mvtec"), os.path.join(tmp, "ds", "visa")
    js, panels = os.path.join(tmp, "r.json"), os.path.join(tmp, "panels")
    common = ["--model", model, "--input-size", SIZE, "--sigma", 2]

    maps_dir = os.path.join(tmp, "maps")
    r = run(tool, *common, "--head", head, "--data", mv, "--json", js, "--panels", panels, "--worst", 2,
            "--maps", maps_dir)
    check("MVTec layout: runs", r.returncode == 0, r.stderr)
    if r.returncode != 0:
        return
    check("the validation layer (TOKENCLIP_VALIDATE=1) said nothing", "Vulkan validation" not in r.stderr, r.stderr)
    check("no progress bar when stderr is not a terminal", "ETA" not in r.stderr, r.stderr)
    lines = r.stdout.splitlines()
    check("table: header, two categories, mean", lines[0].split()[:2] == ["category", "images"] and
          [l.split()[0] for l in lines[1:4]] == ["twins", "widget", "mean"], r.stdout)
    res = json.load(open(js))
    check("JSON: categories", sorted(res["categories"]) == ["twins", "widget"], res["categories"].keys())
    w, t = res["categories"]["widget"], res["categories"]["twins"]
    check("JSON: counts", (w["normal"], w["anomalous"], t["normal"], t["anomalous"]) == (3, 4, 3, 3), w)
    check("JSON: every metric in [0, 1]", metrics_in_range(res), res)
    check("JSON: eval size, grid", (res["eval_size"], res["input_size"], res["grid"]) == (SIZE, SIZE, 8), res)
    # the default AUPRO limit is the decimal 0.3, not the float nearest it (0.300000012)
    check("JSON: the default fpr_limit is 0.3", '"fpr_limit": 0.3,' in open(js).read() and res["fpr_limit"] == 0.3,
          res["fpr_limit"])
    check("twins (one picture six times): image AUROC 0.5, AP 0.5",
          (t["image_auroc"], t["image_ap"]) == (0.5, 0.5), t)
    for cat in ("twins", "widget"):
        files = sorted(os.listdir(os.path.join(panels, cat)))
        sizes = {png_size(os.path.join(panels, cat, f)) for f in files}
        check(f"panels: 2 for {cat}, image | map | ground truth", len(files) == 2 and sizes == {(3 * SIZE + 8, SIZE, 2)},
              (files, sizes))
        check(f"JSON: the worst {cat} images name their panels",
              [os.path.basename(x["panel"]) for x in res["categories"][cat]["worst"]] == files, res["categories"][cat])
    bad = [x["badness"] for x in w["worst"]]
    check("worst first", bad == sorted(bad, reverse=True), bad)

    # the same numbers from the per-image scores and maps (--maps) through
    # scikit-learn and aupro_ref, and those maps and scores from tokenclip-infer
    samples = w["samples"]
    by_path = {x["image"]: x for x in info["widget"]}
    check("JSON: every widget image listed with its label and map",
          sorted(x["image"] for x in samples) == sorted(by_path) and all("map" in x for x in samples) and
          all(x["label"] == by_path[x["image"]]["label"] for x in samples), samples)
    scores = [x["score"] for x in samples]
    maps = [np.load(x["map"]) for x in samples]
    truth = [by_path[x["image"]] for x in samples]
    masks = [np.zeros((SIZE, SIZE), np.uint8) if t["mask"] is None else
             (eval_fixtures.read_png_grey(t["mask"]) > 0).astype(np.uint8) for t in truth]
    labels = [t["label"] for t in truth]
    pix, gt = np.stack(maps).ravel(), np.stack(masks).ravel()
    want = {"image_auroc": roc_auc_score(labels, scores), "image_ap": average_precision_score(labels, scores),
            "pixel_auroc": roc_auc_score(gt, pix), "pixel_ap": average_precision_score(gt, pix),
            "aupro": aupro_ref.aupro_mvtec(maps, masks, 0.3)}
    check("the reference AUPRO is not trivially 0 or 1", 0.05 < want["aupro"] < 0.95, want)
    for k, v in want.items():
        check(f"widget {k} = the reference on the maps and scores ({v:.6f})", abs(w[k] - v) < 1e-6,
              f"eval {w[k]} reference {v}")
    for k in (labels.index(1), labels.index(0)):  # tokenclip-infer gives the same map and score
        npy = os.path.join(tmp, f"m{k}.npy")
        ri = run(infer, *common, "--head", head, "--image", samples[k]["image"], "--map", npy)
        ok = ri.returncode == 0
        if ok:
            m = np.load(npy)
            ok = m.shape == maps[k].shape and np.abs(m - maps[k]).max() <= 1e-6 and \
                abs(json.loads(ri.stdout)["image_score"] - scores[k]) <= 1e-6
        check(f"tokenclip-infer on {samples[k]['image'][len(mv) + 1:]}: the same map and score", ok, ri.stderr)

    # VisA's CSV over the same images
    jv = os.path.join(tmp, "v.json")
    r = run(tool, *common, "--head", head, "--data", visa, "--csv", os.path.join(visa, "split_csv", "1cls.csv"),
            "--json", jv, "--progress")
    check("VisA CSV: runs", r.returncode == 0, r.stderr)
    check("--progress: a bar with an ETA on stderr", "ETA" in r.stderr and "7/7 100%" in r.stderr, r.stderr)
    if r.returncode == 0:
        v = json.load(open(jv))
        vw = v["categories"].get("widget", {})
        same = all(vw.get(k) == w[k] for k in ("image_auroc", "image_ap", "pixel_auroc", "aupro", "normal",
                                               "anomalous"))
        check("VisA CSV: the train row skipped, the same numbers as the MVTec layout",
              list(v["categories"]) == ["widget"] and same, (vw, w))

    # a head per category; --categories; --limit
    hd = os.path.join(tmp, "heads")
    os.makedirs(hd)
    shutil.copy(head, os.path.join(hd, "widget.safetensors"))
    r = run(tool, *common, "--heads-dir", hd, "--data", mv, "--categories", "widget", "--limit", 4, "--json", js)
    check("--heads-dir, --categories, --limit: runs", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        res = json.load(open(js))
        c = res["categories"]["widget"]
        check("--limit 4 keeps both classes", (c["normal"], c["anomalous"]) == (2, 2) and list(res["categories"]) ==
              ["widget"], c)
    r = run(tool, *common, "--heads-dir", hd, "--data", mv)
    check("--heads-dir without the category's head: names it", r.returncode == 1 and
          "twins.safetensors" in r.stderr, r.stderr)

    # smaller evaluation size (masks resized), and native size
    for size in (32, 0):
        r = run(tool, *common, "--head", head, "--data", mv, "--categories", "widget", "--limit", 4, "--eval-size", size,
                "--json", js, "--maps", os.path.join(tmp, f"maps{size}"))
        ok = r.returncode == 0
        if ok:
            res = json.load(open(js))
            ok = res["eval_size"] == size and metrics_in_range(res)
        check(f"--eval-size {size}", ok, r.stderr)
        if ok and size == 32:
            check_pil_resize(infer, common, head, res["categories"]["widget"]["samples"][0], size, tmp)
            check_mask_resize(res["categories"]["widget"], by_path, size)

    # errors
    broken = os.path.join(tmp, "broken")
    shutil.copytree(mv, broken)
    gone = os.path.join(broken, "widget", "ground_truth", "dent", "001_mask.png")
    os.remove(gone)
    # a per-image error names the image once, then the cause: "x.png: x_mask.png: ...", no doubled separator
    empty_mask_data = os.path.join(tmp, "empty-mask")
    shutil.copytree(mv, empty_mask_data)
    empty_mask = os.path.join(empty_mask_data, "widget", "ground_truth", "dent", "001_mask.png")
    open(empty_mask, "w").close()
    empty_mask_image = os.path.join(empty_mask_data, "widget", "test", "dent", "001.png")
    csv_bad = os.path.join(tmp, "bad.csv")
    open(csv_bad, "w").write("object,split,image,mask\nwidget,test,a.png,\n")
    cases = [
        ("a defect image without its mask", ["--data", broken], 1, gone),
        ("an empty mask file", ["--data", empty_mask_data], 1,
         f"{empty_mask_image}: {empty_mask}: empty file (0 bytes), not a PNG or JPEG image"),
        ("no data folder", ["--data", os.path.join(tmp, "nowhere")], 1, "nowhere"),
        ("a folder without categories", ["--data", os.path.join(mv, "widget")], 1, "no category folders"),
        ("a CSV without a label column", ["--data", visa, "--csv", csv_bad], 1, "no column \"label\""),
        ("an unknown category", ["--data", mv, "--categories", "gizmo"], 1, "(it has: twins, widget)"),
        ("a category named twice", ["--data", mv, "--categories", "widget,widget"], 1, "\"widget\" twice"),
        ("no head", ["--data", mv], 2, "a source of subspaces (--head, --heads-dir"),
        ("--worst without --panels", ["--data", mv, "--head", head, "--worst", 3], 2, "--panels"),
    ]
    for what, args, rc, text in cases:
        if "--head" not in args and what != "no head":
            args = args + ["--head", head]
        r = run(tool, *common, *args)
        check(f"error: {what}", r.returncode == rc and text in r.stderr, f"rc {r.returncode}: {r.stderr.strip()[:300]}")
    r = run(tool, "--help")
    check("--help says what resolution the pixel metrics use", r.returncode == 0 and "--eval-size" in r.stdout and
          "resolution" in r.stdout, r.stdout)


def main():
    tool, infer, model = sys.argv[1:4]
    with tempfile.TemporaryDirectory(prefix="tc-test-eval-") as tmp:
        checks(tool, infer, model, tmp)
    finish()


if __name__ == "__main__":
    main()
