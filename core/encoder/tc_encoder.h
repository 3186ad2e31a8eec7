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
 *                      -> ln_2 -> c_fc + act -> c_proj (+x)
 *                      (-> ln_post -> proj of the patch tokens, after a
 *                          feature layer) ]
 *   -> the global token: [ln_post] -> proj of x_L[CLS]
 *
 * Output: [n, 1 + N, embed], one block per feature layer (n of them, in
 * increasing order): row 0 of every block the global token, rows 1..N that
 * layer's patch tokens in raster order, ln_post(stream after layer l) @ proj
 * with the stream the value-value one when vv_start > 0 and l >= vv_start,
 * else the ordinary one. The head runs on each block (a row offset).
 * With max_batch B > 1 the buffers hold B frames (input [B, 3, S, S],
 * output [B, n, 1 + N, embed]) and tc_encoder_record_batch takes 1..B. */
#ifndef TC_ENCODER_H
#define TC_ENCODER_H

#include "tc_clip_vision.h"
#include "tc_vk.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tc_encoder_options {
  uint32_t input_size;        /* S: a multiple of the patch size; 0 = the pre-training size */
  uint32_t vv_start;          /* first layer (from 1) of the value-value stream; 0 = off (default) */
  tc_interp pos_interp;       /* positional-embedding resize when S differs: default bicubic */
  /* layers (from 1), increasing, whose patch tokens are output; then zeros. All 0: the last (default) */
  uint32_t feature_layers[TC_MAX_FEATURE_LAYERS];
  int global_ln_post;         /* 1 (default): global token ln_post(x_L[CLS]) @ proj; 0: x_L[CLS] @ proj */
  tc_weight_precision weights;
  /* TC_F16: the blocks' activations (layer-norm outputs, q/k/v, attention,
   * MLP hidden) as fp16, sums fp32, the residual streams fp32; gpu kernel
   * family only. Default TC_F32. */
  tc_dtype activations;
  uint32_t max_batch;         /* frames one recording may take (buffers sized for them); 0 = 1 */
} tc_encoder_options;

/* The most frames one encoder takes in one recording. */
#define TC_ENCODER_MAX_BATCH 64u

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
/* n, the output's blocks; with layers != NULL also the feature layers (from 1) into layers[n]. */
uint32_t tc_encoder_feature_layers(const tc_encoder *enc, uint32_t *layers);

uint32_t tc_encoder_max_batch(const tc_encoder *enc);

/* [B, 3, S, S] fp32, CLIP-normalised, frame b at b * 3 S S floats: written
 * by the preprocess kernel or uploaded (B = max_batch). */
tc_buffer *tc_encoder_input(tc_encoder *enc);
/* [B, n, 1 + N, D] fp32 tokens (n feature layers), frame b at
 * b * n (1 + N) D floats, valid after a submission of the recording. */
tc_buffer *tc_encoder_output(tc_encoder *enc);

/* Appends the graph for frame 0 to cmd (between tc_cmd_begin and tc_cmd_end). */
tc_status tc_encoder_record(tc_encoder *enc, tc_cmd *cmd, tc_error *err);
/* Appends the graph for frames 0..batch-1 in one recording: the row-wise
 * stages (layer norms, matmuls) run over all frames' rows in one dispatch,
 * attention within each frame. Each frame's tokens equal a batch-1 run's
 * (tests/test_encoder_batch.c). batch outside 1..max_batch is refused. */
tc_status tc_encoder_record_batch(tc_encoder *enc, tc_cmd *cmd, uint32_t batch, tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
