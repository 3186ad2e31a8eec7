/* Operations: each records one kernel dispatch (the variant for the
 * context's kernel family) into a command sequence. Shapes are explicit;
 * buffers hold row-major fp32 unless a dtype says otherwise. Every op has a
 * plain-C twin in core/ref/tc_ref.h that the tests compare it with. */
#ifndef TC_OPS_H
#define TC_OPS_H

#include "tc_vk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y[i] = a[i] + b[i] for i < n. y may be a (in-place residual add). */
tc_status tc_op_add(tc_cmd *cmd, tc_buffer *a, tc_buffer *b, tc_buffer *y, uint32_t n, tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
