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
//   first chunk: v = 0 (or, warm, the previous submission's v when finite),
//                u = log r - LSE_q(logk + v)
//   repeat: v = log c - LSE_n(logk + u)          -- columns now exact
//           row error = sum_n |P[n,:]·1 - r|; stop if < tol or at the limit
//           u = log r - LSE_q(logk + v)
// Each LSE is shifted by a bound the previous half-step guarantees
// (logk + u <= log r - v_old, logk + v <= log c - u), so it takes one pass
// and every exp argument is <= 0: nothing overflows, whatever eps. A sum
// that comes out tiny (a column or row with next to no mass: small eps,
// early iterations) is summed again shifted by its true maximum, found in
// the same pass, so nothing that matters underflows either.
//
// Rows go four at a time: logk is read as vec4 texels of four consecutive
// rows (texel fetches are the fast loads on lavapipe), its rows padded to a
// multiple of 4 with -inf; u lives in shared memory.
#define TC_KERNEL_SINKHORN
#include "abi/head.h"
#include "common.glsl"
TC_LOCAL_SIZE_X

#define MAX_Q HEAD_MAX_Q   // checked by the host (abi/head.h)
#define MAX_G HEAD_MAX_G   // row groups of 4: N <= 4096, checked by the host
#define MAX_WG HEAD_MAX_WG // the largest workgroup the host uses
#define MAX_PART (MAX_Q > MAX_WG ? MAX_Q : MAX_WG)

layout(binding = SINKHORN_BIND_LOGK) uniform samplerBuffer logk;                      // [Q][G] texels
layout(std430, binding = SINKHORN_BIND_U) buffer U { vec4 u_buf[]; };              // [G]
layout(std430, binding = SINKHORN_BIND_LSE) buffer Lse { vec4 lse_row[]; };          // [G] scratch
layout(std430, binding = SINKHORN_BIND_V) buffer V { float v_buf[]; };             // [Q], kept between chunks
layout(std430, binding = SINKHORN_BIND_STATE) buffer State {
  uint iterations;
  uint converged;
  float row_error;
  float col_error;
  uint done;
} state;

shared vec4 u[MAX_G];
shared float v[MAX_Q];
shared float part_m[MAX_PART]; // per-lane partial LSEs: max and shifted sum
shared float part_s[MAX_PART];
shared float part_r[MAX_PART]; // partial sums of the second pass for tiny columns

const float NEG_INF = -1.0 / 0.0;
// A one-pass sum below this is redone from its maximum: what flushed to zero
// (< 1.2e-38 a term, at most 4096 terms) is then < 1e-9 of it.
const float TINY = 1e-25;
shared bool any_tiny;
shared bool bad_start;

float max4(vec4 x) { return max(max(x.x, x.y), max(x.z, x.w)); }
float sum4(vec4 x) { return (x.x + x.y) + (x.z + x.w); }
bvec4 real_rows(uint g) { return lessThan(uvec4(4 * g) + uvec4(0, 1, 2, 3), uvec4(p.N)); }

// LSE_q(logk[q][n] + v[q]) for the four rows of group g (pad rows: 0).
vec4 lse_rows(uint g)
{
  vec4 m = vec4(NEG_INF), s = vec4(0.0);
  for (uint q = 0; q < p.Q; q++)
    m = max(m, texelFetch(logk, int(q * p.G + g)) + v[q]);
  for (uint q = 0; q < p.Q; q++)
    s += exp(texelFetch(logk, int(q * p.G + g)) + v[q] - m);
  return mix(vec4(0.0), m + log(s), real_rows(g));
}

// The same with the bound shift = log c - u: one pass; rows whose sum is
// tiny are summed again from their maximum.
vec4 lse_rows_bounded(uint g, vec4 shift)
{
  vec4 m = vec4(NEG_INF), s = vec4(0.0);
  for (uint q = 0; q < p.Q; q++) {
    vec4 x = texelFetch(logk, int(q * p.G + g)) + v[q] - shift;
    m = max(m, x);
    s += exp(x);
  }
  vec4 lse = shift + log(s);
  bvec4 tiny = lessThan(s, vec4(TINY));
  if (any(tiny)) { // rare (and the padding rows of the last group)
    vec4 s2 = vec4(0.0);
    for (uint q = 0; q < p.Q; q++)
      s2 += exp(texelFetch(logk, int(q * p.G + g)) + v[q] - shift - m);
    lse = mix(lse, shift + m + log(s2), tiny);
  }
  return mix(vec4(0.0), lse, real_rows(g));
}

