/* One-shot recordings on the context's transfer pool: the staging copies of
 * buffers that are not host-visible. Apart from tc_cmd so that buffers need
 * only the context (tc_cmd binds buffers, buffers do not record commands). */
#include "tc_vk_internal.h"

tc_status tc_vk_run_once(tc_context *ctx, tc_record_fn record, void *user, tc_error *err)
{
  VkDevice dev = ctx->device;
  pthread_mutex_lock(&ctx->lock);
  VkCommandBuffer cb = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  VkCommandBufferAllocateInfo alloc = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
    .commandPool = ctx->transfer_pool,
    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
    .commandBufferCount = 1,
  };
  tc_status st = tc_vk_check(vkAllocateCommandBuffers(dev, &alloc, &cb), "vkAllocateCommandBuffers", err);
  if (st == TC_OK) {
    VkFenceCreateInfo fi = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
    st = tc_vk_check(vkCreateFence(dev, &fi, NULL, &fence), "vkCreateFence", err);
  }
  if (st == TC_OK) {
    VkCommandBufferBeginInfo begin = {
      .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
      .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
    };
    vkBeginCommandBuffer(cb, &begin);
    record(cb, user);
    VkMemoryBarrier mb = {
      .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
      .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
      .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT,
    };
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0,
                         NULL);
    st = tc_vk_check(vkEndCommandBuffer(cb), "vkEndCommandBuffer", err);
  }
  if (st == TC_OK) {
    VkSubmitInfo info = { .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cb };
    st = tc_vk_check(tc_context_queue_submit(ctx, &info, fence), "vkQueueSubmit", err);
  }
  if (st == TC_OK)
    st = tc_vk_check(vkWaitForFences(dev, 1, &fence, VK_TRUE, TC_VK_WAIT_TIMEOUT_NS), "vkWaitForFences", err);
  if (fence)
    vkDestroyFence(dev, fence, NULL);
  if (cb)
    vkFreeCommandBuffers(dev, ctx->transfer_pool, 1, &cb);
  pthread_mutex_unlock(&ctx->lock);
  return st;
}
