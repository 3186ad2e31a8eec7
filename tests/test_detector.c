/* The whole frame pipeline (tc_detector) against the chain of C references:
 * tc_ref_preprocess -> tc_ref_encoder_run -> tc_head_ref_run.
 *
 * usage: test_detector MODEL.safetensors (a tiny random CLIP, embed 96) */
#include <unistd.h>

#include "tc_detector.h"
#include "tc_head_file.h"
#include "tc_params.h"
#include "tc_regions.h"
#include "tc_head_ref.h"
#include "tc_ref_encoder.h"
#include "tc_ref_image.h"
#include "tc_test.h"

#define Q 5

static const char *model_path;
static char head_path[256], head_path_bad_dim[256];

static void write_heads(uint32_t D)
{
  float t[Q * 2 * 128];
  tc_test_fill(t, Q * 2 * D, -1, 1);
  tc_error err = { 0 };
  snprintf(head_path, sizeof head_path, "/tmp/tc-test-detector-%d.safetensors", (int)getpid());
  snprintf(head_path_bad_dim, sizeof head_path_bad_dim, "/tmp/tc-test-detector-%d-d50.safetensors", (int)getpid());
  TC_CHECK_OK(tc_head_file_write(head_path, t, Q, D, 0, NULL, &err), &err);
  TC_CHECK_OK(tc_head_file_write(head_path_bad_dim, t, Q, 50, 0, NULL, &err), &err);
}

static void random_frame(uint8_t *px, const tc_frame *f)
{
  for (size_t i = 0; i < tc_frame_bytes(f); i++)
    px[i] = (uint8_t)tc_test_uniform(0, 256);
}

static tc_detector *make(const char *head, float alpha, tc_status want, const char *want_msg)
{
  tc_detector_options o;
  tc_detector_options_init(&o);
  o.model_path = model_path;
  o.head_path = head;
  tc_params_set(&o.params, TC_PARAM_ALPHA, alpha, NULL);
  tc_params_set(&o.params, TC_PARAM_SIGMA, 2, NULL);
  tc_detector *det = NULL;
  tc_error err = { 0 };
  tc_status st = tc_detector_create(&o, &det, &err);
  TC_CHECK(st == want, "create with head %s: %s (%s)", head, tc_status_name(st), err.message);
  if (want_msg)
    TC_CHECK(strstr(err.message, want_msg) != NULL, "message \"%s\" lacks \"%s\"", err.message, want_msg);
  return det;
}

