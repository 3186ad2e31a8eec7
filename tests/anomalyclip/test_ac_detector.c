/* AnomalyCLIP's whole inference through libtokenclip against our float64
 * reference of it (ac_reference.py; fixtures by write_ac_fixtures.py), with
 * the exporter's head files and nothing else:
 *
 * - the encoder with head-multi's defaults (input 48, bilinear positional
 *   grid, V-V stream from layer 2, feature layers 1..4, global token
 *   without ln_post), Vulkan and the C reference, on input.npy == tokens.npy
 *   (layer 1 the ordinary stream, 2..4 the V-V one) and global.npy;
 * - the detector made from head-single / head-multi alone, on image.npy as
 *   an 8-bit frame of its own size (the device's PIL resize to 48): each
 *   feature layer's token grid == grids.npy, their sum == grid_sum.npy, the
 *   image score (the global token alone) == image_score.npy;
 * - the same picture resized to 48 x 48 by PIL's 8-bit resize on the host
 *   (as tokenclip-eval does; the device's resize is then the identity): the
 *   detector's map at that frame == map_blur.npy (upsampled, summed, scipy's
 *   blur at S x S: AnomalyCLIP's map path);
 * - head-single with the caller's feature_layers 1,2,3,4 == the multi case:
 *   an option overrides a head file's default.
 *
 * Tolerances (fp32 on the device against float64): tokens per row 1e-4 of
 * the row's largest magnitude (tc_test_check_rows); grids, sums, maps and
 * the image score |got - want| <= 1e-4 |want| + 1e-6 (relative 1e-4; the
 * 1e-6 floor for values near 0, which fp32 cosines cannot resolve better).
 * The largest errors are printed.
 *
 * usage: test_ac_detector FIXTURE_DIR */
#include <sys/stat.h>

#include "encoder/tc_encoder.h"
#include "head/tc_head_file.h"
#include "image/tc_resample.h"
#include "map/tc_map.h"
#include "tc_detector.h"
#include "tc_npy.h"
#include "tc_params.h"
#include "tc_ref_encoder.h"
#include "tc_test.h"
#include "tc_test_rows.h"

#define RTOL 1e-4
#define ATOL 1e-6

static const char *fixtures;

/* The worst of each quantity over the images, for the summary. */
static struct {
  const char *name;
  double abs, rel;
} worst[8];

static void note(const char *name, double abs, double rel)
{
  for (int i = 0; i < 8; i++)
    if (!worst[i].name || strcmp(worst[i].name, name) == 0) {
      worst[i].name = name;
      worst[i].abs = fmax(worst[i].abs, abs);
      worst[i].rel = fmax(worst[i].rel, rel);
      return;
    }
}

/* got vs want within RTOL |want| + ATOL; records the largest errors under `kind`. */
static void close_rel(const char *kind, const char *what, const float *got, const float *want, size_t n)
{
  double max_abs = 0, max_rel = 0;
  size_t bad = 0, at = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - want[i]), r = d / fmax(fabs((double)want[i]), 1e-30);
    if (!(d <= RTOL * fabs((double)want[i]) + ATOL))
      bad++, at = i;
    max_abs = fmax(max_abs, d);
    max_rel = fmax(max_rel, r);
  }
  note(kind, max_abs, max_rel);
  TC_CHECK(bad == 0, "%s: %zu of %zu outside 1e-4 relative + 1e-6; [%zu] got %.9g want %.9g", what, bad, n, at,
           bad ? got[at] : 0, bad ? want[at] : 0);
  if (!bad)
    printf("ok %s (%zu values, max abs %.2g, max rel %.2g)\n", what, n, max_abs, max_rel);
}

static bool load(const char *dir, const char *name, tc_npy *a)
{
  char path[1400];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  tc_error err = { 0 };
  return TC_CHECK_OK(tc_npy_read(path, a, &err), &err);
}

