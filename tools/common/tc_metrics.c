/* Evaluation metrics: see tc_metrics.h for the definitions and sources.
 *
 * Both accumulators keep the scores of the two classes in separate arrays of
 * order-preserving 32-bit keys (positives with the index of their
 * ground-truth region alongside). Every metric is one walk over the distinct
 * scores from the highest down, merging the two sorted arrays: at each
 * distinct score the counts of positives and negatives at or above it (and
 * the PRO sum) are known exactly. */
#include "tc_metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SAMPLES ((uint64_t)1 << 32)
#define NORMAL_PIXEL UINT32_MAX
#define UNLABELLED (UINT32_MAX - 1)

/* ---- order-preserving keys ---- */

/* Maps a finite float to a uint32 with the same order (-0.0 as 0.0). */
static uint32_t key_of(float f)
{
  if (f == 0.0f)
    f = 0.0f;
  uint32_t b;
  memcpy(&b, &f, sizeof b);
  return (b & 0x80000000u) ? ~b : b | 0x80000000u;
}

static float float_of(uint32_t k)
{
  uint32_t b = (k & 0x80000000u) ? k & 0x7fffffffu : ~k;
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
}

/* ---- a growable array of keys, optionally with a value per key ---- */

typedef struct key_array {
  uint32_t *key;
  uint32_t *val; /* NULL unless has_val */
  size_t n, cap;
  bool has_val;
  bool sorted;
} key_array;

static void key_array_free(key_array *a)
{
  free(a->key);
  free(a->val);
  memset(a, 0, sizeof *a);
}

static tc_status key_array_reserve(key_array *a, size_t extra, tc_error *err)
{
  if (a->n + extra <= a->cap)
    return TC_OK;
  size_t cap = a->cap ? a->cap : 1024;
  while (cap < a->n + extra)
    cap *= 2;
  uint32_t *key = realloc(a->key, cap * sizeof *key);
  if (!key)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "metrics: no memory for %zu scores", cap);
  a->key = key;
  if (a->has_val) {
    uint32_t *val = realloc(a->val, cap * sizeof *val);
    if (!val)
      return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "metrics: no memory for %zu region indices", cap);
    a->val = val;
  }
  a->cap = cap;
  return TC_OK;
}

/* Sorts the keys ascending (values follow): LSD radix sort, digits of 11, 11
 * and 10 bits, passes where every key has the same digit skipped. Needs a
 * temporary array as large as the data. */
static tc_status key_array_sort(key_array *a, tc_error *err)
{
  if (a->sorted || a->n < 2) {
    a->sorted = true;
    return TC_OK;
  }
  const size_t n = a->n;
  uint32_t *tk = malloc(n * sizeof *tk);
  uint32_t *tv = a->has_val ? malloc(n * sizeof *tv) : NULL;
  if (!tk || (a->has_val && !tv)) {
    free(tk);
    free(tv);
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "metrics: no memory to sort %zu scores", n);
  }
  static const unsigned shift[3] = { 0, 11, 22 };
  size_t(*hist)[2048] = calloc(3, sizeof *hist);
  if (!hist) {
    free(tk);
    free(tv);
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "metrics: no memory to sort %zu scores", n);
  }
  for (size_t i = 0; i < n; i++) {
    uint32_t k = a->key[i];
    hist[0][k & 0x7ff]++;
    hist[1][(k >> 11) & 0x7ff]++;
    hist[2][k >> 22]++;
  }
  uint32_t *sk = a->key, *sv = a->val, *dk = tk, *dv = tv;
  for (int p = 0; p < 3; p++) {
    size_t *h = hist[p], sum = 0;
    bool trivial = false;
    for (int d = 0; d < 2048; d++) {
      if (h[d] == n)
        trivial = true;
      size_t c = h[d];
      h[d] = sum;
      sum += c;
    }
    if (trivial)
      continue;
    for (size_t i = 0; i < n; i++) {
      size_t at = h[(sk[i] >> shift[p]) & 0x7ff]++;
      dk[at] = sk[i];
      if (sv)
        dv[at] = sv[i];
    }
    uint32_t *t = sk;
    sk = dk;
    dk = t;
    t = sv;
    sv = dv;
    dv = t;
  }
  free(hist);
  /* sk/sv hold the sorted data, dk/dv the other buffers */
  if (sk != a->key) {
    a->key = sk;
    a->val = sv;
    a->cap = n;
  }
  free(dk);
  free(dv);
  a->sorted = true;
  return TC_OK;
}

/* ---- the walk over distinct scores, highest first ---- */

