#!/usr/bin/python3
"""Writes a head file of random subspaces (tensor `subspaces` [Q, 2, D],
float32, standard normal): for demos and tests run on random models, where
no trained head exists.

    random_head.py OUT.safetensors [--q Q] [--dim D] [--seed S]"""
import argparse
import sys

import numpy as np

from clip_fixtures import write_safetensors


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--q", type=int, default=4, help="subspaces (default 4)")
    ap.add_argument("--dim", type=int, default=96, help="embedding dimension (default 96, the tiny models')")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    t = np.random.default_rng(a.seed).standard_normal((a.q, 2, a.dim)).astype(np.float32)
    write_safetensors(a.out, {"subspaces": (t, "f32")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
