/* Image stage bench cases: preprocess of a 1080p frame to the model inputs
 * of ViT-B/16 (224) and AnomalyCLIP's ViT-L/14 (518), with the float filter
 * and with PIL's 8-bit one (AnomalyCLIP's input), and the overlay
 * (upsampling, blur, colormap and blend into the frame) at 1080p and 720p
 * from the token grids of both (14x14, 37x37), with AnomalyCLIP's blur
 * (sigma 4 at 518 px) scaled to the frame: sigma = 4 * width / 518. The
 * overlay is also split into its smoothing and its blend. flop is left at 0:
 * these stages are bound by loads and stores, not arithmetic. */
#include <stdlib.h>

#include "bench.h"
#include "image/tc_preprocess.h"
#include "map/tc_map.h"

typedef struct image_bench {
  uint32_t width, height;
  uint32_t size;       /* preprocess: model input size; 0 for the map cases */
  tc_resample_filter filter; /* preprocess */
  uint32_t grid;       /* map: token grid */
  int smooth, blend;   /* map: which parts to record */
  int nv12;            /* the frame in NV12 (a camera's) instead of BGRx */
} image_bench;

typedef struct image_state {
  tc_preprocess *pp;
  tc_map *map;
  tc_buffer *frame, *out, *scores;
} image_state;

static tc_status random_frame(tc_context *ctx, const tc_frame *f, tc_buffer **out, tc_error *err)
{
  tc_status st = tc_frame_buffer_create(ctx, f, out, err);
  uint8_t *px = st == TC_OK ? malloc(tc_frame_bytes(f)) : NULL;
  if (st == TC_OK && !px)
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  if (st == TC_OK) {
    uint64_t s = 777;
    for (size_t i = 0; i < tc_frame_bytes(f); i++) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      px[i] = (uint8_t)(s >> 56);
    }
    st = tc_buffer_upload(*out, 0, px, tc_frame_bytes(f), err);
  }
  free(px);
  return st;
}

static tc_status smooth_once(tc_context *ctx, image_state *s, tc_error *err)
{
  tc_cmd *cmd = NULL;
  tc_status st = tc_cmd_create(ctx, &cmd, err);
  if (st == TC_OK)
    st = tc_cmd_begin(cmd, err);
  if (st == TC_OK)
    st = tc_map_record_smooth(s->map, cmd, s->scores, 0, err);
  if (st == TC_OK)
    st = tc_map_record_colour(s->map, cmd, err);
  if (st == TC_OK)
    st = tc_cmd_end(cmd, err);
  if (st == TC_OK)
    st = tc_cmd_run(cmd, err);
  tc_cmd_destroy(cmd);
  return st;
}

static tc_status image_setup(tc_context *ctx, const void *params, tc_cmd *cmd, void **out, tc_error *err)
{
  const image_bench *b = params;
  image_state *s = calloc(1, sizeof *s);
  *out = s;
  if (!s)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  tc_frame f = tc_frame_make(b->nv12 ? TC_FRAME_NV12 : TC_FRAME_BGRX, b->width, b->height);
  tc_status st = random_frame(ctx, &f, &s->frame, err);
  if (st == TC_OK && b->size) {
    st = tc_preprocess_create(ctx, &f, b->size, b->filter, &s->pp, err);
    if (st == TC_OK)
      st = tc_buffer_create(ctx, tc_preprocess_output_bytes(s->pp), &s->out, err);
    if (st == TC_OK)
      st = tc_preprocess_record(s->pp, cmd, s->frame, s->out, err);
    return st;
  }
  tc_map_params p;
  tc_map_params_init(&p);
  p.grid_w = p.grid_h = b->grid;
  p.sigma = 4.0f * (float)b->width / 518.0f;
  if (st == TC_OK)
    st = tc_map_create(ctx, &f, &p, &s->map, err);
  if (st == TC_OK)
    st = tc_bench_random_f32(ctx, (size_t)b->grid * b->grid, 0, 1, &s->scores, err);
  if (st == TC_OK && !b->smooth) /* the blend alone: of a map smoothed once, as between analyses */
    st = smooth_once(ctx, s, err);
  if (st == TC_OK && b->smooth)
    st = tc_map_record_smooth(s->map, cmd, s->scores, 0, err);
  if (st == TC_OK && b->smooth && b->blend)
    st = tc_map_record_colour(s->map, cmd, err);
  if (st == TC_OK && b->blend)
    st = tc_map_record_blend(s->map, cmd, s->frame, err);
  return st;
}

static void image_teardown(void *state)
{
  image_state *s = state;
  if (!s)
    return;
  tc_preprocess_destroy(s->pp);
  tc_map_destroy(s->map);
  tc_buffer_destroy(s->frame);
  tc_buffer_destroy(s->out);
  tc_buffer_destroy(s->scores);
  free(s);
}

#define PREPROCESS(w, h, size, filter, what)                                                    \
  { "preprocess", #w "x" #h ">" #size, what, 0, image_setup, image_teardown,                   \
    &(const image_bench){ w, h, size, filter, 0, 0, 0, 0 } }
#define MAP(name, w, h, grid, smooth, blend, what)                                                       \
  { name, #w "x" #h "<" #grid "x" #grid, what, 0, image_setup, image_teardown,                          \
    &(const image_bench){ w, h, 0, 0, grid, smooth, blend, 0 } }
#define MAP_NV12(name, w, h, grid, what)                                                                  \
  { name, #w "x" #h "<" #grid "x" #grid, what, 0, image_setup, image_teardown,                          \
    &(const image_bench){ w, h, 0, 0, grid, 0, 1, 1 } }

const tc_bench_case tc_bench_image_cases[] = {
  PREPROCESS(1920, 1080, 224, TC_RESAMPLE_BICUBIC, "bicubic aa, ViT-B/16"),
  PREPROCESS(1920, 1080, 518, TC_RESAMPLE_BICUBIC, "bicubic aa, AnomalyCLIP L/14"),
  PREPROCESS(1920, 1080, 224, TC_RESAMPLE_PIL_BICUBIC, "bicubic-pil (8-bit), ViT-B/16"),
  PREPROCESS(1920, 1080, 518, TC_RESAMPLE_PIL_BICUBIC, "bicubic-pil (8-bit), AnomalyCLIP L/14"),
  MAP("overlay", 1920, 1080, 14, 1, 1, "ViT-B/16 grid, sigma 14.8"),
  MAP("overlay", 1920, 1080, 37, 1, 1, "AnomalyCLIP grid, sigma 14.8"),
  MAP("overlay", 1280, 720, 14, 1, 1, "ViT-B/16 grid, sigma 9.9"),
  MAP("overlay", 1280, 720, 37, 1, 1, "AnomalyCLIP grid, sigma 9.9"),
  MAP("map_smooth", 1920, 1080, 37, 1, 0, "upsample+blur+min/max"),
  MAP("map_blend", 1920, 1080, 37, 0, 1, "blend of the colour layer"),
  MAP_NV12("map_blend_nv12", 1920, 1080, 37, "blend of the colour layer in YUV (NV12)"),
  { 0 },
};
