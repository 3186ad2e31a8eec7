/* The TokenCLIP head on the device: buffers, kernels and the recording of
 * its four (five when D % 4 != 0) dispatches. The maths is in the shaders
 * head_similarity, sinkhorn_log, topk_mask and head_image_score. */
#include "tc_head.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "abi/head.h"

/* HEAD_MAX_Q (abi/head.h) sizes the shared-memory arrays of sinkhorn_log and
 * head_image_score; it also keeps topk_mask's k passes over Q well inside
 * llvmpipe's loop limit. sinkhorn_log keeps u in shared memory: HEAD_MAX_G
 * groups of 4 tokens. The public limits are these. */
#define HEAD_MAX_TOKENS (4 * HEAD_MAX_G)
_Static_assert(HEAD_MAX_Q == TC_MAX_SUBSPACES, "tokenclip.h's subspace limit is the kernels'");
_Static_assert(HEAD_MAX_TOKENS == TC_MAX_PATCH_TOKENS, "tokenclip.h's token limit is the kernels'");
/* llvmpipe stops every loop of a shader invocation once all its loops
 * together have taken 65535 back-edges (LP_MAX_TGSI_LOOP_ITERATIONS); the
 * loop counts of the kernels are kept below this. */
#define LOOP_BUDGET 60000u

/* Workgroup and tile shapes of one kernel family. */
typedef struct head_shape {
  uint32_t sim_wg, sim_rows, sim_subspaces; /* head_similarity: register tile */
  uint32_t sinkhorn_wg, rows_wg, image_wg;
} head_shape;

/* CPU (lavapipe): 16 x 8 register tiles, small workgroups so both worker
 * threads get a share even when the other core is busy; the Sinkhorn
 * workgroup small so its barriers stay cheap (measured: 16 lanes beat 32
 * and 64 at every size). GPU: small tiles, many lanes for the
 * one-workgroup kernels. */
static const head_shape shape_cpu = { 32, 16, 8, 16, 64, 64 };
static const head_shape shape_gpu = { 64, 4, 4, 256, 64, 256 };

/* Device result layout, as head_image_score writes it. */
typedef struct head_result_gpu {
  uint32_t flags, iterations, converged;
  float row_error, col_error, global_score, token_score_max;
} head_result_gpu;

struct tc_head {
  tc_context *ctx;
  uint32_t Q, D, D4, N, N4; /* N4: N rounded up to 4, the row length of logk */
  head_shape shape;
  tc_buffer *subspaces; /* [2Q, D4], unit rows, zero padded */
  tc_buffer *padded;    /* [1 + N, D4] when D % 4 != 0 */
  tc_buffer *probs;     /* [Q][1 + N] */
  tc_buffer *logk;      /* [Q][N4], -inf in the padding */
  tc_buffer *row_bad;   /* [1 + N] uint */
  tc_buffer *u, *lse;   /* [N4] */
  tc_buffer *v;         /* [Q], kept between submissions (warm start) */
  tc_buffer *weights;   /* [Q][N] */
  tc_buffer *stats;     /* sinkhorn_log's statistics */
  tc_buffer *result;    /* head_result_gpu */
  tc_kernel *k_pad, *k_sim, *k_sinkhorn, *k_topk, *k_image;
  uint32_t sinkhorn_chunk; /* iterations per sinkhorn_log dispatch */
};

/* Sinkhorn iterations one sinkhorn_log dispatch may run: an upper bound of
 * the loop back-edges each lane takes (the shader's loops, rows in groups
 * of 4), fitted in LOOP_BUDGET. 0 when not even one iteration fits. */
