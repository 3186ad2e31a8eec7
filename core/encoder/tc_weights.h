/* A CLIP tower's tensors on the device, in the layouts the kernels want
 * (internal; shared by the image and the text encoder and their blocks).
 *
 * Vectors (biases, layer norms, embeddings) are fp32. A matrix that is a
 * matmul's w [N, K] is kept in fp32 or fp16 as the weight precision says
 * (tc_clip_tower_matrix_dtype, which the references follow too) and laid
 * out in 16-row panels where the context's kernels for inner size K read
 * panels (tc_matmul_panels_wanted: the CPU family), else row-major as
 * PyTorch stores it. The conversion from the mapped file writes straight
 * into the device mapping where there is one. */
#ifndef TC_WEIGHTS_H
#define TC_WEIGHTS_H

#include "tc_clip_tower.h"
#include "tc_ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A matmul's w on the device. */
typedef struct tc_weight {
  tc_buffer *buf;
  tc_dtype dtype;
  int panels; /* laid out by tc_matmul_pack_panels: pass as tc_matmul.w_panels */
} tc_weight;

/* The role of one layer (globals: layer 0) as a matmul weight. */
tc_status tc_weight_upload_matrix(tc_context *ctx, const tc_clip_tower *tw, int role, int layer,
                                  tc_weight_precision wp, tc_weight *out, tc_error *err);
/* The role of one layer as fp32 values. */
tc_status tc_weight_upload_vector(tc_context *ctx, const tc_clip_tower *tw, int role, int layer, tc_buffer **out,
                                  tc_error *err);
/* Destroys the buffer; a zeroed tc_weight is fine. */
void tc_weight_release(tc_weight *w);

/* Whether wp is one of tc_weight_precision's values; the message names it. */
tc_status tc_weight_precision_check(tc_weight_precision wp, tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
