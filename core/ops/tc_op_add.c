#include "tc_ops.h"

tc_status tc_op_add(tc_cmd *cmd, tc_buffer *a, tc_buffer *b, tc_buffer *y, uint32_t n, tc_error *err)
{
  const uint32_t wg = 64;
  tc_kernel_desc d = {
    .shader = "add",
    .n_bindings = 3,
    .bindings = { TC_BIND_STORAGE, TC_BIND_STORAGE, TC_BIND_STORAGE },
    .push_size = sizeof(uint32_t),
    .n_spec = 1,
    .spec = { wg },
  };
  tc_kernel *k;
  tc_status st = tc_kernel_get(tc_cmd_context(cmd), &d, &k, err);
  if (st != TC_OK)
    return st;
  tc_buffer *bufs[] = { a, b, y };
  return tc_cmd_dispatch(cmd, k, bufs, &n, tc_div_up(n, wg), 1, 1, "add", err);
}
