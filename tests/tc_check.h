/* The checks every test shares, with no device and no library internals: the
 * element test links it with the installed library's public API only.
 *
 * - TC_CHECK(cond, ...) records a failure and keeps going; tc_check_finish()
 *   prints a summary and gives the exit status.
 * - Deterministic random numbers, and an elementwise closeness check. */
#ifndef TC_CHECK_H
#define TC_CHECK_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenclip/tokenclip.h"

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

/* Prints a summary; returns the exit status (1 after any failed check). */
int tc_check_finish(void);

/* Deterministic uniform random numbers in [lo, hi). */
void tc_test_seed(uint64_t seed);
float tc_test_uniform(float lo, float hi);
void tc_test_fill(float *x, size_t n, float lo, float hi);

/* Compares got with want elementwise: |got - want| <= atol + rtol * |want|.
 * Prints the worst element and returns true when all pass. NaN never passes. */
bool tc_test_close(const char *what, const float *got, const float *want, size_t n, double atol, double rtol);

#endif
