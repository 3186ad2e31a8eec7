/* The encoder's batch dimension: frames 0..B-1 in one recording give each
 * frame the tokens of a batch-1 run of that frame alone. Expected
 * bit-identical (every kernel computes a row from that row's data only, in
 * the same order whatever the number of rows); the test prints the largest
 * difference and fails on any. Bad batch sizes are refused with a message.
 *
 * usage: test_encoder_batch FIXTURE_DIR INPUT_SIZE VV_START */
#include "tc_npy.h"
#include "tc_encoder.h"
#include "tc_test.h"

enum { MAX_B = 8 };

/* Records and runs frames 0..batch-1, downloading `floats` output values. */
static int run_batch(tc_context *ctx, tc_encoder *enc, uint32_t batch, float *out, size_t floats, tc_error *err)
{
  tc_cmd *cmd = NULL;
  int ok = TC_CHECK_OK(tc_cmd_create(ctx, &cmd, err), err) && TC_CHECK_OK(tc_cmd_begin(cmd, err), err) &&
           TC_CHECK_OK(tc_encoder_record_batch(enc, cmd, batch, err), err) &&
           TC_CHECK_OK(tc_cmd_end(cmd, err), err) && TC_CHECK_OK(tc_cmd_run(cmd, err), err) &&
           TC_CHECK_OK(tc_buffer_download(tc_encoder_output(enc), 0, out, floats * 4, err), err);
  tc_cmd_destroy(cmd);
  return ok;
}

int main(int argc, char **argv)
{
  if (argc < 4) {
    fprintf(stderr, "usage: %s FIXTURE_DIR INPUT_SIZE VV_START\n", argv[0]);
    return 2;
  }
  char model_path[4096], input_path[4096];
  snprintf(model_path, sizeof model_path, "%s/model.safetensors", argv[1]);
  snprintf(input_path, sizeof input_path, "%s/input.npy", argv[1]);
  tc_context *ctx = tc_test_context(TC_FAMILY_AUTO);
  tc_error err = { 0 };
  tc_clip_vision *model = NULL;
  tc_encoder *enc = NULL, *too_big = NULL;
  tc_npy input = { 0 };
  float *frames = NULL, *single = NULL, *batched = NULL;
  if (!TC_CHECK_OK(tc_clip_vision_open(model_path, NULL, &model, &err), &err) ||
      !TC_CHECK_OK(tc_npy_read(input_path, &input, &err), &err))
    goto done;

  tc_encoder_options opts;
  tc_encoder_options_init(&opts);
  opts.input_size = (uint32_t)atoi(argv[2]);
  opts.vv_start = (uint32_t)atoi(argv[3]);
  /* two feature blocks when the model has two layers: the per-frame block layout is exercised */
  const int L = tc_clip_vision_get_config(model)->layers;
  opts.feature_layers[0] = 1;
  opts.feature_layers[1] = L > 1 ? (uint32_t)L : 0;

  /* max_batch beyond the limit is refused at creation */
  opts.max_batch = TC_ENCODER_MAX_BATCH + 1;
  TC_CHECK(tc_encoder_create(ctx, model, &opts, &too_big, &err) == TC_ERR_INVALID_ARGUMENT &&
               strstr(err.message, "batch"),
           "max_batch %u was not refused (%s)", opts.max_batch, err.message);
  tc_encoder_destroy(too_big);
  err = (tc_error){ 0 };

  opts.max_batch = MAX_B;
  if (!TC_CHECK_OK(tc_encoder_create(ctx, model, &opts, &enc, &err), &err))
    goto done;
  const uint32_t S = tc_encoder_input_size(enc), G = tc_encoder_grid(enc), E = tc_encoder_embed_dim(enc);
  const uint32_t n = tc_encoder_feature_layers(enc, NULL);
  const size_t image = 3 * (size_t)S * S, frame_out = (size_t)n * (1 + G * G) * E;
  TC_CHECK(input.numel == image, "input.npy has %zu values, want 3x%ux%u", input.numel, S, S);
  if (tc_test_failures)
    goto done;

  /* frame 0 the fixture's input, the others it scaled and shifted so that every frame differs */
  frames = malloc(MAX_B * image * sizeof *frames);
  for (uint32_t b = 0; b < MAX_B; b++)
    for (size_t i = 0; i < image; i++)
      frames[b * image + i] = ((float *)input.data)[i] * (1.0f - 0.1f * b) + 0.05f * (float)b;

  single = malloc(MAX_B * frame_out * sizeof *single);
  batched = malloc(MAX_B * frame_out * sizeof *batched);
  for (uint32_t b = 0; b < MAX_B; b++)
    if (!TC_CHECK_OK(tc_buffer_upload(tc_encoder_input(enc), 0, frames + b * image, image * 4, &err), &err) ||
        !run_batch(ctx, enc, 1, single + b * frame_out, frame_out, &err))
      goto done;
  TC_CHECK(memcmp(single, single + frame_out, frame_out * 4) != 0, "frames 0 and 1 gave the same tokens");

  const uint32_t sizes[] = { 1, 3, MAX_B };
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    const uint32_t B = sizes[s];
    if (!TC_CHECK_OK(tc_buffer_upload(tc_encoder_input(enc), 0, frames, B * image * 4, &err), &err) ||
        !run_batch(ctx, enc, B, batched, B * frame_out, &err))
      goto done;
    for (uint32_t b = 0; b < B; b++) {
      float max_diff = 0;
      for (size_t i = 0; i < frame_out; i++) {
        float d = fabsf(batched[b * frame_out + i] - single[b * frame_out + i]);
        max_diff = d > max_diff ? d : max_diff;
      }
      TC_CHECK(memcmp(batched + b * frame_out, single + b * frame_out, frame_out * 4) == 0,
               "batch %u, frame %u: tokens differ from the frame's own run (max |diff| %g)", B, b, max_diff);
    }
    printf("batch %u (n=%u feature blocks, vv-start %u): every frame bit-identical to its single run\n", B, n,
           opts.vv_start);
  }

  /* batch sizes outside 1..max_batch are refused by name */
  const uint32_t bad[] = { 0, MAX_B + 1 };
  for (size_t i = 0; i < 2; i++) {
    tc_cmd *cmd = NULL;
    if (TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err)) {
      err = (tc_error){ 0 }; /* tc_error_set keeps the first error: the one before would mask this one */
      tc_status st = tc_encoder_record_batch(enc, cmd, bad[i], &err);
      TC_CHECK(st == TC_ERR_INVALID_ARGUMENT && strstr(err.message, "batch"), "batch %u: status %d, '%s'", bad[i],
               (int)st, err.message);
      printf("batch %u refused: %s\n", bad[i], err.message);
    }
    tc_cmd_destroy(cmd);
  }
done:
  free(frames);
  free(single);
  free(batched);
  tc_npy_free(&input);
  tc_encoder_destroy(enc);
  tc_clip_vision_close(model);
  return tc_test_finish(ctx);
}