static void test_against_references(void)
{
  tc_detector *det = make(head_path, 0.5f, TC_OK, NULL);
  if (!det)
    return;
  tc_error err = { 0 };
  const tc_frame f = { TC_FRAME_RGBX, 67, 45, 67 * 4 + 12 }; /* odd size, padded rows */
  uint8_t *px = malloc(tc_frame_bytes(&f)), *blended = malloc(tc_frame_bytes(&f));
  random_frame(px, &f);
  memcpy(blended, px, tc_frame_bytes(&f));

  tc_analysis a;
  TC_CHECK(tc_detector_analyse(det, px, f.stride, 0, &a, &err) == TC_ERR_INVALID_ARGUMENT,
           "analyse before set_frame accepted");
  tc_error_clear(&err);
  if (!TC_CHECK_OK(tc_detector_set_frame(det, &f, &err), &err) ||
      !TC_CHECK_OK(tc_detector_analyse(det, px, f.stride, 0, &a, &err), &err))
    goto done;
  const uint32_t G = tc_detector_grid(det), S = tc_detector_input_size(det), N = G * G, D = 96;
  printf("device %s: input %u, grid %u, %.1f ms, image score %.4f, %u iterations\n", tc_detector_device_name(det),
         S, G, a.inference_ms, a.image_score, a.iterations);

  /* the reference chain */
  float *input = malloc(3 * S * S * sizeof(float)), *tokens = malloc((1 + N) * D * sizeof(float));
  float *scores = malloc(N * sizeof(float));
  tc_clip_vision *model = NULL;
  tc_head_file hf = { 0 };
  tc_params eff;
  tc_head_params hp;
  tc_detector_params(det, &eff);
  tc_params_to_head(&eff, &hp);
  tc_head_result hr;
  tc_ref_preprocess(px, &f, S, TC_RESAMPLE_BICUBIC, input);
  if (TC_CHECK_OK(tc_clip_vision_open(model_path, NULL, &model, &err), &err) &&
      TC_CHECK_OK(tc_ref_encoder_run(model, NULL, input, tokens, &err), &err) &&
      TC_CHECK_OK(tc_head_file_load(head_path, D, &hf, NULL, &err), &err) &&
      TC_CHECK_OK(tc_head_ref_run(tokens, N, hf.subspaces, Q, D, &hp, scores, &hr, &err), &err)) {
    /* scores are probabilities; the device's fp32 chain differs from the
     * reference by rounding only: 2e-5 absolute */
    tc_test_close("detector token scores vs reference chain", a.scores, scores, N, 2e-5, 0);
    TC_CHECK(fabsf(a.global_score - hr.global_score) < 2e-5f, "global score %g vs %g", a.global_score,
             hr.global_score);
    float want_image = tc_head_image_score(&hp, hr.global_score, a.map_max);
    TC_CHECK(fabsf(a.image_score - want_image) < 1e-6f, "image score %g vs %g", a.image_score, want_image);
    float mx = 0;
    for (uint32_t i = 0; i < N; i++)
      mx = fmaxf(mx, scores[i]);
    /* the smoothed map's max lies within the grid's range */
    TC_CHECK(a.map_max <= mx + 1e-5f && a.map_max > 0, "map max %g, grid max %g", a.map_max, mx);
    TC_CHECK(a.anomalous == (a.image_score >= eff.threshold), "anomalous %d for image score %g, threshold %g",
             a.anomalous, a.image_score, eff.threshold);
  }
  /* the regions: tc_find_regions on the analysis's own scores, boxes in frame pixels */
  {
    tc_region want[TC_MAX_REGIONS];
    uint32_t work[64 * 64];
    size_t n = tc_find_regions(a.scores, a.grid, a.grid, eff.threshold, want, eff.max_regions, work);
    TC_CHECK(a.regions == n && a.n_regions == (n < eff.max_regions ? n : eff.max_regions), "%u/%u regions, want %zu",
             a.n_regions, a.regions, n);
    for (uint32_t i = 0; i < a.n_regions; i++) {
      const tc_region *r = &a.region[i];
      uint32_t x, y, w, h;
      tc_region_to_pixels(&want[i], a.grid, a.grid, f.width, f.height, &x, &y, &w, &h);
      TC_CHECK(r->x0 == want[i].x0 && r->y1 == want[i].y1 && r->max_score == want[i].max_score && r->x == x &&
                   r->y == y && r->w == w && r->h == h && x + w <= f.width && y + h <= f.height,
               "region %u: box %u,%u %ux%u", i, r->x, r->y, r->w, r->h);
    }
  }

  /* the same frame with the blend: pixels change, the x byte and the row padding stay */
  if (TC_CHECK_OK(tc_detector_analyse(det, blended, f.stride, 1, &a, &err), &err)) {
    size_t changed = 0, touched_fixed = 0;
    for (uint32_t y = 0; y < f.height; y++)
      for (uint32_t x = 0; x < f.stride; x++) {
        size_t i = (size_t)y * f.stride + x;
        bool colour = x < 4 * f.width && x % 4 != 3;
        if (blended[i] != px[i])
          colour ? changed++ : touched_fixed++;
      }
    TC_CHECK(changed > (size_t)f.width * f.height, "only %zu colour bytes changed", changed);
    TC_CHECK(touched_fixed == 0, "%zu x or padding bytes changed", touched_fixed);
  }

  /* alpha 0: nothing is drawn */
  tc_params user;
  tc_params_init(&user);
  tc_params_set(&user, TC_PARAM_ALPHA, 0, NULL);
  memcpy(blended, px, tc_frame_bytes(&f));
  if (TC_CHECK_OK(tc_detector_set_params(det, &user, &err), &err) &&
      TC_CHECK_OK(tc_detector_analyse(det, blended, f.stride, 1, &a, &err), &err))
    TC_CHECK(memcmp(blended, px, tc_frame_bytes(&f)) == 0, "alpha 0 changed the frame");

  /* a new layout (caps change) works without recreating the detector */
  const tc_frame f2 = tc_frame_make(TC_FRAME_BGRA, 32, 96);
  uint8_t *px2 = malloc(tc_frame_bytes(&f2));
  random_frame(px2, &f2);
  if (TC_CHECK_OK(tc_detector_set_frame(det, &f2, &err), &err) &&
      TC_CHECK_OK(tc_detector_analyse(det, px2, f2.stride, 1, &a, &err), &err))
    TC_CHECK(a.grid == G && a.image_score >= 0 && a.image_score <= 1, "after a layout change: grid %u score %g",
             a.grid, a.image_score);
  free(px2);
  tc_head_file_free(&hf);
  tc_clip_vision_close(model);
  free(input), free(tokens), free(scores);
done:
  TC_CHECK(tc_detector_validation_messages(det) == 0, "validation layer messages");
  tc_detector_destroy(det);
  free(px), free(blended);
}

