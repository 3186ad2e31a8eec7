/* The Vulkan compute core: one context per device, buffers, kernels
 * (compute pipelines made from the embedded SPIR-V) and command sequences.
 *
 * A command sequence (tc_cmd) is recorded once and submitted as often as
 * needed: the encoder records its whole graph at load time and each frame is
 * a single submission. Dispatches inside a sequence are separated by a
 * compute-to-compute memory barrier, so each kernel sees the writes of the
 * kernels before it. */
#ifndef TC_VK_H
#define TC_VK_H

#include <stddef.h>
#include <stdint.h>

#include "tc_common.h"
#include "tc_error.h"
#include "tokenclip/tokenclip.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tc_context tc_context;
typedef struct tc_buffer tc_buffer;
typedef struct tc_kernel tc_kernel;
typedef struct tc_cmd tc_cmd;

/* Kernel families: the same operation comes in variants tuned for the kind of
 * device. CPU devices (lavapipe) want texel-buffer loads and large register
 * tiles with no shared memory; GPUs want shared-memory tiles. */
typedef enum tc_kernel_family {
  TC_FAMILY_AUTO = -1, /* from the device type; TOKENCLIP_KERNELS=cpu|gpu overrides */
  TC_FAMILY_CPU = 0,
  TC_FAMILY_GPU = 1,
} tc_kernel_family;

typedef struct tc_context_options {
  /* NULL or "": best device (discrete GPU > integrated GPU > virtual > CPU);
   * all digits: device index as listed by tc_list_devices; otherwise a
   * case-insensitive substring of the device name. TOKENCLIP_DEVICE is used
   * when this is NULL. */
  const char *device;
  /* The caller's device instead (tokenclip.h's tc_vulkan_device): nothing of
   * it is created or destroyed here; no features assumed; validation is the
   * caller's. */
  const tc_vulkan_device *borrowed;
  /* -1: on when TOKENCLIP_VALIDATE=1; 0 off; 1 on (fails when the layer is absent). */
  int validation;
  /* -1: on when TOKENCLIP_PROFILE=1. Profiling records GPU timestamps around
   * every dispatch and prints them after each submission; 2 records them
   * without printing (for callers that read tc_cmd_timings, e.g. benchmarks). */
  int profile;
  tc_kernel_family family;
  /* Directory for the on-disk VkPipelineCache (core/vk/tc_pipeline_cache.c).
   * NULL: TOKENCLIP_CACHE_DIR if set, else $XDG_CACHE_HOME/tokenclip (or
   * ~/.cache/tokenclip); "" here or in the variable: no disk cache. */
  const char *cache_dir;
  /* Cooperative-matrix matmul and attention (gpu family, devices with
   * VK_NV_cooperative_matrix and fp16 x fp16 -> fp32 16x16x16 subgroup
   * matrices). They round their inputs to fp16 (sums stay fp32), so they
   * change the numbers and are opt-in:
   * -1: from TOKENCLIP_COOPMAT (1: on, "emulate": 2); 0 off; 1 on where the
   * device has it (elsewhere quietly off: see tc_context_has_coopmat);
   * 2: the same kernels with the matrix operations emulated in plain GLSL,
   * on any gpu-family device with fp16 arithmetic: slow, for testing their
   * logic on lavapipe. */
  int cooperative_matrix;
} tc_context_options;

/* Fills opts with the defaults (everything from the environment). */
void tc_context_options_init(tc_context_options *opts);

tc_status tc_context_create(const tc_context_options *opts, tc_context **out, tc_error *err);
/* Waits for the device, writes the pipeline cache, frees everything. NULL is fine. */
void tc_context_destroy(tc_context *ctx);

const char *tc_context_device_name(const tc_context *ctx);
tc_kernel_family tc_context_family(const tc_context *ctx);
/* 1 on a CPU device (lavapipe): precision auto is fp32 there. */
int tc_context_is_cpu(const tc_context *ctx);
/* 1 when matmuls and attention run on cooperative matrices (asked for and
 * supported), 2 when on emulated ones (cooperative_matrix = 2), else 0. */
int tc_context_has_coopmat(const tc_context *ctx);
/* 1 when shaders may add floats atomically into storage buffers (enabled
 * with cooperative matrices, for the split-K matmul). */
int tc_context_has_float_atomic_add(const tc_context *ctx);
/* Bytes of pipeline cache read from disk when ctx was created (0: none,
 * or the disk cache is off); after tc_context_save_pipeline_cache, those
 * written. */
