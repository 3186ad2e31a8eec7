/* The detector (public API in tokenclip/tokenclip.h): the per-frame pipeline
 *
 *   frame -> preprocess -> ViT encoder -> TokenCLIP head -> token scores
 *         -> map (upsample, blur) -> [colormap + alpha blend into the frame]
 *         -> image score, regions
 *
 * as one recorded command sequence per frame slot (recorded when the layout
 * or the parameters change, never per frame), on one Vulkan context. Single
 * threaded: the runner (tc_runner.h) serialises its use.
 *
 * What follows is for the runner: frames written into one of two slots (the
 * async runner fills one while the other is analysed), analysed from there. */
#ifndef TC_DETECTOR_H
#define TC_DETECTOR_H

#include "tokenclip/tokenclip.h"
#include "image/tc_frame.h"
#include "tc_vk.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TC_DETECTOR_SLOTS 2

/* The values a change to `user` would put in effect, checked (ranges, topk
 * against Q, load-time fields unchanged). Reads only what creation fixed, so
 * any thread may call it while another analyses. */
tc_status tc_detector_merge_params(const tc_detector *det, const tc_params *user, tc_params *effective,
                                   tc_error *err);

/* The `device` option the detector was created with (NULL: the default), for
 * a second context on the same device. */
const char *tc_detector_device_option(const tc_detector *det);

/* The frame layout of tc_detector_set_frame, NULL before it. */
const tc_frame *tc_detector_frame(const tc_detector *det);

/* Slot i's frame (0 <= i < TC_DETECTOR_SLOTS): write a frame into its host
 * memory (tc_frame_slot_write), then analyse it. Valid until the layout
 * changes. */
tc_frame_slot *tc_detector_slot(tc_detector *det, int slot);

/* Analyses the frame in a slot, without blending (tc_detector_analyse uses
 * slot 0, with the blend when asked). */
tc_status tc_detector_analyse_slot(tc_detector *det, int slot, tc_analysis *out, tc_error *err);

/* The map's parameters for frames of this layout under params p (the blur
 * in model-input pixels scaled to the frame; tc_params_to_map). */
struct tc_map_params;
void tc_detector_map_params(const tc_detector *det, const tc_params *p, const tc_frame *frame,
                            struct tc_map_params *out);

/* The number of feature layers, and after an analysis one layer's token
 * scores (layer from 0, in the order of feature_layers; grid^2 floats). */
uint32_t tc_detector_layers(const tc_detector *det);
tc_status tc_detector_read_layer_scores(tc_detector *det, uint32_t layer, float *dst, tc_error *err);

/* The encoder's weights and activations for precision p on ctx's device:
 * auto is fp16 on a GPU, fp32 arithmetic on a CPU device (weights as stored);
 * fp32 all fp32; fp16 activations only on the gpu kernel family. Tools that build an encoder themselves use it too. */
struct tc_encoder_options;
void tc_precision_to_encoder(const tc_context *ctx, tc_precision p, struct tc_encoder_options *eo);

#ifdef __cplusplus
}
#endif

#endif
