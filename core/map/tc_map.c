#include "tc_map.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "abi/map.h"
#include "image/tc_resample.h"

#define WORKGROUP 64
/* map_cols, map_colour and map_blend: an invocation makes 4 columns by 16
 * rows (four groups of four rows of the filter table; fixed in the shaders).
 * lavapipe pays per workgroup and per load, so each does a fair amount of
 * work. */
#define ROWS_PER_INVOCATION 16

struct tc_map {
  tc_context *ctx;
  tc_frame frame;
  tc_map_params params;
  tc_resample_groups gx, gy; /* filter tables, outputs in groups of four */
  tc_buffer *table_x, *table_y;
  tc_buffer *rows;    /* pass 1: [grid_h][width4] texels of four columns */
  tc_buffer *map;     /* [height][width], the smoothed map, when keep_map; else a placeholder */
  tc_buffer *partial; /* [blocks][width4] (min, max) from map_cols */
  tc_buffer *range;   /* (min, max) of the map */
  tc_buffer *lut;     /* 256 colours packed in the frame's byte order, or as Y | U << 8 | V << 16 */
  tc_buffer *layer;   /* [height][width4 * 4] words: each pixel's colour, 0xff in the top byte where blended */
  uint32_t width4;           /* texels of four columns a row */
  uint32_t groups_x, blocks; /* workgroups across, invocations down */
};

void tc_map_params_init(tc_map_params *p)
{
  *p = (tc_map_params){
    .sigma = 4.0f,
    .lo = 0.0f,
    .hi = 1.0f,
    .colormap = TC_COLORMAP_TURBO,
    .alpha = 0.5f,
  };
}

static tc_status check_params(const tc_map_params *p, tc_error *err)
{
  if (p->grid_w == 0 || p->grid_h == 0 || p->grid_w > 4096 || p->grid_h > 4096)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "score grid %ux%u is outside 1..4096", p->grid_w, p->grid_h);
  if (!(p->sigma >= 0 && p->sigma <= TC_BLUR_MAX_SIGMA))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "blur sigma %g is outside [0, %g] pixels", p->sigma,
                        TC_BLUR_MAX_SIGMA);
  if (!(p->sigma_y >= 0 && p->sigma_y <= TC_BLUR_MAX_SIGMA))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "vertical blur sigma_y %g is outside [0, %g] pixels",
                        p->sigma_y, TC_BLUR_MAX_SIGMA);
  if (p->fixed_range && !(isfinite(p->lo) && isfinite(p->hi) && p->hi > p->lo))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "fixed range [%g, %g]: needs finite lo < hi", p->lo, p->hi);
  if (!(p->alpha >= 0 && p->alpha <= 1))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "alpha %g is outside [0, 1]", p->alpha);
  if (!(p->threshold >= 0 && p->threshold <= 1))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "threshold %g is outside [0, 1]", p->threshold);
  if (!tc_colormap_name(p->colormap))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "unknown colormap %d", (int)p->colormap);
  return TC_OK;
}

void tc_map_destroy(tc_map *m)
{
  if (!m)
    return;
  tc_buffer *bufs[] = { m->table_x, m->table_y, m->rows, m->map, m->partial, m->range, m->lut, m->layer };
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
    tc_buffer_destroy(bufs[i]);
  free(m);
}

uint32_t tc_map_rgb_to_yuv(const tc_frame *f, const uint8_t rgb[3])
{
  double kr = f->matrix == TC_YUV_BT709 ? 0.2126 : 0.299, kb = f->matrix == TC_YUV_BT709 ? 0.0722 : 0.114;
  double y = kr * rgb[0] + (1 - kr - kb) * rgb[1] + kb * rgb[2];
  double cb = (rgb[2] - y) / (2 * (1 - kb)), cr = (rgb[0] - y) / (2 * (1 - kr));
  double v[3] = { f->full_range ? y : 16 + y * 219 / 255, 128 + cb * (f->full_range ? 1 : 224.0 / 255),
                  128 + cr * (f->full_range ? 1 : 224.0 / 255) };
  uint32_t out = 0;
  for (int c = 0; c < 3; c++) {
    double q = floor(v[c] + 0.5);
    out |= (uint32_t)(q < 0 ? 0 : q > 255 ? 255 : q) << (8 * c);
  }
  return out;
}

