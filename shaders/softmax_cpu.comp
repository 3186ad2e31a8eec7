#version 450
#extension GL_GOOGLE_include_directive : require
// Row softmax of scale * x, CPU family: one invocation per row; passes for
// the maximum, the sum of exponentials and the output (exp is recomputed
// rather than stored, so y may alias x).
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint rows, cols; float scale; } p;

void main()
{
  uint r = gl_GlobalInvocationID.x;
  if (r >= p.rows)
    return;
  uint base = r * p.cols;
  float mx = -3.402823466e38;
  for (uint c = 0; c < p.cols; c++)
    mx = max(mx, p.scale * x[base + c]);
  vec4 s4 = vec4(0); // partial sums: shorter chains, smaller rounding error
  uint c = 0;
  for (; c + 4 <= p.cols; c += 4)
    s4 += exp(p.scale * vec4(x[base + c], x[base + c + 1], x[base + c + 2], x[base + c + 3]) - mx);
  for (; c < p.cols; c++)
    s4.x += exp(p.scale * x[base + c] - mx);
  float inv = 1.0 / (s4.x + s4.y + s4.z + s4.w);
  for (c = 0; c < p.cols; c++)
    y[base + c] = exp(p.scale * x[base + c] - mx) * inv;
}
