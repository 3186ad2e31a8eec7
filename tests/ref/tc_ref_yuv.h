/* Plain-C reference of the YUV reads of frame.glsl (preprocess_rows,
 * preprocess_pil_rows): a YUV frame (NV12, I420, YUY2 in tc_frame.h's layout)
 * -> packed RGBA, the same float expression, rounded half up and clamped,
 * chroma from the sample covering the pixel. */
#ifndef TC_REF_YUV_H
#define TC_REF_YUV_H

#include <stdint.h>

#include "image/tc_frame.h"

/* rgba: 4 * width * height bytes, alpha 255. */
void tc_ref_yuv_to_rgba(const tc_frame *frame, const uint8_t *yuv, uint8_t *rgba);

#endif
