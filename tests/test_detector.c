/* The whole frame pipeline (tc_detector) against the chain of C references:
 * tc_ref_preprocess -> tc_ref_encoder_run -> tc_head_ref_run (per feature
 * layer, summed) -> tc_ref_map_smooth_xy; the zero-shot defaults that
 * depend on the model; head-file defaults against the model.
 *
 * usage: test_detector MODEL.safetensors (a tiny random CLIP, embed 96,
 * 3 layers) */
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
  tc_params_set(&o.params, TC_PARAM_PRECISION, TC_PRECISION_FP32, NULL); /* fp32 references: auto is fp16 on GPUs */
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
  /* odd size, padded rows */
  const tc_frame f = { .format = TC_FRAME_RGBX, .width = 67, .height = 45, .stride = 67 * 4 + 12 };
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

  /* the reference chain, with the parameters in effect: nothing set but alpha and sigma, so the
   * zero-shot defaults: V-V stream from round(3 / 4) = 1, the last layer's tokens, ln_post on the global */
  float *input = malloc(3 * S * S * sizeof(float)), *tokens = malloc((1 + N) * D * sizeof(float));
  float *scores = malloc(N * sizeof(float));
  tc_clip_vision *model = NULL;
  tc_head_file hf = { 0 };
  tc_params eff;
  tc_head_params hp;
  tc_encoder_options eo;
  tc_detector_params(det, &eff);
  tc_params_to_head(&eff, &hp);
  tc_params_to_encoder(&eff, &eo);
  TC_CHECK(eff.vv_start == 1 && tc_params_feature_layers(&eff, NULL) == 1 && eff.feature_layers[0] == 3 &&
               eff.global_ln_post == 1 && a.layers == 1,
           "zero-shot defaults of a 3-layer model: vv_start %u (want 1), feature layers %u.. (want 3)", eff.vv_start,
           eff.feature_layers[0]);
  tc_head_result hr;
  tc_ref_preprocess(px, &f, S, TC_RESAMPLE_BICUBIC, input);
  if (TC_CHECK_OK(tc_clip_vision_open(model_path, NULL, &model, &err), &err) &&
      TC_CHECK_OK(tc_ref_encoder_run(model, &eo, input, tokens, &err), &err) &&
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
/* NULL where a pointer is needed: TC_ERR_INVALID_ARGUMENT naming it, no crash. */
static void test_null_arguments(void)
{
  tc_error e = { 0 };
  tc_detector *det = NULL;
  TC_CHECK(tc_detector_create(NULL, &det, &e) == TC_ERR_INVALID_ARGUMENT && !det && strstr(e.message, "NULL"),
           "create with NULL options: %s", e.message);
  tc_error_clear(&e);
  det = make(head_path, 0.5f, TC_OK, NULL);
  if (!det)
    return;
  float map[4];
  uint8_t px[4];
  const tc_status st[] = {
    tc_detector_set_frame(det, NULL, NULL), tc_detector_set_params(det, NULL, NULL),
    tc_detector_analyse(det, NULL, 4, 0, NULL, NULL), tc_detector_analyse(NULL, px, 4, 0, NULL, NULL),
    tc_detector_read_map(det, NULL, NULL), tc_detector_read_map(NULL, map, NULL),
  };
  for (size_t i = 0; i < sizeof st / sizeof *st; i++)
    TC_CHECK(st[i] == TC_ERR_INVALID_ARGUMENT, "NULL argument case %zu: %s", i, tc_status_name(st[i]));
  tc_detector_destroy(det);
}

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
  /* a new map (the parameters changed) holds nothing until the next analysis */
  if (TC_CHECK_OK(tc_detector_set_params(det, &user, &err), &err))
    TC_CHECK(tc_detector_read_map(det, map, &err) == TC_ERR_INVALID_ARGUMENT && strstr(err.message, "no map yet"),
             "read_map before the new map's first analysis: \"%s\"", err.message);
  tc_error_clear(&err);
  if (TC_CHECK_OK(tc_detector_analyse(det, px, f.stride, 0, &a, &err), &err) &&
      TC_CHECK_OK(tc_detector_read_map(det, map, &err), &err)) {
    float lo, hi;
    /* sigma in model-input pixels: per axis at the frame, W / S and H / S */
    const float S = (float)tc_detector_input_size(det);
    tc_ref_map_smooth_xy(a.scores, a.grid, a.grid, want, f.height, f.width, user.sigma * f.width / S,
                         user.sigma * f.height / S, &lo, &hi);
    tc_test_close("read_map vs reference smoothing (sigma 3 model-input pixels, per axis)", map, want,
                  (size_t)f.width * f.height, 1e-6, 1e-5);
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

/* Two feature layers of the model's 3, the V-V stream from layer 3 (layer
 * 2's tokens from the ordinary stream) and the global token without ln_post: each
 * layer's scores are the reference head's on that layer's block of the
 * reference encoder, the analysis's scores their sum, the global score the
 * layers' mean, the image score blends map_max / 2, regions at 2 x the
 * threshold, the map smooths the sum. Tolerances as above; sums of two
 * layers 4e-5. */
static void test_feature_layers(void)
{
  tc_detector_options o;
  tc_detector_options_init(&o);
  tc_params_set(&o.params, TC_PARAM_PRECISION, TC_PRECISION_FP32, NULL); /* fp32 references: auto is fp16 on GPUs */
  o.model_path = model_path;
  o.head_path = head_path;
  const uint32_t layers[] = { 2, 3 }, n = 2, D = 96;
  tc_params_set_list(&o.params, TC_PARAM_FEATURE_LAYERS, layers, n, NULL);
  tc_params_set(&o.params, TC_PARAM_VV_START, 3, NULL);
  tc_params_set(&o.params, TC_PARAM_GLOBAL_LN_POST, 0, NULL);
  tc_params_set(&o.params, TC_PARAM_KEEP_MAP, 1, NULL);
  tc_params_set(&o.params, TC_PARAM_IMAGE_BLEND, 0.3, NULL);
  tc_params_set(&o.params, TC_PARAM_THRESHOLD, 0.3, NULL);
  tc_detector *det = NULL;
  tc_error err = { 0 };
  if (!TC_CHECK_OK(tc_detector_create(&o, &det, &err), &err))
    return;
  const tc_frame f = tc_frame_make(TC_FRAME_BGRX, 41, 29);
  const uint32_t S = tc_detector_input_size(det), G = tc_detector_grid(det), N = G * G;
  uint8_t *px = malloc(tc_frame_bytes(&f));
  float *input = malloc(3 * S * S * sizeof(float)), *tokens = malloc(n * (1 + N) * D * sizeof(float));
  float *want = malloc(n * N * sizeof(float)), *got = malloc(N * sizeof(float)), *sum = malloc(N * sizeof(float));
  float *map = malloc((size_t)f.width * f.height * sizeof(float)), *want_map = malloc(f.width * f.height * 4);
  random_frame(px, &f);
  tc_analysis a;
  tc_params eff;
  tc_head_params hp;
  tc_encoder_options eo;
  tc_clip_vision *model = NULL;
  tc_head_file hf = { 0 };
  tc_head_result hr[2];
  tc_detector_params(det, &eff);
  tc_params_to_head(&eff, &hp);
  tc_params_to_encoder(&eff, &eo);
  tc_ref_preprocess(px, &f, S, TC_RESAMPLE_BICUBIC, input);
  if (TC_CHECK_OK(tc_detector_set_frame(det, &f, &err), &err) &&
      TC_CHECK_OK(tc_detector_analyse(det, px, f.stride, 0, &a, &err), &err) &&
      TC_CHECK_OK(tc_clip_vision_open(model_path, NULL, &model, &err), &err) &&
      TC_CHECK_OK(tc_ref_encoder_run(model, &eo, input, tokens, &err), &err) &&
      TC_CHECK_OK(tc_head_file_load(head_path, D, &hf, NULL, &err), &err)) {
    TC_CHECK(a.layers == n && tc_detector_layers(det) == n, "%u feature layers", a.layers);
    double global = 0;
    for (uint32_t l = 0; l < n; l++) {
      char what[96];
      snprintf(what, sizeof what, "feature layer %u's token scores vs the reference head on its block", layers[l]);
      if (TC_CHECK_OK(tc_head_ref_run(tokens + l * (1 + N) * D, N, hf.subspaces, Q, D, &hp, want + l * N, &hr[l],
                                      &err), &err) &&
          TC_CHECK_OK(tc_detector_read_layer_scores(det, l, got, &err), &err))
        tc_test_close(what, got, want + l * N, N, 2e-5, 0);
      global += hr[l].global_score;
    }
    for (uint32_t i = 0; i < N; i++)
      sum[i] = want[i] + want[N + i];
    tc_test_close("the analysis's scores: the layers' sum", a.scores, sum, N, 4e-5, 0);
    TC_CHECK(fabs(a.global_score - global / n) < 2e-5, "global score %g vs the layers' mean %g", a.global_score,
             global / n);
    TC_CHECK(fabsf(a.image_score - (0.7f * a.global_score + 0.3f * a.map_max / n)) < 1e-6f,
             "image score %g = 0.7 global + 0.3 map_max / 2", a.image_score);
    tc_region r[TC_MAX_REGIONS];
    uint32_t work[64 * 64];
    size_t found = tc_find_regions(a.scores, G, G, 0.3f * n, r, TC_MAX_REGIONS, work);
    TC_CHECK(a.regions == found, "%u regions, want %zu (threshold 0.3 per layer)", a.regions, found);
    float lo, hi;
    if (TC_CHECK_OK(tc_detector_read_map(det, map, &err), &err)) {
      tc_ref_map_smooth_xy(a.scores, G, G, want_map, f.height, f.width, eff.sigma * f.width / S,
                           eff.sigma * f.height / S, &lo, &hi);
      tc_test_close("the map smooths the summed scores", map, want_map, (size_t)f.width * f.height, 1e-6, 1e-5);
    }
    /* the layers are fixed once the detector exists */
    tc_params user = o.params;
    const uint32_t other[] = { 3 };
    tc_params_set_list(&user, TC_PARAM_FEATURE_LAYERS, other, 1, NULL);
    tc_error e = { 0 };
    TC_CHECK(tc_detector_set_params(det, &user, &e) == TC_ERR_INVALID_ARGUMENT &&
                 strstr(e.message, "feature_layers is fixed once the detector exists (2,3, not 3)"),
             "a change of the layers refused: %s", e.message);
    /* input size left to the model: the refusal names the size in effect, not 0 */
    user = o.params;
    tc_params_set(&user, TC_PARAM_INPUT_SIZE, 2 * S, NULL);
    tc_error_clear(&e);
    char want[96];
    snprintf(want, sizeof want, "input_size is fixed once the detector exists (%u, not %u)", S, 2 * S);
    TC_CHECK(tc_detector_set_params(det, &user, &e) == TC_ERR_INVALID_ARGUMENT && strstr(e.message, want),
             "a change of the input size refused: %s", e.message);
  }
  TC_CHECK(tc_detector_validation_messages(det) == 0, "validation layer messages");
  tc_head_file_free(&hf);
  tc_clip_vision_close(model);
  tc_detector_destroy(det);
  free(px), free(input), free(tokens), free(want), free(got), free(sum), free(map), free(want_map);
}

/* Head-file defaults that do not fit the model are errors naming the file
 * and the tensor; the caller's setting wins over a bad default; a bad
 * setting of the caller's names the parameter. */
static void test_model_defaults(void)
{
  float t[Q * 2 * 96];
  tc_test_fill(t, Q * 2 * 96, -1, 1);
  char path[256];
  snprintf(path, sizeof path, "/tmp/tc-test-detector-%d-defaults.safetensors", (int)getpid());
  const uint32_t beyond[] = { 2, 6 };
  struct {
    tc_param id;
    double v;
    const char *needle;
  } bad[] = {
    { TC_PARAM_VV_START, 9, "tensor 'vv_start' is 9: the model" },
    { TC_PARAM_FEATURE_LAYERS, 0, "tensor 'feature_layers' is 2,6: the model" },
    { TC_PARAM_INPUT_SIZE, 50, "tensor 'input_size' is 50: not a multiple of the patch size 8" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tc_params file;
    tc_params_init(&file);
    if (bad[i].id == TC_PARAM_FEATURE_LAYERS)
      tc_params_set_list(&file, bad[i].id, beyond, 2, NULL);
    else
      tc_params_set(&file, bad[i].id, bad[i].v, NULL);
    tc_error err = { 0 };
    if (!TC_CHECK_OK(tc_head_file_write(path, t, Q, 96, 0, &file, &err), &err))
      continue;
    tc_detector_options o;
    tc_detector_options_init(&o);
    tc_params_set(&o.params, TC_PARAM_PRECISION, TC_PRECISION_FP32, NULL); /* fp32 references: auto is fp16 on GPUs */
    o.model_path = model_path;
    o.head_path = path;
    tc_detector *det = NULL;
    tc_status st = tc_detector_create(&o, &det, &err);
    TC_CHECK(st == TC_ERR_FORMAT && strstr(err.message, path) && strstr(err.message, bad[i].needle),
             "a head default beyond the model: %s (%s)", tc_status_name(st), err.message);
    printf("ok refused: %s\n", err.message);
    tc_detector_destroy(det);
    /* the caller's value wins over the file's */
    const uint32_t fine[] = { 3 };
    if (bad[i].id == TC_PARAM_FEATURE_LAYERS)
      tc_params_set_list(&o.params, bad[i].id, fine, 1, NULL);
    else
      tc_params_set(&o.params, bad[i].id, bad[i].id == TC_PARAM_INPUT_SIZE ? 48 : 2, NULL);
    tc_error_clear(&err);
    det = NULL;
    if (TC_CHECK_OK(tc_detector_create(&o, &det, &err), &err)) {
      tc_params eff;
      tc_detector_params(det, &eff);
      TC_CHECK(bad[i].id == TC_PARAM_FEATURE_LAYERS ? eff.feature_layers[0] == 3 && eff.feature_layers[1] == 0
                                                     : tc_params_get(&eff, bad[i].id) ==
                                                         (bad[i].id == TC_PARAM_INPUT_SIZE ? 48 : 2),
               "%s: the caller's value in effect", tc_param_name(bad[i].id));
    }
    tc_detector_destroy(det);
  }
  /* the caller's own bad value names the parameter */
  tc_detector_options o;
  tc_detector_options_init(&o);
  tc_params_set(&o.params, TC_PARAM_PRECISION, TC_PRECISION_FP32, NULL); /* fp32 references: auto is fp16 on GPUs */
  o.model_path = model_path;
  o.head_path = head_path;
  tc_params_set(&o.params, TC_PARAM_VV_START, 5, NULL);
  tc_detector *det = NULL;
  tc_error err = { 0 };
  tc_status st = tc_detector_create(&o, &det, &err);
  TC_CHECK(st == TC_ERR_INVALID_ARGUMENT && strstr(err.message, "vv_start 5: the model") &&
               strstr(err.message, "has 3 layers"),
           "vv_start 5 of 3 layers: %s (%s)", tc_status_name(st), err.message);
  tc_detector_destroy(det);
  unlink(path);
}

/* tc_detector_analyse_batch: a batch of B (1, 3, 8) gives what B single
 * analyses give, bit for bit: the token scores, the image and global scores,
 * the map (its maximum; the kept map of the last frame) and the blended
 * pixels. Bad batches are refused before any work, naming the problem. */
static void test_batch(void)
{
  tc_detector_options o;
  tc_detector_options_init(&o);
  tc_params_set(&o.params, TC_PARAM_PRECISION, TC_PRECISION_FP32, NULL); /* fp32 references: auto is fp16 on GPUs */
  o.model_path = model_path;
  o.head_path = head_path;
  tc_params_set(&o.params, TC_PARAM_SIGMA, 2, NULL);
  tc_params_set(&o.params, TC_PARAM_KEEP_MAP, 1, NULL);
  tc_detector *det = NULL;
  tc_error err = { 0 };
  if (!TC_CHECK_OK(tc_detector_create(&o, &det, &err), &err))
    return;
  const tc_frame f = { .format = TC_FRAME_RGBX, .width = 40, .height = 33, .stride = 40 * 4 + 8 };
  const size_t bytes = tc_frame_bytes(&f), npx = (size_t)f.width * f.height;
  enum { B = TC_MAX_BATCH };
  uint8_t *src[B], *single_px[B], *batch_px[B];
  float *single_scores[B], *single_map[B], *map = malloc(npx * sizeof(float));
  tc_analysis single[B], got[B];
  size_t strides[B];
  TC_CHECK_OK(tc_detector_set_frame(det, &f, &err), &err);
  const uint32_t N = tc_detector_grid(det) * tc_detector_grid(det);
  for (int i = 0; i < B; i++) {
    src[i] = malloc(bytes), single_px[i] = malloc(bytes), batch_px[i] = malloc(bytes);
    single_scores[i] = malloc(N * sizeof(float)), single_map[i] = malloc(npx * sizeof(float));
    strides[i] = f.stride;
    random_frame(src[i], &f);
    memcpy(single_px[i], src[i], bytes);
    TC_CHECK_OK(tc_detector_analyse(det, single_px[i], f.stride, 1, &single[i], &err), &err);
    memcpy(single_scores[i], single[i].scores, N * sizeof(float));
    TC_CHECK_OK(tc_detector_read_map(det, single_map[i], &err), &err);
  }
  const uint32_t sizes[] = { 1, 3, 8 };
  for (size_t k = 0; k < 3; k++) {
    const uint32_t n = sizes[k];
    for (uint32_t i = 0; i < n; i++)
      memcpy(batch_px[i], src[i], bytes);
    if (!TC_CHECK_OK(tc_detector_analyse_batch(det, (void *const *)batch_px, strides, n, 1, got, &err), &err))
      continue;
    int same = 1;
    for (uint32_t i = 0; i < n; i++) {
      same &= memcmp(got[i].scores, single_scores[i], N * sizeof(float)) == 0;
      same &= got[i].image_score == single[i].image_score && got[i].global_score == single[i].global_score &&
              got[i].map_max == single[i].map_max && got[i].max_score == single[i].max_score &&
              got[i].regions == single[i].regions && got[i].iterations == single[i].iterations;
      same &= memcmp(batch_px[i], single_px[i], bytes) == 0;
      for (uint32_t j = 0; j < i; j++)
        same &= got[i].scores != got[j].scores; /* each result its own array */
    }
    TC_CHECK(same, "batch of %u: token scores, scores, map maxima and blended pixels equal %u single runs", n, n);
    if (TC_CHECK_OK(tc_detector_read_map(det, map, &err), &err))
      TC_CHECK(memcmp(map, single_map[n - 1], npx * sizeof(float)) == 0, "batch of %u: the last frame's map", n);
    printf("ok batch of %u = %u single analyses (bit-identical)\n", n, n);
  }
  /* refusals: nothing analysed, the message names the problem */
  size_t short_strides[B];
  for (int i = 0; i < B; i++)
    short_strides[i] = i == 2 ? 4 : f.stride;
  void *with_null[B];
  for (int i = 0; i < B; i++)
    with_null[i] = i == 1 ? NULL : src[i];
  const struct {
    void *const *px;
    const size_t *strides;
    uint32_t n;
    const char *needle;
  } bad[] = {
    { (void *const *)src, strides, 0, "batch of 0 frames: 1..8" },
    { (void *const *)src, strides, B + 1, "batch of 9 frames: 1..8" },
    { NULL, strides, 2, "NULL pixels array" },
    { (void *const *)src, NULL, 2, "NULL strides array" },
    { with_null, strides, 3, "batch frame 1: NULL pixels" },
    { (void *const *)src, short_strides, 3, "batch frame 2: stride 4" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tc_error_clear(&err);
    tc_status st = tc_detector_analyse_batch(det, bad[i].px, bad[i].strides, bad[i].n, 0, got, &err);
    TC_CHECK(st == TC_ERR_INVALID_ARGUMENT && strstr(err.message, bad[i].needle), "bad batch %zu: %s (%s), want \"%s\"",
             i, tc_status_name(st), err.message, bad[i].needle);
    printf("ok refused: %s\n", err.message);
  }
  for (int i = 0; i < B; i++) {
    free(src[i]), free(single_px[i]), free(batch_px[i]);
    free(single_scores[i]), free(single_map[i]);
  }
  free(map);
  tc_detector_destroy(det);
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
  test_null_arguments();
  test_params_layers();
  test_feature_layers();
  test_model_defaults();
  test_batch();
  test_errors();
  unlink(head_path);
  unlink(head_path_bad_dim);
  return tc_test_finish(ctx);
}
