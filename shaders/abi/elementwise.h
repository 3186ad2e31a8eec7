/* add, activation (shaders/add.comp, activation.comp) */
#ifndef TC_ABI_ELEMENTWISE_H
#define TC_ABI_ELEMENTWISE_H
#include "tc_abi.h"

#define ADD_BIND_A 0
#define ADD_BIND_B 1
#define ADD_BIND_Y 2
#define ADD_BINDINGS 3

#define ACTIVATION_BIND_X 0
#define ACTIVATION_BIND_Y 1
#define ACTIVATION_BINDINGS 2
#define ACTIVATION_SPEC_ACT 1 /* tc_act */

#if !defined(VULKAN) || defined(TC_KERNEL_ADD) || defined(TC_KERNEL_ACTIVATION)
TC_PUSH_BEGIN(tc_elementwise_push)
  TC_PUSH_U32 n; /* elements */
TC_PUSH_END(tc_elementwise_push, 4)
#endif

#endif