static bool is_dir(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* image.npy [H, W, 3] (integers as floats) -> RGBA pixels, alpha 255. */
static uint8_t *rgba_of(const tc_npy *image)
{
  size_t n = (size_t)image->shape[0] * image->shape[1];
  uint8_t *px = malloc(4 * n);
  for (size_t i = 0; i < n; i++) {
    for (int c = 0; c < 3; c++)
      px[4 * i + c] = (uint8_t)image->data[3 * i + c];
    px[4 * i + 3] = 255;
  }
  return px;
}

static char head_single[1100], head_multi[1100], clip[1100];

/* A detector from a head file; `layers` (may be NULL) set as the caller's feature layers. */
static tc_detector *make(const char *head, const uint32_t *layers, uint32_t n)
{
  tc_detector_options o;
  tc_detector_options_init(&o);
  tc_params_set(&o.params, TC_PARAM_PRECISION, TC_PRECISION_FP32, NULL); /* fp32 references: auto is fp16 on GPUs */
  o.model_path = clip;
  o.head_path = head;
  if (layers)
    tc_params_set_list(&o.params, TC_PARAM_FEATURE_LAYERS, layers, n, NULL);
  tc_params_set(&o.params, TC_PARAM_KEEP_MAP, 1, NULL);
  tc_params_set(&o.params, TC_PARAM_ALPHA, 0, NULL); /* nothing blended: neither is a head default */
  tc_detector *det = NULL;
  tc_error err = { 0 };
  TC_CHECK_OK(tc_detector_create(&o, &det, &err), &err);
  return det;
}

/* The encoder with head-multi's defaults against tokens.npy and global.npy. */
static void check_encoder(tc_context *ctx, const char *dir)
{
  tc_npy input = { 0 }, tokens = { 0 }, global = { 0 };
  tc_params file, eff;
  tc_head_file hf = { 0 };
  tc_clip_vision *model = NULL;
  tc_encoder *enc = NULL;
  tc_cmd *cmd = NULL;
  tc_error err = { 0 };
  float *got = NULL, *ref = NULL, *want = NULL;
  if (!load(dir, "input.npy", &input) || !load(dir, "tokens.npy", &tokens) || !load(dir, "global.npy", &global) ||
      !TC_CHECK_OK(tc_head_file_load(head_multi, 0, &hf, &file, &err), &err) ||
      !TC_CHECK_OK(tc_clip_vision_open(clip, NULL, &model, &err), &err))
    goto done;
  tc_params_merge(&file, NULL, &eff);
  tc_params_resolve_model(&eff, file.set, (uint32_t)tc_clip_vision_get_config(model)->layers);
  tc_encoder_options eo;
  tc_params_to_encoder(&eff, &eo);
  const size_t n = (size_t)tokens.shape[0], N = (size_t)tokens.shape[1], E = (size_t)tokens.shape[2];
  TC_CHECK(eo.vv_start == 2 && eo.feature_layers[0] == 1 && eo.feature_layers[3] == 4 && !eo.global_ln_post &&
               eo.input_size == 48 && eo.pos_interp == TC_INTERP_BILINEAR && n == 4,
           "head-multi's encoder defaults");
  /* the fixture as [n, 1 + N, E]: row 0 of every block the global token */
  want = malloc(n * (1 + N) * E * sizeof *want), got = malloc(n * (1 + N) * E * sizeof *got);
  ref = malloc(n * (1 + N) * E * sizeof *ref);
  for (size_t l = 0; l < n; l++) {
    memcpy(want + l * (1 + N) * E, global.data, E * sizeof *want);
    memcpy(want + (l * (1 + N) + 1) * E, tokens.data + l * N * E, N * E * sizeof *want);
  }
  if (TC_CHECK_OK(tc_encoder_create(ctx, model, &eo, &enc, &err), &err) &&
      TC_CHECK_OK(tc_buffer_upload(tc_encoder_input(enc), 0, input.data, input.numel * 4, &err), &err) &&
      TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err) &&
      TC_CHECK_OK(tc_encoder_record(enc, cmd, &err), &err) && TC_CHECK_OK(tc_cmd_end(cmd, &err), &err) &&
      TC_CHECK_OK(tc_cmd_run(cmd, &err), &err) &&
      TC_CHECK_OK(tc_buffer_download(tc_encoder_output(enc), 0, got, n * (1 + N) * E * 4, &err), &err)) {
    char what[1400];
    snprintf(what, sizeof what, "%s: encoder [4, 1 + 36, 96] (layers 1..4, V-V from 2, global without ln_post) "
             "== the reference's", dir);
    tc_test_check_rows(what, got, want, n * (1 + N), E);
    note("tokens (rel L2)", 0, tc_test_rel_l2(got, want, n * (1 + N) * E));
  }
  if (TC_CHECK_OK(tc_ref_encoder_run(model, &eo, input.data, ref, &err), &err)) {
    char what[1400];
    snprintf(what, sizeof what, "%s: C reference encoder == the reference's", dir);
    tc_test_check_rows(what, ref, want, n * (1 + N), E);
  }
done:
  free(got), free(ref), free(want);
  tc_cmd_destroy(cmd);
  tc_encoder_destroy(enc);
  tc_clip_vision_close(model);
  tc_head_file_free(&hf);
  tc_npy_free(&input), tc_npy_free(&tokens), tc_npy_free(&global);
}

