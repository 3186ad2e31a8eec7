/* Plain-C reference of the whole CLIP ViT encoder (tc_encoder), built from
 * the tc_ref_* kernels' references, for tests and tools. Slow by design. */
#ifndef TC_REF_ENCODER_H
#define TC_REF_ENCODER_H

#include "tc_encoder.h"

#ifdef __cplusplus
extern "C" {
#endif

/* input [3, S, S] -> tokens [n, 1 + N, embed], n feature layers (see
 * tc_encoder.h). Uses the
 * weights the device would: fp16-rounded matrices where opts asks for them. */
tc_status tc_ref_encoder_run(const tc_clip_vision *model, const tc_encoder_options *opts, const float *input,
                             float *tokens, tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
