/* Head parameters: defaults, validation, the image-score blend. */
#include <math.h>

#include "tc_head.h"

void tc_head_params_default(tc_head_params *p)
{
  *p = (tc_head_params){
    .temperature = 0.07f,
    .sinkhorn_eps = 0.05f,
    .sinkhorn_iters = 100,
    .sinkhorn_tol = 1e-4f,
    .topk = 0,
    .affinity = TC_HEAD_AFFINITY_MAX,
    .greedy = 0,
    .image_blend = 0.5f,
    .sinkhorn_warm_start = 0,
  };
}

tc_status tc_head_params_check(const tc_head_params *p, uint32_t Q, tc_error *err)
{
  if (!(p->temperature > 0) || !isfinite(p->temperature))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "head: temperature %g is not a positive number",
                        (double)p->temperature);
  if (!(p->sinkhorn_eps > 0) || !isfinite(p->sinkhorn_eps))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "head: sinkhorn eps %g is not a positive number",
                        (double)p->sinkhorn_eps);
  if (p->sinkhorn_iters < 1)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "head: sinkhorn iteration limit is 0");
  if (!(p->sinkhorn_tol >= 0) || !isfinite(p->sinkhorn_tol))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "head: sinkhorn tolerance %g is not >= 0",
                        (double)p->sinkhorn_tol);
  if (p->topk > Q)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "head: topk %u exceeds the %u subspaces", p->topk, Q);
  if (p->affinity != TC_HEAD_AFFINITY_MAX && p->affinity != TC_HEAD_AFFINITY_MEAN &&
      p->affinity != TC_HEAD_AFFINITY_ABNORMAL)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "head: unknown affinity mode %d", (int)p->affinity);
  if (!(p->image_blend >= 0 && p->image_blend <= 1))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "head: image blend %g is outside [0, 1]",
                        (double)p->image_blend);
  return TC_OK;
}

float tc_head_image_score(const tc_head_params *params, float global_score, float map_max)
{
  return (1.0f - params->image_blend) * global_score + params->image_blend * map_max;
}
