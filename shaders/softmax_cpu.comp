#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_arithmetic : require
// Row softmax of scale * x, CPU family: one subgroup per row, its lanes along
// the columns reading vec4 texels (llvmpipe's fast load path) and reducing
// with subgroupMax/subgroupAdd (vector reductions in one SIMD register on
// lavapipe, no shared memory, no barrier). Rows of attention scores are
// `tokens` long, rarely a multiple of 4, so a row may start and end inside a
// texel: components outside it are masked. Passes for the maximum, the sum
// of exponentials and the output (exp is recomputed rather than stored, so
// y may alias x; the masked neighbours' components read in place are never
// used).
#define TC_KERNEL_SOFTMAX
#include "abi/norm.h"
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(binding = SOFTMAX_BIND_X) uniform samplerBuffer X;
layout(std430, binding = SOFTMAX_BIND_Y) writeonly buffer Y { float y[]; };

// which of texel t's components belong to the row [e0, e1)
bvec4 in_row(uint t, uint e0, uint e1)
{
  uvec4 e = 4 * t + uvec4(0, 1, 2, 3);
  return bvec4(uvec4(greaterThanEqual(e, uvec4(e0))) & uvec4(lessThan(e, uvec4(e1))));
}

void main()
{
  // lanes present in this subgroup (the workgroup may be smaller than one)
  uint lanes = subgroupAdd(1u), lane = gl_SubgroupInvocationID;
  uint r = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID;
  if (r >= p.rows)
    return; // the whole subgroup: r is the same for all its lanes
  uint e0 = r * p.cols, e1 = e0 + p.cols; // the row's elements
  uint t0 = e0 / 4, t1 = (e1 + 3) / 4;    // and the texels holding them
  vec4 m4 = vec4(-3.402823466e38);
  for (uint t = t0 + lane; t < t1; t += lanes)
    m4 = max(m4, mix(vec4(-3.402823466e38), p.scale * texelFetch(X, int(t)), in_row(t, e0, e1)));
  float mx = subgroupMax(max(max(m4.x, m4.y), max(m4.z, m4.w)));
  vec4 s4 = vec4(0);
  for (uint t = t0 + lane; t < t1; t += lanes)
    s4 += mix(vec4(0), exp(p.scale * texelFetch(X, int(t)) - mx), in_row(t, e0, e1));
  float inv = 1.0 / subgroupAdd(s4.x + s4.y + s4.z + s4.w);
  for (uint t = t0 + lane; t < t1; t += lanes) {
    vec4 v = exp(p.scale * texelFetch(X, int(t)) - mx) * inv;
    bvec4 inside = in_row(t, e0, e1);
    for (uint k = 0; k < 4; k++)
      if (inside[k])
        y[4 * t + k] = v[k];
  }
}