/* One frame through det: its grids, their sum and the image score against case_dir's. */
static void check_frame(tc_detector *det, const char *label, const char *img_dir, const char *case_dir,
                        const uint8_t *px, uint32_t w, uint32_t h, bool map)
{
  tc_npy grids = { 0 }, sum = { 0 }, score = { 0 }, blur = { 0 };
  if (!load(case_dir, "grids.npy", &grids) || !load(case_dir, "grid_sum.npy", &sum) ||
      !load(img_dir, "image_score.npy", &score) || (map && !load(case_dir, "map_blur.npy", &blur)))
    goto done;
  const tc_frame f = tc_frame_make(TC_FRAME_RGBA, w, h);
  tc_error err = { 0 };
  tc_analysis a;
  if (!TC_CHECK_OK(tc_detector_set_frame(det, &f, &err), &err) ||
      !TC_CHECK_OK(tc_detector_analyse(det, (void *)px, f.stride, 0, &a, &err), &err))
    goto done;
  const uint32_t n = (uint32_t)grids.shape[0], N = a.grid * a.grid;
  TC_CHECK(a.layers == n && (size_t)N == sum.numel, "%s: %u layers of %u tokens, want %u of %zu", label, a.layers, N,
           n, sum.numel);
  if (tc_test_failures)
    goto done;
  char what[1600];
  float *layer = malloc(N * sizeof *layer);
  for (uint32_t l = 0; l < n; l++)
    if (TC_CHECK_OK(tc_detector_read_layer_scores(det, l, layer, &err), &err)) {
      snprintf(what, sizeof what, "%s: feature layer %u of %u, token grid == grids.npy", label, l + 1, n);
      close_rel("per-layer grids", what, layer, grids.data + (size_t)l * N, N);
    }
  free(layer);
  snprintf(what, sizeof what, "%s: summed grid == grid_sum.npy", label);
  close_rel("summed grid", what, a.scores, sum.data, N);
  snprintf(what, sizeof what, "%s: image score (global token alone) %.7f == image_score.npy %.7f", label,
           a.image_score, score.data[0]);
  close_rel("image score", what, &a.image_score, score.data, 1);
  if (map) {
    float *m = malloc((size_t)w * h * sizeof *m);
    if (TC_CHECK_OK(tc_detector_read_map(det, m, &err), &err)) {
      snprintf(what, sizeof what, "%s: the %ux%u map == map_blur.npy (sum, upsampled, scipy sigma 4)", label, w, h);
      close_rel("S x S blurred map", what, m, blur.data, (size_t)w * h);
    }
    free(m);
  }
done:
  tc_npy_free(&grids), tc_npy_free(&sum), tc_npy_free(&score), tc_npy_free(&blur);
}

static void check_image(tc_detector *det[3], const char *dir)
{
  static const char *cases[3] = { "single", "multi", "multi" };
  static const char *labels[3] = { "head-single", "head-multi", "head-single + feature_layers 1,2,3,4" };
  tc_npy image = { 0 };
  if (!load(dir, "image.npy", &image))
    return;
  const uint32_t H = (uint32_t)image.shape[0], W = (uint32_t)image.shape[1], S = 48;
  uint8_t *px = rgba_of(&image), *resized = malloc(S * S * 4);
  tc_error err = { 0 };
  bool have_resized = TC_CHECK_OK(tc_resize_pil_8bit(px, W, H, 4 * (size_t)W, resized, S, S, 4 * (size_t)S,
                                                     TC_RESAMPLE_PIL_BICUBIC, &err), &err);
  for (int c = 0; c < 3; c++) {
    if (!det[c])
      continue;
    char case_dir[1200], label[1400];
    snprintf(case_dir, sizeof case_dir, "%s/%s", dir, cases[c]);
    snprintf(label, sizeof label, "%s, %s at %ux%u", dir, labels[c], W, H);
    check_frame(det[c], label, dir, case_dir, px, W, H, false);
    snprintf(label, sizeof label, "%s, %s at %ux%u (PIL-resized on the host)", dir, labels[c], S, S);
    if (have_resized)
      check_frame(det[c], label, dir, case_dir, resized, S, S, true);
  }
  free(px), free(resized);
  tc_npy_free(&image);
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
    return 2;
  }
  fixtures = argv[1];
  snprintf(clip, sizeof clip, "%s/clip.safetensors", fixtures);
  snprintf(head_single, sizeof head_single, "%s/head-single.safetensors", fixtures);
  snprintf(head_multi, sizeof head_multi, "%s/head-multi.safetensors", fixtures);
  tc_context *ctx = tc_test_context(TC_FAMILY_AUTO);
  const uint32_t all[] = { 1, 2, 3, 4 };
  tc_detector *det[3] = { make(head_single, NULL, 0), make(head_multi, NULL, 0), make(head_single, all, 4) };
  int images = 0;
  for (;; images++) {
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/img%d", fixtures, images);
    if (!is_dir(dir))
      break;
    check_encoder(ctx, dir);
    check_image(det, dir);
  }
  TC_CHECK(images > 0, "no img0 in %s", fixtures);
  for (int c = 0; c < 3; c++) {
    TC_CHECK(!det[c] || tc_detector_validation_messages(det[c]) == 0, "validation layer messages");
    tc_detector_destroy(det[c]);
  }
  printf("largest errors against the reference over %d images:\n", images);
  for (int i = 0; i < 8 && worst[i].name; i++)
    printf("  %-20s abs %.3g  rel %.3g\n", worst[i].name, worst[i].abs, worst[i].rel);
  return tc_test_finish(ctx);
}
