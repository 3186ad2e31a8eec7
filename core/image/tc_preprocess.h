/* Preprocess: a video frame -> the model's input, float32 [3, S, S] (CHW,
 * RGB whatever the frame's byte order), CLIP-normalised.
 *
 * The whole frame is resized to S x S (no crop, as AnomalyCLIP's test
 * transform does: Resize((S, S), bicubic) then a no-op CenterCrop(S)), with
 * the antialiased separable filter of torch.nn.functional.interpolate(...,
 * align_corners=False, antialias=True) in torch 1.13, which is PIL's filter:
 * the filter support widens with the downscale factor, taps outside the frame
 * are dropped and each output's weights renormalised to 1; bicubic uses
 * a = -0.5. Upscaling uses the same filter at its natural width. Then
 * (pixel / 255 - mean) / std per channel.
 *
 * TC_RESAMPLE_BICUBIC and _BILINEAR compute the filter in floating point;
 * TC_RESAMPLE_PIL_BICUBIC computes it as PIL's Image.resize does an 8-bit
 * RGB image (Resample.c, Pillow <= 12), which AnomalyCLIP's transform runs:
 * weights rounded to 22-bit integers, int32 sums, each pass rounded and
 * clamped to 0..255, the horizontal pass first. That is integer arithmetic,
 * so the model input is PIL's bit for bit (the float filter differs from it
 * by up to one 8-bit step a pass: 0.07 after normalisation).
 *
 * Two dispatches: frame rows -> S columns (into a scratch buffer), then
 * columns -> S rows with the normalisation. The filter tables depend only on
 * the frame size, S and the interpolation: they are built at creation. */
#ifndef TC_PREPROCESS_H
#define TC_PREPROCESS_H

#include "image/tc_frame.h"

#ifdef __cplusplus
extern "C" {
#endif

/* tc_resample_filter is public (tokenclip/tokenclip.h). */

/* "bicubic", "bilinear", "bicubic-pil"; NULL for anything else. */
const char *tc_resample_filter_name(tc_resample_filter filter);
/* Parses a name above; returns -1 when unknown. */
int tc_resample_filter_from_name(const char *name);

/* CLIP's image normalisation (OpenAI, also used by AnomalyCLIP). */
#define TC_CLIP_MEAN_R 0.48145466f
#define TC_CLIP_MEAN_G 0.4578275f
#define TC_CLIP_MEAN_B 0.40821073f
#define TC_CLIP_STD_R 0.26862954f
#define TC_CLIP_STD_G 0.26130258f
#define TC_CLIP_STD_B 0.27577711f

typedef struct tc_preprocess tc_preprocess;

/* Prepares preprocessing of frames shaped like `frame` to size x size. */
tc_status tc_preprocess_create(tc_context *ctx, const tc_frame *frame, uint32_t size, tc_resample_filter filter,
                               tc_preprocess **out, tc_error *err);
void tc_preprocess_destroy(tc_preprocess *pp);

/* Bytes of the output: 3 * size * size floats. */
size_t tc_preprocess_output_bytes(const tc_preprocess *pp);

/* Records the two dispatches: frame_buf (a frame as given at creation) ->
 * out (at least tc_preprocess_output_bytes). */
tc_status tc_preprocess_record(tc_preprocess *pp, tc_cmd *cmd, tc_buffer *frame_buf, tc_buffer *out,
                               tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
