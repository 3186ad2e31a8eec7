#include "tc_ops.h"

#include "abi/elementwise.h"

tc_status tc_op_add(tc_cmd *cmd, tc_buffer *a, tc_buffer *b, tc_buffer *y, uint32_t n, tc_error *err)
{
  const uint32_t wg = 64;
  tc_kernel_desc d = {
    .shader = "add",
    .n_bindings = ADD_BINDINGS,
    .bindings = { [ADD_BIND_A] = TC_BIND_STORAGE, [ADD_BIND_B] = TC_BIND_STORAGE, [ADD_BIND_Y] = TC_BIND_STORAGE },
    .push_size = sizeof(tc_elementwise_push),
    .n_spec = 1,
    .spec = { [TC_SPEC_WORKGROUP] = wg },
  };
  tc_kernel *k;
  tc_status st = tc_kernel_get(tc_cmd_context(cmd), &d, &k, err);
  if (st != TC_OK)
    return st;
  tc_elementwise_push push = { .n = n };
  tc_buffer *bufs[ADD_BINDINGS] = { [ADD_BIND_A] = a, [ADD_BIND_B] = b, [ADD_BIND_Y] = y };
  return tc_cmd_dispatch(cmd, k, bufs, &push, tc_div_up(n, wg), 1, 1, "add", err);
}
