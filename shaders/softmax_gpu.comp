#version 450
#extension GL_GOOGLE_include_directive : require
// Row softmax of scale * x, GPU family: one workgroup per row (rows strided
// over the grid), shared-memory reductions for the maximum and the sum.
// y may alias x: exp is recomputed from x after the last reduction, and each
// element is written by the invocation that reads it.
#define TC_KERNEL_SOFTMAX
#include "abi/norm.h"
#include "common.glsl"
TC_LOCAL_SIZE_X
#include "wg_reduce.glsl"

layout(std430, binding = SOFTMAX_BIND_X) readonly buffer X { float x[]; };
layout(std430, binding = SOFTMAX_BIND_Y) writeonly buffer Y { float y[]; };

void main()
{
  uint t = gl_LocalInvocationID.x, n = gl_WorkGroupSize.x;
  for (uint r = gl_WorkGroupID.x; r < p.rows; r += gl_NumWorkGroups.x) {
    uint base = r * p.cols;
    float mx = -3.402823466e38;
    for (uint c = t; c < p.cols; c += n)
      mx = max(mx, p.scale * x[base + c]);
    mx = tc_wg_max(mx);
    float s = 0;
    for (uint c = t; c < p.cols; c += n)
      s += exp(p.scale * x[base + c] - mx);
    float inv = 1.0 / tc_wg_sum(s);
    for (uint c = t; c < p.cols; c += n)
      y[base + c] = exp(p.scale * x[base + c] - mx) * inv;
  }
}
