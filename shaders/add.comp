#version 450
#extension GL_GOOGLE_include_directive : require
// Element-wise residual add: y[i] = a[i] + b[i] (y may alias a).
#define TC_KERNEL_ADD
#include "abi/elementwise.h"
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(std430, binding = ADD_BIND_A) readonly buffer A { float a[]; };
layout(std430, binding = ADD_BIND_B) readonly buffer B { float b[]; };
layout(std430, binding = ADD_BIND_Y) writeonly buffer Y { float y[]; };

void main()
{
  uint i = gl_GlobalInvocationID.x;
  if (i < p.n)
    y[i] = a[i] + b[i];
}
