#version 450
#extension GL_GOOGLE_include_directive : require
// Preprocess as PIL's 8-bit resize, pass 2 (ImagingResampleVertical_8bpc):
// the 8-bit columns of pass 1 resampled to the model's height as pass 1 does
// rows, then each byte v of channel c normalised by table lookup:
// out[c][y][x] = norm[c][v] = (v / 255 - mean[c]) / std[c], computed once on
// the host in double and rounded to float (so the output is exactly the
// reference's). An invocation makes four adjacent output rows of one column.
#define TC_KERNEL_PREPROCESS_PIL_COLS
#include "abi/preprocess.h"
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(std430, binding = PREPROCESS_PIL_COLS_BIND_ROWS) readonly buffer Rows { uint rows[]; }; // [frame height][size], as pass 1 wrote them
layout(binding = PREPROCESS_PIL_COLS_BIND_TABLE) uniform samplerBuffer table;                  // integer weights, as pass 1's
layout(std430, binding = PREPROCESS_PIL_COLS_BIND_NORM) readonly buffer Norm { float norm[]; }; // [3][256]
layout(std430, binding = PREPROCESS_PIL_COLS_BIND_OUT) writeonly buffer Out { float planes[]; }; // [3][size][size]

void main()
{
  uint x = gl_GlobalInvocationID.x, group = gl_GlobalInvocationID.y;
  if (x >= p.size || 4u * group >= p.size)
    return;
  int rec = int(group * p.record);
  uint first = uint(texelFetch(table, rec).x), last = p.height - 1u;
  ivec3 acc[4] = ivec3[4](ivec3(1 << 21), ivec3(1 << 21), ivec3(1 << 21), ivec3(1 << 21));
  for (uint u = 1; u < p.record; u++) {
    ivec4 w = ivec4(texelFetch(table, rec + int(u)));
    uint px = rows[min(first + u - 1u, last) * p.size + x]; // past the end: weight 0
    ivec3 v = ivec3(px & 0xffu, (px >> 8) & 0xffu, (px >> 16) & 0xffu);
    acc[0] += w.x * v;
    acc[1] += w.y * v;
    acc[2] += w.z * v;
    acc[3] += w.w * v;
  }
  uint plane = p.size * p.size, n_out = min(4u, p.size - 4u * group);
  for (uint c = 0; c < 4u; c++) { // a constant trip count: unrolled, acc stays in registers
    if (c >= n_out)
      break;
    uvec3 v = uvec3(clamp(acc[c] >> 22, 0, 255));
    uint i = (4u * group + c) * p.size + x;
    planes[i] = norm[v.x];
    planes[plane + i] = norm[256u + v.y];
    planes[2u * plane + i] = norm[512u + v.z];
  }
}
