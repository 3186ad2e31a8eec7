/* The anomaly map on the device against the C reference (tests/ref/tc_ref_map.c,
 * checked against torch and scipy by tests/torch/test_ref_image.py): awkward
 * frame sizes, padded strides, all four byte orders, every colormap, blur on
 * and off (scipy's: radius int(4 sigma + 0.5), mirrored edges; frames
 * smaller than the radius, a sigma per axis), min/max and fixed ranges,
 * thresholds, alpha 0; plus argument errors.
 *
 * Tolerances:
 * - smoothed map: scores in [0, 1]; the device applies fp32 tables (a few
 *   taps) where the reference upsamples and blurs in double. Measured worst
 *   error about 2e-7; atol 2e-6.
 * - range: exactly the min and max of the device's own map; within 2e-6 of
 *   the reference's.
 * - blend, from the device's map and range: each colour byte within 1 of the
 *   reference (fp32 rounding of p + alpha (c - p) + 0.5); the fourth byte and
 *   the row padding byte-identical; pixels whose normalised score lies within
 *   1e-5 of the threshold or of a colour-table step may take either side.
 * - blend end to end (the reference's map and range): the same with 1e-4. */
#include "image/tc_resample.h"
#include "map/tc_map.h"
#include "tc_ref_image.h"
#include "tc_ref_yuv.h"
#include "tc_test.h"

#define MAP_ATOL 2e-6

typedef struct {
  uint32_t w, h, pad; /* pad: extra bytes per row */
  tc_frame_format format;
  uint32_t grid_w, grid_h, offset;
  float sigma;
  tc_colormap colormap;
  float alpha, threshold;
  int fixed_range;
  float lo, hi;
  int map_off;   /* 1: keep_map off; the blend is then checked end to end only */
  float sigma_y; /* vertical blur when not 0 (sigma is then the horizontal one) */
} map_case;

static uint8_t *random_bytes(size_t n)
{
  uint8_t *px = malloc(n);
  for (size_t i = 0; i < n; i++)
    px[i] = (uint8_t)tc_test_uniform(0, 256);
  return px;
}

/* Scores like a head's: a smooth bump plus noise, in [0, 1]. */
static float *random_scores(uint32_t n_lead, uint32_t gw, uint32_t gh)
{
  float *s = malloc((n_lead + (size_t)gw * gh) * sizeof *s);
  tc_test_fill(s, n_lead, -5, 5); /* not part of the grid: must not be read */
  float cx = tc_test_uniform(0, (float)gw), cy = tc_test_uniform(0, (float)gh), r = 1 + 0.2f * (float)(gw + gh);
  for (uint32_t y = 0; y < gh; y++)
    for (uint32_t x = 0; x < gw; x++) {
      float d2 = ((float)x - cx) * ((float)x - cx) + ((float)y - cy) * ((float)y - cy);
      s[n_lead + y * gw + x] = 0.6f * expf(-d2 / (r * r)) + tc_test_uniform(0, 0.4f);
    }
  return s;
}

/* Colour bytes of `orig` blended with colour-table entry idx (-1: none), via the reference. */
static void blend_one(const uint8_t *orig, int idx, const uint8_t *lut, float alpha, const tc_frame *f, uint8_t *out)
{
  memcpy(out, orig, 4);
  if (idx < 0)
    return;
  tc_frame one = tc_frame_make(f->format, 1, 1);
  float v = ((float)idx + 0.5f) / 256.0f;
  tc_ref_map_blend(&v, 0, 1, lut, alpha, 0, out, &one);
}

static bool bytes_close(const uint8_t *a, const uint8_t *b)
{
  for (int c = 0; c < 3; c++)
    if (abs((int)a[c] - (int)b[c]) > 1)
      return false;
  return a[3] == b[3];
}

/* Compares the device's frame with want (see the tolerances above). */
static void compare_frames(const char *what, const tc_frame *f, const uint8_t *got, const uint8_t *want,
                           const uint8_t *orig, const float *map, double lo, double hi, const uint8_t *lut,
                           float alpha, float threshold, double eps)
{
  size_t bad = 0, either = 0, blended = 0, first_bad = SIZE_MAX;
  for (uint32_t y = 0; y < f->height; y++) {
    const uint8_t *g = got + (size_t)y * f->stride, *w = want + (size_t)y * f->stride, *o = orig + (size_t)y * f->stride;
    for (uint32_t b = 4 * f->width; b < f->stride; b++) /* row padding */
      if (g[b] != o[b] && bad++ == 0)
        first_bad = (size_t)y * f->width;
    for (uint32_t x = 0; x < f->width; x++) {
      const uint8_t *gp = g + 4 * x, *wp = w + 4 * x, *op = o + 4 * x;
      blended += memcmp(gp, op, 4) != 0;
      if (bytes_close(gp, wp))
        continue;
      double t = hi > lo ? ((double)map[(size_t)y * f->width + x] - lo) / (hi - lo) : 0;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      int idx = (int)(t * 256) > 255 ? 255 : (int)(t * 256);
      bool near_threshold = fabs(t - threshold) < eps, near_step = fabs(t * 256 - floor(t * 256 + 0.5)) < 256 * eps;
      bool ok = false;
      if (near_threshold || near_step) {
        int cands[] = { -1, idx > 0 ? idx - 1 : 0, idx, idx < 255 ? idx + 1 : 255 };
        for (int k = 0; k < 4 && !ok; k++) {
          uint8_t cand[4];
          blend_one(op, alpha > 0 ? cands[k] : -1, lut, alpha, f, cand);
          ok = bytes_close(gp, cand);
        }
      }
      if (ok) {
        either++;
      } else if (bad++ == 0) {
        first_bad = (size_t)y * f->width + x;
      }
    }
  }
  if (bad) {
    size_t i = first_bad;
    const uint8_t *gp = got + (i / f->width) * f->stride + 4 * (i % f->width);
    const uint8_t *wp = want + (i / f->width) * f->stride + 4 * (i % f->width);
    fprintf(stderr, "FAIL %s: %zu pixel(s) differ; first at (%zu, %zu): got %u %u %u %u want %u %u %u %u\n", what, bad,
            i % f->width, i / f->width, gp[0], gp[1], gp[2], gp[3], wp[0], wp[1], wp[2], wp[3]);
    tc_test_failures++;
  } else {
    printf("ok %s (%zu pixels, %zu blended, %zu on a step or the threshold)\n", what,
           (size_t)f->width * f->height, blended, either);
  }
}

