/* Device buffers: mapped where memory is shared with the host, otherwise
 * device-local with staging copies. */
#include <stdlib.h>
#include <string.h>

#include "tc_vk_internal.h"

size_t tc_dtype_size(tc_dtype dtype) { return dtype == TC_F16 ? 2 : 4; }

static tc_status alloc_buffer(tc_context *ctx, size_t bytes, VkBufferUsageFlags usage, uint32_t mem_type,
                              VkBuffer *buffer, VkDeviceMemory *memory, tc_error *err)
{
  VkBufferCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
    .size = bytes,
    .usage = usage,
    .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
  };
  tc_status st = tc_vk_check(vkCreateBuffer(ctx->device, &info, NULL, buffer), "vkCreateBuffer", err);
  if (st != TC_OK)
    return st;
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(ctx->device, *buffer, &req);
  if (!(req.memoryTypeBits & (1u << mem_type))) {
    vkDestroyBuffer(ctx->device, *buffer, NULL);
    *buffer = VK_NULL_HANDLE;
    return tc_error_set(err, TC_ERR_VULKAN, "no suitable memory type for a %zu-byte buffer", bytes);
  }
  VkMemoryAllocateInfo alloc = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
    .allocationSize = req.size,
    .memoryTypeIndex = mem_type,
  };
  st = tc_vk_check(vkAllocateMemory(ctx->device, &alloc, NULL, memory), "vkAllocateMemory", err);
  if (st == TC_OK)
    st = tc_vk_check(vkBindBufferMemory(ctx->device, *buffer, *memory, 0), "vkBindBufferMemory", err);
  if (st != TC_OK) {
    tc_error_prefix(err, "allocating %zu bytes", bytes);
    vkDestroyBuffer(ctx->device, *buffer, NULL);
    vkFreeMemory(ctx->device, *memory, NULL);
    *buffer = VK_NULL_HANDLE;
    *memory = VK_NULL_HANDLE;
  }
  return st;
}

tc_status tc_buffer_create(tc_context *ctx, size_t bytes, tc_buffer **out, tc_error *err)
{
  *out = NULL;
  if (bytes == 0)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "a buffer of 0 bytes was requested");
  tc_buffer *buf = calloc(1, sizeof *buf);
  if (!buf)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  buf->ctx = ctx;
  /* Whole 16-byte texels, so a texel view covers every element. */
  buf->size = (bytes + 15) & ~(size_t)15;
  VkBufferUsageFlags usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
                             VK_BUFFER_USAGE_STORAGE_TEXEL_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                             VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  tc_status st = alloc_buffer(ctx, buf->size, usage, ctx->buffer_mem_type, &buf->buffer, &buf->memory, err);
  if (st == TC_OK && ctx->host_visible)
    st = tc_vk_check(vkMapMemory(ctx->device, buf->memory, 0, VK_WHOLE_SIZE, 0, &buf->mapped), "vkMapMemory", err);
  if (st != TC_OK) {
    tc_buffer_destroy(buf);
    return st;
  }
  buf->counted = true;
  ctx->buffer_bytes += buf->size;
  *out = buf;
  return TC_OK;
}

tc_status tc_buffer_wrap(tc_context *ctx, void *vk_buffer, size_t bytes, tc_buffer **out, tc_error *err)
{
  *out = NULL;
  if (!vk_buffer || bytes == 0)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "wrap: no buffer or 0 bytes");
  tc_buffer *buf = calloc(1, sizeof *buf);
  if (!buf)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  *buf = (tc_buffer){ .ctx = ctx, .buffer = (VkBuffer)vk_buffer, .size = bytes, .wrapped = true };
  *out = buf;
  return TC_OK;
}

void tc_buffer_destroy(tc_buffer *buf)
{
  if (!buf)
    return;
  if (buf->wrapped) {
    free(buf);
    return;
  }
  if (buf->counted)
    buf->ctx->buffer_bytes -= buf->size;
  VkDevice dev = buf->ctx->device;
  for (int i = 0; i < 3; i++)
    if (buf->view[i])
      vkDestroyBufferView(dev, buf->view[i], NULL);
  if (buf->buffer)
    vkDestroyBuffer(dev, buf->buffer, NULL);
  if (buf->memory)
    vkFreeMemory(dev, buf->memory, NULL); /* unmaps implicitly */
  free(buf);
}

size_t tc_buffer_size(const tc_buffer *buf) { return buf->size; }
size_t tc_context_buffer_bytes(const tc_context *ctx) { return ctx->buffer_bytes; }
void *tc_buffer_host_ptr(tc_buffer *buf) { return buf->mapped; }

typedef struct {
  VkBuffer src, dst;
  VkBufferCopy region;
} copy_job;

static void record_copy(VkCommandBuffer cb, void *user)
{
  copy_job *job = user;
  vkCmdCopyBuffer(cb, job->src, job->dst, 1, &job->region);
}

