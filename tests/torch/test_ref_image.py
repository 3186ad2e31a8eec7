"""tests/ref image references (preprocess and anomaly map) and the colour
tables against PyTorch / numpy / PIL / scipy formulations.

- resize: F.interpolate(mode, align_corners=False, antialias=True), which is
  what torchvision's tensor Resize does (PIL's filter, in floating point),
  down- and upscaling.
- PIL resize: tc_ref_resize_pil and the host tc_resize_pil_8bit against
  Debian's PIL (python3-pil) Image.resize(BICUBIC / BILINEAR) of 8-bit
  images, exactly (integer arithmetic both sides).
- preprocess: the same on a uint8 frame, then /255 and CLIP's Normalize
  (the float filters against torch, the PIL filter against PIL).
- upsample: F.interpolate(mode="bilinear", align_corners=False).
- blur: scipy.ndimage.gaussian_filter(mode="reflect", truncate=4.0)
  (python3-scipy), AnomalyCLIP's, tiny frames with radii past their size included.
- colour tables: turbo's polynomial, matplotlib's jet segments and inferno.
- blend: the formula of tc_ref_map_blend in numpy float32."""
import ctypes
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy.ndimage import gaussian_filter

import tc_ctypes as t

lib = t.lib()
rng = np.random.default_rng(7)
U8P = ctypes.POINTER(ctypes.c_uint8)
SZ = ctypes.c_size_t

BICUBIC, BILINEAR, PIL_BICUBIC = 0, 1, 2
MODES = {BICUBIC: "bicubic", BILINEAR: "bilinear"}
PIL_FILTERS = {PIL_BICUBIC: Image.BICUBIC, BILINEAR: Image.BILINEAR}
RGBA, BGRA, RGBX, BGRX = 0, 1, 2, 3
TURBO, JET, INFERNO, GRAY = 0, 1, 2, 3
MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(3, 1, 1)


class Frame(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int), ("width", ctypes.c_uint32), ("height", ctypes.c_uint32),
                ("stride", ctypes.c_uint32)]


def u8ptr(a):
    assert a.dtype == np.uint8 and a.flags["C_CONTIGUOUS"]
    return a.ctypes.data_as(U8P)


lib.tc_ref_gaussian_blur.argtypes = [t.F32P, t.F32P, SZ, SZ, ctypes.c_float]
lib.tc_ref_gaussian_blur_xy.argtypes = [t.F32P, t.F32P, SZ, SZ, ctypes.c_float, ctypes.c_float]
lib.tc_ref_map_smooth.argtypes = [t.F32P, SZ, SZ, t.F32P, SZ, SZ, ctypes.c_float, t.F32P, t.F32P]
lib.tc_ref_map_smooth_xy.argtypes = [t.F32P, SZ, SZ, t.F32P, SZ, SZ, ctypes.c_float, ctypes.c_float, t.F32P, t.F32P]
lib.tc_ref_resize_pil.argtypes = [U8P, SZ, SZ, U8P, SZ, SZ, ctypes.c_int]
lib.tc_resize_pil_8bit.argtypes = [U8P, ctypes.c_uint32, ctypes.c_uint32, SZ, U8P, ctypes.c_uint32, ctypes.c_uint32,
                                   SZ, ctypes.c_int, ctypes.c_void_p]
lib.tc_ref_map_blend.argtypes = [t.F32P, ctypes.c_float, ctypes.c_float, U8P, ctypes.c_float, ctypes.c_float, U8P,
                                 ctypes.POINTER(Frame)]
lib.tc_ref_preprocess.argtypes = [U8P, ctypes.POINTER(Frame), SZ, ctypes.c_int, t.F32P]
lib.tc_colormap_lut.argtypes = [ctypes.c_int, U8P, ctypes.c_void_p]

# ---- resize -------------------------------------------------------------

for (ih, iw, oh, ow) in [(479, 641, 224, 224), (23, 37, 224, 224), (7, 300, 64, 64), (333, 5, 518, 518),
                         (1, 1, 7, 7), (1080, 1920, 224, 224), (720, 1280, 518, 518), (50, 60, 49, 61)]:
    x = t.rand(rng, ih, iw, lo=0.0, hi=255.0)
    for interp, mode in MODES.items():
        got = np.empty((oh, ow), np.float32)
        lib.tc_ref_resize_antialias(t.fptr(x), SZ(ih), SZ(iw), t.fptr(got), SZ(oh), SZ(ow), interp)
        # in float64: torch computes the filter centres and weights in the input's
        # dtype, and in fp32 they are off by up to 3e-5 of the range at 1280 -> 518
        want = F.interpolate(torch.from_numpy(x).double()[None, None], size=(oh, ow), mode=mode,
                             align_corners=False, antialias=True)[0, 0].numpy()
        t.close(f"resize {mode} {iw}x{ih} -> {ow}x{oh} vs F.interpolate(antialias=True)", got, want, 1e-4, 1e-6)

