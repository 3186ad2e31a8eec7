#include "tc_preprocess.h"

#include <stdlib.h>

#include "tc_resample.h"

#define WORKGROUP 64

struct tc_preprocess {
  tc_context *ctx;
  tc_frame frame;
  uint32_t size;
  tc_resample_groups gx, gy; /* filter tables, outputs in groups of four */
  tc_buffer *table_x, *table_y;
  tc_buffer *rows; /* pass 1 output: [frame height][size] RGB + unused, float */
};

void tc_preprocess_destroy(tc_preprocess *pp)
{
  if (!pp)
    return;
  tc_buffer_destroy(pp->table_x);
  tc_buffer_destroy(pp->table_y);
  tc_buffer_destroy(pp->rows);
  free(pp);
}

tc_status tc_preprocess_create(tc_context *ctx, const tc_frame *frame, uint32_t size, tc_resample_filter filter,
                               tc_preprocess **out, tc_error *err)
{
  *out = NULL;
  tc_status st = tc_frame_check(frame, err);
  if (st != TC_OK)
    return st;
  if (size == 0 || size > 4096)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "model input size %u is outside 1..4096", size);
  tc_preprocess *pp = calloc(1, sizeof *pp);
  if (!pp)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  pp->ctx = ctx;
  pp->frame = *frame;
  pp->size = size;
  tc_resample_table tx, ty;
  st = tc_resample_antialias(frame->width, size, filter, &tx, err);
  if (st == TC_OK) {
    st = tc_resample_antialias(frame->height, size, filter, &ty, err);
    if (st == TC_OK) {
      st = tc_resample_upload(ctx, &tx, &pp->gx, &pp->table_x, err);
      if (st == TC_OK)
        st = tc_resample_upload(ctx, &ty, &pp->gy, &pp->table_y, err);
      tc_resample_free(&ty);
    }
    tc_resample_free(&tx);
  }
  if (st == TC_OK)
    st = tc_buffer_create(ctx, (size_t)frame->height * size * 4 * sizeof(float), &pp->rows, err);
  if (st != TC_OK) {
    tc_error_prefix(err, "preprocess %ux%u -> %u", frame->width, frame->height, size);
    tc_preprocess_destroy(pp);
    return st;
  }
  *out = pp;
  return TC_OK;
}

size_t tc_preprocess_output_bytes(const tc_preprocess *pp) { return 3 * (size_t)pp->size * pp->size * sizeof(float); }

tc_status tc_preprocess_record(tc_preprocess *pp, tc_cmd *cmd, tc_buffer *frame_buf, tc_buffer *out, tc_error *err)
{
  tc_status st = tc_frame_check_buffer(&pp->frame, frame_buf, err);
  if (st != TC_OK)
    return st;
  if (!out || tc_buffer_size(out) < tc_preprocess_output_bytes(pp))
    return tc_error_set(err, TC_ERR_MISMATCH, "preprocess output needs %zu bytes, the buffer has %zu",
                        tc_preprocess_output_bytes(pp), out ? tc_buffer_size(out) : 0);
  tc_context *ctx = tc_cmd_context(cmd);

  tc_kernel_desc rows_desc = {
    .shader = "preprocess_rows",
    .n_bindings = 3,
    .bindings = { TC_BIND_STORAGE, TC_BIND_TEXEL_F32, TC_BIND_STORAGE },
    .push_size = 6 * sizeof(uint32_t),
    .n_spec = 1,
    .spec = { WORKGROUP },
  };
  tc_kernel *k = NULL;
  if ((st = tc_kernel_get(ctx, &rows_desc, &k, err)) != TC_OK)
    return st;
  uint32_t rows_push[6] = { pp->frame.stride / 4, pp->frame.width, pp->frame.height, pp->size, pp->gx.record,
                            (uint32_t)tc_frame_blue_first(pp->frame.format) };
  tc_buffer *rows_bufs[] = { frame_buf, pp->table_x, pp->rows };
  st = tc_cmd_dispatch(cmd, k, rows_bufs, rows_push, tc_div_up(pp->gx.groups, WORKGROUP),
                       pp->frame.height, 1, "preprocess rows", err);
  if (st != TC_OK)
    return st;

  tc_kernel_desc cols_desc = {
    .shader = "preprocess_cols",
    .n_bindings = 3,
    .bindings = { TC_BIND_TEXEL_F32, TC_BIND_TEXEL_F32, TC_BIND_STORAGE },
    .push_size = 9 * sizeof(uint32_t),
    .n_spec = 1,
    .spec = { WORKGROUP },
  };
  if ((st = tc_kernel_get(ctx, &cols_desc, &k, err)) != TC_OK)
    return st;
  const float mean[3] = { TC_CLIP_MEAN_R, TC_CLIP_MEAN_G, TC_CLIP_MEAN_B };
  const float std[3] = { TC_CLIP_STD_R, TC_CLIP_STD_G, TC_CLIP_STD_B };
  struct {
    uint32_t size, height, record;
    float scale[3], bias[3];
  } cols_push = { pp->size, pp->frame.height, pp->gy.record, { 0 }, { 0 } };
  for (int c = 0; c < 3; c++) {
    cols_push.scale[c] = (float)(1.0 / (255.0 * std[c]));
    cols_push.bias[c] = (float)(-(double)mean[c] / std[c]);
  }
  tc_buffer *cols_bufs[] = { pp->rows, pp->table_y, out };
  return tc_cmd_dispatch(cmd, k, cols_bufs, &cols_push, tc_div_up(pp->size, WORKGROUP), pp->gy.groups, 1,
                         "preprocess cols", err);
}
