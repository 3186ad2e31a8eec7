#!/usr/bin/python3
"""Writes two broken copies of a CLIP safetensors file for the element's
error tests: the file cut in half (a truncated download), and one whose
visual projection is all NaN (finite-looking weights that poison the tokens).

    broken_models.py MODEL.safetensors TRUNCATED.safetensors NAN.safetensors"""
import json
import struct
import sys

import numpy as np


def main(argv=None):
    model, truncated, nan = (argv or sys.argv[1:])[:3]
    data = bytearray(open(model, "rb").read())
    open(truncated, "wb").write(data[:len(data) // 2])
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    t = header["visual_projection.weight"]
    if t["dtype"] != "F32":
        sys.exit(f"{model}: visual_projection.weight is {t['dtype']}, not F32")
    begin, end = (8 + n + o for o in t["data_offsets"])
    data[begin:end] = np.full((end - begin) // 4, np.nan, dtype="<f4").tobytes()
    open(nan, "wb").write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
