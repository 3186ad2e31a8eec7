/* Command sequences: recorded once, submitted many times. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tc_vk_internal.h"

#define SETS_PER_POOL 64
#define MAX_TIMED_DISPATCHES 4096

struct tc_cmd {
  tc_context *ctx;
  VkCommandPool pool;
  VkCommandBuffer cb;
  VkFence fence;
  bool recording, recorded, pending;

  /* Descriptor sets live as long as the recording: pools are only reset by
   * tc_cmd_begin. */
  VkDescriptorPool *desc_pools;
  uint32_t n_desc_pools, cur_pool, sets_in_pool;

  /* Profiling: two timestamps per dispatch. */
  VkQueryPool queries;
  uint32_t n_dispatches;
  char **labels;
  double *ms;
  uint32_t n_timed;
  double total_ms;
};

static tc_status add_desc_pool(tc_cmd *cmd, tc_error *err)
{
  VkDescriptorPoolSize sizes[] = {
    { VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, SETS_PER_POOL * TC_MAX_BINDINGS },
    { VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, SETS_PER_POOL * TC_MAX_BINDINGS },
    { VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER, SETS_PER_POOL * TC_MAX_BINDINGS },
  };
  VkDescriptorPoolCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
    .maxSets = SETS_PER_POOL,
    .poolSizeCount = 3,
    .pPoolSizes = sizes,
  };
  VkDescriptorPool *grown = realloc(cmd->desc_pools, (cmd->n_desc_pools + 1) * sizeof *grown);
  if (!grown)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  cmd->desc_pools = grown;
  tc_status st = tc_vk_check(vkCreateDescriptorPool(cmd->ctx->device, &info, NULL, &grown[cmd->n_desc_pools]),
                             "vkCreateDescriptorPool", err);
  if (st == TC_OK)
    cmd->n_desc_pools++;
  return st;
}

tc_status tc_cmd_create(tc_context *ctx, tc_cmd **out, tc_error *err)
{
  *out = NULL;
  tc_cmd *cmd = calloc(1, sizeof *cmd);
  if (!cmd)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  cmd->ctx = ctx;
  VkDevice dev = ctx->device;
  /* A pool of its own: command pools may not be shared between threads. */
  VkCommandPoolCreateInfo pool_info = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
    .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
    .queueFamilyIndex = ctx->queue_family,
  };
  tc_status st = tc_vk_check(vkCreateCommandPool(dev, &pool_info, NULL, &cmd->pool), "vkCreateCommandPool", err);
  if (st == TC_OK) {
    VkCommandBufferAllocateInfo alloc = {
      .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
      .commandPool = cmd->pool,
      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
      .commandBufferCount = 1,
    };
    st = tc_vk_check(vkAllocateCommandBuffers(dev, &alloc, &cmd->cb), "vkAllocateCommandBuffers", err);
  }
  if (st == TC_OK) {
    VkFenceCreateInfo fence = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
    st = tc_vk_check(vkCreateFence(dev, &fence, NULL, &cmd->fence), "vkCreateFence", err);
  }
  if (st == TC_OK)
    st = add_desc_pool(cmd, err);
  if (st == TC_OK && tc_context_profiling(ctx)) {
    VkQueryPoolCreateInfo q = {
      .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
      .queryType = VK_QUERY_TYPE_TIMESTAMP,
      .queryCount = 2 * MAX_TIMED_DISPATCHES,
    };
    st = tc_vk_check(vkCreateQueryPool(dev, &q, NULL, &cmd->queries), "vkCreateQueryPool", err);
    if (st == TC_OK && !(cmd->labels = calloc(MAX_TIMED_DISPATCHES, sizeof *cmd->labels)))
      st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
    if (st == TC_OK && !(cmd->ms = calloc(MAX_TIMED_DISPATCHES, sizeof *cmd->ms)))
      st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  }
  if (st != TC_OK) {
    tc_cmd_destroy(cmd);
    return st;
  }
  *out = cmd;
  return TC_OK;
}

static void free_labels(tc_cmd *cmd)
{
  if (cmd->labels)
    for (uint32_t i = 0; i < MAX_TIMED_DISPATCHES && cmd->labels[i]; i++) {
      free(cmd->labels[i]);
      cmd->labels[i] = NULL;
    }
}

void tc_cmd_destroy(tc_cmd *cmd)
{
  if (!cmd)
    return;
  VkDevice dev = cmd->ctx->device;
  if (cmd->pending)
    vkWaitForFences(dev, 1, &cmd->fence, VK_TRUE, TC_VK_WAIT_TIMEOUT_NS);
  for (uint32_t i = 0; i < cmd->n_desc_pools; i++)
    vkDestroyDescriptorPool(dev, cmd->desc_pools[i], NULL);
  free(cmd->desc_pools);
  if (cmd->queries)
    vkDestroyQueryPool(dev, cmd->queries, NULL);
  free_labels(cmd);
  free(cmd->labels);
  free(cmd->ms);
  if (cmd->fence)
    vkDestroyFence(dev, cmd->fence, NULL);
  if (cmd->pool)
    vkDestroyCommandPool(dev, cmd->pool, NULL); /* frees cb */
  free(cmd);
}

