"""The training data: MVTec AD folders or VisA's split CSV, read by the
rules of tokenclip-eval (tools/eval/dataset.h), so that the trainer and the
evaluator see the same data sets; images and masks at the model's input
size as AnomalyCLIP's transforms make them.

- MVTec AD layout: ROOT/<category>/test/<defect>/<name>.png (or .jpg/.jpeg,
  any case), masks ROOT/<category>/ground_truth/<defect>/<stem>_mask.png;
  the defect `good` is normal and has no masks. Categories are the folders
  of ROOT with a test/ folder, in name order; files in name order.
- VisA's split CSV (split_csv/1cls.csv): a header naming the columns object,
  split, label, image, mask; rows with split `test`; label normal/anomaly
  (or 0/1); paths relative to ROOT; the mask empty for normal images.
  Categories in order of first appearance.
AnomalyCLIP trains on the test split of the auxiliary data set (VisA for
MVTec AD and the reverse): the zero-shot protocol never sees the target.

Images: PIL's Image.resize((S, S), BICUBIC) of the RGB image (aspect not
kept), /255, OpenAI's mean/std. Masks: any nonzero pixel is a defect; the
0/255 mask through PIL's BILINEAR resize to S x S, then > 127 (AnomalyCLIP's
target transform and threshold 0.5). Every problem is a DataError naming
the path (and the CSV line)."""
import csv
import os
from dataclasses import dataclass

import numpy as np

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


class DataError(Exception):
    pass


@dataclass
class Sample:
    image: str
    mask: str  # None for a normal image
    label: int  # 0 normal, 1 anomalous
    category: str
    defect: str


def _listdir(path, dirs):
    try:
        names = sorted(n for n in os.listdir(path) if not n.startswith("."))
    except OSError as e:
        raise DataError(f"{path}: cannot open the folder: {e.strerror}") from None
    if dirs:
        return [n for n in names if os.path.isdir(os.path.join(path, n))]
    return [n for n in names if os.path.isfile(os.path.join(path, n))
            and os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS]


def read_mvtec(root):
    """{category: [Sample]} of the MVTec AD layout under root."""
    out = {}
    for cat in _listdir(root, dirs=True):
        test = os.path.join(root, cat, "test")
        if not os.path.isdir(test):
            continue
        gt = os.path.join(root, cat, "ground_truth")
        samples = []
        for defect in _listdir(test, dirs=True):
            ddir = os.path.join(test, defect)
            label = int(defect != "good")
            for name in _listdir(ddir, dirs=False):
                mask = None
                if label:
                    mask = os.path.join(gt, defect, os.path.splitext(name)[0] + "_mask.png")
                    if not os.path.isfile(mask):
                        raise DataError(f"{os.path.join(ddir, name)}: no ground-truth mask {mask} (MVTec AD layout: "
                                        "every defect image has one; training needs the masks)")
                samples.append(Sample(os.path.join(ddir, name), mask, label, cat, defect))
        if not samples:
            raise DataError(f"{os.path.join(root, cat)}: no PNG or JPEG images under test/<defect>/")
        out[cat] = samples
    if not out:
        raise DataError(f"{root}: no category folders with a test/ folder (MVTec AD layout: "
                        "<category>/test/<defect>/*.png); for VisA give --csv")
    return out


