#version 450
#extension GL_GOOGLE_include_directive : require
// Copies rows of D floats into rows of D4 = roundup(D, 4) floats, zero
// padded, so the similarity kernel can read every row as whole vec4 texels.
// Only recorded when D is not a multiple of 4.
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint rows, D, D4; } p;

void main()
{
  uint i = gl_GlobalInvocationID.x;
  if (i >= p.rows * p.D4)
    return;
  uint r = i / p.D4, d = i % p.D4;
  y[i] = d < p.D ? x[r * p.D + d] : 0.0;
}
