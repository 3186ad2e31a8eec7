/* Plain-C reference of the YUV reads of frame.glsl (preprocess_rows,
 * preprocess_pil_rows): a YUV frame (NV12, I420, YUY2 in tc_frame.h's layout)
 * -> packed RGBA, the same float expression, rounded half up and clamped,
 * chroma from the sample covering the pixel. */
#ifndef TC_REF_YUV_H
#define TC_REF_YUV_H

#include <stddef.h>
#include <stdint.h>

#include "image/tc_frame.h"

/* Byte offsets of chroma sample (cx, cy) of a YUV frame (planes from
 * tc_frame_planes): the U and the V of the pixels 2cx, 2cx + 1 of row cy
 * (YUY2) or of rows 2cy, 2cy + 1 (NV12, I420). */
void tc_ref_yuv_chroma_offsets(const tc_frame *frame, const tc_frame_plane planes[3], uint32_t cx, uint32_t cy,
                               size_t *u, size_t *v);

/* rgba: 4 * width * height bytes, alpha 255. */
void tc_ref_yuv_to_rgba(const tc_frame *frame, const uint8_t *yuv, uint8_t *rgba);

#endif
