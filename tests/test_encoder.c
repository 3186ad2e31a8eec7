/* The Vulkan encoder against the PyTorch forward (tests/torch/clip_fixtures.py,
 * float64) and against the plain-C reference encoder.
 *
 * usage: test_encoder FIXTURE_DIR INPUT_SIZE VV_START POS_INTERP [ref]
 * FIXTURE_DIR holds model.safetensors, input.npy, tokens.npy. With "ref" the
 * C reference runs too (tiny models; it is too slow for ViT-B/16 in a test).
 *
 * Tolerances: the device computes in fp32 with fp32 accumulation; the
 * fixture is float64 from the same (possibly fp16/bf16-rounded) weights.
 * Each token row must match within 1e-4 relative to the row's norm-scaled
 * size (|got - want| <= 1e-4 * max|want row| + 1e-4 |want|) and the whole
 * output within 2e-5 relative L2 error. */
#include <math.h>

#include "io/tc_npy.h"
#include "tc_encoder.h"
#include "tc_ref_encoder.h"
#include "tc_test.h"

static double rel_l2(const float *got, const float *want, size_t n)
{
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)got[i] - want[i];
    num += d * d;
    den += (double)want[i] * want[i];
  }
  return sqrt(num / (den > 0 ? den : 1));
}

/* Row-scaled closeness (a token's components have the scale of its norm). */
static void check_tokens(const char *what, const float *got, const float *want, size_t rows, size_t cols)
{
  size_t bad = 0, worst_r = 0, worst_c = 0;
  double worst = 0;
  for (size_t r = 0; r < rows; r++) {
    double scale = 0;
    for (size_t c = 0; c < cols; c++)
      scale = fmax(scale, fabs(want[r * cols + c]));
    for (size_t c = 0; c < cols; c++) {
      double d = fabs((double)got[r * cols + c] - want[r * cols + c]);
      double lim = 1e-4 * scale + 1e-4 * fabs(want[r * cols + c]);
      if (!(d <= lim))
        bad++;
      if (!(d / (lim > 0 ? lim : 1) <= worst)) {
        worst = d / (lim > 0 ? lim : 1);
        worst_r = r, worst_c = c;
      }
    }
  }
  double l2 = rel_l2(got, want, rows * cols);
  TC_CHECK(bad == 0, "%s: %zu of %zu values outside 1e-4 of their row's scale; worst [%zu,%zu] got %.7g want %.7g",
           what, bad, rows * cols, worst_r, worst_c, got[worst_r * cols + worst_c], want[worst_r * cols + worst_c]);
  TC_CHECK(l2 <= 2e-5, "%s: relative L2 error %.3g > 2e-5", what, l2);
  printf("%s %s: relative L2 error %.3g, worst element at %.2f of its tolerance\n", bad ? "FAIL" : "ok", what, l2,
         worst);
}

int main(int argc, char **argv)
{
  if (argc < 5) {
    fprintf(stderr, "usage: %s FIXTURE_DIR INPUT_SIZE VV_START POS_INTERP [ref]\n", argv[0]);
    return 2;
  }
  char model_path[4096], input_path[4096], tokens_path[4096];
  snprintf(model_path, sizeof model_path, "%s/model.safetensors", argv[1]);
  snprintf(input_path, sizeof input_path, "%s/input.npy", argv[1]);
  snprintf(tokens_path, sizeof tokens_path, "%s/tokens.npy", argv[1]);
  tc_encoder_options opts;
  tc_encoder_options_init(&opts);
  opts.input_size = (uint32_t)atoi(argv[2]);
  opts.vv_start = (uint32_t)atoi(argv[3]);
  opts.pos_interp = (tc_interp)tc_interp_from_name(argv[4]);
  int with_ref = argc > 5 && strcmp(argv[5], "ref") == 0;

  tc_context *ctx = tc_test_context(TC_FAMILY_AUTO);
  tc_error err = { 0 };
  tc_clip_vision *model = NULL;
  tc_encoder *enc = NULL;
  tc_cmd *cmd = NULL;
  tc_npy input = { 0 }, want = { 0 };
  float *got = NULL, *ref = NULL;
  if (!TC_CHECK_OK(tc_clip_vision_open(model_path, NULL, &model, &err), &err) ||
      !TC_CHECK_OK(tc_npy_read(input_path, &input, &err), &err) ||
      !TC_CHECK_OK(tc_npy_read(tokens_path, &want, &err), &err) ||
      !TC_CHECK_OK(tc_encoder_create(ctx, model, &opts, &enc, &err), &err))
    goto done;

  uint32_t S = tc_encoder_input_size(enc), G = tc_encoder_grid(enc), E = tc_encoder_embed_dim(enc);
  size_t rows = 1 + (size_t)G * G;
  printf("model %s: input %u, grid %u, embed %u, vv-start %u, %s\n", model_path, S, G, E, opts.vv_start, argv[4]);
  TC_CHECK(input.numel == 3 * (size_t)S * S, "input.npy has %zu values, want 3x%ux%u", input.numel, S, S);
  TC_CHECK(want.numel == rows * E, "tokens.npy has %zu values, want %zux%u", want.numel, rows, E);
  if (tc_test_failures)
    goto done;

  got = malloc(rows * E * sizeof *got);
  if (TC_CHECK_OK(tc_buffer_upload(tc_encoder_input(enc), 0, input.data, input.numel * 4, &err), &err) &&
      TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err) &&
      TC_CHECK_OK(tc_encoder_record(enc, cmd, &err), &err) && TC_CHECK_OK(tc_cmd_end(cmd, &err), &err) &&
      TC_CHECK_OK(tc_cmd_run(cmd, &err), &err) &&
      TC_CHECK_OK(tc_buffer_download(tc_encoder_output(enc), 0, got, rows * E * 4, &err), &err)) {
    check_tokens("vulkan encoder vs PyTorch", got, want.data, rows, E);
    /* a second submission of the same recording gives the same tokens */
    float *again = malloc(rows * E * sizeof *again);
    if (TC_CHECK_OK(tc_cmd_run(cmd, &err), &err) &&
        TC_CHECK_OK(tc_buffer_download(tc_encoder_output(enc), 0, again, rows * E * 4, &err), &err))
      TC_CHECK(memcmp(again, got, rows * E * 4) == 0, "resubmission changed the tokens");
    free(again);
  }
  if (with_ref) {
    ref = malloc(rows * E * sizeof *ref);
    if (TC_CHECK_OK(tc_ref_encoder_run(model, &opts, input.data, ref, &err), &err)) {
      check_tokens("C reference encoder vs PyTorch", ref, want.data, rows, E);
      check_tokens("vulkan encoder vs C reference", got, ref, rows, E);
    }
  }
done:
  free(got);
  free(ref);
  tc_npy_free(&input);
  tc_npy_free(&want);
  tc_cmd_destroy(cmd);
  tc_encoder_destroy(enc);
  tc_clip_vision_close(model);
  return tc_test_finish(ctx);
}
