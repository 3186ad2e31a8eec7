/* tc_op_matmul: picks the kernel variant for the context's family and
 * records one dispatch.
 *
 *   cpu, K % 4 == 0   matmul_cpu     storage-texel-buffer loads, 32x4 register
 *                    (_f16: w fp16)  tile, rows of x shared by the subgroup
 *                                    (fewer rows when that covers M as well)
 *   cpu, other K      matmul_scalar  storage buffers, 8x8 register tile
 *   gpu               matmul_shared  shared-memory tiles
 *   gpu + coopmat     matmul_coopmat_nv  shared-memory tiles in fp16 through
 *                                    NVIDIA cooperative matrices, fp32 sums
 *                                    (opt-in: tc_context_has_coopmat;
 *                                    matmul_coopmat_emu when emulated;
 *                                    matmul_coopmat_splitk_* for split_k)
 * The gpu variants also take fp16 x and y (x_dtype, y_dtype). */
#include <stdbool.h>
#include <string.h>

#include "tc_ops.h"

#include "abi/matmul.h"

/* Bindings and specialisation constants: shaders/abi/matmul.h. The tile
 * constants start at MATMUL_SPEC_TILE; X_F16 and Y_F16 of the gpu variants
 * sit at fixed ids after every variant's tile constants. */
typedef struct matmul_variant {
  const char *shader;
  uint32_t wg;        /* invocations per workgroup (1-D) */
  uint32_t tile[4];   /* spec constants from id MATMUL_SPEC_TILE on */
  uint32_t n_tile;
  uint32_t rows, cols; /* rows of y (M) and columns (N) one workgroup covers */
  int cpu;            /* matmul_cpu: x, w, residual through storage texel buffers */
} matmul_variant;

/* CPU variants: each invocation owns TM x TN outputs, a workgroup is a row of
 * wg invocations along N whose subgroups share the TM rows of x. Measured on
 * lavapipe (tools/bench/README.md): 32x4 is as fast as 32x8, 32x16 and 16x8
 * and compiles in half the time of 32x8; TM > 32 is not unrolled (20x
 * slower). A workgroup covers 256 columns: N = 768 is three groups, so both
 * worker threads have work at M = 197. wg is raised to the subgroup size
 * where that is larger. */
static const matmul_variant cpu_variant = {
  .shader = "matmul_cpu", .wg = 64, .tile = { 32, 4 }, .n_tile = 2, .rows = 32, .cols = 64 * 4, .cpu = 1,
};
static const matmul_variant scalar_variant = {
  .shader = "matmul_scalar", .wg = 64, .tile = { 8, 8 }, .n_tile = 2, .rows = 8, .cols = 64 * 8,
};
/* GPU: a 64x64 block of y per workgroup of 256, K in steps of 16 through
 * shared memory, 4x4 outputs per invocation. */
static const matmul_variant shared_variant = {
  .shader = "matmul_shared", .wg = 256, .tile = { 64, 64, 16 }, .n_tile = 3, .rows = 64, .cols = 64,
};

/* GPU with cooperative matrices: a 64x64 block of y per workgroup of 4
 * subgroups (wg counts subgroups here; K in steps of 32). The tile sizes
 * are fixed in the shader; its one constant after the shared ones says
 * K % 4 == 0 (vector loads). The shader named here is NVIDIA's; emulated
 * cooperative matrices (tests) take matmul_coopmat_emu, the same source. */
static const matmul_variant coopmat_variant = {
  .shader = "matmul_coopmat_nv", .wg = 4, .n_tile = 0, .rows = 64, .cols = 64,
};

/* Rows of y per workgroup. The CPU tile keeps as few row blocks as TM = 32
 * needs but makes each only as tall as M requires: M = 197 (ViT-B/16 at
 * 224) runs 7 blocks of 29 rows, 203 rows computed instead of 224 (9% less
 * work), M = 577 (ViT-L/14 at 336) 19 of 31, M = 77 (text) 3 of 26. Each
 * height is its own pipeline, so a model adds one or two. */
static uint32_t block_rows(const matmul_variant *v, uint32_t M)
{
  if (v != &cpu_variant)
    return v->rows;
  return tc_div_up(M, tc_div_up(M, v->rows));
}

static const matmul_variant *pick_variant(const tc_context *ctx, const tc_matmul *mm)
{
  if (tc_context_has_coopmat(ctx))
    return &coopmat_variant;
  if (tc_context_family(ctx) == TC_FAMILY_GPU)
    return &shared_variant;
  return mm->K % 4 != 0 ? &scalar_variant : &cpu_variant;
}

/* Parts of K the cooperative-matrix kernel sums separately for mm (see
 * tc_matmul.split_k): 1 where the request cannot be taken. */
static uint32_t split_parts(const tc_context *ctx, const tc_matmul *mm)
{
  bool can = mm->split_k > 1 && mm->residual == mm->y && mm->act == TC_ACT_NONE && mm->y_dtype == TC_F32 &&
             tc_context_has_float_atomic_add(ctx);
  return can ? mm->split_k : 1;
}