static tc_status create_lut(tc_map *m, tc_error *err)
{
  uint8_t rgb[256 * 3];
  tc_status st = tc_colormap_lut(m->params.colormap, rgb, err);
  if (st != TC_OK)
    return st;
  uint32_t packed[256];
  int blue_first = tc_frame_blue_first(m->frame.format);
  for (int i = 0; i < 256; i++) {
    uint32_t r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2];
    packed[i] = tc_frame_is_yuv(m->frame.format) ? tc_map_rgb_to_yuv(&m->frame, rgb + 3 * i)
                : blue_first                     ? b | g << 8 | r << 16
                                                 : r | g << 8 | b << 16;
  }
  return tc_buffer_create_from(m->ctx, packed, sizeof packed, &m->lut, err);
}

/* The colour layer starts with no pixel blended: a blend recorded before any
 * smoothing leaves the frame as it is. */
static tc_status zero_fill(void *user, void *dst, size_t bytes, tc_error *err)
{
  (void)user;
  (void)err;
  memset(dst, 0, bytes);
  return TC_OK;
}

static tc_status create_tables(tc_map *m, tc_error *err)
{
  tc_resample_table tx, ty;
  tc_status st = tc_resample_bilinear_blur(m->params.grid_w, m->frame.width, m->params.sigma, &tx, err);
  if (st != TC_OK)
    return st;
  float sigma_y = m->params.sigma_y > 0 ? m->params.sigma_y : m->params.sigma;
  st = tc_resample_bilinear_blur(m->params.grid_h, m->frame.height, sigma_y, &ty, err);
  if (st == TC_OK) {
    st = tc_resample_upload(m->ctx, &tx, &m->gx, &m->table_x, err);
    if (st == TC_OK)
      st = tc_resample_upload(m->ctx, &ty, &m->gy, &m->table_y, err);
    tc_resample_free(&ty);
  }
  tc_resample_free(&tx);
  return st;
}

tc_status tc_map_create(tc_context *ctx, const tc_frame *frame, const tc_map_params *params, tc_map **out,
                        tc_error *err)
{
  *out = NULL;
  tc_status st = tc_frame_check(frame, err);
  if (st == TC_OK)
    st = check_params(params, err);
  if (st != TC_OK)
    return st;
  tc_map *m = calloc(1, sizeof *m);
  if (!m)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  m->ctx = ctx;
  m->frame = *frame;
  m->params = *params;
  m->width4 = tc_div_up(frame->width, 4);
  m->groups_x = tc_div_up(m->width4, WORKGROUP);
  m->blocks = tc_div_up(frame->height, ROWS_PER_INVOCATION);
  size_t pixels = (size_t)frame->width * frame->height;
  st = create_tables(m, err);
  if (st == TC_OK)
    st = create_lut(m, err);
  if (st == TC_OK)
    st = tc_buffer_create(ctx, (size_t)params->grid_h * m->width4 * 4 * sizeof(float), &m->rows, err);
  if (st == TC_OK)
    st = tc_buffer_create(ctx, params->keep_map ? pixels * sizeof(float) : 16, &m->map, err);
  if (st == TC_OK)
    st = tc_buffer_create(ctx, (size_t)m->blocks * m->width4 * 2 * sizeof(float), &m->partial, err);
  if (st == TC_OK)
    st = tc_buffer_create(ctx, 2 * sizeof(float), &m->range, err);
  if (st == TC_OK)
    st = tc_buffer_create_filled(ctx, (size_t)frame->height * m->width4 * 4 * sizeof(uint32_t), zero_fill, NULL,
                                 &m->layer, err);
  if (st != TC_OK) {
    tc_error_prefix(err, "anomaly map %ux%u -> %ux%u", params->grid_w, params->grid_h, frame->width,
                    frame->height);
    tc_map_destroy(m);
    return st;
  }
  *out = m;
  return TC_OK;
}