typedef struct {
  tc_frame frame;
  tc_map *map;
  tc_buffer *frame_buf, *scores_buf;
  tc_cmd *cmd;
} rig;

static void rig_free(rig *r)
{
  tc_cmd_destroy(r->cmd);
  tc_buffer_destroy(r->scores_buf);
  tc_buffer_destroy(r->frame_buf);
  tc_map_destroy(r->map);
  memset(r, 0, sizeof *r);
}

/* Uploads px into frame_buf, runs a recording of the blend alone (the map's
 * last colour layer, as between analyses) and downloads the frame into got. */
static bool run_blend_alone(tc_context *ctx, tc_map *map, tc_buffer *frame_buf, const uint8_t *px, uint8_t *got,
                            size_t bytes)
{
  tc_error err = { 0 };
  tc_cmd *cmd = NULL;
  bool ok = TC_CHECK_OK(tc_buffer_upload(frame_buf, 0, px, bytes, &err), &err) &&
            TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err) &&
            TC_CHECK_OK(tc_map_record_blend(map, cmd, frame_buf, &err), &err) &&
            TC_CHECK_OK(tc_cmd_end(cmd, &err), &err) && TC_CHECK_OK(tc_cmd_run(cmd, &err), &err) &&
            TC_CHECK_OK(tc_buffer_download(frame_buf, 0, got, bytes, &err), &err);
  tc_cmd_destroy(cmd);
  return ok;
}