/* Panels of 16 rows (matmul_cpu.glsl's W_PANELS). */
enum { PANEL_ROWS = 16 };

int tc_matmul_panels_wanted(const tc_context *ctx, uint32_t K)
{
  return tc_context_family(ctx) == TC_FAMILY_CPU && K % 4 == 0; /* matmul_cpu */
}

size_t tc_matmul_panels_bytes(uint32_t N, uint32_t K, tc_dtype dtype)
{
  return (size_t)tc_div_up(N, PANEL_ROWS) * PANEL_ROWS * K * tc_dtype_size(dtype);
}

void tc_matmul_pack_panels(const void *w, void *dst, uint32_t N, uint32_t K, tc_dtype dtype)
{
  const size_t es = tc_dtype_size(dtype), k4 = K / 4, rows = (size_t)tc_div_up(N, PANEL_ROWS) * PANEL_ROWS;
  const unsigned char *src = w;
  unsigned char *out = dst;
  for (size_t n = 0; n < rows; n++)
    for (size_t k = 0; k < k4; k++) {
      unsigned char *texel = out + (((n / PANEL_ROWS) * k4 + k) * PANEL_ROWS + n % PANEL_ROWS) * 4 * es;
      if (n < N)
        memcpy(texel, src + (n * K + 4 * k) * es, 4 * es);
      else
        memset(texel, 0, 4 * es);
    }
}

static tc_status check_size(const char *label, const char *what, tc_buffer *b, uint64_t need, tc_error *err)
{
  if (tc_buffer_size(b) < need)
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: %s holds %zu bytes, the shape needs %llu", label, what,
                        tc_buffer_size(b), (unsigned long long)need);
  return TC_OK;
}

static tc_status check_args(const tc_matmul *mm, const char *label, tc_error *err)
{
  if (!mm->x || !mm->w || !mm->y)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: x, w and y are required", label);
  if (mm->M == 0 || mm->N == 0 || mm->K == 0)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: empty shape %ux%ux%u (M x N x K)", label, mm->M, mm->N,
                        mm->K);
  if (mm->w_dtype != TC_F32 && mm->w_dtype != TC_F16)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: weight dtype %d is neither fp32 nor fp16", label,
                        (int)mm->w_dtype);
  if ((mm->x_dtype != TC_F32 && mm->x_dtype != TC_F16) || (mm->y_dtype != TC_F32 && mm->y_dtype != TC_F16))
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: x dtype %d or y dtype %d is neither fp32 nor fp16", label,
                        (int)mm->x_dtype, (int)mm->y_dtype);
  if (mm->y_dtype == TC_F16 && mm->residual)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: fp16 y takes no residual (the residual stream stays fp32)",
                        label);
  if (mm->y_dtype == TC_F16 && mm->N % 2)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: fp16 y needs N even (written in pairs), N = %u", label, mm->N);
  if ((unsigned)mm->act > TC_ACT_GELU)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: unknown activation %d", label, (int)mm->act);
  if (mm->y == mm->x || mm->y == mm->w || mm->y == mm->bias)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: y may alias only the residual", label);
  uint64_t M = mm->M, N = mm->N, K = mm->K;
  tc_status st = check_size(label, "x", mm->x, M * K * tc_dtype_size(mm->x_dtype), err);
  if (st == TC_OK)
    st = mm->w_panels ? check_size(label, "w (panels)", mm->w, tc_matmul_panels_bytes(mm->N, mm->K, mm->w_dtype), err)
                      : check_size(label, "w", mm->w, N * K * tc_dtype_size(mm->w_dtype), err);
  if (st == TC_OK && mm->bias)
    st = check_size(label, "bias", mm->bias, N * 4, err);
  if (st == TC_OK && mm->residual)
    st = check_size(label, "residual", mm->residual, M * N * 4, err);
  if (st == TC_OK)
    st = check_size(label, "y", mm->y, M * N * tc_dtype_size(mm->y_dtype), err);
  return st;
}

/* RESIDUAL in matmul_epilogue.glsl: none, a buffer of its own, y itself;
 * matmul_cpu's HAS_RESIDUAL: 0 or 1. */
static uint32_t residual_mode(const tc_matmul *mm, const matmul_variant *v)
{
  if (!mm->residual)
    return 0;
  return v->cpu || mm->residual != mm->y ? 1 : 2;
}