static uint32_t sinkhorn_chunk(uint32_t N, uint32_t Q, uint32_t wg)
{
  uint64_t G = tc_div_up(N, 4), S = wg / Q > 1 ? wg / Q : 1;   /* row groups; lanes per column */
  uint64_t ct = tc_div_up((uint32_t)(Q * S), wg);              /* column-pass trips per lane */
  uint64_t gs = tc_div_up((uint32_t)G, (uint32_t)S), gl = tc_div_up((uint32_t)G, wg), cq = tc_div_up(Q, wg);
  uint64_t rows = 2 * (uint64_t)Q + 2;                /* a group of rows: one pass, at worst two */
  uint64_t cols = 2 * ct * (gs + 1) + 2 * cq * (S + 1); /* one pass and merge, at worst two */
  uint64_t once = cq + gl * (rows + 1) + cq + gl                     /* start: v, u */
                  + ct * (gs + 1) + cq * (S + 1) + gl + wg + 2       /* final column error */
                  + cq + gl + 1;                                     /* handing u, v on */
  uint64_t per_iter = cols + gl * (rows + 1) + wg + 1 + gl + 1;
  if (once + per_iter > LOOP_BUDGET)
    return 0;
  uint64_t chunk = (LOOP_BUDGET - once) / per_iter;
  return chunk > UINT32_MAX ? UINT32_MAX : (uint32_t)chunk;
}

uint32_t tc_head_subspaces(const tc_head *h) { return h->Q; }
uint32_t tc_head_dim(const tc_head *h) { return h->D; }
uint32_t tc_head_tokens(const tc_head *h) { return h->N; }

void tc_head_destroy(tc_head *h)
{
  if (!h)
    return;
  tc_buffer *bufs[] = { h->subspaces, h->padded, h->probs, h->logk, h->row_bad, h->u,
                        h->lse,       h->v,      h->weights, h->stats, h->result };
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    tc_buffer_destroy(bufs[i]);
  free(h); /* kernels belong to the context */
}

static tc_status create_kernels(tc_head *h, tc_error *err)
{
  const tc_binding S = TC_BIND_STORAGE, T = TC_BIND_TEXEL_F32;
  const head_shape *sh = &h->shape;
  const tc_kernel_desc pad = {
    .shader = "head_pad_rows",
    .n_bindings = PAD_ROWS_BINDINGS,
    .bindings = { [PAD_ROWS_BIND_X] = S, [PAD_ROWS_BIND_Y] = S },
    .push_size = sizeof(tc_head_pad_rows_push),
    .n_spec = 1,
    .spec = { [TC_SPEC_WORKGROUP] = 64 },
  };
  const tc_kernel_desc similarity = {
    .shader = "head_similarity",
    .n_bindings = SIMILARITY_BINDINGS,
    .bindings = { [SIMILARITY_BIND_TOKENS] = T, [SIMILARITY_BIND_SUBSPACES] = T, [SIMILARITY_BIND_PROBS] = S,
                  [SIMILARITY_BIND_LOGK] = S, [SIMILARITY_BIND_ROW_BAD] = S },
    .push_size = sizeof(tc_head_similarity_push),
    .n_spec = 3,
    .spec = { [TC_SPEC_WORKGROUP] = sh->sim_wg, [SIMILARITY_SPEC_TM] = sh->sim_rows,
              [SIMILARITY_SPEC_TP] = sh->sim_subspaces },
  };
  const tc_kernel_desc sinkhorn = {
    .shader = "sinkhorn_log",
    .n_bindings = SINKHORN_BINDINGS,
    .bindings = { [SINKHORN_BIND_LOGK] = T, [SINKHORN_BIND_U] = S, [SINKHORN_BIND_LSE] = S, [SINKHORN_BIND_V] = S,
                  [SINKHORN_BIND_STATE] = S },
    .push_size = sizeof(tc_sinkhorn_push),
    .n_spec = 1,
    .spec = { [TC_SPEC_WORKGROUP] = sh->sinkhorn_wg },
  };
  const tc_kernel_desc topk = {
    .shader = "topk_mask",
    .n_bindings = TOPK_BINDINGS,
    .bindings = { [TOPK_BIND_LOGK] = S, [TOPK_BIND_V] = S, [TOPK_BIND_PROBS] = S, [TOPK_BIND_W] = S,
                  [TOPK_BIND_SCORES] = S },
    .push_size = sizeof(tc_topk_push),
    .n_spec = 1,
    .spec = { [TC_SPEC_WORKGROUP] = sh->rows_wg },
  };
  const tc_kernel_desc image = {
    .shader = "head_image_score",
    .n_bindings = IMAGE_SCORE_BINDINGS,
    .bindings = { [IMAGE_SCORE_BIND_W] = S, [IMAGE_SCORE_BIND_PROBS] = S, [IMAGE_SCORE_BIND_SCORES] = S,
                  [IMAGE_SCORE_BIND_ROW_BAD] = S, [IMAGE_SCORE_BIND_STATS] = S, [IMAGE_SCORE_BIND_RESULT] = S },
    .push_size = sizeof(tc_image_score_push),
    .n_spec = 1,
    .spec = { [TC_SPEC_WORKGROUP] = sh->image_wg },
  };
  tc_status st = TC_OK;
  if (h->D4 != h->D)
    st = tc_kernel_get(h->ctx, &pad, &h->k_pad, err);
  if (st == TC_OK)
    st = tc_kernel_get(h->ctx, &similarity, &h->k_sim, err);
  if (st == TC_OK)
    st = tc_kernel_get(h->ctx, &sinkhorn, &h->k_sinkhorn, err);
  if (st == TC_OK)
    st = tc_kernel_get(h->ctx, &topk, &h->k_topk, err);
  if (st == TC_OK)
    st = tc_kernel_get(h->ctx, &image, &h->k_image, err);
  return st;
}

