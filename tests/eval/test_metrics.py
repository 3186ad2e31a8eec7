"""tools/common/tc_metrics.c through ctypes, against scikit-learn's
roc_auc_score and average_precision_score and the AUPRO references of
aupro_ref.py, on synthetic predictions with known answers (perfect,
inverted, constant, ties, random) and on the refused inputs.

Run by meson with TOKENCLIP_LIB set; /usr/bin/python3 with python3-sklearn
and python3-scipy (Debian)."""
import ctypes
import os
import sys

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

import aupro_ref
from tc_testutil import check, finish


class Error(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("message", ctypes.c_char * 512)]


def load():
    path = os.environ.get("TOKENCLIP_LIB")
    if not path:
        sys.exit("TOKENCLIP_LIB is not set (run through meson test)")
    lib = ctypes.CDLL(path)
    vp, u8p, f32p = ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.POINTER(ctypes.c_float)
    dp, ep = ctypes.POINTER(ctypes.c_double), ctypes.POINTER(Error)
    sigs = {
        "tc_metric_scores_create": [ctypes.POINTER(vp), ep],
        "tc_metric_scores_add": [vp, u8p, f32p, ctypes.c_size_t, ep],
        "tc_metric_scores_auroc": [vp, dp, ep],
        "tc_metric_scores_ap": [vp, dp, ep],
        "tc_metric_maps_create": [ctypes.POINTER(vp), ep],
        "tc_metric_maps_add": [vp, f32p, u8p, ctypes.c_uint32, ctypes.c_uint32, ep],
        "tc_metric_maps_auroc": [vp, dp, ep],
        "tc_metric_maps_ap": [vp, dp, ep],
        "tc_metric_maps_aupro": [vp, ctypes.c_double, dp, ep],
        "tc_metric_maps_aupro_anomalyclip": [vp, ctypes.c_uint32, ctypes.c_double, dp, ep],
    }
    for name, args in sigs.items():
        getattr(lib, name).argtypes = args
        getattr(lib, name).restype = ctypes.c_int
    lib.tc_metric_scores_destroy.argtypes = [vp]
    lib.tc_metric_maps_destroy.argtypes = [vp]
    return lib


LIB = load()


def ptr(a, t):
    return a.ctypes.data_as(ctypes.POINTER(t))


class Result:
    """A metric's value or its error (status, message)."""

    def __init__(self, status, value, message):
        self.status, self.value, self.message = status, value, message


def call(fn, handle, *args):
    out, err = ctypes.c_double(), Error()
    st = fn(handle, *args, ctypes.byref(out), ctypes.byref(err))
    return Result(st, out.value if st == 0 else None, err.message.decode())


def image_metrics(labels, scores, batches=1):
    """AUROC and AP of the C accumulator, the samples added in `batches` parts."""
    h, err = ctypes.c_void_p(), Error()
    assert LIB.tc_metric_scores_create(ctypes.byref(h), ctypes.byref(err)) == 0
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    add_status = 0
    for part in np.array_split(np.arange(len(labels)), batches):
        lo, hi = (part[0], part[-1] + 1) if len(part) else (0, 0)
        l, s = labels[lo:hi].copy(), scores[lo:hi].copy()
        add_status |= LIB.tc_metric_scores_add(h, ptr(l, ctypes.c_uint8), ptr(s, ctypes.c_float), len(l),
                                               ctypes.byref(err))
    r = (call(LIB.tc_metric_scores_auroc, h), call(LIB.tc_metric_scores_ap, h), add_status, err.message.decode())
    LIB.tc_metric_scores_destroy(h)
    return r


def map_metrics(maps, masks, limit=0.3, steps=200):
    h, err = ctypes.c_void_p(), Error()
    assert LIB.tc_metric_maps_create(ctypes.byref(h), ctypes.byref(err)) == 0
    add_status = 0
    for m, k in zip(maps, masks):
        m = np.ascontiguousarray(m, dtype=np.float32)
        k = np.ascontiguousarray(k, dtype=np.uint8)
        add_status |= LIB.tc_metric_maps_add(h, ptr(m, ctypes.c_float), ptr(k, ctypes.c_uint8), m.shape[1],
                                             m.shape[0], ctypes.byref(err))
    r = {
        "auroc": call(LIB.tc_metric_maps_auroc, h),
        "ap": call(LIB.tc_metric_maps_ap, h),
        "aupro": call(LIB.tc_metric_maps_aupro, h, ctypes.c_double(limit)),
        "aupro_ac": call(LIB.tc_metric_maps_aupro_anomalyclip, h, steps, ctypes.c_double(limit)),
        "add_status": add_status,
        "add_message": err.message.decode(),
    }
    LIB.tc_metric_maps_destroy(h)
    return r


