#!/usr/bin/env python3
"""tokenclip-train on CUDA, by hand on a machine with a GPU (CI has none):
the tiny model's test recipe (train_fixtures.py) on the CPU and on CUDA in
fp32 and fp16, twice in fp32, and a timing run on a random CLIP of
ViT-L/14@336's shapes at AnomalyCLIP's recipe.

    python3 tests/train/check_cuda.py [--device cuda:0] [--skip-bench]

Checks: each run exits 0; CUDA fp32 twice gives the same head file, byte
for byte; the CUDA heads find the held-out defects as the CPU's does
(pixel AUROC >= 0.88, test_train_run.py's bound); the subspaces of CPU and
CUDA runs are printed with their largest difference (8 epochs of Adam
amplify rounding differences, so there is no bound on it). The bench
prints tokenclip-train --bench's JSON (images/s, steps/s and the estimated
seconds of VisA and MVTec AD runs)."""
import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_fixtures as fx  # noqa: E402
import tc_testutil as tu  # noqa: E402
from safetensors_io import SafetensorsFile  # noqa: E402


def pixel_auroc(clip, head_path, heldout):
    import torch
    from sklearn.metrics import roc_auc_score
    import losses
    import train_data
    import train_loop as tl
    ckpt_dir = head_path[:-len(".safetensors")] + ".checkpoints"
    ckpt = tl.load_checkpoint(os.path.join(ckpt_dir, sorted(os.listdir(ckpt_dir))[-1]))
    trainer = tl.Trainer(ckpt["meta"]["recipe"], clip)
    trainer.load_state(ckpt)
    held = tl.Features(trainer, train_data.read(heldout), True, 1, False)
    tokens, _, masks, _ = held.batch(list(range(len(held))))
    T = torch.from_numpy(SafetensorsFile(head_path).floats("subspaces", np.float32))
    s = trainer.scores(tokens[trainer.recipe["feature_layers"][-1]], None, T)["scores"]
    return roc_auc_score(masks.numpy().ravel().astype(int),
                         losses.upsampled_map(s, trainer.grid(), fx.SIZE)[:, 1].numpy().ravel())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--skip-bench", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="tc-train-cuda-")
    clip = os.path.join(tmp, "clip.safetensors")
    fx.write_clip(clip)
    train, heldout = fx.write_data(tmp)
    heads = {}
    for name, extra in (("cpu", []), ("fp32", ["--device", a.device, "--precision", "fp32"]),
                        ("fp32-again", ["--device", a.device, "--precision", "fp32"]),
                        ("fp16", ["--device", a.device, "--precision", "fp16"])):
        out = os.path.join(tmp, name + ".safetensors")
        p = fx.run_trainer("--model", clip, "--data", train, "--output", out, "--epochs", 8, *fx.RECIPE_ARGS, *extra)
        if tu.check(f"{name}: tokenclip-train exits 0", p.returncode == 0, p.stderr[-2000:]):
            s = json.loads(p.stdout)
            print(f"  {name}: final epoch loss {s['history'][-1]['total']:.4f}, Gram max "
                  f"{s['gram_max_off_diagonal']:.3f}, {s['train_seconds']} s training")
            heads[name] = out
    if "fp32" in heads and "fp32-again" in heads:
        same = open(heads["fp32"], "rb").read() == open(heads["fp32-again"], "rb").read()
        tu.check("CUDA fp32 twice: the same head file, byte for byte", same)
    for name in ("fp32", "fp16"):
        if name in heads and "cpu" in heads:
            d = float(np.abs(SafetensorsFile(heads[name]).floats("subspaces")
                             - SafetensorsFile(heads["cpu"]).floats("subspaces")).max())
            print(f"  CPU vs CUDA {name}: subspaces differ by up to {d:.2e}")
    for name, path in heads.items():
        auroc = pixel_auroc(clip, path, heldout)
        tu.check(f"{name}: held-out pixel AUROC {auroc:.3f} >= 0.88", auroc >= 0.88)
    if not a.skip_bench:
        big = os.path.join(tmp, "l14-336.safetensors")
        p = tu.run(sys.executable, os.path.join(fx.HERE, "random_clip.py"), big, timeout=900)
        if tu.check("random ViT-L/14@336 CLIP written", p.returncode == 0, p.stderr[-1000:]):
            for extra in ([], ["--precision", "fp32"], ["--feature-layers", "6,12,18,24"], ["--plan-grad"]):
                p = fx.run_trainer("--model", big, "--bench", "--device", a.device, "--workers", "8", "--no-progress",
                                   "--bench-images", "64", "--max-steps", "40", *extra, timeout=900)
                if tu.check(f"bench {' '.join(extra) or '(AnomalyCLIP recipe, fp16)'}", p.returncode == 0,
                            p.stderr[-1000:]):
                    s = json.loads(p.stdout)
                    print("  " + json.dumps({k: v for k, v in s.items() if k not in ("recipe", "history")}))
    tu.finish()


if __name__ == "__main__":
    main()
