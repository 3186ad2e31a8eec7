/* .npy arrays (NumPy's format) as float32, for the tools and the tests.
 *
 * Reads C-order little-endian float arrays: '<f4' as is, '<f2' and '<f8'
 * converted to float32 (f8 values beyond float32's range become infinity).
 * Format versions 1.0, 2.0 and 3.0 are read; 1.0 is written when the header
 * fits, else 2.0. Anything else (Fortran order, big-endian, integers,
 * objects) is refused with a message naming the file and what was found.
 */
#ifndef TC_NPY_H
#define TC_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "tc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TC_NPY_MAX_DIMS 8

typedef struct tc_npy {
  int ndim; /* 0 for a scalar */
  int64_t shape[TC_NPY_MAX_DIMS];
  size_t numel;
  float *data; /* numel floats, row-major; owned, release with tc_npy_free */
  char descr[8]; /* the stored type: "<f4", "<f2" or "<f8" */
} tc_npy;

/* Reads path into *out (zeroed on failure). */
tc_status tc_npy_read(const char *path, tc_npy *out, tc_error *err);
void tc_npy_free(tc_npy *a);

/* Writes a float32 array of ndim dimensions (0..TC_NPY_MAX_DIMS) as '<f4'. */
tc_status tc_npy_write(const char *path, const float *data, int ndim, const int64_t *shape, tc_error *err);

/* Checks a read array's shape: ndim dimensions equal to shape[i], a negative
 * shape[i] accepting any size; the error names path and both shapes. */
tc_status tc_npy_check_shape(const tc_npy *a, const char *path, int ndim, const int64_t *shape, tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
