// Matmul on cooperative matrices (coopmat.glsl; built as matmul_coopmat_nv
// for NVIDIA's, opt-in, and matmul_coopmat_emu for tests): x and w are
// rounded to fp16 (or are fp16 already: X_F16, W_F16), sums stay fp32. A
// workgroup of SG_M x SG_N subgroups owns a BM x BN block of y (64x64), each
// subgroup ACC_M x ACC_N fp32 accumulators of 16x16. x and w tiles of depth
// BK go through shared memory as fp16 (zero outside the matrices); the
// accumulators leave through shared memory, 16x16 at a time, to the common
// epilogue (bias, activation, residual; fp16 or fp32 y) with bounds checks.
// local_size_x must be SG_M * SG_N * the subgroup size. Each invocation
// moves groups of 4 consecutive k; with K % 4 == 0 (VEC4) a group is one
// vector load, and the next step's groups are loaded into registers while
// the matrix products work on this one.
// Split K (built with TC_SPLIT_K: matmul_coopmat_splitk_*): workgroups along
// z each sum K_STEPS steps of BK of K and add their sums (the bias too, in
// part 0) to y with atomic float adds; y holds the residual already (an
// in-place residual add, no activation, fp32 y: the host checks). More
// workgroups for shapes with few blocks of y (ViT-B/16's out_proj and
// c_proj: 4 x 12 blocks), a shorter chain of steps each.
#include "common.glsl"
#include "matmul_epilogue.glsl"
#include "matmul_weights.glsl"
TC_LOCAL_SIZE_X

// 4 subgroups of 32x32. (8 subgroups of 64x32, a 128x128 block, were
// slower on an H200 for ViT-L/14's 577x1024x4096.)
const uint SG_M = 2, SG_N = 2, ACC_M = 2, ACC_N = 2;
const uint T = 16; // cooperative-matrix side
const uint BM = SG_M * ACC_M * T, BN = SG_N * ACC_N * T, BK = 32;
const uint LD = BK + 8; // row stride of the staged tiles in halves: 80 bytes, a multiple of 16

#define COOP_SUBGROUPS (SG_M * SG_N)
#include "coopmat.glsl"

layout(constant_id = MATMUL_COOP_SPEC_VEC4) const bool VEC4 = false; // K % 4 == 0: x and w rows are vec4-aligned
#ifdef TC_SPLIT_K
layout(constant_id = MATMUL_COOP_SPEC_K_STEPS) const uint K_STEPS = 1; // steps of BK per part of K
#endif

layout(std430, binding = MATMUL_BIND_X) readonly buffer X { float x[]; };
// the same buffers seen in vectors (used only when VEC4) and as fp16 pairs
layout(std430, binding = MATMUL_BIND_X) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = MATMUL_BIND_X) readonly buffer XH2 { uvec2 xh2[]; };
layout(std430, binding = MATMUL_BIND_X) readonly buffer XH { uint xh[]; };
layout(std430, binding = MATMUL_BIND_W) readonly buffer W4 { uvec4 w4[]; };
layout(std430, binding = MATMUL_BIND_W) readonly buffer W2 { uvec2 w2[]; };

shared float16_t xs[BM * LD]; // x tile, row m, column k: row-major A
shared float16_t ws[BN * LD]; // w tile, row n, column k: B = wᵀ column-major
shared float cs[SG_M * SG_N * T * T]; // one 16x16 accumulator per subgroup on its way out

const uint QUADS = BM * BK / 4; // groups of 4 k per tile (BN == BM)
// groups per invocation and tile: 4 with subgroups of 32, 16 with the
// emulation's subgroups of 8
#ifdef TC_COOPMAT_EMULATE
const uint MAX_PER = 16;
#else
const uint MAX_PER = 8;
#endif

// Element i of x (row-major), fp32 or fp16.
float x_at(uint i)
{
  if (X_F16) {
    vec2 pair = unpackHalf2x16(xh[i >> 1]);
    return (i & 1u) == 0u ? pair.x : pair.y;
  }
  return x[i];
}

// x[m, k..k+3], zero outside the matrix.
vec4 load_x(uint m, uint k)
{
  if (m >= p.M || k >= p.K)
    return vec4(0.0);
  uint i = m * p.K + k;
  if (VEC4 && X_F16) {
    uvec2 h = xh2[i / 4];
    return vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y));
  }
  if (VEC4)
    return x4[i / 4];
  vec4 v;
  for (uint j = 0; j < 4; j++)
    v[j] = k + j < p.K ? x_at(i + j) : 0.0;
  return v;
}