size_t tc_context_pipeline_cache_loaded(const tc_context *ctx);
/* Writes the pipeline cache file now if the cache changed since it was read
 * or last written (tc_context_destroy does it too): e.g. after building
 * every kernel at start. Thread-safe. */
void tc_context_save_pipeline_cache(tc_context *ctx);
/* Invocations per subgroup of the device's compute shaders. */
uint32_t tc_context_subgroup_size(const tc_context *ctx);
/* Number of warnings and errors the validation layer reported so far. */
uint32_t tc_context_validation_messages(const tc_context *ctx);
int tc_context_profiling(const tc_context *ctx);
/* A tc_buffer over the caller's VkBuffer of `bytes` on ctx's (borrowed)
 * device, for copies only (it may lack storage usage); destroying it leaves
 * the VkBuffer alone. */
tc_status tc_buffer_wrap(tc_context *ctx, void *vk_buffer, size_t bytes, tc_buffer **out, tc_error *err);
/* 1 when ctx is on the caller's device (tc_context_options.borrowed). */
int tc_context_is_borrowed(const tc_context *ctx);

/* Device memory held by the context's tc_buffers now, in bytes (weights,
 * activations, frames): what a shared model saves is measured with it. */
size_t tc_context_buffer_bytes(const tc_context *ctx);

/* Largest storage-buffer binding the device allows, in bytes. */
uint64_t tc_context_max_storage_range(const tc_context *ctx);

/* Writes one line per Vulkan device ("index: name (type)") to `out`, a FILE*. */
tc_status tc_list_devices(void *out, tc_error *err);

/* ---- buffers ---------------------------------------------------------- */

size_t tc_dtype_size(tc_dtype dtype);

/* A device buffer usable as a storage buffer and as a uniform texel buffer.
 * Where the device memory is host-visible (unified memory, lavapipe) it is
 * mapped; otherwise uploads and downloads go through a staging buffer. */
tc_status tc_buffer_create(tc_context *ctx, size_t bytes, tc_buffer **out, tc_error *err);
void tc_buffer_destroy(tc_buffer *buf);
size_t tc_buffer_size(const tc_buffer *buf);
/* The host pointer of a host-visible buffer, NULL otherwise. */
void *tc_buffer_host_ptr(tc_buffer *buf);
tc_status tc_buffer_upload(tc_buffer *buf, size_t offset, const void *src, size_t bytes, tc_error *err);
tc_status tc_buffer_download(tc_buffer *buf, size_t offset, void *dst, size_t bytes, tc_error *err);
/* Creates a buffer of `bytes` and lets fill write its contents: straight
 * into the mapping where the buffer is host-visible (weights converted from a
 * mapped file are then copied once), else into host memory that is uploaded. */
typedef tc_status (*tc_fill_fn)(void *user, void *dst, size_t bytes, tc_error *err);
tc_status tc_buffer_create_filled(tc_context *ctx, size_t bytes, tc_fill_fn fill, void *user, tc_buffer **out,
                                  tc_error *err);
/* Convenience: create and fill in one call. */
tc_status tc_buffer_create_from(tc_context *ctx, const void *src, size_t bytes, tc_buffer **out,
                                tc_error *err);

/* ---- kernels ---------------------------------------------------------- */

/* How a kernel sees a buffer bound at binding i. */
typedef enum tc_binding {
  TC_BIND_STORAGE = 0,   /* std430 storage buffer */
  TC_BIND_TEXEL_F32 = 1, /* uniform texel buffer, RGBA32F (samplerBuffer, 4 floats a texel) */
  TC_BIND_TEXEL_F16 = 2, /* uniform texel buffer, RGBA16F (4 halves a texel, read as floats) */
  /* Storage texel buffers (imageBuffer, read with imageLoad): llvmpipe
   * inlines their loads, where a texelFetch is a call (tools/bench/README.md). */
  TC_BIND_IMAGE_F32 = 3, /* RGBA32F, layout(rgba32f) */
  TC_BIND_IMAGE_F16 = 4, /* RGBA16F, layout(rgba16f), read as floats */
  TC_BIND_IMAGE_R32F = 5, /* R32F, layout(r32f): one float a texel */
} tc_binding;

#define TC_MAX_BINDINGS 8
#define TC_MAX_SPEC 12

