#version 450
#extension GL_GOOGLE_include_directive : require
// Layer norm, GPU family: one workgroup per row (rows strided over the
// grid), coalesced loads, shared-memory reductions for the mean and then the
// deviations from it (corrected two-pass, as layernorm_cpu.comp). y may
// alias x: each element is read before the invocation that owns it writes
// it, after the last reduction. With Y_F16, y is fp16, written a pair of
// columns (one uint) at a time (cols even; y is not x then).
#define TC_KERNEL_LAYERNORM
#include "abi/norm.h"
#include "common.glsl"
TC_LOCAL_SIZE_X
#include "wg_reduce.glsl"
layout(constant_id = LAYERNORM_SPEC_Y_F16) const bool Y_F16 = false;

layout(std430, binding = LAYERNORM_BIND_X) readonly buffer X { float x[]; };
layout(std430, binding = LAYERNORM_BIND_GAMMA) readonly buffer G { float gamma[]; };
layout(std430, binding = LAYERNORM_BIND_BETA) readonly buffer B { float beta[]; };
layout(std430, binding = LAYERNORM_BIND_Y) writeonly buffer Y { float y[]; };
layout(std430, binding = LAYERNORM_BIND_Y) writeonly buffer Y16 { uint y16[]; };

void main()
{
  uint t = gl_LocalInvocationID.x, n = gl_WorkGroupSize.x;
  for (uint r = gl_WorkGroupID.x; r < p.rows; r += gl_NumWorkGroups.x) {
    uint base = r * p.cols;
    float s = 0;
    for (uint c = t; c < p.cols; c += n)
      s += x[base + c];
    float cols = float(p.cols), mean = tc_wg_sum(s) / cols;
    float e = 0, ss = 0; // deviations from the mean and their squares
    for (uint c = t; c < p.cols; c += n) {
      float d = x[base + c] - mean;
      e += d;
      ss += d * d;
    }
    e = tc_wg_sum(e);
    float var = max((tc_wg_sum(ss) - e * e / cols) / cols, 0.0);
    mean += e / cols; // corrects the rounding of the first mean
    float rstd = 1.0 / sqrt(var + p.eps);
    if (Y_F16) {
      for (uint c = 2 * t; c < p.cols; c += 2 * n) {
        vec2 v = (vec2(x[base + c], x[base + c + 1]) - mean) * rstd * vec2(gamma[c], gamma[c + 1]) +
                 vec2(beta[c], beta[c + 1]);
        y16[(base + c) / 2] = packHalf2x16(v);
      }
    } else {
      for (uint c = t; c < p.cols; c += n)
        y[base + c] = (x[base + c] - mean) * rstd * gamma[c] + beta[c];
    }
  }
}
