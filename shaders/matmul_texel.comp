#version 450
#extension GL_GOOGLE_include_directive : require
// Matmul for CPU devices (lavapipe): x and w are read as vec4 texels along K
// (uniform texel buffers, w fp32 or fp16 by its view format) and each
// invocation keeps a TM x TN register tile: no shared memory, no barriers
// (DESIGN.md, "Lavapipe facts"). Needs K % 4 == 0.
#include "common.glsl"
#include "matmul_epilogue.glsl"
TC_LOCAL_SIZE_X

layout(constant_id = 5) const uint TM = 32; // rows of x per invocation (id 4: W_F16, unused here)
layout(constant_id = 6) const uint TN = 8;  // rows of w (columns of y) per invocation

layout(binding = 0) uniform samplerBuffer X;
layout(binding = 1) uniform samplerBuffer W;

void main()
{
  uint n0 = gl_GlobalInvocationID.x * TN, m0 = gl_WorkGroupID.y * TM;
  if (n0 >= p.N)
    return;
  uint k4 = p.K / 4;
  // Edge tiles read the last valid row again instead of branching in the
  // inner loop; those results are not stored.
  int xrow[TM], wrow[TN];
  for (uint r = 0; r < TM; r++)
    xrow[r] = int(min(m0 + r, p.M - 1) * k4);
  for (uint c = 0; c < TN; c++)
    wrow[c] = int(min(n0 + c, p.N - 1) * k4);

  float acc[TM][TN];
  for (uint c = 0; c < TN; c++) {
    float b = tc_matmul_bias(min(n0 + c, p.N - 1));
    for (uint r = 0; r < TM; r++)
      acc[r][c] = b;
  }

  for (int k = 0; k < int(k4); k++) {
    vec4 wv[TN];
    for (uint c = 0; c < TN; c++)
      wv[c] = texelFetch(W, wrow[c] + k);
    for (uint r = 0; r < TM; r++) {
      vec4 xv = texelFetch(X, xrow[r] + k);
      for (uint c = 0; c < TN; c++) {
        acc[r][c] = fma(xv.x, wv[c].x, acc[r][c]);
        acc[r][c] = fma(xv.y, wv[c].y, acc[r][c]);
        acc[r][c] = fma(xv.z, wv[c].z, acc[r][c]);
        acc[r][c] = fma(xv.w, wv[c].w, acc[r][c]);
      }
    }
  }

  for (uint r = 0; r < TM; r++)
    for (uint c = 0; c < TN; c++)
      if (m0 + r < p.M && n0 + c < p.N)
        tc_matmul_store_sum(m0 + r, n0 + c, acc[r][c]);
  tc_matmul_finish_block(m0, n0, min(TM, p.M - m0), min(TN, p.N - n0));
}
