#version 450
#extension GL_GOOGLE_include_directive : require
// TokenCLIP head, steps 4-5: per token, keep the k largest entries of the
// transport plan's row, renormalise them to sum 1 and score the token:
//   x[q] = logk[q][n] + v[q]        (log of P[n,q] up to the row's u[n])
//   w[q] = softmax over the kept x  (zero elsewhere)
//   s[n] = sum_q w[q] p[q][1 + n]
// Ranking in the log domain keeps entries apart that would underflow to 0
// as plan values. Ties go to the lower q. Greedy mode: v unused (zeros),
// k = 1, so each token takes its argmax-affinity subspace.
#define TC_KERNEL_TOPK
#include "abi/head.h"
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(std430, binding = TOPK_BIND_LOGK) readonly buffer LogK { float logk[]; };   // [Q][N4]
layout(std430, binding = TOPK_BIND_V) readonly buffer V { float v[]; };         // [Q]
layout(std430, binding = TOPK_BIND_PROBS) readonly buffer Probs { float probs[]; }; // [Q][1 + N]
layout(std430, binding = TOPK_BIND_W) writeonly buffer W { float w[]; };        // [Q][N]
layout(std430, binding = TOPK_BIND_SCORES) writeonly buffer S { float scores[]; };   // [N]

float x_at(uint q, uint n) { return logk[q * p.N4 + n] + (p.use_v != 0u ? v[q] : 0.0); }

void main()
{
  uint n = gl_GlobalInvocationID.x;
  if (n >= p.N)
    return;

  // The k-th entry in the order (larger x, then lower q): k passes, each
  // taking the best entry ranked below the previous pick. `m`, the first
  // pick, is the row maximum that shifts the softmax.
  float tx = 1.0 / 0.0, m = -1.0 / 0.0;
  uint ti = 0;
  bool keep_all = p.k >= p.Q;
  if (keep_all) {
    for (uint q = 0; q < p.Q; q++)
      m = max(m, x_at(q, n));
  } else {
    for (uint j = 0; j < p.k; j++) {
      float bx = -1.0 / 0.0;
      uint bi = p.Q;
      for (uint q = 0; q < p.Q; q++) {
        float x = x_at(q, n);
        bool below = j == 0 || x < tx || (x == tx && q > ti);
        if (below && (bi == p.Q || x > bx)) { // q ascends: an equal x keeps the lower q
          bx = x;
          bi = q;
        }
      }
      tx = bx;
      ti = bi;
      if (j == 0)
        m = bx;
    }
  }

  float sum = 0.0;
  for (uint q = 0; q < p.Q; q++) {
    float x = x_at(q, n);
    if (keep_all || x > tx || (x == tx && q <= ti))
      sum += exp(x - m);
  }
  float inv = 1.0 / sum, s = 0.0;
  for (uint q = 0; q < p.Q; q++) {
    float x = x_at(q, n);
    float wq = (keep_all || x > tx || (x == tx && q <= ti)) ? exp(x - m) * inv : 0.0;
    w[q * p.N + n] = wq;
    s += wq * probs[q * (p.N + 1) + 1 + n];
  }
  scores[n] = s;
}
