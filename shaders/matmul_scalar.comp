#version 450
#extension GL_GOOGLE_include_directive : require
// Matmul fallback for CPU devices when K % 4 != 0 (rows of x and w are not
// whole vec4 texels): scalar storage-buffer loads into a TM x TN register
// tile. Scalar, not vec4, loads: this Mesa miscompiled register-blocked
// vec4 storage loads (DESIGN.md).
#include "common.glsl"
#include "matmul_epilogue.glsl"
#include "matmul_weights.glsl"
TC_LOCAL_SIZE_X

layout(constant_id = MATMUL_SPEC_TILE) const uint TM = 8; // rows of x per invocation
layout(constant_id = (MATMUL_SPEC_TILE + 1)) const uint TN = 8; // rows of w (columns of y) per invocation

layout(std430, binding = MATMUL_BIND_X) readonly buffer X { float x[]; };

void main()
{
  uint n0 = gl_GlobalInvocationID.x * TN, m0 = gl_WorkGroupID.y * TM;
  if (n0 >= p.N)
    return;
  // Edge tiles re-read the last valid row; those results are not stored.
  uint xrow[TM], wrow[TN];
  for (uint r = 0; r < TM; r++)
    xrow[r] = min(m0 + r, p.M - 1) * p.K;
  for (uint c = 0; c < TN; c++)
    wrow[c] = min(n0 + c, p.N - 1) * p.K;

  float acc[TM][TN];
  for (uint c = 0; c < TN; c++) {
    float b = tc_matmul_bias(min(n0 + c, p.N - 1));
    for (uint r = 0; r < TM; r++)
      acc[r][c] = b;
  }

  for (uint k = 0; k < p.K; k++) {
    float wv[TN];
    for (uint c = 0; c < TN; c++)
      wv[c] = tc_weight(wrow[c] + k);
    for (uint r = 0; r < TM; r++) {
      float xv = x[xrow[r] + k];
      for (uint c = 0; c < TN; c++)
        acc[r][c] = fma(xv, wv[c], acc[r][c]);
    }
  }

  for (uint r = 0; r < TM; r++)
    for (uint c = 0; c < TN; c++)
      if (m0 + r < p.M && n0 + c < p.N)
        tc_matmul_store_sum(m0 + r, n0 + c, acc[r][c]);
  tc_matmul_finish_block(m0, n0, min(TM, p.M - m0), min(TN, p.N - n0));
}
