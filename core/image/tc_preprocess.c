#include "tc_preprocess.h"

#include <stdlib.h>
#include <string.h>

#include "abi/preprocess.h"
#include "tc_resample.h"

#define WORKGROUP 64

struct tc_preprocess {
  tc_context *ctx;
  tc_frame frame;
  uint32_t size;
  int pil;                   /* TC_RESAMPLE_PIL_BICUBIC: integer tables, 8-bit passes */
  tc_resample_groups gx, gy; /* filter tables, outputs in groups of four */
  tc_buffer *table_x, *table_y;
  tc_buffer *rows; /* pass 1 output: [frame height][size], RGB + unused as floats, or (PIL) RGB bytes in a word */
  tc_buffer *norm; /* PIL: [3][256] the normalised value of each byte */
};

const char *tc_resample_filter_name(tc_resample_filter filter)
{
  switch (filter) {
  case TC_RESAMPLE_BICUBIC: return "bicubic";
  case TC_RESAMPLE_BILINEAR: return "bilinear";
  case TC_RESAMPLE_PIL_BICUBIC: return "bicubic-pil";
  }
  return NULL;
}

int tc_resample_filter_from_name(const char *name)
{
  static const tc_resample_filter all[] = { TC_RESAMPLE_BICUBIC, TC_RESAMPLE_BILINEAR, TC_RESAMPLE_PIL_BICUBIC };
  for (size_t i = 0; name && i < sizeof all / sizeof *all; i++)
    if (strcmp(name, tc_resample_filter_name(all[i])) == 0)
      return (int)all[i];
  return -1;
}

void tc_preprocess_destroy(tc_preprocess *pp)
{
  if (!pp)
    return;
  tc_buffer_destroy(pp->table_x);
  tc_buffer_destroy(pp->table_y);
  tc_buffer_destroy(pp->rows);
  tc_buffer_destroy(pp->norm);
  free(pp);
}

/* (v / 255 - mean) / std for every byte v, in double, rounded once. */
static tc_status create_norm(tc_preprocess *pp, tc_error *err)
{
  static const float mean[3] = { TC_CLIP_MEAN_R, TC_CLIP_MEAN_G, TC_CLIP_MEAN_B };
  static const float std[3] = { TC_CLIP_STD_R, TC_CLIP_STD_G, TC_CLIP_STD_B };
  float norm[3 * 256];
  for (int c = 0; c < 3; c++)
    for (int v = 0; v < 256; v++)
      norm[256 * c + v] = (float)((v / 255.0 - (double)mean[c]) / (double)std[c]);
  return tc_buffer_create_from(pp->ctx, norm, sizeof norm, &pp->norm, err);
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
  pp->pil = filter == TC_RESAMPLE_PIL_BICUBIC;
  tc_status (*table)(uint32_t, uint32_t, tc_resample_filter, tc_resample_table *, tc_error *) =
    pp->pil ? tc_resample_pil : tc_resample_antialias;
  tc_resample_table tx, ty;
  st = table(frame->width, size, filter, &tx, err);
  if (st == TC_OK) {
    st = table(frame->height, size, filter, &ty, err);
    if (st == TC_OK) {
      st = tc_resample_upload(ctx, &tx, &pp->gx, &pp->table_x, err);
      if (st == TC_OK)
        st = tc_resample_upload(ctx, &ty, &pp->gy, &pp->table_y, err);
      tc_resample_free(&ty);
    }
    tc_resample_free(&tx);
  }
  size_t texel = pp->pil ? sizeof(uint32_t) : 4 * sizeof(float);
  if (st == TC_OK)
    st = tc_buffer_create(ctx, (size_t)frame->height * size * texel, &pp->rows, err);
  if (st == TC_OK && pp->pil)
    st = create_norm(pp, err);
  if (st != TC_OK) {
    tc_error_prefix(err, "preprocess %ux%u -> %u", frame->width, frame->height, size);
    tc_preprocess_destroy(pp);
    return st;
  }
  *out = pp;
  return TC_OK;
}

size_t tc_preprocess_output_bytes(const tc_preprocess *pp) { return 3 * (size_t)pp->size * pp->size * sizeof(float); }

/* Pass 1, frame rows -> size columns: preprocess_rows or preprocess_pil_rows. */
static tc_status record_rows(tc_preprocess *pp, tc_cmd *cmd, tc_buffer *frame_buf, tc_error *err)
{
  tc_kernel_desc desc = {
    .shader = pp->pil ? "preprocess_pil_rows" : "preprocess_rows",
    .n_bindings = PREPROCESS_ROWS_BINDINGS,
    .bindings = { [PREPROCESS_ROWS_BIND_FRAME] = TC_BIND_STORAGE, [PREPROCESS_ROWS_BIND_TABLE] = TC_BIND_TEXEL_F32,
                  [PREPROCESS_ROWS_BIND_ROWS] = TC_BIND_STORAGE },
    .push_size = sizeof(tc_preprocess_rows_push),
    .n_spec = 4,
    .spec = { [TC_SPEC_WORKGROUP] = WORKGROUP, [PREPROCESS_SPEC_FRAME_FORMAT] = (uint32_t)pp->frame.format,
              [PREPROCESS_SPEC_YUV_MATRIX] = (uint32_t)pp->frame.matrix,
              [PREPROCESS_SPEC_YUV_FULL] = pp->frame.full_range },
  };
  tc_kernel *k = NULL;
  tc_status st = tc_kernel_get(tc_cmd_context(cmd), &desc, &k, err);
  if (st != TC_OK)
    return st;
  tc_preprocess_rows_push push = { .stride = pp->frame.stride, .width = pp->frame.width,
                                   .height = pp->frame.height, .out_w = pp->size, .record = pp->gx.record };
  tc_buffer *bufs[PREPROCESS_ROWS_BINDINGS] = { [PREPROCESS_ROWS_BIND_FRAME] = frame_buf,
                                                [PREPROCESS_ROWS_BIND_TABLE] = pp->table_x,
                                                [PREPROCESS_ROWS_BIND_ROWS] = pp->rows };
  return tc_cmd_dispatch(cmd, k, bufs, &push, tc_div_up(pp->gx.groups, WORKGROUP), pp->frame.height, 1,
                         "preprocess rows", err);
}

