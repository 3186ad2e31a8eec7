/* Private structures of the Vulkan core, shared by its .c files only. */
#ifndef TC_VK_INTERNAL_H
#define TC_VK_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <vulkan/vulkan.h>

#include "tc_vk.h"

struct tc_context {
  VkInstance instance;
  VkDebugUtilsMessengerEXT messenger;
  VkPhysicalDevice phys;
  VkPhysicalDeviceProperties props;
  VkPhysicalDeviceMemoryProperties mem_props;
  VkDevice device;
  VkQueue queue;
  uint32_t queue_family;
  bool timestamps; /* the queue supports timestamp queries */
  float timestamp_period_ns;
  uint32_t timestamp_bits;

  /* Buffers are host-visible (unified memory) or device-local with staging. */
  bool host_visible;
  uint32_t buffer_mem_type;
  uint32_t staging_mem_type;
  bool texel_f16; /* RGBA16F uniform texel buffers are supported */
  bool image_texels; /* RGBA32F, RGBA16F and R32F storage texel buffers are supported */

  tc_kernel_family family;
  bool coopmat; /* VK_NV_cooperative_matrix enabled for the matmul (opt-in) */
  bool coopmat_emulated; /* the same kernels, matrix operations in plain GLSL (tests) */
  bool float_atomic_add; /* VK_EXT_shader_atomic_float buffer adds enabled (with coopmat) */
  uint32_t subgroup_size;
  bool profile;
  bool profile_print; /* print timings after each submission */
  uint32_t validation_messages; /* updated from the messenger callback */

  VkPipelineCache pipeline_cache;
  char *cache_path;     /* NULL: no disk cache */
  size_t cache_loaded;  /* bytes read from the file (0: none) */
  uint64_t cache_hash;  /* of those bytes: the file is rewritten only when the cache changed */

  /* Serialises queue submissions, kernel creation and lazy view creation:
   * an element may run inference on one thread and blend on another. */
  pthread_mutex_t lock;
  const tc_vulkan_device *borrowed; /* the caller's device (a copy): instance, device and queue are its */
  tc_vulkan_device borrowed_copy;
  _Atomic size_t buffer_bytes; /* device memory of the tc_buffers alive (tc_context_buffer_bytes) */
  tc_kernel *kernels; /* linked list, owned */
  VkCommandPool transfer_pool; /* one-shot staging copies, under lock */
  char device_name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
};

/* vkQueueSubmit on the context's queue, inside the borrowed device's queue
 * lock when there is one (the caller holds ctx->lock). */
VkResult tc_context_queue_submit(tc_context *ctx, const VkSubmitInfo *info, VkFence fence);

struct tc_buffer {
  tc_context *ctx;
  VkBuffer buffer;
  VkDeviceMemory memory;
  size_t size;
  void *mapped; /* non-NULL when host-visible */
  bool counted;  /* in the context's buffer_bytes */
  bool wrapped;  /* the caller's VkBuffer (tc_buffer_wrap): not ours to destroy */
  VkBufferView view[3]; /* per texel format (RGBA32F, RGBA16F, R32F), created on first use */
};

struct tc_kernel {
  tc_kernel_desc desc;
  char shader[64];
  VkDescriptorSetLayout set_layout;
  VkPipelineLayout layout;
  VkPipeline pipeline;
  tc_kernel *next;
};

/* How long a submission may take: a lavapipe frame of ViT-L takes seconds, not minutes. */
#define TC_VK_WAIT_TIMEOUT_NS (600ull * 1000 * 1000 * 1000)

/* Who calls whom, without a cycle: tc_cmd -> tc_buffer -> tc_transfer ->
 * tc_context (tc_kernel -> tc_context; tc_context -> tc_pipeline_cache). */

/* tc_pipeline_cache.c: creates ctx->pipeline_cache from the file on disk
 * (when there is a valid one), and writes it back when it changed. */
tc_status tc_pipeline_cache_open(tc_context *ctx, const char *dir_opt, tc_error *err);
void tc_pipeline_cache_save(tc_context *ctx);

/* tc_kernel.c: the descriptor type of a binding kind. */
VkDescriptorType tc_descriptor_type(tc_binding b);

/* tc_context.c: maps a VkResult to a status and message naming the call. */
tc_status tc_vk_check(VkResult r, const char *what, tc_error *err);

/* tc_transfer.c: runs a one-shot recording on the context's transfer pool
 * and waits. */
typedef void (*tc_record_fn)(VkCommandBuffer cb, void *user);
tc_status tc_vk_run_once(tc_context *ctx, tc_record_fn record, void *user, tc_error *err);

/* tc_buffer.c: the texel view of buf in the format of binding kind b (any
 * but TC_BIND_STORAGE), created on first use; one view serves uniform and
 * storage texel descriptors alike. */
tc_status tc_buffer_texel_view(tc_buffer *buf, tc_binding b, VkBufferView *out, tc_error *err);

#endif
