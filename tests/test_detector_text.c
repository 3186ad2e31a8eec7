/* tc_detector with options.object: the subspaces from words equal those of
 * tc_prompt_subspaces (what tokenclip-prompts writes), and so do the token
 * scores of a frame; object together with a head file is refused; a
 * template file sets Q.
 *
 * usage: test_detector_text MODEL.safetensors (both towers: text_fixtures.py --with-vision) */
#include "detector/tc_detector.h"
#include "tc_test.h"
#include "text/tc_prompts.h"

static void random_frame(uint8_t *px, const tc_frame *f)
{
  for (size_t i = 0; i < tc_frame_bytes(f); i++)
    px[i] = (uint8_t)(tc_test_uniform(0, 256));
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL.safetensors\n", argv[0]);
    return 2;
  }
  const char *model = argv[1];
  tc_context *probe = tc_test_context(TC_FAMILY_AUTO); /* skips or fails without a device */
  tc_error err = { 0 };
  float *T = NULL;
  uint32_t Q = 0, D = 0;
  if (!TC_CHECK_OK(tc_prompt_subspaces(model, "metal nut", NULL, NULL, NULL, &T, &Q, &D, &err), &err))
    return tc_test_finish(probe);

  tc_detector_options o;
  tc_detector_options_init(&o);
  tc_params_set(&o.params, TC_PARAM_PRECISION, TC_PRECISION_FP32, NULL); /* fp32 references: auto is fp16 on GPUs */
  o.model_path = model;
  o.object = "metal nut";
  tc_detector *words = NULL, *given = NULL;
  TC_CHECK_OK(tc_detector_create(&o, &words, &err), &err);
  o.object = NULL;
  o.subspaces = T;
  o.n_subspaces = Q;
  TC_CHECK_OK(tc_detector_create(&o, &given, &err), &err);
  if (words && given) {
    TC_CHECK(tc_detector_subspaces(words) == 35 && Q == 35, "Q %u and %u, want 35", tc_detector_subspaces(words), Q);
    const tc_frame f = tc_frame_make(TC_FRAME_RGBA, 40, 30);
    uint8_t *px = malloc(tc_frame_bytes(&f));
    tc_test_seed(11);
    random_frame(px, &f);
    tc_analysis a, b;
    if (TC_CHECK_OK(tc_detector_set_frame(words, &f, &err), &err) &&
        TC_CHECK_OK(tc_detector_set_frame(given, &f, &err), &err) &&
        TC_CHECK_OK(tc_detector_analyse(words, px, f.stride, 0, &a, &err), &err) &&
        TC_CHECK_OK(tc_detector_analyse(given, px, f.stride, 0, &b, &err), &err)) {
      TC_CHECK(a.grid == b.grid && memcmp(a.scores, b.scores, (size_t)a.grid * a.grid * sizeof(float)) == 0,
               "token scores differ between object= and the same subspaces given");
      TC_CHECK(a.image_score == b.image_score, "image score %g vs %g", a.image_score, b.image_score);
      printf("ok object=\"metal nut\": Q %u, %u x %u token scores equal to the given subspaces', image score %.6f\n",
             tc_detector_subspaces(words), a.grid, a.grid, a.image_score);
    }
    free(px);
  }
  tc_detector_destroy(words);
  tc_detector_destroy(given);

  /* object and subspaces together: refused with a message */
  tc_detector *bad = NULL;
  tc_error e2 = { 0 };
  o.object = "screw";
  TC_CHECK(tc_detector_create(&o, &bad, &e2) == TC_ERR_INVALID_ARGUMENT && strstr(e2.message, "only one"),
           "object + subspaces: %s", e2.message);
  tc_detector_destroy(bad);

  /* a template file: Q = its templates */
  char path[] = "/tmp/tc-templates-XXXXXX";
  int fd = mkstemp(path);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  TC_CHECK(f != NULL, "mkstemp %s", path);
  if (f) {
    fputs("# two templates\na photo of a {}.\n\na close-up of the {}\n", f);
    fclose(f);
    o.subspaces = NULL;
    o.n_subspaces = 0;
    o.prompts_path = path;
    tc_detector *two = NULL;
    if (TC_CHECK_OK(tc_detector_create(&o, &two, &err), &err))
      TC_CHECK(tc_detector_subspaces(two) == 2, "Q %u from a file of 2 templates", tc_detector_subspaces(two));
    tc_detector_destroy(two);
    remove(path);
  }
  free(T);
  return tc_test_finish(probe);
}
