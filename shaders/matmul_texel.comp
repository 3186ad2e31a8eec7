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
layout(constant_id = 6) const uint TN = 16; // rows of w (columns of y) per invocation
// w in 16-row panels (tc_matmul_pack_panels): texel (n, k) at
// ((n / 16) * K/4 + k) * 16 + n % 16, so each invocation's rows advance
// through one contiguous panel instead of TN streams a row apart, which the
// CPU's prefetchers cannot follow (25-35% faster at K = 3072).
layout(constant_id = 7) const bool W_PANELS = false;

layout(binding = 0) uniform samplerBuffer X;
layout(binding = 1) uniform samplerBuffer W;
// y again, as texels: an in-place residual (RESIDUAL == TC_RESIDUAL_Y_TEXELS)
// is read as vec4s into the sums before anything is written. Per-element
// storage loads of it, unrolled over the tile, made this shader compile for
// 8 s instead of 2.
layout(binding = 5) uniform samplerBuffer Y_TEXELS;

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
  for (uint c = 0; c < TN; c++) {
    uint n = min(n0 + c, p.N - 1);
    wrow[c] = int(W_PANELS ? (n / 16u) * k4 * 16u + n % 16u : n * k4);
  }
  const int wstep = W_PANELS ? 16 : 1; // texels from one k to the next

  float acc[TM][TN];
  for (uint c = 0; c < TN; c++) {
    float b = tc_matmul_bias(min(n0 + c, p.N - 1));
    for (uint r = 0; r < TM; r++)
      acc[r][c] = b;
  }
  if (RESIDUAL == TC_RESIDUAL_Y_TEXELS) { // the host guarantees N % 4 == 0
    int last = int(p.M * p.N / 4 - 1);
    for (uint r = 0; r < TM; r++) {
      int row = int((min(m0 + r, p.M - 1) * p.N + n0) / 4);
      for (uint c = 0; c < TN; c += 4) {
        vec4 v = texelFetch(Y_TEXELS, min(row + int(c / 4), last));
        acc[r][c] += v.x;
        acc[r][c + 1] += v.y;
        acc[r][c + 2] += v.z;
        acc[r][c + 3] += v.w;
      }
    }
  }

  for (int k = 0; k < int(k4); k++) {
    vec4 wv[TN];
    for (uint c = 0; c < TN; c++)
      wv[c] = texelFetch(W, wrow[c] + k * wstep);
    for (uint r = 0; r < TM; r++) {
      vec4 xv = texelFetch(X, xrow[r] + k);
      for (uint c = 0; c < TN; c++)
        acc[r][c] += dot(xv, wv[c]); // a little faster on lavapipe than four fma()
    }
  }

  for (uint r = 0; r < TM; r++)
    for (uint c = 0; c < TN; c++)
      if (m0 + r < p.M && n0 + c < p.N)
        tc_matmul_store_sum(m0 + r, n0 + c, acc[r][c]);
  tc_matmul_finish_block(m0, n0, min(TM, p.M - m0), min(TN, p.N - n0));
}
