/* Plain-C reference of the CLIP text encoder (tc_text_encoder), built from
 * the tc_ref_* kernels' references, for tests and tools. Slow by design:
 * every prompt runs over its whole context (the Vulkan encoder stops at the
 * end-of-text token; the causal mask makes the two equal). */
#ifndef TC_REF_TEXT_H
#define TC_REF_TEXT_H

#include "tc_clip_text.h"
#include "tc_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ids [n, context] -> out [n, embed], with the weights the device would use
 * (fp16-rounded matrices where `weights` asks for them). */
tc_status tc_ref_text_encoder_run(const tc_clip_text *model, tc_weight_precision weights, const int32_t *ids,
                                  uint32_t n, uint32_t context, float *out, tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
