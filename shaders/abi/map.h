/* The map's passes: map_rows, map_cols, map_range and map_colour once per
 * map, then map_blend or map_blend_yuv for every frame (core/map/tc_map.c) */
#ifndef TC_ABI_MAP_H
#define TC_ABI_MAP_H
#include "tc_abi.h"

#define MAP_ROWS_BIND_SCORES 0
#define MAP_ROWS_BIND_TABLE 1 /* texels */
#define MAP_ROWS_BIND_ROWS 2
#define MAP_ROWS_BINDINGS 3

#define MAP_COLS_BIND_ROWS 0  /* texels */
#define MAP_COLS_BIND_TABLE 1 /* texels */
#define MAP_COLS_BIND_PARTIAL 2
#define MAP_COLS_BIND_MAP 3
#define MAP_COLS_BINDINGS 4

#define MAP_RANGE_BIND_PARTIAL 0
#define MAP_RANGE_BIND_RANGE 1
#define MAP_RANGE_BINDINGS 2

#define MAP_COLOUR_BIND_ROWS 0  /* texels */
#define MAP_COLOUR_BIND_TABLE 1 /* texels */
#define MAP_COLOUR_BIND_RANGE 2
#define MAP_COLOUR_BIND_LUT 3 /* 256 packed colours */
#define MAP_COLOUR_BIND_LAYER 4
#define MAP_COLOUR_BINDINGS 5

/* map_blend and map_blend_yuv */
#define MAP_BLEND_BIND_LAYER 0
#define MAP_BLEND_BIND_FRAME 1
#define MAP_BLEND_BINDINGS 2
#define MAP_BLEND_SPEC_ALIGNED 1 /* stride a multiple of 16 bytes: rows start on a uvec4 */
#define MAP_BLEND_YUV_SPEC_FORMAT 1  /* tc_frame_format: NV12, I420, YUY2 */
#define MAP_BLEND_YUV_SPEC_ALIGNED 2 /* stride a multiple of 4: whole words a block, no atomics */

#if !defined(VULKAN) || defined(TC_KERNEL_MAP_ROWS)
TC_PUSH_BEGIN(tc_map_rows_push)
  TC_PUSH_U32 offset, grid_w, grid_h, width4, record;
TC_PUSH_END(tc_map_rows_push, 20)
#endif

#if !defined(VULKAN) || defined(TC_KERNEL_MAP_COLS)
TC_PUSH_BEGIN(tc_map_cols_push)
  TC_PUSH_U32 width, width4, height, grid_h, record, store_map;
TC_PUSH_END(tc_map_cols_push, 24)
#endif

#if !defined(VULKAN) || defined(TC_KERNEL_MAP_RANGE)
TC_PUSH_BEGIN(tc_map_range_push)
  TC_PUSH_U32 n; /* partial (min, max) pairs */
TC_PUSH_END(tc_map_range_push, 4)
#endif

#if !defined(VULKAN) || defined(TC_KERNEL_MAP_COLOUR)
TC_PUSH_BEGIN(tc_map_colour_push)
  TC_PUSH_U32 width, width4, height, grid_h, record, use_range;
  TC_PUSH_F32 lo, hi, threshold;
TC_PUSH_END(tc_map_colour_push, 36)
#endif

#if !defined(VULKAN) || defined(TC_KERNEL_MAP_BLEND)
TC_PUSH_BEGIN(tc_map_blend_push)
  TC_PUSH_U32 width4, height, stride_px;
  TC_PUSH_F32 alpha;
TC_PUSH_END(tc_map_blend_push, 16)
#endif

#if !defined(VULKAN) || defined(TC_KERNEL_MAP_BLEND_YUV)
TC_PUSH_BEGIN(tc_map_blend_yuv_push)
  TC_PUSH_U32 width, width4, height, stride; /* stride: bytes, of the Y plane */
  TC_PUSH_F32 alpha;
TC_PUSH_END(tc_map_blend_yuv_push, 20)
#endif

#endif
