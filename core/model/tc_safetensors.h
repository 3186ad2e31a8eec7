/* safetensors files: memory-mapped, header parsed and checked once.
 *
 * Format: 8-byte little-endian header length, a JSON header mapping tensor
 * names to {"dtype", "shape", "data_offsets": [begin, end]} (plus an optional
 * "__metadata__" object of strings), then the raw data. Every offset is
 * checked against the file size before any tensor is handed out, so nothing
 * is ever read past the end of a truncated file. */
#ifndef TC_SAFETENSORS_H
#define TC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "tc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tc_st_dtype {
  TC_ST_F32,
  TC_ST_F16,
  TC_ST_BF16,
  TC_ST_OTHER, /* present in the file but not a float type we convert (I64, U8, ...) */
} tc_st_dtype;

#define TC_ST_MAX_DIMS 8

typedef struct tc_st_tensor {
  const char *name;
  tc_st_dtype dtype;
  char dtype_name[8]; /* as written in the file: "F32", "BF16", "I64", ... */
  int ndim;
  int64_t shape[TC_ST_MAX_DIMS];
  size_t numel;
  const void *data; /* into the mapping; valid until tc_safetensors_close */
  size_t nbytes;
} tc_st_tensor;

typedef struct tc_safetensors tc_safetensors;

/* Maps the file and validates its header and every tensor's extent. Errors
 * name the file and, where one is at fault, the tensor. */
tc_status tc_safetensors_open(const char *path, tc_safetensors **out, tc_error *err);
void tc_safetensors_close(tc_safetensors *st);

const char *tc_safetensors_path(const tc_safetensors *st);
/* The whole byte buffer after the header (every tensor lies inside it), for
 * callers that upload all weights at once. */
const void *tc_safetensors_data(const tc_safetensors *st, size_t *size);
size_t tc_safetensors_count(const tc_safetensors *st);
const tc_st_tensor *tc_safetensors_at(const tc_safetensors *st, size_t i);
/* NULL when absent. */
const tc_st_tensor *tc_safetensors_find(const tc_safetensors *st, const char *name);
/* A value of "__metadata__", NULL when absent. */
const char *tc_safetensors_metadata(const tc_safetensors *st, const char *key);
/* All of "__metadata__", in file order: the key of entry i (NULL past the
 * end), its value in *value when value is not NULL. */
size_t tc_safetensors_metadata_count(const tc_safetensors *st);
const char *tc_safetensors_metadata_at(const tc_safetensors *st, size_t i, const char **value);

/* Finds name and checks its shape: ndim dimensions equal to shape[i], where
 * a negative shape[i] accepts any size. Missing tensor or wrong shape: an
 * error naming the file, the tensor, the shape found and the one expected. */
tc_status tc_safetensors_get(const tc_safetensors *st, const char *name, int ndim, const int64_t *shape,
                             const tc_st_tensor **out, tc_error *err);

/* Converts the tensor to fp32 into dst (numel floats). F32/F16/BF16 only. */
tc_status tc_st_tensor_to_f32(const tc_safetensors *st, const tc_st_tensor *t, float *dst, tc_error *err);
/* Converts the tensor to IEEE halves into dst (numel values), rounding to
 * nearest even; F16 is copied. A finite value too large for fp16 is an
 * error (TC_ERR_NUMERIC) naming the tensor, never a silent infinity. */
tc_status tc_st_tensor_to_f16(const tc_safetensors *st, const tc_st_tensor *t, uint16_t *dst, tc_error *err);

/* Writing, for tools and tests: tensors are fp32 (dtype TC_ST_F32), fp16
 * (TC_ST_F16, data as uint16_t halves) or bf16 (TC_ST_BF16, uint16_t) given
 * by name, shape and data, written in the order given. Names must be unique;
 * the header is padded so the data starts 8-byte aligned. A failed write
 * removes the partial file. */
typedef struct tc_st_write_tensor {
  const char *name;
  tc_st_dtype dtype;
  int ndim;
  int64_t shape[TC_ST_MAX_DIMS];
  const void *data;
} tc_st_write_tensor;
tc_status tc_safetensors_write(const char *path, const tc_st_write_tensor *tensors, size_t n,
                               const char *const *metadata_kv /* key, value, ..., NULL; may be NULL */,
                               tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
