"""tokenclip-infer end to end on a tiny random model: the overlay PNG, the
map .npy at the image's size, the JSON on stdout, and the errors.

usage: test_tool_infer.py TOKENCLIP_INFER MODEL.safetensors (embed 96)"""
import json
import math
import os
import struct
import sys
import tempfile
import zlib

import numpy as np

import eval_fixtures
import tc_testutil
from tc_testutil import check, finish


def png_size(path):
    """(width, height, colour type) of a PNG, after checking its chunks' CRCs
    and that the pixel data inflates to the size the header promises."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "no PNG signature"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0], "bad CRC"
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, colour = ihdr[:4]
    channels = {0: 1, 2: 3, 6: 4}[colour]
    assert len(zlib.decompress(idat)) == h * (1 + w * channels * depth // 8), "pixel data of the wrong size"
    return w, h, colour


def run(tool, *args):
    return tc_testutil.run(tool, *args, timeout=60)


def main():
    tool, model = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory(prefix="tc-test-infer-") as tmp:
        checks(tool, model, tmp)
    finish()


def checks(tool, model, tmp):
    head = os.path.join(tmp, "head.safetensors")
    eval_fixtures.write_head(head, 4, 96)
    img = os.path.join(tmp, "in.png")
    rng = np.random.default_rng(1)
    pic, _ = eval_fixtures.picture(rng, (37, 50), (18, 25, 6))
    eval_fixtures.write_png(img, pic)
    overlay, mapf = os.path.join(tmp, "out.png"), os.path.join(tmp, "map.npy")

    r = run(tool, "--model", model, "--head", head, "--image", img, "--overlay", overlay, "--map", mapf,
            "--input-size", "48", "--sigma", "2", "--vv-start", "2")
    check("runs", r.returncode == 0, r.stderr)
    check("the validation layer (TOKENCLIP_VALIDATE=1) said nothing", "Vulkan validation" not in r.stderr, r.stderr)
    if r.returncode == 0:
        out = json.loads(r.stdout)
        check("JSON: image score finite, in [0, 1]", math.isfinite(out["image_score"]) and 0 <= out["image_score"] <= 1,
              out)
        check("JSON: size and grid", (out["width"], out["height"], out["input_size"], out["grid"]) == (50, 37, 48, 6),
              out)
        check("overlay: an RGB PNG at the image's size", png_size(overlay) == (50, 37, 2), png_size(overlay))
        m = np.load(mapf)
        check("map: float32 [height, width]", m.dtype == np.float32 and m.shape == (37, 50), (m.dtype, m.shape))
        check("map: its maximum is map_max", abs(float(m.max()) - out["map_max"]) < 1e-6, (m.max(), out["map_max"]))
        check("image score = 0.5 global + 0.5 map max",
              abs(out["image_score"] - 0.5 * (out["global_score"] + out["map_max"])) < 1e-6, out)

    # the map alone, with the blend off: same map, no overlay written
    os.remove(mapf)
    r = run(tool, "--model", model, "--head", head, "--image", img, "--map", mapf, "--input-size", "48",
            "--sigma", "2", "--vv-start", "2", "--alpha", "0")
    check("map without overlay", r.returncode == 0 and os.path.exists(mapf), r.stderr)

    empty = os.path.join(tmp, "empty.png")
    open(empty, "w").close()
    cases = [
        ("missing image", ["--image", os.path.join(tmp, "nope.png")], 1, "nope.png"),
        ("missing model", ["--model", os.path.join(tmp, "nomodel.safetensors")], 1, "nomodel.safetensors"),
        ("missing head", ["--head", os.path.join(tmp, "nohead.safetensors")], 1, "nohead.safetensors"),
        ("image that is not a picture", ["--image", head], 1, "not a PNG or JPEG"),
        ("an empty image file", ["--image", empty], 1, f"{empty}: empty file (0 bytes), not a PNG or JPEG image"),
        ("unwritable overlay", ["--overlay", os.path.join(tmp, "no", "dir", "o.png")], 1, "o.png"),
        ("unknown option", ["--frobnicate", "1"], 2, "unknown option"),
        ("bad number", ["--sigma", "lots"], 2, "--sigma takes a number"),
        ("bad colormap", ["--colormap", "rainbow"], 2, "--colormap"),
    ]
    for what, change, rc, text in cases:
        args = {"--model": model, "--head": head, "--image": img}
        extra = []
        for i in range(0, len(change), 2):
            if change[i] in args:
                args[change[i]] = change[i + 1]
            else:
                extra += change[i:i + 2]
        argv = [x for kv in args.items() for x in kv] + ["--input-size", "48"] + extra
        r = run(tool, *argv)
        check(f"error: {what}", r.returncode == rc and text in r.stderr and "Traceback" not in r.stderr,
              f"rc {r.returncode}, stderr {r.stderr.strip()[:300]}")
    r = run(tool, "--help")
    check("--help says how the map is made", r.returncode == 0 and "bilinearly upsampled" in r.stdout, r.stdout)


if __name__ == "__main__":
    main()
