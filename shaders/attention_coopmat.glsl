// Multi-head attention on cooperative matrices (coopmat.glsl; built as
// attention_coopmat_nv for NVIDIA's, opt-in, and attention_coopmat_emu for
// tests), flash style: head_dim 64, not causal. A workgroup of SUBGROUPS
// subgroups owns BR = 16 * SUBGROUPS query rows of one head (workgroups
// along x are row blocks, y is the head, z the frame of a batch, whose rows
// start at row z * tokens); each subgroup owns 16 of the rows.
// Keys and values come in tiles of BC through shared memory as fp16 (zero
// past the last token); per tile each subgroup
//   1. S = Q Kᵀ (16 x BC) on matrices, fp32 sums, into shared memory;
//   2. lanes owning a row: running maximum, P = exp2(scale * S - max)
//      rounded to fp16 into shared memory, running sum of those P;
//   3. P V (16 x 64) on matrices into shared memory, added to the output
//      accumulators (registers, fp32) after they are rescaled by
//      exp2(old max - new max) of their row.
// q, k and v are fp16 (QKV_F16) or fp32 rounded to fp16 on load; out is
// written fp16 (OUT_F16) or fp32, divided by the running sum.
// local_size_x must be SUBGROUPS * the subgroup size.
#define TC_KERNEL_ATTENTION
#include "abi/attention.h"
#include "common.glsl"
TC_LOCAL_SIZE_X
layout(constant_id = ATTENTION_SPEC_COOP_QKV_F16) const bool QKV_F16 = false;
layout(constant_id = ATTENTION_SPEC_COOP_OUT_F16) const bool OUT_F16 = false;

const uint T = 16, HD = 64, HD4 = HD / 4;
// Lavapipe (the emulation's device) has 32 KiB of shared memory: half the
// rows and keys there.
// OUT_QUADS: output quads per lane, 16 * HD4 / the subgroup size; a
// constant on NVIDIA, whose subgroups have 32 lanes (the host checks), so
// that the accumulators stay in registers.
#ifdef TC_COOPMAT_EMULATE
const uint SUBGROUPS = 2, BC = 32;
const uint MAX_OQ = 32; // subgroups of 8 or more
#define OUT_QUADS (T * HD4 / gl_SubgroupSize)
#else
const uint SUBGROUPS = 4, BC = 64;
const uint MAX_OQ = 8;
#define OUT_QUADS MAX_OQ
#endif
const uint BR = SUBGROUPS * T;
// Row strides of the shared tiles (max(HD, BC) plus padding against bank
// conflicts): in halves 72 (144 bytes), in floats 68 (272 bytes), both
// multiples of 16 bytes as NVIDIA's loads and stores want.
const uint LDH = 72, LDS = 68;

#define COOP_SUBGROUPS SUBGROUPS
#include "coopmat.glsl"

// q, k, v as vec4 (fp32) or as 4 halves in a uvec2 (fp16): the same index
layout(std430, binding = ATTENTION_BIND_Q) readonly buffer Q4 { vec4 q4[]; };
layout(std430, binding = ATTENTION_BIND_Q) readonly buffer Q2 { uvec2 q2[]; };
layout(std430, binding = ATTENTION_BIND_K) readonly buffer K4 { vec4 k4[]; };
layout(std430, binding = ATTENTION_BIND_K) readonly buffer K2 { uvec2 k2[]; };
layout(std430, binding = ATTENTION_BIND_V) readonly buffer V4 { vec4 v4[]; };
layout(std430, binding = ATTENTION_BIND_V) readonly buffer V2 { uvec2 v2[]; };
layout(std430, binding = ATTENTION_BIND_O) writeonly buffer O4 { vec4 o4[]; };
layout(std430, binding = ATTENTION_BIND_O) writeonly buffer O2 { uvec2 o2[]; };
// Offsets and strides in groups of 4 elements; scale premultiplied by
// log2(e). (causal and heads: attention_gpu's and attention_cpu's.)

shared float16_t qp[BR * LDH]; // the block's query rows, then each subgroup's P
shared float16_t ks[BC * LDH]; // key tile, row key, column d: B = Kᵀ column-major
shared float16_t vs[BC * LDH]; // value tile, row key, column d: B = V row-major
shared float ss[BR * LDS];     // each subgroup's S, then its P V
shared float row_max[BR], row_sum[BR], row_alpha[BR];

const float MASKED = -1.0e30; // finite: exp2(MASKED - max) is 0, never NaN

vec4 halves4(uvec2 h) { return vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y)); }
vec4 load_q(uint i) { return QKV_F16 ? halves4(q2[i]) : q4[i]; }
vec4 load_k(uint i) { return QKV_F16 ? halves4(k2[i]) : k4[i]; }
vec4 load_v(uint i) { return QKV_F16 ? halves4(v2[i]) : v4[i]; }

