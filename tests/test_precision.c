/* The precision setting against fp32, on any device (lavapipe included: the
 * fp16 activations run on the gpu kernel family, which lavapipe can run).
 *
 *   token level   the encoder's output tokens with fp16 weights and
 *                 activations: relative L2 distance ||t16 - t32|| / ||t32||
 *                 over all tokens below TOKEN_REL_L2
 *   map level     a detector with precision fp16 vs fp32 on the same frames:
 *                 the largest change of a token score, of the smoothed map
 *                 (at frame size) and of the image score below MAP_ABS
 *
 * plus what precision resolves to (auto: fp32 on CPU devices), and the
 * refusal of fp16 activations on the cpu kernel family.
 *
 * usage: test_precision FIXTURE_DIR (tiny_hf_f32: embed 96) */
#include <math.h>
#include <unistd.h>

#include "tc_detector.h"
#include "tc_encoder.h"
#include "tc_head_file.h"
#include "tc_npy.h"
#include "tc_test.h"

/* Stated tolerances (fp16 has an 11-bit significand: 4.9e-4 relative rounding). Measured on
 * lavapipe: see the printed values (README "Precision"). */
#define TOKEN_REL_L2 3e-3 /* measured 6.0e-4 (tiny random model) */
#define MAP_ABS 3e-3f /* measured 4.7e-4 token, 4.6e-4 map, 2.2e-4 image score */

static int run_encoder(tc_context *ctx, tc_encoder *enc, const float *input, size_t in_floats, float *out,
                       size_t floats, tc_error *err)
{
  tc_cmd *cmd = NULL;
  int ok = TC_CHECK_OK(tc_buffer_upload(tc_encoder_input(enc), 0, input, in_floats * 4, err), err) &&
           TC_CHECK_OK(tc_cmd_create(ctx, &cmd, err), err) && TC_CHECK_OK(tc_cmd_begin(cmd, err), err) &&
           TC_CHECK_OK(tc_encoder_record(enc, cmd, err), err) && TC_CHECK_OK(tc_cmd_end(cmd, err), err) &&
           TC_CHECK_OK(tc_cmd_run(cmd, err), err) &&
           TC_CHECK_OK(tc_buffer_download(tc_encoder_output(enc), 0, out, floats * 4, err), err);
  tc_cmd_destroy(cmd);
  return ok;
}

static void test_tokens(const char *model_path, const char *input_path)
{
  tc_context *ctx = tc_test_context(TC_FAMILY_GPU);
  tc_error err = { 0 };
  tc_clip_vision *model = NULL;
  tc_npy input = { 0 };
  tc_encoder *e32 = NULL, *e16 = NULL;
  float *t32 = NULL, *t16 = NULL;
  if (!ctx || !TC_CHECK_OK(tc_clip_vision_open(model_path, NULL, &model, &err), &err) ||
      !TC_CHECK_OK(tc_npy_read(input_path, &input, &err), &err))
    goto done;
  tc_encoder_options o32, o16;
  tc_encoder_options_init(&o32);
  o32.vv_start = 2; /* both streams */
  o16 = o32;
  tc_precision_to_encoder(ctx, TC_PRECISION_FP32, &o32);
  tc_precision_to_encoder(ctx, TC_PRECISION_FP16, &o16);
  TC_CHECK(o16.activations == TC_F16 && o16.weights == TC_WEIGHTS_F16 && o32.activations == TC_F32 &&
               o32.weights == TC_WEIGHTS_F32,
           "fp16 on the gpu family: fp16 weights and activations; fp32: fp32");
  if (!TC_CHECK_OK(tc_encoder_create(ctx, model, &o32, &e32, &err), &err) ||
      !TC_CHECK_OK(tc_encoder_create(ctx, model, &o16, &e16, &err), &err))
    goto done;
  const uint32_t G = tc_encoder_grid(e32), D = tc_encoder_embed_dim(e32);
  const size_t n = (size_t)(1 + G * G) * D;
  t32 = malloc(n * sizeof(float)), t16 = malloc(n * sizeof(float));
  if (!run_encoder(ctx, e32, input.data, input.numel, t32, n, &err) ||
      !run_encoder(ctx, e16, input.data, input.numel, t16, n, &err))
    goto done;
  double d2 = 0, r2 = 0;
  for (size_t i = 0; i < n; i++)
    d2 += ((double)t16[i] - t32[i]) * ((double)t16[i] - t32[i]), r2 += (double)t32[i] * t32[i];
  const double rel = sqrt(d2 / r2);
  printf("precision fp16 vs fp32 (%s, gpu kernels): tokens relative L2 %.3g (tolerance %.3g)\n",
         tc_context_device_name(ctx), rel, TOKEN_REL_L2);
  TC_CHECK(rel < TOKEN_REL_L2 && rel > 0, "fp16 tokens: relative L2 %g, want (0, %g)", rel, TOKEN_REL_L2);
done:
  free(t32), free(t16);
  tc_encoder_destroy(e32), tc_encoder_destroy(e16);
  tc_npy_free(&input);
  tc_clip_vision_close(model);
  if (ctx)
    TC_CHECK(tc_context_validation_messages(ctx) == 0, "validation messages");
  tc_context_destroy(ctx);
}

