"""What the trainer's tests share: the tiny random CLIP with both towers of
tests/anomalyclip (vision width 128, 4 layers, patch 8; text width 128, 10
layers, CLIP's vocabulary; embed 96), the synthetic defect sets, the test
recipe and a way to run tokenclip-train.

The test recipe: input 64 (an 8 x 8 grid; the vision tower was made for 32),
Q 4, top-2, V-V from layer 1 (round(4 / 4)), the last layer's tokens; the
prompts start with std 0.5 and learn at lr 0.02 because the tiny model's
token embeddings have std 0.5 (CLIP's are about 0.02, AnomalyCLIP's init
std and the 1e-3 learning rate are scaled to those); one PyTorch thread
(the tiny model's matrices are too small to share, and the CI machine has
two cores)."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TRAIN_DIR = os.path.join(ROOT, "tools", "train")
for _d in (os.path.join(ROOT, "tests", "anomalyclip"), TRAIN_DIR, os.path.join(ROOT, "tools", "export")):
    if _d not in sys.path:
        sys.path.insert(0, _d)

import ac_fixtures as acf  # noqa: E402
import synthetic_defects as sd  # noqa: E402

TRAINER = os.path.join(TRAIN_DIR, "tokenclip-train")
SIZE = 64
RECIPE_ARGS = ["--input-size", str(SIZE), "--init-std", "0.5", "--lr", "0.02", "--threads", "1", "--workers", "1",
               "--no-progress"]
SEED = 0


def write_clip(path, naming="openclip", vision=True, text=True):
    """The tiny CLIP (seed 0) as one safetensors file; text=False: the vision tower alone."""
    import clip_fixtures as cf
    vw, vcfg, tw, tcfg = acf.tiny_clip(SEED)
    if text:
        acf.save_clip(path, vw, vcfg, tw, tcfg, naming=naming, vision=vision)
    else:
        cf.save_model(path, vw, vcfg, "hf", "f32")


def write_data(root):
    """train/: two surfaces x (8 good, 8 blob, 8 scratch); heldout/: a third
    surface the prompts never see, 6 of each."""
    train, heldout = os.path.join(root, "train"), os.path.join(root, "heldout")
    sd.write(train, "surface_a", 8, 8, 8, seed=1, style=0)
    sd.write(train, "surface_b", 8, 8, 8, seed=2, style=1)
    sd.write(heldout, "surface_c", 6, 6, 6, seed=3, style=2)
    return train, heldout


def run_trainer(*args, timeout=300):
    """tokenclip-train with args through this interpreter (the test's python3)."""
    return subprocess.run([sys.executable, TRAINER, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)
