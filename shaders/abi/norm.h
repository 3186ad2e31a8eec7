/* layernorm_cpu/_gpu and softmax_cpu/_gpu: one row per workgroup */
#ifndef TC_ABI_NORM_H
#define TC_ABI_NORM_H
#include "tc_abi.h"

#define LAYERNORM_BIND_X 0
#define LAYERNORM_BIND_GAMMA 1
#define LAYERNORM_BIND_BETA 2
#define LAYERNORM_BIND_Y 3
#define LAYERNORM_BINDINGS 4
#define LAYERNORM_SPEC_Y_F16 1 /* gpu kernel: y as fp16 */

#define SOFTMAX_BIND_X 0
#define SOFTMAX_BIND_Y 1
#define SOFTMAX_BINDINGS 2

#if !defined(VULKAN) || defined(TC_KERNEL_LAYERNORM)
TC_PUSH_BEGIN(tc_layernorm_push)
  TC_PUSH_U32 rows, cols;
  TC_PUSH_F32 eps;
TC_PUSH_END(tc_layernorm_push, 12)
#endif

#if !defined(VULKAN) || defined(TC_KERNEL_SOFTMAX)
TC_PUSH_BEGIN(tc_softmax_push)
  TC_PUSH_U32 rows, cols;
  TC_PUSH_F32 scale;
TC_PUSH_END(tc_softmax_push, 12)
#endif

#endif
