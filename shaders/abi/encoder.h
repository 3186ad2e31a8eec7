/* patchify, embed_tokens (shaders/patchify.comp, embed_tokens.comp) */
#ifndef TC_ABI_ENCODER_H
#define TC_ABI_ENCODER_H
#include "tc_abi.h"

#define PATCHIFY_BIND_IMAGE 0
#define PATCHIFY_BIND_PATCHES 1
#define PATCHIFY_BINDINGS 2

#define EMBED_BIND_PATCHES 0
#define EMBED_BIND_CLASS 1
#define EMBED_BIND_POS 2
#define EMBED_BIND_X 3
#define EMBED_BINDINGS 4

#if !defined(VULKAN) || defined(TC_KERNEL_PATCHIFY)
TC_PUSH_BEGIN(tc_patchify_push)
  TC_PUSH_U32 size;  /* S */
  TC_PUSH_U32 psize; /* p */
  TC_PUSH_U32 grid;  /* patches per side */
TC_PUSH_END(tc_patchify_push, 12)
#endif

#if !defined(VULKAN) || defined(TC_KERNEL_EMBED_TOKENS)
TC_PUSH_BEGIN(tc_embed_tokens_push)
  TC_PUSH_U32 tokens;
  TC_PUSH_U32 width;
TC_PUSH_END(tc_embed_tokens_push, 8)
#endif

#endif
