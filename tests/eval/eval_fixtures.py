"""Files for the tool tests of tokenclip-infer and tokenclip-eval: a random
head file, PNG images and masks (written with zlib, no imaging library), and
a tiny synthetic data set in MVTec AD layout with a VisA-style split CSV."""
import json
import os
import struct
import zlib

import numpy as np


def write_head(path, Q, D, seed=0, swap=False):
    """A head file: safetensors with `subspaces` [Q, 2, D] float32. swap
    exchanges normal and abnormal: every token score s becomes 1 - s."""
    t = np.random.default_rng(seed).uniform(-1, 1, (Q, 2, D)).astype("<f4")
    if swap:
        t = np.ascontiguousarray(t[:, ::-1])
    header = json.dumps({"subspaces": {"dtype": "F32", "shape": [Q, 2, D], "data_offsets": [0, t.nbytes]}})
    header += " " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header.encode() + t.tobytes())


def write_png(path, pixels):
    """pixels: uint8 [H, W] (grey) or [H, W, 3] (RGB)."""
    a = np.ascontiguousarray(pixels, dtype=np.uint8)
    h, w = a.shape[:2]
    colour = 2 if a.ndim == 3 else 0
    raw = b"".join(b"\0" + a[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def picture(rng, size, defect=None):
    """A smooth random picture; with defect = (y, x, r), a bright disc there."""
    yy, xx = np.mgrid[0:size[0], 0:size[1]]
    img = np.stack([128 + 60 * np.sin(xx / (5 + 3 * c) + rng.uniform(0, 6)) * np.cos(yy / 7 + c) for c in range(3)],
                   axis=-1)
    img += rng.normal(0, 8, img.shape)
    mask = np.zeros(size, dtype=np.uint8)
    if defect:
        y, x, r = defect
        mask[(yy - y) ** 2 + (xx - x) ** 2 <= r * r] = 255
        img[mask > 0] = [250, 40, 40]
    return np.clip(img, 0, 255).astype(np.uint8), mask


def write_dataset(root, size=64, seed=5):
    """MVTec AD layout under root/mvtec and a VisA-style CSV under root/visa.

    mvtec/widget: 3 good, 2 `scratch` and 2 `dent` (with masks); mvtec/twins:
    3 good and 3 `copy` images that are all the same picture (so every image
    score ties: image AUROC 0.5 and AP 0.5 whatever the model); visa: the
    widget images again, listed in visa/split_csv/1cls.csv (with train rows to
    skip), under the object name `widget`. Returns a dict describing it."""
    rng = np.random.default_rng(seed)
    info = {"widget": [], "twins": []}
    mv = os.path.join(root, "mvtec")

    def put(cat, defect, name, img, mask):
        d = os.path.join(mv, cat, "test", defect)
        os.makedirs(d, exist_ok=True)
        p = os.path.join(d, name + ".png")
        write_png(p, img)
        m = None
        if defect != "good":
            md = os.path.join(mv, cat, "ground_truth", defect)
            os.makedirs(md, exist_ok=True)
            m = os.path.join(md, name + "_mask.png")
            write_png(m, mask)
        info[cat].append({"image": p, "mask": m, "label": int(defect != "good"), "defect": defect})

    for i in range(3):
        put("widget", "good", f"{i:03d}", *picture(rng, (size, size)))
    for d, defect in enumerate(["scratch", "dent"]):
        for i in range(2):
            img, mask = picture(rng, (size, size), (rng.integers(10, size - 10), rng.integers(10, size - 10),
                                                     4 + 3 * i + d))
            if i == 1:  # two regions in one mask
                mask[2:6, 2:9] = 255
            put("widget", defect, f"{i:03d}", img, mask)
    twin, _ = picture(rng, (size, size))
    for i in range(3):
        put("twins", "good", f"{i:03d}", twin, None)
    for i in range(3):
        m = np.zeros((size, size), np.uint8)
        m[10 + 5 * i:20 + 5 * i, 10:20] = 255
        put("twins", "copy", f"{i:03d}", twin, m)
    os.makedirs(os.path.join(mv, "notacategory"), exist_ok=True)  # no test/: skipped

    visa = os.path.join(root, "visa")
    os.makedirs(os.path.join(visa, "split_csv"), exist_ok=True)
    rows = ["object,split,label,image,mask"]
    for k, s in enumerate(info["widget"]):
        rel = os.path.relpath(s["image"], visa)
        rows.append(f"widget,train,normal,{rel}," if k == 0 else None)
        mrel = os.path.relpath(s["mask"], visa) if s["mask"] else ""
        rows.append(f"widget,test,{'anomaly' if s['label'] else 'normal'},{rel},{mrel}")
    rows = [r for r in rows if r is not None]
    with open(os.path.join(visa, "split_csv", "1cls.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    return info


def read_png_grey(path):
    """The first channel of an 8-bit, non-interlaced PNG written by write_png
    (filter type 0 on every row), as uint8 [H, W]."""
    data = open(path, "rb").read()
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, colour = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    ch = {0: 1, 2: 3}[colour]
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * ch)
    assert (raw[:, 0] == 0).all(), "filtered rows: not a write_png file"
    return raw[:, 1:].reshape(h, w, ch)[:, :, 0]
