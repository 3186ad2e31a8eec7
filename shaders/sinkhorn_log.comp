#version 450
#extension GL_GOOGLE_include_directive : require
// Log-domain Sinkhorn for the TokenCLIP head. The whole problem (N x Q <=
// ~1e5) is solved by ONE workgroup that iterates internally: a dispatch per
// iteration costs more than the iteration itself on lavapipe (~40 us each).
// The host records ceil(max_iters / chunk) dispatches of this kernel; each
// runs up to `chunk` iterations and the ones after convergence return at
// once. The chunking exists because llvmpipe ends every loop of a shader
// invocation once all its loops together have taken 65535 back-edges; the
// host sizes `chunk` from the loop counts below to stay under that.
//
// Plan P[n,q] = exp(logk[q][n] + u[n] + v[q]), rows r = 1/N, columns c = 1/Q:
//   first chunk: v = 0, u = log r - LSE_q(logk + v)
//   repeat: v = log c - LSE_n(logk + u)          -- columns now exact
//           row error = sum_n |P[n,:]·1 - r|; stop if < tol or at the limit
//           u = log r - LSE_q(logk + v)
// Every LSE is max-shifted (two passes), so no eps underflows or overflows.
#include "common.glsl"
TC_LOCAL_SIZE_X

#define MAX_Q 128  // checked by the host
#define MAX_WG 256 // largest workgroup the host uses
#define MAX_PART (MAX_Q > MAX_WG ? MAX_Q : MAX_WG)

layout(std430, binding = 0) readonly buffer LogK { float logk[]; }; // [Q][N]
layout(std430, binding = 1) buffer U { float u[]; };                // [N]
layout(std430, binding = 2) buffer Lse { float lse_row[]; };        // [N] scratch
layout(std430, binding = 3) buffer V { float v_buf[]; };            // [Q], kept between chunks
layout(std430, binding = 4) buffer State {
  uint iterations;
  uint converged;
  float row_error;
  float col_error;
  uint done;
} state;
layout(push_constant) uniform P {
  uint N, Q, max_iters, chunk, first;
  float tol, log_r, log_c, r, c;
} p;

shared float v[MAX_Q];
shared float part_m[MAX_PART]; // per-lane partial LSEs: max and shifted sum
shared float part_s[MAX_PART];

const float NEG_INF = -1.0 / 0.0;

// LSE_q(logk[q][n] + v[q]) for one row.
float lse_row_of(uint n)
{
  float m = NEG_INF, s = 0.0;
  for (uint q = 0; q < p.Q; q++)
    m = max(m, logk[q * p.N + n] + v[q]);
  for (uint q = 0; q < p.Q; q++)
    s += exp(logk[q * p.N + n] + v[q] - m);
  return m + log(s);
}

void main()
{
  const uint lane = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
  // column work: `slices` lanes per column, each over rows s, s + slices, ...
  const uint slices = max(1u, WG / p.Q);

  if (p.first == 0u && state.done != 0u)
    return; // converged in an earlier chunk (uniform: one value for all lanes)

  uint it;
  if (p.first != 0u) {
    for (uint q = lane; q < p.Q; q += WG)
      v[q] = 0.0;
    barrier();
    for (uint n = lane; n < p.N; n += WG)
      u[n] = p.log_r - lse_row_of(n);
    if (lane == 0u)
      state.done = 0u;
    it = 0u;
  } else {
    for (uint q = lane; q < p.Q; q += WG)
      v[q] = v_buf[q];
    it = state.iterations;
  }
  memoryBarrierBuffer();
  barrier();

  for (uint step = 0u; step < p.chunk; step++) {
    // columns: per-lane partial LSE over its rows, then merged per column
    for (uint t = lane; t < p.Q * slices; t += WG) {
      uint q = t / slices, s0 = t % slices;
      float m = NEG_INF, s = 0.0;
      for (uint n = s0; n < p.N; n += slices)
        m = max(m, logk[q * p.N + n] + u[n]);
      for (uint n = s0; n < p.N; n += slices)
        s += exp(logk[q * p.N + n] + u[n] - m);
      part_m[t] = m;
      part_s[t] = s;
    }
    barrier();
    for (uint q = lane; q < p.Q; q += WG) {
      float m = NEG_INF, s = 0.0;
      for (uint j = 0u; j < slices; j++)
        m = max(m, part_m[q * slices + j]);
      for (uint j = 0u; j < slices; j++)
        s += part_s[q * slices + j] * exp(part_m[q * slices + j] - m);
      v[q] = p.log_c - (m + log(s));
    }
    barrier();
    it++;

    // rows: LSE with the new v; the plan (u, v) has exact columns, measure its rows
    float lane_err = 0.0;
    for (uint n = lane; n < p.N; n += WG) {
      float lse = lse_row_of(n);
      lse_row[n] = lse;
      lane_err += abs(exp(u[n] + lse) - p.r);
    }
    part_s[lane] = lane_err;
    barrier();
    float err = 0.0;
    for (uint l = 0u; l < WG; l++) // every lane sums, in the same order: a uniform decision
      err += part_s[l];
    bool conv = err < p.tol;
    if (conv || it >= p.max_iters) {
      // final: measured column error of this plan, v for topk_mask
      barrier(); // all lanes have read part_s
      for (uint t = lane; t < p.Q * slices; t += WG) {
        uint q = t / slices, s0 = t % slices;
        float s = 0.0;
        for (uint n = s0; n < p.N; n += slices)
          s += exp(logk[q * p.N + n] + u[n] + v[q]);
        part_s[t] = s;
      }
      barrier();
      float lane_col = 0.0;
      for (uint q = lane; q < p.Q; q += WG) {
        float s = 0.0;
        for (uint j = 0u; j < slices; j++)
          s += part_s[q * slices + j];
        lane_col += abs(s - p.c);
        v_buf[q] = v[q];
      }
      barrier();
      part_s[lane] = lane_col;
      barrier();
      if (lane == 0u) {
        float col = 0.0;
        for (uint l = 0u; l < WG; l++)
          col += part_s[l];
        state.iterations = it;
        state.converged = conv ? 1u : 0u;
        state.row_error = err;
        state.col_error = col;
        state.done = 1u;
      }
      return;
    }
    for (uint n = lane; n < p.N; n += WG)
      u[n] = p.log_r - lse_row[n];
    memoryBarrierBuffer();
    barrier(); // also: all lanes have read part_s before the next chunk of writes
  }

  // chunk used up, not finished: hand v and the count to the next dispatch
  for (uint q = lane; q < p.Q; q += WG)
    v_buf[q] = v[q];
  if (lane == 0u)
    state.iterations = it;
}
