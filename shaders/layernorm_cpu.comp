#version 450
#extension GL_GOOGLE_include_directive : require
// Layer norm, CPU family: one invocation per row, two passes for the
// statistics (corrected two-pass: the mean, then the deviations from it,
// whose sum corrects the rounding of the mean and whose squares give the
// variance without cancellation), a third for the output. y may alias x: a row is read fully before it is
// written, and rows belong to one invocation each.
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer G { float gamma[]; };
layout(std430, binding = 2) readonly buffer B { float beta[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint rows, cols; float eps; } p;

void main()
{
  uint r = gl_GlobalInvocationID.x;
  if (r >= p.rows)
    return;
  uint base = r * p.cols;
  // four partial sums: shorter dependency chains, smaller rounding error
  vec4 s4 = vec4(0);
  uint c = 0;
  for (; c + 4 <= p.cols; c += 4)
    s4 += vec4(x[base + c], x[base + c + 1], x[base + c + 2], x[base + c + 3]);
  for (; c < p.cols; c++)
    s4.x += x[base + c];
  float n = float(p.cols), mean = (s4.x + s4.y + s4.z + s4.w) / n;
  vec4 e4 = vec4(0), q4 = vec4(0); // sums of deviations and of their squares
  for (c = 0; c + 4 <= p.cols; c += 4) {
    vec4 d = vec4(x[base + c], x[base + c + 1], x[base + c + 2], x[base + c + 3]) - mean;
    e4 += d;
    q4 += d * d;
  }
  for (; c < p.cols; c++) {
    float d = x[base + c] - mean;
    e4.x += d;
    q4.x += d * d;
  }
  float e = e4.x + e4.y + e4.z + e4.w;
  float var = max((q4.x + q4.y + q4.z + q4.w - e * e / n) / n, 0.0);
  mean += e / n;
  float rstd = 1.0 / sqrt(var + p.eps);
  for (c = 0; c < p.cols; c++)
    y[base + c] = (x[base + c] - mean) * rstd * gamma[c] + beta[c];
}