typedef struct walk {
  const uint32_t *pos_key, *pos_region, *neg_key;
  size_t pos_left, neg_left; /* the unvisited entries are [0, left) of each array */
  uint64_t tp, fp;           /* positives and negatives visited */
  double pro;                /* sum of the visited positives' region weights */
  const double *weight;      /* weight per region (1 / its size), or NULL */
} walk;

static walk walk_start(const key_array *pos, const key_array *neg, const double *weight)
{
  walk w = { .pos_key = pos->key, .pos_region = pos->val, .neg_key = neg->key, .pos_left = pos->n,
             .neg_left = neg->n, .weight = weight };
  return w;
}

/* The highest unvisited key; false when all are visited. */
static bool walk_top(const walk *w, uint32_t *top)
{
  if (!w->pos_left && !w->neg_left)
    return false;
  uint32_t p = w->pos_left ? w->pos_key[w->pos_left - 1] : 0;
  uint32_t q = w->neg_left ? w->neg_key[w->neg_left - 1] : 0;
  *top = p > q ? p : q;
  return true;
}

/* Visits every entry with key >= lo. */
static void walk_down_to(walk *w, uint32_t lo)
{
  while (w->pos_left && w->pos_key[w->pos_left - 1] >= lo) {
    w->pos_left--;
    w->tp++;
    if (w->weight)
      w->pro += w->weight[w->pos_region[w->pos_left]];
  }
  while (w->neg_left && w->neg_key[w->neg_left - 1] >= lo) {
    w->neg_left--;
    w->fp++;
  }
}

/* ---- AUROC and AP of two key arrays ---- */

static tc_status auroc_of(key_array *pos, key_array *neg, double *auroc, tc_error *err)
{
  if (!pos->n || !neg->n)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT,
                        "AUROC needs both classes: %zu anomalous, %zu normal samples", pos->n, neg->n);
  tc_status st = key_array_sort(pos, err);
  if (st == TC_OK)
    st = key_array_sort(neg, err);
  if (st != TC_OK)
    return st;
  /* Twice the area in units of one (positive, negative) pair: each step of
   * the ROC curve is a trapezoid of width dFP and heights TP_prev, TP. The
   * total is at most 2 n+ n- <= 2^63 for n+ + n- <= 2^32. */
  walk w = walk_start(pos, neg, NULL);
  uint64_t twice = 0;
  uint32_t t;
  while (walk_top(&w, &t)) {
    uint64_t tp0 = w.tp, fp0 = w.fp;
    walk_down_to(&w, t);
    twice += (w.fp - fp0) * (w.tp + tp0);
  }
  *auroc = (double)twice / (2.0 * (double)pos->n * (double)neg->n);
  return TC_OK;
}

static tc_status ap_of(key_array *pos, key_array *neg, double *ap, tc_error *err)
{
  if (!pos->n)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT,
                        "average precision needs anomalous samples: none among %zu", neg->n);
  tc_status st = key_array_sort(pos, err);
  if (st == TC_OK)
    st = key_array_sort(neg, err);
  if (st != TC_OK)
    return st;
  walk w = walk_start(pos, neg, NULL);
  const double npos = (double)pos->n;
  double sum = 0;
  uint32_t t;
  while (walk_top(&w, &t)) {
    uint64_t tp0 = w.tp;
    walk_down_to(&w, t);
    if (w.tp > tp0)
      sum += (double)(w.tp - tp0) / npos * ((double)w.tp / (double)(w.tp + w.fp));
  }
  *ap = sum;
  return TC_OK;
}

static tc_status check_scores(const float *scores, size_t n, const char *what, uint32_t width, tc_error *err)
{
  for (size_t i = 0; i < n; i++)
    if (!isfinite(scores[i])) {
      if (width)
        return tc_error_set(err, TC_ERR_NUMERIC, "metrics: %s has a non-finite score (%g) at x %zu, y %zu", what,
                            scores[i], i % width, i / width);
      return tc_error_set(err, TC_ERR_NUMERIC, "metrics: %s %zu is not finite (%g)", what, i, scores[i]);
    }
  return TC_OK;
}

/* ---- image level ---- */

struct tc_metric_scores {
  key_array pos, neg;
};

tc_status tc_metric_scores_create(tc_metric_scores **out, tc_error *err)
{
  *out = calloc(1, sizeof **out);
  if (!*out)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "metrics: no memory for an accumulator");
  return TC_OK;
}

void tc_metric_scores_destroy(tc_metric_scores *m)
{
  if (!m)
    return;
  key_array_free(&m->pos);
  key_array_free(&m->neg);
  free(m);
}

