#version 450
#extension GL_GOOGLE_include_directive : require
// Element-wise activation y[i] = act(x[i]) (y may alias x). Memory-bound and
// trivial, so one shader serves both kernel families.
#define TC_KERNEL_ACTIVATION
#include "abi/elementwise.h"
#include "common.glsl"
#include "activation.glsl"
TC_LOCAL_SIZE_X
layout(constant_id = ACTIVATION_SPEC_ACT) const uint ACT = TC_ACT_NONE;

layout(std430, binding = ACTIVATION_BIND_X) readonly buffer X { float x[]; };
layout(std430, binding = ACTIVATION_BIND_Y) writeonly buffer Y { float y[]; };

void main()
{
  // Grid-stride loop: the host caps the workgroup count (device limit 65535).
  uint step = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < p.n; i += step)
    y[i] = tc_act(x[i], ACT);
}
