"""The trainer's head files in libtokenclip: the exported head, run by the
C tools, gives the trainer's own scores (it is the same maths).

- tokenclip-head (tokens in, scores out; Vulkan): the trainer's tokens of
  held-out images (row 0 the global token x_L[CLS] @ proj, rows 1..N the
  last layer's patch tokens) with the head file alone (its defaults:
  temperature, eps, iterations, top-k): token scores and the global score
  within 1e-4 of the trainer's head;
- tokenclip-eval on the held-out set (the whole pipeline: PIL's 8-bit
  resize, the encoder with the V-V stream, the head, bilinear upsampling,
  scipy's blur): its maps within 1e-4 of the trainer's token scores
  upsampled and blurred the same way, its image scores within 1e-4 of the
  trainer's global score, its pixel AUROC within 1e-4 of the same metric on
  the trainer's maps, and the images in the same order with the same
  labels as the trainer reads them (MVTec layout and VisA CSV).

tokenclip-eval is given nothing but the head file: the pipeline defaults
the trainer wrote (input size, V-V start, interpolation, PIL's resize, sigma,
image blend 0, one feature layer, the global token without ln_post) must
reproduce the trainer's numbers on their own.

    test_train_c.py TOKENCLIP_HEAD TOKENCLIP_EVAL"""
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from sklearn.metrics import roc_auc_score

import train_fixtures as fx
import tc_testutil as tu

import losses
import train_data
import train_loop as tl

EVAL_GLOBAL = "global_token"
head_tool, eval_tool = sys.argv[1], sys.argv[2]
torch.set_num_threads(1)
tmp = tempfile.mkdtemp(prefix="tc-train-c-")
clip = os.path.join(tmp, "clip.safetensors")
fx.write_clip(clip)
train, heldout = fx.write_data(tmp)
out = os.path.join(tmp, "head.safetensors")
p = fx.run_trainer("--model", clip, "--data", train, "--output", out, "--epochs", 3, *fx.RECIPE_ARGS)
if not tu.check("a 3-epoch training run", p.returncode == 0, p.stderr[-2000:]):
    tu.finish()
ckpt = tl.load_checkpoint(os.path.join(tmp, "head.checkpoints", "epoch-003.pt"))
trainer = tl.Trainer(ckpt["meta"]["recipe"], clip)
trainer.load_state(ckpt)
samples = train_data.read(heldout)
images = np.stack([train_data.load_image(s.image, fx.SIZE)[0] for s in samples])
masks = np.stack([train_data.load_mask(s, train_data.load_image(s.image, fx.SIZE)[1], fx.SIZE) for s in samples])
enc = trainer.encode(images)
mine = trainer.scores(enc["tokens"][4], enc["global_token"])
tu.check("the trained head spreads the tokens over the subspaces (top-2 of 4)",
         (mine["weights"] > 0).sum(-1).max() == 2 and (mine["weights"].sum(1) > 1).all())

# ---- tokenclip-head: tokens in, scores out
worst_tokens = worst_global = 0.0
for i in range(0, len(samples), 3):
    tokens = torch.cat([enc["global_token"][i:i + 1], enc["tokens"][4][i]]).numpy().astype(np.float32)
    tok_path, score_path = os.path.join(tmp, "tokens.npy"), os.path.join(tmp, "scores.npy")
    np.save(tok_path, tokens)
    p = tu.run(head_tool, "--tokens", tok_path, "--head", out, "--output", score_path)
    if not tu.check(f"tokenclip-head on held-out image {i}", p.returncode == 0, p.stderr.strip()):
        continue
    js = json.loads(p.stdout)
    worst_tokens = max(worst_tokens, float(np.abs(np.load(score_path) - mine["scores"][i].numpy()).max()))
    worst_global = max(worst_global, abs(js["global_score"] - float(mine["global_score"][i])))
    tu.check(f"tokenclip-head used the head file's defaults (image {i})",
             js["params"]["topk"] == 2 and js["params"]["sinkhorn_iters"] == 100
             and abs(js["params"]["sinkhorn_eps"] - 0.05) < 1e-7 and abs(js["params"]["temperature"] - 0.07) < 1e-7,
             str(js["params"]))
