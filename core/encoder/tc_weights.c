/* A tower's tensors uploaded in the kernels' layouts: see tc_weights.h. */
#include "tc_weights.h"

#include <stdlib.h>

typedef struct role_fill {
  const tc_clip_tower *tw;
  int role, layer;
  tc_dtype dtype;
  int panels; /* converted row-major into host memory, then packed into dst */
  uint32_t rows, cols;
} role_fill;

static tc_status fill_role(void *user, void *dst, size_t bytes, tc_error *err)
{
  const role_fill *f = user;
  size_t count = f->panels ? (size_t)f->rows * f->cols : bytes / tc_dtype_size(f->dtype);
  void *to = f->panels ? malloc(count * tc_dtype_size(f->dtype)) : dst;
  if (!to)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory for a %ux%u weight", f->rows, f->cols);
  tc_status st = f->dtype == TC_F16 ? tc_clip_tower_get_f16(f->tw, f->role, f->layer, to, count, err)
                                    : tc_clip_tower_get_f32(f->tw, f->role, f->layer, to, count, err);
  if (f->panels) {
    if (st == TC_OK)
      tc_matmul_pack_panels(to, dst, f->rows, f->cols, f->dtype);
    free(to);
  }
  return st;
}

tc_status tc_weight_upload_matrix(tc_context *ctx, const tc_clip_tower *tw, int role, int layer,
                                  tc_weight_precision wp, tc_weight *out, tc_error *err)
{
  role_fill f = { tw, role, layer, tc_clip_tower_matrix_dtype(tw, role, layer, wp), 0, 0, 0 };
  tc_clip_tower_role_matrix(tw, role, &f.rows, &f.cols);
  f.panels = tc_matmul_panels_wanted(ctx, f.cols);
  size_t bytes = f.panels ? tc_matmul_panels_bytes(f.rows, f.cols, f.dtype)
                          : (size_t)f.rows * f.cols * tc_dtype_size(f.dtype);
  *out = (tc_weight){ .dtype = f.dtype, .panels = f.panels };
  return tc_buffer_create_filled(ctx, bytes, fill_role, &f, &out->buf, err);
}

tc_status tc_weight_upload_vector(tc_context *ctx, const tc_clip_tower *tw, int role, int layer, tc_buffer **out,
                                  tc_error *err)
{
  role_fill f = { tw, role, layer, TC_F32, 0, 0, 0 };
  return tc_buffer_create_filled(ctx, tc_clip_tower_role_numel(tw, role) * sizeof(float), fill_role, &f, out, err);
}

void tc_weight_release(tc_weight *w)
{
  tc_buffer_destroy(w->buf);
  w->buf = NULL;
}

tc_status tc_weight_precision_check(tc_weight_precision wp, tc_error *err)
{
  if (wp != TC_WEIGHTS_AS_STORED && wp != TC_WEIGHTS_F32 && wp != TC_WEIGHTS_F16)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "unknown weight precision %d", (int)wp);
  return TC_OK;
}
