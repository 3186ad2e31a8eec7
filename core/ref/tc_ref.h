/* Plain-C references of every kernel: straightforward loops, double
 * accumulation where it matters, no tricks. The tests compare the Vulkan
 * kernels against these, and tests/fixtures compares these against PyTorch. */
#ifndef TC_REF_H
#define TC_REF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void tc_ref_add(const float *a, const float *b, float *y, size_t n);

#ifdef __cplusplus
}
#endif

#endif
