#version 450
#extension GL_GOOGLE_include_directive : require
// Anomaly map, pass 3: one workgroup reduces the per-workgroup (min, max)
// of map_cols to the map's range, read by the blend and by the host.
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(std430, binding = 0) readonly buffer Partial { vec2 partial[]; };
layout(std430, binding = 1) writeonly buffer Range { vec2 range; };
layout(push_constant) uniform P { uint n; } p;

shared float group_min[gl_WorkGroupSize.x];
shared float group_max[gl_WorkGroupSize.x];

void main()
{
  uint lid = gl_LocalInvocationID.x;
  float lo = uintBitsToFloat(0x7f800000u), hi = -lo;
  for (uint i = lid; i < p.n; i += gl_WorkGroupSize.x) {
    lo = min(lo, partial[i].x);
    hi = max(hi, partial[i].y);
  }
  group_min[lid] = lo;
  group_max[lid] = hi;
  barrier();
  if (lid == 0) {
    for (uint i = 1; i < gl_WorkGroupSize.x; i++) {
      lo = min(lo, group_min[i]);
      hi = max(hi, group_max[i]);
    }
    range = vec2(lo, hi);
  }
}
