/* The .npy reader of the tools. */
#include "fuzz_util.h"
#include "tc_npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  tc_npy a;
  if (tc_npy_read(fuzz_file("array.npy", data, size), &a, NULL) == TC_OK) {
    volatile float sum = 0;
    for (size_t i = 0; i < a.numel; i++)
      sum += a.data[i];
    tc_npy_free(&a);
  }
  return 0;
}