tc_context *tc_cmd_context(const tc_cmd *cmd) { return cmd->ctx; }

tc_status tc_cmd_begin(tc_cmd *cmd, tc_error *err)
{
  if (cmd->pending)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_cmd_begin: the previous submission was not waited for");
  VkDevice dev = cmd->ctx->device;
  tc_status st = tc_vk_check(vkResetCommandBuffer(cmd->cb, 0), "vkResetCommandBuffer", err);
  for (uint32_t i = 0; i < cmd->n_desc_pools && st == TC_OK; i++)
    st = tc_vk_check(vkResetDescriptorPool(dev, cmd->desc_pools[i], 0), "vkResetDescriptorPool", err);
  if (st != TC_OK)
    return st;
  cmd->cur_pool = 0;
  cmd->sets_in_pool = 0;
  cmd->n_dispatches = 0;
  cmd->n_timed = 0;
  cmd->total_ms = 0;
  free_labels(cmd);
  VkCommandBufferBeginInfo begin = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO };
  st = tc_vk_check(vkBeginCommandBuffer(cmd->cb, &begin), "vkBeginCommandBuffer", err);
  if (st != TC_OK)
    return st;
  if (cmd->queries)
    vkCmdResetQueryPool(cmd->cb, cmd->queries, 0, 2 * MAX_TIMED_DISPATCHES);
  cmd->recording = true;
  cmd->recorded = false;
  return TC_OK;
}

/* Makes everything written so far visible to what follows, compute or transfer. */
static void barrier_after(VkCommandBuffer cb, VkPipelineStageFlags src_stage, VkAccessFlags src_access)
{
  VkMemoryBarrier mb = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
    .srcAccessMask = src_access,
    .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                     VK_ACCESS_TRANSFER_WRITE_BIT,
  };
  vkCmdPipelineBarrier(cb, src_stage, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1,
                       &mb, 0, NULL, 0, NULL);
}

static tc_status alloc_set(tc_cmd *cmd, tc_kernel *k, VkDescriptorSet *set, tc_error *err)
{
  if (cmd->sets_in_pool == SETS_PER_POOL) {
    cmd->cur_pool++;
    cmd->sets_in_pool = 0;
  }
  if (cmd->cur_pool == cmd->n_desc_pools) {
    tc_status st = add_desc_pool(cmd, err);
    if (st != TC_OK)
      return st;
  }
  VkDescriptorSetAllocateInfo info = {
    .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
    .descriptorPool = cmd->desc_pools[cmd->cur_pool],
    .descriptorSetCount = 1,
    .pSetLayouts = &k->set_layout,
  };
  cmd->sets_in_pool++;
  return tc_vk_check(vkAllocateDescriptorSets(cmd->ctx->device, &info, set), "vkAllocateDescriptorSets", err);
}

