/* Multi-head attention, flash style in both families: no score matrix is
 * stored, so memory stays O(tokens * width) at any token count.
 * CPU family: R query rows per invocation in registers, keys in blocks,
 * q/k/v read as RGBA32F texels; with 16 or more lanes a subgroup shares each
 * block's keys through shuffles (attention_cpu_shuffle), with fewer every
 * lane reads them (attention_cpu). GPU family: one query row per
 * invocation, key/value tiles in shared memory; with cooperative matrices
 * on, head_dim 64 and no causal mask, both products on them
 * (attention_coopmat_nv, or attention_coopmat_emu when emulated). The gpu
 * kernels also take fp16 q/k/v and out. */
#include "tc_ops.h"

#include "abi/attention.h"

#define MAX_HEAD_DIM 128 /* GPU registers (two rows of head_dim) and shared memory */

/* CPU family: see shaders/attention_cpu.comp. */
#define CPU_GROUP 32
#define CPU_KEYS 8
/* Query rows per invocation: about 512 floats of query and as many of
 * accumulator per invocation. Measured on lavapipe (ViT shapes, head_dim 64):
 * 4 rows 27 GFLOP/s, 8 rows 42, 16 rows 36; keys per block 8 or 16 differ by
 * ~3%, but 16 doubles the cold compile (3.5 s -> 6.3 s). */
static uint32_t cpu_rows(uint32_t head_dim) { return head_dim <= 64 ? 8 : 4; }
/* attention_cpu_shuffle: a subgroup of SG lanes on one head, blocks of SG
 * keys, R rows per lane. Measured with 16 lanes (CPU time against
 * attention_cpu): 577 tokens 1.2x, 1370 tokens 1.35x faster, 197 the same
 * (4 rows; 2 and 8 are slower); with 8 lanes it is 0.8-0.9x, hence the
 * choice by subgroup size. */
#define SHUFFLE_MIN_LANES 16
static uint32_t shuffle_rows(uint32_t head_dim) { return head_dim <= 64 ? 4 : 2; }
/* GPU family: see shaders/attention_gpu.comp; tiles of at most 32 keys and
 * GPU_TILE_FLOATS per matrix (k and v tiles: 16 KiB of shared memory). */
#define GPU_GROUP 64
#define GPU_TILE_FLOATS 2048
/* Cooperative matrices (shaders/attention_coopmat.glsl): subgroups per
 * workgroup and query rows each, per build; NVIDIA's is built for subgroups
 * of 32 (its output registers), the emulation takes 8 or more. */
#define COOP_SUBGROUPS_NV 4
#define COOP_SUBGROUPS_EMU 2
#define COOP_ROWS 16
#define COOP_HEAD_DIM 64

static uint32_t frames(const tc_attention *at) { return at->batch ? at->batch : 1; }

static tc_status check_slice(const char *name, const tc_slice *s, const tc_attention *at, tc_error *err)
{
  uint32_t width = at->heads * at->head_dim;
  size_t es = tc_dtype_size(at->qkv_dtype);
  uint64_t rows = (uint64_t)at->tokens * frames(at);
  if (!s->buf)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "attention: %s has no buffer", name);
  if (s->offset % 4 || s->stride % 4)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "attention: %s offset %u and stride %u must be multiples of 4 "
                        "floats (vec4 loads)", name, s->offset, s->stride);
  if ((uint64_t)s->offset + width > s->stride)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "attention: %s columns %u..%u do not fit in a row of stride %u",
                        name, s->offset, s->offset + width, s->stride);
  uint64_t need = ((rows - 1) * s->stride + s->offset + width) * es;
  if (tc_buffer_size(s->buf) < need)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "attention: %s needs %llu bytes, its buffer has %zu", name,
                        (unsigned long long)need, tc_buffer_size(s->buf));
  if (s->buf == at->out)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "attention: out may not share a buffer with %s (other "
                        "invocations still read rows it writes)", name);
  return TC_OK;
}

static tc_status check_attention(const tc_attention *at, tc_error *err)
{
  if (at->tokens == 0 || at->heads == 0 || at->head_dim == 0)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "attention: empty shape (tokens %u, heads %u, head_dim %u)",
                        at->tokens, at->heads, at->head_dim);
  if (at->head_dim % 4 || at->head_dim > MAX_HEAD_DIM)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "attention: head_dim %u must be a multiple of 4 and at most %u",
                        at->head_dim, MAX_HEAD_DIM);
  if ((uint64_t)at->tokens * frames(at) * at->heads * at->head_dim * sizeof(float) > UINT32_MAX)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "attention: %u frames x %u tokens x %u heads x %u exceed 32-bit "
                        "indices", frames(at), at->tokens, at->heads, at->head_dim);
  if (!isfinite(at->scale))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "attention: scale %g is not finite", at->scale);
  if ((at->qkv_dtype != TC_F32 && at->qkv_dtype != TC_F16) || (at->out_dtype != TC_F32 && at->out_dtype != TC_F16))
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "attention: q/k/v dtype %d or out dtype %d is neither fp32 nor "
                        "fp16", (int)at->qkv_dtype, (int)at->out_dtype);
  if (!at->out || tc_buffer_size(at->out) < (size_t)at->tokens * frames(at) * at->heads * at->head_dim *
                                               tc_dtype_size(at->out_dtype))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "attention: out is missing or smaller than %ux%u %s",
                        at->tokens * frames(at), at->heads * at->head_dim, at->out_dtype == TC_F16 ? "halves" : "floats");
  tc_status st = check_slice("q", &at->q, at, err);
  if (st == TC_OK)
    st = check_slice("k", &at->k, at, err);
  if (st == TC_OK)
    st = check_slice("v", &at->v, at, err);
  return st;
}