tc_status tc_map_record_smooth(tc_map *m, tc_cmd *cmd, tc_buffer *scores, uint32_t scores_offset, tc_error *err)
{
  const tc_map_params *p = &m->params;
  size_t need = ((size_t)scores_offset + (size_t)p->grid_w * p->grid_h) * sizeof(float);
  if (!scores || tc_buffer_size(scores) < need)
    return tc_error_set(err, TC_ERR_MISMATCH, "a %ux%u score grid at offset %u needs %zu bytes, the buffer has %zu",
                        p->grid_w, p->grid_h, scores_offset, need, scores ? tc_buffer_size(scores) : 0);
  tc_context *ctx = tc_cmd_context(cmd);
  const tc_binding S = TC_BIND_STORAGE, T = TC_BIND_TEXEL_F32;
  tc_kernel_desc rows = {
    .shader = "map_rows",
    .n_bindings = MAP_ROWS_BINDINGS,
    .bindings = { [MAP_ROWS_BIND_SCORES] = S, [MAP_ROWS_BIND_TABLE] = T, [MAP_ROWS_BIND_ROWS] = S },
    .push_size = sizeof(tc_map_rows_push),
    .n_spec = 1,
    .spec = { [TC_SPEC_WORKGROUP] = WORKGROUP },
  };
  tc_kernel *k;
  tc_status st = tc_kernel_get(ctx, &rows, &k, err);
  if (st != TC_OK)
    return st;
  tc_map_rows_push rows_push = { .offset = scores_offset, .grid_w = p->grid_w, .grid_h = p->grid_h,
                                 .width4 = m->width4, .record = m->gx.record };
  tc_buffer *rows_bufs[MAP_ROWS_BINDINGS] = { [MAP_ROWS_BIND_SCORES] = scores, [MAP_ROWS_BIND_TABLE] = m->table_x,
                                              [MAP_ROWS_BIND_ROWS] = m->rows };
  st = tc_cmd_dispatch(cmd, k, rows_bufs, &rows_push, m->groups_x, p->grid_h, 1, "map rows", err);
  if (st != TC_OK)
    return st;

  tc_kernel_desc cols = {
    .shader = "map_cols",
    .n_bindings = MAP_COLS_BINDINGS,
    .bindings = { [MAP_COLS_BIND_ROWS] = T, [MAP_COLS_BIND_TABLE] = T, [MAP_COLS_BIND_PARTIAL] = S,
                  [MAP_COLS_BIND_MAP] = S },
    .push_size = sizeof(tc_map_cols_push),
    .n_spec = 1,
    .spec = { [TC_SPEC_WORKGROUP] = WORKGROUP },
  };
  st = tc_kernel_get(ctx, &cols, &k, err);
  if (st != TC_OK)
    return st;
  tc_map_cols_push cols_push = { .width = m->frame.width, .width4 = m->width4, .height = m->frame.height,
                                 .grid_h = p->grid_h, .record = m->gy.record, .store_map = p->keep_map != 0 };
  tc_buffer *cols_bufs[MAP_COLS_BINDINGS] = { [MAP_COLS_BIND_ROWS] = m->rows, [MAP_COLS_BIND_TABLE] = m->table_y,
                                              [MAP_COLS_BIND_PARTIAL] = m->partial, [MAP_COLS_BIND_MAP] = m->map };
  st = tc_cmd_dispatch(cmd, k, cols_bufs, &cols_push, m->groups_x, m->blocks, 1, "map cols", err);
  if (st != TC_OK)
    return st;

  tc_kernel_desc range = {
    .shader = "map_range",
    .n_bindings = MAP_RANGE_BINDINGS,
    .bindings = { [MAP_RANGE_BIND_PARTIAL] = S, [MAP_RANGE_BIND_RANGE] = S },
    .push_size = sizeof(tc_map_range_push),
    .n_spec = 1,
    .spec = { [TC_SPEC_WORKGROUP] = WORKGROUP },
  };
  st = tc_kernel_get(ctx, &range, &k, err);
  if (st != TC_OK)
    return st;
  tc_map_range_push range_push = { .n = m->blocks * m->width4 };
  tc_buffer *range_bufs[MAP_RANGE_BINDINGS] = { [MAP_RANGE_BIND_PARTIAL] = m->partial,
                                                [MAP_RANGE_BIND_RANGE] = m->range };
  return tc_cmd_dispatch(cmd, k, range_bufs, &range_push, 1, 1, 1, "map range", err);
}

