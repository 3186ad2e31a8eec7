#version 450
#extension GL_GOOGLE_include_directive : require
// Element-wise activation y[i] = act(x[i]) (y may alias x). Memory-bound and
// trivial, so one shader serves both kernel families.
#include "common.glsl"
#include "activation.glsl"
TC_LOCAL_SIZE_X
layout(constant_id = 1) const uint ACT = TC_ACT_NONE;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint n; } p;

void main()
{
  // Grid-stride loop: the host caps the workgroup count (device limit 65535).
  uint step = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < p.n; i += step)
    y[i] = tc_act(x[i], ACT);
}
