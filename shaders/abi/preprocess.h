/* Frame -> model input in two passes (core/image/tc_preprocess.c):
 * preprocess_rows / preprocess_pil_rows, then preprocess_cols /
 * preprocess_pil_cols */
#ifndef TC_ABI_PREPROCESS_H
#define TC_ABI_PREPROCESS_H
#include "tc_abi.h"

#define PREPROCESS_ROWS_BIND_FRAME 0
#define PREPROCESS_ROWS_BIND_TABLE 1 /* texels */
#define PREPROCESS_ROWS_BIND_ROWS 2
#define PREPROCESS_ROWS_BINDINGS 3
#define PREPROCESS_SPEC_FRAME_FORMAT 1 /* tc_frame_format (frame.glsl) */
#define PREPROCESS_SPEC_YUV_MATRIX 2   /* tc_yuv_matrix (frame.glsl) */
#define PREPROCESS_SPEC_YUV_FULL 3     /* tc_frame.full_range (frame.glsl) */

#define PREPROCESS_COLS_BIND_ROWS 0  /* texels */
#define PREPROCESS_COLS_BIND_TABLE 1 /* texels */
#define PREPROCESS_COLS_BIND_OUT 2
#define PREPROCESS_COLS_BINDINGS 3

#define PREPROCESS_PIL_COLS_BIND_ROWS 0
#define PREPROCESS_PIL_COLS_BIND_TABLE 1 /* texels */
#define PREPROCESS_PIL_COLS_BIND_NORM 2
#define PREPROCESS_PIL_COLS_BIND_OUT 3
#define PREPROCESS_PIL_COLS_BINDINGS 4

#if !defined(VULKAN) || defined(TC_KERNEL_PREPROCESS_ROWS)
TC_PUSH_BEGIN(tc_preprocess_rows_push)
  TC_PUSH_U32 stride, width, height, out_w; /* stride: bytes (frame.glsl) */
  TC_PUSH_U32 record; /* texels per group record: 1 + span */
TC_PUSH_END(tc_preprocess_rows_push, 20)
#endif

#if !defined(VULKAN) || defined(TC_KERNEL_PREPROCESS_COLS)
TC_PUSH_BEGIN(tc_preprocess_cols_push)
  TC_PUSH_U32 size, height, record;
  TC_PUSH_F32 scale_r, scale_g, scale_b, bias_r, bias_g, bias_b;
TC_PUSH_END(tc_preprocess_cols_push, 36)
#endif

#if !defined(VULKAN) || defined(TC_KERNEL_PREPROCESS_PIL_COLS)
TC_PUSH_BEGIN(tc_preprocess_pil_cols_push)
  TC_PUSH_U32 size, height, record;
TC_PUSH_END(tc_preprocess_pil_cols_push, 12)
#endif

#endif