tc_status tc_metric_scores_add(tc_metric_scores *m, const uint8_t *labels, const float *scores, size_t n,
                               tc_error *err)
{
  if (!m || (n && (!labels || !scores)))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_metric_scores_add: NULL argument");
  tc_status st = check_scores(scores, n, "score", 0, err);
  if (st != TC_OK)
    return st;
  if ((uint64_t)m->pos.n + m->neg.n + n > MAX_SAMPLES)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "metrics: more than 2^32 samples");
  size_t npos = 0;
  for (size_t i = 0; i < n; i++)
    npos += labels[i] != 0;
  if ((st = key_array_reserve(&m->pos, npos, err)) != TC_OK ||
      (st = key_array_reserve(&m->neg, n - npos, err)) != TC_OK)
    return st;
  for (size_t i = 0; i < n; i++) {
    key_array *a = labels[i] ? &m->pos : &m->neg;
    a->key[a->n++] = key_of(scores[i]);
  }
  if (n) {
    m->pos.sorted = m->pos.sorted && npos == 0;
    m->neg.sorted = m->neg.sorted && npos == n;
  }
  return TC_OK;
}

void tc_metric_scores_counts(const tc_metric_scores *m, size_t *positives, size_t *negatives)
{
  if (positives)
    *positives = m->pos.n;
  if (negatives)
    *negatives = m->neg.n;
}

tc_status tc_metric_scores_auroc(tc_metric_scores *m, double *auroc, tc_error *err)
{
  return auroc_of(&m->pos, &m->neg, auroc, err);
}

tc_status tc_metric_scores_ap(tc_metric_scores *m, double *ap, tc_error *err)
{
  return ap_of(&m->pos, &m->neg, ap, err);
}

/* ---- pixel level ---- */

struct tc_metric_maps {
  key_array pos; /* anomalous pixels; val = global region index */
  key_array neg; /* normal pixels */
  uint32_t *region_size;
  size_t regions, region_cap;
  uint32_t *scratch; /* labels and flood-fill stack of one image: 2 per pixel */
  size_t scratch_cap;
  size_t images;
};

tc_status tc_metric_maps_create(tc_metric_maps **out, tc_error *err)
{
  *out = calloc(1, sizeof **out);
  if (!*out)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "metrics: no memory for an accumulator");
  (*out)->pos.has_val = true;
  return TC_OK;
}

void tc_metric_maps_destroy(tc_metric_maps *m)
{
  if (!m)
    return;
  key_array_free(&m->pos);
  key_array_free(&m->neg);
  free(m->region_size);
  free(m->scratch);
  free(m);
}

/* Room for region m->regions + k (not yet committed). */
static tc_status reserve_region(tc_metric_maps *m, size_t k, tc_error *err)
{
  if (m->regions + k < m->region_cap)
    return TC_OK;
  size_t cap = m->region_cap ? 2 * m->region_cap : 256;
  uint32_t *r = realloc(m->region_size, cap * sizeof *r);
  if (!r)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "metrics: no memory for %zu regions", cap);
  m->region_size = r;
  m->region_cap = cap;
  return TC_OK;
}

/* Labels the 8-connected components of the mask's nonzero pixels: label[i] =
 * the component's index from 0, or NORMAL_PIXEL; their sizes go to
 * m->region_size[m->regions ...] (not committed). */
static tc_status label_regions(tc_metric_maps *m, const uint8_t *mask, uint32_t width, uint32_t height,
                               uint32_t *label, uint32_t *stack, size_t *count, tc_error *err)
{
  const size_t n = (size_t)width * height;
  for (size_t i = 0; i < n; i++)
    label[i] = mask[i] ? UNLABELLED : NORMAL_PIXEL;
  size_t k = 0;
  for (size_t seed = 0; seed < n; seed++) {
    if (label[seed] != UNLABELLED)
      continue;
    tc_status st = reserve_region(m, k, err);
    if (st != TC_OK)
      return st;
    uint32_t size = 0;
    size_t top = 0;
    stack[top++] = (uint32_t)seed;
    label[seed] = (uint32_t)k;
    while (top) {
      uint32_t c = stack[--top];
      size++;
      uint32_t cx = c % width, cy = c / width;
      uint32_t y0 = cy ? cy - 1 : 0, y1 = cy + 1 < height ? cy + 1 : cy;
      uint32_t x0 = cx ? cx - 1 : 0, x1 = cx + 1 < width ? cx + 1 : cx;
      for (uint32_t y = y0; y <= y1; y++)
        for (uint32_t x = x0; x <= x1; x++) {
          size_t nc = (size_t)y * width + x;
          if (label[nc] == UNLABELLED) {
            label[nc] = (uint32_t)k;
            stack[top++] = (uint32_t)nc;
          }
        }
    }
    m->region_size[m->regions + k] = size;
    k++;
  }
  *count = k;
  return TC_OK;
}

