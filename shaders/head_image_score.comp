#version 450
#extension GL_GOOGLE_include_directive : require
// TokenCLIP head, last step, one workgroup: the subspace weights averaged
// over tokens, the global token's score with them, the largest token score,
// and the check that the frame is usable: a NaN/Inf token row (flagged by
// head_similarity) or a non-finite score sets `flags` instead of letting NaN
// reach the map. Copies the Sinkhorn statistics into the result, or in
// greedy mode describes the hard assignment (column error of w / N).
#define TC_KERNEL_IMAGE_SCORE
#include "abi/head.h"
#include "common.glsl"
TC_LOCAL_SIZE_X

#define MAX_Q HEAD_MAX_Q   // checked by the host (abi/head.h)
#define MAX_WG HEAD_MAX_WG // the largest workgroup the host uses

layout(std430, binding = IMAGE_SCORE_BIND_W) readonly buffer W { float w[]; };         // [Q][N]
layout(std430, binding = IMAGE_SCORE_BIND_PROBS) readonly buffer Probs { float probs[]; }; // [Q][1 + N]
layout(std430, binding = IMAGE_SCORE_BIND_SCORES) readonly buffer S { float scores[]; };    // [N]
layout(std430, binding = IMAGE_SCORE_BIND_ROW_BAD) readonly buffer RowBad { uint row_bad[]; }; // [1 + N]
layout(std430, binding = IMAGE_SCORE_BIND_STATS) readonly buffer Stats {
  uint iterations;
  uint converged;
  float row_error;
  float col_error;
} stats;
layout(std430, binding = IMAGE_SCORE_BIND_RESULT) writeonly buffer Result {
  uint flags; // 1: a token row was not finite, 2: a score was not finite
  uint iterations;
  uint converged;
  float row_error;
  float col_error;
  float global_score;
  float token_score_max;
} result;

shared float part[MAX_Q > 2 * MAX_WG ? MAX_Q : 2 * MAX_WG];
shared float smax[MAX_WG];
shared uint sflags[MAX_WG];

void main()
{
  const uint lane = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
  const uint slices = max(1u, WG / p.Q);

  float lane_max = -1.0 / 0.0;
  uint lane_flags = 0u;
  for (uint n = lane; n <= p.N; n += WG)
    lane_flags |= row_bad[n] != 0u ? 1u : 0u;
  for (uint n = lane; n < p.N; n += WG) {
    float s = scores[n];
    if (isnan(s) || isinf(s))
      lane_flags |= 2u;
    lane_max = max(lane_max, s);
  }
  smax[lane] = lane_max;
  sflags[lane] = lane_flags;

  // column sums of w: `slices` lanes per subspace, merged below
  for (uint t = lane; t < p.Q * slices; t += WG) {
    uint q = t / slices, s = t % slices;
    float sum = 0.0;
    for (uint n = s; n < p.N; n += slices)
      sum += w[q * p.N + n];
    part[t] = sum;
  }
  barrier();
  float lane_global = 0.0, lane_dev = 0.0;
  for (uint q = lane; q < p.Q; q += WG) {
    float sum = 0.0;
    for (uint s = 0; s < slices; s++)
      sum += part[q * slices + s];
    float wbar = sum / float(p.N);
    lane_global += wbar * probs[q * (p.N + 1)];
    lane_dev += abs(wbar - 1.0 / float(p.Q));
  }
  barrier();
  part[lane] = lane_global;
  part[WG + lane] = lane_dev;
  barrier();
  if (lane != 0)
    return;
  float global = 0.0, dev = 0.0, tmax = -1.0 / 0.0;
  uint flags = 0u;
  for (uint l = 0; l < WG; l++) {
    global += part[l];
    dev += part[WG + l];
    tmax = max(tmax, smax[l]);
    flags |= sflags[l];
  }
  if (isnan(global) || isinf(global))
    flags |= 2u;
  result.flags = flags;
  result.global_score = global;
  result.token_score_max = tmax;
  if (p.greedy != 0u) {
    result.iterations = 0u;
    result.converged = 1u;
    result.row_error = 0.0;
    result.col_error = dev;
  } else {
    result.iterations = stats.iterations;
    result.converged = stats.converged;
    result.row_error = stats.row_error;
    result.col_error = stats.col_error;
  }
}