tc_status tc_cmd_dispatch(tc_cmd *cmd, tc_kernel *k, tc_buffer *const *bufs, const void *push, uint32_t gx,
                          uint32_t gy, uint32_t gz, const char *label, tc_error *err)
{
  if (!cmd->recording)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "dispatch of %s outside tc_cmd_begin/tc_cmd_end", k->shader);
  const VkPhysicalDeviceLimits *lim = &cmd->ctx->props.limits;
  if (gx == 0 || gy == 0 || gz == 0 || gx > lim->maxComputeWorkGroupCount[0] ||
      gy > lim->maxComputeWorkGroupCount[1] || gz > lim->maxComputeWorkGroupCount[2])
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: workgroup count %ux%ux%u outside the device limits",
                        label ? label : k->shader, gx, gy, gz);

  VkDescriptorSet set;
  tc_status st = alloc_set(cmd, k, &set, err);
  if (st != TC_OK)
    return st;
  VkWriteDescriptorSet writes[TC_MAX_BINDINGS];
  VkDescriptorBufferInfo infos[TC_MAX_BINDINGS];
  VkBufferView views[TC_MAX_BINDINGS];
  for (uint32_t i = 0; i < k->desc.n_bindings; i++) {
    tc_buffer *b = bufs[i];
    if (!b)
      return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: binding %u has no buffer", k->shader, i);
    writes[i] = (VkWriteDescriptorSet){
      .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
      .dstSet = set,
      .dstBinding = i,
      .descriptorCount = 1,
    };
    if (k->desc.bindings[i] == TC_BIND_STORAGE) {
      if (b->size > lim->maxStorageBufferRange)
        return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: a %zu-byte buffer exceeds the device's storage "
                            "buffer range (%u bytes)", k->shader, b->size, lim->maxStorageBufferRange);
      infos[i] = (VkDescriptorBufferInfo){ .buffer = b->buffer, .offset = 0, .range = VK_WHOLE_SIZE };
      writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      writes[i].pBufferInfo = &infos[i];
    } else {
      st = tc_buffer_texel_view(b, k->desc.bindings[i], &views[i], err);
      if (st != TC_OK)
        return st;
      writes[i].descriptorType = tc_descriptor_type(k->desc.bindings[i]);
      writes[i].pTexelBufferView = &views[i];
    }
  }
  vkUpdateDescriptorSets(cmd->ctx->device, k->desc.n_bindings, writes, 0, NULL);

  VkCommandBuffer cb = cmd->cb;
  bool timed = cmd->queries && cmd->n_dispatches < MAX_TIMED_DISPATCHES;
  if (timed) {
    cmd->labels[cmd->n_dispatches] = strdup(label ? label : k->shader);
    vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, cmd->queries, 2 * cmd->n_dispatches);
  }
  vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, k->pipeline);
  vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, k->layout, 0, 1, &set, 0, NULL);
  if (k->desc.push_size)
    vkCmdPushConstants(cb, k->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, k->desc.push_size, push);
  vkCmdDispatch(cb, gx, gy, gz);
  if (timed)
    vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, cmd->queries, 2 * cmd->n_dispatches + 1);
  cmd->n_dispatches++;
  barrier_after(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT);
  return TC_OK;
}

tc_status tc_cmd_copy(tc_cmd *cmd, tc_buffer *src, size_t src_offset, tc_buffer *dst, size_t dst_offset,
                      size_t bytes, tc_error *err)
{
  if (!cmd->recording)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "copy outside tc_cmd_begin/tc_cmd_end");
  if (src_offset > src->size || bytes > src->size - src_offset || dst_offset > dst->size ||
      bytes > dst->size - dst_offset)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "copy of %zu bytes outside its buffers", bytes);
  VkBufferCopy region = { .srcOffset = src_offset, .dstOffset = dst_offset, .size = bytes };
  vkCmdCopyBuffer(cmd->cb, src->buffer, dst->buffer, 1, &region);
  barrier_after(cmd->cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT);
  return TC_OK;
}

tc_status tc_cmd_copy_image(tc_cmd *cmd, void *image, uint32_t width, uint32_t height, uint32_t *layout,
                            uint32_t *stages, uint32_t *access, tc_buffer *buf, size_t offset, uint32_t row_texels,
                            int to_buffer, tc_error *err)
{
  if (!cmd->recording)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "copy outside tc_cmd_begin/tc_cmd_end");
  const VkImageLayout want = to_buffer ? VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL : VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL;
  /* the buffer side: compute and transfer before it are done (the barriers after dispatches and copies) */
  VkImageMemoryBarrier ib = {
    .sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER,
    .srcAccessMask = *access,
    .dstAccessMask = to_buffer ? VK_ACCESS_TRANSFER_READ_BIT : VK_ACCESS_TRANSFER_WRITE_BIT,
    .oldLayout = (VkImageLayout)*layout,
    .newLayout = want,
    .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
    .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
    .image = (VkImage)image,
    .subresourceRange = { VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1 },
  };
  VkPipelineStageFlags src = *stages ? (VkPipelineStageFlags)*stages : VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT;
  vkCmdPipelineBarrier(cmd->cb, src, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0, NULL, 0, NULL, 1, &ib);
  VkBufferImageCopy region = {
    .bufferOffset = offset,
    .bufferRowLength = row_texels,
    .imageSubresource = { VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1 },
    .imageExtent = { width, height, 1 },
  };
  if (to_buffer)
    vkCmdCopyImageToBuffer(cmd->cb, (VkImage)image, want, buf->buffer, 1, &region);
  else
    vkCmdCopyBufferToImage(cmd->cb, buf->buffer, (VkImage)image, want, 1, &region);
  barrier_after(cmd->cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT);
  *layout = (uint32_t)want;
  *stages = VK_PIPELINE_STAGE_TRANSFER_BIT;
  *access = to_buffer ? VK_ACCESS_TRANSFER_READ_BIT : VK_ACCESS_TRANSFER_WRITE_BIT;
  return TC_OK;
}

tc_status tc_cmd_end(tc_cmd *cmd, tc_error *err)
{
  if (!cmd->recording)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_cmd_end without tc_cmd_begin");
  /* The host reads results after the fence. */
  VkMemoryBarrier mb = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
    .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
  };
  vkCmdPipelineBarrier(cmd->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
  cmd->recording = false;
  tc_status st = tc_vk_check(vkEndCommandBuffer(cmd->cb), "vkEndCommandBuffer", err);
  cmd->recorded = st == TC_OK;
  return st;
}