// w[n, k..k+3], zero outside the matrix.
vec4 load_w(uint n, uint k)
{
  if (n >= p.N || k >= p.K)
    return vec4(0.0);
  uint i = n * p.K + k;
  if (VEC4 && W_F16) {
    uvec2 h = w2[i / 4];
    return vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y));
  }
  if (VEC4)
    return uintBitsToFloat(w4[i / 4]);
  vec4 v;
  for (uint j = 0; j < 4; j++)
    v[j] = k + j < p.K ? tc_weight(i + j) : 0.0;
  return v;
}

#ifdef TC_SPLIT_K
// This part's sums of (m, n) and (m, n + 1), n even, added to y.
void store2_split(uint m, uint n, float acc0, float acc1)
{
  uint i = m * p.N + n;
  if (HAS_BIAS && gl_WorkGroupID.z == 0) {
    acc0 += bias[n];
    if (n + 1 < p.N)
      acc1 += bias[n + 1];
  }
  atomicAdd(y[i], acc0);
  if (n + 1 < p.N)
    atomicAdd(y[i + 1], acc1);
}
#endif

void main()
{
  uint tid = gl_LocalInvocationID.x, threads = gl_WorkGroupSize.x;
  // this workgroup's part of K: [k_begin, k_end), whole steps of BK
#ifdef TC_SPLIT_K
  uint k_begin = gl_WorkGroupID.z * K_STEPS * BK, k_end = min(p.K, k_begin + K_STEPS * BK);
#else
  uint k_begin = 0, k_end = p.K;
#endif
  uint m_base = gl_WorkGroupID.y * BM, n_base = gl_WorkGroupID.x * BN;
  // this subgroup's part of the block
  uint sg = gl_SubgroupID, sm = (sg / SG_N) * ACC_M * T, sn = (sg % SG_N) * ACC_N * T;
  uint per = QUADS / threads; // groups per invocation and tile

  MAT_C acc[ACC_M][ACC_N];
  for (uint i = 0; i < ACC_M; i++)
    for (uint j = 0; j < ACC_N; j++) {
      COOP_ZERO(acc[i][j]);
    }

  // Group q of a tile: row q / (BK / 4), k offset 4 * (q % (BK / 4));
  // neighbouring invocations read neighbouring k (coalesced).
  vec4 xr[MAX_PER], wr[MAX_PER];
  for (uint i = 0; i < per; i++) {
    uint q = tid + i * threads, r = q / (BK / 4), kk = 4 * (q % (BK / 4));
    xr[i] = load_x(m_base + r, k_begin + kk);
    wr[i] = load_w(n_base + r, k_begin + kk);
  }
  for (uint k0 = k_begin; k0 < k_end; k0 += BK) {
    for (uint i = 0; i < per; i++) {
      uint q = tid + i * threads, r = q / (BK / 4), kk = 4 * (q % (BK / 4));
      for (uint j = 0; j < 4; j++) {
        xs[r * LD + kk + j] = float16_t(xr[i][j]);
        ws[r * LD + kk + j] = float16_t(wr[i][j]);
      }
    }
    barrier();
    if (k0 + BK < k_end) // the next step's loads overlap this step's products
      for (uint i = 0; i < per; i++) {
        uint q = tid + i * threads, r = q / (BK / 4), kk = 4 * (q % (BK / 4));
        xr[i] = load_x(m_base + r, k0 + BK + kk);
        wr[i] = load_w(n_base + r, k0 + BK + kk);
      }
    for (uint kk = 0; kk < BK; kk += T) {
      MAT_AB a[ACC_M], b[ACC_N];
      for (uint i = 0; i < ACC_M; i++) {
        COOP_LOAD(a[i], xs, (sm + i * T) * LD + kk, LD, false);
      }
      for (uint j = 0; j < ACC_N; j++) {
        COOP_LOAD(b[j], ws, (sn + j * T) * LD + kk, LD, true);
      }
      for (uint i = 0; i < ACC_M; i++)
        for (uint j = 0; j < ACC_N; j++) {
          COOP_MMA(a[i], b[j], acc[i][j]);
        }
    }
    barrier();
  }

  // Each lane writes pairs of neighbouring columns (T is even, so a pair
  // never straddles two rows of the tile).
  uint lane = gl_SubgroupInvocationID, base = sg * T * T;
  for (uint i = 0; i < ACC_M; i++)
    for (uint j = 0; j < ACC_N; j++) {
      COOP_STORE(acc[i][j], cs, base, T, false);
      subgroupMemoryBarrierShared();
      subgroupBarrier();
      for (uint e = 2 * lane; e < T * T; e += 2 * gl_SubgroupSize) {
        uint m = m_base + sm + i * T + e / T, n = n_base + sn + j * T + e % T;
        if (m < p.M && n < p.N) {
#ifdef TC_SPLIT_K
          store2_split(m, n, cs[base + e], cs[base + e + 1]);
#else
          tc_matmul_store2(m, n, cs[base + e], cs[base + e + 1]);
#endif
        }
      }
      subgroupBarrier(); // every lane has read before the next tile is stored
    }
}
