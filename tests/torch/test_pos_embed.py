"""core/model/tc_pos_embed against torch.nn.functional.interpolate, called
the way open_clip's resize_pos_embed (bicubic, align_corners=False, with and
without antialias) and AnomalyCLIP's VisionTransformer.forward (bilinear,
align_corners default) call it on a [1 + H*W, D] positional embedding."""
import ctypes

import numpy as np
import torch
import torch.nn.functional as F

import tc_ctypes as t

lib = t.lib()
rng = np.random.default_rng(5)

lib.tc_pos_embed_resize.argtypes = [t.F32P, ctypes.c_int, ctypes.c_int, t.F32P, ctypes.c_int, ctypes.c_int,
                                    ctypes.c_size_t, ctypes.c_int, ctypes.c_void_p]
lib.tc_interp_from_name.argtypes = [ctypes.c_char_p]

MODES = {  # our name: F.interpolate arguments
    "bicubic": dict(mode="bicubic", align_corners=False),
    "bicubic-aa": dict(mode="bicubic", align_corners=False, antialias=True),
    "bilinear": dict(mode="bilinear"),  # AnomalyCLIP leaves align_corners at its default
}


def torch_resize(pos, src_hw, dst_hw, kwargs):
    """The grid rows of pos resized as open_clip / AnomalyCLIP do it."""
    cls, grid = pos[:1], pos[1:]
    d = pos.shape[1]
    img = torch.from_numpy(grid).reshape(1, src_hw[0], src_hw[1], d).permute(0, 3, 1, 2)
    out = F.interpolate(img, size=dst_hw, **kwargs)
    out = out.permute(0, 2, 3, 1).reshape(dst_hw[0] * dst_hw[1], d).numpy()
    return np.concatenate([cls, out], 0)


cases = [
    ((7, 7), (7, 7), 16),     # same size: a copy
    ((7, 7), (14, 14), 32),   # ViT-B/32 224 -> 448
    ((14, 14), (16, 16), 24), # B/16 224 -> 256
    ((24, 24), (37, 37), 64), # L/14@336 -> 518, AnomalyCLIP's setting
    ((16, 16), (37, 37), 8),  # L/14 224 -> 518
    ((14, 14), (7, 7), 16),   # shrinking: antialias matters
    ((24, 24), (5, 5), 8),    # shrinking hard
    ((4, 4), (5, 9), 8),      # non-square target
    ((3, 5), (6, 2), 4),      # non-square source
    ((1, 1), (3, 3), 4),      # a single cell
]
for mode, kwargs in MODES.items():
    mode_id = lib.tc_interp_from_name(mode.encode())
    assert mode_id >= 0, mode
    for (sh, sw), (dh, dw), d in cases:
        pos = rng.standard_normal((1 + sh * sw, d)).astype(np.float32)
        want = torch_resize(pos.astype(np.float64), (sh, sw), (dh, dw), kwargs)
        want32 = torch_resize(pos, (sh, sw), (dh, dw), kwargs)
        got = np.full((1 + dh * dw, d), np.nan, np.float32)
        st = lib.tc_pos_embed_resize(t.fptr(pos), sh, sw, t.fptr(got), dh, dw, d, mode_id, None)
        if st != 0:
            print(f"FAIL {mode} {sh}x{sw}->{dh}x{dw}: status {st}")
            t.failures += 1
            continue
        if not np.array_equal(got[0], pos[0]):
            print(f"FAIL {mode}: the class row changed")
            t.failures += 1
        # against float64 PyTorch: only our float32 output rounding is left
        t.close(f"{mode} {sh}x{sw} -> {dh}x{dw} (D={d}) vs F.interpolate float64", got, want, 1e-6, 1e-6)
        # against what open_clip/AnomalyCLIP compute (float32 PyTorch, whose source
        # coordinates are rounded to float: its own error vs float64 reaches ~1.3e-5)
        t.close(f"{mode} {sh}x{sw} -> {dh}x{dw} (D={d}) vs F.interpolate float32", got, want32, 3e-5, 0)

# the modes differ from each other where they should, so the test can tell them apart
pos = rng.standard_normal((1 + 24 * 24, 8)).astype(np.float32)
outs = {m: torch_resize(pos, (24, 24), (37, 37), k) for m, k in MODES.items()}
for a in MODES:
    for b in MODES:
        if a < b and np.abs(outs[a] - outs[b]).max() < 1e-3:
            print(f"FAIL {a} and {b} give the same result; the test could not tell them apart")
            t.failures += 1

assert lib.tc_interp_from_name(b"nearest") == -1
t.finish()