/* Normalised subspace rows, padded to D4 floats, for upload. */
static tc_status normalise_subspaces(const float *t, uint32_t Q, uint32_t D, uint32_t D4, float *out, tc_error *err)
{
  for (uint32_t j = 0; j < 2 * Q; j++) {
    const float *row = t + (size_t)j * D;
    double ss = 0;
    for (uint32_t d = 0; d < D; d++) {
      if (!isfinite(row[d]))
        return tc_error_set(err, TC_ERR_NUMERIC, "head: subspace %u (%s) has a non-finite value at %u", j / 2,
                            j % 2 ? "abnormal" : "normal", d);
      ss += (double)row[d] * row[d];
    }
    if (!(ss > 0) || !isfinite(ss))
      return tc_error_set(err, TC_ERR_NUMERIC, "head: subspace %u (%s) has %s norm", j / 2,
                          j % 2 ? "abnormal" : "normal", ss > 0 ? "an overflowing" : "zero");
    double inv = 1.0 / sqrt(ss);
    for (uint32_t d = 0; d < D4; d++)
      out[(size_t)j * D4 + d] = d < D ? (float)(row[d] * inv) : 0.0f;
  }
  return TC_OK;
}

tc_status tc_head_create(tc_context *ctx, const float *subspaces, uint32_t Q, uint32_t D, uint32_t tokens,
                         tc_head **out, tc_error *err)
{
  *out = NULL;
  if (Q == 0 || D == 0 || tokens == 0)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "head: %u subspaces of dimension %u for %u tokens", Q, D,
                        tokens);
  if (Q > HEAD_MAX_Q)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "head: %u subspaces; at most %u are supported", Q, HEAD_MAX_Q);
  if (tokens > HEAD_MAX_TOKENS)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "head: %u tokens; at most %u are supported", tokens,
                        HEAD_MAX_TOKENS);
  tc_head *h = calloc(1, sizeof *h);
  if (!h)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  h->ctx = ctx;
  h->Q = Q, h->D = D, h->D4 = (D + 3) & ~3u, h->N = tokens, h->N4 = (tokens + 3) & ~3u;
  h->shape = tc_context_family(ctx) == TC_FAMILY_GPU ? shape_gpu : shape_cpu;
  /* subspace tile no wider than Q needs: 1, 2, 4 or the family's width */
  while (h->shape.sim_subspaces > 1 && h->shape.sim_subspaces / 2 >= Q)
    h->shape.sim_subspaces /= 2;
  h->sinkhorn_chunk = sinkhorn_chunk(tokens, Q, h->shape.sinkhorn_wg);
  /* head_similarity loops over D / 4 texels; its tile loops have constant
   * bounds and are unrolled at pipeline creation (test_head's D = 769 case
   * would fail if they were not) */
  if (h->sinkhorn_chunk == 0 || h->D4 / 4 + 2 * h->shape.sim_rows > LOOP_BUDGET) {
    free(h);
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "head: %u tokens x %u subspaces of dimension %u exceed what one "
                        "workgroup can iterate on this kernel family", tokens, Q, D);
  }
  const size_t N = tokens, N4 = h->N4, rows = N + 1, f = sizeof(float);

  float *unit = malloc(2 * (size_t)Q * h->D4 * f);
  tc_status st = unit ? normalise_subspaces(subspaces, Q, D, h->D4, unit, err)
                      : tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  if (st == TC_OK)
    st = tc_buffer_create_from(ctx, unit, 2 * (size_t)Q * h->D4 * f, &h->subspaces, err);
  free(unit);
  if (st == TC_OK && h->D4 != D)
    st = tc_buffer_create(ctx, rows * h->D4 * f, &h->padded, err);
  /* logk's padding stays -inf (zero plan entries): head_similarity writes the real rows only */
  float *neg_inf = st == TC_OK ? malloc(Q * N4 * f) : NULL;
  if (st == TC_OK && !neg_inf)
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  for (size_t i = 0; neg_inf && i < Q * N4; i++)
    neg_inf[i] = -INFINITY;
  if (st == TC_OK)
    st = tc_buffer_create_from(ctx, neg_inf, Q * N4 * f, &h->logk, err);
  free(neg_inf);
  /* v starts at zero: the first warm start is a cold one */
  float *zeros = st == TC_OK ? calloc(Q, f) : NULL;
  if (st == TC_OK && !zeros)
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  if (st == TC_OK)
    st = tc_buffer_create_from(ctx, zeros, Q * f, &h->v, err);
  free(zeros);
  struct {
    tc_buffer **buf;
    size_t bytes;
  } scratch[] = {
    { &h->probs, Q * rows * f }, { &h->row_bad, rows * 4 },  { &h->u, N4 * f },
    { &h->lse, N4 * f },         { &h->weights, Q * N * f },
    { &h->stats, 5 * 4 },        { &h->result, sizeof(head_result_gpu) },
  };
  for (size_t i = 0; st == TC_OK && i < sizeof scratch / sizeof scratch[0]; i++)
    st = tc_buffer_create(ctx, scratch[i].bytes, scratch[i].buf, err);
  if (st == TC_OK)
    st = create_kernels(h, err);
  if (st != TC_OK) {
    tc_head_destroy(h);
    return st;
  }
  *out = h;
  return TC_OK;
}