tc_status tc_op_matmul(tc_cmd *cmd, const tc_matmul *mm, const char *label, tc_error *err)
{
  if (!label)
    label = "matmul";
  tc_status st = check_args(mm, label, err);
  if (st != TC_OK)
    return st;
  const matmul_variant *v = pick_variant(tc_cmd_context(cmd), mm);
  const bool gpu = v == &shared_variant || v == &coopmat_variant;
  if (!gpu && (mm->x_dtype == TC_F16 || mm->y_dtype == TC_F16))
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: fp16 x or y is read and written by the gpu kernels only "
                        "(this context runs the cpu kernels)", label);
  if (mm->w_panels && !(v->cpu && tc_matmul_panels_wanted(tc_cmd_context(cmd), mm->K)))
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: w in panels is read only by the cpu kernels with K %% 4 == 0 "
                        "(K = %u, %s kernels)", label, mm->K,
                        tc_context_family(tc_cmd_context(cmd)) == TC_FAMILY_CPU ? "cpu" : "gpu");
  const bool coop = v == &coopmat_variant;
  const uint32_t sg = tc_context_subgroup_size(tc_cmd_context(cmd));
  const uint32_t wg = coop ? v->wg * sg : v->cpu && sg > v->wg ? sg : v->wg;
  tc_kernel_desc d = {
    .shader = coop && tc_context_has_coopmat(tc_cmd_context(cmd)) == 2 ? "matmul_coopmat_emu"
              : v->cpu && mm->w_dtype == TC_F16                          ? "matmul_cpu_f16"
                                                                          : v->shader,
    .n_bindings = MATMUL_BINDINGS, /* all storage buffers, but matmul_cpu's texels below */
    .push_size = sizeof(tc_matmul_push),
    .n_spec = MATMUL_SPEC_TILE + v->n_tile,
    .spec = { [TC_SPEC_WORKGROUP] = wg,
              [MATMUL_SPEC_ACT] = (uint32_t)mm->act,
              [MATMUL_SPEC_HAS_BIAS] = mm->bias != NULL,
              [MATMUL_SPEC_RESIDUAL] = residual_mode(mm, v),
              [MATMUL_SPEC_W_F16] = mm->w_dtype == TC_F16 },
  };
  for (uint32_t i = 0; i < v->n_tile; i++)
    d.spec[MATMUL_SPEC_TILE + i] = v->tile[i];
  const uint32_t rows = block_rows(v, mm->M);
  if (v->cpu) {
    d.bindings[MATMUL_BIND_X] = TC_BIND_IMAGE_F32;
    d.bindings[MATMUL_BIND_W] = mm->w_dtype == TC_F16 ? TC_BIND_IMAGE_F16 : TC_BIND_IMAGE_F32;
    d.bindings[MATMUL_BIND_RESIDUAL] = TC_BIND_IMAGE_R32F;
    d.spec[MATMUL_CPU_SPEC_HAS_RESIDUAL] = mm->residual != NULL;
    d.spec[MATMUL_CPU_SPEC_SG] = sg;
    d.spec[MATMUL_CPU_SPEC_TM] = rows;
    d.spec[MATMUL_CPU_SPEC_W_PANELS] = mm->w_panels != 0;
    d.n_spec = MATMUL_CPU_SPEC_W_PANELS + 1;
  }
  if (coop) {
    d.spec[MATMUL_COOP_SPEC_VEC4] = mm->K % 4 == 0; /* vector loads along K */
    d.n_spec = MATMUL_COOP_SPEC_VEC4 + 1;
  }
  /* split K: parts of whole steps of the kernel's BK = 32 (K_STEPS, id 6),
   * no more parts than steps */
  uint32_t parts = coop ? split_parts(tc_cmd_context(cmd), mm) : 1;
  if (parts > 1) {
    const uint32_t steps = tc_div_up(mm->K, 32), part_steps = tc_div_up(steps, parts);
    parts = tc_div_up(steps, part_steps);
    d.shader = tc_context_has_coopmat(tc_cmd_context(cmd)) == 2 ? "matmul_coopmat_splitk_emu"
                                                                : "matmul_coopmat_splitk_nv";
    d.spec[MATMUL_COOP_SPEC_K_STEPS] = part_steps;
    d.n_spec = MATMUL_COOP_SPEC_K_STEPS + 1;
  }
  if (gpu) { /* ids between the tile constants and X_F16 are unused: 0 */
    d.spec[MATMUL_SPEC_X_F16] = mm->x_dtype == TC_F16;
    d.spec[MATMUL_SPEC_Y_F16] = mm->y_dtype == TC_F16;
    d.n_spec = MATMUL_SPEC_Y_F16 + 1;
  }
  tc_kernel *k;
  st = tc_kernel_get(tc_cmd_context(cmd), &d, &k, err);
  if (st != TC_OK)
    return st;
  tc_buffer *bufs[MATMUL_BINDINGS] = {
    [MATMUL_BIND_X] = mm->x,
    [MATMUL_BIND_W] = mm->w,
    [MATMUL_BIND_BIAS] = mm->bias ? mm->bias : mm->y, /* placeholders, not read */
    [MATMUL_BIND_RESIDUAL] = mm->residual ? mm->residual : mm->y,
    [MATMUL_BIND_Y] = mm->y,
  };
  tc_matmul_push push = { .M = mm->M, .N = mm->N, .K = mm->K };
  const uint32_t cols = v->cpu ? wg * v->tile[1] : v->cols; /* (wg may have grown to the subgroup) */
  return tc_cmd_dispatch(cmd, k, bufs, &push, tc_div_up(mm->N, cols), tc_div_up(mm->M, rows), parts, label, err);
}