# ---- PIL's 8-bit resize --------------------------------------------------
# (ih, iw, oh, ow): down, up, mixed, one pixel, a size kept on one axis (PIL
# skips that pass), camera frames to AnomalyCLIP's 518 and CLIP's 224.

PIL_SIZES = [(479, 641, 224, 224), (23, 37, 224, 224), (7, 300, 64, 64), (333, 5, 518, 518), (1, 1, 7, 7),
             (40, 56, 48, 48), (48, 97, 48, 48), (97, 48, 48, 48), (1080, 1920, 518, 518), (720, 1280, 224, 224),
             (50, 60, 49, 61), (3, 2, 1, 1)]
for (ih, iw, oh, ow) in PIL_SIZES:
    rgb = rng.integers(0, 256, size=(ih, iw, 3), dtype=np.uint8)
    for filt, pil_filter in PIL_FILTERS.items():
        name = "BICUBIC" if filt == PIL_BICUBIC else "BILINEAR"
        want = np.asarray(Image.fromarray(rgb).resize((ow, oh), pil_filter))
        got = np.empty((oh, ow, 3), np.uint8)
        for c in range(3):
            plane = np.ascontiguousarray(rgb[..., c])
            out = np.empty((oh, ow), np.uint8)
            lib.tc_ref_resize_pil(u8ptr(plane), ih, iw, u8ptr(out), oh, ow, filt)
            got[..., c] = out
        t.close(f"PIL resize reference {iw}x{ih} -> {ow}x{oh} {name} vs PIL's Image.resize, exactly", got, want, 0, 0)
        # the host resize of the tools (tokenclip-eval): 4-byte pixels, padded source rows
        pad = 8 if iw % 2 else 0
        src = rng.integers(0, 256, size=(ih, 4 * iw + pad), dtype=np.uint8)
        src[:, :4 * iw].reshape(ih, iw, 4)[..., :3] = rgb
        dst = np.zeros((oh, 4 * ow), np.uint8)
        assert lib.tc_resize_pil_8bit(u8ptr(src), iw, ih, 4 * iw + pad, u8ptr(dst), ow, oh, 4 * ow, filt, None) == 0
        px = dst.reshape(oh, ow, 4)
        t.close(f"host tc_resize_pil_8bit {iw}x{ih} -> {ow}x{oh} {name} vs PIL, exactly (fourth byte 255)",
                px, np.concatenate([want, np.full((oh, ow, 1), 255, np.uint8)], axis=2), 0, 0)

# ---- preprocess ---------------------------------------------------------

for (w, h, pad, fmt, size, interp) in [(641, 479, 12, RGBA, 224, BICUBIC), (37, 23, 0, BGRX, 224, BILINEAR),
                                       (1920, 1080, 0, BGRA, 518, BICUBIC), (1, 1, 4, RGBX, 224, BICUBIC)]:
    stride = 4 * w + pad
    raw = rng.integers(0, 256, size=h * stride, dtype=np.uint8)
    frame = Frame(fmt, w, h, stride)
    got = np.empty((3, size, size), np.float32)
    lib.tc_ref_preprocess(u8ptr(raw), ctypes.byref(frame), size, interp, t.fptr(got))
    px = raw.reshape(h, stride)[:, :4 * w].reshape(h, w, 4)
    rgb = px[..., [2, 1, 0]] if fmt in (BGRA, BGRX) else px[..., :3]
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).double()[None] / 255.0
    y = F.interpolate(x, size=(size, size), mode=MODES[interp], align_corners=False, antialias=True)[0]
    want = ((y - MEAN.double()) / STD.double()).numpy()
    t.close(f"preprocess {w}x{h} fmt {fmt} -> {size} {MODES[interp]} vs torch", got, want, 1e-6, 1e-6)