/* A kernel, described one way everywhere: its shader, the type of each
 * binding, the size of its push constants and its specialisation constants.
 * The ids and the push-constant struct come from the shader's interface
 * header, shaders/abi/<family>.h, which the GLSL includes too:
 *
 *   tc_kernel_desc d = {
 *     .shader = "add",
 *     .n_bindings = ADD_BINDINGS,
 *     .bindings = { [ADD_BIND_A] = TC_BIND_STORAGE, ... },
 *     .push_size = sizeof(tc_elementwise_push),
 *     .n_spec = 1,
 *     .spec = { [TC_SPEC_WORKGROUP] = 64 },
 *   };
 *   st = tc_kernel_get(ctx, &d, &k, err);
 *   tc_elementwise_push push = { .n = n };
 *   st = tc_cmd_dispatch(cmd, k, (tc_buffer *[ADD_BINDINGS]){ ... }, &push, groups, 1, 1, "add", err); */
typedef struct tc_kernel_desc {
  const char *shader;   /* name of the embedded shader (file name without .comp) */
  uint32_t n_bindings;
  tc_binding bindings[TC_MAX_BINDINGS];
  uint32_t push_size;   /* bytes of push constants, at most 128 */
  uint32_t n_spec;      /* specialization constants, ids 0..n_spec-1 (id 0: local_size_x) */
  uint32_t spec[TC_MAX_SPEC];
} tc_kernel_desc;

/* Returns the pipeline for desc, creating it on first use. Pipelines live in
 * the context (keyed by shader, bindings and constants) until it is destroyed. */
tc_status tc_kernel_get(tc_context *ctx, const tc_kernel_desc *desc, tc_kernel **out, tc_error *err);

/* ---- command sequences ------------------------------------------------- */

tc_status tc_cmd_create(tc_context *ctx, tc_cmd **out, tc_error *err);
void tc_cmd_destroy(tc_cmd *cmd);
tc_context *tc_cmd_context(const tc_cmd *cmd);

/* Starts (re)recording; what was recorded before is dropped. */
tc_status tc_cmd_begin(tc_cmd *cmd, tc_error *err);

/* Records one dispatch of groups_x * groups_y * groups_z workgroups. bufs has
 * one buffer per binding of the kernel; push is the kernel's push constants.
 * label names the dispatch in profiles. */
tc_status tc_cmd_dispatch(tc_cmd *cmd, tc_kernel *kernel, tc_buffer *const *bufs, const void *push,
                          uint32_t groups_x, uint32_t groups_y, uint32_t groups_z, const char *label,
                          tc_error *err);

/* Records a buffer-to-buffer copy, ordered with the dispatches around it. */
tc_status tc_cmd_copy(tc_cmd *cmd, tc_buffer *src, size_t src_offset, tc_buffer *dst, size_t dst_offset,
                      size_t bytes, tc_error *err);

/* Records a copy between a 2D colour image (one layer and level) and
 * rows of a buffer (row_texels texels apart): a barrier moves the image from
 * *layout (its last write at *stages / *access) to the transfer layout,
 * then the copy; on return *layout, *stages, *access say the image's state
 * after it. Raw Vulkan enums as uint32_t. */
tc_status tc_cmd_copy_image(tc_cmd *cmd, void *image, uint32_t width, uint32_t height, uint32_t *layout,
                            uint32_t *stages, uint32_t *access, tc_buffer *buf, size_t offset, uint32_t row_texels,
                            int to_buffer, tc_error *err);

tc_status tc_cmd_end(tc_cmd *cmd, tc_error *err);

/* Submits the recorded sequence and returns at once; tc_cmd_wait blocks until it ends. */
tc_status tc_cmd_submit(tc_cmd *cmd, tc_error *err);
tc_status tc_cmd_wait(tc_cmd *cmd, tc_error *err);
/* Submit and wait. */
tc_status tc_cmd_run(tc_cmd *cmd, tc_error *err);

/* Per-dispatch GPU times of the last finished submission, in milliseconds,
 * when the context profiles; returns the number of dispatches (0 otherwise). */
uint32_t tc_cmd_timings(const tc_cmd *cmd, const char *const **labels, const double **ms);
/* Time between the first and the last timestamp of the last submission, in ms
 * (profiling only; 0 otherwise). */
double tc_cmd_total_ms(const tc_cmd *cmd);

/* Ceiling division, for workgroup counts. */
static inline uint32_t tc_div_up(uint32_t a, uint32_t b) { return (a + b - 1) / b; }

#ifdef __cplusplus
}
#endif

#endif