/* Creates the map and buffers for c, uploads px and scores, records smooth + blend. */
static bool rig_make(tc_context *ctx, const map_case *c, const uint8_t *px, const float *scores, rig *r)
{
  memset(r, 0, sizeof *r);
  r->frame = tc_frame_make(c->format, c->w, c->h);
  r->frame.stride += c->pad;
  tc_map_params p;
  tc_map_params_init(&p);
  p.grid_w = c->grid_w;
  p.grid_h = c->grid_h;
  p.sigma = c->sigma;
  p.sigma_y = c->sigma_y;
  p.colormap = c->colormap;
  p.alpha = c->alpha;
  p.threshold = c->threshold;
  p.fixed_range = c->fixed_range;
  p.lo = c->lo;
  p.hi = c->hi;
  p.keep_map = !c->map_off;
  tc_error err = { 0 };
  size_t n_scores = c->offset + (size_t)c->grid_w * c->grid_h;
  return TC_CHECK_OK(tc_map_create(ctx, &r->frame, &p, &r->map, &err), &err) &&
         TC_CHECK_OK(tc_frame_buffer_create(ctx, &r->frame, &r->frame_buf, &err), &err) &&
         TC_CHECK_OK(tc_buffer_upload(r->frame_buf, 0, px, tc_frame_bytes(&r->frame), &err), &err) &&
         TC_CHECK_OK(tc_buffer_create_from(ctx, scores, n_scores * 4, &r->scores_buf, &err), &err) &&
         TC_CHECK_OK(tc_cmd_create(ctx, &r->cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(r->cmd, &err), &err) &&
         TC_CHECK_OK(tc_map_record(r->map, r->cmd, r->scores_buf, c->offset, r->frame_buf, &err), &err) &&
         TC_CHECK_OK(tc_cmd_end(r->cmd, &err), &err);
}

static void run_case(tc_context *ctx, const map_case *c)
{
  char what[200];
  float sigma_y = c->sigma_y > 0 ? c->sigma_y : c->sigma;
  snprintf(what, sizeof what, "map %ux%u -> %s %ux%u +%u, sigma %g x %g, %s, alpha %g, threshold %g, %s", c->grid_w,
           c->grid_h, tc_frame_format_name(c->format), c->w, c->h, c->pad, c->sigma, sigma_y,
           tc_colormap_name(c->colormap), c->alpha, c->threshold, c->fixed_range ? "fixed range" : "min/max");
  rig r;
  size_t n = (size_t)c->w * c->h, bytes = (size_t)(4 * c->w + c->pad) * c->h;
  uint8_t *px = random_bytes(bytes), *got_px = malloc(bytes), *want_px = malloc(bytes);
  float *scores = random_scores(c->offset, c->grid_w, c->grid_h);
  float *got = malloc(n * 4), *want = malloc(n * 4);
  uint8_t lut[768];
  tc_error err = { 0 };
  if (rig_make(ctx, c, px, scores, &r) && TC_CHECK_OK(tc_cmd_run(r.cmd, &err), &err) &&
      TC_CHECK_OK(tc_colormap_lut(c->colormap, lut, &err), &err)) {
    float gmin, gmax, rmin, rmax;
    TC_CHECK_OK(tc_map_read_range(r.map, &gmin, &gmax, &err), &err);
    TC_CHECK_OK(tc_buffer_download(r.frame_buf, 0, got_px, bytes, &err), &err);
    tc_ref_map_smooth_xy(scores + c->offset, c->grid_h, c->grid_w, want, c->h, c->w, c->sigma, sigma_y, &rmin,
                         &rmax);
    TC_CHECK(fabsf(gmin - rmin) <= MAP_ATOL && fabsf(gmax - rmax) <= MAP_ATOL,
             "%s: range %.9g..%.9g, reference %.9g..%.9g", what, gmin, gmax, rmin, rmax);
    char sub[260];
    if (!c->map_off && TC_CHECK_OK(tc_map_read(r.map, got, &err), &err)) {
      snprintf(sub, sizeof sub, "%s: smoothed map", what);
      tc_test_close(sub, got, want, n, MAP_ATOL, 0);
      float own_min = got[0], own_max = got[0];
      for (size_t i = 1; i < n; i++) {
        own_min = got[i] < own_min ? got[i] : own_min;
        own_max = got[i] > own_max ? got[i] : own_max;
      }
      TC_CHECK(gmin == own_min && gmax == own_max, "%s: range %.9g..%.9g, the map's own %.9g..%.9g", what, gmin,
               gmax, own_min, own_max);

      float lo = c->fixed_range ? c->lo : gmin, hi = c->fixed_range ? c->hi : gmax;
      memcpy(want_px, px, bytes);
      tc_ref_map_blend(got, lo, hi, lut, c->alpha, c->threshold, want_px, &r.frame);
      snprintf(sub, sizeof sub, "%s: blend", what);
      compare_frames(sub, &r.frame, got_px, want_px, px, got, lo, hi, lut, c->alpha, c->threshold, 1e-5);
    }

    float elo = c->fixed_range ? c->lo : rmin, ehi = c->fixed_range ? c->hi : rmax;
    memcpy(want_px, px, bytes);
    tc_ref_map_blend(want, elo, ehi, lut, c->alpha, c->threshold, want_px, &r.frame);
    snprintf(sub, sizeof sub, "%s: end to end", what);
    compare_frames(sub, &r.frame, got_px, want_px, px, want, elo, ehi, lut, c->alpha, c->threshold, 1e-4);
  }
  rig_free(&r);
  free(px), free(got_px), free(want_px), free(scores), free(got), free(want);
}

/* alpha 0 leaves the whole buffer (pixels, fourth bytes, padding) byte-identical. */
static void test_alpha_zero(tc_context *ctx)
{
  map_case c = { 641, 479, 20, TC_FRAME_RGBA, 14, 14, 0, 4, TC_COLORMAP_TURBO, 0.0f, 0.0f, 0, 0, 1, 0, 0 };
  size_t bytes = (size_t)(4 * c.w + c.pad) * c.h;
  uint8_t *px = random_bytes(bytes), *got = malloc(bytes);
  float *scores = random_scores(0, c.grid_w, c.grid_h);
  rig r;
  tc_error err = { 0 };
  if (rig_make(ctx, &c, px, scores, &r) && TC_CHECK_OK(tc_cmd_run(r.cmd, &err), &err) &&
      TC_CHECK_OK(tc_buffer_download(r.frame_buf, 0, got, bytes, &err), &err)) {
    TC_CHECK(memcmp(got, px, bytes) == 0, "alpha 0 changed the frame");
    printf("ok alpha 0 leaves a %ux%u frame byte-identical\n", c.w, c.h);
  }
  rig_free(&r);
  free(px), free(got), free(scores);
}

/* Threshold 1 on the min/max range blends exactly the pixels at the map's
 * maximum; threshold 0 blends every pixel. Rows of 97 pixels (388 bytes) go
 * through the blend's pixel-by-pixel path, rows of 96 through its 16-byte one. */
static void test_threshold_extremes(tc_context *ctx)
{
  for (int k = 0; k < 4; k++) {
    float threshold = k % 2 == 0 ? 1.0f : 0.0f;
    map_case c = { k < 2 ? 97 : 96, 61, 0, TC_FRAME_BGRX, 5, 4, 0, 0, TC_COLORMAP_GRAY, 1.0f, threshold, 0, 0, 1,
                   0, 0 };
    size_t n = (size_t)c.w * c.h, bytes = 4 * n;
    uint8_t *px = random_bytes(bytes), *got = malloc(bytes);
    float *scores = random_scores(0, c.grid_w, c.grid_h), *map = malloc(n * 4);
    rig r;
    tc_error err = { 0 };
    if (rig_make(ctx, &c, px, scores, &r) && TC_CHECK_OK(tc_cmd_run(r.cmd, &err), &err) &&
        TC_CHECK_OK(tc_buffer_download(r.frame_buf, 0, got, bytes, &err), &err) &&
        TC_CHECK_OK(tc_map_read(r.map, map, &err), &err)) {
      float mx;
      tc_map_read_range(r.map, NULL, &mx, &err);
      size_t changed = 0, wrong = 0;
      for (size_t i = 0; i < n; i++) {
        bool should = threshold == 0 || map[i] == mx;
        /* alpha 1, gray: a blended pixel becomes the grey of its score */
        bool is_blended = got[4 * i] == got[4 * i + 1] && got[4 * i + 1] == got[4 * i + 2] && got[4 * i + 3] == px[4 * i + 3];
        bool untouched = memcmp(got + 4 * i, px + 4 * i, 4) == 0;
        changed += !untouched;
        wrong += should ? !is_blended : !untouched;
        if (threshold == 1 && should)
          wrong += got[4 * i] != 255; /* the top of the gray map */
      }
      TC_CHECK(wrong == 0, "threshold %g: %zu pixel(s) wrong", threshold, wrong);
      TC_CHECK(threshold == 0 || (changed >= 1 && changed < n / 10), "threshold 1 changed %zu pixels", changed);
      printf("ok threshold %g, width %u: %zu of %zu pixels blended\n", threshold, c.w, changed, n);
    }
    rig_free(&r);
    free(px), free(got), free(scores), free(map);
  }
}

/* One recording submitted again on new scores and a new frame; then a
 * recording of the blend alone reuses the last smoothed map. */
static void test_resubmit_and_blend_only(tc_context *ctx)
{
  map_case c = { 200, 150, 8, TC_FRAME_BGRA, 16, 12, 1, 3, TC_COLORMAP_JET, 0.6f, 0.2f, 0, 0, 1, 0, 0 };
  size_t n = (size_t)c.w * c.h, bytes = (size_t)(4 * c.w + c.pad) * c.h;
  uint8_t *px = random_bytes(bytes), *got_px = malloc(bytes), *want_px = malloc(bytes), lut[768];
  float *scores = random_scores(c.offset, c.grid_w, c.grid_h), *map = malloc(n * 4);
  rig r;
  tc_error err = { 0 };
  tc_colormap_lut(c.colormap, lut, &err);
  if (rig_make(ctx, &c, px, scores, &r) && TC_CHECK_OK(tc_cmd_run(r.cmd, &err), &err)) {
    free(scores);
    free(px);
    scores = random_scores(c.offset, c.grid_w, c.grid_h);
    px = random_bytes(bytes);
    float lo, hi;
    if (TC_CHECK_OK(tc_buffer_upload(r.scores_buf, 0, scores, (c.offset + c.grid_w * c.grid_h) * 4, &err), &err) &&
        TC_CHECK_OK(tc_buffer_upload(r.frame_buf, 0, px, bytes, &err), &err) &&
        TC_CHECK_OK(tc_cmd_run(r.cmd, &err), &err) && TC_CHECK_OK(tc_map_read(r.map, map, &err), &err) &&
        TC_CHECK_OK(tc_map_read_range(r.map, &lo, &hi, &err), &err) &&
        TC_CHECK_OK(tc_buffer_download(r.frame_buf, 0, got_px, bytes, &err), &err)) {
      float *want = malloc(n * 4), rmin, rmax;
      tc_ref_map_smooth(scores + c.offset, c.grid_h, c.grid_w, want, c.h, c.w, c.sigma, &rmin, &rmax);
      tc_test_close("map resubmitted on new scores", map, want, n, MAP_ATOL, 0);
      free(want);
      memcpy(want_px, px, bytes);
      tc_ref_map_blend(map, lo, hi, lut, c.alpha, c.threshold, want_px, &r.frame);
      compare_frames("blend resubmitted on a new frame", &r.frame, got_px, want_px, px, map, lo, hi, lut, c.alpha,
                     c.threshold, 1e-5);
    }
    /* blend only, over another frame */
    free(px);
    px = random_bytes(bytes);
    if (run_blend_alone(ctx, r.map, r.frame_buf, px, got_px, bytes)) {
      memcpy(want_px, px, bytes);
      tc_ref_map_blend(map, lo, hi, lut, c.alpha, c.threshold, want_px, &r.frame);
      compare_frames("blend alone, last map over a new frame", &r.frame, got_px, want_px, px, map, lo, hi, lut,
                     c.alpha, c.threshold, 1e-5);
    }
  }
  rig_free(&r);
  free(px), free(got_px), free(want_px), free(scores), free(map);
}

static void expect_refused(tc_context *ctx, const tc_map_params *p, const char *word, const char *what)
{
  tc_error err = { 0 };
  tc_map *m = NULL;
  tc_frame f = tc_frame_make(TC_FRAME_RGBA, 32, 32);
  tc_status st = tc_map_create(ctx, &f, p, &m, &err);
  TC_CHECK(st == TC_ERR_INVALID_ARGUMENT && !m, "%s accepted (%s)", what, tc_status_name(st));
  TC_CHECK(strstr(err.message, word) != NULL, "%s: message \"%s\" does not say \"%s\"", what, err.message, word);
  tc_map_destroy(m);
}

static void test_errors(tc_context *ctx)
{
  tc_map_params p, q;
  tc_map_params_init(&p);
  p.grid_w = p.grid_h = 14;
  q = p, q.grid_w = 0, expect_refused(ctx, &q, "grid", "grid 0x14");
  q = p, q.alpha = 1.5f, expect_refused(ctx, &q, "alpha", "alpha 1.5");
  q = p, q.alpha = NAN, expect_refused(ctx, &q, "alpha", "alpha NaN");
  q = p, q.threshold = -0.1f, expect_refused(ctx, &q, "threshold", "threshold -0.1");
  q = p, q.sigma = -1, expect_refused(ctx, &q, "sigma", "sigma -1");
  q = p, q.sigma_y = NAN, expect_refused(ctx, &q, "sigma_y", "sigma_y NaN");
  q = p, q.sigma = TC_BLUR_MAX_SIGMA + 1, expect_refused(ctx, &q, "sigma", "sigma above TC_BLUR_MAX_SIGMA");
  q = p, q.fixed_range = 1, q.lo = 1, q.hi = 1, expect_refused(ctx, &q, "range", "range [1, 1]");
  q = p, q.colormap = (tc_colormap)9, expect_refused(ctx, &q, "colormap", "colormap 9");

  /* a score buffer shorter than offset + grid, a frame buffer shorter than the frame */
  tc_error err = { 0 };
  tc_map *m = NULL;
  tc_buffer *small = NULL;
  tc_cmd *cmd = NULL;
  tc_frame f = tc_frame_make(TC_FRAME_RGBA, 32, 32);
  if (TC_CHECK_OK(tc_map_create(ctx, &f, &p, &m, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create(ctx, 14 * 14 * 4, &small, &err), &err) &&
      TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err)) {
    TC_CHECK(tc_map_record_smooth(m, cmd, small, 1, &err) == TC_ERR_MISMATCH, "short score buffer accepted");
    TC_CHECK(strstr(err.message, "offset 1") != NULL, "message: %s", err.message);
    tc_error_clear(&err);
    TC_CHECK(tc_map_record_blend(m, cmd, small, &err) == TC_ERR_MISMATCH, "short frame buffer accepted");
    tc_error_clear(&err);
    float one;
    TC_CHECK(tc_map_read(m, &one, &err) == TC_ERR_INVALID_ARGUMENT && !tc_map_buffer(m), "map read without keep_map");
    TC_CHECK(strstr(err.message, "keep_map") != NULL, "message: %s", err.message);
    tc_error_clear(&err);
    tc_cmd_end(cmd, &err);
  }
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(small);
  tc_map_destroy(m);
}

/* A smooth picture in the frame's YUV layout (gradients, in gamut, as a
 * camera's would be; random YUV bytes are mostly outside the RGB gamut, where
 * "converted to RGB" clamps and no blend can agree). Y per pixel, chroma the
 * rounded mean of the covered pixels'. Padding stays as given. */
static void smooth_yuv_picture(const tc_frame *f, uint8_t *px)
{
  tc_frame_plane pl[3];
  tc_frame_planes(f, pl);
  uint32_t bh = f->format == TC_FRAME_YUY2 ? 1 : 2;
  for (uint32_t cy = 0; cy * bh < f->height; cy++)
    for (uint32_t cx = 0; 2 * cx < f->width; cx++) {
      uint32_t su = 0, sv = 0, n = 0;
      for (uint32_t dy = 0; dy < bh; dy++)
        for (uint32_t dx = 0; dx < 2; dx++) {
          uint32_t x = 2 * cx + dx, y = bh * cy + dy;
          if (x >= f->width || y >= f->height)
            continue;
          uint8_t rgb[3] = { (uint8_t)(40 + 170 * x / f->width), (uint8_t)(40 + 170 * y / f->height),
                             (uint8_t)(200 - 150 * (x + y) / (f->width + f->height)) };
          uint32_t yuv = tc_map_rgb_to_yuv(f, rgb);
          size_t yo = f->format == TC_FRAME_YUY2 ? (size_t)y * f->stride + 4 * cx + 2 * dx : (size_t)y * f->stride + x;
          px[yo] = (uint8_t)(yuv & 0xff);
          su += (yuv >> 8) & 0xff, sv += (yuv >> 16) & 0xff, n++;
        }
      size_t uo, vo;
      tc_ref_yuv_chroma_offsets(f, pl, cx, cy, &uo, &vo);
      px[uo] = (uint8_t)((su + n / 2) / n), px[vo] = (uint8_t)((sv + n / 2) / n);
    }
}

/* One YUV map case: the device's blend against tc_ref_map_blend_yuv on the
 * device's own smoothed map, and the blended frame converted to RGB against
 * the RGB path's overlay of the same picture (the frame converted to RGBA by
 * tc_ref_yuv_to_rgba, blended by map_blend on the device). The picture is a
 * smooth in-gamut one (smooth_yuv_picture).
 *
 * Tolerances. Against the reference: a byte may differ by 1 (float
 * contraction), and at most 0.2% of bytes by more (pixels whose t sits on a
 * colormap step or the threshold; measured: none, the device equals the
 * reference byte for byte on lavapipe). Against the RGB path, per RGB byte:
 * mean |diff| <= 2 and at most 2% of bytes off by more than 12. With
 * threshold 0 (every pixel blended) the worst byte is 6 (colours quantised to
 * 8-bit YUV once, then rounded back). With a threshold, a chroma sample whose
 * 2x2 (YUY2 2x1) pixels are partly blended takes the mean pull, so along the
 * heatmap's edge colour bleeds by up to half a chroma pull: measured worst
 * mean 1.67, up to 1.6% of bytes over 12 (I420 320x240 alpha 0.8). */
static void run_yuv_case(tc_context *ctx, tc_frame_format format, uint32_t w, uint32_t h, uint32_t pad,
                         tc_yuv_matrix matrix, uint32_t full, float alpha, float threshold)
{
  char what[200];
  snprintf(what, sizeof what, "map blend %s %ux%u +%u %s %s range alpha %g threshold %g", tc_frame_format_name(format),
           w, h, pad, matrix == TC_YUV_BT709 ? "BT.709" : "BT.601", full ? "full" : "limited", alpha, threshold);
  map_case c = { w, h, pad, format, 14, 14, 0, 4, TC_COLORMAP_TURBO, alpha, threshold, 0, 0, 1, 0, 0 };
  tc_frame f = tc_frame_make(format, w, h);
  f.stride += pad;
  f.matrix = matrix;
  f.full_range = full;
  size_t bytes = tc_frame_bytes(&f), n = (size_t)w * h;
  uint8_t *px = random_bytes(bytes), *got = malloc(bytes), *want = malloc(bytes);
  smooth_yuv_picture(&f, px);
  float *scores = random_scores(0, c.grid_w, c.grid_h), *map = malloc(n * 4);
  uint8_t *rgba = malloc(4 * n), *rgba_got = malloc(4 * n), *rgb_path = malloc(4 * n);
  uint8_t lut[768];
  uint32_t lut_yuv[256];
  tc_error err = { 0 };
  rig r, rr;
  memset(&rr, 0, sizeof rr);
  /* rig_make builds the frame from the case; the YUV fields are set on the map directly below */
  memset(&r, 0, sizeof r);
  r.frame = f;
  tc_map_params p;
  tc_map_params_init(&p);
  p.grid_w = c.grid_w, p.grid_h = c.grid_h, p.sigma = c.sigma, p.colormap = c.colormap;
  p.alpha = alpha, p.threshold = threshold, p.keep_map = 1;
  if (TC_CHECK_OK(tc_map_create(ctx, &f, &p, &r.map, &err), &err) &&
      TC_CHECK_OK(tc_frame_buffer_create(ctx, &f, &r.frame_buf, &err), &err) &&
      TC_CHECK_OK(tc_buffer_upload(r.frame_buf, 0, px, bytes, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create_from(ctx, scores, (size_t)c.grid_w * c.grid_h * 4, &r.scores_buf, &err), &err) &&
      TC_CHECK_OK(tc_cmd_create(ctx, &r.cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(r.cmd, &err), &err) &&
      TC_CHECK_OK(tc_map_record(r.map, r.cmd, r.scores_buf, 0, r.frame_buf, &err), &err) &&
      TC_CHECK_OK(tc_cmd_end(r.cmd, &err), &err) && TC_CHECK_OK(tc_cmd_run(r.cmd, &err), &err) &&
      TC_CHECK_OK(tc_buffer_download(r.frame_buf, 0, got, bytes, &err), &err) &&
      TC_CHECK_OK(tc_map_read(r.map, map, &err), &err) && TC_CHECK_OK(tc_colormap_lut(c.colormap, lut, &err), &err)) {
    float lo, hi;
    TC_CHECK_OK(tc_map_read_range(r.map, &lo, &hi, &err), &err);
    for (int i = 0; i < 256; i++)
      lut_yuv[i] = tc_map_rgb_to_yuv(&f, lut + 3 * i);
    memcpy(want, px, bytes);
    tc_ref_map_blend_yuv(map, lo, hi, lut_yuv, alpha, threshold, want, &f);
    size_t off_by_one = 0, more = 0, changed = 0;
    for (size_t i = 0; i < bytes; i++) {
      int d = abs(got[i] - want[i]);
      off_by_one += d == 1, more += d > 1, changed += got[i] != px[i];
    }
    TC_CHECK(more <= bytes / 500 && changed > 0, "%s: %zu of %zu bytes differ from the reference by more than 1 "
             "(%zu by 1, %zu changed)", what, more, bytes, off_by_one, changed);
    /* the blend alone (frames between analyses): the colour layer of the map above over another picture */
    uint8_t *px2 = random_bytes(bytes);
    smooth_yuv_picture(&f, px2);
    if (run_blend_alone(ctx, r.map, r.frame_buf, px2, got, bytes)) {
      memcpy(want, px2, bytes);
      tc_ref_map_blend_yuv(map, lo, hi, lut_yuv, alpha, threshold, want, &f);
      size_t more2 = 0, changed2 = 0;
      for (size_t i = 0; i < bytes; i++)
        more2 += abs(got[i] - want[i]) > 1, changed2 += got[i] != px2[i];
      TC_CHECK(more2 <= bytes / 500 && changed2 > 0, "%s, blend alone: %zu of %zu bytes differ from the reference by "
               "more than 1 (%zu changed)", what, more2, bytes, changed2);
    }
    free(px2);
    /* the RGB path on the same picture */
    tc_ref_yuv_to_rgba(&f, px, rgba);
    map_case cr = c;
    cr.format = TC_FRAME_RGBA, cr.pad = 0;
    if (rig_make(ctx, &cr, rgba, scores, &rr) && TC_CHECK_OK(tc_cmd_run(rr.cmd, &err), &err) &&
        TC_CHECK_OK(tc_buffer_download(rr.frame_buf, 0, rgb_path, 4 * n, &err), &err)) {
      tc_ref_yuv_to_rgba(&f, got, rgba_got);
      double sum = 0;
      size_t far = 0, worst = 0;
      for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) {
          size_t d = (size_t)abs(rgba_got[4 * i + k] - rgb_path[4 * i + k]);
          sum += (double)d, far += d > 12, worst = d > worst ? d : worst;
        }
      double mean = sum / (3.0 * n);
      TC_CHECK(mean <= 2.0 && far <= 3 * n / 50, "%s: as RGB vs the RGB path: mean |diff| %.3f, %zu of %zu bytes over 12",
               what, mean, far, 3 * n);
      printf("ok %s: %zu bytes, %zu off by one vs the reference (%zu more); as RGB vs the RGB path mean |diff| %.3f, "
             "worst %zu, %zu over 12\n", what, bytes, off_by_one, more, mean, worst, far);
    }
  }
  rig_free(&rr);
  rig_free(&r);
  free(px), free(got), free(want), free(scores), free(map), free(rgba), free(rgba_got), free(rgb_path);
}

/* alpha 0 leaves a YUV frame's bytes (all planes, padding) identical. */
static void test_yuv_alpha_zero(tc_context *ctx)
{
  const tc_frame_format formats[] = { TC_FRAME_NV12, TC_FRAME_I420, TC_FRAME_YUY2 };
  for (int i = 0; i < 3; i++) {
    tc_frame f = tc_frame_make(formats[i], 641, 479);
    f.stride += 6;
    size_t bytes = tc_frame_bytes(&f);
    uint8_t *px = random_bytes(bytes), *got = malloc(bytes);
    float *scores = random_scores(0, 14, 14);
    tc_map_params p;
    tc_map_params_init(&p);
    p.grid_w = p.grid_h = 14;
    p.alpha = 0;
    p.threshold = 0;
    rig r;
    memset(&r, 0, sizeof r);
    tc_error err = { 0 };
    if (TC_CHECK_OK(tc_map_create(ctx, &f, &p, &r.map, &err), &err) &&
        TC_CHECK_OK(tc_frame_buffer_create(ctx, &f, &r.frame_buf, &err), &err) &&
        TC_CHECK_OK(tc_buffer_upload(r.frame_buf, 0, px, bytes, &err), &err) &&
        TC_CHECK_OK(tc_buffer_create_from(ctx, scores, 14 * 14 * 4, &r.scores_buf, &err), &err) &&
        TC_CHECK_OK(tc_cmd_create(ctx, &r.cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(r.cmd, &err), &err) &&
        TC_CHECK_OK(tc_map_record(r.map, r.cmd, r.scores_buf, 0, r.frame_buf, &err), &err) &&
        TC_CHECK_OK(tc_cmd_end(r.cmd, &err), &err) && TC_CHECK_OK(tc_cmd_run(r.cmd, &err), &err) &&
        TC_CHECK_OK(tc_buffer_download(r.frame_buf, 0, got, bytes, &err), &err)) {
      TC_CHECK(memcmp(got, px, bytes) == 0, "alpha 0 changed a %s frame", tc_frame_format_name(f.format));
      printf("ok alpha 0 leaves a %s 641x479 frame byte-identical\n", tc_frame_format_name(f.format));
    }
    rig_free(&r);
    free(px), free(got), free(scores);
  }
}

/* A blend recorded before any smoothing (no map yet) leaves every byte. */
static void test_blend_before_smoothing(tc_context *ctx)
{
  const tc_frame_format formats[] = { TC_FRAME_RGBA, TC_FRAME_BGRX, TC_FRAME_NV12, TC_FRAME_I420, TC_FRAME_YUY2 };
  for (int i = 0; i < 5; i++) {
    tc_frame f = tc_frame_make(formats[i], 97, 61);
    size_t bytes = tc_frame_bytes(&f);
    uint8_t *px = random_bytes(bytes), *got = malloc(bytes);
    tc_map_params p;
    tc_map_params_init(&p);
    p.grid_w = p.grid_h = 14;
    p.alpha = 1;
    rig r;
    memset(&r, 0, sizeof r);
    tc_error err = { 0 };
    if (TC_CHECK_OK(tc_map_create(ctx, &f, &p, &r.map, &err), &err) &&
        TC_CHECK_OK(tc_frame_buffer_create(ctx, &f, &r.frame_buf, &err), &err) &&
        run_blend_alone(ctx, r.map, r.frame_buf, px, got, bytes)) {
      TC_CHECK(memcmp(got, px, bytes) == 0, "a blend before any map changed a %s frame", tc_frame_format_name(f.format));
      printf("ok a blend before any map leaves a %s frame byte-identical\n", tc_frame_format_name(f.format));
    }
    rig_free(&r);
    free(px), free(got);
  }
}

int main(void)
{
  tc_context *ctx = tc_test_context(TC_FAMILY_AUTO);
  /* w, h, pad, format, grid w, h, offset, sigma, colormap, alpha, threshold, fixed, lo, hi, map off */
  const map_case cases[] = {
    { 641, 479, 12, TC_FRAME_RGBA, 14, 14, 0, 4, TC_COLORMAP_TURBO, 0.5f, 0, 0, 0, 1, 0, 0 },
    { 641, 479, 0, TC_FRAME_BGRX, 37, 37, 1, 0, TC_COLORMAP_INFERNO, 0.7f, 0.5f, 0, 0, 1, 0, 0 },
    { 1, 1, 0, TC_FRAME_BGRX, 37, 37, 0, 2, TC_COLORMAP_JET, 1.0f, 0, 0, 0, 1, 0, 0 },
    { 1, 1, 8, TC_FRAME_RGBX, 14, 14, 0, 0, TC_COLORMAP_TURBO, 0.5f, 0, 1, 0, 1, 0, 0 },
    { 100, 37, 4, TC_FRAME_BGRA, 7, 5, 0, 0, TC_COLORMAP_GRAY, 0.35f, 0.25f, 0, 0, 1, 0, 0 },
    { 333, 250, 0, TC_FRAME_RGBX, 16, 16, 1, 10, TC_COLORMAP_GRAY, 0.3f, 0.25f, 1, 0.2f, 0.8f, 0, 0 },
    { 20, 13, 0, TC_FRAME_RGBA, 37, 37, 0, 3, TC_COLORMAP_INFERNO, 0.8f, 0, 0, 0, 1, 0, 0 }, /* smaller than the grid */
    { 1280, 720, 0, TC_FRAME_BGRX, 37, 37, 1, 8, TC_COLORMAP_TURBO, 0.5f, 0.3f, 0, 0, 1, 0, 0 },
    { 1920, 1080, 0, TC_FRAME_RGBX, 14, 14, 1, 15, TC_COLORMAP_TURBO, 0.5f, 0, 0, 0, 1, 1, 0 }, /* no full-res map */
    { 641, 479, 12, TC_FRAME_BGRA, 37, 37, 0, 0, TC_COLORMAP_JET, 0.6f, 0.1f, 1, 0.3f, 0.7f, 1, 0 },
    /* scipy's blur where it matters: AnomalyCLIP's S x S frames (the fixtures' 48, the real 518), a frame
       smaller than the radius (16 on 6 pixels: mirrored again and again), a sigma per axis (a 1080p
       frame stretched to 518: 4 * 1920 / 518, 4 * 1080 / 518), a vertical blur alone */
    { 48, 48, 0, TC_FRAME_RGBA, 6, 6, 0, 4, TC_COLORMAP_TURBO, 0.5f, 0, 0, 0, 1, 0, 0 },
    { 518, 518, 0, TC_FRAME_BGRX, 37, 37, 0, 4, TC_COLORMAP_TURBO, 0.5f, 0, 0, 0, 1, 0, 0 },
    { 6, 6, 0, TC_FRAME_RGBA, 6, 6, 0, 4, TC_COLORMAP_INFERNO, 0.5f, 0, 0, 0, 1, 0, 0 },
    { 7, 3, 4, TC_FRAME_BGRA, 37, 37, 0, 9, TC_COLORMAP_JET, 0.5f, 0, 1, 0, 1, 0, 0 }, /* nearly flat: fixed range */
    { 1920, 1080, 0, TC_FRAME_BGRX, 37, 37, 0, 14.826f, TC_COLORMAP_TURBO, 0.5f, 0, 0, 0, 1, 0, 8.340f },
    { 97, 61, 0, TC_FRAME_RGBX, 5, 7, 0, 0, TC_COLORMAP_GRAY, 0.5f, 0, 0, 0, 1, 0, 5 },
  };
  tc_test_seed(23);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    run_case(ctx, &cases[i]);
  test_alpha_zero(ctx);
  const tc_frame_format yuv[] = { TC_FRAME_NV12, TC_FRAME_I420, TC_FRAME_YUY2 };
  for (int i = 0; i < 3; i++) {
    run_yuv_case(ctx, yuv[i], 641, 479, 2, TC_YUV_BT601, 0, 0.5f, 0); /* odd sizes: chroma rounded up */
    run_yuv_case(ctx, yuv[i], 641, 479, 2, TC_YUV_BT709, 1, 0.5f, 0.4f);
    run_yuv_case(ctx, yuv[i], 320, 240, 0, TC_YUV_BT709, 0, 0.8f, 0.2f);
    run_yuv_case(ctx, yuv[i], 641, 479, 0, TC_YUV_BT601, 0, 0.6f, 0.3f); /* stride % 4 != 0: the atomics path */
    run_yuv_case(ctx, yuv[i], 1, 1, 0, TC_YUV_BT601, 1, 1.0f, 0);
  }
  test_yuv_alpha_zero(ctx);
  test_threshold_extremes(ctx);
  test_resubmit_and_blend_only(ctx);
  test_blend_before_smoothing(ctx);
  test_errors(ctx);
  return tc_test_finish(ctx);
}