tc_status tc_cmd_submit(tc_cmd *cmd, tc_error *err)
{
  if (!cmd->recorded || cmd->pending)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, cmd->pending ? "tc_cmd_submit: already submitted"
                                                                   : "tc_cmd_submit: nothing recorded");
  VkSubmitInfo info = {
    .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
    .commandBufferCount = 1,
    .pCommandBuffers = &cmd->cb,
  };
  pthread_mutex_lock(&cmd->ctx->lock);
  tc_status st = tc_vk_check(tc_context_queue_submit(cmd->ctx, &info, cmd->fence), "vkQueueSubmit", err);
  pthread_mutex_unlock(&cmd->ctx->lock);
  cmd->pending = st == TC_OK;
  return st;
}

static void read_timings(tc_cmd *cmd)
{
  uint32_t n = cmd->n_dispatches < MAX_TIMED_DISPATCHES ? cmd->n_dispatches : MAX_TIMED_DISPATCHES;
  cmd->n_timed = 0;
  if (!cmd->queries || n == 0)
    return;
  uint64_t *t = malloc(2 * n * sizeof *t);
  if (!t)
    return;
  if (vkGetQueryPoolResults(cmd->ctx->device, cmd->queries, 0, 2 * n, 2 * n * sizeof *t, t, sizeof *t,
                            VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) == VK_SUCCESS) {
    uint64_t mask = cmd->ctx->timestamp_bits >= 64 ? ~0ull : (1ull << cmd->ctx->timestamp_bits) - 1;
    double scale = cmd->ctx->timestamp_period_ns * 1e-6;
    for (uint32_t i = 0; i < n; i++)
      cmd->ms[i] = (double)(((t[2 * i + 1] - t[2 * i]) & mask)) * scale;
    cmd->total_ms = (double)(((t[2 * n - 1] - t[0]) & mask)) * scale;
    cmd->n_timed = n;
  }
  free(t);
}

/* TOKENCLIP_PROFILE=1: one line per distinct label, in order of first use. */
static void print_profile(const tc_cmd *cmd)
{
  bool *done = calloc(cmd->n_timed ? cmd->n_timed : 1, sizeof *done);
  if (!done)
    return;
  fprintf(stderr, "tokenclip profile (%s): %u dispatches, %.3f ms\n", cmd->ctx->device_name, cmd->n_timed,
          cmd->total_ms);
  for (uint32_t i = 0; i < cmd->n_timed; i++) {
    if (done[i])
      continue;
    double sum = 0;
    uint32_t count = 0;
    for (uint32_t j = i; j < cmd->n_timed; j++)
      if (!done[j] && strcmp(cmd->labels[i], cmd->labels[j]) == 0) {
        sum += cmd->ms[j];
        count++;
        done[j] = true;
      }
    fprintf(stderr, "  %-32s %5u x %9.3f ms = %9.3f ms\n", cmd->labels[i], count, sum / count, sum);
  }
  free(done);
}

tc_status tc_cmd_wait(tc_cmd *cmd, tc_error *err)
{
  if (!cmd->pending)
    return TC_OK;
  VkDevice dev = cmd->ctx->device;
  VkResult r = vkWaitForFences(dev, 1, &cmd->fence, VK_TRUE, TC_VK_WAIT_TIMEOUT_NS);
  if (r == VK_TIMEOUT)
    return tc_error_set(err, TC_ERR_DEVICE_LOST, "the device did not finish a submission within %llu s",
                        TC_VK_WAIT_TIMEOUT_NS / 1000000000ull);
  cmd->pending = false;
  tc_status st = tc_vk_check(r, "vkWaitForFences", err);
  if (st == TC_OK)
    st = tc_vk_check(vkResetFences(dev, 1, &cmd->fence), "vkResetFences", err);
  if (st == TC_OK && cmd->queries) {
    read_timings(cmd);
    if (cmd->ctx->profile_print)
      print_profile(cmd);
  }
  return st;
}

tc_status tc_cmd_run(tc_cmd *cmd, tc_error *err)
{
  tc_status st = tc_cmd_submit(cmd, err);
  return st == TC_OK ? tc_cmd_wait(cmd, err) : st;
}

uint32_t tc_cmd_timings(const tc_cmd *cmd, const char *const **labels, const double **ms)
{
  if (labels)
    *labels = (const char *const *)cmd->labels;
  if (ms)
    *ms = cmd->ms;
  return cmd->n_timed;
}

double tc_cmd_total_ms(const tc_cmd *cmd) { return cmd->total_ms; }