tc_status tc_metric_maps_add(tc_metric_maps *m, const float *map, const uint8_t *mask, uint32_t width,
                             uint32_t height, tc_error *err)
{
  if (!m || !map || !mask)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_metric_maps_add: NULL argument");
  if (!width || !height)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_metric_maps_add: empty map (%u x %u)", width, height);
  const size_t n = (size_t)width * height;
  if ((uint64_t)m->pos.n + m->neg.n + n > MAX_SAMPLES)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "metrics: more than 2^32 pixels");
  tc_status st = check_scores(map, n, "anomaly map", width, err);
  if (st != TC_OK)
    return st;
  size_t npos = 0;
  for (size_t i = 0; i < n; i++)
    npos += mask[i] != 0;

  /* Every allocation before any count changes, so a failure adds nothing. */
  if ((st = key_array_reserve(&m->pos, npos, err)) != TC_OK ||
      (st = key_array_reserve(&m->neg, n - npos, err)) != TC_OK)
    return st;
  size_t regions = 0;
  if (npos) {
    if (m->scratch_cap < 2 * n) {
      uint32_t *s = realloc(m->scratch, 2 * n * sizeof *s);
      if (!s)
        return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "metrics: no memory to label a %u x %u mask", width,
                            height);
      m->scratch = s;
      m->scratch_cap = 2 * n;
    }
    if ((st = label_regions(m, mask, width, height, m->scratch, m->scratch + n, &regions, err)) != TC_OK)
      return st;
  }

  const uint32_t *label = m->scratch;
  for (size_t i = 0; i < n; i++) {
    if (mask[i]) {
      m->pos.key[m->pos.n] = key_of(map[i]);
      m->pos.val[m->pos.n++] = (uint32_t)(m->regions + label[i]);
    } else {
      m->neg.key[m->neg.n++] = key_of(map[i]);
    }
  }
  if (npos)
    m->pos.sorted = false;
  if (npos < n)
    m->neg.sorted = false;
  m->regions += regions;
  m->images++;
  return TC_OK;
}

void tc_metric_maps_counts(const tc_metric_maps *m, size_t *images, size_t *normal_pixels,
                           size_t *anomalous_pixels, size_t *regions)
{
  if (images)
    *images = m->images;
  if (normal_pixels)
    *normal_pixels = m->neg.n;
  if (anomalous_pixels)
    *anomalous_pixels = m->pos.n;
  if (regions)
    *regions = m->regions;
}

tc_status tc_metric_maps_auroc(tc_metric_maps *m, double *auroc, tc_error *err)
{
  return auroc_of(&m->pos, &m->neg, auroc, err);
}

tc_status tc_metric_maps_ap(tc_metric_maps *m, double *ap, tc_error *err)
{
  return ap_of(&m->pos, &m->neg, ap, err);
}

/* Shared preparation of both AUPRO definitions: checks, sorting, and the
 * per-region weights 1 / size (freed by the caller). */
static tc_status pro_prepare(tc_metric_maps *m, double fpr_limit, double **weight, tc_error *err)
{
  if (!(fpr_limit > 0.0 && fpr_limit <= 1.0))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "AUPRO: the FPR limit %g is outside (0, 1]", fpr_limit);
  if (!m->regions)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT,
                        "AUPRO needs anomalous ground-truth regions: none in %zu image(s)", m->images);
  if (!m->neg.n)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "AUPRO needs normal pixels: none in %zu image(s)",
                        m->images);
  tc_status st = key_array_sort(&m->pos, err);
  if (st == TC_OK)
    st = key_array_sort(&m->neg, err);
  if (st != TC_OK)
    return st;
  double *w = malloc(m->regions * sizeof *w);
  if (!w)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "AUPRO: no memory for %zu region weights", m->regions);
  for (size_t r = 0; r < m->regions; r++)
    w[r] = 1.0 / m->region_size[r];
  *weight = w;
  return TC_OK;
}

/* Adds the trapezoid from (x0, y0) to (x1, y1), cut at x = limit, and moves
 * (x0, y0) on. Returns true when the curve has passed the limit. */
