/* GStreamer
 * Copyright (C) 2026 gst-tokenclip developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */

/* memory:VulkanBuffer frames (GStreamer's vulkanupload): the GstVulkanDevice
 * they live on, handed to libtokenclip as a tc_vulkan_device, and each
 * buffer's planes as tc_device_planes. The analysis then runs on that device
 * and the frames never pass through host memory. */
#ifndef GST_TOKENCLIP_VULKAN_H
#define GST_TOKENCLIP_VULKAN_H

#include <gst/gst.h>
#include <gst/video/video.h>
#include <tokenclip/tokenclip.h>

G_BEGIN_DECLS

typedef struct _GstTokenClipVulkan GstTokenClipVulkan;

/* The Vulkan device of the pipeline (a context query from `element`: the
 * upstream vulkanupload's), with a compute queue; NULL and FALSE when there
 * is none or it has no compute queue (why in *why, static). */
gboolean gst_tokenclip_vulkan_open (GstElement * element, GstTokenClipVulkan ** out, const gchar ** why);
void gst_tokenclip_vulkan_free (GstTokenClipVulkan * vk);

/* The device for libtokenclip (valid while vk lives). */
const tc_vulkan_device *gst_tokenclip_vulkan_device (GstTokenClipVulkan * vk);

/* The planes of a memory:VulkanBuffer or memory:VulkanImage buffer
 * (n_planes of info's format); FALSE when a plane is not in Vulkan memory of
 * vk's device. After the library used them, planes_done records the images'
 * new layout and access on their memories (GStreamer's barrier state). */
gboolean gst_tokenclip_vulkan_planes (GstTokenClipVulkan * vk, GstBuffer * buf, const GstVideoInfo * info,
    tc_device_plane planes[3], guint * n_planes);
void gst_tokenclip_vulkan_planes_done (GstBuffer * buf, const tc_device_plane * planes, guint n_planes);

/* Elements sharing a model offer upstream (vulkanupload) one Vulkan instance
 * and device per shared-model name, so that their streams' frames land on one
 * device and one model serves them: answers a context query for
 * gst.vulkan.instance or gst.vulkan.device; FALSE for other queries or when
 * the device cannot be opened. The devices live as long as the process. */
gboolean gst_tokenclip_vulkan_answer_context (GstElement * element, const gchar * name, GstQuery * query);

G_END_DECLS

#endif
