/* The TokenCLIP head (DESIGN.md "The TokenCLIP head"): aligns every patch
 * token to Q textual subspaces by entropic optimal transport and turns the
 * masked plan into one anomaly score per token.
 *
 * For tokens F (N x D), global token g and subspaces T (Q x 2 x D; index 0
 * normal, 1 abnormal), all L2-normalised:
 *   p[n,q]  = softmax_c(cos(F[n], T[q,c]) / tau)[abnormal]
 *   a[n,q]  = max_c cos (or mean, or the abnormal one), cost 1 - a
 *   P       = Sinkhorn plan of exp(-(1 - a)/eps), rows 1/N, columns 1/Q,
 *             log domain, until the row error is below tol or the limit
 *   w[n,:]  = the k largest P[n,q] of each row (ties: lower q), renormalised
 *   s[n]    = sum_q w[n,q] p[n,q]
 *   global  = sum_q wbar[q] p_g[q],  wbar[q] = mean_n w[n,q]
 *   image   = (1 - blend) global + blend max(smoothed map)
 * Greedy mode replaces P by each token's argmax-affinity subspace (no OT).
 *
 * Usage: tc_head_create once (uploads T, creates kernels and scratch for N
 * tokens), tc_head_record into the frame's command sequence after the
 * encoder, submit, then tc_head_read_result. The head's buffers are reused
 * by every submission: one recording in flight per head. */
#ifndef TC_HEAD_H
#define TC_HEAD_H

#include <stdint.h>

#include "tc_vk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* tc_head_affinity is public (tokenclip/tokenclip.h). */

typedef struct tc_head_params {
  /* tau: class probabilities are softmax(cos / tau). 0.07, the value
   * AnomalyCLIP divides its cosines by (CLIP's initial temperature; the
   * trained CLIP logit scale 100 would be tau = 0.01). */
  float temperature;
  /* Entropic regularisation of the plan, in units of the cost (1 - cos). */
  float sinkhorn_eps;
  /* Iteration limit (column updates), at least 1. */
  uint32_t sinkhorn_iters;
  /* Stop once the plan's row marginal error sum_n |P[n,:]·1 - 1/N| (an L1
   * distance between distributions of total mass 1) is below this; columns
   * are exact after every iteration. 0 runs to the limit. */
  float sinkhorn_tol;
  /* Subspaces kept per token, 1..Q; 0 means Q (the full plan). */
  uint32_t topk;
  tc_head_affinity affinity;
  /* Non-zero: each token goes to its argmax-affinity subspace, no transport. */
  int greedy;
  /* Weight of the map's maximum in the image score, in [0, 1]. */
  float image_blend;
  /* Non-zero: start the Sinkhorn from the head's previous column potentials
   * instead of zeros. Consecutive video frames have nearly the same plan, so
   * it converges in a few iterations; the fixed point, and so the result
   * within tol, is the same. Off by default: results then depend on the
   * tokens alone, exactly as the reference computes them. */
  int sinkhorn_warm_start;
} tc_head_params;

/* temperature 0.07, eps 0.05, 100 iterations, tol 1e-4, topk 0 (all),
 * affinity max, not greedy, blend 0.5, no warm start. Head files may
 * override temperature, eps, iterations and topk (tc_head_file_load). */
void tc_head_params_default(tc_head_params *p);

/* Checks p against a head with Q subspaces; the message names the field. */
tc_status tc_head_params_check(const tc_head_params *p, uint32_t Q, tc_error *err);

/* Result of one submission, read after it finished. */
typedef struct tc_head_result {
  float global_score;    /* the global token's score with the averaged weights */
  float token_score_max; /* max_n s[n] (unsmoothed) */
  uint32_t iterations;   /* Sinkhorn column updates run (0 in greedy mode) */
  int converged;         /* row error below tol before the limit (1 in greedy mode) */
  /* L1 marginal errors of the plan the weights were taken from (before
   * top-k): sum_n |P[n,:]·1 - 1/N| and sum_q |P[:,q]·1 - 1/Q|. In greedy mode
   * the plan is the hard assignment divided by N. */
  float row_error, col_error;
} tc_head_result;

typedef struct tc_head tc_head;

/* Creates a head for `tokens` patch tokens (N; the tokens buffer then holds
 * 1 + N rows of D floats) from subspaces [Q, 2, D] (host memory, fp32,
 * normalised here). Errors: Q, D or N zero, a non-finite or zero-norm
 * subspace vector, device failures. */
tc_status tc_head_create(tc_context *ctx, const float *subspaces, uint32_t Q, uint32_t D, uint32_t tokens,
                         tc_head **out, tc_error *err);
void tc_head_destroy(tc_head *head);

uint32_t tc_head_subspaces(const tc_head *head); /* Q */
uint32_t tc_head_dim(const tc_head *head);       /* D */
uint32_t tc_head_tokens(const tc_head *head);    /* N */

/* Records the head into cmd: reads tokens ([1 + N, D] fp32: row 0 the global
 * token, rows 1..N the patch tokens in raster order), writes scores (N
 * floats). params are baked into the recording. */
tc_status tc_head_record(tc_head *head, tc_cmd *cmd, tc_buffer *tokens, tc_buffer *scores,
                         const tc_head_params *params, tc_error *err);

/* The same on the rows first_row .. first_row + N of tokens: one feature
 * layer's block of the encoder's output (tc_encoder.h). */
tc_status tc_head_record_at(tc_head *head, tc_cmd *cmd, tc_buffer *tokens, uint32_t first_row, tc_buffer *scores,
                            const tc_head_params *params, tc_error *err);

/* Forgets the Sinkhorn potentials kept for sinkhorn_warm_start: the next
 * warm start is a cold one, as after tc_head_create (e.g. after a warm-up run
 * on an input that is not a frame). */
tc_status tc_head_reset(tc_head *head, tc_error *err);

/* After the submission has finished: the result, or TC_ERR_NUMERIC when a
 * token was NaN/Inf or a score came out non-finite (the scores are then not
 * to be used). */
tc_status tc_head_read_result(tc_head *head, tc_head_result *out, tc_error *err);

/* The image score: (1 - blend) global + blend map_max. The element passes
 * the maximum of its smoothed map; without a map, token_score_max. */
float tc_head_image_score(const tc_head_params *params, float global_score, float map_max);

/* Intermediate results of the last submission, in the layouts of the C
 * reference (tc_head_ref.h), for tests and debugging. */
typedef enum tc_head_stage {
  TC_HEAD_STAGE_PROBS,      /* p [1 + N, Q], row 0 the global token */
  TC_HEAD_STAGE_LOG_KERNEL, /* -(1 - a)/eps [N, Q] */
  TC_HEAD_STAGE_U,          /* Sinkhorn potential of the rows [N] (log scale) */
  TC_HEAD_STAGE_V,          /* of the columns [Q] */
  TC_HEAD_STAGE_WEIGHTS,    /* w [N, Q], the masked renormalised plan */
} tc_head_stage;
/* Copies a stage into dst, which holds `count` floats (the stage's size). */
tc_status tc_head_read_stage(tc_head *head, tc_head_stage stage, float *dst, size_t count, tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
