// Matmul for CPU devices (lavapipe), y = act(x wᵀ + bias) + residual; the
// body of matmul_cpu.comp (w fp32) and matmul_cpu_f16.comp (w fp16, which
// define W_HALF first). Needs K % 4 == 0. Why it is shaped this way (each
// choice measured, tools/bench/README.md):
//
// - llvmpipe runs a subgroup's invocations as the lanes of one SIMD
//   register (8 with AVX2, 16 with LP_NATIVE_VECTOR_WIDTH=512). Each
//   invocation owns TM rows x TN consecutive columns of y, so a sum is one
//   vector of the lanes' sums. Sums live on the stack (too many for the
//   registers) and every write of one inside the k loop costs a masked
//   blend, so each is written once per k step after four products.
// - The subgroup's lanes share their TM rows of x: each lane loads one row
//   per k step (XF loads for TM rows) and row r reaches every lane through
//   subgroupShuffle with the constant lane r % SG, one vpermps; loading
//   every row in every lane cost a whole gather per row.
// - x, w and the residual come through storage texel buffers (imageLoad),
//   which llvmpipe inlines as a gather; texelFetch on a uniform texel buffer
//   is a call, and every live vector is spilled around each call.
// - w may be in 16-row panels (tc_matmul_pack_panels): texel (n, k) at
//   ((n / 16) * K/4 + k) * 16 + n % 16, so a lane's TN rows come from one
//   panel read front to back.
// - llvmpipe does not fuse a multiply and an add (it lowers fma()), so
//   dot() it is.
// - The epilogue (activation, residual) works on the sums in registers and
//   stores once: each store is a loop over the lanes in llvmpipe.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_vote : require
#extension GL_KHR_shader_subgroup_shuffle : require
#define TC_KERNEL_MATMUL
#include "abi/matmul.h"
#include "common.glsl"
#include "activation.glsl"
TC_LOCAL_SIZE_X

layout(constant_id = MATMUL_SPEC_ACT) const uint ACT = TC_ACT_NONE;
layout(constant_id = MATMUL_SPEC_HAS_BIAS) const bool HAS_BIAS = false;
layout(constant_id = MATMUL_CPU_SPEC_HAS_RESIDUAL) const bool HAS_RESIDUAL = false;
layout(constant_id = MATMUL_CPU_SPEC_SG) const uint SG = 8; // the device's subgroup size
layout(constant_id = MATMUL_CPU_SPEC_TM) const uint TM = 32; // rows of y per invocation (all lanes of a workgroup share them)
layout(constant_id = MATMUL_CPU_SPEC_TN) const uint TN = 4;  // consecutive columns of y per invocation
layout(constant_id = MATMUL_CPU_SPEC_W_PANELS) const bool W_PANELS = false;

layout(binding = MATMUL_BIND_X, rgba32f) uniform readonly imageBuffer X; // [M, K/4]
#ifdef W_HALF
layout(binding = MATMUL_BIND_W, rgba16f) uniform readonly imageBuffer W; // [N, K/4] or panels
#else
layout(binding = MATMUL_BIND_W, rgba32f) uniform readonly imageBuffer W;
#endif
// Without bias or residual the host binds y in their place; they are not read then.
layout(std430, binding = MATMUL_BIND_BIAS) readonly buffer Bias { float bias[]; };
layout(binding = MATMUL_BIND_RESIDUAL, r32f) uniform readonly imageBuffer RESIDUAL; // [M, N], may be y itself
layout(std430, binding = MATMUL_BIND_Y) writeonly buffer Y { float y[]; };

const uint XF = (TM + SG - 1) / SG; // rows of x a lane loads per k step

void main()
{
  uint lane = gl_SubgroupInvocationID;
  uint n0 = gl_GlobalInvocationID.x * TN, m0 = gl_WorkGroupID.y * TM;
  // Lanes past N compute on clamped columns, as the others need their rows
  // of x; only a subgroup wholly past N stops.
  if (subgroupAll(n0 >= p.N))
    return;
  int k4 = int(p.K / 4);
  int xrow[XF];
  for (uint i = 0; i < XF; i++)
    xrow[i] = int(min(m0 + i * SG + lane, p.M - 1)) * k4; // rows past M: the last one again, not stored
  int wrow[TN];
  for (uint c = 0; c < TN; c++) {
    uint n = min(n0 + c, p.N - 1);
    wrow[c] = W_PANELS ? int(n / 16u) * k4 * 16 + int(n % 16u) : int(n) * k4;
  }
  const int wstep = W_PANELS ? 16 : 1; // texels from one k to the next

  float acc[TM][TN];
  for (uint c = 0; c < TN; c++) {
    float b = HAS_BIAS ? bias[min(n0 + c, p.N - 1)] : 0.0;
    for (uint r = 0; r < TM; r++)
      acc[r][c] = b;
  }

  for (int k = 0; k < k4; k++) {
    vec4 wv[TN];
    for (uint c = 0; c < TN; c++)
      wv[c] = imageLoad(W, wrow[c] + k * wstep);
    vec4 xl[XF];
    for (uint i = 0; i < XF; i++)
      xl[i] = imageLoad(X, xrow[i] + k);
    for (uint r = 0; r < TM; r++) {
      vec4 xv = subgroupShuffle(xl[r / SG], r % SG);
      for (uint c = 0; c < TN; c++)
        acc[r][c] += dot(xv, wv[c]);
    }
  }

  for (uint r = 0; r < TM; r++)
    for (uint c = 0; c < TN; c++) {
      uint m = m0 + r, n = n0 + c;
      if (m < p.M && n < p.N) {
        float v = tc_act(acc[r][c], ACT);
        if (HAS_RESIDUAL)
          v += imageLoad(RESIDUAL, int(m * p.N + n)).x;
        y[m * p.N + n] = v;
      }
    }
}