void main()
{
  uint tid = gl_LocalInvocationID.x, threads = gl_WorkGroupSize.x;
  uint h = gl_WorkGroupID.y, row0 = gl_WorkGroupID.x * BR, frame = gl_WorkGroupID.z * p.tokens;
  uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID, lanes = gl_SubgroupSize;
  uint r0 = sg * T; // this subgroup's first row in the block

  // the block's query rows, zero past the last token
  for (uint i = tid; i < BR * HD4; i += threads) {
    uint r = i / HD4, d4 = i % HD4, row = row0 + r;
    vec4 v = row < p.tokens ? load_q((frame + row) * p.q_stride + p.q_off + h * HD4 + d4) : vec4(0.0);
    for (uint j = 0; j < 4; j++)
      qp[r * LDH + 4 * d4 + j] = float16_t(v[j]);
  }
  for (uint r = tid; r < BR; r += threads) {
    row_max[r] = MASKED;
    row_sum[r] = 0.0;
  }
  barrier();
  MAT_AB qa[HD / T];
  for (uint d = 0; d < HD / T; d++) {
    COOP_LOAD(qa[d], qp, r0 * LDH + d * T, LDH, false);
  }
  barrier(); // qp's rows are overwritten by P below

  // This lane's output quads: quad e = lane + i * lanes of the subgroup's
  // 16 x HD block is row e / HD4, columns 4 * (e % HD4) ..+3.
  const uint nq = OUT_QUADS;
  vec4 o[MAX_OQ];
  for (uint i = 0; i < nq; i++)
    o[i] = vec4(0.0);

  for (uint kb = 0; kb < p.tokens; kb += BC) {
    // key and value tiles, zero past the last token
    for (uint i = tid; i < BC * HD4; i += threads) {
      uint c = i / HD4, d4 = i % HD4, key = kb + c;
      vec4 kv = vec4(0.0), vv = vec4(0.0);
      if (key < p.tokens) {
        kv = load_k((frame + key) * p.k_stride + p.k_off + h * HD4 + d4);
        vv = load_v((frame + key) * p.v_stride + p.v_off + h * HD4 + d4);
      }
      for (uint j = 0; j < 4; j++) {
        ks[c * LDH + 4 * d4 + j] = float16_t(kv[j]);
        vs[c * LDH + 4 * d4 + j] = float16_t(vv[j]);
      }
    }
    barrier();

    // 1. S = Q Kᵀ, 16 x BC
    for (uint j = 0; j < BC / T; j++) {
      MAT_C s;
      COOP_ZERO(s);
      for (uint d = 0; d < HD / T; d++) {
        MAT_AB kt;
        COOP_LOAD(kt, ks, (j * T) * LDH + d * T, LDH, true);
        COOP_MMA(qa[d], kt, s);
      }
      COOP_STORE(s, ss, r0 * LDS + j * T, LDS, false);
    }
    subgroupMemoryBarrierShared();
    subgroupBarrier();

    // 2. the softmax of each row, by the lane that owns it
    uint valid = min(BC, p.tokens - kb);
    for (uint r = r0 + lane; r < r0 + T; r += lanes) {
      float m_old = row_max[r], m = m_old;
      for (uint c = 0; c < valid; c++)
        m = max(m, ss[r * LDS + c] * p.scale_log2e);
      float sum = 0.0;
      for (uint c = 0; c < BC; c++) {
        float16_t pc = float16_t(c < valid ? exp2(ss[r * LDS + c] * p.scale_log2e - m) : 0.0);
        qp[r * LDH + c] = pc;
        sum += float(pc); // the P that P V uses
      }
      float alpha = exp2(m_old - m);
      row_max[r] = m;
      row_sum[r] = row_sum[r] * alpha + sum;
      row_alpha[r] = alpha;
    }
    subgroupMemoryBarrierShared();
    subgroupBarrier();

    // 3. P V, 16 x HD, over S in ss (read by now)
    MAT_AB pa[BC / T];
    for (uint c = 0; c < BC / T; c++) {
      COOP_LOAD(pa[c], qp, r0 * LDH + c * T, LDH, false);
    }
    for (uint j = 0; j < HD / T; j++) {
      MAT_C pv;
      COOP_ZERO(pv);
      for (uint c = 0; c < BC / T; c++) {
        MAT_AB vt;
        COOP_LOAD(vt, vs, (c * T) * LDH + j * T, LDH, false);
        COOP_MMA(pa[c], vt, pv);
      }
      COOP_STORE(pv, ss, r0 * LDS + j * T, LDS, false);
    }
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    for (uint i = 0; i < nq; i++) {
      uint e = lane + i * lanes, r = r0 + e / HD4, at = r * LDS + 4 * (e % HD4);
      o[i] = o[i] * row_alpha[r] + vec4(ss[at], ss[at + 1], ss[at + 2], ss[at + 3]);
    }
    barrier(); // every subgroup is done with ks, vs (and this one with ss, qp) before the next tiles
  }

  for (uint i = 0; i < nq; i++) {
    uint e = lane + i * lanes, r = r0 + e / HD4, row = row0 + r;
    if (row < p.tokens) {
      vec4 v = o[i] / row_sum[r];
      uint at = (frame + row) * p.o_stride + h * HD4 + e % HD4;
      if (OUT_F16)
        o2[at] = uvec2(packHalf2x16(v.xy), packHalf2x16(v.zw));
      else
        o4[at] = v;
    }
  }
}