/* tc_detector_read_map: the smoothed map at frame size, against the C
 * reference of the map stage on the analysis's own grid scores. */
static void test_read_map(void)
{
  tc_detector *det = make(head_path, 0.5f, TC_OK, NULL);
  if (!det)
    return;
  tc_error err = { 0 };
  const tc_frame f = tc_frame_make(TC_FRAME_RGBA, 53, 38);
  uint8_t *px = malloc(tc_frame_bytes(&f));
  float *map = malloc((size_t)f.width * f.height * sizeof(float));
  float *want = malloc((size_t)f.width * f.height * sizeof(float));
  random_frame(px, &f);
  tc_analysis a;
  /* without keep_map: refused, naming the option */
  if (TC_CHECK_OK(tc_detector_set_frame(det, &f, &err), &err) &&
      TC_CHECK_OK(tc_detector_analyse(det, px, f.stride, 0, &a, &err), &err)) {
    TC_CHECK(tc_detector_read_map(det, map, &err) == TC_ERR_INVALID_ARGUMENT && strstr(err.message, "keep_map"),
             "read_map without keep_map: \"%s\"", err.message);
    tc_error_clear(&err);
  }
  tc_params user;
  tc_params_init(&user);
  tc_params_set(&user, TC_PARAM_SIGMA, 3, NULL);
  tc_params_set(&user, TC_PARAM_KEEP_MAP, 1, NULL);
  if (TC_CHECK_OK(tc_detector_set_params(det, &user, &err), &err) &&
      TC_CHECK_OK(tc_detector_analyse(det, px, f.stride, 0, &a, &err), &err) &&
      TC_CHECK_OK(tc_detector_read_map(det, map, &err), &err)) {
    float lo, hi;
    tc_ref_map_smooth(a.scores, a.grid, a.grid, want, f.height, f.width, user.sigma, &lo, &hi);
    tc_test_close("read_map vs reference smoothing", map, want, (size_t)f.width * f.height, 1e-6, 1e-5);
    float mx = map[0];
    for (size_t i = 1; i < (size_t)f.width * f.height; i++)
      mx = fmaxf(mx, map[i]);
    TC_CHECK(mx == a.map_max, "map max %g vs analysis map_max %g", mx, a.map_max);
  }
  TC_CHECK(tc_detector_validation_messages(det) == 0, "validation layer messages");
  tc_detector_destroy(det);
  free(px), free(map), free(want);
}

/* The parameters' three layers and a refused change. The head file says
 * topk 2: in effect until the caller sets topk, again once it unsets it. A
 * value the head cannot take (topk > Q), and a load-time field, are refused
 * with the field named, and change nothing: not the values in effect, not the
 * next analysis. */
