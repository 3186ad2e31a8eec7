#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
// Multi-head attention, GPU family, flash style: a workgroup owns one query
// row per invocation for one head; tiles of TK keys and values are staged in
// shared memory (coalesced loads, broadcast reads) and each invocation keeps
// its query row, its output accumulator and an online softmax in registers.
// Workgroups along x are row blocks, y is the head, z the frame of a batch
// (frames stacked in rows: frame z's rows start at row z * tokens).
//
// Loops over head_dim are unrolled, loops over keys are not: on lavapipe
// (which runs this family in the tests) all loop iterations of an invocation
// together may not exceed 65535 (LP_MAX_TGSI_LOOP_ITERATIONS: loops are cut
// short silently beyond that), and unrolling the key loops as well makes its
// compile take minutes.
#define TC_KERNEL_ATTENTION
#include "abi/attention.h"
#include "common.glsl"
TC_LOCAL_SIZE_X
layout(constant_id = ATTENTION_SPEC_HD) const uint HD = 64; // head_dim, a multiple of 4
layout(constant_id = ATTENTION_SPEC_TK) const uint TK = 32; // keys per shared tile
// fp16 q, k, v and out: 4 halves in a uvec2 where fp32 has a vec4 (same index)
layout(constant_id = ATTENTION_SPEC_GPU_QKV_F16) const bool QKV_F16 = false;
layout(constant_id = ATTENTION_SPEC_GPU_OUT_F16) const bool OUT_F16 = false;
const uint HD4 = HD / 4;

layout(std430, binding = ATTENTION_BIND_Q) readonly buffer Qb { vec4 q[]; };
layout(std430, binding = ATTENTION_BIND_K) readonly buffer Kb { vec4 k[]; };
layout(std430, binding = ATTENTION_BIND_V) readonly buffer Vb { vec4 v[]; };
layout(std430, binding = ATTENTION_BIND_O) writeonly buffer Ob { vec4 o[]; };
layout(std430, binding = ATTENTION_BIND_Q) readonly buffer Qh { uvec2 qh[]; };
layout(std430, binding = ATTENTION_BIND_K) readonly buffer Kh { uvec2 kh[]; };
layout(std430, binding = ATTENTION_BIND_V) readonly buffer Vh { uvec2 vh[]; };
layout(std430, binding = ATTENTION_BIND_O) writeonly buffer Oh { uvec2 oh[]; };

vec4 halves4(uvec2 h) { return vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y)); }
vec4 load_q(uint i) { return QKV_F16 ? halves4(qh[i]) : q[i]; }
vec4 load_k(uint i) { return QKV_F16 ? halves4(kh[i]) : k[i]; }
vec4 load_v(uint i) { return QKV_F16 ? halves4(vh[i]) : v[i]; }
// Offsets and strides in vec4s; scale premultiplied by log2(e).

shared vec4 k_tile[TK * HD4];
shared vec4 v_tile[TK * HD4];

const float MASKED = -1.0e30; // finite: exp2(MASKED - max) is 0, never NaN

void main()
{
  uint h = gl_WorkGroupID.y, t = gl_LocalInvocationID.x, frame = gl_WorkGroupID.z * p.tokens;
  uint row0 = gl_WorkGroupID.x * gl_WorkGroupSize.x, row = row0 + t, last = p.tokens - 1;
  // rows past the end compute row `last` again and write nothing; they still
  // help load the tiles and meet every barrier
  uint q_base = (frame + min(row, last)) * p.q_stride + p.q_off + h * HD4;
  vec4 qr[HD4], acc[HD4];
  [[unroll]] for (uint d = 0; d < HD4; d++) {
    qr[d] = load_q(q_base + d) * p.scale_log2e;
    acc[d] = vec4(0);
  }
  float m = MASKED, l = 0;

  // the same for the whole workgroup, so every invocation meets the barriers
  uint keys = p.causal != 0 ? min(p.tokens, row0 + gl_WorkGroupSize.x) : p.tokens;
  uint key_end = p.causal != 0 ? min(keys, row + 1) : keys;
  for (uint kb = 0; kb < keys; kb += TK) {
    [[dont_unroll]] for (uint i = t; i < TK * HD4; i += gl_WorkGroupSize.x) {
      uint key = frame + min(kb + i / HD4, last), d = i % HD4;
      k_tile[i] = load_k(key * p.k_stride + p.k_off + h * HD4 + d);
      v_tile[i] = load_v(key * p.v_stride + p.v_off + h * HD4 + d);
    }
    barrier();
    float s[TK];
    float mx = m;
    [[dont_unroll]] for (uint c = 0; c < TK; c++) {
      float a = 0;
      [[unroll]] for (uint d = 0; d < HD4; d++)
        a += dot(qr[d], k_tile[c * HD4 + d]);
      s[c] = kb + c < key_end ? a : MASKED;
      mx = max(mx, s[c]);
    }
    float alpha = exp2(m - mx);
    m = mx;
    l *= alpha;
    [[unroll]] for (uint d = 0; d < HD4; d++)
      acc[d] *= alpha;
    [[dont_unroll]] for (uint c = 0; c < TK; c++) {
      float pc = exp2(s[c] - mx);
      l += pc;
      [[unroll]] for (uint d = 0; d < HD4; d++)
        acc[d] += pc * v_tile[c * HD4 + d];
    }
    barrier(); // the tiles are overwritten next
  }
  if (row < p.tokens) {
    uint o_base = (frame + row) * p.o_stride + h * HD4;
    [[unroll]] for (uint d = 0; d < HD4; d++) {
      vec4 r = acc[d] / l;
      if (OUT_F16)
        oh[o_base + d] = uvec2(packHalf2x16(r.xy), packHalf2x16(r.zw));
      else
        o[o_base + d] = r;
    }
  }
}