tc_status tc_op_attention(tc_cmd *cmd, const tc_attention *at, const char *label, tc_error *err)
{
  tc_status st = check_attention(at, err);
  if (st != TC_OK)
    return st;
  tc_context *ctx = tc_cmd_context(cmd);
  int is_cpu = tc_context_family(ctx) == TC_FAMILY_CPU;
  if (is_cpu && (at->qkv_dtype == TC_F16 || at->out_dtype == TC_F16))
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: fp16 q/k/v or out is read and written by the gpu kernels "
                        "only (this context runs the cpu kernels)", label ? label : "attention");
  if (is_cpu && frames(at) > 1)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: a batch of %u frames is taken by the gpu kernels only (this "
                        "context runs the cpu kernels)", label ? label : "attention", frames(at));
  /* cooperative matrices: 1 NVIDIA's, 2 emulated, 0 not for this call */
  int coop = tc_context_has_coopmat(ctx);
  uint32_t sg = tc_context_subgroup_size(ctx);
  if (at->head_dim != COOP_HEAD_DIM || at->causal || (coop == 1 && sg != 32) || (coop == 2 && sg < 8))
    coop = 0;
  const uint32_t unit = 4; /* every kernel counts in groups of 4 elements (texels, vec4s or 4 halves) */
  tc_attention_push push = {
    .q_off = at->q.offset / unit,
    .q_stride = at->q.stride / unit,
    .k_off = at->k.offset / unit,
    .k_stride = at->k.stride / unit,
    .v_off = at->v.offset / unit,
    .v_stride = at->v.stride / unit,
    .o_stride = at->heads * at->head_dim / unit,
    .tokens = at->tokens,
    .causal = at->causal != 0,
    .scale_log2e = at->scale * 1.4426950408889634f,
    .heads = at->heads,
  };
  tc_kernel_desc d = {
    .n_bindings = ATTENTION_BINDINGS,
    .push_size = sizeof push,
    .n_spec = 4,
  };
  enum { Q = ATTENTION_BIND_Q, K = ATTENTION_BIND_K, V = ATTENTION_BIND_V, O = ATTENTION_BIND_O };
  uint32_t groups_x, groups_y = at->heads;
  if (is_cpu && sg >= SHUFFLE_MIN_LANES) {
    d.shader = "attention_cpu_shuffle";
    d.bindings[Q] = d.bindings[K] = d.bindings[V] = TC_BIND_IMAGE_F32;
    d.bindings[O] = TC_BIND_STORAGE;
    d.spec[TC_SPEC_WORKGROUP] = sg, d.spec[ATTENTION_SPEC_HD] = at->head_dim;
    d.spec[ATTENTION_SPEC_R] = shuffle_rows(at->head_dim), d.spec[ATTENTION_SPEC_SG] = sg;
    /* (head, block of sg * R query rows) pairs, one subgroup each */
    groups_x = at->heads * tc_div_up(at->tokens, sg * d.spec[ATTENTION_SPEC_R]);
    groups_y = 1;
  } else if (is_cpu) {
    d.shader = "attention_cpu";
    d.bindings[Q] = d.bindings[K] = d.bindings[V] = TC_BIND_TEXEL_F32;
    d.bindings[O] = TC_BIND_STORAGE;
    d.spec[TC_SPEC_WORKGROUP] = CPU_GROUP, d.spec[ATTENTION_SPEC_HD] = at->head_dim;
    d.spec[ATTENTION_SPEC_R] = cpu_rows(at->head_dim), d.spec[ATTENTION_SPEC_C] = CPU_KEYS;
    /* (head, row block) pairs in one flat range: see the shader */
    groups_x = tc_div_up(at->heads * tc_div_up(at->tokens, d.spec[ATTENTION_SPEC_R]), CPU_GROUP);
    groups_y = 1;
  } else if (coop) {
    uint32_t subgroups = coop == 1 ? COOP_SUBGROUPS_NV : COOP_SUBGROUPS_EMU;
    d.shader = coop == 1 ? "attention_coopmat_nv" : "attention_coopmat_emu";
    d.n_spec = 3;
    d.spec[TC_SPEC_WORKGROUP] = subgroups * tc_context_subgroup_size(ctx);
    d.spec[ATTENTION_SPEC_COOP_QKV_F16] = at->qkv_dtype == TC_F16;
    d.spec[ATTENTION_SPEC_COOP_OUT_F16] = at->out_dtype == TC_F16;
    groups_x = tc_div_up(at->tokens, subgroups * COOP_ROWS);
  } else {
    d.shader = "attention_gpu";
    d.n_spec = 5;
    uint32_t tile_keys = GPU_TILE_FLOATS / at->head_dim < 32 ? GPU_TILE_FLOATS / at->head_dim : 32;
    d.spec[TC_SPEC_WORKGROUP] = GPU_GROUP, d.spec[ATTENTION_SPEC_HD] = at->head_dim;
    d.spec[ATTENTION_SPEC_TK] = tile_keys;
    d.spec[ATTENTION_SPEC_GPU_QKV_F16] = at->qkv_dtype == TC_F16;
    d.spec[ATTENTION_SPEC_GPU_OUT_F16] = at->out_dtype == TC_F16;
    groups_x = tc_div_up(at->tokens, GPU_GROUP);
  }
  tc_kernel *k;
  st = tc_kernel_get(ctx, &d, &k, err);
  if (st != TC_OK)
    return st;
  tc_buffer *bufs[ATTENTION_BINDINGS] = { [Q] = at->q.buf, [K] = at->k.buf, [V] = at->v.buf, [O] = at->out };
  /* gpu kernels: frames along z */
  return tc_cmd_dispatch(cmd, k, bufs, &push, groups_x, groups_y, frames(at), label ? label : "attention", err);
}
