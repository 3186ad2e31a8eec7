/* The head-file loader with its parameter defaults (core/tc_params.c's
 * table), and a write/read round trip of whatever it accepts. */
#include <stdio.h>
#include <string.h>

#include "fuzz_util.h"
#include "tc_head_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  tc_head_file hf = { 0 }, again = { 0 };
  tc_params defaults, reread;
  if (tc_head_file_load(fuzz_file("head.safetensors", data, size), 0, &hf, &defaults, NULL) != TC_OK)
    return 0;
  char path[256];
  snprintf(path, sizeof path, "%s/written.safetensors", fuzz_dir());
  tc_error err = { 0 };
  if (tc_head_file_write(path, hf.subspaces, hf.Q, hf.D, 0, &defaults, &err) != TC_OK)
    __builtin_trap(); /* what was read can be written */
  if (tc_head_file_load(path, hf.D, &again, &reread, &err) != TC_OK || again.Q != hf.Q ||
      memcmp(again.subspaces, hf.subspaces, (size_t)hf.Q * 2 * hf.D * sizeof *hf.subspaces) != 0 ||
      tc_params_diff(&defaults, &reread) != 0)
    __builtin_trap(); /* and reads back the same */
  remove(path);
  tc_head_file_free(&again);
  tc_head_file_free(&hf);
  return 0;
}