void main()
{
  const uint lane = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
  // column work: `slices` lanes per column, each over groups s, s + slices, ...
  const uint slices = max(1u, WG / p.Q);

  if (p.first == 0u && state.done != 0u)
    return; // converged in an earlier chunk (uniform: one value for all lanes)

  uint it;
  if (p.first != 0u) {
    if (lane == 0u)
      bad_start = false;
    barrier();
    for (uint q = lane; q < p.Q; q += WG) {
      v[q] = p.warm != 0u ? v_buf[q] : 0.0;
      if (isnan(v[q]) || isinf(v[q])) // left by a frame with NaN tokens
        bad_start = true;
    }
    barrier();
    if (bad_start) { // uniform: start cold
      for (uint q = lane; q < p.Q; q += WG)
        v[q] = 0.0;
      barrier();
    }
    for (uint g = lane; g < p.G; g += WG)
      u[g] = mix(vec4(0.0), p.log_r - lse_rows(g), real_rows(g));
    if (lane == 0u)
      state.done = 0u;
    it = 0u;
  } else {
    for (uint q = lane; q < p.Q; q += WG)
      v[q] = v_buf[q];
    for (uint g = lane; g < p.G; g += WG)
      u[g] = u_buf[g];
    it = state.iterations;
  }
  barrier();

  for (uint step = 0u; step < p.chunk; step++) {
    // columns: per-lane partial sums shifted by the bound log r - v_old (and
    // their maxima), merged per column
    if (lane == 0u)
      any_tiny = false;
    for (uint t = lane; t < p.Q * slices; t += WG) {
      uint q = t / slices, s0 = t % slices;
      float shift = p.log_r - v[q];
      vec4 m = vec4(NEG_INF), s = vec4(0.0);
      for (uint g = s0; g < p.G; g += slices) {
        vec4 x = texelFetch(logk, int(q * p.G + g)) + u[g] - shift;
        m = max(m, x);
        s += exp(x);
      }
      part_m[t] = max4(m);
      part_s[t] = sum4(s);
    }
    barrier();
    for (uint q = lane; q < p.Q; q += WG) {
      float m = NEG_INF, s = 0.0;
      for (uint j = 0u; j < slices; j++) {
        m = max(m, part_m[q * slices + j]);
        s += part_s[q * slices + j];
      }
      if (s < TINY) { // the column's maximum, for the pass below
        part_m[q * slices] = m;
        any_tiny = true;
      } else {
        v[q] = p.log_c - (p.log_r - v[q] + log(s));
      }
      part_s[q * slices] = s;
    }
    barrier();
    if (any_tiny) { // rare and uniform: columns with tiny sums again, from their maxima
      for (uint t = lane; t < p.Q * slices; t += WG) {
        uint q = t / slices, s0 = t % slices;
        if (part_s[q * slices] >= TINY)
          continue;
        float shift = p.log_r - v[q] + part_m[q * slices];
        vec4 s = vec4(0.0);
        for (uint g = s0; g < p.G; g += slices)
          s += exp(texelFetch(logk, int(q * p.G + g)) + u[g] - shift);
        part_r[t] = sum4(s);
      }
      barrier();
      for (uint q = lane; q < p.Q; q += WG) {
        if (part_s[q * slices] >= TINY)
          continue;
        float s = 0.0;
        for (uint j = 0u; j < slices; j++)
          s += part_r[q * slices + j];
        v[q] = p.log_c - (p.log_r - v[q] + part_m[q * slices] + log(s));
      }
      barrier();
    }
    it++;

    // rows: LSE with the new v; the plan (u, v) has exact columns, measure its rows
    float lane_err = 0.0;
    for (uint g = lane; g < p.G; g += WG) {
      vec4 lse = lse_rows_bounded(g, p.log_c - u[g]);
      lse_row[g] = lse;
      lane_err += sum4(mix(vec4(0.0), abs(exp(u[g] + lse) - p.r), real_rows(g)));
    }
    part_s[lane] = lane_err;
    barrier();
    float err = 0.0;
    for (uint l = 0u; l < WG; l++) // every lane sums, in the same order: a uniform decision
      err += part_s[l];
    bool conv = err < p.tol;
    if (conv || it >= p.max_iters) {
      // final: measured column error of this plan; u, v out for topk_mask and tests
      barrier(); // all lanes have read part_s
      for (uint t = lane; t < p.Q * slices; t += WG) {
        uint q = t / slices, s0 = t % slices;
        vec4 s = vec4(0.0);
        for (uint g = s0; g < p.G; g += slices)
          s += exp(texelFetch(logk, int(q * p.G + g)) + u[g] + v[q]);
        part_s[t] = sum4(s);
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
      for (uint g = lane; g < p.G; g += WG)
        u_buf[g] = u[g];
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
    for (uint g = lane; g < p.G; g += WG) // each lane updates the groups it measured
      u[g] = mix(vec4(0.0), p.log_r - lse_row[g], real_rows(g));
    barrier(); // u complete; all lanes have read part_s
  }

  // chunk used up, not finished: hand u, v and the count to the next dispatch
  for (uint q = lane; q < p.Q; q += WG)
    v_buf[q] = v[q];
  for (uint g = lane; g < p.G; g += WG)
    u_buf[g] = u[g];
  if (lane == 0u)
    state.iterations = it;
}