static void test_params_layers(void)
{
  char path[256];
  snprintf(path, sizeof path, "/tmp/tc-test-detector-%d-topk.safetensors", (int)getpid());
  float t[Q * 2 * 96];
  tc_test_fill(t, Q * 2 * 96, -1, 1);
  tc_params file;
  tc_params_init(&file);
  tc_params_set(&file, TC_PARAM_TOPK, 2, NULL);
  tc_error err = { 0 };
  if (!TC_CHECK_OK(tc_head_file_write(path, t, Q, 96, 0, &file, &err), &err))
    return;
  tc_detector *det = make(path, 0.5f, TC_OK, NULL);
  tc_params eff, user;
  tc_params_init(&user);
  if (!det)
    return;
  tc_detector_params(det, &eff);
  TC_CHECK(eff.topk == 2, "the head file's topk is in effect: %u", eff.topk);
  tc_params_set(&user, TC_PARAM_TOPK, 3, NULL);
  tc_params_set(&user, TC_PARAM_TEMPERATURE, 0.1, NULL);
  if (TC_CHECK_OK(tc_detector_set_params(det, &user, &err), &err)) {
    tc_detector_params(det, &eff);
    TC_CHECK(eff.topk == 3 && eff.temperature == 0.1f, "the caller's topk and temperature: %u %g", eff.topk,
             eff.temperature);
  }
  tc_params_unset(&user, TC_PARAM_TOPK);
  if (TC_CHECK_OK(tc_detector_set_params(det, &user, &err), &err)) {
    tc_detector_params(det, &eff);
    TC_CHECK(eff.topk == 2 && eff.temperature == 0.1f, "topk unset: the file's again (%u)", eff.topk);
  }

  const tc_frame f = tc_frame_make(TC_FRAME_RGBA, 40, 30);
  uint8_t *px = malloc(tc_frame_bytes(&f));
  float before_scores[64];
  random_frame(px, &f);
  tc_analysis a;
  if (TC_CHECK_OK(tc_detector_set_frame(det, &f, &err), &err) &&
      TC_CHECK_OK(tc_detector_analyse(det, px, f.stride, 0, &a, &err), &err)) {
    memcpy(before_scores, a.scores, a.grid * a.grid * sizeof(float));
    struct {
      tc_param id;
      double v;
      const char *needle;
    } refused[] = { { TC_PARAM_TOPK, Q + 1, "topk" }, { TC_PARAM_INPUT_SIZE, 64, "input_size" } };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
      tc_params bad = user, was;
      tc_detector_params(det, &was);
      tc_error e = { 0 };
      tc_params_set(&bad, refused[i].id, refused[i].v, NULL);
      TC_CHECK(tc_detector_set_params(det, &bad, &e) == TC_ERR_INVALID_ARGUMENT && strstr(e.message, refused[i].needle),
               "%s %g refused, naming it: %s", refused[i].needle, refused[i].v, e.message);
      tc_detector_params(det, &eff);
      TC_CHECK(memcmp(&eff, &was, sizeof eff) == 0, "after the refusal of %s the values in effect are the same",
               refused[i].needle);
      printf("ok refused: %s\n", e.message);
    }
    if (TC_CHECK_OK(tc_detector_analyse(det, px, f.stride, 0, &a, &err), &err))
      TC_CHECK(memcmp(before_scores, a.scores, a.grid * a.grid * sizeof(float)) == 0,
               "the analysis after the refusals is the one before");
  }
  free(px);
  TC_CHECK(tc_detector_validation_messages(det) == 0, "validation layer messages");
  tc_detector_destroy(det);
  unlink(path);
}

static void test_errors(void)
{
  tc_detector_destroy(make(head_path_bad_dim, 0.5f, TC_ERR_MISMATCH, "50"));
  tc_detector_destroy(make("/nonexistent/head.safetensors", 0.5f, TC_ERR_IO, "/nonexistent/head.safetensors"));
  const char *good = model_path;
  model_path = "/nonexistent/model.safetensors";
  tc_detector_destroy(make(head_path, 0.5f, TC_ERR_IO, "/nonexistent/model.safetensors"));
  model_path = head_path; /* a head file is no CLIP model */
  tc_detector_destroy(make(head_path, 0.5f, TC_ERR_FORMAT, "no CLIP vision weights"));
  model_path = good;
  tc_detector_destroy(make(NULL, 0.5f, TC_ERR_INVALID_ARGUMENT, "no head"));
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s MODEL.safetensors\n", argv[0]);
    return 2;
  }
  model_path = argv[1];
  tc_context *ctx = tc_test_context(TC_FAMILY_AUTO); /* fails under CI=true without a device */
  write_heads(96);
  test_against_references();
  test_read_map();
  test_params_layers();
  test_errors();
  unlink(head_path);
  unlink(head_path_bad_dim);
  return tc_test_finish(ctx);
}