/* the cpu family: auto and fp16 keep fp32 activations; fp16 activations asked directly are refused */
static void test_cpu_family(const char *model_path)
{
  tc_context *ctx = tc_test_context(TC_FAMILY_CPU);
  tc_error err = { 0 };
  tc_clip_vision *model = NULL;
  tc_encoder *enc = NULL;
  if (!ctx || !TC_CHECK_OK(tc_clip_vision_open(model_path, NULL, &model, &err), &err))
    goto done;
  tc_encoder_options o;
  tc_encoder_options_init(&o);
  tc_precision_to_encoder(ctx, TC_PRECISION_FP16, &o);
  TC_CHECK(o.activations == TC_F32 && o.weights == TC_WEIGHTS_F16, "fp16 on the cpu family: fp16 weights only");
  tc_encoder_options_init(&o);
  tc_precision_to_encoder(ctx, TC_PRECISION_AUTO, &o);
  if (tc_context_is_cpu(ctx))
    TC_CHECK(o.activations == TC_F32 && o.weights == TC_WEIGHTS_AS_STORED, "auto on a CPU device: fp32 sums");
  o.activations = TC_F16;
  tc_status st = tc_encoder_create(ctx, model, &o, &enc, &err);
  TC_CHECK(st == TC_ERR_UNSUPPORTED && strstr(err.message, "gpu kernel family"),
           "fp16 activations on the cpu family: %s (%s)", tc_status_name(st), err.message);
  printf("ok refused: %s\n", err.message);
done:
  tc_encoder_destroy(enc);
  tc_clip_vision_close(model);
  if (ctx)
    TC_CHECK(tc_context_validation_messages(ctx) == 0, "validation messages");
  tc_context_destroy(ctx);
}

static tc_detector *make_detector(const char *model_path, const char *head_path, tc_precision p)
{
  tc_detector_options o;
  tc_detector_options_init(&o);
  o.model_path = model_path;
  o.head_path = head_path;
  tc_params_set(&o.params, TC_PARAM_PRECISION, p, NULL);
  tc_params_set(&o.params, TC_PARAM_SIGMA, 2, NULL);
  tc_params_set(&o.params, TC_PARAM_KEEP_MAP, 1, NULL);
  tc_detector *det = NULL;
  tc_error err = { 0 };
  TC_CHECK_OK(tc_detector_create(&o, &det, &err), &err);
  return det;
}

static void test_map(const char *model_path)
{
  /* the gpu kernels, which have fp16 activations (lavapipe runs the cpu ones by default) */
  setenv("TOKENCLIP_KERNELS", "gpu", 1);
  char head_path[256];
  snprintf(head_path, sizeof head_path, "/tmp/tc-test-precision-%d.safetensors", (int)getpid());
  float t[5 * 2 * 96];
  tc_test_fill(t, 5 * 2 * 96, -1, 1);
  tc_error err = { 0 };
  if (!TC_CHECK_OK(tc_head_file_write(head_path, t, 5, 96, 0, NULL, &err), &err))
    return;
  tc_detector *d32 = make_detector(model_path, head_path, TC_PRECISION_FP32);
  tc_detector *d16 = make_detector(model_path, head_path, TC_PRECISION_FP16);
  const tc_frame f = { .format = TC_FRAME_RGBX, .width = 64, .height = 48, .stride = 64 * 4 };
  uint8_t *px = malloc(tc_frame_bytes(&f));
  float *m32 = malloc(64 * 48 * sizeof(float)), *m16 = malloc(64 * 48 * sizeof(float));
  float worst_score = 0, worst_map = 0, worst_image = 0;
  if (!d32 || !d16 || !TC_CHECK_OK(tc_detector_set_frame(d32, &f, &err), &err) ||
      !TC_CHECK_OK(tc_detector_set_frame(d16, &f, &err), &err))
    goto done;
  for (int frame = 0; frame < 3; frame++) {
    for (size_t i = 0; i < tc_frame_bytes(&f); i++)
      px[i] = (uint8_t)tc_test_uniform(0, 256);
    tc_analysis a32, a16;
    if (!TC_CHECK_OK(tc_detector_analyse(d32, px, f.stride, 0, &a32, &err), &err) ||
        !TC_CHECK_OK(tc_detector_read_map(d32, m32, &err), &err))
      break;
    float s32[64 * 64];
    memcpy(s32, a32.scores, a32.grid * a32.grid * sizeof(float));
    if (!TC_CHECK_OK(tc_detector_analyse(d16, px, f.stride, 0, &a16, &err), &err) ||
        !TC_CHECK_OK(tc_detector_read_map(d16, m16, &err), &err))
      break;
    for (uint32_t i = 0; i < a32.grid * a32.grid; i++)
      worst_score = fmaxf(worst_score, fabsf(a16.scores[i] - s32[i]));
    for (int i = 0; i < 64 * 48; i++)
      worst_map = fmaxf(worst_map, fabsf(m16[i] - m32[i]));
    worst_image = fmaxf(worst_image, fabsf(a16.image_score - a32.image_score));
  }
  printf("precision fp16 vs fp32 detector (gpu kernels): max |token score change| %.3g, max |map change| %.3g, "
         "max |image score change| %.3g (tolerance %.3g)\n",
         worst_score, worst_map, worst_image, MAP_ABS);
  TC_CHECK(worst_score < MAP_ABS && worst_map < MAP_ABS && worst_image < MAP_ABS,
           "fp16 moved the scores beyond %g", MAP_ABS);
  TC_CHECK(worst_score > 0, "fp16 changed nothing: is the setting applied?");
done:
  free(px), free(m32), free(m16);
  tc_detector_destroy(d32), tc_detector_destroy(d16);
  unlink(head_path);
  unsetenv("TOKENCLIP_KERNELS");
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
    return 2;
  }
  char model_path[4096], input_path[4096];
  snprintf(model_path, sizeof model_path, "%s/model.safetensors", argv[1]);
  snprintf(input_path, sizeof input_path, "%s/input.npy", argv[1]);
  tc_context *ctx = tc_test_context(TC_FAMILY_AUTO); /* fails under CI=true without a device */
  test_tokens(model_path, input_path);
  test_cpu_family(model_path);
  test_map(model_path);
  return tc_test_finish(ctx);
}
