/* Element-wise activation: memory-bound, one shader for both families. */
#include "tc_ops.h"

#include "abi/elementwise.h"

#define GROUP 64
#define MAX_GROUPS 4096 /* the shader strides over the grid */

tc_status tc_op_activation(tc_cmd *cmd, tc_buffer *x, tc_buffer *y, uint32_t n, tc_act act, const char *label,
                           tc_error *err)
{
  if (act != TC_ACT_NONE && act != TC_ACT_QUICK_GELU && act != TC_ACT_GELU)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "activation: unknown tc_act %d", (int)act);
  if (n == 0 || !x || !y || tc_buffer_size(x) / sizeof(float) < n || tc_buffer_size(y) / sizeof(float) < n)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "activation: x or y is missing or shorter than %u floats", n);
  tc_kernel_desc d = {
    .shader = "activation",
    .n_bindings = ACTIVATION_BINDINGS,
    .bindings = { [ACTIVATION_BIND_X] = TC_BIND_STORAGE, [ACTIVATION_BIND_Y] = TC_BIND_STORAGE },
    .push_size = sizeof(tc_elementwise_push),
    .n_spec = 2,
    .spec = { [TC_SPEC_WORKGROUP] = GROUP, [ACTIVATION_SPEC_ACT] = (uint32_t)act },
  };
  tc_kernel *k;
  tc_status st = tc_kernel_get(tc_cmd_context(cmd), &d, &k, err);
  if (st != TC_OK)
    return st;
  uint32_t groups = tc_div_up(n, GROUP);
  tc_elementwise_push push = { .n = n };
  tc_buffer *bufs[ACTIVATION_BINDINGS] = { [ACTIVATION_BIND_X] = x, [ACTIVATION_BIND_Y] = y };
  return tc_cmd_dispatch(cmd, k, bufs, &push, groups < MAX_GROUPS ? groups : MAX_GROUPS, 1, 1,
                         label ? label : "activation", err);
}
