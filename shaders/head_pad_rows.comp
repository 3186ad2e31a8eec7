#version 450
#extension GL_GOOGLE_include_directive : require
// Copies rows of D floats into rows of D4 = roundup(D, 4) floats, zero
// padded, so the similarity kernel can read every row as whole vec4 texels.
// Only recorded when D is not a multiple of 4.
#define TC_KERNEL_HEAD_PAD_ROWS
#include "abi/head.h"
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(std430, binding = PAD_ROWS_BIND_X) readonly buffer X { float x[]; };
layout(std430, binding = PAD_ROWS_BIND_Y) writeonly buffer Y { float y[]; };

// One workgroup row per token row: x along the row, y the row index.
void main()
{
  uint d = gl_GlobalInvocationID.x, r = gl_GlobalInvocationID.y;
  if (d >= p.D4 || r >= p.rows)
    return;
  y[r * p.D4 + d] = d < p.D ? x[(p.first + r) * p.D + d] : 0.0;
}