tc_status tc_head_record(tc_head *h, tc_cmd *cmd, tc_buffer *tokens, tc_buffer *scores, const tc_head_params *prm,
                         tc_error *err)
{
  return tc_head_record_at(h, cmd, tokens, 0, scores, prm, err);
}

tc_status tc_head_record_at(tc_head *h, tc_cmd *cmd, tc_buffer *tokens, uint32_t first_row, tc_buffer *scores,
                            const tc_head_params *prm, tc_error *err)
{
  tc_status st = tc_head_params_check(prm, h->Q, err);
  if (st != TC_OK)
    return st;
  const uint32_t N = h->N, Q = h->Q, rows = N + 1;
  if (tc_buffer_size(tokens) < ((size_t)first_row + rows) * h->D * sizeof(float))
    return tc_error_set(err, TC_ERR_MISMATCH, "head: the tokens buffer holds %zu bytes, not %u rows of %u floats "
                        "from row %u", tc_buffer_size(tokens), rows, h->D, first_row);
  if (tc_buffer_size(scores) < (size_t)N * sizeof(float))
    return tc_error_set(err, TC_ERR_MISMATCH, "head: the scores buffer holds %zu bytes, not %u floats",
                        tc_buffer_size(scores), N);
  const head_shape *sh = &h->shape;

  tc_buffer *src = tokens;
  uint32_t first = first_row;
  if (h->padded) {
    tc_head_pad_rows_push push = { .rows = rows, .D = h->D, .D4 = h->D4, .first = first_row };
    first = 0;
    st = tc_cmd_dispatch(cmd, h->k_pad,
                         (tc_buffer *[PAD_ROWS_BINDINGS]){ [PAD_ROWS_BIND_X] = tokens, [PAD_ROWS_BIND_Y] = h->padded },
                         &push, tc_div_up(h->D4, 64), rows, 1,
                         "head_pad_rows", err);
    src = h->padded;
  }
  if (st == TC_OK) {
    tc_head_similarity_push push = { .rows = rows, .Q = Q, .K = h->D4 / 4, .inv_tau = 1.0f / prm->temperature,
                                     .inv_eps = 1.0f / prm->sinkhorn_eps, .affinity = (uint32_t)prm->affinity,
                                     .N4 = h->N4, .first = first };
    uint32_t tiles = tc_div_up(rows, sh->sim_rows) * tc_div_up(Q, sh->sim_subspaces);
    st = tc_cmd_dispatch(cmd, h->k_sim, (tc_buffer *[SIMILARITY_BINDINGS]){ [SIMILARITY_BIND_TOKENS] = src,
                                                                         [SIMILARITY_BIND_SUBSPACES] = h->subspaces,
                                                                         [SIMILARITY_BIND_PROBS] = h->probs,
                                                                         [SIMILARITY_BIND_LOGK] = h->logk,
                                                                         [SIMILARITY_BIND_ROW_BAD] = h->row_bad }, &push,
                         tc_div_up(tiles, sh->sim_wg), 1, 1, "head_similarity", err);
  }
  if (st == TC_OK && !prm->greedy) {
    tc_sinkhorn_push push = { .N = N, .Q = Q, .G = h->N4 / 4, .max_iters = prm->sinkhorn_iters,
                              .chunk = h->sinkhorn_chunk, .first = 1, .warm = prm->sinkhorn_warm_start != 0,
                              .tol = prm->sinkhorn_tol, .log_r = (float)-log((double)N),
                              .log_c = (float)-log((double)Q), .r = (float)(1.0 / N), .c = (float)(1.0 / Q) };
    uint32_t chunks = tc_div_up(prm->sinkhorn_iters, h->sinkhorn_chunk);
    for (uint32_t i = 0; i < chunks && st == TC_OK; i++, push.first = 0)
      st = tc_cmd_dispatch(cmd, h->k_sinkhorn, (tc_buffer *[SINKHORN_BINDINGS]){ [SINKHORN_BIND_LOGK] = h->logk,
                                                                              [SINKHORN_BIND_U] = h->u,
                                                                              [SINKHORN_BIND_LSE] = h->lse,
                                                                              [SINKHORN_BIND_V] = h->v,
                                                                              [SINKHORN_BIND_STATE] = h->stats }, &push, 1,
                           1, 1, "sinkhorn_log", err);
  }
  if (st == TC_OK) {
    uint32_t k = prm->greedy ? 1 : prm->topk == 0 ? Q : prm->topk;
    tc_topk_push push = { .N = N, .N4 = h->N4, .Q = Q, .k = k, .use_v = prm->greedy ? 0 : 1 };
    tc_buffer *bufs[TOPK_BINDINGS] = { [TOPK_BIND_LOGK] = h->logk, [TOPK_BIND_V] = h->v, [TOPK_BIND_PROBS] = h->probs,
                                       [TOPK_BIND_W] = h->weights, [TOPK_BIND_SCORES] = scores };
    st = tc_cmd_dispatch(cmd, h->k_topk, bufs, &push,
                         tc_div_up(N, sh->rows_wg), 1, 1, "topk_mask", err);
  }
  if (st == TC_OK) {
    tc_image_score_push push = { .N = N, .Q = Q, .greedy = prm->greedy ? 1 : 0 };
    tc_buffer *bufs[IMAGE_SCORE_BINDINGS] = { [IMAGE_SCORE_BIND_W] = h->weights, [IMAGE_SCORE_BIND_PROBS] = h->probs,
                                              [IMAGE_SCORE_BIND_SCORES] = scores,
                                              [IMAGE_SCORE_BIND_ROW_BAD] = h->row_bad,
                                              [IMAGE_SCORE_BIND_STATS] = h->stats,
                                              [IMAGE_SCORE_BIND_RESULT] = h->result };
    st = tc_cmd_dispatch(cmd, h->k_image, bufs, &push, 1,
                         1, 1, "head_image_score", err);
  }
  if (st != TC_OK)
    tc_error_prefix(err, "recording the head");
  return st;
}

