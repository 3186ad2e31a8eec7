#version 450
#extension GL_GOOGLE_include_directive : require
// Anomaly map, pass 3: one workgroup reduces map_cols' (min, max) per column
// and block to the map's range, read by the blend and by the host.
#define TC_KERNEL_MAP_RANGE
#include "abi/map.h"
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(std430, binding = MAP_RANGE_BIND_PARTIAL) readonly buffer Partial { vec2 partial[]; };
layout(std430, binding = MAP_RANGE_BIND_RANGE) writeonly buffer Range { vec2 range; };

shared vec2 group[gl_WorkGroupSize.x];

void main()
{
  uint lid = gl_LocalInvocationID.x;
  vec2 r = vec2(uintBitsToFloat(0x7f800000u), -uintBitsToFloat(0x7f800000u)); // (+inf, -inf)
  for (uint i = lid; i < p.n; i += gl_WorkGroupSize.x)
    r = vec2(min(r.x, partial[i].x), max(r.y, partial[i].y));
  group[lid] = r;
  barrier();
  if (lid == 0) {
    for (uint i = 1; i < gl_WorkGroupSize.x; i++)
      r = vec2(min(r.x, group[i].x), max(r.y, group[i].y));
    range = r;
  }
}
