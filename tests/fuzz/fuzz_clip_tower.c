/* The CLIP loaders: tower discovery, naming schemes, configuration from the
 * shapes, metadata (activation, heads), for the vision and the text tower. */
#include <stdlib.h>

#include "fuzz_util.h"
#include "tc_clip_text.h"
#include "tc_clip_vision.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *path = fuzz_file("clip.safetensors", data, size);
  tc_clip_vision *cv = NULL;
  if (tc_clip_vision_open(path, NULL, &cv, NULL) == TC_OK) {
    const tc_clip_vision_config *c = tc_clip_vision_get_config(cv);
    if (c->width <= 0 || c->heads <= 0 || c->width % c->heads || c->layers <= 0 || c->grid <= 0)
      __builtin_trap();
    tc_clip_vision_close(cv);
  }
  tc_clip_text *ct = NULL;
  if (tc_clip_text_open(path, NULL, &ct, NULL) == TC_OK) {
    const tc_clip_text_config *c = tc_clip_text_get_config(ct);
    if (c->width <= 0 || c->heads <= 0 || c->width % c->heads || c->layers <= 0 || c->context < 2)
      __builtin_trap();
    int32_t ids[2] = { 0, c->vocab - 1 };
    float *rows = malloc(2 * (size_t)c->width * sizeof *rows);
    if (rows && (size_t)c->width * 2 < (1u << 20))
      tc_clip_text_token_rows(ct, ids, 2, rows, NULL);
    free(rows);
    tc_clip_text_close(ct);
  }
  return 0;
}
