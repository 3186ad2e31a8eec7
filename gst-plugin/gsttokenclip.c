/* GStreamer
 * Copyright (C) 2026 gst-tokenclip developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */

/**
 * SECTION:element-tokenclip
 * @title: tokenclip
 *
 * Finds anomalies in video with a CLIP ViT image encoder and a TokenCLIP head
 * (optimal-transport alignment of every visual token to textual subspaces),
 * run as Vulkan compute shaders, and blends a per-token anomaly heatmap into
 * the frames in place.
 *
 * Each analysed frame also gives an element message named `tokenclip` on the
 * bus (running-time, image-score, global-score, max-score, anomalous,
 * inference-ms, batch, map-width, map-height, iterations, converged, regions), and
 * buffers carry a #GstVideoRegionOfInterestMeta of type "anomaly" for every
 * connected region of the token grid whose scores reach #GstTokenClip:threshold
 * (its "anomaly" parameter structure holds max-score and mean-score). With
 * #GstTokenClip:attach-map the raw token scores travel as #GstTokenClipMeta.
 *
 * Frames in memory:VulkanBuffer or memory:VulkanImage (vulkanupload) are analysed on the
 * pipeline's Vulkan device, with no copy through host memory (sync mode).
 *
 * Elements with the same #GstTokenClip:model-instance-id (or, with
 * #GstTokenClip:share-model, the same model file and device) share one
 * loaded model: the weights, the encoder and its compiled kernels once per
 * process, for any number of streams; each element keeps its own head,
 * parameters and frames. #GstTokenClip:model-users tells how many use it.
 *
 * In `sync` mode every analysed frame waits for its own map. In `async` mode
 * video never waits: the newest frame is analysed on a thread of its own
 * while the frames flowing past get the latest finished map. The analysis is
 * libtokenclip's runner (tokenclip/tokenclip.h); this file is its glue.
 *
 * The textual subspaces come from a head file (#GstTokenClip:head), or are
 * computed once at start from words with CLIP's text tower
 * (#GstTokenClip:object, e.g. "screw", with the built-in photo templates or
 * the #GstTokenClip:prompts file): zero-shot, no trained head needed.
 *
 * A head file may also hold defaults of the analysis parameters (input-size,
 * vv-start, pos-interp, resample, feature-layers, global-ln-post, topk,
 * sinkhorn-eps, sinkhorn-iters, temperature, image-blend, blur-sigma): they
 * apply unless the property is set. An AnomalyCLIP head
 * (tokenclip-export-anomalyclip) so reproduces AnomalyCLIP's inference with
 * head= alone. Without such defaults the patch tokens come from the
 * value-value attention stream from layer round(L/4) of the model's L
 * (6 of ViT-L's 24, as AnomalyCLIP); vv-start=0 gives plain CLIP's tokens.
 *
 * Frames come in RGBA, BGRA, RGBx, BGRx, or straight from cameras and
 * decoders as NV12, I420 or YUY2 (BT.601 or BT.709 matrix, limited or full
 * range, as the caps' colorimetry says; unknown colorimetry gets GStreamer's
 * default for the size). YUV is read on the device and the heatmap is blended
 * in YUV, chroma at its own resolution: no videoconvert is needed, and the
 * frames leave in the format they came in.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 v4l2src ! \
 *     tokenclip model=clip-vit-base-patch16.safetensors head=screw.safetensors mode=async ! \
 *     autovideosink
 * ]| A live camera (YUY2 or NV12 as it gives them) with the heatmap of the latest analysed frame.
 * |[
 * gst-launch-1.0 -e filesrc location=in.mp4 ! decodebin ! \
 *     tokenclip model=clip.safetensors head=head.safetensors inference-interval=5 ! \
 *     videoconvert ! openh264enc ! h264parse ! mp4mux ! filesink location=out.mp4
 * ]| A file, decoded to NV12 or I420, every fifth frame analysed, the map kept on the frames between
 * (openh264enc takes I420 alone; x264enc takes the decoder's format as it is).
 * |[
 * gst-launch-1.0 v4l2src ! \
 *     tokenclip model=clip-vit-base-patch16.safetensors object="metal nut" mode=async ! \
 *     autovideosink
 * ]| Zero-shot: the subspaces from CLIP's text encoder and the word "metal nut".
 * |[
 * gst-launch-1.0 v4l2src ! \
 *     tokenclip model=clip-vit-large-patch14-336.safetensors head=anomalyclip-visa.safetensors mode=async ! \
 *     autovideosink
 * ]| AnomalyCLIP's inference (its input size, layers and map from the head file's defaults).
 * |[
 * gst-launch-1.0 compositor name=mosaic ! autovideosink \
 *     v4l2src device=/dev/video0 ! tokenclip model=clip.safetensors head=head.safetensors \
 *         model-instance-id=cams mode=async ! mosaic. \
 *     v4l2src device=/dev/video2 ! tokenclip model=clip.safetensors head=head.safetensors \
 *         model-instance-id=cams mode=async ! mosaic.
 * ]| Two cameras, one model loaded (#GstTokenClip:model-instance-id), each stream at its own rate.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gsttokenclip.h"
#include "gsttokenclipframe.h"
#include "gsttokenclipmeta.h"
#include "gsttokenclipprops.h"
#include "gsttokenclipshared.h"
#ifdef HAVE_GST_VULKAN
#include "gsttokenclipvulkan.h"
#include <gst/vulkan/vulkan.h>
#endif

GST_DEBUG_CATEGORY_STATIC (gst_tokenclip_debug);
#define GST_CAT_DEFAULT gst_tokenclip_debug

/* system memory first; memory:VulkanBuffer (vulkanupload's) where GstVulkan is built in */
#ifdef HAVE_GST_VULKAN
#define TOKENCLIP_CAPS GST_VIDEO_CAPS_MAKE (GST_TOKENCLIP_FORMATS) "; " \
    GST_VIDEO_CAPS_MAKE_WITH_FEATURES (GST_CAPS_FEATURE_MEMORY_VULKAN_BUFFER, GST_TOKENCLIP_FORMATS) "; " \
    GST_VIDEO_CAPS_MAKE_WITH_FEATURES (GST_CAPS_FEATURE_MEMORY_VULKAN_IMAGE, GST_TOKENCLIP_IMAGE_FORMATS)
