/* Plain-C references of the image stages around the model: preprocess
 * (frame -> normalised model input) and the anomaly map (grid -> frame size,
 * blur, colour blend). Straightforward loops in double precision, written
 * from torch's definitions independently of the kernels' filter tables;
 * tests/torch/test_ref_image.py checks them against PyTorch. */
#ifndef TC_REF_IMAGE_H
#define TC_REF_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "image/tc_frame.h"
#include "image/tc_preprocess.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One float plane [in_h][in_w] -> [out_h][out_w], as
 * F.interpolate(mode, align_corners=False, antialias=True) in torch 1.13. */
void tc_ref_resize_antialias(const float *in, size_t in_h, size_t in_w, float *out, size_t out_h, size_t out_w,
                             tc_resample_filter filter);

/* One 8-bit plane [in_h][in_w] -> [out_h][out_w] as PIL's Image.resize with
 * BICUBIC (filter TC_RESAMPLE_PIL_BICUBIC or _BICUBIC) or BILINEAR resizes
 * a band of an 8-bit image (Pillow's libImaging/Resample.c): the filter above
 * in double, each weight rounded half away from zero to units of 2^-22,
 * integer sums, horizontal pass first into an 8-bit plane, each output
 * clamp(floor((2^21 + sum) / 2^22), 0, 255); a pass whose size does not
 * change is skipped (it is the identity). */
void tc_ref_resize_pil(const uint8_t *in, size_t in_h, size_t in_w, uint8_t *out, size_t out_h, size_t out_w,
                       tc_resample_filter filter);

/* A frame (bytes laid out as `frame` says) -> float [3][size][size], RGB,
 * resized as above (TC_RESAMPLE_PIL_BICUBIC: tc_ref_resize_pil, else
 * tc_ref_resize_antialias), then (v / 255 - mean) / std with CLIP's
 * constants, in double, rounded to float once. */
void tc_ref_preprocess(const uint8_t *pixels, const tc_frame *frame, size_t size, tc_resample_filter filter, float *out);

/* [in_h][in_w] -> [out_h][out_w] as F.interpolate(mode="bilinear", align_corners=False). */
void tc_ref_upsample_bilinear(const float *in, size_t in_h, size_t in_w, float *out, size_t out_h, size_t out_w);

/* Separable Gaussian blur of [h][w] as scipy.ndimage.gaussian_filter(sigma,
 * mode="reflect", truncate=4.0): standard deviation sigma in samples, radius
 * int(4 sigma + 0.5), weights exp(-x^2 / (2 sigma^2)) normalised to 1, the
 * line mirrored beyond its ends (d c b a | a b c d | d c b a, repeated when
 * the radius exceeds the length). sigma <= 0 copies. out may not be in. */
void tc_ref_gaussian_blur(const float *in, float *out, size_t h, size_t w, float sigma);
/* The same with a standard deviation per axis (either <= 0: that axis not blurred). */
void tc_ref_gaussian_blur_xy(const float *in, float *out, size_t h, size_t w, float sigma_x, float sigma_y);

/* The smoothed anomaly map: scores [grid_h][grid_w] upsampled to [h][w],
 * blurred with sigma (0: not), and its min and max. */
void tc_ref_map_smooth(const float *scores, size_t grid_h, size_t grid_w, float *map, size_t h, size_t w,
                       float sigma, float *min, float *max);
/* The same with a standard deviation per axis. */
void tc_ref_map_smooth_xy(const float *scores, size_t grid_h, size_t grid_w, float *map, size_t h, size_t w,
                          float sigma_x, float sigma_y, float *min, float *max);

/* Colour blend of map [h][w] (h, w the frame's) into the frame in place (the
 * device's map_colour then map_blend):
 * t = clamp((v - lo) / (hi - lo), 0, 1) (0 when hi <= lo); where t >= threshold
 * and alpha > 0, colour = lut_rgb[min(floor(256 t), 255)] (red first) and each
 * colour byte p becomes floor(p + alpha (colour - p) + 0.5). The fourth byte
 * and every other pixel are left as they are. */
void tc_ref_map_blend(const float *map, float lo, float hi, const uint8_t *lut_rgb, float alpha, float threshold,
                      uint8_t *pixels, const tc_frame *frame);

/* map_colour then map_blend_yuv's reference: the blend in YUV (NV12, I420, YUY2), lut_yuv the
 * colormap as tc_map_rgb_to_yuv packs it; chroma samples get the mean pull of
 * the pixels they cover (see shaders/map_blend_yuv.comp). */
void tc_ref_map_blend_yuv(const float *map, float lo, float hi, const uint32_t *lut_yuv, float alpha,
                          float threshold, uint8_t *pixels, const tc_frame *f);

#ifdef __cplusplus
}
#endif

#endif
