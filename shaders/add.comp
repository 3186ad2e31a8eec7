#version 450
#extension GL_GOOGLE_include_directive : require
// Element-wise residual add: y[i] = a[i] + b[i] (y may alias a).
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint n; } p;

void main()
{
  uint i = gl_GlobalInvocationID.x;
  if (i < p.n)
    y[i] = a[i] + b[i];
}