tc_status tc_head_reset(tc_head *h, tc_error *err)
{
  float *zeros = calloc(h->Q, sizeof *zeros);
  tc_status st = zeros ? tc_buffer_upload(h->v, 0, zeros, h->Q * sizeof *zeros, err)
                       : tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  free(zeros);
  return st;
}

tc_status tc_head_read_result(tc_head *h, tc_head_result *out, tc_error *err)
{
  head_result_gpu r;
  tc_status st = tc_buffer_download(h->result, 0, &r, sizeof r, err);
  if (st != TC_OK)
    return st;
  if (r.flags & 1u) {
    uint32_t *bad = malloc((h->N + 1) * sizeof *bad);
    uint32_t row = 0;
    if (bad && tc_buffer_download(h->row_bad, 0, bad, (h->N + 1) * sizeof *bad, err) == TC_OK)
      while (row < h->N && !bad[row])
        row++;
    free(bad);
    return tc_error_set(err, TC_ERR_NUMERIC, "head: the input tokens have NaN or Inf values (first in row %u, %s)",
                        row, row == 0 ? "the global token" : "a patch token");
  }
  if (r.flags & 2u)
    return tc_error_set(err, TC_ERR_NUMERIC, "head: the scores came out non-finite (sinkhorn eps too small?)");
  *out = (tc_head_result){
    .global_score = r.global_score,
    .token_score_max = r.token_score_max,
    .iterations = r.iterations,
    .converged = (int)r.converged,
    .row_error = r.row_error,
    .col_error = r.col_error,
  };
  return TC_OK;
}

