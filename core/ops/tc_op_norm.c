/* Row-wise normalisations: layer norm and softmax. CPU family: one subgroup
 * per row reading vec4 texels, subgroup reductions; GPU family, and rows the
 * CPU kernels do not take (layer norm of a width not a multiple of 4, very
 * long rows): one workgroup per row with shared-memory reductions, correct on
 * any device. */
#include "tc_ops.h"

#include "abi/norm.h"

/* One workgroup per row: a subgroup on lavapipe (8 lanes). With smaller
 * subgroups the shaders give each subgroup a row and the extra ones idle. */
#define CPU_GROUP 8
#define GPU_GROUP 256    /* power of two: wg_reduce.glsl */
#define MAX_GROUPS 65535 /* the GPU kernels stride rows over the grid */
/* The CPU kernels loop 3 times over a row's vec4s, shared by the lanes;
 * llvmpipe silently ends loops after 65535 iterations per invocation, all
 * loops together (LP_MAX_TGSI_LOOP_ITERATIONS), so rows are kept well below
 * that and longer ones go to the workgroup-per-row kernels, as do more rows
 * than the 65535 workgroups a dispatch may have. */
#define CPU_MAX_COLS 65536

static tc_status check_rows(const char *what, tc_buffer *x, tc_buffer *y, tc_dtype y_dtype, uint32_t rows,
                            uint32_t cols, tc_error *err)
{
  if (rows == 0 || cols == 0)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: empty shape %ux%u", what, rows, cols);
  uint64_t bytes = (uint64_t)rows * cols * sizeof(float);
  if (bytes > UINT32_MAX)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: %ux%u has more elements than 32-bit indices reach", what,
                        rows, cols);
  if (!x || !y || tc_buffer_size(x) < bytes || tc_buffer_size(y) < (uint64_t)rows * cols * tc_dtype_size(y_dtype))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: x or y is missing or smaller than %ux%u %s", what,
                        rows, cols, y_dtype == TC_F16 ? "elements (x fp32, y fp16)" : "floats");
  return TC_OK;
}

/* "<base>_cpu" (vec4 texel loads of all but the last binding, the output:
 * LAYERNORM_BIND_Y, SOFTMAX_BIND_Y)
 * on CPU devices for rows it takes (any_width: rows need not be whole
 * texels), "<base>_gpu" (storage buffers) otherwise. */
static tc_status get_row_kernel(tc_cmd *cmd, const char *cpu, const char *gpu, uint32_t n_bindings,
                                uint32_t push_size, uint32_t rows, uint32_t cols, int any_width, int y_f16,
                                tc_kernel **k, uint32_t *groups, tc_error *err)
{
  int use_cpu = tc_context_family(tc_cmd_context(cmd)) == TC_FAMILY_CPU && (any_width || cols % 4 == 0) &&
                cols <= CPU_MAX_COLS && rows <= MAX_GROUPS && !y_f16;
  tc_kernel_desc d = {
    .shader = use_cpu ? cpu : gpu,
    .n_bindings = n_bindings,
    .push_size = push_size,
    .n_spec = use_cpu || !y_f16 ? 1 : 2, /* layernorm_gpu's Y_F16, when on */
    .spec = { [TC_SPEC_WORKGROUP] = use_cpu ? CPU_GROUP : GPU_GROUP, [LAYERNORM_SPEC_Y_F16] = 1 },
  };
  for (uint32_t i = 0; i + 1 < n_bindings; i++)
    d.bindings[i] = use_cpu ? TC_BIND_TEXEL_F32 : TC_BIND_STORAGE;
  d.bindings[n_bindings - 1] = TC_BIND_STORAGE;
  *groups = use_cpu ? rows : rows < MAX_GROUPS ? rows : MAX_GROUPS;
  return tc_kernel_get(tc_cmd_context(cmd), &d, k, err);
}

tc_status tc_op_layernorm(tc_cmd *cmd, tc_buffer *x, tc_buffer *gamma, tc_buffer *beta, tc_buffer *y,
                          uint32_t rows, uint32_t cols, float eps, const char *label, tc_error *err)
{
  return tc_op_layernorm_to(cmd, x, gamma, beta, y, TC_F32, rows, cols, eps, label, err);
}

tc_status tc_op_layernorm_to(tc_cmd *cmd, tc_buffer *x, tc_buffer *gamma, tc_buffer *beta, tc_buffer *y,
                             tc_dtype y_dtype, uint32_t rows, uint32_t cols, float eps, const char *label,
                             tc_error *err)
{
  if (y_dtype != TC_F32 && y_dtype != TC_F16)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "layernorm: y dtype %d is neither fp32 nor fp16", (int)y_dtype);
  const int y_f16 = y_dtype == TC_F16;
  if (y_f16 && tc_context_family(tc_cmd_context(cmd)) != TC_FAMILY_GPU)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "layernorm: fp16 y is written by the gpu kernels only (this "
                        "context runs the cpu kernels)");
  if (y_f16 && (cols % 2 || y == x))
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "layernorm: fp16 y needs an even width (written in pairs; %u) "
                        "and a buffer of its own", cols);
  tc_status st = check_rows("layernorm", x, y, y_dtype, rows, cols, err);
  if (st != TC_OK)
    return st;
  if (!gamma || !beta || tc_buffer_size(gamma) < cols * sizeof(float) ||
      tc_buffer_size(beta) < cols * sizeof(float))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "layernorm: gamma or beta is missing or shorter than %u floats",
                        cols);
  if (!(eps >= 0))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "layernorm: eps %g is negative or NaN", eps);
  tc_layernorm_push push = { .rows = rows, .cols = cols, .eps = eps };
  tc_kernel *k;
  uint32_t groups;
  /* layernorm_cpu takes rows of whole texels only (so gamma and beta line up
   * with x): CLIP widths are multiples of 64 */
  st = get_row_kernel(cmd, "layernorm_cpu", "layernorm_gpu", LAYERNORM_BINDINGS, sizeof push, rows, cols, 0, y_f16,
                      &k, &groups, err);
  if (st != TC_OK)
    return st;
  tc_buffer *bufs[LAYERNORM_BINDINGS] = { [LAYERNORM_BIND_X] = x, [LAYERNORM_BIND_GAMMA] = gamma,
                                          [LAYERNORM_BIND_BETA] = beta, [LAYERNORM_BIND_Y] = y };
  return tc_cmd_dispatch(cmd, k, bufs, &push, groups, 1, 1, label ? label : "layernorm", err);
}

tc_status tc_op_softmax(tc_cmd *cmd, tc_buffer *x, tc_buffer *y, uint32_t rows, uint32_t cols, float scale,
                        const char *label, tc_error *err)
{
  tc_status st = check_rows("softmax", x, y, TC_F32, rows, cols, err);
  if (st != TC_OK)
    return st;
  if (!isfinite(scale))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "softmax: scale %g is not finite", scale);
  tc_softmax_push push = { .rows = rows, .cols = cols, .scale = scale };
  tc_kernel *k;
  uint32_t groups;
  st = get_row_kernel(cmd, "softmax_cpu", "softmax_gpu", SOFTMAX_BINDINGS, sizeof push, rows, cols, 1, 0, &k, &groups,
                      err);
  if (st != TC_OK)
    return st;
  tc_buffer *bufs[SOFTMAX_BINDINGS] = { [SOFTMAX_BIND_X] = x, [SOFTMAX_BIND_Y] = y };
  return tc_cmd_dispatch(cmd, k, bufs, &push, groups, 1, 1, label ? label : "softmax", err);
}