static bool trapezoid_to(double *area, double *x0, double *y0, double x1, double y1, double limit)
{
  if (x1 <= limit) {
    *area += 0.5 * (*y0 + y1) * (x1 - *x0);
    *x0 = x1;
    *y0 = y1;
    return false;
  }
  if (*x0 < limit) {
    double y = *y0 + (y1 - *y0) * (limit - *x0) / (x1 - *x0);
    *area += 0.5 * (*y0 + y) * (limit - *x0);
  }
  return true;
}

tc_status tc_metric_maps_aupro(tc_metric_maps *m, double fpr_limit, double *aupro, tc_error *err)
{
  double *weight = NULL;
  tc_status st = pro_prepare(m, fpr_limit, &weight, err);
  if (st != TC_OK)
    return st;
  const double nneg = (double)m->neg.n, nreg = (double)m->regions;
  walk w = walk_start(&m->pos, &m->neg, weight);
  double area = 0, x = 0, y = 0;
  bool passed = false;
  uint32_t t;
  while (!passed && walk_top(&w, &t)) {
    walk_down_to(&w, t);
    passed = trapezoid_to(&area, &x, &y, fmin((double)w.fp / nneg, 1.0), fmin(w.pro / nreg, 1.0), fpr_limit);
  }
  if (!passed)
    trapezoid_to(&area, &x, &y, 1.0, 1.0, fpr_limit);
  free(weight);
  *aupro = area / fpr_limit;
  return TC_OK;
}

tc_status tc_metric_maps_aupro_anomalyclip(tc_metric_maps *m, uint32_t steps, double fpr_limit, double *aupro,
                                           tc_error *err)
{
  if (steps < 1)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "AUPRO (AnomalyCLIP): steps must be at least 1");
  double *weight = NULL;
  tc_status st = pro_prepare(m, fpr_limit, &weight, err);
  if (st != TC_OK)
    return st;
  /* The extreme scores over all pixels, as float32 (amaps.min(), .max()). */
  uint32_t lo = m->neg.key[0], hi = m->neg.key[m->neg.n - 1];
  if (m->pos.n && m->pos.key[0] < lo)
    lo = m->pos.key[0];
  if (m->pos.n && m->pos.key[m->pos.n - 1] > hi)
    hi = m->pos.key[m->pos.n - 1];
  const float mn = float_of(lo), mx = float_of(hi);
  if (!(mx > mn)) {
    free(weight);
    return tc_error_set(err, TC_ERR_NUMERIC, "AUPRO (AnomalyCLIP): every pixel scores %g, no thresholds", mn);
  }
  /* numpy 1.x: delta = (max - min) / steps is float32 minus float32, then
   * divided in double; np.arange(min, max, delta) has ceil(float32(max - min)
   * / delta) elements: arange[0] = min, arange[1] = min + delta, arange[i] =
   * min + i * (arange[1] - arange[0]). Each threshold meets the float32 map
   * as a float32 (value-based casting), so a pixel is positive when
   * score > (float)th. */
  const float range = mx - mn;
  const double delta = (double)range / steps;
  const size_t count = (size_t)ceil((double)range / delta);
  const double start = mn, second = start + delta, step = second - start;

  const double nneg = (double)m->neg.n, nreg = (double)m->regions;
  walk w = walk_start(&m->pos, &m->neg, weight);
  double area = 0, x0 = 0, y0 = 0, xmin = 0, xmax = 0;
  size_t kept = 0;
  for (size_t i = count; i-- > 0;) { /* highest threshold first: FPR grows */
    double th = i == 0 ? start : i == 1 ? second : start + (double)i * step;
    uint32_t k = key_of((float)th);
    walk_down_to(&w, k + 1); /* score > th */
    double x = (double)w.fp / nneg, y = w.pro / nreg;
    if (!(x < fpr_limit))
      break;
    if (kept)
      area += 0.5 * (y0 + y) * (x - x0);
    else
      xmin = x;
    xmax = x;
    x0 = x;
    y0 = y;
    kept++;
  }
  free(weight);
  if (kept < 2)
    return tc_error_set(err, TC_ERR_NUMERIC,
                        "AUPRO (AnomalyCLIP): %zu of %zu thresholds give an FPR below %g; the curve needs two",
                        kept, count, fpr_limit);
  if (!(xmax > xmin))
    return tc_error_set(err, TC_ERR_NUMERIC,
                        "AUPRO (AnomalyCLIP): the %zu thresholds with an FPR below %g all give FPR %g; the "
                        "min-max normalisation is undefined",
                        kept, fpr_limit, xmin);
  *aupro = area / (xmax - xmin);
  return TC_OK;
}
