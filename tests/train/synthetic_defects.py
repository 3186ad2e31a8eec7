"""A small synthetic defect data set in the MVTec AD layout, for the
trainer's tests: textured surfaces (a base colour, stripes, noise), some
with bright blobs or scratches (bright or dark lines) and their masks.

    write(root, category, n_good, n_blob, n_scratch, seed, size=96, style=0)

writes root/<category>/test/{good,blob,scratch}/NNN.png and
root/<category>/ground_truth/{blob,scratch}/NNN_mask.png (0/255). `style`
picks the surface (colour, stripe direction and frequency), so a held-out
category is an object the prompts never saw, with the same kinds of defect."""
import os

import numpy as np
from PIL import Image

STYLES = [  # base colour (0..1), stripe frequency (cycles per image), stripe angle (radians)
    ((0.45, 0.42, 0.38), 6.0, 0.3),
    ((0.30, 0.38, 0.46), 9.0, 1.2),
    ((0.50, 0.47, 0.30), 4.0, 2.1),
]


def surface(rng, size, style):
    colour, freq, angle = STYLES[style % len(STYLES)]
    yy, xx = np.mgrid[0:size, 0:size] / size
    phase = rng.uniform(0, 2 * np.pi)
    stripes = 0.06 * np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)) + phase)
    img = np.asarray(colour)[None, None, :] + stripes[..., None] + rng.normal(0, 0.02, (size, size, 3))
    return img


def blob(rng, size):
    """A bright round spot: (intensity [H, W], mask [H, W])."""
    cy, cx = rng.uniform(0.2, 0.8, 2) * size
    r = rng.uniform(0.06, 0.11) * size
    yy, xx = np.mgrid[0:size, 0:size]
    d2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / r ** 2
    return 0.5 * np.exp(-d2), d2 < 1.5


def scratch(rng, size):
    """A thin straight line, bright or dark: (intensity, mask)."""
    p0 = rng.uniform(0.15, 0.85, 2) * size
    angle = rng.uniform(0, np.pi)
    length = rng.uniform(0.3, 0.6) * size
    d = np.array([np.sin(angle), np.cos(angle)])
    yy, xx = np.mgrid[0:size, 0:size]
    rel = np.stack([yy - p0[0], xx - p0[1]], -1)
    along = rel @ d
    across = np.abs(rel @ np.array([-d[1], d[0]]))
    mask = (across < 0.025 * size) & (along > -length / 2) & (along < length / 2)
    sign = 1.0 if rng.uniform() < 0.6 else -1.0
    return sign * 0.45 * mask, mask


def write(root, category, n_good, n_blob, n_scratch, seed, size=96, style=0):
    rng = np.random.default_rng(seed)
    for defect, n in (("good", n_good), ("blob", n_blob), ("scratch", n_scratch)):
        os.makedirs(os.path.join(root, category, "test", defect), exist_ok=True)
        if defect != "good":
            os.makedirs(os.path.join(root, category, "ground_truth", defect), exist_ok=True)
        for i in range(n):
            img = surface(rng, size, style)
            if defect != "good":
                add, mask = (blob if defect == "blob" else scratch)(rng, size)
                img = img + add[..., None]
                Image.fromarray(mask.astype(np.uint8) * 255).save(
                    os.path.join(root, category, "ground_truth", defect, f"{i:03d}_mask.png"))
            pixels = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
            Image.fromarray(pixels).save(os.path.join(root, category, "test", defect, f"{i:03d}.png"))
