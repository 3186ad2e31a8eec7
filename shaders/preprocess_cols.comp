#version 450
#extension GL_GOOGLE_include_directive : require
// Preprocess, pass 2: the columns of pass 1 resampled to the model's height,
// then CLIP-normalised into planes: out[c][y][x] = v * scale[c] + bias[c]
// with scale = 1 / (255 std), bias = -mean / std. An invocation makes a
// group of four adjacent output rows of one column (table as in pass 1).
#define TC_KERNEL_PREPROCESS_COLS
#include "abi/preprocess.h"
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(binding = PREPROCESS_COLS_BIND_ROWS) uniform samplerBuffer rows; // [frame height][size], RGB + unused
layout(binding = PREPROCESS_COLS_BIND_TABLE) uniform samplerBuffer table;
layout(std430, binding = PREPROCESS_COLS_BIND_OUT) writeonly buffer Out { float planes[]; }; // [3][size][size]

void main()
{
  uint x = gl_GlobalInvocationID.x, group = gl_GlobalInvocationID.y;
  if (x >= p.size || 4u * group >= p.size)
    return;
  int rec = int(group * p.record);
  uint first = uint(texelFetch(table, rec).x), last = p.height - 1u;
  vec3 acc[4] = vec3[4](vec3(0.0), vec3(0.0), vec3(0.0), vec3(0.0));
  for (uint u = 1; u < p.record; u++) {
    vec4 w = texelFetch(table, rec + int(u));
    vec3 v = texelFetch(rows, int(min(first + u - 1u, last) * p.size + x)).xyz; // past the end: weight 0
    acc[0] += w.x * v;
    acc[1] += w.y * v;
    acc[2] += w.z * v;
    acc[3] += w.w * v;
  }
  uint plane = p.size * p.size, n_out = min(4u, p.size - 4u * group);
  for (uint c = 0; c < 4u; c++) { // a constant trip count: unrolled, acc stays in registers
    if (c >= n_out)
      break;
    uint i = (4u * group + c) * p.size + x;
    planes[i] = acc[c].x * p.scale_r + p.bias_r;
    planes[plane + i] = acc[c].y * p.scale_g + p.bias_g;
    planes[2u * plane + i] = acc[c].z * p.scale_b + p.bias_b;
  }
}