/* Pass 2 in floating point: columns -> size rows, then v * scale + bias. */
static tc_status record_cols(tc_preprocess *pp, tc_cmd *cmd, tc_buffer *out, tc_error *err)
{
  tc_kernel_desc desc = {
    .shader = "preprocess_cols",
    .n_bindings = PREPROCESS_COLS_BINDINGS,
    .bindings = { [PREPROCESS_COLS_BIND_ROWS] = TC_BIND_TEXEL_F32, [PREPROCESS_COLS_BIND_TABLE] = TC_BIND_TEXEL_F32,
                  [PREPROCESS_COLS_BIND_OUT] = TC_BIND_STORAGE },
    .push_size = sizeof(tc_preprocess_cols_push),
    .n_spec = 1,
    .spec = { [TC_SPEC_WORKGROUP] = WORKGROUP },
  };
  tc_kernel *k = NULL;
  tc_status st = tc_kernel_get(tc_cmd_context(cmd), &desc, &k, err);
  if (st != TC_OK)
    return st;
  const float mean[3] = { TC_CLIP_MEAN_R, TC_CLIP_MEAN_G, TC_CLIP_MEAN_B };
  const float std[3] = { TC_CLIP_STD_R, TC_CLIP_STD_G, TC_CLIP_STD_B };
  float scale[3], bias[3];
  for (int c = 0; c < 3; c++) {
    scale[c] = (float)(1.0 / (255.0 * std[c]));
    bias[c] = (float)(-(double)mean[c] / std[c]);
  }
  tc_preprocess_cols_push push = { .size = pp->size, .height = pp->frame.height, .record = pp->gy.record,
                                   .scale_r = scale[0], .scale_g = scale[1], .scale_b = scale[2],
                                   .bias_r = bias[0], .bias_g = bias[1], .bias_b = bias[2] };
  tc_buffer *bufs[PREPROCESS_COLS_BINDINGS] = { [PREPROCESS_COLS_BIND_ROWS] = pp->rows,
                                                [PREPROCESS_COLS_BIND_TABLE] = pp->table_y,
                                                [PREPROCESS_COLS_BIND_OUT] = out };
  return tc_cmd_dispatch(cmd, k, bufs, &push, tc_div_up(pp->size, WORKGROUP), pp->gy.groups, 1, "preprocess cols",
                         err);
}

/* Pass 2 as PIL: 8-bit columns -> size rows, then the normalisation table. */
static tc_status record_pil_cols(tc_preprocess *pp, tc_cmd *cmd, tc_buffer *out, tc_error *err)
{
  tc_kernel_desc desc = {
    .shader = "preprocess_pil_cols",
    .n_bindings = PREPROCESS_PIL_COLS_BINDINGS,
    .bindings = { [PREPROCESS_PIL_COLS_BIND_ROWS] = TC_BIND_STORAGE, [PREPROCESS_PIL_COLS_BIND_TABLE] = TC_BIND_TEXEL_F32,
                  [PREPROCESS_PIL_COLS_BIND_NORM] = TC_BIND_STORAGE, [PREPROCESS_PIL_COLS_BIND_OUT] = TC_BIND_STORAGE },
    .push_size = sizeof(tc_preprocess_pil_cols_push),
    .n_spec = 1,
    .spec = { [TC_SPEC_WORKGROUP] = WORKGROUP },
  };
  tc_kernel *k = NULL;
  tc_status st = tc_kernel_get(tc_cmd_context(cmd), &desc, &k, err);
  if (st != TC_OK)
    return st;
  tc_preprocess_pil_cols_push push = { .size = pp->size, .height = pp->frame.height, .record = pp->gy.record };
  tc_buffer *bufs[PREPROCESS_PIL_COLS_BINDINGS] = { [PREPROCESS_PIL_COLS_BIND_ROWS] = pp->rows,
                                                    [PREPROCESS_PIL_COLS_BIND_TABLE] = pp->table_y,
                                                    [PREPROCESS_PIL_COLS_BIND_NORM] = pp->norm,
                                                    [PREPROCESS_PIL_COLS_BIND_OUT] = out };
  return tc_cmd_dispatch(cmd, k, bufs, &push, tc_div_up(pp->size, WORKGROUP), pp->gy.groups, 1,
                         "preprocess cols (PIL)", err);
}

tc_status tc_preprocess_record(tc_preprocess *pp, tc_cmd *cmd, tc_buffer *frame_buf, tc_buffer *out, tc_error *err)
{
  tc_status st = tc_frame_check_buffer(&pp->frame, frame_buf, err);
  if (st != TC_OK)
    return st;
  if (!out || tc_buffer_size(out) < tc_preprocess_output_bytes(pp))
    return tc_error_set(err, TC_ERR_MISMATCH, "preprocess output needs %zu bytes, the buffer has %zu",
                        tc_preprocess_output_bytes(pp), out ? tc_buffer_size(out) : 0);
  st = record_rows(pp, cmd, frame_buf, err);
  if (st != TC_OK)
    return st;
  return pp->pil ? record_pil_cols(pp, cmd, out, err) : record_cols(pp, cmd, out, err);
}
