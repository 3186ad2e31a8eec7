// Cooperative matrices for the kernels that use them (matmul_coopmat,
// attention_coopmat), behind a few macros so that each kernel is written
// once and built twice:
//   <kernel>_nv.comp   NVIDIA cooperative matrices (VK_NV_cooperative_matrix,
//                      tensor cores): what runs on such GPUs;
//   <kernel>_emu.comp  the same source with TC_COOPMAT_EMULATE defined: the
//                      matrix operations in plain GLSL, so that the kernel's
//                      own logic (tiles, bounds, softmax, barriers) is tested
//                      on devices without them (lavapipe). Slow; tests only.
// All matrices are 16 x 16 at subgroup scope: MAT_AB holds fp16 operands,
// MAT_C fp32 sums. The operations, each called by the whole subgroup in
// uniform control flow:
//   COOP_ZERO(c)                       c = 0
//   COOP_LOAD(m, arr, off, stride, cm) m = the 16 x 16 block of the shared
//                                      array arr at element off: element (r, c)
//                                      at arr[off + r * stride + c], or with
//                                      cm (column-major) at arr[off + c * stride + r]
//   COOP_STORE(m, arr, off, stride, cm) the reverse
//   COOP_MMA(a, b, c)                  c += a * b
// NVIDIA wants the address and the stride of a load or store aligned to 16
// bytes. The including kernel defines COOP_SUBGROUPS (subgroups per
// workgroup) first.
#ifndef TC_COOPMAT_GLSL
#define TC_COOPMAT_GLSL

#ifndef TC_COOPMAT_EMULATE

#define MAT_AB fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define MAT_C fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>
#define COOP_ZERO(c) c = MAT_C(0.0)
#define COOP_LOAD(m, arr, off, stride, cm) coopMatLoadNV(m, arr, off, stride, cm)
#define COOP_STORE(m, arr, off, stride, cm) coopMatStoreNV(m, arr, off, stride, cm)
#define COOP_MMA(a, b, c) c = coopMatMulAddNV(a, b, c)

#else

// A matrix spread over the subgroup: element e = r * 16 + c is entry e / S
// of lane e % S, S the subgroup size (8 or more: at most 32 entries a lane).
// Operands are kept as floats holding fp16 values (they come from float16_t
// arrays, so exactly); products are fp32 fmas in k order, as the tensor cores
// do up to the order of the sums.
const uint COOP_MAX_ENTRIES = 32;
struct coop_mat {
  float v[COOP_MAX_ENTRIES];
};
#define MAT_AB coop_mat
#define MAT_C coop_mat

// per subgroup: the two operands of a product, side by side
shared float coop_scratch[COOP_SUBGROUPS * 512];

// Loops run over the lane's entries only: unrolled, the emulation took
// minutes to compile on lavapipe. (Its loops count against llvmpipe's 65535
// iterations per invocation: a product takes 2 * 256 / subgroup size, which
// limits the emulated attention to about 800 tokens on subgroups of 8.)
#define COOP_ENTRIES (256 / gl_SubgroupSize)
#define COOP_ELEMENT(off, stride, cm, e)                                                                    \
  ((off) + ((cm) ? ((e) % 16) * (stride) + (e) / 16 : ((e) / 16) * (stride) + (e) % 16))

#define COOP_ZERO(c)                                                                                        \
  for (uint i_ = 0; i_ < COOP_ENTRIES; i_++)                                                                \
  c.v[i_] = 0.0

#define COOP_LOAD(m, arr, off, stride, cm)                                                                  \
  for (uint i_ = 0; i_ < COOP_ENTRIES; i_++)                                                                \
  m.v[i_] = float(arr[COOP_ELEMENT(off, stride, cm, gl_SubgroupInvocationID + i_ * gl_SubgroupSize)])

// (arr's element type is float: the kernels store only fp32 sums)
#define COOP_STORE(m, arr, off, stride, cm)                                                                 \
  for (uint i_ = 0; i_ < COOP_ENTRIES; i_++)                                                                \
  arr[COOP_ELEMENT(off, stride, cm, gl_SubgroupInvocationID + i_ * gl_SubgroupSize)] = m.v[i_]

coop_mat coop_mma(coop_mat a, coop_mat b, coop_mat c)
{
  uint lane = gl_SubgroupInvocationID, base = gl_SubgroupID * 512;
  for (uint i = 0; i < COOP_ENTRIES; i++) {
    uint e = lane + i * gl_SubgroupSize;
    coop_scratch[base + e] = a.v[i];       // a[r][k], row-major
    coop_scratch[base + 256 + e] = b.v[i]; // b[k][c], row-major
  }
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  for (uint i = 0; i < COOP_ENTRIES; i++) {
    uint e = lane + i * gl_SubgroupSize, r = e / 16, col = e % 16;
    float s = c.v[i];
    [[unroll]] for (uint k = 0; k < 16; k++)
      s = fma(coop_scratch[base + r * 16 + k], coop_scratch[base + 256 + k * 16 + col], s);
    c.v[i] = s;
  }
  subgroupBarrier(); // every lane has read before the next product writes
  return c;
}
#define COOP_MMA(a, b, c) c = coop_mma(a, b, c)

#endif

#endif