tu.check(f"tokenclip-head's token scores = the trainer's (max difference {worst_tokens:.2e}, tolerance 1e-4)",
         worst_tokens < 1e-4)
tu.check(f"tokenclip-head's global score = the trainer's (max difference {worst_global:.2e}, tolerance 1e-4)",
         worst_global < 1e-4)

# ---- tokenclip-eval: the whole pipeline
maps_dir, json_path = os.path.join(tmp, "maps"), os.path.join(tmp, "eval.json")
p = tu.run(eval_tool, "--model", clip, "--head", out, "--data", heldout, "--maps", maps_dir,
           "--json", json_path, "--no-progress", timeout=300)
if tu.check("tokenclip-eval on the held-out set", p.returncode == 0, p.stderr[-1000:]):
    ev = json.load(open(json_path))["categories"]["surface_c"]
    order = [(os.path.abspath(x["image"]), x["label"]) for x in ev["samples"]]
    tu.check("tokenclip-eval and the trainer read the same images in the same order with the same labels",
             order == [(os.path.abspath(s.image), s.label) for s in samples])
    up = losses.upsampled_map(mine["scores"], trainer.grid(), fx.SIZE)[:, 1].numpy().astype(np.float64)
    blurred = np.stack([gaussian_filter(m, 4.0, mode="reflect", truncate=4.0) for m in up])
    theirs = np.stack([np.load(x["map"]) if os.path.isabs(x["map"]) else np.load(os.path.join(os.getcwd(), x["map"]))
                       for x in ev["samples"]])
    d = float(np.abs(theirs - blurred).max())
    tu.check(f"tokenclip-eval's maps = the trainer's scores upsampled and blurred (max difference {d:.2e}, "
             "tolerance 1e-4)", d < 1e-4)
    g = trainer.scores(enc["tokens"][4], enc[EVAL_GLOBAL])["global_score"].numpy()
    d = max(abs(x["score"] - float(g[i])) for i, x in enumerate(ev["samples"]))
    tu.check(f"tokenclip-eval's image scores = the trainer's global score ({EVAL_GLOBAL}; max difference {d:.2e}, "
             "tolerance 1e-4)", d < 1e-4)
    mine_auroc = roc_auc_score(masks.ravel().astype(int), blurred.ravel())
    tu.check(f"pixel AUROC: tokenclip-eval {ev['pixel_auroc']:.4f}, the trainer's maps {mine_auroc:.4f} "
             "(tolerance 1e-4)", abs(ev["pixel_auroc"] - mine_auroc) < 1e-4)

# the same images through VisA's CSV
csv = os.path.join(tmp, "split.csv")
with open(csv, "w") as f:
    f.write("object,split,label,image,mask\n")
    for s in reversed(samples):
        rel = os.path.relpath(s.image, heldout)
        mask = os.path.relpath(s.mask, heldout) if s.mask else ""
        f.write(f"obj,test,{'anomaly' if s.label else 'normal'},{rel},{mask}\n")
    f.write(f"obj,train,normal,{os.path.relpath(samples[0].image, heldout)},\n")
p = tu.run(eval_tool, "--model", clip, "--head", out, "--data", heldout, "--csv", csv,
           "--json", json_path, "--no-progress", timeout=300)
if tu.check("tokenclip-eval with the VisA CSV", p.returncode == 0, p.stderr[-1000:]):
    ev = json.load(open(json_path))["categories"]["obj"]
    tu.check("VisA CSV: tokenclip-eval and the trainer read the same rows in the same order",
             [(os.path.abspath(x["image"]), x["label"]) for x in ev["samples"]]
             == [(os.path.abspath(s.image), s.label) for s in train_data.read(heldout, csv)])

shutil.rmtree(tmp)
tu.finish()