def read_csv(root, csv_path):
    """{category: [Sample]} of the test rows of VisA's split CSV."""
    cols = ("object", "split", "label", "image", "mask")
    out = {}
    try:
        f = open(csv_path, newline="")
    except OSError as e:
        raise DataError(f"{csv_path}: cannot open: {e.strerror}") from None
    with f:
        rows = list(csv.reader(f))
    lines = [(i + 1, r) for i, r in enumerate(rows) if r]
    if not lines:
        raise DataError(f"{csv_path}: empty file")
    header = lines[0][1]
    for c in cols:
        if c not in header:
            raise DataError(f'{csv_path}: the header has no column "{c}" (VisA\'s split CSV: '
                            "object,split,label,image,mask)")
    at = {c: len(header) - 1 - header[::-1].index(c) for c in cols}  # the last such column, as tokenclip-eval
    need = max(at.values()) + 1
    for lineno, r in lines[1:]:
        if len(r) < need:
            raise DataError(f"{csv_path}:{lineno}: {len(r)} fields, the header names {need}")
        if r[at["split"]] != "test":
            continue
        lab, image, mask = r[at["label"]], r[at["image"]], r[at["mask"]]
        if lab in ("normal", "0"):
            label = 0
        elif lab in ("anomaly", "1"):
            label = 1
        else:
            raise DataError(f'{csv_path}:{lineno}: label "{lab}" (expected normal or anomaly)')
        if label and not mask:
            raise DataError(f"{csv_path}:{lineno}: an anomalous image ({image}) without a mask")
        image_path = os.path.join(root, image)
        mask_path = os.path.join(root, mask) if label else None
        if not os.path.isfile(image_path):
            raise DataError(f"{csv_path}:{lineno}: no image {image_path}")
        if mask_path and not os.path.isfile(mask_path):
            raise DataError(f"{csv_path}:{lineno}: no mask {mask_path}")
        cat = r[at["object"]]
        out.setdefault(cat, []).append(Sample(image_path, mask_path, label, cat, "anomaly" if label else "good"))
    if not out:
        raise DataError(f'{csv_path}: no rows with split "test"')
    return out


def select(data, names):
    """Only the named categories, in that order."""
    picked = {}
    for name in names:
        if name in picked:
            raise DataError(f'--categories names "{name}" twice')
        if name not in data:
            raise DataError(f'--categories: no category "{name}" in the data set (it has: {", ".join(data)})')
        picked[name] = data[name]
    if not picked:
        raise DataError("--categories: no category named")
    return picked


def limit(samples, n):
    """At most n samples, anomalous and normal ones in turn from the front
    (tokenclip-eval's --limit), in the data set's order."""
    if len(samples) <= n:
        return samples
    queues = {lab: [i for i, s in enumerate(samples) if s.label == lab] for lab in (0, 1)}
    take, turn = set(), 1
    while len(take) < n and (queues[0] or queues[1]):
        if queues[turn]:
            take.add(queues[turn].pop(0))
        turn ^= 1
    return [s for i, s in enumerate(samples) if i in take]


def read(root, csv_path=None, categories=None, per_category=None):
    """The flat list of samples of a data set, categories in order."""
    data = read_csv(root, csv_path) if csv_path else read_mvtec(root)
    if categories:
        data = select(data, categories)
    out = []
    for samples in data.values():
        out.extend(limit(samples, per_category) if per_category else samples)
    return out


def _open(path, what):
    from PIL import Image
    try:
        img = Image.open(path)
        img.load()
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read the {what}: {e}") from None
    return img


def load_image(path, size):
    """uint8 [S, S, 3]: the RGB image resized as AnomalyCLIP's test transform does; and its (width, height)."""
    from PIL import Image
    img = _open(path, "image")
    return np.asarray(img.convert("RGB").resize((size, size), Image.BICUBIC)), img.size


def load_mask(sample, image_size, size):
    """bool [S, S] ground truth of a sample (all False for a normal image)."""
    from PIL import Image
    if sample.mask is None:
        return np.zeros((size, size), bool)
    m = _open(sample.mask, "mask")
    if m.size != image_size:
        raise DataError(f"{sample.mask}: a {m.size[0]}x{m.size[1]} mask for the {image_size[0]}x{image_size[1]} "
                        f"image {sample.image}")
    binary = Image.fromarray(np.asarray(m.convert("RGB")).any(axis=2).astype(np.uint8) * 255, mode="L")
    return np.asarray(binary.resize((size, size), Image.BILINEAR)) > 127


def normalise(images):
    """uint8 [B, S, S, 3] (numpy or torch) -> float32 torch [B, 3, S, S], CLIP-normalised."""
    import torch
    x = torch.from_numpy(np.array(images, dtype=np.uint8)).permute(0, 3, 1, 2).float() / 255.0
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
