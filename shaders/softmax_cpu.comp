#version 450
#extension GL_GOOGLE_include_directive : require
// Row softmax of scale * x, CPU family: one invocation per row, read as vec4
// texels (llvmpipe's fast load path; scalar storage loads were 10x slower).
// Rows of attention scores are `tokens` long, rarely a multiple of 4, so a
// row may start and end inside a texel: components outside it are masked.
// Passes for the maximum, the sum of exponentials and the output (exp is
// recomputed rather than stored, so y may alias x; the masked neighbours'
// components read in place are never used).
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(binding = 0) uniform samplerBuffer X;
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint rows, cols; float scale; } p;

void main()
{
  uint r = gl_GlobalInvocationID.x;
  if (r >= p.rows)
    return;
  uint e0 = r * p.cols, e1 = e0 + p.cols; // the row's elements
  uint t0 = e0 / 4, t1 = (e1 + 3) / 4;    // and the texels holding them
  const uvec4 lane = uvec4(0, 1, 2, 3);
  vec4 m4 = vec4(-3.402823466e38);
  for (uint t = t0; t < t1; t++) {
    uvec4 e = 4 * t + lane;
    bvec4 in_row = bvec4(uvec4(greaterThanEqual(e, uvec4(e0))) & uvec4(lessThan(e, uvec4(e1))));
    m4 = max(m4, mix(vec4(-3.402823466e38), p.scale * texelFetch(X, int(t)), in_row));
  }
  float mx = max(max(m4.x, m4.y), max(m4.z, m4.w));
  vec4 s4 = vec4(0); // partial sums: shorter chains, smaller rounding error
  for (uint t = t0; t < t1; t++) {
    uvec4 e = 4 * t + lane;
    bvec4 in_row = bvec4(uvec4(greaterThanEqual(e, uvec4(e0))) & uvec4(lessThan(e, uvec4(e1))));
    s4 += mix(vec4(0), exp(p.scale * texelFetch(X, int(t)) - mx), in_row);
  }
  float inv = 1.0 / (s4.x + s4.y + s4.z + s4.w);
  for (uint t = t0; t < t1; t++) {
    vec4 v = exp(p.scale * texelFetch(X, int(t)) - mx) * inv;
    for (uint k = 0; k < 4; k++)
      if (4 * t + k >= e0 && 4 * t + k < e1)
        y[4 * t + k] = v[k];
  }
}