/* Downloads a [Q][stride] device matrix as [cols, Q]. */
static tc_status read_transposed(tc_buffer *buf, uint32_t Q, size_t cols, size_t stride, float *dst, tc_error *err)
{
  float *tmp = malloc(Q * stride * sizeof *tmp);
  if (!tmp)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  tc_status st = tc_buffer_download(buf, 0, tmp, Q * stride * sizeof *tmp, err);
  if (st == TC_OK)
    for (size_t c = 0; c < cols; c++)
      for (uint32_t q = 0; q < Q; q++)
        dst[c * Q + q] = tmp[q * stride + c];
  free(tmp);
  return st;
}

tc_status tc_head_read_stage(tc_head *h, tc_head_stage stage, float *dst, size_t count, tc_error *err)
{
  size_t N = h->N, Q = h->Q, want;
  switch (stage) {
  case TC_HEAD_STAGE_PROBS: want = (N + 1) * Q; break;
  case TC_HEAD_STAGE_LOG_KERNEL:
  case TC_HEAD_STAGE_WEIGHTS: want = N * Q; break;
  case TC_HEAD_STAGE_U: want = N; break;
  case TC_HEAD_STAGE_V: want = Q; break;
  default: return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "head: unknown stage %d", (int)stage);
  }
  if (count != want)
    return tc_error_set(err, TC_ERR_MISMATCH, "head: stage %d has %zu values, not %zu", (int)stage, want, count);
  switch (stage) {
  case TC_HEAD_STAGE_PROBS: return read_transposed(h->probs, h->Q, N + 1, N + 1, dst, err);
  case TC_HEAD_STAGE_LOG_KERNEL: return read_transposed(h->logk, h->Q, N, h->N4, dst, err);
  case TC_HEAD_STAGE_WEIGHTS: return read_transposed(h->weights, h->Q, N, N, dst, err);
  case TC_HEAD_STAGE_U: return tc_buffer_download(h->u, 0, dst, N * sizeof *dst, err);
  default: return tc_buffer_download(h->v, 0, dst, Q * sizeof *dst, err);
  }
}
