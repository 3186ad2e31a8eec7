/* The Vulkan text encoder against the PyTorch forward (tests/torch/text_fixtures.py,
 * float64) and against the plain-C reference.
 *
 * usage: test_text_encoder FIXTURE_DIR NAMING(hf|openclip)
 * FIXTURE_DIR holds model.safetensors, ids.npy, embeddings.npy.
 *
 * Tolerances (tc_test_check_rows, as test_encoder's): the device and the reference compute in
 * fp32 from the same (possibly fp16/bf16-rounded) weights as the float64
 * fixture. Every value must be within 1e-4 of its row's largest magnitude
 * (+ 1e-4 relative) and the whole output within 2e-5 relative L2 error.
 * The device runs with batches of 4 prompts (6 prompts: two batches, the
 * second short) and stops each batch at its last end-of-text token; the
 * reference runs the whole context. Weights forced to fp16 are compared with
 * the reference using the same fp16 weights, same tolerance. */
#include "tc_npy.h"
#include "tc_ref_text.h"
#include "tc_test.h"
#include "tc_test_rows.h"
#include "tc_text_encoder.h"

int main(int argc, char **argv)
{
  if (argc < 3) {
    fprintf(stderr, "usage: %s FIXTURE_DIR hf|openclip\n", argv[0]);
    return 2;
  }
  char path[4096];
  tc_error err = { 0 };
  tc_npy ids_f = { 0 }, want = { 0 };
  snprintf(path, sizeof path, "%s/ids.npy", argv[1]);
  if (!TC_CHECK_OK(tc_npy_read(path, &ids_f, &err), &err))
    return 1;
  snprintf(path, sizeof path, "%s/embeddings.npy", argv[1]);
  if (!TC_CHECK_OK(tc_npy_read(path, &want, &err), &err))
    return 1;
  const uint32_t n = (uint32_t)ids_f.shape[0], context = (uint32_t)ids_f.shape[1];
  int32_t *ids = malloc(ids_f.numel * sizeof *ids);
  for (size_t i = 0; i < ids_f.numel; i++)
    ids[i] = (int32_t)ids_f.data[i];

  snprintf(path, sizeof path, "%s/model.safetensors", argv[1]);
  tc_clip_text *model = NULL;
  if (!TC_CHECK_OK(tc_clip_text_open(path, NULL, &model, &err), &err))
    return 1;
  const tc_clip_text_config *cfg = tc_clip_text_get_config(model);
  const uint32_t E = (uint32_t)cfg->embed_dim;
  TC_CHECK(tc_clip_text_naming(model) == (strcmp(argv[2], "hf") == 0 ? TC_CLIP_NAMING_HF : TC_CLIP_NAMING_OPENCLIP),
           "naming %d for %s", (int)tc_clip_text_naming(model), argv[2]);
  TC_CHECK(want.shape[1] == E && cfg->context == 77, "embed %d, context %d", cfg->embed_dim, cfg->context);
  printf("text model: width %d, layers %d, heads %d, mlp %d, vocab %d, context %d, embed %d\n", cfg->width,
         cfg->layers, cfg->heads, cfg->mlp_dim, cfg->vocab, cfg->context, cfg->embed_dim);

  float *got = calloc((size_t)n * E, sizeof(float)), *ref = calloc((size_t)n * E, sizeof(float));
  tc_context *ctx = tc_test_context(TC_FAMILY_AUTO);
  tc_text_encoder *te = NULL;
  tc_text_encoder_options opts;
  tc_text_encoder_options_init(&opts);
  opts.max_batch = 4;
  if (TC_CHECK_OK(tc_text_encoder_create(ctx, model, &opts, &te, &err), &err) &&
      TC_CHECK_OK(tc_text_encoder_run(te, ids, n, context, got, &err), &err))
    tc_test_check_rows("device vs PyTorch", got, want.data, n, E);
  if (TC_CHECK_OK(tc_ref_text_encoder_run(model, TC_WEIGHTS_AS_STORED, ids, n, context, ref, &err), &err))
    tc_test_check_rows("reference vs PyTorch", ref, want.data, n, E);
  tc_text_encoder_destroy(te);
  te = NULL;

  /* fp16 weights: device vs the reference with the same rounding */
  opts.weights = TC_WEIGHTS_F16;
  opts.max_batch = 0;
  if (TC_CHECK_OK(tc_text_encoder_create(ctx, model, &opts, &te, &err), &err) &&
      TC_CHECK_OK(tc_text_encoder_run(te, ids, n, context, got, &err), &err) &&
      TC_CHECK_OK(tc_ref_text_encoder_run(model, TC_WEIGHTS_F16, ids, n, context, ref, &err), &err))
    tc_test_check_rows("fp16 weights: device vs reference", got, ref, n, E);

  /* errors: an id outside the vocabulary, a context beyond the model's */
  int32_t bad[77] = { 0 };
  bad[0] = cfg->vocab;
  tc_error e2 = { 0 };
  TC_CHECK(tc_text_encoder_run(te, bad, 1, 77, got, &e2) == TC_ERR_INVALID_ARGUMENT &&
             strstr(e2.message, "outside the text model's vocabulary"),
           "id out of range: %s", e2.message);
  tc_error_clear(&e2);
  TC_CHECK(tc_text_encoder_run(te, bad, 1, 78, got, &e2) == TC_ERR_INVALID_ARGUMENT, "context 78: %s", e2.message);
  tc_text_encoder_destroy(te);

  tc_clip_text_close(model);
  free(got), free(ref), free(ids);
  tc_npy_free(&ids_f), tc_npy_free(&want);
  return tc_test_finish(ctx);
}
