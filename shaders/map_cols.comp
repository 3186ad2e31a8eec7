#version 450
#extension GL_GOOGLE_include_directive : require
// Anomaly map, pass 2: the columns of pass 1 resampled to the frame's height
// (upsampling and vertical blur as one table): the smoothed map at full
// resolution. Only its min and max are kept, per four columns and block of
// 16 rows (map_range reduces them), and the map itself when asked:
// map_colour recomputes the values, cheaper than storing and reloading them.
// An invocation makes four columns (one texel of pass 1) by 16 rows, as four
// groups of four rows: a texel of pass 1 and one of weights serve 16 pixels.
#define TC_KERNEL_MAP_COLS
#include "abi/map.h"
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(binding = MAP_COLS_BIND_ROWS) uniform samplerBuffer rows;  // [grid_h][width4], four columns a texel
layout(binding = MAP_COLS_BIND_TABLE) uniform samplerBuffer table; // groups of four rows, see tc_resample_upload
layout(std430, binding = MAP_COLS_BIND_PARTIAL) writeonly buffer Partial { vec2 partial[]; }; // [blocks][width4] (min, max)
layout(std430, binding = MAP_COLS_BIND_MAP) writeonly buffer Map { float map[]; };        // [height][width], when store_map

#include "map_taps.glsl"

void main()
{
  uint x4 = gl_GlobalInvocationID.x, block = gl_GlobalInvocationID.y;
  if (x4 >= p.width4)
    return;
  uint n_cols = min(4u, p.width - 4u * x4);
  float lo = uintBitsToFloat(0x7f800000u), hi = -lo; // +inf, -inf
  for (uint group = 4u * block; group < 4u * block + 4u && 4u * group < p.height; group++) {
    mat4 v = map_taps(group, x4);
    uint n_rows = min(4u, p.height - 4u * group);
    for (uint r = 0; r < 4u; r++) // constant trip counts: unrolled, v stays in registers
      for (uint c = 0; c < 4u; c++) {
        if (r >= n_rows || c >= n_cols)
          continue;
        lo = min(lo, v[r][c]);
        hi = max(hi, v[r][c]);
        if (p.store_map != 0u)
          map[(4u * group + r) * p.width + 4u * x4 + c] = v[r][c];
      }
  }
  partial[block * p.width4 + x4] = vec2(lo, hi);
}