def near(what, got, want, tol):
    if got is None:
        check(what, False, f"got an error, want {want:.9g}")
        return
    check(what, abs(got - want) <= tol, f"got {got:.12g} want {want:.12g} (tol {tol})")


def refused(what, r, status, text):
    check(what, r.status == status and text in r.message, f"status {r.status} message \"{r.message}\"")


TC_ERR_INVALID_ARGUMENT, TC_ERR_NUMERIC = 1, 9


# ---- image level ----

def image_case(name, labels, scores, want_auroc=None, want_ap=None, batches=1):
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float32)
    auroc, ap, add_status, add_msg = image_metrics(labels, scores, batches)
    check(f"{name}: add", add_status == 0, add_msg)
    near(f"{name}: AUROC vs sklearn", auroc.value, roc_auc_score(labels, scores), 1e-12)
    near(f"{name}: AP vs sklearn", ap.value, average_precision_score(labels, scores), 1e-12)
    if want_auroc is not None:
        near(f"{name}: AUROC known answer", auroc.value, want_auroc, 1e-12)
    if want_ap is not None:
        near(f"{name}: AP known answer", ap.value, want_ap, 1e-12)


def test_image(rng):
    labels = np.array([0] * 6 + [1] * 4)
    image_case("perfect", labels, np.linspace(0, 1, 10), 1.0, 1.0)
    image_case("inverted", labels, np.linspace(1, 0, 10), 0.0)
    image_case("constant", labels, np.full(10, 0.25), 0.5, 0.4)
    # ties: 2 positives and 2 negatives share the top score, the rest separated
    image_case("ties", [1, 1, 0, 0, 1, 0, 0, 0], [0.9, 0.9, 0.9, 0.9, 0.5, 0.1, 0.1, 0.2],
               11 / 15)  # pairs: 2 x (2 ties x 1/2 + 3 wins) + 3 wins, of 3 x 5
    image_case("negative and mixed-sign scores, -0.0 = 0.0", [0, 1, 0, 1, 1],
               [-3.5, -0.0, 0.0, 1e-30, -1e30], None)
    n = 5000
    lab = rng.random(n) < 0.3
    image_case("random (AUROC near 0.5)", lab, rng.random(n))
    image_case("random, added in 7 batches", lab, rng.normal(size=n) + lab * 0.7, batches=7)
    image_case("random with many ties", lab, rng.integers(0, 5, n) * 0.25)
    image_case("one positive", [0, 0, 1, 0], [0.1, 0.4, 0.3, 0.2], 2 / 3, 0.5)

    auroc, ap, _, _ = image_metrics([0, 0, 0], [0.1, 0.2, 0.3])
    refused("AUROC without positives", auroc, TC_ERR_INVALID_ARGUMENT, "needs both classes")
    refused("AP without positives", ap, TC_ERR_INVALID_ARGUMENT, "needs anomalous samples")
    auroc, ap, _, _ = image_metrics([1, 1], [0.1, 0.2])
    refused("AUROC without negatives", auroc, TC_ERR_INVALID_ARGUMENT, "needs both classes")
    near("AP without negatives", ap.value, 1.0, 0)
    auroc, _, add_status, add_msg = image_metrics([0, 1, 0], [0.1, np.nan, 0.3])
    check("NaN score refused", add_status == TC_ERR_NUMERIC and "1 is not finite" in add_msg,
          f"{add_status} {add_msg}")
    refused("nothing added after a NaN", auroc, TC_ERR_INVALID_ARGUMENT, "0 anomalous, 0 normal")


# ---- pixel level ----

def blob_masks(rng, n, h, w, blobs=3):
    """Masks with a few rectangles (some touching diagonally, which the
    8-connectivity joins) and some all-normal images."""
    masks = np.zeros((n, h, w), dtype=np.uint8)
    for i in range(n):
        if i % 3 == 2:
            continue
        for _ in range(rng.integers(1, blobs + 1)):
            y, x = rng.integers(0, h - 3), rng.integers(0, w - 3)
            masks[i, y:y + rng.integers(1, 5), x:x + rng.integers(1, 5)] = 255
    masks[0, 0, 0] = masks[0, 1, 1] = 255  # diagonal neighbours: one region
    return masks


def pixel_case(name, maps, masks, want=None, ac=True):
    maps = np.asarray(maps, dtype=np.float32)
    r = map_metrics(maps, masks)
    check(f"{name}: add", r["add_status"] == 0, r["add_message"])
    labels = (np.asarray(masks) > 0).ravel()
    near(f"{name}: pixel AUROC vs sklearn", r["auroc"].value, roc_auc_score(labels, maps.ravel()), 1e-12)
    near(f"{name}: pixel AP vs sklearn", r["ap"].value, average_precision_score(labels, maps.ravel()), 1e-12)
    # the official code keeps FPRs in float32 in places: 1e-6 covers it
    near(f"{name}: AUPRO vs MVTec reference", r["aupro"].value, aupro_ref.aupro_mvtec(maps, masks), 1e-6)
    if want is not None:
        near(f"{name}: AUPRO known answer", r["aupro"].value, want, 1e-9)
    if ac:
        near(f"{name}: AUPRO vs AnomalyCLIP's cal_pro_score", r["aupro_ac"].value,
             aupro_ref.aupro_anomalyclip((np.asarray(masks) > 0).astype(np.uint8), maps), 1e-9)
    return r