#else
#define TOKENCLIP_CAPS GST_VIDEO_CAPS_MAKE (GST_TOKENCLIP_FORMATS)
#endif

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (TOKENCLIP_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (TOKENCLIP_CAPS));

#define gst_tokenclip_parent_class parent_class
G_DEFINE_TYPE (GstTokenClip, gst_tokenclip, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (tokenclip, "tokenclip", GST_RANK_NONE, GST_TYPE_TOKENCLIP,
    GST_DEBUG_CATEGORY_INIT (gst_tokenclip_debug, "tokenclip", 0, "TokenCLIP anomaly heatmap"));

/* ---- errors ----------------------------------------------------------------- */

/* Posts an ERROR naming the cause; the domain follows the library status:
 * a file (RESOURCE OPEN_READ), a setting or input (RESOURCE SETTINGS), a
 * non-finite result (STREAM FAILED), the device (LIBRARY FAILED). */
static void
post_error (GstTokenClip * self, const tc_error * err, const gchar * what)
{
  GQuark domain = GST_RESOURCE_ERROR;
  gint code = GST_RESOURCE_ERROR_SETTINGS;

  if (err->status == TC_ERR_IO)
    code = GST_RESOURCE_ERROR_OPEN_READ;
  else if (err->status == TC_ERR_NUMERIC)
    domain = GST_STREAM_ERROR, code = GST_STREAM_ERROR_FAILED;
  else if (err->status != TC_ERR_INVALID_ARGUMENT && err->status != TC_ERR_MISMATCH &&
      err->status != TC_ERR_FORMAT && err->status != TC_ERR_UNSUPPORTED)
    domain = GST_LIBRARY_ERROR, code = GST_LIBRARY_ERROR_FAILED;
  gchar *said = gst_tokenclip_props_message (G_OBJECT (self), err->message);

  gst_element_message_full (GST_ELEMENT (self), GST_MESSAGE_ERROR, domain, code,
      g_strdup_printf ("%s: %s", what, said), g_strdup_printf ("status: %s", tc_status_name (err->status)),
      __FILE__, GST_FUNCTION, __LINE__);
  g_free (said);
}

/* ---- results: messages and metas ------------------------------------------ */

/* Each finished analysis, on the thread that ran it: a message on the bus. */
static void
on_analysis (gpointer user, const tc_analysis * a)
{
  GstTokenClip *self = user;
  GstStructure *s;

  GST_LOG_OBJECT (self, "image score %.4f, max %.4f, %.1f ms, %u iterations", a->image_score, a->max_score,
      a->inference_ms, a->iterations);
  s = gst_structure_new ("tokenclip",
      "running-time", G_TYPE_UINT64, (guint64) a->timestamp,
      "image-score", G_TYPE_DOUBLE, (gdouble) a->image_score,
      "global-score", G_TYPE_DOUBLE, (gdouble) a->global_score,
      "max-score", G_TYPE_DOUBLE, (gdouble) a->max_score,
      "anomalous", G_TYPE_BOOLEAN, a->anomalous != 0,
      "inference-ms", G_TYPE_DOUBLE, a->inference_ms,
      "batch", G_TYPE_UINT, a->batch,
      "map-width", G_TYPE_UINT, a->grid,
      "map-height", G_TYPE_UINT, a->grid,
      "iterations", G_TYPE_UINT, a->iterations,
      "converged", G_TYPE_BOOLEAN, a->converged != 0,
      "regions", G_TYPE_UINT, a->regions, NULL);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

/* The latest analysis on a buffer: its regions as ROI metas, its scores. */
static void
attach_metas (GstTokenClip * self, GstBuffer * buf, const tc_analysis * a)
{
  gboolean attach_map;
  guint i;

  GST_OBJECT_LOCK (self);
  attach_map = self->attach_map;
  GST_OBJECT_UNLOCK (self);

  for (i = 0; i < a->n_regions; i++) {
    const tc_region *r = &a->region[i];
    GstVideoRegionOfInterestMeta *roi =
        gst_buffer_add_video_region_of_interest_meta (buf, "anomaly", r->x, r->y, r->w, r->h);

    gst_video_region_of_interest_meta_add_param (roi, gst_structure_new ("anomaly",
            "max-score", G_TYPE_DOUBLE, (gdouble) r->max_score,
            "mean-score", G_TYPE_DOUBLE, (gdouble) r->mean_score,
            "cells", G_TYPE_UINT, r->cells,
            "running-time", G_TYPE_UINT64, (guint64) a->timestamp, NULL));
  }
  if (attach_map)
    gst_buffer_add_tokenclip_meta (buf, a->grid, a->grid, a->scores, a->image_score, a->timestamp);
}

/* ---- GstBaseTransform / GstVideoFilter ------------------------------------- */

#define NONEMPTY(s) ((s) && *(s) ? (s) : NULL)

/* The name of the shared model the element uses (g_free), NULL: none. By id,
 * or by model file and device. */
static gchar *
shared_model_name (GstTokenClip * self)
{
  if (NONEMPTY (self->model_instance_id))
    return g_strdup (self->model_instance_id);
  if (self->share_model && NONEMPTY (self->model))
    return g_strdup_printf ("%s on device %s", self->model, NONEMPTY (self->device) ? self->device : "default");
  return NULL;
}

/* The runner for the element's properties; on the caller's Vulkan device
 * when vd is given (memory:VulkanBuffer frames), else on the library's own. */
static gboolean
start_runner (GstTokenClip * self, const tc_vulkan_device * vd)
{
  tc_detector_options opts;
  tc_runner_options ropts;
  tc_runner *runner = NULL;
  tc_error err = { 0 };
  gboolean ok = FALSE;

  gchar *shared_name = NULL;

  GST_OBJECT_LOCK (self);
  tc_detector_options_init (&opts);
  opts.params = self->params;
  tc_runner_options_init (&ropts);
  ropts.mode = (tc_runner_mode) self->mode;
  ropts.on_analysis = on_analysis;
  ropts.user = self;
  /* from here on, model and the other strings are fixed: they are read without the lock */
  self->running = TRUE;
  GST_OBJECT_UNLOCK (self);

  opts.model_path = NONEMPTY (self->model);
  opts.head_path = NONEMPTY (self->head);
  opts.object = NONEMPTY (self->object);
  opts.prompts_path = NONEMPTY (self->prompts);
  opts.vocab_path = NONEMPTY (self->vocab);
  opts.device = NONEMPTY (self->device);
  opts.vulkan_device = vd;
  if (!opts.model_path) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("No model: set the model property to a CLIP safetensors file"),
        (NULL));
  } else if (!opts.head_path && !opts.object) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No head: set the head property to a head file, or object to a word for zero-shot subspaces"), (NULL));
  } else if (opts.head_path && opts.object) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("Both head (%s) and object (%s) are set: the subspaces come "
            "from one of them", opts.head_path, opts.object), (NULL));
  } else {
    if (opts.head_path && (opts.prompts_path || opts.vocab_path))
      GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS, ("%s is set with head: it applies to object alone, and is ignored",
              opts.prompts_path ? "prompts" : "vocab"), ("prompts %s, vocab %s", GST_STR_NULL (opts.prompts_path),
              GST_STR_NULL (opts.vocab_path)));
    shared_name = shared_model_name (self);
    opts.batch_size = self->batch_size; /* a shared model's */
    opts.batch_timeout_us = self->batch_timeout;
    if (shared_name && vd) {
      /* the elements of the id with memory:VulkanBuffer frames share a model on the pipeline's device */
      gchar *on_device = g_strdup_printf ("%s (memory:VulkanBuffer, device %p)", shared_name, vd->device);
      g_free (shared_name);
      shared_name = on_device;
    }
    if (shared_name && !(opts.model = gst_tokenclip_shared_acquire (shared_name, &opts, &err))) {
      post_error (self, &err, "Could not load the shared model");
      g_clear_pointer (&shared_name, g_free);
    } else if (!(ok = tc_runner_create (&opts, &ropts, &runner, &err) == TC_OK)) {
      post_error (self, &err, "Could not start");
    }
    if (shared_name && !ok) {
      gst_tokenclip_shared_release (shared_name);
      g_clear_pointer (&shared_name, g_free);
    }
  }

  GST_OBJECT_LOCK (self);
  self->running = ok;
  self->runner = runner;
  self->shared_name = shared_name;
  if (ok) {
    const tc_detector *det = tc_runner_detector (runner);

    GST_INFO_OBJECT (self, "model %s on %s: %ux%u input, %ux%u tokens, %u subspaces%s%s%s", opts.model_path,
        tc_detector_device_name (det), tc_detector_input_size (det), tc_detector_input_size (det),
        tc_detector_grid (det), tc_detector_grid (det), tc_detector_subspaces (det),
        shared_name ? " (shared: '" : "", shared_name ? shared_name : "", shared_name ? "')" : "");
    g_free (self->device_name);
    self->device_name = vd ? g_strdup_printf ("%s (the pipeline's, for memory:VulkanBuffer frames)",
        tc_detector_device_name (det)) : g_strdup (tc_detector_device_name (det));
    /* a change made while the runner was being created */
    if (tc_runner_set_params (runner, &self->params, &err) != TC_OK)
      self->params = opts.params;
  }
  GST_OBJECT_UNLOCK (self);
  return ok;
}

