/* Tiny test harness shared by the C tests of the core (tc_check.h, plus the
 * device).
 *
 * - tc_test_context() opens the Vulkan device with validation on. When no
 *   device exists the test skips (exit 77) on a developer's machine and FAILS
 *   under CI=true.
 * - tc_test_finish() fails the test if the validation layer said anything. */
#ifndef TC_TEST_H
#define TC_TEST_H

#include "tc_check.h"
#include "tc_vk.h"
#include "image/tc_frame.h"

#define TC_SKIP 77

/* Opens the test device with validation on (family TC_FAMILY_AUTO honours
 * TOKENCLIP_KERNELS). Exits with 77 or 1 when there is no device (see above). */
tc_context *tc_test_context(tc_kernel_family family);
/* The same with tc_context_options.cooperative_matrix (-1: TOKENCLIP_COOPMAT). */
tc_context *tc_test_context_coopmat(tc_kernel_family family, int cooperative_matrix);

/* Destroys ctx (may be NULL), checks validation was silent, prints a summary,
 * returns the exit status. */
int tc_test_finish(tc_context *ctx);

/* The model input (3 x size x size floats, malloc'd) of a frame's pixels,
 * preprocessed on the device; NULL on failure, reported as a failed check. */
float *tc_test_preprocess(tc_context *ctx, const tc_frame *f, const uint8_t *px, uint32_t size,
                          tc_resample_filter filter);

#endif