def test_pixels(rng):
    n, h, w = 6, 20, 24
    masks = blob_masks(rng, n, h, w)
    gt = (masks > 0).astype(np.float32)
    pixel_case("perfect maps", gt * 0.5 + 0.25 + rng.random(gt.shape) * 0.1, masks, 1.0)
    pixel_case("inverted maps", -gt + rng.random(gt.shape) * 0.1, masks, 0.0)
    # constant: the curve is (0, 0) -> (1, 1), area 0.3^2 / 2 over 0.3
    r = pixel_case("constant maps", np.full(gt.shape, 0.5), masks, 0.15, ac=False)
    refused("constant maps: AnomalyCLIP AUPRO undefined", r["aupro_ac"], TC_ERR_NUMERIC, "no thresholds")
    pixel_case("random maps", rng.random(gt.shape), masks)
    # six levels: every threshold with FPR < 0.3 has the same FPR, so
    # AnomalyCLIP's min-max rescaling divides by zero (NaN there, an error here)
    r = pixel_case("random maps with ties", rng.integers(0, 6, gt.shape) / 5.0, masks, ac=False)
    refused("maps with ties: AnomalyCLIP AUPRO undefined", r["aupro_ac"], TC_ERR_NUMERIC, "min-max")
    pixel_case("random maps with many ties", rng.integers(0, 40, gt.shape) / 39.0, masks)
    pixel_case("noisy good maps", gt + rng.normal(size=gt.shape) * 0.8, masks)
    # a planted answer: one region of 4 pixels found at two levels
    m = np.zeros((1, 4, 10), dtype=np.uint8)
    m[0, 0, :4] = 1
    s = np.zeros((1, 4, 10), dtype=np.float32)
    s[0, 0, :2] = 3  # half the region above every normal pixel
    s[0, 0, 2:4] = 1
    s[0, 1:, :] = 2  # all 36 normal pixels between the two halves
    # (0,0) -> (0, 0.5) -> (1, 0.5) -> (1, 1): PRO 0.5 over FPR [0, 0.3]
    pixel_case("planted two-level region", s, m, 0.5, ac=False)

    r = map_metrics([rng.random((4, 4))], [np.zeros((4, 4), np.uint8)])
    refused("AUPRO without anomalous regions", r["aupro"], TC_ERR_INVALID_ARGUMENT, "no")
    refused("pixel AUROC without anomalous pixels", r["auroc"], TC_ERR_INVALID_ARGUMENT, "needs both classes")
    r = map_metrics([rng.random((4, 4))], [np.full((4, 4), 255, np.uint8)])
    refused("AUPRO without normal pixels", r["aupro"], TC_ERR_INVALID_ARGUMENT, "needs normal pixels")
    bad = rng.random((3, 5)).astype(np.float32)
    bad[2, 4] = np.inf
    r = map_metrics([bad], [np.ones((3, 5), np.uint8)])
    check("infinite map value refused, naming x and y",
          r["add_status"] == TC_ERR_NUMERIC and "x 4, y 2" in r["add_message"], r["add_message"])
    h_, err = ctypes.c_void_p(), Error()
    LIB.tc_metric_maps_create(ctypes.byref(h_), ctypes.byref(err))
    r = call(LIB.tc_metric_maps_aupro, h_, ctypes.c_double(0.0))
    refused("FPR limit 0 refused", r, TC_ERR_INVALID_ARGUMENT, "outside (0, 1]")
    LIB.tc_metric_maps_destroy(h_)


def test_large(rng):
    """Enough pixels to use every radix pass, and maps added after a compute."""
    masks = blob_masks(rng, 4, 128, 160, blobs=6)
    maps = (masks > 0) * 0.3 + rng.random(masks.shape)
    r = map_metrics(maps, masks)
    labels = (masks > 0).ravel()
    near("80k pixels: AUROC vs sklearn", r["auroc"].value, roc_auc_score(labels, maps.ravel().astype(np.float32)),
         1e-12)
    near("80k pixels: AUPRO vs MVTec reference", r["aupro"].value,
         aupro_ref.aupro_mvtec(maps.astype(np.float32), masks), 1e-6)


def main():
    rng = np.random.default_rng(8)
    test_image(rng)
    test_pixels(rng)
    test_large(rng)
    finish()


if __name__ == "__main__":
    main()