# PIL's path: PIL's 8-bit resize of the RGB picture, then /255 and Normalize in
# float64; the reference rounds that to float32 once (half an ulp: 1.2e-7 at
# |v| < 2.7). The float filter of the same picture is printed for scale.
for (w, h, pad, fmt, size) in [(641, 479, 12, RGBA, 224), (37, 23, 0, BGRX, 224), (1920, 1080, 0, BGRA, 518),
                               (1, 1, 4, RGBX, 224), (518, 518, 0, RGBA, 518), (518, 300, 8, BGRX, 518)]:
    stride = 4 * w + pad
    raw = rng.integers(0, 256, size=h * stride, dtype=np.uint8)
    frame = Frame(fmt, w, h, stride)
    got = np.empty((3, size, size), np.float32)
    lib.tc_ref_preprocess(u8ptr(raw), ctypes.byref(frame), size, PIL_BICUBIC, t.fptr(got))
    px = raw.reshape(h, stride)[:, :4 * w].reshape(h, w, 4)
    rgb = np.ascontiguousarray(px[..., [2, 1, 0]] if fmt in (BGRA, BGRX) else px[..., :3])
    pil = np.asarray(Image.fromarray(rgb).resize((size, size), Image.BICUBIC))
    x = torch.from_numpy(pil.astype(np.float64)).permute(2, 0, 1) / 255.0
    want = ((x - MEAN.double()) / STD.double()).numpy()
    t.close(f"preprocess {w}x{h} fmt {fmt} -> {size} bicubic-pil vs PIL's resize + Normalize", got, want, 3e-7, 0)
    flt = np.empty_like(got)
    lib.tc_ref_preprocess(u8ptr(raw), ctypes.byref(frame), size, BICUBIC, t.fptr(flt))
    print(f"  (the float bicubic filter differs from PIL's by up to {np.abs(flt - want).max():.3g} here)")

# ---- anomaly map --------------------------------------------------------

for (gh, gw, h, w) in [(14, 14, 479, 641), (37, 37, 720, 1280), (5, 7, 37, 100), (37, 37, 13, 20), (3, 2, 1, 1)]:
    s = t.rand(rng, gh, gw, lo=0.0, hi=1.0)
    got = np.empty((h, w), np.float32)
    lib.tc_ref_upsample_bilinear(t.fptr(s), SZ(gh), SZ(gw), t.fptr(got), SZ(h), SZ(w))
    want = F.interpolate(torch.from_numpy(s).double()[None, None], size=(h, w), mode="bilinear",
                         align_corners=False)[0, 0].numpy()  # float64: torch's fp32 source indices are off by 1e-6
    t.close(f"upsample {gw}x{gh} -> {w}x{h} vs F.interpolate(bilinear)", got, want, 1e-6, 0)


def scipy_blur(x, sigma_x, sigma_y=None):
    """scipy.ndimage.gaussian_filter in float64, AnomalyCLIP's call; sigma per axis (y, x)."""
    sy = sigma_x if sigma_y is None else sigma_y
    return gaussian_filter(x.astype(np.float64), sigma=(sy, sigma_x), mode="reflect", truncate=4.0)


# (h, w, sigma): non-square, radius past the size (6x6 and 13x20 with radius
# 16; 1 pixel; 3 wide with radius 32: scipy mirrors again and again), sigma 0
# (a copy) and sigma 0.1 (radius 0: a copy too)
for (h, w, sigma) in [(61, 97, 4.0), (13, 20, 4.0), (6, 6, 4.0), (200, 150, 10.0), (1, 1, 2.0), (5, 64, 0.7),
                      (40, 3, 8.0), (48, 48, 4.0), (37, 50, 0.0), (9, 7, 0.1)]:
    x = t.rand(rng, h, w, lo=0.0, hi=1.0)
    got = np.empty_like(x)
    lib.tc_ref_gaussian_blur(t.fptr(x), t.fptr(got), h, w, sigma)
    t.close(f"blur {w}x{h} sigma {sigma} (radius {int(4 * sigma + 0.5)}) vs scipy gaussian_filter(reflect, truncate 4)",
            got, scipy_blur(x, sigma), 1e-6, 0)
for (h, w, sx, sy) in [(54, 96, 7.4, 4.2), (20, 9, 0.0, 3.0), (7, 30, 5.0, 0.0)]:
    x = t.rand(rng, h, w, lo=0.0, hi=1.0)
    got = np.empty_like(x)
    lib.tc_ref_gaussian_blur_xy(t.fptr(x), t.fptr(got), h, w, sx, sy)
    t.close(f"blur {w}x{h} sigma x {sx}, y {sy} vs scipy gaussian_filter(sigma=(y, x))", got, scipy_blur(x, sx, sy),
            1e-6, 0)