static gboolean
gst_tokenclip_start (GstBaseTransform * trans)
{
  return start_runner (GST_TOKENCLIP (trans), NULL);
}

static gboolean
gst_tokenclip_stop (GstBaseTransform * trans)
{
  GstTokenClip *self = GST_TOKENCLIP (trans);
  tc_runner *runner;
  gchar *shared_name;

  GST_OBJECT_LOCK (self);
  runner = self->runner;
  shared_name = self->shared_name;
  self->shared_name = NULL;
  self->runner = NULL;
  self->running = FALSE;
  g_free (self->device_name);
  self->device_name = NULL;
  GST_OBJECT_UNLOCK (self);
  /* not under the lock: the runner's thread may be posting a message */
  tc_runner_destroy (runner);
  if (shared_name)
    gst_tokenclip_shared_release (shared_name);
  g_free (shared_name);
  g_clear_pointer (&self->repack, g_free);
  gst_caps_replace (&self->refused_caps, NULL);
#ifdef HAVE_GST_VULKAN
  g_clear_pointer (&self->vulkan, gst_tokenclip_vulkan_free);       /* after the runner that used it */
#endif
  return TRUE;
}

/* EOS in async mode waits for the analysis in progress (and reports it, or
 * its error). A flush (seek) starts over: nothing from before it is drawn on
 * the frames after, and the interval restarts. */