static tc_status staged_copy(tc_buffer *buf, size_t offset, void *host, size_t bytes, bool upload, tc_error *err)
{
  tc_context *ctx = buf->ctx;
  VkBuffer staging;
  VkDeviceMemory memory;
  VkBufferUsageFlags usage = upload ? VK_BUFFER_USAGE_TRANSFER_SRC_BIT : VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  tc_status st = alloc_buffer(ctx, bytes, usage, ctx->staging_mem_type, &staging, &memory, err);
  if (st != TC_OK)
    return st;
  void *p = NULL;
  st = tc_vk_check(vkMapMemory(ctx->device, memory, 0, VK_WHOLE_SIZE, 0, &p), "vkMapMemory", err);
  if (st == TC_OK) {
    copy_job job = { .src = upload ? staging : buf->buffer, .dst = upload ? buf->buffer : staging };
    job.region = (VkBufferCopy){ .srcOffset = upload ? 0 : offset, .dstOffset = upload ? offset : 0, .size = bytes };
    if (upload)
      memcpy(p, host, bytes);
    st = tc_vk_run_once(ctx, record_copy, &job, err);
    if (st == TC_OK && !upload)
      memcpy(host, p, bytes);
  }
  vkDestroyBuffer(ctx->device, staging, NULL);
  vkFreeMemory(ctx->device, memory, NULL);
  return st;
}

static tc_status check_range(const tc_buffer *buf, size_t offset, size_t bytes, tc_error *err)
{
  if (offset > buf->size || bytes > buf->size - offset)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "copy of %zu bytes at offset %zu exceeds a %zu-byte buffer",
                        bytes, offset, buf->size);
  return TC_OK;
}

tc_status tc_buffer_upload(tc_buffer *buf, size_t offset, const void *src, size_t bytes, tc_error *err)
{
  tc_status st = check_range(buf, offset, bytes, err);
  if (st != TC_OK || bytes == 0)
    return st;
  if (buf->mapped) {
    memcpy((char *)buf->mapped + offset, src, bytes);
    return TC_OK;
  }
  return staged_copy(buf, offset, (void *)src, bytes, true, err);
}

tc_status tc_buffer_download(tc_buffer *buf, size_t offset, void *dst, size_t bytes, tc_error *err)
{
  tc_status st = check_range(buf, offset, bytes, err);
  if (st != TC_OK || bytes == 0)
    return st;
  if (buf->mapped) {
    memcpy(dst, (char *)buf->mapped + offset, bytes);
    return TC_OK;
  }
  return staged_copy(buf, offset, dst, bytes, false, err);
}

tc_status tc_buffer_create_from(tc_context *ctx, const void *src, size_t bytes, tc_buffer **out, tc_error *err)
{
  tc_status st = tc_buffer_create(ctx, bytes, out, err);
  if (st == TC_OK && (st = tc_buffer_upload(*out, 0, src, bytes, err)) != TC_OK) {
    tc_buffer_destroy(*out);
    *out = NULL;
  }
  return st;
}

tc_status tc_buffer_create_filled(tc_context *ctx, size_t bytes, tc_fill_fn fill, void *user, tc_buffer **out,
                                  tc_error *err)
{
  tc_status st = tc_buffer_create(ctx, bytes, out, err);
  if (st != TC_OK)
    return st;
  void *dst = (*out)->mapped ? (*out)->mapped : malloc(bytes);
  if (!dst)
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory (%zu bytes)", bytes);
  else
    st = fill(user, dst, bytes, err);
  if (st == TC_OK && !(*out)->mapped)
    st = tc_buffer_upload(*out, 0, dst, bytes, err);
  if (!(*out)->mapped)
    free(dst);
  if (st != TC_OK) {
    tc_buffer_destroy(*out);
    *out = NULL;
  }
  return st;
}

tc_status tc_buffer_texel_view(tc_buffer *buf, tc_binding b, VkBufferView *out, tc_error *err)
{
  tc_context *ctx = buf->ctx;
  const bool half = b == TC_BIND_TEXEL_F16 || b == TC_BIND_IMAGE_F16, image = b >= TC_BIND_IMAGE_F32;
  const int slot = half ? 1 : b == TC_BIND_IMAGE_R32F ? 2 : 0;
  static const VkFormat formats[] = { VK_FORMAT_R32G32B32A32_SFLOAT, VK_FORMAT_R16G16B16A16_SFLOAT,
                                      VK_FORMAT_R32_SFLOAT };
  static const size_t texel_bytes[] = { 16, 8, 4 };
  if (b == TC_BIND_TEXEL_F16 && !ctx->texel_f16)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s cannot read RGBA16F texel buffers", ctx->device_name);
  if (image && !ctx->image_texels)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s cannot read RGBA32F, RGBA16F and R32F storage texel buffers",
                        ctx->device_name);
  size_t texel = texel_bytes[slot];
  if (buf->size / texel > ctx->props.limits.maxTexelBufferElements)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "a %zu-byte buffer exceeds the device's texel buffer limit of %u "
                        "elements", buf->size, ctx->props.limits.maxTexelBufferElements);
  tc_status st = TC_OK;
  pthread_mutex_lock(&ctx->lock);
  if (!buf->view[slot]) {
    VkBufferViewCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
      .buffer = buf->buffer,
      .format = formats[slot],
      .offset = 0,
      .range = buf->size / texel * texel,
    };
    st = tc_vk_check(vkCreateBufferView(ctx->device, &info, NULL, &buf->view[slot]), "vkCreateBufferView", err);
  }
  *out = buf->view[slot];
  pthread_mutex_unlock(&ctx->lock);
  return st;
}
