/* Matmul bench cases: the shapes of the lavapipe probe (DESIGN.md) and the
 * linear layers of CLIP ViT-B/16 at 224 (197 tokens, width 768) and
 * ViT-L/14 at 336 (577 tokens, width 1024), with their bias, activation and
 * residual. Shapes are M x K x N (tokens x in x out), as in DESIGN.md;
 * tools/bench/torch_bench.py times PyTorch on the same list. matmul_p32 and
 * matmul_p16 read w in panels (tc_matmul_pack_panels), as the encoder
 * uploads it on CPU devices; the GPU kernels refuse them. matmul_a16 has
 * fp16 activations as an fp16 encoder would (gpu kernels only): fp16 x
 * everywhere, fp16 y where no residual is added (qkv, c_fc), fp16 w.
 * matmul_*kN ask for K split in N parts (tc_matmul.split_k). */
#include <stdlib.h>

#include "bench.h"
#include "tc_ops.h"

typedef struct mm_params {
  uint32_t M, K, N;
  tc_dtype w_dtype;
  int bias, residual;
  tc_act act;
  int panels;
  int a16; /* fp16 x, and fp16 y without a residual */
  uint32_t split; /* tc_matmul.split_k */
} mm_params;

typedef struct mm_state {
  tc_buffer *x, *w, *bias, *y;
} mm_state;

static tc_status mm_setup(tc_context *ctx, const void *params, tc_cmd *cmd, void **out, tc_error *err)
{
  const mm_params *p = params;
  mm_state *s = calloc(1, sizeof *s);
  *out = s;
  if (!s)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  size_t M = p->M, K = p->K, N = p->N;
  /* weights scaled like a trained layer so outputs stay O(1) */
  float ws = 1.0f / sqrtf((float)K);
  /* random values serve as well in panels: only the size differs */
  size_t wn = p->panels ? tc_matmul_panels_bytes(p->N, p->K, p->w_dtype) / tc_dtype_size(p->w_dtype) : N * K;
  const int y16 = p->a16 && !p->residual;
  tc_status st = p->a16 ? tc_bench_random_f16(ctx, M * K, -1, 1, &s->x, err)
                        : tc_bench_random_f32(ctx, M * K, -1, 1, &s->x, err);
  if (st == TC_OK)
    st = p->w_dtype == TC_F16 ? tc_bench_random_f16(ctx, wn, -ws, ws, &s->w, err)
                              : tc_bench_random_f32(ctx, wn, -ws, ws, &s->w, err);
  if (st == TC_OK && p->bias)
    st = tc_bench_random_f32(ctx, N, -0.1f, 0.1f, &s->bias, err);
  if (st == TC_OK) /* the residual is y itself, as in the encoder */
    st = y16 ? tc_bench_random_f16(ctx, M * N, -1, 1, &s->y, err) : tc_bench_random_f32(ctx, M * N, -1, 1, &s->y, err);
  if (st != TC_OK)
    return st;
  tc_matmul mm = {
    .x = s->x, .w = s->w, .w_dtype = p->w_dtype, .bias = s->bias, .residual = p->residual ? s->y : NULL,
    .y = s->y, .M = p->M, .N = p->N, .K = p->K, .act = p->act, .w_panels = p->panels,
    .x_dtype = p->a16 ? TC_F16 : TC_F32, .y_dtype = y16 ? TC_F16 : TC_F32, .split_k = p->split,
  };
  return tc_op_matmul(cmd, &mm, "matmul", err);
}

static void mm_teardown(void *state)
{
  mm_state *s = state;
  if (!s)
    return;
  tc_buffer_destroy(s->x);
  tc_buffer_destroy(s->w);
  tc_buffer_destroy(s->bias);
  tc_buffer_destroy(s->y);
  free(s);
}

#define F32 TC_F32
#define F16 TC_F16
#define QGELU TC_ACT_QUICK_GELU
/* Bias, activation and residual cost M*N each: noise next to 2*M*N*K. */
#define MM_S(name, what, M, K, N, dt, bias, res, act, panels, a16, split)                      \
  { name, #M "x" #K "x" #N, what, 2.0 * M * N * K, mm_setup, mm_teardown,                      \
    &(const mm_params){ M, K, N, dt, bias, res, act, panels, a16, split } }