static gboolean
gst_tokenclip_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstTokenClip *self = GST_TOKENCLIP (trans);
  tc_error err = { 0 };

  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS && self->runner && tc_runner_drain (self->runner, &err) != TC_OK) {
    post_error (self, &err, "Analysis failed");
    gst_event_unref (event);
    return FALSE;
  }
  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP && self->runner)
    tc_runner_flush (self->runner);
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

/* memory:VulkanBuffer frames are analysed on the device they live on: the
 * runner moves there (the model is loaded again, on that device) and back to
 * the library's own device for system memory. */
static gboolean
follow_memory (GstTokenClip * self, GstCaps * caps)
{
#ifdef HAVE_GST_VULKAN
  GstCapsFeatures *features = gst_caps_get_features (caps, 0);
  gboolean vulkan = gst_caps_features_contains (features, GST_CAPS_FEATURE_MEMORY_VULKAN_BUFFER) ||
      gst_caps_features_contains (features, GST_CAPS_FEATURE_MEMORY_VULKAN_IMAGE);
  GstTokenClipVulkan *vk = NULL;
  const gchar *why = NULL;

  if (vulkan == (self->vulkan != NULL))
    return TRUE;
  if (vulkan && !gst_tokenclip_vulkan_open (GST_ELEMENT (self), &vk, &why)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("memory:VulkanBuffer frames: %s", why), (NULL));
    return FALSE;
  }
  GST_INFO_OBJECT (self, "frames in %s: the analysis moves to %s", vulkan ? "memory:VulkanBuffer" : "system memory",
      vulkan ? "the pipeline's Vulkan device" : "its own device");
  gst_tokenclip_stop (GST_BASE_TRANSFORM (self));
  self->vulkan = vk;
  return start_runner (self, vk ? gst_tokenclip_vulkan_device (vk) : NULL);