/* Colours once per map: every frame's blend until the next map reads a word
 * a pixel instead of the taps and the table. */
tc_status tc_map_record_colour(tc_map *m, tc_cmd *cmd, tc_error *err)
{
  const tc_map_params *p = &m->params;
  const tc_binding S = TC_BIND_STORAGE, T = TC_BIND_TEXEL_F32;
  tc_kernel_desc colour = {
    .shader = "map_colour",
    .n_bindings = MAP_COLOUR_BINDINGS,
    .bindings = { [MAP_COLOUR_BIND_ROWS] = T, [MAP_COLOUR_BIND_TABLE] = T, [MAP_COLOUR_BIND_RANGE] = S,
                  [MAP_COLOUR_BIND_LUT] = S, [MAP_COLOUR_BIND_LAYER] = S },
    .push_size = sizeof(tc_map_colour_push),
    .n_spec = 1,
    .spec = { [TC_SPEC_WORKGROUP] = WORKGROUP },
  };
  tc_kernel *k;
  tc_status st = tc_kernel_get(tc_cmd_context(cmd), &colour, &k, err);
  if (st != TC_OK)
    return st;
  tc_map_colour_push colour_push = { .width = m->frame.width, .width4 = m->width4, .height = m->frame.height,
                                     .grid_h = p->grid_h, .record = m->gy.record, .use_range = !p->fixed_range,
                                     .lo = p->lo, .hi = p->hi, .threshold = p->threshold };
  tc_buffer *colour_bufs[MAP_COLOUR_BINDINGS] = { [MAP_COLOUR_BIND_ROWS] = m->rows,
                                                  [MAP_COLOUR_BIND_TABLE] = m->table_y,
                                                  [MAP_COLOUR_BIND_RANGE] = m->range,
                                                  [MAP_COLOUR_BIND_LUT] = m->lut,
                                                  [MAP_COLOUR_BIND_LAYER] = m->layer };
  return tc_cmd_dispatch(cmd, k, colour_bufs, &colour_push, m->groups_x, m->blocks, 1, "map colour", err);
}

