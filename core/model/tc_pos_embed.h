/* Resizing a ViT's positional embedding grid to another input size.
 *
 * A CLIP positional embedding is [1 + H*W, D]: the class token's row, then
 * one row per patch, row-major over (y, x). Only the grid part is resized;
 * the class row is copied. Each mode reproduces one PyTorch call on the
 * grid seen as a [1, D, H, W] image (plain C, double accumulation):
 *
 *   TC_INTERP_BICUBIC     F.interpolate(mode='bicubic', align_corners=False)
 *                         (cubic convolution with A = -0.75, edges clamped):
 *                         open_clip's resize_pos_embed before antialias was
 *                         added, timm without antialias.
 *   TC_INTERP_BICUBIC_AA  the same with antialias=True, open_clip's current
 *                         default: PIL-style cubic with A = -0.5, weights
 *                         normalised over the taps inside the grid, and the
 *                         kernel widened by the scale when shrinking.
 *   TC_INTERP_BILINEAR    F.interpolate(mode='bilinear', align_corners=False)
 *                         (align_corners left at its default None, which is
 *                         False): AnomalyCLIP's VisionTransformer.forward.
 *
 * Equal sizes copy the input unchanged in every mode. */
#ifndef TC_POS_EMBED_H
#define TC_POS_EMBED_H

#include <stddef.h>

#include "tc_common.h"
#include "tc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "bicubic", "bicubic-aa", "bilinear". */
const char *tc_interp_name(tc_interp mode);
/* Parses a name above; returns -1 when unknown. */
int tc_interp_from_name(const char *name);

/* Resizes a grid of embeddings: src [src_h * src_w, dim] -> dst [dst_h *
 * dst_w, dim], both row-major over (y, x). src and dst must not overlap. */
tc_status tc_pos_embed_resize_grid(const float *src, int src_h, int src_w, float *dst, int dst_h, int dst_w,
                                   size_t dim, tc_interp mode, tc_error *err);

/* The whole positional embedding: src [1 + src_h*src_w, dim] -> dst
 * [1 + dst_h*dst_w, dim]; row 0 (the class token) is copied. */
tc_status tc_pos_embed_resize(const float *src, int src_h, int src_w, float *dst, int dst_h, int dst_w, size_t dim,
                              tc_interp mode, tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
