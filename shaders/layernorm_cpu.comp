#version 450
#extension GL_GOOGLE_include_directive : require
// Layer norm, CPU family: one invocation per row, rows of a multiple of 4
// columns read as vec4 texels (llvmpipe's fast load path; scalar storage
// loads were 10x slower). Corrected two-pass statistics: the mean, then the
// deviations from it, whose sum corrects the rounding of the mean and whose
// squares give the variance without cancellation; a third pass writes.
// y may alias x: a row is read fully before it is written, and rows belong
// to one invocation each.
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(binding = 0) uniform samplerBuffer X;
layout(binding = 1) uniform samplerBuffer G;
layout(binding = 2) uniform samplerBuffer B;
layout(std430, binding = 3) writeonly buffer Y { vec4 y[]; };
layout(push_constant) uniform P { uint rows, cols; float eps; } p; // cols % 4 == 0

void main()
{
  uint r = gl_GlobalInvocationID.x;
  if (r >= p.rows)
    return;
  uint n4 = p.cols / 4, base = r * n4;
  vec4 s4 = vec4(0); // four partial sums: shorter chains, smaller rounding error
  for (uint c = 0; c < n4; c++)
    s4 += texelFetch(X, int(base + c));
  float n = float(p.cols), mean = (s4.x + s4.y + s4.z + s4.w) / n;
  vec4 e4 = vec4(0), q4 = vec4(0); // sums of deviations and of their squares
  for (uint c = 0; c < n4; c++) {
    vec4 d = texelFetch(X, int(base + c)) - mean;
    e4 += d;
    q4 += d * d;
  }
  float e = e4.x + e4.y + e4.z + e4.w;
  float var = max((q4.x + q4.y + q4.z + q4.w - e * e / n) / n, 0.0);
  mean += e / n;
  float rstd = 1.0 / sqrt(var + p.eps);
  for (uint c = 0; c < n4; c++)
    y[base + c] = (texelFetch(X, int(base + c)) - mean) * rstd * texelFetch(G, int(c)) + texelFetch(B, int(c));
}
