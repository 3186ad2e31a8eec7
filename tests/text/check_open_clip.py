#!/usr/bin/env python3
"""A developer check, not part of the test suite: the test references
(clip_tokenizer_ref.Tokenizer and text_fixtures.text_forward) against
open_clip's own SimpleTokenizer and TextTransformer, where open_clip's source
is at hand (it is not a Debian package, so CI cannot run this):

    pip download open_clip_torch --no-deps -d /tmp/oc && cd /tmp/oc && unzip -q open_clip_torch-*.whl
    python3 tests/text/check_open_clip.py /tmp/oc

ftfy, torchvision and open_clip's package __init__ are stubbed (only
open_clip/tokenizer.py and open_clip/transformer.py are used); with ftfy an
identity, open_clip's tokenizer must give the reference's ids exactly on
test_tokenizer.py's phrases (except those spelling OpenAI's special tokens
<|startoftext|> / <|endoftext|>, which OpenAI's CLIP, Hugging Face and
libtokenclip map to their ids and open_clip, whose pattern has
<start_of_text> instead, splits as text), and TextTransformer loaded from the open_clip
names of text_fixtures must match text_forward in float64 (last run,
open_clip 3.3.0: all phrases equal, 2e-15 max difference)."""
import os
import sys
import types

import numpy as np
import torch

src = sys.argv[1] if len(sys.argv) > 1 else "/tmp/oc"
here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [src, here, os.path.join(here, "..", "torch")]
sys.modules["ftfy"] = types.SimpleNamespace(fix_text=lambda s: s)
pkg = types.ModuleType("open_clip")
pkg.__path__ = [os.path.join(src, "open_clip")]
sys.modules["open_clip"] = pkg
for name in ("torchvision", "torchvision.ops", "torchvision.ops.misc"):
    sys.modules[name] = types.ModuleType(name)
sys.modules["torchvision.ops.misc"].FrozenBatchNorm2d = object

from open_clip.tokenizer import SimpleTokenizer  # noqa: E402
from open_clip.transformer import QuickGELU, TextTransformer  # noqa: E402

import text_fixtures as tf  # noqa: E402
from clip_tokenizer_ref import Tokenizer  # noqa: E402
from test_tokenizer import phrases  # noqa: E402

ref = Tokenizer(os.path.join(here, "..", "..", "data", "bpe_simple_vocab_16e6.txt.gz"))
oc = SimpleTokenizer()
bad = 0
texts = phrases()
skipped = 0
for t in texts:
    if "<|startoftext|>" in t.lower() or "<|endoftext|>" in t.lower():
        skipped += 1  # open_clip spells its special tokens <start_of_text>, OpenAI and HF <|startoftext|>
        continue
    try:
        want = ref.tokenize(t)
    except ValueError:
        continue
    got = oc([t])[0].tolist()
    if got != want:
        bad += 1
        print(f"differ: {t!r}\n  open_clip {got[:20]}\n  reference {want[:20]}")
print(f"tokenizer: {len(texts) - skipped - bad} of {len(texts) - skipped} phrases equal (ftfy stubbed; {skipped} "
      f"with OpenAI's special-token text skipped: open_clip matches <start_of_text> instead)")

worst = 0.0
for act in ("quick_gelu", "gelu"):
    cfg = tf.text_config("tiny-vocab")
    w = tf.random_text_weights(cfg, 1)
    m = TextTransformer(context_length=cfg["context"], vocab_size=cfg["vocab"], width=cfg["width"],
                        heads=cfg["heads"], layers=cfg["layers"], output_dim=cfg["embed"],
                        act_layer=QuickGELU if act == "quick_gelu" else torch.nn.GELU)
    m.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in tf.text_named(w, cfg, "openclip").items()},
                      strict=False)
    ids = np.array([ref.tokenize(t) for t in ("a photo of a flawless metal nut.", "x", "a " * 60)])
    with torch.no_grad():
        out = m.double().eval()(torch.from_numpy(ids))
    out = out[0] if isinstance(out, tuple) else out
    diff = float(np.abs(out.numpy() - tf.text_forward(w, cfg, ids, act)).max())
    worst = max(worst, diff)
    print(f"TextTransformer ({act}) vs text_forward: max |diff| {diff:.2g}")
sys.exit(1 if bad or worst > 1e-10 else 0)
