#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
// Multi-head attention, CPU family (lavapipe), flash style: no score matrix
// is stored; keys stream in blocks with an online softmax.
//
// llvmpipe runs a subgroup as the lanes of one SIMD register, so this is
// laid out as matmul_cpu is: a workgroup is one subgroup of SG lanes on one
// head, each lane owns R query rows (row0 + lane + SG * i) and keeps them,
// their scores and their output sums per lane. A block is SG keys: each lane
// loads one key (and later its value) and the others get it through
// subgroupShuffle with a constant lane, one vpermps per component, where
// loading each key in every lane cost a gather (or a call) per row of four
// dimensions. q, k and v are storage texel buffers (imageLoad: inlined by
// llvmpipe). All loops but the one over key blocks unroll; llvmpipe ends
// loops silently after 65535 iterations per invocation, all loops together,
// so the loop count grows with tokens / SG only. No shared memory, no
// barriers.
#define TC_KERNEL_ATTENTION
#include "abi/attention.h"
#include "common.glsl"
TC_LOCAL_SIZE_X // SG: one subgroup
layout(constant_id = ATTENTION_SPEC_HD) const uint HD = 64; // head_dim, a multiple of 4
layout(constant_id = ATTENTION_SPEC_R) const uint R = 4;   // query rows per lane
layout(constant_id = ATTENTION_SPEC_SG) const uint SG = 8;  // the device's subgroup size: keys per block
const uint HD4 = HD / 4;

layout(binding = ATTENTION_BIND_Q, rgba32f) uniform readonly imageBuffer Q;
layout(binding = ATTENTION_BIND_K, rgba32f) uniform readonly imageBuffer K;
layout(binding = ATTENTION_BIND_V, rgba32f) uniform readonly imageBuffer V;
layout(std430, binding = ATTENTION_BIND_O) writeonly buffer O { vec4 o[]; };
// Offsets and strides in texels (4 floats); scale premultiplied by log2(e).

const float MASKED = -1.0e30; // finite: exp2(MASKED - max) is 0, never NaN

void main()
{
  uint lane = gl_SubgroupInvocationID;
  uint blocks = (p.tokens + SG * R - 1) / (SG * R), h = gl_WorkGroupID.x / blocks;
  uint row0 = (gl_WorkGroupID.x % blocks) * SG * R + lane;
  uint last = p.tokens - 1;
  // the lane's query rows, loaded once (rows past the end compute row `last` again, unwritten)
  vec4 qr[R][HD4];
  for (uint i = 0; i < R; i++) {
    int base = int(min(row0 + SG * i, last) * p.q_stride + p.q_off + h * HD4);
    for (uint d = 0; d < HD4; d++)
      qr[i][d] = imageLoad(Q, base + int(d));
  }

  vec4 acc[R][HD4];
  float m[R], l[R];
  for (uint i = 0; i < R; i++) {
    m[i] = MASKED;
    l[i] = 0;
    for (uint d = 0; d < HD4; d++)
      acc[i][d] = vec4(0);
  }

  // causal: keys up to the subgroup's last row
  uint keys = p.causal != 0 ? min(p.tokens, row0 - lane + SG * R) : p.tokens;
  for (uint kb = 0; kb < keys; kb += SG) {
    uint key = min(kb + lane, last); // keys past the end: masked below
    // scores s[i][c] = q[i] . k[kb + c], k[kb + c] from lane c
    vec4 kl[HD4];
    int k_base = int(key * p.k_stride + p.k_off + h * HD4);
    for (uint d = 0; d < HD4; d++)
      kl[d] = imageLoad(K, k_base + int(d));
    float s[R][SG];
    for (uint i = 0; i < R; i++)
      for (uint c = 0; c < SG; c++)
        s[i][c] = 0;
    for (uint d = 0; d < HD4; d++)
      for (uint c = 0; c < SG; c++) {
        vec4 kv = subgroupShuffle(kl[d], c);
        for (uint i = 0; i < R; i++)
          s[i][c] += dot(qr[i][d], kv);
      }
    // online softmax: rescale what was accumulated to the new row maximum
    // (unconditionally: a branch on it would run both ways, masked)
    for (uint i = 0; i < R; i++) {
      uint key_end = p.causal != 0 ? min(keys, row0 + SG * i + 1) : keys;
      float mx = m[i];
      for (uint c = 0; c < SG; c++) {
        s[i][c] = kb + c < key_end ? s[i][c] * p.scale_log2e : MASKED;
        mx = max(mx, s[i][c]);
      }
      float alpha = exp2(m[i] - mx);
      m[i] = mx;
      l[i] *= alpha;
      for (uint d = 0; d < HD4; d++)
        acc[i][d] *= alpha;
      for (uint c = 0; c < SG; c++) {
        s[i][c] = exp2(s[i][c] - mx);
        l[i] += s[i][c];
      }
    }
    // acc[i] += sum_c s[i][c] v[kb + c], v[kb + c] from lane c
    vec4 vl[HD4];
    int v_base = int(key * p.v_stride + p.v_off + h * HD4);
    for (uint d = 0; d < HD4; d++)
      vl[d] = imageLoad(V, v_base + int(d));
    for (uint d = 0; d < HD4; d++)
      for (uint c = 0; c < SG; c++) {
        vec4 vv = subgroupShuffle(vl[d], c);
        for (uint i = 0; i < R; i++)
          acc[i][d] += s[i][c] * vv;
      }
  }

  for (uint i = 0; i < R; i++) {
    uint row = row0 + SG * i;
    if (row < p.tokens) {
      float inv = 1.0 / l[i];
      uint o_base = row * p.o_stride + h * HD4;
      for (uint d = 0; d < HD4; d++)
        o[o_base + d] = acc[i][d] * inv;
    }
  }
}
