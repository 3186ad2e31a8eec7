/* The anomaly map: per-token scores on the patch grid -> a heatmap blended
 * over the video frame.
 *
 *   smooth: scores [grid_h][grid_w] (floats in a device buffer, raster order)
 *           -> frame size, bilinear as F.interpolate(align_corners=False),
 *           -> optional Gaussian blur as scipy.ndimage.gaussian_filter(mode=
 *              "reflect", truncate=4) (AnomalyCLIP's): sigma in frame
 *              pixels, radius int(4 sigma + 0.5), edges mirrored
 *              (d c b a | a b c d), any radius on any frame size,
 *           -> the map's min and max (the image score blends with the max),
 *              and, when asked, the full-resolution map itself,
 *   colour: normalised (the map's min/max, or a fixed [lo, hi]) and
 *           coloured: the colour layer, a word a pixel (colour, and whether
 *           it is blended: normalised score >= threshold).
 *   blend:  the colour layer alpha-blended into the frame in place; the
 *           fourth byte (alpha / padding) is left alone. Frames between
 *           analyses get this pass alone, a load and a blend a pixel.
 *
 * Upsampling and blur are both separable and linear, so they are applied as
 * one precomputed table per axis (a few taps per pixel whatever sigma is):
 * the full-resolution blur costs no more than the upsampling. */
#ifndef TC_MAP_H
#define TC_MAP_H

#include "image/tc_frame.h"

#ifdef __cplusplus
extern "C" {
#endif

/* tc_colormap and tc_colormap_name are public (tokenclip/tokenclip.h): Turbo
 * is a polynomial approximation, jet piecewise linear, inferno a 256-entry
 * table. */

/* The 256-entry colour table of a colormap, 8-bit RGB, red first: entry i is
 * the colour of normalised score i / 255, and a score t in [0, 1] takes entry
 * min(floor(256 t), 255) (as matplotlib's colormaps do). */
tc_status tc_colormap_lut(tc_colormap colormap, uint8_t rgb[256 * 3], tc_error *err);

typedef struct tc_map_params {
  uint32_t grid_w, grid_h; /* the token grid of the scores */
  float sigma;             /* Gaussian blur in frame pixels; 0: none. Default 4 */
  float sigma_y;           /* a different vertical blur in frame pixels, sigma then the horizontal one;
                              0 (default): sigma. A model-input sigma s at input size S, over a
                              W x H frame that preprocess stretches to S x S: sigma = s W / S,
                              sigma_y = s H / S (an S x S frame: s itself) */
  int fixed_range;         /* 0: normalise by the map's min and max (default); 1: by [lo, hi] */
  float lo, hi;            /* the fixed range; hi > lo */
  tc_colormap colormap;    /* default turbo */
  float alpha;             /* 0..1, default 0.5; 0 leaves every pixel as it was */
  float threshold;         /* 0..1 of the normalised score; below it nothing is blended. Default 0 */
  int keep_map;            /* 1: also store the full-resolution float map (tc_map_read). Default 0 */
} tc_map_params;

/* The defaults above, with grid_w = grid_h = 0 (the caller sets the grid). */
void tc_map_params_init(tc_map_params *params);

typedef struct tc_map tc_map;

/* Prepares the map for frames shaped like `frame` (tables, colour table,
 * the colour layer: 4 bytes a pixel, and the full-resolution map buffer when
 * keep_map). */
tc_status tc_map_create(tc_context *ctx, const tc_frame *frame, const tc_map_params *params, tc_map **out,
                        tc_error *err);
void tc_map_destroy(tc_map *map);

/* Records the smoothing: scores[scores_offset .. + grid_w * grid_h) (floats)
 * -> the full-resolution map and its min / max (three dispatches): all an
 * analysis that blends nothing needs. */
tc_status tc_map_record_smooth(tc_map *map, tc_cmd *cmd, tc_buffer *scores, uint32_t scores_offset, tc_error *err);

/* Records the colour layer of the last smoothing (one dispatch), after it. */
tc_status tc_map_record_colour(tc_map *map, tc_cmd *cmd, tc_error *err);

/* Records the blend of the colour layer into frame_buf, in place (one
 * dispatch). May be recorded without a smoothing before it to blend the last
 * coloured map over further frames; before any colouring it leaves the frame
 * as it is. */
tc_status tc_map_record_blend(tc_map *map, tc_cmd *cmd, tc_buffer *frame_buf, tc_error *err);

/* All three: smoothing, colouring, blend. */
tc_status tc_map_record(tc_map *map, tc_cmd *cmd, tc_buffer *scores, uint32_t scores_offset, tc_buffer *frame_buf,
                        tc_error *err);

/* After the submission that smoothed has finished: the map's min and max
 * (either may be NULL). */
tc_status tc_map_read_range(tc_map *map, float *min, float *max, tc_error *err);

/* With keep_map: the full-resolution smoothed map, float [height][width], for
 * applications, valid after the submission (NULL without keep_map: the
 * colouring recomputes the few taps a pixel needs rather than store and
 * reload 4 bytes a pixel). tc_map_read copies it to host memory. */
tc_buffer *tc_map_buffer(tc_map *map);
tc_status tc_map_read(tc_map *map, float *dst, tc_error *err);

/* A colour as 8-bit Y | U << 8 | V << 16 in the YUV frame's matrix and range
 * (rounded, clamped): the colormap of a YUV frame, converted once. */
uint32_t tc_map_rgb_to_yuv(const tc_frame *frame, const uint8_t rgb[3]);

#ifdef __cplusplus
}
#endif

#endif
