#version 450
#extension GL_GOOGLE_include_directive : require
// TokenCLIP head, step 1-2: cosines of every token row with the normal and
// abnormal embedding of every subspace, turned at once into
//   p[q][row]      = softmax_c(cos / tau)[abnormal]   (all 1 + N rows)
//   logk[q][row-1] = (a - 1) / eps                    (patch rows only; rows of
//                                                     logk are N4 long, N4 >= N)
// and a per-row flag for NaN/Inf tokens. Subspaces arrive normalised; token
// norms are accumulated alongside the dot products.
//
// CPU-shaped: texel-buffer vec4 loads and a TM rows x TP subspaces register
// tile per invocation, no shared memory (DESIGN.md, lavapipe facts). Lanes
// of a workgroup take consecutive row tiles of the same subspace tile, so
// their subspace loads are the same texels.
#define TC_KERNEL_HEAD_SIMILARITY
#include "abi/head.h"
#include "common.glsl"
TC_LOCAL_SIZE_X
layout(constant_id = SIMILARITY_SPEC_TM) const uint TM = 8; // token rows per invocation
layout(constant_id = SIMILARITY_SPEC_TP) const uint TP = 4; // subspaces (2 TP columns) per invocation

layout(binding = SIMILARITY_BIND_TOKENS) uniform samplerBuffer tokens;    // [rows, K] texels
layout(binding = SIMILARITY_BIND_SUBSPACES) uniform samplerBuffer subspaces; // [Q, 2, K] texels, unit norm
layout(std430, binding = SIMILARITY_BIND_PROBS) writeonly buffer Probs { float probs[]; };   // [Q][rows]
layout(std430, binding = SIMILARITY_BIND_LOGK) writeonly buffer LogK { float logk[]; };     // [Q][N4]
layout(std430, binding = SIMILARITY_BIND_ROW_BAD) writeonly buffer RowBad { uint row_bad[]; }; // [rows]

void main()
{
  uint row_tiles = (p.rows + TM - 1) / TM;
  uint id = gl_GlobalInvocationID.x;
  uint rt = id % row_tiles, qt = id / row_tiles;
  if (qt * TP >= p.Q)
    return;
  uint row0 = rt * TM, q0 = qt * TP;

  float acc[TM][2 * TP];
  float sumsq[TM];
  for (uint i = 0; i < TM; i++) {
    sumsq[i] = 0.0;
    for (uint j = 0; j < 2 * TP; j++)
      acc[i][j] = 0.0;
  }
  // Out-of-range rows and columns read the last valid one (no branches in
  // the loop) and are not stored.
  int tok_base[TM];
  int sub_base[2 * TP];
  for (uint i = 0; i < TM; i++)
    tok_base[i] = int((p.first + min(row0 + i, p.rows - 1)) * p.K);
  for (uint j = 0; j < 2 * TP; j++)
    sub_base[j] = int(min(2 * q0 + j, 2 * p.Q - 1) * p.K);

  for (int k = 0; k < int(p.K); k++) {
    vec4 b[2 * TP];
    for (uint j = 0; j < 2 * TP; j++)
      b[j] = texelFetch(subspaces, sub_base[j] + k);
    for (uint i = 0; i < TM; i++) {
      vec4 a = texelFetch(tokens, tok_base[i] + k);
      sumsq[i] += dot(a, a);
      for (uint j = 0; j < 2 * TP; j++)
        acc[i][j] += dot(a, b[j]);
    }
  }

  for (uint i = 0; i < TM; i++) {
    uint row = row0 + i;
    if (row >= p.rows)
      break;
    if (qt == 0) // NaN or Inf anywhere in the row makes its sum of squares non-finite
      row_bad[row] = (isnan(sumsq[i]) || isinf(sumsq[i])) ? 1u : 0u;
    float inv_norm = 1.0 / max(sqrt(sumsq[i]), 1e-12); // as torch's F.normalize
    for (uint j = 0; j < TP; j++) {
      uint q = q0 + j;
      if (q >= p.Q)
        break;
      float c0 = acc[i][2 * j] * inv_norm, c1 = acc[i][2 * j + 1] * inv_norm;
      // two-class softmax = logistic of the difference; exp may overflow to
      // inf, which gives the right limit 0
      probs[q * p.rows + row] = 1.0 / (1.0 + exp((c0 - c1) * p.inv_tau));
      if (row > 0) {
        float a = p.affinity == 1u ? 0.5 * (c0 + c1) : p.affinity == 2u ? c1 : max(c0, c1);
        logk[q * p.N4 + row - 1] = (a - 1.0) * p.inv_eps;
      }
    }
  }
}
