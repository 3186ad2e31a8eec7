"""tokenclip-train end to end on the tiny random CLIP and the synthetic
defect sets (train_fixtures.py): the training lowers the loss, its
subspaces find defects on a surface they never saw better than the
untrained ones, stay orthogonal, and land in a head file with the recipe's
defaults; runs are reproducible, resumable and exportable byte for byte;
bad input gets a clear error.

Asserted numbers (8 epochs, 48 images, batch 8: 48 steps, seed 0):
- training loss (all terms, over the training set, with the untrained and
  the trained prompts): after < 0.6 x before;
- pixel AUROC on the held-out surface (18 images, token scores upsampled to
  64 x 64 against the masks): trained >= 0.88 and >= untrained + 0.15
  (measured here: untrained 0.755, trained 0.935);
- orthogonality: every off-diagonal Gram entry of the trained subspaces,
  per state, |G| < 0.3 (measured 0.18; the untrained ones start at 0.89).
Seeds 0-3 gave loss ratios 0.26-0.27, trained AUROC 0.90-0.94 and Gram
maxima 0.11-0.24: the bounds hold with room for other CPUs' rounding.

    test_train_run.py"""
import json
import os
import shutil
import tempfile

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

import train_fixtures as fx
import tc_testutil as tu

import losses
import train_data
import train_loop as tl
from safetensors_io import SafetensorsFile

torch.set_num_threads(1)
tmp = tempfile.mkdtemp(prefix="tc-train-run-")
clip = os.path.join(tmp, "clip.safetensors")
fx.write_clip(clip)
train, heldout = fx.write_data(tmp)
EPOCHS = 8


def trainer_run(*args, progress=False):
    recipe = [a for a in fx.RECIPE_ARGS if a != "--no-progress"] if progress else fx.RECIPE_ARGS
    p = fx.run_trainer("--model", clip, *args, *recipe)
    summary = json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else None
    return p, summary


def read(path):
    with open(path, "rb") as f:
        return f.read()


out = os.path.join(tmp, "head.safetensors")
ckdir = os.path.join(tmp, "head.checkpoints")
p, summary = trainer_run("--data", train, "--output", out, "--epochs", EPOCHS, "--seed", fx.SEED)
if not tu.check("training run: exit status 0 and a JSON summary", summary is not None, p.stderr[-2000:]):
    tu.finish()
tu.check(f"{EPOCHS} epochs of 6 steps, a checkpoint after each",
         summary["epochs"] == EPOCHS and summary["steps"] == 6 * EPOCHS and summary["finished"]
         and sorted(os.listdir(ckdir)) == [f"epoch-{e:03d}.pt" for e in range(1, EPOCHS + 1)], str(os.listdir(ckdir)))
tu.check("one line per epoch on stderr with the loss terms",
         sum("loss" in l and "orthogonality" in l for l in p.stderr.splitlines()) == EPOCHS, p.stderr[-500:])

head = SafetensorsFile(out)
got = {n: (head.dtype(n), head.raw(n).tolist()) for n in head.names() if n != "subspaces"}
want = dict(temperature=("F32", [np.float32(0.07).item()]), sinkhorn_eps=("F32", [np.float32(0.05).item()]),
            sinkhorn_iters=("I32", [100]), topk=("I32", [2]), vv_start=("I32", [1]), input_size=("I32", [fx.SIZE]),
            pos_interp=("I32", [2]), resample=("I32", [2]), feature_layers=("I32", [4]), global_ln_post=("I32", [0]),
            image_blend=("F32", [0.0]), sigma=("F32", [4.0]))
tu.check("head file: the defaults of the run (HEAD_DEFAULTS.md; resample 2 = PIL's bicubic, no map_blur)",
         got == want, f"{got}")
sub = head.floats("subspaces")
tu.check("head file: subspaces [4, 2, 96] F32, unit vectors",
         head.dtype("subspaces") == "F32" and sub.shape == (4, 2, 96)
         and np.abs(np.linalg.norm(sub, axis=-1) - 1).max() < 1e-6, str(sub.shape))
tu.check("head file: metadata names the trainer and the recipe",
         head.metadata.get("source") == "tokenclip-train" and json.loads(head.metadata["recipe"])["subspaces"] == 4)

# ---- what the training achieved, through the module API on the same recipe
ckpt = tl.load_checkpoint(os.path.join(ckdir, f"epoch-{EPOCHS:03d}.pt"))
trainer = tl.Trainer(ckpt["meta"]["recipe"], clip)
T0 = trainer.subspaces()  # the seed's initial prompts
trainer.load_state(ckpt)
T1 = trainer.subspaces()
tu.check("the checkpoint's subspaces are the head file's", np.abs(T1.numpy() - sub).max() < 1e-6)
features = tl.Features(trainer, train_data.read(train), True, 1, False)
before, after = trainer.evaluate(features, T0), trainer.evaluate(features, T1)
tu.check(f"training loss {before['total']:.3f} -> {after['total']:.3f} (map {before['map']:.3f} -> "
         f"{after['map']:.3f}, image {before['image']:.3f} -> {after['image']:.3f}): after < 0.6 x before",
         after["total"] < 0.6 * before["total"])

held = tl.Features(trainer, train_data.read(heldout), True, 1, False)
tokens, glob, masks, labels = held.batch(list(range(len(held))))


def pixel_auroc(T):
    s = trainer.scores(tokens[4], None, T)["scores"]
    return roc_auc_score(masks.numpy().ravel().astype(int),
                         losses.upsampled_map(s, trainer.grid(), fx.SIZE)[:, 1].numpy().ravel())


