/* Head files: the textual subspaces of a TokenCLIP head, and optionally
 * defaults for the analysis parameters, in a safetensors file.
 *
 *   subspaces   [Q, 2, D]  F32, F16 or BF16; [q, 0] normal, [q, 1] abnormal
 *   <name>      one element: the default of the tc_params field of that name,
 *               for the fields the parameter table marks TC_PARAM_IN_HEAD_FILE
 *               (input_size, vv_start, pos_interp, resample, global_ln_post,
 *               temperature, sinkhorn_eps, sinkhorn_iters, topk, image_blend,
 *               sigma: tools/export/HEAD_DEFAULTS.md)
 *   feature_layers  [n], 1 <= n <= TC_MAX_FEATURE_LAYERS: a list default
 * Defaults may be stored as F32/F16/BF16 (whole-valued where the field is)
 * or I32/I64; one-element ones with shape [] or [1]. Other tensors are
 * ignored. Include as "head/tc_head_file.h". */
#ifndef TC_HEAD_FILE_H
#define TC_HEAD_FILE_H

#include <stdint.h>

#include "tc_head.h"
#include "tc_params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tc_head_file {
  uint32_t Q, D;
  float *subspaces; /* [Q, 2, D] fp32, as stored (tc_head_create normalises); owned */
} tc_head_file;

/* Reads path into *out. expected_dim is the encoder's embedding dimension
 * (0 accepts any). When defaults is not NULL, it becomes the file's
 * defaults: tc_params_init's values with the fields the file holds written
 * and set. Errors (messages name the file and the tensor): unreadable or
 * malformed file (TC_ERR_IO, TC_ERR_FORMAT), no `subspaces` or Q = 0
 * (TC_ERR_FORMAT), a wrong shape or a D other than expected_dim
 * (TC_ERR_MISMATCH), NaN/Inf or a zero-norm subspace vector
 * (TC_ERR_NUMERIC), a default out of its range, such as topk > Q, or a
 * feature_layers list not increasing (TC_ERR_FORMAT, naming the tensor);
 * then *defaults is untouched. What depends on the model (layers beyond
 * its depth, a size not a multiple of its patch) is the detector's check. */
tc_status tc_head_file_load(const char *path, uint32_t expected_dim, tc_head_file *out, tc_params *defaults,
                            tc_error *err);
void tc_head_file_free(tc_head_file *f);

/* Writes a head file: subspaces [Q, 2, D] as F32 (or F16 when half is set)
 * and, when defaults is not NULL, the fields set in it that head files hold. */
tc_status tc_head_file_write(const char *path, const float *subspaces, uint32_t Q, uint32_t D, int half,
                             const tc_params *defaults, tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