#else
  (void) self, (void) caps;
  return TRUE;
#endif
}

static gboolean
gst_tokenclip_set_info (GstVideoFilter * filter, GstCaps * incaps, GstVideoInfo * in_info,
    GstCaps * outcaps, GstVideoInfo * out_info)
{
  GstTokenClip *self = GST_TOKENCLIP (filter);
  tc_frame frame;
  gchar *why = NULL;
  tc_error err = { 0 };

  if (!gst_tokenclip_frame_from_info (in_info, &frame, &why)) {
    if (!self->refused_caps || !gst_caps_is_equal (incaps, self->refused_caps)) {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("%s", why), (NULL));
      gst_caps_replace (&self->refused_caps, incaps);
    }
    g_free (why);
    return FALSE;
  }
  if (!self->runner) {
    /* start() runs before any caps: no runner here means moving it to another
     * device failed (follow_memory), and that error is on the bus already */
    GST_DEBUG_OBJECT (self, "no runner since a failed start: caps refused");
    return FALSE;
  }
  if (!follow_memory (self, incaps))
    return FALSE;
  self->info = *in_info;
  /* the kernels that depend on the layout are compiled here, before the first frame */
  if (tc_runner_set_frame (self->runner, &frame, &err) != TC_OK) {
    post_error (self, &err, "Could not prepare for the frames");
    return FALSE;
  }
  self->layout = frame;
  g_clear_pointer (&self->repack, g_free);
  GST_DEBUG_OBJECT (self, "frames %s %ux%u%s", tc_frame_format_name (frame.format), frame.width, frame.height,
      GST_VIDEO_INFO_IS_YUV (in_info) ? (frame.matrix == TC_YUV_BT709 ? " BT.709" : " BT.601") : "");
  return TRUE;
}

