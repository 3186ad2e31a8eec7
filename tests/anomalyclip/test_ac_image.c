/* AnomalyCLIP's image stages on the device against our reference of
 * AnomalyCLIP (ac_reference.py, fixtures by write_ac_fixtures.py):
 *
 * - preprocess, TC_RESAMPLE_PIL_BICUBIC, of each image.npy (an 8-bit RGB
 *   picture) == input.npy (PIL's 8-bit resize to S x S, /255, OpenAI's
 *   mean/std in float64). Tolerance 4e-7: the float32 rounding of both
 *   sides (half an ulp each: 2.4e-7 together at |v| in [2, 2.7]) and our
 *   mean/std, float32 constants as torch's Normalize has them (1.2e-7 at
 *   most over all bytes); one 8-bit step is 0.015. The float filter misses
 *   by far more (printed, and checked to miss: the test tells them apart).
 * - the map smoothing (tc_map) of grid_sum.npy [g][g], the per-layer maps
 *   summed on the grid, to an S x S frame: with sigma 0 == map.npy (the
 *   bilinear upsampling), with AnomalyCLIP's sigma == map_blur.npy (then
 *   scipy.ndimage.gaussian_filter, mode reflect, truncate 4). Tolerance
 *   atol 1e-6 + rtol 1e-6 on maps summed over up to 4 layers (values up to
 *   4): fp32 tables of a few taps against float64; measured ~2e-7.
 *
 * usage: test_ac_image FIXTURE_DIR SIGMA (fixture.json's sigma) */
#include <sys/stat.h>

#include "image/tc_preprocess.h"
#include "tc_npy.h"
#include "map/tc_map.h"
#include "tc_test.h"

#define INPUT_ATOL 4e-7
#define MAP_ATOL 1e-6
#define MAP_RTOL 1e-6

static double max_abs_diff(const float *a, const float *b, size_t n)
{
  double worst = 0;
  for (size_t i = 0; i < n; i++)
    worst = fmax(worst, fabs((double)a[i] - b[i]));
  return worst;
}

static bool read_npy(const char *dir, const char *name, tc_npy *a)
{
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  tc_error err = { 0 };
  return TC_CHECK_OK(tc_npy_read(path, a, &err), &err);
}

/* Runs preprocess of an RGBA frame with `filter` into out [3][S][S]. */
static bool preprocess(tc_context *ctx, const tc_frame *f, const uint8_t *px, uint32_t S, tc_resample_filter filter,
                       float *out)
{
  tc_error err = { 0 };
  tc_preprocess *pp = NULL;
  tc_buffer *frame = NULL, *o = NULL;
  tc_cmd *cmd = NULL;
  bool ok = TC_CHECK_OK(tc_preprocess_create(ctx, f, S, filter, &pp, &err), &err) &&
            TC_CHECK_OK(tc_frame_buffer_create(ctx, f, &frame, &err), &err) &&
            TC_CHECK_OK(tc_frame_upload(frame, f, px, f->stride, &err), &err) &&
            TC_CHECK_OK(tc_buffer_create(ctx, tc_preprocess_output_bytes(pp), &o, &err), &err) &&
            TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err) &&
            TC_CHECK_OK(tc_preprocess_record(pp, cmd, frame, o, &err), &err) &&
            TC_CHECK_OK(tc_cmd_end(cmd, &err), &err) && TC_CHECK_OK(tc_cmd_run(cmd, &err), &err) &&
            TC_CHECK_OK(tc_buffer_download(o, 0, out, tc_preprocess_output_bytes(pp), &err), &err);
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(o);
  tc_buffer_destroy(frame);
  tc_preprocess_destroy(pp);
  return ok;
}

