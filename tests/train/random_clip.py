#!/usr/bin/python3
"""Writes a CLIP file of random weights with real shapes, both towers, for
timing runs of tokenclip-train (`--bench`) where no weights may be
downloaded: the speed of a run depends on the shapes, not on the values.

    random_clip.py OUT.safetensors [--vision l14-336] [--dtype f16]

--vision: a vision tower of tests/torch/clip_fixtures.py's CONFIGS (l14-336:
ViT-L/14@336, AnomalyCLIP's); the text tower is CLIP's for that size
(width 768 and 12 layers for the L models, 512 for the B models; context
77, CLIP's 49408-token vocabulary)."""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "torch")]

import clip_fixtures as cf  # noqa: E402
import text_fixtures as tf  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--vision", choices=sorted(set(cf.CONFIGS) - {"tiny"}), default="l14-336")
    ap.add_argument("--dtype", choices=cf.DTYPES, default="f16")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    vcfg = cf.full_config(a.vision)
    width = 768 if a.vision.startswith("l14") else 512
    tcfg = tf.text_config("tiny", width=width, layers=12, context=77, vocab=49408, embed=vcfg["embed"])
    vw = cf.random_weights(vcfg, a.seed)
    tw = tf.random_text_weights(tcfg, a.seed)
    tf.save_text_model(a.out, tw, tcfg, "openclip", a.dtype, vision=(vw, vcfg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
