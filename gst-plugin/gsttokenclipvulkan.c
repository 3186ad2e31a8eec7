/* GStreamer
 * Copyright (C) 2026 gst-tokenclip developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */

/* memory:VulkanBuffer frames (gsttokenclipvulkan.h). */
#include "gsttokenclipvulkan.h"

#include <gst/vulkan/vulkan.h>

struct _GstTokenClipVulkan
{
  GstVulkanDevice *device;
  GstVulkanQueue *queue;        /* with compute; its submit lock guards every submission */
  tc_vulkan_device handles;
};

static void
lock_queue (gpointer user)
{
  gst_vulkan_queue_submit_lock (user);
}

static void
unlock_queue (gpointer user)
{
  gst_vulkan_queue_submit_unlock (user);
}

static gboolean
find_compute_queue (GstVulkanDevice * device, GstVulkanQueue * queue, gpointer user)
{
  GstVulkanQueue **found = user;
  const VkQueueFamilyProperties *props = &device->physical_device->queue_family_props[queue->family];

  if (props->queueFlags & VK_QUEUE_COMPUTE_BIT) {
    *found = gst_object_ref (queue);
    return FALSE;               /* stop */
  }
  return TRUE;
}

gboolean
gst_tokenclip_vulkan_open (GstElement * element, GstTokenClipVulkan ** out, const gchar ** why)
{
  GstVulkanDevice *device = NULL;
  GstVulkanQueue *queue = NULL;
  GstTokenClipVulkan *vk;

  *out = NULL;
  if (!gst_vulkan_device_run_context_query (element, &device) || !device) {
    *why = "no Vulkan device in the pipeline (memory:VulkanBuffer without vulkanupload?)";
    return FALSE;
  }
  gst_vulkan_device_foreach_queue (device, find_compute_queue, &queue);
  if (!queue) {
    gst_object_unref (device);
    *why = "the pipeline's Vulkan device has no compute queue";
    return FALSE;
  }
  vk = g_new0 (GstTokenClipVulkan, 1);
  vk->device = device;
  vk->queue = queue;
  vk->handles = (tc_vulkan_device) {
    .instance = device->instance->instance,
    .physical_device = device->physical_device->device,
    .device = device->device,
    .queue = queue->queue,
    .queue_family = queue->family,
    .lock_queue = lock_queue,
    .unlock_queue = unlock_queue,
    .user = queue,
  };
  *out = vk;
  return TRUE;
}

void
gst_tokenclip_vulkan_free (GstTokenClipVulkan * vk)
{
  if (!vk)
    return;
  gst_object_unref (vk->queue);
  gst_object_unref (vk->device);
  g_free (vk);
}

const tc_vulkan_device *
gst_tokenclip_vulkan_device (GstTokenClipVulkan * vk)
{
  return &vk->handles;
}

gboolean
gst_tokenclip_vulkan_answer_context (GstElement * element, const gchar * name, GstQuery * query)
{
  static GMutex lock;
  static GHashTable *devices;   /* name -> GstVulkanDevice (its instance with it) */
  const gchar *type = NULL;
  GstVulkanDevice *device;
  gboolean answered;

  if (!gst_query_parse_context_type (query, &type) || (g_strcmp0 (type, GST_VULKAN_DEVICE_CONTEXT_TYPE_STR) != 0
          && g_strcmp0 (type, GST_VULKAN_INSTANCE_CONTEXT_TYPE_STR) != 0))
    return FALSE;
  g_mutex_lock (&lock);
  if (!devices)
    devices = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, gst_object_unref);
  device = g_hash_table_lookup (devices, name);
  if (!device) {
    GstVulkanInstance *instance = gst_vulkan_instance_new ();
    GError *error = NULL;

    if (gst_vulkan_instance_open (instance, &error))
      device = gst_vulkan_device_new_with_index (instance, 0);
    if (device && !gst_vulkan_device_open (device, &error))
      gst_clear_object (&device);
    if (device)
      g_hash_table_insert (devices, g_strdup (name), device);
    else
      GST_WARNING_OBJECT (element, "no Vulkan device to share: %s", error ? error->message : "?");
    g_clear_error (&error);
    gst_object_unref (instance);
  }
  answered = device && gst_vulkan_handle_context_query (element, query, NULL, device->instance, device);
  g_mutex_unlock (&lock);
  return answered;
}

/* Plane p at the video meta's offset (else the info's): the memory holding
 * it and the offset inside that memory's VkBuffer. */
/* memory:VulkanImage: a memory (an image) per plane, in order; its barrier
 * state goes to the library and comes back after (planes_done). */
static gboolean
image_planes (GstTokenClipVulkan * vk, GstBuffer * buf, guint n, tc_device_plane planes[3])
{
  guint p;

  if (gst_buffer_n_memory (buf) != n)
    return FALSE;
  for (p = 0; p < n; p++) {
    GstMemory *mem = gst_buffer_peek_memory (buf, p);
    GstVulkanImageMemory *img;

    if (!gst_is_vulkan_image_memory (mem))
      return FALSE;
    img = (GstVulkanImageMemory *) mem;
    if (img->device->device != vk->device->device)
      return FALSE;
    planes[p] = (tc_device_plane) {
    .image = (void *) (guintptr) img->image,.image_layout = img->barrier.image_layout,
          .image_stages = img->barrier.parent.pipeline_stages,.image_access = img->barrier.parent.access_flags};
  }
  return TRUE;
}

void
gst_tokenclip_vulkan_planes_done (GstBuffer * buf, const tc_device_plane * planes, guint n_planes)
{
  guint p;

  for (p = 0; p < n_planes; p++) {
    GstVulkanImageMemory *img;

    if (!planes[p].image)
      continue;
    img = (GstVulkanImageMemory *) gst_buffer_peek_memory (buf, p);
    img->barrier.image_layout = planes[p].image_layout;
    img->barrier.parent.pipeline_stages = planes[p].image_stages;
    img->barrier.parent.access_flags = planes[p].image_access;
  }
}

gboolean
gst_tokenclip_vulkan_planes (GstTokenClipVulkan * vk, GstBuffer * buf, const GstVideoInfo * info,
    tc_device_plane planes[3], guint * n_planes)
{
  GstVideoMeta *meta = gst_buffer_get_video_meta (buf);
  guint p, n = GST_VIDEO_INFO_N_PLANES (info);

  *n_planes = n;
  if (gst_buffer_n_memory (buf) > 0 && gst_is_vulkan_image_memory (gst_buffer_peek_memory (buf, 0)))
    return image_planes (vk, buf, n, planes);
  for (p = 0; p < n; p++) {
    gsize offset = meta ? meta->offset[p] : GST_VIDEO_INFO_PLANE_OFFSET (info, p), skip = 0;
    gint stride = meta ? meta->stride[p] : GST_VIDEO_INFO_PLANE_STRIDE (info, p);
    guint idx, len;
    GstMemory *mem;
    GstVulkanBufferMemory *vmem;

    if (!gst_buffer_find_memory (buf, offset, 1, &idx, &len, &skip))
      return FALSE;
    mem = gst_buffer_peek_memory (buf, idx);
    if (!gst_is_vulkan_buffer_memory (mem))
      return FALSE;
    vmem = (GstVulkanBufferMemory *) mem;
    if (vmem->device->device != vk->device->device)
      return FALSE;
    planes[p] = (tc_device_plane) {
    .buffer = (void *) (guintptr) vmem->buffer,.offset = mem->offset + skip,.stride = (guint32) stride};
  }
  return TRUE;
}