for (gh, gw, h, w, sx, sy) in [(14, 14, 240, 320, 4.0, 4.0), (37, 37, 100, 77, 0.0, 0.0), (6, 6, 48, 48, 4.0, 4.0),
                               (37, 37, 54, 96, 7.4, 4.2)]:
    s = t.rand(rng, gh, gw, lo=0.0, hi=1.0)
    got = np.empty((h, w), np.float32)
    lo, hi = ctypes.c_float(), ctypes.c_float()
    lib.tc_ref_map_smooth_xy(t.fptr(s), gh, gw, t.fptr(got), h, w, sx, sy, ctypes.byref(lo), ctypes.byref(hi))
    up = F.interpolate(torch.from_numpy(s).double()[None, None], size=(h, w), mode="bilinear", align_corners=False)
    want = scipy_blur(up[0, 0].numpy(), sx, sy)
    t.close(f"map smooth {gw}x{gh} -> {w}x{h} sigma x {sx}, y {sy} vs F.interpolate + scipy", got, want, 1e-6, 0)
    t.close("map smooth min/max", np.array([lo.value, hi.value]), np.array([got.min(), got.max()]), 0, 0)
    if sx == sy:
        one = np.empty_like(got)
        lib.tc_ref_map_smooth(t.fptr(s), gh, gw, t.fptr(one), h, w, sx, ctypes.byref(lo), ctypes.byref(hi))
        t.close(f"map smooth {gw}x{gh} -> {w}x{h}: one sigma == the same sigma per axis", one, got, 0, 0)

# ---- colour tables ------------------------------------------------------


def lut(cm):
    out = np.empty(768, np.uint8)
    assert lib.tc_colormap_lut(cm, u8ptr(out), None) == 0
    return out.reshape(256, 3)


def to_u8(v):
    return np.floor(np.clip(v, 0, 1) * 255 + 0.5).astype(np.uint8)


xs = np.arange(256) / 255.0
turbo = [[0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943],
         [0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604],
         [0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973]]
want = np.stack([to_u8(np.polyval(c[::-1], xs)) for c in turbo], axis=1)
t.close("turbo table vs its polynomial", lut(TURBO), want, 0, 0)
jet = {"r": [(0, 0), (0.35, 0), (0.66, 1), (0.89, 1), (1, 0.5)],
       "g": [(0, 0), (0.125, 0), (0.375, 1), (0.64, 1), (0.91, 0), (1, 0)],
       "b": [(0, 0.5), (0.11, 1), (0.34, 1), (0.65, 0), (1, 0)]}
want = np.stack([to_u8(np.interp(xs, *zip(*jet[c]))) for c in "rgb"], axis=1)
t.close("jet table vs matplotlib's segments (np.interp)", lut(JET), want, 0, 0)
# a few entries of matplotlib's _inferno_data
inferno = {0: (0.001462, 0.000466, 0.013866), 64: (0.341500, 0.062325, 0.429425),
           128: (0.735683, 0.215906, 0.330245), 192: (0.978422, 0.557937, 0.034931),
           255: (0.988362, 0.998364, 0.644924)}
got = lut(INFERNO)
t.close("inferno table entries 0, 64, 128, 192, 255", got[list(inferno)], to_u8(np.array(list(inferno.values()))), 0, 0)
t.close("gray table", lut(GRAY), np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1), 0, 0)

# ---- blend --------------------------------------------------------------

for (w, h, pad, fmt, alpha, thr, lo, hi, cm) in [(97, 61, 8, RGBA, 0.5, 0.0, 0.1, 0.9, TURBO),
                                                 (64, 33, 0, BGRX, 0.8, 0.4, 0.0, 1.0, INFERNO),
                                                 (5, 5, 4, BGRA, 0.0, 0.0, 0.0, 1.0, JET)]:
    stride = 4 * w + pad
    raw = rng.integers(0, 256, size=h * stride, dtype=np.uint8)
    m = t.rand(rng, h, w, lo=-0.1, hi=1.1)
    table = lut(cm)
    got = raw.copy()
    frame = Frame(fmt, w, h, stride)
    lib.tc_ref_map_blend(t.fptr(m), lo, hi, u8ptr(table.reshape(-1).copy()), alpha, thr, u8ptr(got),
                         ctypes.byref(frame))
    f32 = np.float32
    tt = np.clip((m - f32(lo)) / (f32(hi) - f32(lo)), f32(0), f32(1))
    idx = np.minimum((tt * f32(256)).astype(np.int64), 255)
    colour = table[idx].astype(np.float32)
    if fmt in (BGRA, BGRX):
        colour = colour[..., ::-1]
    want = raw.copy().reshape(h, stride)
    px = want[:, :4 * w].reshape(h, w, 4)
    p = px[..., :3].astype(np.float32)
    blended = np.floor(p + f32(alpha) * (colour - p) + f32(0.5)).astype(np.uint8)
    on = (tt >= f32(thr)) & (alpha > 0)
    px[..., :3] = np.where(on[..., None], blended, px[..., :3])
    want[:, :4 * w] = px.reshape(h, 4 * w)
    t.close(f"blend fmt {fmt} alpha {alpha} threshold {thr} vs numpy float32", got, want.reshape(-1), 0, 0)

t.finish()
