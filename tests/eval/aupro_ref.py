"""Reference AUPRO in Python, written from the published definitions, for the
tests of tools/common/tc_metrics.c.

- aupro_mvtec: the MVTec AD evaluation code (Bergmann et al., IJCV 2021:
  pro_curve_util.compute_pro, generic_util.trapezoid): ground-truth regions
  are the 8-connected components of each mask; at every distinct score t the
  FPR is the fraction of normal pixels (all images) scoring >= t and the PRO
  the mean over all regions of the fraction of the region scoring >= t; the
  curve (0, 0) ... (1, 1) is integrated by the trapezoid rule up to FPR
  `limit` (the last segment cut by linear interpolation) and divided by
  `limit` (0.3 in the papers).
- aupro_anomalyclip: cal_pro_score of zqhang/AnomalyCLIP metrics.py (after
  cflow-ad), threshold by threshold as it is written there, with
  scipy.ndimage.label (8-connected) in place of skimage.measure.label.
"""
import bisect

import numpy as np
from scipy import ndimage
from sklearn.metrics import auc

EIGHT = np.ones((3, 3), dtype=int)


def compute_pro(anomaly_maps, ground_truth_maps):
    """(FPRs, PROs) at every distinct score, from (0, 0) to (1, 1)."""
    num_ok_pixels = 0
    num_gt_regions = 0
    shape = (len(anomaly_maps), *anomaly_maps[0].shape)
    fp_changes = np.zeros(shape, dtype=np.float64)
    pro_changes = np.zeros(shape, dtype=np.float64)
    for i, gt in enumerate(ground_truth_maps):
        labeled, n_components = ndimage.label(gt, structure=EIGHT)
        num_gt_regions += n_components
        ok_mask = labeled == 0
        num_ok_pixels += ok_mask.sum()
        fp_changes[i, ok_mask] = 1
        for k in range(n_components):
            region = labeled == k + 1
            pro_changes[i, region] = 1.0 / region.sum()
    scores = np.stack(anomaly_maps).ravel()
    order = np.argsort(scores, kind="stable")[::-1]
    scores_sorted = scores[order]
    fprs = np.cumsum(fp_changes.ravel()[order]) / num_ok_pixels
    pros = np.cumsum(pro_changes.ravel()[order]) / num_gt_regions
    keep = np.append(np.diff(scores_sorted) != 0, True)
    fprs = np.clip(fprs[keep], None, 1.0)
    pros = np.clip(pros[keep], None, 1.0)
    return np.concatenate(([0.0], fprs, [1.0])), np.concatenate(([0.0], pros, [1.0]))


def trapezoid(x, y, x_max=None):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    correction = 0.0
    if x_max is not None:
        if x_max not in x:
            ins = bisect.bisect(x, x_max)
            assert 0 < ins < len(x)
            y_interp = y[ins - 1] + (y[ins] - y[ins - 1]) * (x_max - x[ins - 1]) / (x[ins] - x[ins - 1])
            correction = 0.5 * (y_interp + y[ins - 1]) * (x_max - x[ins - 1])
        mask = x <= x_max
        x, y = x[mask], y[mask]
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1])) + correction)


def aupro_mvtec(maps, masks, limit=0.3):
    fprs, pros = compute_pro(maps, masks)
    return trapezoid(fprs, pros, x_max=limit) / limit


def aupro_anomalyclip(masks, amaps, max_step=200, expect_fpr=0.3):
    masks = np.asarray(masks)
    amaps = np.asarray(amaps, dtype=np.float32)
    binary_amaps = np.zeros_like(amaps, dtype=bool)
    min_th, max_th = amaps.min(), amaps.max()
    delta = (max_th - min_th) / max_step
    pros, fprs = [], []
    regions = []
    for mask in masks:
        labeled, n = ndimage.label(mask, structure=EIGHT)
        regions.append([labeled == k + 1 for k in range(n)])
    for th in np.arange(min_th, max_th, delta):
        binary_amaps[amaps <= th], binary_amaps[amaps > th] = 0, 1
        pro = []
        for binary_amap, rs in zip(binary_amaps, regions):
            for region in rs:
                pro.append(binary_amap[region].sum() / region.sum())
        inverse_masks = 1 - masks
        fp_pixels = np.logical_and(inverse_masks, binary_amaps).sum()
        fprs.append(fp_pixels / inverse_masks.sum())
        pros.append(np.array(pro).mean())
    pros, fprs = np.array(pros), np.array(fprs)
    idxes = fprs < expect_fpr
    fprs = fprs[idxes]
    fprs = (fprs - fprs.min()) / (fprs.max() - fprs.min())
    return float(auc(fprs, pros[idxes]))