static void check_input(tc_context *ctx, const char *dir)
{
  tc_npy image = { 0 }, want = { 0 };
  bool ok = read_npy(dir, "image.npy", &image) && read_npy(dir, "input.npy", &want);
  ok = ok && image.ndim == 3 && image.shape[2] == 3 && want.ndim == 3 && want.shape[0] == 3;
  TC_CHECK(ok, "%s: image.npy [H, W, 3] and input.npy [3, S, S] expected", dir);
  if (!ok) {
    tc_npy_free(&image), tc_npy_free(&want);
    return;
  }
  uint32_t H = (uint32_t)image.shape[0], W = (uint32_t)image.shape[1], S = (uint32_t)want.shape[1];
  tc_frame f = tc_frame_make(TC_FRAME_RGBA, W, H);
  uint8_t *px = malloc(tc_frame_bytes(&f));
  for (size_t i = 0; i < (size_t)W * H; i++) {
    for (int c = 0; c < 3; c++)
      px[4 * i + c] = (uint8_t)image.data[3 * i + c]; /* integers 0..255 stored as floats */
    px[4 * i + 3] = 255;
  }
  float *got = malloc(want.numel * sizeof *got);
  char what[1400];
  if (preprocess(ctx, &f, px, S, TC_RESAMPLE_PIL_BICUBIC, got)) {
    snprintf(what, sizeof what, "%s: preprocess %ux%u -> %u bicubic-pil == AnomalyCLIP's input (PIL), max diff %.2g",
             dir, W, H, S, max_abs_diff(got, want.data, want.numel));
    tc_test_close(what, got, want.data, want.numel, INPUT_ATOL, 0);
  }
  if (preprocess(ctx, &f, px, S, TC_RESAMPLE_BICUBIC, got)) {
    double worst = max_abs_diff(got, want.data, want.numel);
    TC_CHECK(worst > 100 * INPUT_ATOL, "%s: the float filter matches PIL's too (%g): the check cannot tell", dir,
             worst);
    printf("ok %s: the float bicubic filter misses AnomalyCLIP's input by %.3g\n", dir, worst);
  }
  free(px), free(got);
  tc_npy_free(&image), tc_npy_free(&want);
}

/* grid_sum.npy through tc_map at S x S with sigma, against want_name. */
static void check_map(tc_context *ctx, const char *dir, uint32_t S, float sigma, const char *want_name)
{
  tc_npy grid = { 0 }, want = { 0 };
  bool ok = read_npy(dir, "grid_sum.npy", &grid) && read_npy(dir, want_name, &want);
  ok = ok && grid.ndim == 2 && want.ndim == 2 && want.shape[0] == S && want.shape[1] == S;
  TC_CHECK(ok, "%s: grid_sum.npy [g, g] and %s [%u, %u] expected", dir, want_name, S, S);
  if (!ok) {
    tc_npy_free(&grid), tc_npy_free(&want);
    return;
  }
  tc_map_params p;
  tc_map_params_init(&p);
  p.grid_h = (uint32_t)grid.shape[0];
  p.grid_w = (uint32_t)grid.shape[1];
  p.sigma = sigma;
  p.keep_map = 1;
  p.alpha = 0;
  tc_frame f = tc_frame_make(TC_FRAME_RGBA, S, S);
  tc_error err = { 0 };
  tc_map *m = NULL;
  tc_buffer *scores = NULL;
  tc_cmd *cmd = NULL;
  float *got = malloc(want.numel * sizeof *got);
  if (TC_CHECK_OK(tc_map_create(ctx, &f, &p, &m, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create_from(ctx, grid.data, grid.numel * sizeof(float), &scores, &err), &err) &&
      TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err) &&
      TC_CHECK_OK(tc_map_record_smooth(m, cmd, scores, 0, &err), &err) && TC_CHECK_OK(tc_cmd_end(cmd, &err), &err) &&
      TC_CHECK_OK(tc_cmd_run(cmd, &err), &err) && TC_CHECK_OK(tc_map_read(m, got, &err), &err)) {
    char what[1400];
    snprintf(what, sizeof what, "%s: map %ux%u -> %ux%u, sigma %g == AnomalyCLIP's %s, max diff %.2g", dir, p.grid_w,
             p.grid_h, S, S, sigma, want_name, max_abs_diff(got, want.data, want.numel));
    tc_test_close(what, got, want.data, want.numel, MAP_ATOL, MAP_RTOL);
  }
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(scores);
  tc_map_destroy(m);
  free(got);
  tc_npy_free(&grid), tc_npy_free(&want);
}

static bool is_dir(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int main(int argc, char **argv)
{
  if (argc != 3) {
    fprintf(stderr, "usage: %s FIXTURE_DIR SIGMA\n", argv[0]);
    return 1;
  }
  const float sigma = strtof(argv[2], NULL);
  tc_context *ctx = tc_test_context(TC_FAMILY_AUTO);
  int images = 0;
  for (;; images++) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/img%d", argv[1], images);
    if (!is_dir(dir))
      break;
    check_input(ctx, dir);
    tc_npy input = { 0 };
    if (!read_npy(dir, "input.npy", &input))
      continue;
    uint32_t S = (uint32_t)input.shape[1];
    tc_npy_free(&input);
    const char *cases[] = { "single", "multi" };
    for (int c = 0; c < 2; c++) {
      char sub[1100];
      snprintf(sub, sizeof sub, "%s/%s", dir, cases[c]);
      check_map(ctx, sub, S, 0.0f, "map.npy");
      check_map(ctx, sub, S, sigma, "map_blur.npy");
    }
  }
  TC_CHECK(images > 0, "no img0 in %s", argv[1]);
  return tc_test_finish(ctx);
}
