#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
// Multi-head attention, CPU family (lavapipe), flash style: an invocation
// owns R query rows of one head and streams the keys in blocks of C with an
// online softmax, so no score matrix is ever stored. q, k and v are read as
// vec4 texels (the fast load path of llvmpipe); the R query rows (fetched
// once: +40% over refetching them per block), the R x C scores and the R x HD
// output accumulators stay in registers. No shared memory, no barriers.
// Invocations are (head, row block) pairs in one flat range, so SIMD lanes
// stay busy when tokens / R is not a multiple of the lane count (ViT-B/16:
// 25 blocks per head filled 25 of 32 lanes: 35 GFLOP/s instead of 45).
//
// Every loop but the one over key blocks is unrolled: llvmpipe ends loops
// silently after 65535 iterations per invocation, all loops together, so
// the loop count must grow with tokens / C only.
#define TC_KERNEL_ATTENTION
#include "abi/attention.h"
#include "common.glsl"
TC_LOCAL_SIZE_X
layout(constant_id = ATTENTION_SPEC_HD) const uint HD = 64; // head_dim, a multiple of 4
layout(constant_id = ATTENTION_SPEC_R) const uint R = 4;   // query rows per invocation
layout(constant_id = ATTENTION_SPEC_C) const uint C = 8;   // keys per block
const uint HD4 = HD / 4;

layout(binding = ATTENTION_BIND_Q) uniform samplerBuffer Q;
layout(binding = ATTENTION_BIND_K) uniform samplerBuffer K;
layout(binding = ATTENTION_BIND_V) uniform samplerBuffer V;
layout(std430, binding = ATTENTION_BIND_O) writeonly buffer O { vec4 o[]; };
// Offsets and strides in texels (4 floats); scale premultiplied by log2(e).

const float MASKED = -1.0e30; // finite: exp2(MASKED - max) is 0, never NaN

void main()
{
  uint blocks = (p.tokens + R - 1) / R, h = gl_GlobalInvocationID.x / blocks;
  uint row0 = (gl_GlobalInvocationID.x % blocks) * R;
  if (h >= p.heads)
    return;
  uint last = p.tokens - 1;
  // the query rows, fetched once (rows past the end compute row `last` again, unwritten)
  vec4 qr[R][HD4];
  [[unroll]] for (uint r = 0; r < R; r++) {
    uint q_base = min(row0 + r, last) * p.q_stride + p.q_off + h * HD4;
    [[unroll]] for (uint d = 0; d < HD4; d++)
      qr[r][d] = texelFetch(Q, int(q_base + d));
  }

  vec4 acc[R][HD4];
  float m[R], l[R];
  [[unroll]] for (uint r = 0; r < R; r++) {
    m[r] = MASKED;
    l[r] = 0;
    [[unroll]] for (uint d = 0; d < HD4; d++)
      acc[r][d] = vec4(0);
  }

  uint keys = p.causal != 0 ? min(p.tokens, row0 + R) : p.tokens;
  for (uint kb = 0; kb < keys; kb += C) {
    // scores of the block: s[r][c] = q[r] . k[kb + c]
    float s[R][C];
    uint k_base[C];
    [[unroll]] for (uint c = 0; c < C; c++) {
      k_base[c] = min(kb + c, last) * p.k_stride + p.k_off + h * HD4;
      [[unroll]] for (uint r = 0; r < R; r++)
        s[r][c] = 0;
    }
    [[unroll]] for (uint d = 0; d < HD4; d++) {
      [[unroll]] for (uint c = 0; c < C; c++) {
        vec4 kv = texelFetch(K, int(k_base[c] + d));
        [[unroll]] for (uint r = 0; r < R; r++)
          s[r][c] += dot(qr[r][d], kv);
      }
    }
    // online softmax: rescale what was accumulated to the new row maximum
    [[unroll]] for (uint r = 0; r < R; r++) {
      uint key_end = p.causal != 0 ? min(keys, row0 + r + 1) : keys;
      float mx = m[r];
      [[unroll]] for (uint c = 0; c < C; c++) {
        s[r][c] = kb + c < key_end ? s[r][c] * p.scale_log2e : MASKED;
        mx = max(mx, s[r][c]);
      }
      if (mx > m[r]) { // after the first blocks the maximum rarely moves
        float alpha = exp2(m[r] - mx);
        m[r] = mx;
        l[r] *= alpha;
        [[unroll]] for (uint d = 0; d < HD4; d++)
          acc[r][d] *= alpha;
      }
      [[unroll]] for (uint c = 0; c < C; c++) {
        s[r][c] = exp2(s[r][c] - mx);
        l[r] += s[r][c];
      }
    }
    // acc[r] += sum_c s[r][c] v[kb + c]
    [[unroll]] for (uint c = 0; c < C; c++) {
      uint v_base = min(kb + c, last) * p.v_stride + p.v_off + h * HD4;
      [[unroll]] for (uint d = 0; d < HD4; d++) {
        vec4 vv = texelFetch(V, int(v_base + d));
        [[unroll]] for (uint r = 0; r < R; r++)
          acc[r][d] += s[r][c] * vv;
      }
    }
  }

  [[unroll]] for (uint r = 0; r < R; r++) {
    if (row0 + r >= p.tokens)
      break;
    float inv = 1.0 / l[r];
    uint o_base = (row0 + r) * p.o_stride + h * HD4;
    [[unroll]] for (uint d = 0; d < HD4; d++)
      o[o_base + d] = acc[r][d] * inv;
  }
}
