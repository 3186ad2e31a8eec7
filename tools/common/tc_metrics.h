/* Evaluation metrics of anomaly detection, as the papers report them:
 * image AUROC and average precision, pixel AUROC (and AP) and AUPRO.
 * Plain C on the host, no Vulkan.
 *
 * The API accumulates: add one image's label and score (or a batch of them),
 * or one anomaly map with its ground-truth mask, at a time, then compute.
 * Every result is exact (no histograms, no sampling): the scores are kept, 4
 * bytes per normal pixel and 8 per anomalous pixel, and sorted by an LSD radix
 * sort (O(n), with a temporary copy of the sorted array while it runs) when a
 * metric is first asked for. 500 maps of 256 x 256 (33 M pixels) take about
 * 140 MB, plus 140 MB for a moment. A compute call sorts the stored scores in
 * place and may be followed by more adds.
 *
 * Labels and masks: 0 = normal, any other value = anomalous (a PNG mask's
 * 255 is anomalous). Scores: any finite float, larger = more anomalous; NaN
 * and infinities are refused (TC_ERR_NUMERIC, nothing added). -0.0 equals
 * 0.0. At most 2^32 samples in one accumulator.
 *
 * Definitions (n+ positives, n- negatives, thresholds t = the distinct
 * scores, a sample counted positive at t when its score >= t):
 *
 * - AUROC: the trapezoidal area under the ROC curve through every distinct
 *   threshold, as sklearn.metrics.roc_auc_score: equal to the probability
 *   that a random positive scores above a random negative, ties counting 1/2.
 *   Computed with integer counts, then divided once.
 * - Average precision: sklearn.metrics.average_precision_score, no
 *   interpolation: AP = sum over thresholds (R_t - R_prev) P_t, with
 *   P_t = TP/(TP+FP), R_t = TP/n+ (R before the highest threshold = 0).
 * - AUPRO, the MVTec AD definition (tc_metric_maps_aupro): the exact curve
 *   of the official MVTec AD evaluation code (Bergmann et al., IJCV 2021,
 *   "The MVTec Anomaly Detection Dataset", pro_curve_util.compute_pro +
 *   generic_util.trapezoid). Ground-truth regions are the 8-connected
 *   components of each mask (scipy.ndimage.label with a 3x3 structure of
 *   ones). At each distinct score t: FPR(t) = normal pixels (mask == 0, all
 *   images) with score >= t / all normal pixels; PRO(t) = mean over all
 *   regions of all images of the fraction of the region's pixels with
 *   score >= t. The curve (0,0), the points in order of decreasing t, (1,1)
 *   is integrated by the trapezoid rule up to FPR = limit (the last segment
 *   cut at the limit by linear interpolation) and divided by the limit
 *   (0.3 in the papers). The official code rounds the FPRs to float32; here
 *   they stay double (differences ~1e-7).
 * - AUPRO, AnomalyCLIP's definition (tc_metric_maps_aupro_anomalyclip):
 *   cal_pro_score of zqhang/AnomalyCLIP metrics.py (after cflow-ad), which
 *   the AnomalyCLIP-family zero-shot tables use. It differs from the MVTec
 *   one: thresholds th = numpy.arange(min, max, (max - min) / steps) over all
 *   pixels' scores (steps = 200; usually `steps` thresholds, sometimes one
 *   more: numpy's rounding is reproduced), a pixel positive when score > th;
 *   regions from skimage.measure.label (also 8-connected for 2-D masks); FPR
 *   and PRO as above at each th; only the points with FPR < limit are kept,
 *   their FPRs rescaled to [0, 1] by their own min and max, and the
 *   trapezoid area of that curve is the result (sklearn.metrics.auc). So it
 *   is not divided by the limit and does not start from FPR 0. The
 *   threshold arithmetic follows numpy 1.x as AnomalyCLIP ran it: min, max
 *   and the map in float32, thresholds in double and rounded to float32 for
 *   the comparison. Fewer than two kept points, or all kept at one FPR,
 *   leave it undefined (TC_ERR_NUMERIC; AnomalyCLIP gives NaN or raises).
 *
 * Undefined cases are errors with a message, never NaN: AUROC without both
 * classes, AP without positives, AUPRO without anomalous regions or without
 * normal pixels. */
#ifndef TC_METRICS_H
#define TC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "tc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- image level: one label and one score per image ---- */

typedef struct tc_metric_scores tc_metric_scores;

tc_status tc_metric_scores_create(tc_metric_scores **out, tc_error *err);
void tc_metric_scores_destroy(tc_metric_scores *m);

/* Adds n samples: labels[i] (0 normal, else anomalous) with scores[i]. */
tc_status tc_metric_scores_add(tc_metric_scores *m, const uint8_t *labels, const float *scores, size_t n,
                               tc_error *err);

/* Samples added so far, by class (either pointer may be NULL). */
void tc_metric_scores_counts(const tc_metric_scores *m, size_t *positives, size_t *negatives);

tc_status tc_metric_scores_auroc(tc_metric_scores *m, double *auroc, tc_error *err);
tc_status tc_metric_scores_ap(tc_metric_scores *m, double *ap, tc_error *err);

/* ---- pixel level: one anomaly map and its ground-truth mask per image ---- */

typedef struct tc_metric_maps tc_metric_maps;

tc_status tc_metric_maps_create(tc_metric_maps **out, tc_error *err);
void tc_metric_maps_destroy(tc_metric_maps *m);

/* Adds one image: map and mask are width x height, row-major, contiguous.
 * The map must already be at the mask's resolution. An all-zero mask (a
 * normal image) adds normal pixels only. */
tc_status tc_metric_maps_add(tc_metric_maps *m, const float *map, const uint8_t *mask, uint32_t width,
                             uint32_t height, tc_error *err);

/* Images, normal pixels, anomalous pixels and ground-truth regions so far
 * (any pointer may be NULL). */
void tc_metric_maps_counts(const tc_metric_maps *m, size_t *images, size_t *normal_pixels,
                           size_t *anomalous_pixels, size_t *regions);

/* Pixel AUROC and AP: every pixel of every image is one sample. */
tc_status tc_metric_maps_auroc(tc_metric_maps *m, double *auroc, tc_error *err);
tc_status tc_metric_maps_ap(tc_metric_maps *m, double *ap, tc_error *err);

/* AUPRO, MVTec AD's exact definition, normalised to [0, 1]; fpr_limit in
 * (0, 1], 0.3 in the papers. */
tc_status tc_metric_maps_aupro(tc_metric_maps *m, double fpr_limit, double *aupro, tc_error *err);

/* AUPRO as AnomalyCLIP's cal_pro_score computes it (steps = 200 and
 * fpr_limit = 0.3 there); fpr_limit in (0, 1], steps >= 1. */
tc_status tc_metric_maps_aupro_anomalyclip(tc_metric_maps *m, uint32_t steps, double fpr_limit, double *aupro,
                                           tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
