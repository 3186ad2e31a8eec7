#version 450
#extension GL_GOOGLE_include_directive : require
// Anomaly map, pass 1: every row of the score grid resampled to the frame's
// width (bilinear upsampling and the horizontal blur, as one table).
// rows[i][x] = sum_k w[x][k] * scores[offset + i * grid_w + first[x] + k]
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(std430, binding = 0) readonly buffer Scores { float scores[]; };
layout(std430, binding = 1) readonly buffer First { uint first[]; };
layout(std430, binding = 2) readonly buffer Weights { float weights[]; };
layout(std430, binding = 3) writeonly buffer Rows { float rows[]; }; // [grid_h][width]
layout(push_constant) uniform P { uint offset, grid_w, grid_h, width, taps; } p;

void main()
{
  uint x = gl_GlobalInvocationID.x, i = gl_GlobalInvocationID.y;
  if (x >= p.width || i >= p.grid_h)
    return;
  uint src = p.offset + i * p.grid_w + first[x], wi = x * p.taps;
  float acc = 0.0;
  for (uint k = 0; k < p.taps; k++)
    acc += weights[wi + k] * scores[src + k];
  rows[i * p.width + x] = acc;
}
