#version 450
#extension GL_GOOGLE_include_directive : require
// Anomaly map, pass 2: the columns of pass 1 resampled to the frame's height
// (upsampling and vertical blur as one table) into the full-resolution map,
// plus each workgroup's min and max of what it wrote (reduced by map_range).
// An invocation computes ROWS consecutive rows of one column: adjacent
// invocations read adjacent columns, the weights are shared by all.
#include "common.glsl"
TC_LOCAL_SIZE_X
layout(constant_id = 1) const uint ROWS = 4;

layout(std430, binding = 0) readonly buffer Rows { float rows[]; }; // [grid_h][width]
layout(std430, binding = 1) readonly buffer First { uint first[]; };
layout(std430, binding = 2) readonly buffer Weights { float weights[]; };
layout(std430, binding = 3) writeonly buffer Map { float map[]; }; // [height][width]
layout(std430, binding = 4) writeonly buffer Partial { vec2 partial[]; }; // per workgroup (min, max)
layout(push_constant) uniform P { uint width, height, taps; } p;

shared float group_min[gl_WorkGroupSize.x];
shared float group_max[gl_WorkGroupSize.x];

void main()
{
  uint x = gl_GlobalInvocationID.x, y0 = gl_WorkGroupID.y * ROWS, lid = gl_LocalInvocationID.x;
  float lo = uintBitsToFloat(0x7f800000u), hi = -lo; // +inf, -inf: neutral for min, max
  if (x < p.width) {
    for (uint r = 0; r < ROWS; r++) {
      uint y = y0 + r;
      if (y >= p.height)
        break;
      uint src = first[y] * p.width + x, wi = y * p.taps;
      float acc = 0.0;
      for (uint k = 0; k < p.taps; k++)
        acc += weights[wi + k] * rows[src + k * p.width];
      map[y * p.width + x] = acc;
      lo = min(lo, acc);
      hi = max(hi, acc);
    }
  }
  // every invocation reaches the barrier, in range or not
  group_min[lid] = lo;
  group_max[lid] = hi;
  barrier();
  if (lid == 0) {
    for (uint i = 1; i < gl_WorkGroupSize.x; i++) {
      lo = min(lo, group_min[i]);
      hi = max(hi, group_max[i]);
    }
    partial[gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x] = vec2(lo, hi);
  }
}
