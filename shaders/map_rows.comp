#version 450
#extension GL_GOOGLE_include_directive : require
// Anomaly map, pass 1: every row of the score grid resampled to the frame's
// width (bilinear upsampling and the horizontal blur, as one table), a group
// of four adjacent columns per invocation, stored as one texel for passes 2
// and 4. rows[i][x] = sum_j w[x][j] * scores[offset + i * grid_w + j]
#define TC_KERNEL_MAP_ROWS
#include "abi/map.h"
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(std430, binding = MAP_ROWS_BIND_SCORES) readonly buffer Scores { float scores[]; };
layout(binding = MAP_ROWS_BIND_TABLE) uniform samplerBuffer table; // see tc_resample_upload
layout(std430, binding = MAP_ROWS_BIND_ROWS) writeonly buffer Rows { vec4 rows[]; }; // [grid_h][width4]

void main()
{
  uint group = gl_GlobalInvocationID.x, i = gl_GlobalInvocationID.y;
  if (group >= p.width4 || i >= p.grid_h)
    return;
  int rec = int(group * p.record);
  uint first = uint(texelFetch(table, rec).x), row = p.offset + i * p.grid_w, last = p.grid_w - 1u;
  vec4 acc = vec4(0.0);
  for (uint u = 1; u < p.record; u++)
    acc += texelFetch(table, rec + int(u)) * scores[row + min(first + u - 1u, last)]; // past the end: weight 0
  rows[i * p.width4 + group] = acc;
}
