/* attention_cpu, attention_cpu_shuffle, attention_gpu, attention_coopmat_nv/_emu:
 * O = softmax(Q K^T * scale) V per head, rows of one sequence */
#ifndef TC_ABI_ATTENTION_H
#define TC_ABI_ATTENTION_H
#include "tc_abi.h"

#define ATTENTION_BIND_Q 0
#define ATTENTION_BIND_K 1
#define ATTENTION_BIND_V 2
#define ATTENTION_BIND_O 3
#define ATTENTION_BINDINGS 4

/* attention_cpu, attention_cpu_shuffle, attention_gpu */
#define ATTENTION_SPEC_HD 1 /* head_dim, a multiple of 4 */
/* attention_cpu: query rows per invocation; attention_cpu_shuffle: per lane */
#define ATTENTION_SPEC_R 2
#define ATTENTION_SPEC_C 3  /* attention_cpu: keys per block */
#define ATTENTION_SPEC_SG 3 /* attention_cpu_shuffle: the subgroup size, keys per block */
#define ATTENTION_SPEC_TK 2 /* attention_gpu: keys per shared tile */
#define ATTENTION_SPEC_GPU_QKV_F16 3
#define ATTENTION_SPEC_GPU_OUT_F16 4
/* attention_coopmat_* */
#define ATTENTION_SPEC_COOP_QKV_F16 1
#define ATTENTION_SPEC_COOP_OUT_F16 2

/* Offsets and strides in vec4s; frames along the z of the dispatch. The cpu
 * kernels also take the head count (their x runs over (head, row block)
 * pairs); the others read the head from the y of the dispatch and ignore it. */
#if !defined(VULKAN) || defined(TC_KERNEL_ATTENTION)
TC_PUSH_BEGIN(tc_attention_push)
  TC_PUSH_U32 q_off, q_stride, k_off, k_stride, v_off, v_stride, o_stride;
  TC_PUSH_U32 tokens, causal;
  TC_PUSH_F32 scale_log2e;
  TC_PUSH_U32 heads;
TC_PUSH_END(tc_attention_push, 44)
#endif

#endif