#define MM_A(name, what, M, K, N, dt, bias, res, act, panels, a16)                             \
  MM_S(name, what, M, K, N, dt, bias, res, act, panels, a16, 0)
#define MM(name, what, M, K, N, dt, bias, res, act, panels) MM_A(name, what, M, K, N, dt, bias, res, act, panels, 0)
#define MM_BOTH(what, M, K, N, bias, res, act)                                                 \
  MM("matmul_f32", what, M, K, N, F32, bias, res, act, 0), MM("matmul_f16", what, M, K, N, F16, bias, res, act, 0), \
    MM("matmul_p32", what, M, K, N, F32, bias, res, act, 1), MM("matmul_p16", what, M, K, N, F16, bias, res, act, 1), \
    MM_A("matmul_a16", what, M, K, N, F16, bias, res, act, 0, 1)

const tc_bench_case tc_bench_matmul_cases[] = {
  MM("matmul_f32", "probe", 197, 768, 3072, F32, 0, 0, TC_ACT_NONE, 0),
  MM("matmul_f16", "probe", 197, 768, 3072, F16, 0, 0, TC_ACT_NONE, 0),
  MM("matmul_f32", "probe", 1024, 1024, 4096, F32, 0, 0, TC_ACT_NONE, 0),
  MM("matmul_f16", "probe", 1024, 1024, 4096, F16, 0, 0, TC_ACT_NONE, 0),
  MM_BOTH("ViT-B/16 attn.in_proj", 197, 768, 2304, 1, 0, TC_ACT_NONE),
  MM_BOTH("ViT-B/16 attn.out_proj", 197, 768, 768, 1, 1, TC_ACT_NONE),
  MM_BOTH("ViT-B/16 mlp.c_fc", 197, 768, 3072, 1, 0, QGELU),
  MM_BOTH("ViT-B/16 mlp.c_proj", 197, 3072, 768, 1, 1, TC_ACT_NONE),
  MM_BOTH("ViT-L/14@336 attn.in_proj", 577, 1024, 3072, 1, 0, TC_ACT_NONE),
  MM_BOTH("ViT-L/14@336 attn.out_proj", 577, 1024, 1024, 1, 1, TC_ACT_NONE),
  MM_BOTH("ViT-L/14@336 mlp.c_fc", 577, 1024, 4096, 1, 0, QGELU),
  MM_BOTH("ViT-L/14@336 mlp.c_proj", 577, 4096, 1024, 1, 1, TC_ACT_NONE),
  /* K split in 3 parts (cooperative matrices: 48 blocks of y become 144
   * workgroups; the same numbers elsewhere) */
  MM_S("matmul_f16k3", "ViT-B/16 attn.out_proj", 197, 768, 768, F16, 1, 1, TC_ACT_NONE, 0, 0, 3),
  MM_S("matmul_f16k3", "ViT-B/16 mlp.c_proj", 197, 3072, 768, F16, 1, 1, TC_ACT_NONE, 0, 0, 3),
  MM_S("matmul_a16k3", "ViT-B/16 attn.out_proj", 197, 768, 768, F16, 1, 1, TC_ACT_NONE, 0, 1, 3),
  MM_S("matmul_a16k3", "ViT-B/16 mlp.c_proj", 197, 3072, 768, F16, 1, 1, TC_ACT_NONE, 0, 1, 3),
  MM_S("matmul_a16k6", "ViT-B/16 mlp.c_proj", 197, 3072, 768, F16, 1, 1, TC_ACT_NONE, 0, 1, 6),
  /* ViT-L/14 at 518 (AnomalyCLIP): 1370 tokens */
  MM_A("matmul_a16", "ViT-L/14@518 attn.in_proj", 1370, 1024, 3072, F16, 1, 0, TC_ACT_NONE, 0, 1),
  MM_A("matmul_a16", "ViT-L/14@518 mlp.c_fc", 1370, 1024, 4096, F16, 1, 0, QGELU, 0, 1),
  MM_A("matmul_a16", "ViT-L/14@518 mlp.c_proj", 1370, 4096, 1024, F16, 1, 1, TC_ACT_NONE, 0, 1),
  { 0 },
};
