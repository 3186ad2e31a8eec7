/* y = act(x w^T + bias) + residual in every variant: matmul_cpu (and
 * _cpu_f16), matmul_scalar, matmul_shared, matmul_coopmat_* (and _splitk_*)
 * (core/ops/tc_op_matmul.c) */
#ifndef TC_ABI_MATMUL_H
#define TC_ABI_MATMUL_H
#include "tc_abi.h"

/* matmul_cpu reads x, w and the residual as texels, the others all as
 * storage buffers */
#define MATMUL_BIND_X 0
#define MATMUL_BIND_W 1
#define MATMUL_BIND_BIAS 2
#define MATMUL_BIND_RESIDUAL 3
#define MATMUL_BIND_Y 4
#define MATMUL_BINDINGS 5

/* Every variant (matmul_epilogue.glsl, matmul_cpu.glsl) */
#define MATMUL_SPEC_ACT 1      /* tc_act */
#define MATMUL_SPEC_HAS_BIAS 2
/* storage-buffer variants: 0 none, 1 a buffer of its own, 2 y itself */
#define MATMUL_SPEC_RESIDUAL 3
#define MATMUL_SPEC_W_F16 4    /* storage-buffer variants: w as fp16 pairs */
#define MATMUL_SPEC_TILE 5     /* the tile sizes from here (scalar: TM, TN; shared: BM, BN, BK) */
#define MATMUL_SPEC_X_F16 8    /* the gpu variants (shared, coopmat): x as fp16 */
#define MATMUL_SPEC_Y_F16 9    /* and y */
/* matmul_cpu's own */
#define MATMUL_CPU_SPEC_HAS_RESIDUAL 3
#define MATMUL_CPU_SPEC_SG 4       /* the device's subgroup size */
#define MATMUL_CPU_SPEC_TM 5       /* rows of y per invocation */
#define MATMUL_CPU_SPEC_TN 6       /* consecutive columns of y per invocation */
#define MATMUL_CPU_SPEC_W_PANELS 7 /* w in 16-row panels */
/* matmul_coopmat's own */
#define MATMUL_COOP_SPEC_VEC4 5    /* K % 4 == 0: x and w rows vec4-aligned */
#define MATMUL_COOP_SPEC_K_STEPS 6 /* steps of BK per part of K (split K) */

#if !defined(VULKAN) || defined(TC_KERNEL_MATMUL)
TC_PUSH_BEGIN(tc_matmul_push)
  TC_PUSH_U32 M, N, K;
TC_PUSH_END(tc_matmul_push, 12)
#endif

#endif
