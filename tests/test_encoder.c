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
#include "tc_npy.h"
#include "tc_encoder.h"
#include "tc_ref_encoder.h"
#include "tc_test.h"
#include "tc_test_rows.h"

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
    tc_test_check_rows("vulkan encoder vs PyTorch", got, want.data, rows, E);
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
      tc_test_check_rows("C reference encoder vs PyTorch", ref, want.data, rows, E);
      tc_test_check_rows("vulkan encoder vs C reference", got, ref, rows, E);
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
