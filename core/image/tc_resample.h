/* Tables for separable resampling: each output sample is a weighted sum of
 * `taps` consecutive input samples starting at first[o]. Filters with a
 * short support (a few taps out of thousands of inputs) become small tables
 * that a shader walks without evaluating any filter; the tables are built in
 * double precision once, when a stream's sizes are known. */
#ifndef TC_RESAMPLE_H
#define TC_RESAMPLE_H

#include "image/tc_preprocess.h"

typedef struct tc_resample_table {
  uint32_t n_in, n_out, taps;
  uint32_t *first; /* [n_out]; first[o] + taps <= n_in */
  float *weights;  /* [n_out][taps]; zero outside the filter's support */
} tc_resample_table;

/* F.interpolate(mode, align_corners=False, antialias=True) along one axis
 * (torch 1.13 / PIL): support (bilinear 1, bicubic 2) times max(1, n_in/n_out),
 * taps outside [0, n_in) dropped, weights renormalised. TC_RESAMPLE_PIL_BICUBIC
 * gives bicubic's table here (in floating point, not rounded as PIL's). */
tc_status tc_resample_antialias(uint32_t n_in, uint32_t n_out, tc_resample_filter filter, tc_resample_table *t,
                                tc_error *err);

/* PIL's weights are integers in units of 2^-22 (Resample.c's PRECISION_BITS). */
#define TC_PIL_PRECISION_BITS 22

/* The same filter as PIL's 8-bit resize has it (Resample.c: precompute_coeffs
 * then normalize_coeffs_8bpc): computed in double with PIL's expressions,
 * operation for operation (a weight is then rounded, and another rounding of
 * an intermediate could move it across a rounding boundary), normalised, and
 * rounded half away from zero to an integer number of 2^-22. The table's
 * weights are those integers (|w| <= 2^22: exact as floats). An output of
 * PIL's pass is clamp(floor((2^21 + sum w p) / 2^22), 0, 255), sums below
 * 2^31 in magnitude. TC_RESAMPLE_PIL_BICUBIC and _BICUBIC give PIL's BICUBIC,
 * _BILINEAR PIL's BILINEAR. */
tc_status tc_resample_pil(uint32_t n_in, uint32_t n_out, tc_resample_filter filter, tc_resample_table *t,
                          tc_error *err);

/* PIL's Image.resize((out_w, out_h), filter) of an 8-bit RGB image, on the
 * host, bit for bit (Pillow <= 12: the horizontal pass first, each pass
 * rounded and clamped to 0..255; a pass whose size does not change is the
 * identity and is skipped, as PIL skips it). Pixels are 4 bytes, rows
 * src_stride / dst_stride bytes apart: the first three bytes of a pixel are
 * resized whatever their order, the fourth byte of every output pixel is
 * 255. Filters as tc_resample_pil. src and dst must not overlap. */
tc_status tc_resize_pil_8bit(const uint8_t *src, uint32_t width, uint32_t height, size_t src_stride, uint8_t *dst,
                             uint32_t out_width, uint32_t out_height, size_t dst_stride, tc_resample_filter filter,
                             tc_error *err);

/* F.interpolate(mode="bilinear", align_corners=False) along one axis (no
 * antialias: the edges clamp), followed, when sigma > 0, by a Gaussian blur
 * of the n_out samples as scipy.ndimage.gaussian_filter1d(sigma,
 * mode="reflect", truncate=4.0) does it: radius tc_gaussian_radius(sigma),
 * weights exp(-x^2 / (2 sigma^2)) normalised to 1, samples beyond an edge
 * mirrored about it (d c b a | a b c d | d c b a ..., repeated as often as
 * the radius needs, so any radius works on any length). Both are linear, so
 * the table is their product. Building it costs n_out (8 sigma + 1) steps,
 * so sigma is at most TC_BLUR_MAX_SIGMA pixels. */
#define TC_BLUR_MAX_SIGMA 4096.0f
tc_status tc_resample_bilinear_blur(uint32_t n_in, uint32_t n_out, float sigma, tc_resample_table *t,
                                    tc_error *err);

void tc_resample_free(tc_resample_table *t);

/* The shaders' form of a table: outputs in groups of four, so that one
 * texel fetch gives an input's weights for four adjacent outputs, and inputs
 * shared by neighbouring outputs (most of them: supports overlap) are read
 * once for the four. Group g's record holds (first, 0, 0, 0), then for each
 * input first + u (u < span) the weights of outputs 4g .. 4g+3, zero where
 * an output does not use the input or does not exist. Every record has the
 * same length; inputs past n_in (weight 0) are clamped by the shaders. */
typedef struct tc_resample_groups {
  uint32_t groups; /* ceil(n_out / 4) */
  uint32_t span;   /* inputs a record covers */
  uint32_t record; /* texels a record takes: 1 + span */
} tc_resample_groups;

/* Uploads t in that form into a new buffer, read as an RGBA32F uniform texel
 * buffer (texel fetches are what lavapipe loads fastest). */
tc_status tc_resample_upload(tc_context *ctx, const tc_resample_table *t, tc_resample_groups *g, tc_buffer **out,
                             tc_error *err);

/* The Gaussian radius used for sigma, scipy's for truncate 4:
 * int(4 sigma + 0.5), 0 when sigma <= 0. */
uint32_t tc_gaussian_radius(float sigma);

#endif
