/* The CLIP ViT image encoder on the Vulkan core.
 *
 * Created once from a loaded model (weights uploaded, positional embedding
 * resized to the input size, buffers allocated); then tc_encoder_record
 * appends the whole graph to a command sequence, so a frame is one
 * submission (preprocess -> encoder -> head). The graph, per DESIGN.md:
 *
 *   patchify + matmul (conv patch embedding) -> embed_tokens (class, pos)
 *   -> ln_pre -> L x [ ln_1 -> qkv -> attention -> out_proj (+x)
 *                      (-> V-V attention -> out_proj (+y) from vv_start on)
 *                      -> ln_2 -> c_fc + act -> c_proj (+x) ]
 *   -> ln_post -> proj
 *
 * Output: [1 + N, embed]: row 0 the global token ln_post(x[CLS]) @ proj,
 * rows 1..N the patch tokens in raster order, from the ordinary stream or,
 * with vv_start > 0, the value-value stream. */
#ifndef TC_ENCODER_H
#define TC_ENCODER_H

#include "tc_clip_vision.h"
#include "tc_vk.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tc_encoder_options {
  uint32_t input_size;        /* S: a multiple of the patch size; 0 = the pre-training size */
  uint32_t vv_start;          /* first layer (from 1) of the value-value stream; 0 = off */
  tc_interp pos_interp;       /* positional-embedding resize when S differs: default bicubic */
  tc_weight_precision weights;
} tc_encoder_options;

void tc_encoder_options_init(tc_encoder_options *opts);

/* Checks opts against the model's configuration; the message names the option. */
tc_status tc_encoder_options_check(const tc_encoder_options *opts, const tc_clip_vision_config *cfg,
                                   tc_error *err);

typedef struct tc_encoder tc_encoder;

tc_status tc_encoder_create(tc_context *ctx, const tc_clip_vision *model, const tc_encoder_options *opts,
                            tc_encoder **out, tc_error *err);
void tc_encoder_destroy(tc_encoder *enc);

uint32_t tc_encoder_input_size(const tc_encoder *enc); /* S */
uint32_t tc_encoder_grid(const tc_encoder *enc);       /* patches per side: N = grid^2 */
uint32_t tc_encoder_embed_dim(const tc_encoder *enc);  /* D of the output tokens */

/* [3, S, S] fp32, CLIP-normalised: written by the preprocess kernel or uploaded. */
tc_buffer *tc_encoder_input(tc_encoder *enc);
/* [1 + N, D] fp32 tokens, valid after a submission of the recording. */
tc_buffer *tc_encoder_output(tc_encoder *enc);

/* Appends the graph to cmd (between tc_cmd_begin and tc_cmd_end). */
tc_status tc_encoder_record(tc_encoder *enc, tc_cmd *cmd, tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