/* The runner analyses the frame (sync) or leaves it for its thread (async),
 * and blends in the latest map; the latest analysis goes on the buffer. */
static GstFlowReturn
gst_tokenclip_transform_frame_ip (GstVideoFilter * filter, GstVideoFrame * vframe)
{
  GstTokenClip *self = GST_TOKENCLIP (filter);
  GstSegment *segment = &GST_BASE_TRANSFORM (filter)->segment;
  GstClockTime running_time = segment->format == GST_FORMAT_TIME ?
      gst_segment_to_running_time (segment, GST_FORMAT_TIME, GST_BUFFER_PTS (vframe->buffer)) : GST_CLOCK_TIME_NONE;
  const tc_analysis *latest;
  tc_error err = { 0 };
  /* planes not in one block (see gst_tokenclip_frame_in_layout): packed around the call, a copy each way */
  gboolean pack = !gst_tokenclip_frame_in_layout (vframe, &self->layout);
  guint8 *pixels = GST_VIDEO_FRAME_PLANE_DATA (vframe, 0);
  gsize stride = GST_VIDEO_FRAME_PLANE_STRIDE (vframe, 0);
  tc_status st;

  if (pack) {
    if (!self->repack) {
      self->repack = g_malloc (tc_frame_bytes (&self->layout));
      GST_DEBUG_OBJECT (self, "planes not in one block: packed around each call");
    }
    gst_tokenclip_frame_pack (vframe, &self->layout, self->repack, TRUE);
    pixels = self->repack, stride = self->layout.stride;
  }
  st = tc_runner_submit (self->runner, pixels, stride, running_time, &latest, &err);
  if (pack)
    gst_tokenclip_frame_pack (vframe, &self->layout, self->repack, FALSE);
  if (st != TC_OK) {
    post_error (self, &err, "Analysis failed");
    return GST_FLOW_ERROR;
  }
  if (latest)
    attach_metas (self, vframe->buffer, latest);
  return GST_FLOW_OK;
}

#ifdef HAVE_GST_VULKAN
/* Elements sharing a model offer upstream one Vulkan device (see
 * gst_tokenclip_vulkan_answer_context), so memory:VulkanBuffer streams
 * land on one device and share the model there too. */
