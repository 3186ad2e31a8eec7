#version 450
#extension GL_GOOGLE_include_directive : require
// Matmul for GPUs: a BM x BN block of y per workgroup; x and w tiles of
// depth BK are staged in shared memory and each invocation accumulates a
// 4x4 register tile from them: rows strided by BM / 4, columns in two pairs
// strided by BN / 2 (pairs, so that fp16 y is written a uint at a time).
// local_size_x must be (BM / 4) * (BN / 4). x may be fp16 (X_F16).
#include "common.glsl"
#include "matmul_epilogue.glsl"
#include "matmul_weights.glsl"
TC_LOCAL_SIZE_X

layout(constant_id = MATMUL_SPEC_TILE) const uint BM = 64;
layout(constant_id = (MATMUL_SPEC_TILE + 1)) const uint BN = 64;
layout(constant_id = (MATMUL_SPEC_TILE + 2)) const uint BK = 16;
const uint TM = 4, TN = 4;

layout(std430, binding = MATMUL_BIND_X) readonly buffer X { float x[]; };
layout(std430, binding = MATMUL_BIND_X) readonly buffer X16 { uint x16[]; }; // fp16 pairs (X_F16)

float load_x(uint i)
{
  if (X_F16) {
    vec2 pair = unpackHalf2x16(x16[i >> 1]);
    return (i & 1u) == 0u ? pair.x : pair.y;
  }
  return x[i];
}

// K-major so the inner loop reads consecutive rows / columns.
shared float xs[BK][BM];
shared float ws[BK][BN];

void main()
{
  uint tid = gl_LocalInvocationID.x, threads = gl_WorkGroupSize.x;
  uint m_base = gl_WorkGroupID.y * BM, n_base = gl_WorkGroupID.x * BN;
  // Invocations along N are neighbours; outputs of one invocation are
  // strided by the thread grid so shared reads of a step hit distinct banks.
  // Column c of the tile: 2 * tn + (c % 2) + (c / 2) * (BN / 2).
  uint tn = tid % (BN / TN), tm = tid / (BN / TN);

  float acc[TM][TN];
  for (uint r = 0; r < TM; r++)
    for (uint c = 0; c < TN; c++)
      acc[r][c] = 0.0;

  for (uint k0 = 0; k0 < p.K; k0 += BK) {
    // Loads run along K for coalescing; out-of-range elements are zero.
    for (uint i = tid; i < BM * BK; i += threads) {
      uint r = i / BK, kk = i % BK, m = m_base + r, k = k0 + kk;
      xs[kk][r] = m < p.M && k < p.K ? load_x(m * p.K + k) : 0.0;
    }
    for (uint i = tid; i < BN * BK; i += threads) {
      uint c = i / BK, kk = i % BK, n = n_base + c, k = k0 + kk;
      ws[kk][c] = n < p.N && k < p.K ? tc_weight(n * p.K + k) : 0.0;
    }
    barrier();
    for (uint kk = 0; kk < BK; kk++) {
      float xv[TM], wv[TN];
      for (uint r = 0; r < TM; r++)
        xv[r] = xs[kk][tm + r * (BM / TM)];
      for (uint c = 0; c < TN; c++)
        wv[c] = ws[kk][2 * tn + c % 2 + (c / 2) * (BN / 2)];
      for (uint r = 0; r < TM; r++)
        for (uint c = 0; c < TN; c++)
          acc[r][c] = fma(xv[r], wv[c], acc[r][c]);
    }
    barrier();
  }

  for (uint r = 0; r < TM; r++)
    for (uint c = 0; c < TN; c += 2) {
      uint m = m_base + tm + r * (BM / TM), n = n_base + 2 * tn + (c / 2) * (BN / 2);
      if (m < p.M && n < p.N)
        tc_matmul_store2(m, n, acc[r][c], acc[r][c + 1]);
    }
}