/* map_blend_yuv: the blend in YUV, a 4x4 pixel block an invocation. */
static tc_status record_blend_yuv(tc_map *m, tc_cmd *cmd, tc_buffer *frame_buf, tc_error *err)
{
  tc_kernel_desc d = {
    .shader = "map_blend_yuv",
    .n_bindings = MAP_BLEND_BINDINGS,
    .bindings = { [MAP_BLEND_BIND_LAYER] = TC_BIND_STORAGE, [MAP_BLEND_BIND_FRAME] = TC_BIND_STORAGE },
    .push_size = sizeof(tc_map_blend_yuv_push),
    .n_spec = 3,
    .spec = { [TC_SPEC_WORKGROUP] = WORKGROUP, [MAP_BLEND_YUV_SPEC_FORMAT] = (uint32_t)m->frame.format,
              [MAP_BLEND_YUV_SPEC_ALIGNED] = m->frame.stride % 4 == 0 },
  };
  tc_kernel *k;
  tc_status st = tc_kernel_get(tc_cmd_context(cmd), &d, &k, err);
  if (st != TC_OK)
    return st;
  tc_map_blend_yuv_push push = { .width = m->frame.width, .width4 = m->width4, .height = m->frame.height,
                                 .stride = m->frame.stride, .alpha = m->params.alpha };
  tc_buffer *bufs[MAP_BLEND_BINDINGS] = { [MAP_BLEND_BIND_LAYER] = m->layer, [MAP_BLEND_BIND_FRAME] = frame_buf };
  /* a 4x4 pixel block an invocation */
  return tc_cmd_dispatch(cmd, k, bufs, &push, tc_div_up(m->width4, WORKGROUP), tc_div_up(m->frame.height, 4), 1,
                         "map blend (YUV)", err);
}

tc_status tc_map_record_blend(tc_map *m, tc_cmd *cmd, tc_buffer *frame_buf, tc_error *err)
{
  tc_status st = tc_frame_check_buffer(&m->frame, frame_buf, err);
  if (st != TC_OK)
    return st;
  if (tc_frame_is_yuv(m->frame.format))
    return record_blend_yuv(m, cmd, frame_buf, err);
  tc_kernel_desc d = {
    .shader = "map_blend",
    .n_bindings = MAP_BLEND_BINDINGS,
    .bindings = { [MAP_BLEND_BIND_LAYER] = TC_BIND_STORAGE, [MAP_BLEND_BIND_FRAME] = TC_BIND_STORAGE },
    .push_size = sizeof(tc_map_blend_push),
    .n_spec = 2,
    /* 16-byte rows: four pixels a load and a store */
    .spec = { [TC_SPEC_WORKGROUP] = WORKGROUP, [MAP_BLEND_SPEC_ALIGNED] = m->frame.stride % 16 == 0 },
  };
  tc_kernel *k;
  st = tc_kernel_get(tc_cmd_context(cmd), &d, &k, err);
  if (st != TC_OK)
    return st;
  tc_map_blend_push push = { .width4 = m->width4, .height = m->frame.height, .stride_px = m->frame.stride / 4,
                             .alpha = m->params.alpha };
  tc_buffer *bufs[MAP_BLEND_BINDINGS] = { [MAP_BLEND_BIND_LAYER] = m->layer, [MAP_BLEND_BIND_FRAME] = frame_buf };
  return tc_cmd_dispatch(cmd, k, bufs, &push, m->groups_x, m->blocks, 1, "map blend", err);
}

tc_status tc_map_record(tc_map *m, tc_cmd *cmd, tc_buffer *scores, uint32_t scores_offset, tc_buffer *frame_buf,
                        tc_error *err)
{
  tc_status st = tc_map_record_smooth(m, cmd, scores, scores_offset, err);
  if (st == TC_OK)
    st = tc_map_record_colour(m, cmd, err);
  return st == TC_OK ? tc_map_record_blend(m, cmd, frame_buf, err) : st;
}

tc_status tc_map_read_range(tc_map *m, float *min, float *max, tc_error *err)
{
  float r[2];
  tc_status st = tc_buffer_download(m->range, 0, r, sizeof r, err);
  if (st == TC_OK && min)
    *min = r[0];
  if (st == TC_OK && max)
    *max = r[1];
  return st;
}

tc_buffer *tc_map_buffer(tc_map *m) { return m->params.keep_map ? m->map : NULL; }

tc_status tc_map_read(tc_map *m, float *dst, tc_error *err)
{
  if (!m->params.keep_map)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "the full-resolution map is kept only with keep_map set");
  return tc_buffer_download(m->map, 0, dst, (size_t)m->frame.width * m->frame.height * sizeof(float), err);
}
