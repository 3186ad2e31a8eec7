/* The closeness test_encoder and test_text_encoder ask of an encoder's
 * output rows (image tokens, text embeddings): both compare fp32 results
 * with a float64 PyTorch fixture or with the C reference, whose rows have
 * the scale of their norm, so they share the tolerance and the report. */
#ifndef TC_TEST_ROWS_H
#define TC_TEST_ROWS_H

#include <stddef.h>

/* sqrt(sum (got - want)^2 / sum want^2) over n values. */
double tc_test_rel_l2(const float *got, const float *want, size_t n);

/* Every value within 1e-4 of its row's largest magnitude (+ 1e-4 relative)
 * and the whole [rows, cols] within 2e-5 relative L2 error; a failure is a
 * TC_CHECK naming the worst element. Prints an "ok"/"FAIL" line for what. */
void tc_test_check_rows(const char *what, const float *got, const float *want, size_t rows, size_t cols);

#endif
