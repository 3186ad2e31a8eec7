/* The CLIP text transformer on the Vulkan core.
 *
 * It runs once when prompts are set (the element's start, a change of
 * object or templates), never per frame, so it favours simplicity: token
 * and positional embeddings are gathered on the host straight from the
 * mapped weights (the [vocab, width] table never goes to the device), and
 * the graph is recorded per batch of prompts. Per DESIGN.md and CLIP:
 *
 *   x = token_embedding[ids] + positional_embedding[:T]
 *   L x [ x += out_proj(causal multi-head attention(ln_1(x)))
 *         x += c_proj(act(c_fc(ln_2(x)))) ]
 *   pooled = ln_final(x[argmax(ids)])   (the end-of-text token: CLIP's largest id)
 *   out = pooled @ text_projection      [embed], not normalised
 *
 * With the causal mask a row depends only on the rows before it, so each
 * batch runs T = (largest end-of-text position in the batch) + 1 rows per
 * prompt instead of the whole context: the same result, a fraction of the
 * work. Prompts are batched in order of length, so little is padded.
 * (tests/ref's tc_ref_text_encoder_run runs the whole context; the tests
 * compare the two.) */
#ifndef TC_TEXT_ENCODER_H
#define TC_TEXT_ENCODER_H

#include "tc_clip_text.h"
#include "tc_common.h"
#include "tc_vk.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tc_text_encoder_options {
  tc_weight_precision weights; /* as tc_encoder_options.weights */
  uint32_t max_batch;          /* prompts per submission; 0 = 64 */
} tc_text_encoder_options;

void tc_text_encoder_options_init(tc_text_encoder_options *opts);

typedef struct tc_text_encoder tc_text_encoder;

/* Uploads the block weights, ln_final and the projection (opts may be NULL).
 * model must stay open while the encoder is used: the token embeddings are
 * read from its mapping at each run. */
tc_status tc_text_encoder_create(tc_context *ctx, const tc_clip_text *model, const tc_text_encoder_options *opts,
                                 tc_text_encoder **out, tc_error *err);
void tc_text_encoder_destroy(tc_text_encoder *te);

uint32_t tc_text_encoder_embed_dim(const tc_text_encoder *te);

/* ids: n rows of `context` token ids (tc_tokenizer_tokenize's output; context
 * at most the model's); out: [n, embed] fp32, one embedding per row. */
tc_status tc_text_encoder_run(tc_text_encoder *te, const int32_t *ids, uint32_t n, uint32_t context, float *out,
                              tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