a0, a1 = pixel_auroc(T0), pixel_auroc(T1)
tu.check(f"held-out pixel AUROC: untrained {a0:.3f}, trained {a1:.3f} (>= 0.88 and >= untrained + 0.15)",
         a1 >= 0.88 and a1 >= a0 + 0.15)
g0, g1 = (float(losses.gram_off_diagonal(T).abs().max()) for T in (T0, T1))
tu.check(f"orthogonality: max |off-diagonal Gram entry| untrained {g0:.3f}, trained {g1:.3f} (< 0.3)", g1 < 0.3)
tu.check("the summary reports the trained Gram maximum", abs(summary["gram_max_off_diagonal"] - g1) < 1e-6)

# ---- reproducible, resumable, exportable
out2 = os.path.join(tmp, "again.safetensors")
p, _ = trainer_run("--data", train, "--output", out2, "--epochs", EPOCHS, "--seed", fx.SEED)
tu.check("the same seed again: the same head file, byte for byte", p.returncode == 0 and read(out2) == read(out),
         p.stderr[-300:])
out3 = os.path.join(tmp, "resumed.safetensors")
p, s3 = trainer_run("--resume", os.path.join(ckdir, "epoch-003.pt"), "--output", out3,
                    "--checkpoints", os.path.join(tmp, "resumed.checkpoints"))
tu.check("--resume from epoch 3: epochs 4..8 run, the same head file as the whole run",
         p.returncode == 0 and s3["steps"] == 6 * EPOCHS and read(out3) == read(out), p.stderr[-300:])
out4 = os.path.join(tmp, "exported.safetensors")
p = fx.run_trainer("--model", clip, "--export", os.path.join(ckdir, f"epoch-{EPOCHS:03d}.pt"), "--output", out4)
tu.check("--export of the last checkpoint: the same head file", p.returncode == 0 and read(out4) == read(out),
         p.stderr[-300:])
out5 = os.path.join(tmp, "untrained.safetensors")
p, _ = trainer_run("--data", train, "--output", out5, "--epochs", 0, "--seed", fx.SEED)
tu.check("--epochs 0 writes the seed's untrained subspaces",
         p.returncode == 0 and np.abs(SafetensorsFile(out5).floats("subspaces") - T0.numpy()).max() < 1e-6,
         p.stderr[-300:])
out6 = os.path.join(tmp, "seed1.safetensors")
p, _ = trainer_run("--data", train, "--output", out6, "--epochs", 1, "--seed", 1)
p1 = fx.run_trainer("--model", clip, "--export", os.path.join(ckdir, "epoch-001.pt"), "--output", out5)
tu.check("another seed: other subspaces after one epoch",
         p.returncode == 0 and p1.returncode == 0
         and np.abs(SafetensorsFile(out6).floats("subspaces") - SafetensorsFile(out5).floats("subspaces")).max() > 0.01)
p = fx.run_trainer("--model", clip, "--resume", os.path.join(ckdir, "epoch-003.pt"), "--output", out3,
                   "--subspaces", 2)
tu.check("--resume with another recipe is refused, naming the option",
         p.returncode == 1 and "subspaces" in p.stderr and "checkpoint" in p.stderr, p.stderr.strip())
p, s7 = trainer_run("--data", train, "--output", os.path.join(tmp, "short.safetensors"), "--max-steps", 3,
                    "--progress", progress=True)
tu.check("--max-steps 3 --progress: 3 steps, a progress bar with the loss and an ETA on stderr",
         s7 is not None and s7["steps"] == 3 and not s7["finished"] and "\x1b[K" in p.stderr and "ETA" in p.stderr
         and "loss" in p.stderr, p.stderr[-300:])

# ---- bad input
bad = os.path.join(tmp, "no-mask")
shutil.copytree(train, bad)
os.remove(os.path.join(bad, "surface_b", "ground_truth", "scratch", "003_mask.png"))
empty = os.path.join(tmp, "empty")
os.makedirs(empty)
text_only, vision_only = os.path.join(tmp, "text-only.safetensors"), os.path.join(tmp, "vision-only.safetensors")
fx.write_clip(text_only, vision=False)
fx.write_clip(vision_only, text=False)
cases = [
    ("an anomalous image without its mask", [clip, bad], ["003.png", "003_mask.png", "mask"]),
    ("an empty data set", [clip, empty], ["no category folders"]),
    ("a model without a text tower", [vision_only, train], ["no CLIP text tower", "tokenclip-train needs"]),
    ("a model without a vision tower", [text_only, train], ["no CLIP vision tower"]),
]
for what, (model, data), words in cases:
    p = fx.run_trainer("--model", model, "--data", data, "--output", os.path.join(tmp, "x.safetensors"),
                       *fx.RECIPE_ARGS)
    tu.check(f"{what}: exit 1, {p.stderr.strip()}", p.returncode == 1 and all(w in p.stderr for w in words)
             and "Traceback" not in p.stderr and not os.path.exists(os.path.join(tmp, "x.safetensors")))
if not torch.cuda.is_available():
    p = fx.run_trainer("--model", clip, "--data", train, "--output", os.path.join(tmp, "x.safetensors"),
                       "--device", "cuda")
    tu.check(f"--device cuda without CUDA: exit 1, {p.stderr.strip()}", p.returncode == 1 and "CUDA" in p.stderr)

shutil.rmtree(tmp)
tu.finish()
