/* Tiny test harness shared by the C tests.
 *
 * - tc_test_context() opens the Vulkan device with validation on. When no
 *   device exists the test skips (exit 77) on a developer's machine and FAILS
 *   under CI=true.
 * - tc_test_finish() fails the test if the validation layer said anything.
 * - TC_CHECK(cond, ...) records a failure and keeps going; the exit status
 *   reports them all. */
#ifndef TC_TEST_H
#define TC_TEST_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tc_vk.h"

#define TC_SKIP 77

extern int tc_test_failures;

#define TC_CHECK(cond, ...)                                                 \
  do {                                                                      \
    if (!(cond)) {                                                          \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);       \
      fprintf(stderr, __VA_ARGS__);                                         \
      fputc('\n', stderr);                                                  \
      tc_test_failures++;                                                   \
    }                                                                       \
  } while (0)

/* Checks a status, printing the error message on failure; evaluates to st == TC_OK. */
#define TC_CHECK_OK(expr, err) tc_test_check_ok((expr), (err), #expr, __FILE__, __LINE__)
bool tc_test_check_ok(tc_status st, tc_error *err, const char *what, const char *file, int line);

/* Opens the test device with validation on (family TC_FAMILY_AUTO honours
 * TOKENCLIP_KERNELS). Exits with 77 or 1 when there is no device (see above). */
tc_context *tc_test_context(tc_kernel_family family);
/* The same with tc_context_options.cooperative_matrix (-1: TOKENCLIP_COOPMAT). */
tc_context *tc_test_context_coopmat(tc_kernel_family family, int cooperative_matrix);

/* Destroys ctx, checks validation was silent, prints a summary, returns the exit status. */
int tc_test_finish(tc_context *ctx);

/* Deterministic uniform random numbers in [lo, hi). */
void tc_test_seed(uint64_t seed);
float tc_test_uniform(float lo, float hi);
void tc_test_fill(float *x, size_t n, float lo, float hi);

/* Compares got with want elementwise: |got - want| <= atol + rtol * |want|.
 * Prints the worst element and returns true when all pass. NaN never passes. */
bool tc_test_close(const char *what, const float *got, const float *want, size_t n, double atol, double rtol);

#endif