static gboolean
gst_tokenclip_query (GstBaseTransform * trans, GstPadDirection direction, GstQuery * query)
{
  GstTokenClip *self = GST_TOKENCLIP (trans);

  if (GST_QUERY_TYPE (query) == GST_QUERY_CONTEXT) {
    gchar *name;
    gboolean answered;

    GST_OBJECT_LOCK (self);
    name = shared_model_name (self);
    GST_OBJECT_UNLOCK (self);
    answered = name && gst_tokenclip_vulkan_answer_context (GST_ELEMENT (self), name, query);
    g_free (name);
    if (answered)
      return TRUE;
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->query (trans, direction, query);
}

/* memory:VulkanBuffer: the planes' VkBuffers go to the runner as they are
 * (copied on the device, analysed, blended, copied back); system memory goes
 * through GstVideoFilter's mapping to transform_frame_ip. */
static GstFlowReturn
gst_tokenclip_transform_ip (GstBaseTransform * trans, GstBuffer * buf)
{
  GstTokenClip *self = GST_TOKENCLIP (trans);
  GstClockTime running_time;
  tc_device_plane planes[3];
  guint n = 0;
  const tc_analysis *latest;
  tc_error err = { 0 };
  tc_status st;

  if (!self->vulkan)
    return GST_BASE_TRANSFORM_CLASS (parent_class)->transform_ip (trans, buf);
  if (!gst_tokenclip_vulkan_planes (self->vulkan, buf, &self->info, planes, &n)) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("A Vulkan memory frame whose planes are not Vulkan buffers or images "
            "of the pipeline's device"), (NULL));
    return GST_FLOW_ERROR;
  }
  running_time = trans->segment.format == GST_FORMAT_TIME ?
      gst_segment_to_running_time (&trans->segment, GST_FORMAT_TIME, GST_BUFFER_PTS (buf)) : GST_CLOCK_TIME_NONE;
  st = tc_runner_submit_device (self->runner, planes, n, running_time, &latest, &err);
  gst_tokenclip_vulkan_planes_done (buf, planes, n);   /* the images' layouts, as the copies left them */
  if (st != TC_OK) {
    post_error (self, &err, "Analysis failed");
    return GST_FLOW_ERROR;
  }
  if (latest)
    attach_metas (self, buf, latest);
  return GST_FLOW_OK;
}
#endif

/* ---- properties ------------------------------------------------------------- */

/* A parameter property: into self->params, and while running to the
 * runner, which checks it; a value refused leaves the property as it was.
 * The refusal is a warning message on the bus, or where the element has no
 * bus yet (gst-launch sets properties before it builds the pipeline) a GLib
 * warning on stderr, as GLib gives for a value out of the property's range. */
static void
set_param (GstTokenClip * self, gint i, const GValue * value, const GParamSpec * pspec)
{
  GstBus *bus;
  gchar *said;
  tc_params p;
  tc_error err = { 0 };
  tc_status st = TC_OK;

  GST_OBJECT_LOCK (self);
  p = self->params;
  if (!gst_tokenclip_param_store (&p, i, value, &err))
    st = err.status ? err.status : TC_ERR_INVALID_ARGUMENT;
  if (st == TC_OK && self->runner)
    st = tc_runner_set_params (self->runner, &p, &err);
  if (st == TC_OK)
    self->params = p;
  GST_OBJECT_UNLOCK (self);
  if (st == TC_OK)
    return;
  said = gst_tokenclip_props_message (G_OBJECT (self), err.message);
  bus = gst_element_get_bus (GST_ELEMENT (self));
  if (bus)
    GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS, ("Property %s not changed: %s", pspec->name, said),
        ("the previous value stays in effect"));
  else
    g_warning ("%s: property %s not changed: %s", GST_OBJECT_NAME (self), pspec->name, said);
  g_clear_object (&bus);
  g_free (said);
}

