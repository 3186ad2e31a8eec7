/* The head's kernels: head_pad_rows, head_similarity, sinkhorn_log,
 * topk_mask, head_image_score (core/head/tc_head.c) */
#ifndef TC_ABI_HEAD_H
#define TC_ABI_HEAD_H
#include "tc_abi.h"

/* Shared-memory sizes of the kernels, checked by the host */
#define HEAD_MAX_Q 128  /* subspaces */
#define HEAD_MAX_G 1024 /* row groups of 4: at most 4096 patch tokens */
#define HEAD_MAX_WG 256 /* the largest workgroup the host uses */

#define PAD_ROWS_BIND_X 0
#define PAD_ROWS_BIND_Y 1
#define PAD_ROWS_BINDINGS 2

#define SIMILARITY_BIND_TOKENS 0    /* texels */
#define SIMILARITY_BIND_SUBSPACES 1 /* texels */
#define SIMILARITY_BIND_PROBS 2
#define SIMILARITY_BIND_LOGK 3
#define SIMILARITY_BIND_ROW_BAD 4
#define SIMILARITY_BINDINGS 5
#define SIMILARITY_SPEC_TM 1 /* token rows per invocation */
#define SIMILARITY_SPEC_TP 2 /* subspaces (2 TP columns) per invocation */

#define SINKHORN_BIND_LOGK 0 /* texels */
#define SINKHORN_BIND_U 1
#define SINKHORN_BIND_LSE 2
#define SINKHORN_BIND_V 3
#define SINKHORN_BIND_STATE 4
#define SINKHORN_BINDINGS 5

#define TOPK_BIND_LOGK 0
#define TOPK_BIND_V 1
#define TOPK_BIND_PROBS 2
#define TOPK_BIND_W 3
#define TOPK_BIND_SCORES 4
#define TOPK_BINDINGS 5

#define IMAGE_SCORE_BIND_W 0
#define IMAGE_SCORE_BIND_PROBS 1
#define IMAGE_SCORE_BIND_SCORES 2
#define IMAGE_SCORE_BIND_ROW_BAD 3
#define IMAGE_SCORE_BIND_STATS 4
#define IMAGE_SCORE_BIND_RESULT 5
#define IMAGE_SCORE_BINDINGS 6

#if !defined(VULKAN) || defined(TC_KERNEL_HEAD_PAD_ROWS)
TC_PUSH_BEGIN(tc_head_pad_rows_push)
  TC_PUSH_U32 rows, D, D4;
  TC_PUSH_U32 first; /* the row of x read as row 0 */
TC_PUSH_END(tc_head_pad_rows_push, 16)
#endif

#if !defined(VULKAN) || defined(TC_KERNEL_HEAD_SIMILARITY)
TC_PUSH_BEGIN(tc_head_similarity_push)
  TC_PUSH_U32 rows, Q;
  TC_PUSH_U32 K; /* texels per row (D padded to a multiple of 4, / 4) */
  TC_PUSH_F32 inv_tau, inv_eps;
  TC_PUSH_U32 affinity; /* 0 max, 1 mean, 2 abnormal */
  TC_PUSH_U32 N4;       /* row length of logk */
  TC_PUSH_U32 first;    /* row of `tokens` that is row 0 here (a feature layer's block) */
TC_PUSH_END(tc_head_similarity_push, 32)
#endif

#if !defined(VULKAN) || defined(TC_KERNEL_SINKHORN)
TC_PUSH_BEGIN(tc_sinkhorn_push)
  TC_PUSH_U32 N, Q, G, max_iters, chunk, first, warm;
  TC_PUSH_F32 tol, log_r, log_c, r, c;
TC_PUSH_END(tc_sinkhorn_push, 48)
#endif

#if !defined(VULKAN) || defined(TC_KERNEL_TOPK)
TC_PUSH_BEGIN(tc_topk_push)
  TC_PUSH_U32 N, N4, Q, k, use_v;
TC_PUSH_END(tc_topk_push, 20)
#endif

#if !defined(VULKAN) || defined(TC_KERNEL_IMAGE_SCORE)
TC_PUSH_BEGIN(tc_image_score_push)
  TC_PUSH_U32 N, Q, greedy;
TC_PUSH_END(tc_image_score_push, 12)
#endif

#endif
