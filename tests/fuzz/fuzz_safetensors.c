/* The safetensors reader: header, metadata, tensor extents, conversions. */
#include <stdlib.h>

#include "fuzz_util.h"
#include "tc_safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  tc_safetensors *st = NULL;
  if (tc_safetensors_open(fuzz_file("model.safetensors", data, size), &st, NULL) != TC_OK)
    return 0;
  const char *value;
  for (size_t i = 0; tc_safetensors_metadata_at(st, i, &value); i++)
    (void)value;
  for (size_t i = 0; tc_safetensors_at(st, i); i++) {
    const tc_st_tensor *t = tc_safetensors_at(st, i);
    if (tc_safetensors_find(st, t->name) != t)
      __builtin_trap();
    if (t->dtype == TC_ST_OTHER || t->numel > (1u << 16))
      continue;
    float *f = malloc(t->numel * sizeof *f + 1);
    uint16_t *h = malloc(t->numel * sizeof *h + 1);
    if (f && h) {
      tc_st_tensor_to_f32(st, t, f, NULL);
      tc_st_tensor_to_f16(st, t, h, NULL);
    }
    free(f);
    free(h);
  }
  tc_safetensors_close(st);
  return 0;
}