static void
gst_tokenclip_set_property (GObject * object, guint prop_id, const GValue * value, GParamSpec * pspec)
{
  GstTokenClip *self = GST_TOKENCLIP (object);
  gchar **str = gst_tokenclip_string_prop (self, prop_id);
  gint i = gst_tokenclip_param_prop (prop_id);

  if (i >= 0) {
    set_param (self, i, value, pspec);
    return;
  }
  GST_OBJECT_LOCK (self);
  if (self->running && prop_id != PROP_ATTACH_MAP) {
    /* fixed while running; checked and stored under one lock, so start cannot slip between */
    GST_OBJECT_UNLOCK (self);
    GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS, ("Cannot change %s while running", pspec->name),
        ("set the element to READY or NULL first; the change was ignored"));
    return;
  }
  if (str) {
    g_free (*str);
    *str = g_value_dup_string (value);
  } else if (prop_id == PROP_MODE) {
    self->mode = g_value_get_enum (value);
  } else if (prop_id == PROP_ATTACH_MAP) {
    self->attach_map = g_value_get_boolean (value);
  } else if (prop_id == PROP_SHARE_MODEL) {
    self->share_model = g_value_get_boolean (value);
  } else if (prop_id == PROP_BATCH_SIZE) {
    self->batch_size = g_value_get_uint (value);
  } else if (prop_id == PROP_BATCH_TIMEOUT) {
    self->batch_timeout = g_value_get_uint (value);
  } else {
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_tokenclip_get_property (GObject * object, guint prop_id, GValue * value, GParamSpec * pspec)
{
  GstTokenClip *self = GST_TOKENCLIP (object);
  gchar **str = gst_tokenclip_string_prop (self, prop_id);
  gint i = gst_tokenclip_param_prop (prop_id);

  GST_OBJECT_LOCK (self);
  if (i >= 0) {
    gst_tokenclip_param_load (&self->params, i, value);
  } else if (str) {
    g_value_set_string (value, *str);
  } else if (prop_id == PROP_MODE) {
    g_value_set_enum (value, self->mode);
  } else if (prop_id == PROP_ATTACH_MAP) {
    g_value_set_boolean (value, self->attach_map);
  } else if (prop_id == PROP_SHARE_MODEL) {
    g_value_set_boolean (value, self->share_model);
  } else if (prop_id == PROP_BATCH_SIZE) {
    g_value_set_uint (value, self->batch_size);
  } else if (prop_id == PROP_BATCH_TIMEOUT) {
    g_value_set_uint (value, self->batch_timeout);
  } else if (prop_id == PROP_MODEL_USERS) {
    g_value_set_uint (value, self->shared_name ? gst_tokenclip_shared_users (self->shared_name) :
        (guint) self->running);
  } else {
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_tokenclip_finalize (GObject * object)
{
  gst_tokenclip_free_strings (GST_TOKENCLIP (object));
  gst_caps_replace (&GST_TOKENCLIP (object)->refused_caps, NULL);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_tokenclip_class_init (GstTokenClipClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *filter_class = GST_VIDEO_FILTER_CLASS (klass);

  gobject_class->set_property = gst_tokenclip_set_property;
  gobject_class->get_property = gst_tokenclip_get_property;
  gobject_class->finalize = gst_tokenclip_finalize;

  gst_tokenclip_install_properties (gobject_class);

  gst_element_class_set_static_metadata (element_class, "TokenCLIP anomaly heatmap", "Filter/Analyzer/Video",
      "Finds anomalies with CLIP and optimal-transport token alignment (Vulkan) and overlays a heatmap",
      "gst-tokenclip developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  trans_class->start = GST_DEBUG_FUNCPTR (gst_tokenclip_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_tokenclip_stop);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_tokenclip_sink_event);
  filter_class->set_info = GST_DEBUG_FUNCPTR (gst_tokenclip_set_info);
  filter_class->transform_frame_ip = GST_DEBUG_FUNCPTR (gst_tokenclip_transform_frame_ip);
#ifdef HAVE_GST_VULKAN
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_tokenclip_transform_ip);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_tokenclip_query);
#endif
}

/* The properties' defaults, as parameters: the library's, but for the
 * element's own (fixed colours, Sinkhorn from the previous frame). */
static void
gst_tokenclip_init (GstTokenClip * self)
{
  tc_params_init (&self->params);
  tc_params_set (&self->params, TC_PARAM_FIXED_RANGE, DEFAULT_NORMALIZE, NULL);
  /* consecutive frames are alike: start Sinkhorn from the last potentials */
  tc_params_set (&self->params, TC_PARAM_SINKHORN_WARM_START, 1, NULL);
  self->mode = DEFAULT_MODE;
  self->attach_map = DEFAULT_ATTACH_MAP;
  self->share_model = DEFAULT_SHARE_MODEL;
  self->batch_size = DEFAULT_BATCH_SIZE;
  self->batch_timeout = DEFAULT_BATCH_TIMEOUT;
  /* every frame is written in place */
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
}
