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
 * inference-ms, map-width, map-height, iterations, converged, regions), and
 * buffers carry a #GstVideoRegionOfInterestMeta of type "anomaly" for every
 * connected region of the token grid whose scores reach #GstTokenClip:threshold
 * (its "anomaly" parameter structure holds max-score and mean-score). With
 * #GstTokenClip:attach-map the raw token scores travel as #GstTokenClipMeta.
 *
 * In `sync` mode every analysed frame waits for its own map. In `async` mode
 * video never waits: the newest frame is analysed on a thread of its own
 * while the frames flowing past get the latest finished map.
 *
 * The textual subspaces come from a head file (#GstTokenClip:head), or are
 * computed once at start from words with CLIP's text tower
 * (#GstTokenClip:object, e.g. "screw", with the built-in photo templates or
 * the #GstTokenClip:prompts file): zero-shot, no trained head needed.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! video/x-raw,format=RGBA ! \
 *     tokenclip model=clip-vit-base-patch16.safetensors head=screw.safetensors mode=async ! \
 *     videoconvert ! autovideosink
 * ]| A live camera with the heatmap of the latest analysed frame.
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! \
 *     tokenclip model=clip.safetensors head=head.safetensors inference-interval=5 ! \
 *     videoconvert ! x264enc ! mp4mux ! filesink location=out.mp4
 * ]| A file, every fifth frame analysed, the map kept on the frames between.
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! video/x-raw,format=BGRx ! \
 *     tokenclip model=clip-vit-base-patch16.safetensors object="metal nut" mode=async ! \
 *     videoconvert ! autovideosink
 * ]| Zero-shot: the subspaces from CLIP's text encoder and the word "metal nut".
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gsttokenclip.h"
#include "gsttokenclipmeta.h"

#include <string.h>

#include "tc_regions.h"

GST_DEBUG_CATEGORY_STATIC (gst_tokenclip_debug);
#define GST_CAT_DEFAULT gst_tokenclip_debug

#define DEFAULT_INPUT_SIZE 0
#define DEFAULT_VV_START 0
#define DEFAULT_TOPK 0
#define DEFAULT_SINKHORN_EPS 0.0f
#define DEFAULT_SINKHORN_ITERS 0
#define DEFAULT_TEMPERATURE 0.0f
#define DEFAULT_ALPHA 0.5f
#define DEFAULT_COLORMAP TC_COLORMAP_TURBO
#define DEFAULT_BLUR_SIGMA 4.0f
#define DEFAULT_THRESHOLD 0.5f
#define DEFAULT_OVERLAY_THRESHOLD 0.0f
#define DEFAULT_NORMALIZE GST_TOKENCLIP_NORMALIZE_FIXED
#define DEFAULT_INFERENCE_INTERVAL 1
#define DEFAULT_MODE GST_TOKENCLIP_MODE_SYNC
#define DEFAULT_ATTACH_MAP FALSE
#define DEFAULT_MAX_REGIONS 16

enum
{
  PROP_0,
  PROP_MODEL,
  PROP_HEAD,
  PROP_OBJECT,
  PROP_PROMPTS,
  PROP_VOCAB,
  PROP_DEVICE,
  PROP_INPUT_SIZE,
  PROP_VV_START,
  PROP_TOPK,
  PROP_SINKHORN_EPS,
  PROP_SINKHORN_ITERS,
  PROP_TEMPERATURE,
  PROP_ALPHA,
  PROP_COLORMAP,
  PROP_BLUR_SIGMA,
  PROP_THRESHOLD,
  PROP_OVERLAY_THRESHOLD,
  PROP_NORMALIZE,
  PROP_INFERENCE_INTERVAL,
  PROP_MODE,
  PROP_ATTACH_MAP,
  PROP_MAX_REGIONS,
  PROP_DEVICE_NAME,
};

#define TOKENCLIP_FORMATS "{ RGBA, BGRA, RGBx, BGRx }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (TOKENCLIP_FORMATS)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (TOKENCLIP_FORMATS)));

#define gst_tokenclip_parent_class parent_class
G_DEFINE_TYPE (GstTokenClip, gst_tokenclip, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (tokenclip, "tokenclip", GST_RANK_NONE, GST_TYPE_TOKENCLIP,
    GST_DEBUG_CATEGORY_INIT (gst_tokenclip_debug, "tokenclip", 0, "TokenCLIP anomaly heatmap"));

/* ---- enums ---------------------------------------------------------------- */

#define GST_TYPE_TOKENCLIP_COLORMAP (gst_tokenclip_colormap_get_type ())
static GType
gst_tokenclip_colormap_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {TC_COLORMAP_TURBO, "Google's Turbo", "turbo"},
    {TC_COLORMAP_JET, "Jet", "jet"},
    {TC_COLORMAP_INFERNO, "Inferno", "inferno"},
    {TC_COLORMAP_GRAY, "Grey levels", "gray"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstTokenClipColormap", values));
  return type;
}

#define GST_TYPE_TOKENCLIP_MODE (gst_tokenclip_mode_get_type ())
static GType
gst_tokenclip_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_TOKENCLIP_MODE_SYNC, "Every analysed frame waits for its own map", "sync"},
    {GST_TOKENCLIP_MODE_ASYNC,
        "Video never waits: the newest frame is analysed on a thread, frames get the latest map", "async"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstTokenClipMode", values));
  return type;
}

#define GST_TYPE_TOKENCLIP_NORMALIZE (gst_tokenclip_normalize_get_type ())
static GType
gst_tokenclip_normalize_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_TOKENCLIP_NORMALIZE_FIXED, "Scores 0..1 map to the colormap as they are (comparable across frames)",
        "fixed"},
    {GST_TOKENCLIP_NORMALIZE_MINMAX, "Each map stretched from its minimum to its maximum", "minmax"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstTokenClipNormalize", values));
  return type;
}

/* ---- errors ----------------------------------------------------------------- */

/* Posts an ERROR naming the cause; the domain follows the library status. */
#define POST_TC_ERROR(self, err, what)                                                             \
  G_STMT_START {                                                                                   \
    switch ((err)->status) {                                                                       \
      case TC_ERR_IO:                                                                              \
        GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("%s: %s", what, (err)->message), (NULL));   \
        break;                                                                                     \
      case TC_ERR_INVALID_ARGUMENT:                                                                \
      case TC_ERR_MISMATCH:                                                                        \
      case TC_ERR_FORMAT:                                                                          \
      case TC_ERR_UNSUPPORTED:                                                                     \
        GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("%s: %s", what, (err)->message), (NULL));    \
        break;                                                                                     \
      case TC_ERR_NUMERIC:                                                                         \
        GST_ELEMENT_ERROR (self, STREAM, FAILED, ("%s: %s", what, (err)->message), (NULL));        \
        break;                                                                                     \
      default:                                                                                     \
        GST_ELEMENT_ERROR (self, LIBRARY, FAILED, ("%s: %s", what, (err)->message),                \
            ("status: %s", tc_status_name ((err)->status)));                                       \
        break;                                                                                     \
    }                                                                                              \
  } G_STMT_END

/* ---- parameters ------------------------------------------------------------- */

/* The head parameters: the head file's (or the library's) defaults, with the
 * properties that are set (non-zero) on top. Object lock held. */
static tc_head_params
head_params_locked (GstTokenClip * self)
{
  tc_head_params p = self->head_base;

  if (self->head_props.topk > 0)
    p.topk = self->head_props.topk;
  if (self->head_props.sinkhorn_eps > 0)
    p.sinkhorn_eps = self->head_props.sinkhorn_eps;
  if (self->head_props.sinkhorn_iters > 0)
    p.sinkhorn_iters = self->head_props.sinkhorn_iters;
  if (self->head_props.temperature > 0)
    p.temperature = self->head_props.temperature;
  /* consecutive frames are alike: start Sinkhorn from the last potentials */
  p.sinkhorn_warm_start = 1;
  return p;
}

static tc_map_params
map_params_locked (GstTokenClip * self)
{
  tc_map_params p;

  tc_map_params_init (&p);
  p.sigma = self->blur_sigma;
  p.colormap = self->colormap;
  p.alpha = self->alpha;
  p.threshold = self->overlay_threshold;
  p.fixed_range = self->normalize == GST_TOKENCLIP_NORMALIZE_FIXED;
  p.lo = 0.0f;
  p.hi = 1.0f;
  return p;
}

/* Records the head properties the detector accepted. */
static void
remember_applied (GstTokenClip * self, const GstTokenClipHeadProps * props)
{
  GST_OBJECT_LOCK (self);
  self->applied = *props;
  GST_OBJECT_UNLOCK (self);
}

/* Applies property changes made since the last frame. analyse_lock held. A
 * value the library refuses (topk above the number of subspaces, say) keeps
 * the previous parameters; the returned text (or NULL) is for
 * post_refusal() once the lock is released: a message can run an
 * application's sync bus handler, which may set properties. */
static gchar *
apply_dirty_params (GstTokenClip * self)
{
  gboolean head_dirty, map_dirty;
  GstTokenClipHeadProps props;
  tc_head_params hp;
  tc_map_params mp;
  tc_error err = { 0 };

  GST_OBJECT_LOCK (self);
  head_dirty = self->head_dirty;
  map_dirty = self->map_dirty;
  self->head_dirty = self->map_dirty = FALSE;
  props = self->head_props;
  hp = head_params_locked (self);
  mp = map_params_locked (self);
  GST_OBJECT_UNLOCK (self);

  if (!self->det)
    return NULL;
  if (head_dirty && tc_detector_set_head_params (self->det, &hp, &err) != TC_OK) {
    /* put the properties back to what is in effect, so that they tell the
     * truth and a later valid change is not refused for this one */
    GST_OBJECT_LOCK (self);
    self->head_props = self->applied;
    GST_OBJECT_UNLOCK (self);
    return g_strdup_printf ("Head parameters refused: %s", err.message);
  }
  if (head_dirty)
    remember_applied (self, &props);
  if (map_dirty && tc_detector_set_map_params (self->det, &mp, &err) != TC_OK)
    return g_strdup_printf ("Map parameters refused: %s", err.message);
  return NULL;
}

static void
post_refusal (GstTokenClip * self, gchar * text)
{
  if (!text)
    return;
  GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS, ("%s", text), ("the previous parameters stay in effect"));
  g_free (text);
}

/* ---- results: messages, regions, meta --------------------------------------- */

/* Stores a finished analysis as the latest result; returns its bus message,
 * for the caller to post once analyse_lock is released. An analysis of a
 * frame from before a flush (another generation) is dropped: NULL. */
static GstMessage *
publish_analysis (GstTokenClip * self, const tc_analysis * a, GstClockTime running_time, guint generation)
{
  GstTokenClipResult *r = &self->result;
  gfloat threshold;
  guint max_regions;
  gsize n = (gsize) a->grid * a->grid, n_regions;
  guint32 *work;
  GstStructure *s;

  GST_OBJECT_LOCK (self);
  threshold = self->threshold;
  max_regions = self->max_regions;
  GST_OBJECT_UNLOCK (self);

  work = g_new (guint32, n);
  g_mutex_lock (&self->result_lock);
  if (generation != self->generation) {
    g_mutex_unlock (&self->result_lock);
    g_free (work);
    return NULL;
  }
  if (r->grid != a->grid) {
    g_free (r->scores);
    r->scores = g_new (gfloat, n);
    r->grid = a->grid;
  }
  memcpy (r->scores, a->scores, n * sizeof (gfloat));
  r->image_score = a->image_score;
  r->running_time = running_time;
  /* all the regions found, for the message; the highest max_regions of them were written */
  n_regions = tc_find_regions (r->scores, a->grid, a->grid, threshold, r->regions,
      MIN (max_regions, G_N_ELEMENTS (r->regions)), work);
  r->n_regions = MIN (n_regions, MIN (max_regions, G_N_ELEMENTS (r->regions)));
  r->valid = TRUE;
  g_mutex_unlock (&self->result_lock);
  g_free (work);

  GST_LOG_OBJECT (self, "image score %.4f, max %.4f, %.1f ms, %u iterations", a->image_score, a->max_score,
      a->inference_ms, a->iterations);
  s = gst_structure_new ("tokenclip",
      "running-time", G_TYPE_UINT64, running_time,
      "image-score", G_TYPE_DOUBLE, (gdouble) a->image_score,
      "global-score", G_TYPE_DOUBLE, (gdouble) a->global_score,
      "max-score", G_TYPE_DOUBLE, (gdouble) a->max_score,
      "anomalous", G_TYPE_BOOLEAN, a->image_score >= threshold,
      "inference-ms", G_TYPE_DOUBLE, a->inference_ms,
      "map-width", G_TYPE_UINT, a->grid,
      "map-height", G_TYPE_UINT, a->grid,
      "iterations", G_TYPE_UINT, a->iterations,
      "converged", G_TYPE_BOOLEAN, a->converged != 0,
      "regions", G_TYPE_UINT, (guint) n_regions, NULL);
  return gst_message_new_element (GST_OBJECT (self), s);
}

/* Copies the latest scores into a caller's array (grid * grid floats);
 * FALSE when nothing has been analysed yet. */
static gboolean
latest_scores (GstTokenClip * self, gfloat ** scores, guint * grid)
{
  gboolean valid;

  g_mutex_lock (&self->result_lock);
  valid = self->result.valid;
  if (valid) {
    gsize n = (gsize) self->result.grid * self->result.grid;
    if (*grid != self->result.grid) {
      g_free (*scores);
      *scores = g_new (gfloat, n);
      *grid = self->result.grid;
    }
    memcpy (*scores, self->result.scores, n * sizeof (gfloat));
  }
  g_mutex_unlock (&self->result_lock);
  return valid;
}

/* Region-of-interest meta (and the score meta) of the latest result. */
static void
attach_metas (GstTokenClip * self, GstBuffer * buf, const GstVideoInfo * info)
{
  GstTokenClipResult *r = &self->result;
  gboolean attach_map;
  gsize i;

  GST_OBJECT_LOCK (self);
  attach_map = self->attach_map;
  GST_OBJECT_UNLOCK (self);

  g_mutex_lock (&self->result_lock);
  if (!r->valid) {
    g_mutex_unlock (&self->result_lock);
    return;
  }
  for (i = 0; i < r->n_regions && i < G_N_ELEMENTS (r->regions); i++) {
    GstVideoRegionOfInterestMeta *roi;
    guint32 x, y, w, h;

    tc_region_to_pixels (&r->regions[i], r->grid, r->grid, GST_VIDEO_INFO_WIDTH (info),
        GST_VIDEO_INFO_HEIGHT (info), &x, &y, &w, &h);
    roi = gst_buffer_add_video_region_of_interest_meta (buf, "anomaly", x, y, w, h);
    gst_video_region_of_interest_meta_add_param (roi, gst_structure_new ("anomaly",
            "max-score", G_TYPE_DOUBLE, (gdouble) r->regions[i].max_score,
            "mean-score", G_TYPE_DOUBLE, (gdouble) r->regions[i].mean_score,
            "cells", G_TYPE_UINT, r->regions[i].cells,
            "running-time", G_TYPE_UINT64, r->running_time, NULL));
  }
  if (attach_map)
    gst_buffer_add_tokenclip_meta (buf, r->grid, r->grid, r->scores, r->image_score, r->running_time);
  g_mutex_unlock (&self->result_lock);
}

static guint
current_generation (GstTokenClip * self)
{
  guint g;

  g_mutex_lock (&self->result_lock);
  g = self->generation;
  g_mutex_unlock (&self->result_lock);
  return g;
}

/* ---- async analysis thread --------------------------------------------------- */

static gpointer
analysis_thread (gpointer data)
{
  GstTokenClip *self = data;
  guint8 *pixels = NULL;
  gsize size = 0;

  g_mutex_lock (&self->worker_lock);
  while (!self->worker_stop) {
    tc_frame frame;
    GstClockTime running_time;
    guint generation;
    tc_analysis a;
    tc_error err = { 0 };
    tc_status st = TC_OK;
    gboolean stale;
    gchar *refusal = NULL;
    GstMessage *msg = NULL;

    if (!self->pending) {
      g_cond_wait (&self->worker_cond, &self->worker_lock);
      continue;
    }
    /* take the newest frame; the streaming thread may leave another meanwhile */
    if (size != self->pending_size) {
      g_free (pixels);
      pixels = g_malloc (self->pending_size);
      size = self->pending_size;
    }
    memcpy (pixels, self->pending_pixels, size);
    frame = self->pending_frame;
    running_time = self->pending_running_time;
    generation = self->pending_generation;
    self->pending = FALSE;
    self->busy = TRUE;
    g_mutex_unlock (&self->worker_lock);

    g_mutex_lock (&self->analyse_lock);
    /* caps changed after this frame was queued: its layout is gone */
    stale = !self->have_frame || memcmp (&frame, &self->frame, sizeof frame) != 0;
    if (!stale) {
      refusal = apply_dirty_params (self);
      st = tc_detector_analyse (self->det, pixels, frame.stride, FALSE, &a, &err);
    }
    if (!stale && st == TC_OK)
      msg = publish_analysis (self, &a, running_time, generation);
    g_mutex_unlock (&self->analyse_lock);
    post_refusal (self, refusal);
    if (msg)
      gst_element_post_message (GST_ELEMENT (self), msg);

    g_mutex_lock (&self->worker_lock);
    self->busy = FALSE;
    g_cond_broadcast (&self->worker_cond);     /* for a drain at EOS */
    if (st != TC_OK) {
      /* the streaming thread posts it: from here, an application's sync
       * handler stopping the pipeline would join this very thread */
      self->worker_error = err;
      self->worker_failed = TRUE;
      break;
    }
  }
  g_mutex_unlock (&self->worker_lock);
  g_free (pixels);
  return NULL;
}

/* Leaves the frame for the analysis thread, replacing one still waiting. */
static void
offer_frame (GstTokenClip * self, GstVideoFrame * vframe, GstClockTime running_time)
{
  const guint8 *src = GST_VIDEO_FRAME_PLANE_DATA (vframe, 0);
  gint src_stride = GST_VIDEO_FRAME_PLANE_STRIDE (vframe, 0);
  guint width = GST_VIDEO_FRAME_WIDTH (vframe), height = GST_VIDEO_FRAME_HEIGHT (vframe);
  gsize row = (gsize) width * 4, y;

  g_mutex_lock (&self->worker_lock);
  if (self->pending_size != row * height) {
    g_free (self->pending_pixels);
    self->pending_size = row * height;
    self->pending_pixels = g_malloc (self->pending_size);
  }
  for (y = 0; y < height; y++)
    memcpy (self->pending_pixels + y * row, src + y * src_stride, row);
  self->pending_generation = current_generation (self);
  self->pending_frame = self->frame_layout;
  self->pending_frame.stride = (guint32) row;
  self->pending_running_time = running_time;
  self->pending = TRUE;
  g_cond_broadcast (&self->worker_cond);
  g_mutex_unlock (&self->worker_lock);
}

static void
stop_worker (GstTokenClip * self)
{
  if (!self->worker)
    return;
  g_mutex_lock (&self->worker_lock);
  self->worker_stop = TRUE;
  g_cond_signal (&self->worker_cond);
  g_mutex_unlock (&self->worker_lock);
  g_thread_join (self->worker);
  self->worker = NULL;
}

/* ---- GstBaseTransform / GstVideoFilter ------------------------------------- */

static gboolean
gst_tokenclip_start (GstBaseTransform * trans)
{
  GstTokenClip *self = GST_TOKENCLIP (trans);
  tc_detector_options opts;
  tc_detector *det = NULL;
  tc_error err = { 0 };
  gchar *model, *head, *device, *object, *prompts, *vocab;
  GstTokenClipMode mode;
  GstTokenClipHeadProps props;
  tc_head_params hp;

  GST_OBJECT_LOCK (self);
  model = g_strdup (self->model);
  head = g_strdup (self->head);
  device = g_strdup (self->device);
  object = g_strdup (self->object);
  prompts = g_strdup (self->prompts);
  vocab = g_strdup (self->vocab);
  mode = self->mode;
  tc_detector_options_init (&opts);
  opts.encoder.input_size = self->input_size;
  opts.encoder.vv_start = self->vv_start;
  opts.map = map_params_locked (self);
  self->map_dirty = FALSE;      /* opts.map holds every map change so far */
  /* from here on, model and the other load-time properties are refused */
  self->running = TRUE;
  GST_OBJECT_UNLOCK (self);

  if (!model || !*model) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("No model: set the model property to a CLIP safetensors file"),
        (NULL));
    goto fail;
  }
  if ((!head || !*head) && (!object || !*object)) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No head: set the head property to a head file, or object to a word for zero-shot subspaces"),
        (NULL));
    goto fail;
  }
  if (head && *head && object && *object) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Both head (%s) and object (%s) are set: the subspaces come from one of them", head, object), (NULL));
    goto fail;
  }
  opts.model_path = model;
  if (head && *head)
    opts.head_path = head;
  else
    opts.object = object;
  opts.prompts_path = prompts && *prompts ? prompts : NULL;
  opts.vocab_path = vocab && *vocab ? vocab : NULL;
  opts.device = device && *device ? device : NULL;

  if (tc_detector_create (&opts, &det, &err) != TC_OK) {
    POST_TC_ERROR (self, &err, "Could not start");
    goto fail;
  }
  GST_INFO_OBJECT (self, "model %s on %s: %ux%u input, %ux%u tokens, %u subspaces", model,
      tc_detector_device_name (det), tc_detector_input_size (det), tc_detector_input_size (det),
      tc_detector_grid (det), tc_detector_grid (det), tc_detector_subspaces (det));

  /* the properties on top of the head file's parameters; at start a value
   * the head cannot take is an error, later only a warning */
  GST_OBJECT_LOCK (self);
  self->head_base = tc_detector_head_params (det);
  self->head_dirty = FALSE;
  props = self->head_props;
  hp = head_params_locked (self);
  g_free (self->device_name);
  self->device_name = g_strdup (tc_detector_device_name (det));
  GST_OBJECT_UNLOCK (self);
  if (tc_detector_set_head_params (det, &hp, &err) != TC_OK) {
    POST_TC_ERROR (self, &err, "Invalid head parameters");
    tc_detector_destroy (det);
    goto fail;
  }
  remember_applied (self, &props);

  g_mutex_lock (&self->analyse_lock);
  self->det = det;
  self->have_frame = FALSE;
  self->frame_count = 0;
  g_mutex_unlock (&self->analyse_lock);

  g_mutex_lock (&self->result_lock);
  self->result.valid = FALSE;
  g_mutex_unlock (&self->result_lock);

  self->worker_stop = self->worker_failed = self->pending = self->busy = FALSE;
  self->async = mode == GST_TOKENCLIP_MODE_ASYNC;
  if (self->async)
    self->worker = g_thread_new ("tokenclip-analysis", analysis_thread, self);

  g_free (model);
  g_free (head);
  g_free (device);
  g_free (object);
  g_free (prompts);
  g_free (vocab);
  return TRUE;

fail:
  GST_OBJECT_LOCK (self);
  self->running = FALSE;
  GST_OBJECT_UNLOCK (self);
  g_free (model);
  g_free (head);
  g_free (device);
  g_free (object);
  g_free (prompts);
  g_free (vocab);
  return FALSE;
}

static gboolean
gst_tokenclip_stop (GstBaseTransform * trans)
{
  GstTokenClip *self = GST_TOKENCLIP (trans);

  stop_worker (self);
  g_mutex_lock (&self->analyse_lock);
  if (self->det)
    tc_detector_destroy (self->det);
  self->det = NULL;
  self->have_frame = FALSE;
  g_mutex_unlock (&self->analyse_lock);
  GST_OBJECT_LOCK (self);
  self->running = FALSE;
  g_free (self->device_name);
  self->device_name = NULL;
  GST_OBJECT_UNLOCK (self);

  g_free (self->pending_pixels);
  self->pending_pixels = NULL;
  self->pending_size = 0;
  self->pending = FALSE;
  g_free (self->overlay_scores);
  self->overlay_scores = NULL;
  self->overlay_grid = 0;
  g_mutex_lock (&self->result_lock);
  g_free (self->result.scores);
  memset (&self->result, 0, sizeof self->result);
  g_mutex_unlock (&self->result_lock);
  return TRUE;
}

/* EOS in async mode waits for the analysis in progress. A flush (seek)
 * starts over: no map, ROI or score of the frames before it is drawn on the
 * frames after, a frame still waiting is dropped, an analysis still running
 * is discarded, and the interval restarts. */
static gboolean
gst_tokenclip_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstTokenClip *self = GST_TOKENCLIP (trans);

  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS && self->async) {
    gboolean failed;
    tc_error err;

    /* async: the last frame's analysis finishes (and is reported, or its
     * error is) before the stream ends */
    g_mutex_lock (&self->worker_lock);
    while ((self->pending || self->busy) && !self->worker_failed && !self->worker_stop)
      g_cond_wait (&self->worker_cond, &self->worker_lock);
    failed = self->worker_failed;
    err = self->worker_error;
    g_mutex_unlock (&self->worker_lock);
    if (failed) {
      POST_TC_ERROR (self, &err, "Analysis failed");
      gst_event_unref (event);
      return FALSE;
    }
  }
  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP) {
    g_mutex_lock (&self->worker_lock);
    self->pending = FALSE;
    g_mutex_unlock (&self->worker_lock);
    g_mutex_lock (&self->result_lock);
    self->generation++;
    self->result.valid = FALSE;
    g_mutex_unlock (&self->result_lock);
    self->frame_count = 0;
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

static gboolean
gst_tokenclip_set_info (GstVideoFilter * filter, GstCaps * incaps, GstVideoInfo * in_info,
    GstCaps * outcaps, GstVideoInfo * out_info)
{
  GstTokenClip *self = GST_TOKENCLIP (filter);
  tc_frame frame;
  tc_error err = { 0 };
  tc_status st;

  switch (GST_VIDEO_INFO_FORMAT (in_info)) {
    case GST_VIDEO_FORMAT_RGBA:
      frame.format = TC_FRAME_RGBA;
      break;
    case GST_VIDEO_FORMAT_BGRA:
      frame.format = TC_FRAME_BGRA;
      break;
    case GST_VIDEO_FORMAT_RGBx:
      frame.format = TC_FRAME_RGBX;
      break;
    case GST_VIDEO_FORMAT_BGRx:
      frame.format = TC_FRAME_BGRX;
      break;
    default:
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Unsupported video format %s",
              gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (in_info))), ("tokenclip takes " TOKENCLIP_FORMATS));
      return FALSE;
  }
  frame = tc_frame_make (frame.format, GST_VIDEO_INFO_WIDTH (in_info), GST_VIDEO_INFO_HEIGHT (in_info));

  g_mutex_lock (&self->analyse_lock);
  if (!self->det) {
    g_mutex_unlock (&self->analyse_lock);
    GST_ELEMENT_ERROR (self, CORE, STATE_CHANGE, ("Caps before the element started"), (NULL));
    return FALSE;
  }
  st = tc_detector_set_frame (self->det, &frame, &err);
  self->have_frame = st == TC_OK;
  self->frame = frame;
  g_mutex_unlock (&self->analyse_lock);
  if (st != TC_OK) {
    POST_TC_ERROR (self, &err, "Could not prepare for the frames");
    return FALSE;
  }
  /* the layout the streaming thread queues frames with (packed rows) */
  self->frame_layout = frame;
  GST_DEBUG_OBJECT (self, "frames %s %ux%u", tc_frame_format_name (frame.format), frame.width, frame.height);
  return TRUE;
}

/* Blends the latest finished map over the frame (frames between analyses,
 * and every frame in async mode). */
static GstFlowReturn
overlay_latest (GstTokenClip * self, GstVideoFrame * vframe)
{
  tc_error err = { 0 };
  gfloat alpha;

  GST_OBJECT_LOCK (self);
  alpha = self->alpha;
  GST_OBJECT_UNLOCK (self);
  if (alpha <= 0.0f || !latest_scores (self, &self->overlay_scores, &self->overlay_grid))
    return GST_FLOW_OK;
  if (tc_detector_overlay (self->det, GST_VIDEO_FRAME_PLANE_DATA (vframe, 0),
          GST_VIDEO_FRAME_PLANE_STRIDE (vframe, 0), self->overlay_scores, &err) != TC_OK) {
    POST_TC_ERROR (self, &err, "Overlay failed");
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_tokenclip_transform_frame_ip (GstVideoFilter * filter, GstVideoFrame * vframe)
{
  GstTokenClip *self = GST_TOKENCLIP (filter);
  GstBaseTransform *trans = GST_BASE_TRANSFORM (filter);
  GstClockTime running_time;
  guint interval;
  gboolean analyse;
  GstFlowReturn ret;

  GST_OBJECT_LOCK (self);
  interval = self->inference_interval;
  GST_OBJECT_UNLOCK (self);
  analyse = self->frame_count++ % interval == 0;
  running_time = trans->segment.format == GST_FORMAT_TIME ?
      gst_segment_to_running_time (&trans->segment, GST_FORMAT_TIME, GST_BUFFER_PTS (vframe->buffer)) :
      GST_CLOCK_TIME_NONE;

  if (self->async) {
    gboolean failed;

    tc_error err;

    g_mutex_lock (&self->worker_lock);
    failed = self->worker_failed;
    err = self->worker_error;
    g_mutex_unlock (&self->worker_lock);
    if (failed) {
      POST_TC_ERROR (self, &err, "Analysis failed");
      return GST_FLOW_ERROR;
    }
    if (analyse)
      offer_frame (self, vframe, running_time);
    /* the overlay lane runs beside a busy analysis lane: video does not wait */
    ret = overlay_latest (self, vframe);
  } else if (analyse) {
    tc_analysis a;
    tc_error err = { 0 };
    tc_status st;
    gboolean blend;
    gchar *refusal;
    GstMessage *msg = NULL;

    GST_OBJECT_LOCK (self);
    blend = self->alpha > 0.0f;
    GST_OBJECT_UNLOCK (self);
    g_mutex_lock (&self->analyse_lock);
    refusal = apply_dirty_params (self);
    st = tc_detector_analyse (self->det, GST_VIDEO_FRAME_PLANE_DATA (vframe, 0),
        GST_VIDEO_FRAME_PLANE_STRIDE (vframe, 0), blend, &a, &err);
    if (st == TC_OK)
      msg = publish_analysis (self, &a, running_time, current_generation (self));
    g_mutex_unlock (&self->analyse_lock);
    post_refusal (self, refusal);
    if (msg)
      gst_element_post_message (GST_ELEMENT (self), msg);
    if (st != TC_OK) {
      POST_TC_ERROR (self, &err, "Analysis failed");
      return GST_FLOW_ERROR;
    }
    ret = GST_FLOW_OK;
  } else {
    gchar *refusal;

    g_mutex_lock (&self->analyse_lock);
    refusal = apply_dirty_params (self);
    g_mutex_unlock (&self->analyse_lock);
    post_refusal (self, refusal);
    ret = overlay_latest (self, vframe);
  }
  if (ret == GST_FLOW_OK)
    attach_metas (self, vframe->buffer, &vframe->info);
  return ret;
}

/* ---- properties ------------------------------------------------------------- */

static void
gst_tokenclip_set_property (GObject * object, guint prop_id, const GValue * value, GParamSpec * pspec)
{
  GstTokenClip *self = GST_TOKENCLIP (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
    case PROP_HEAD:
    case PROP_OBJECT:
    case PROP_PROMPTS:
    case PROP_VOCAB:
    case PROP_DEVICE:
    case PROP_INPUT_SIZE:
    case PROP_VV_START:
    case PROP_MODE:
      /* fixed while running; checked and stored under one lock, so start
       * cannot slip between */
      if (self->running) {
        GST_OBJECT_UNLOCK (self);
        GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS, ("Cannot change %s while running", pspec->name),
            ("set the element to READY or NULL first; the change was ignored"));
        return;
      }
      break;
    default:
      break;
  }
  switch (prop_id) {
    case PROP_MODEL:
      g_free (self->model);
      self->model = g_value_dup_string (value);
      break;
    case PROP_HEAD:
      g_free (self->head);
      self->head = g_value_dup_string (value);
      break;
    case PROP_OBJECT:
      g_free (self->object);
      self->object = g_value_dup_string (value);
      break;
    case PROP_PROMPTS:
      g_free (self->prompts);
      self->prompts = g_value_dup_string (value);
      break;
    case PROP_VOCAB:
      g_free (self->vocab);
      self->vocab = g_value_dup_string (value);
      break;
    case PROP_DEVICE:
      g_free (self->device);
      self->device = g_value_dup_string (value);
      break;
    case PROP_INPUT_SIZE:
      self->input_size = g_value_get_uint (value);
      break;
    case PROP_VV_START:
      self->vv_start = g_value_get_uint (value);
      break;
    case PROP_TOPK:
      self->head_props.topk = g_value_get_uint (value);
      self->head_dirty = TRUE;
      break;
    case PROP_SINKHORN_EPS:
      self->head_props.sinkhorn_eps = g_value_get_float (value);
      self->head_dirty = TRUE;
      break;
    case PROP_SINKHORN_ITERS:
      self->head_props.sinkhorn_iters = g_value_get_uint (value);
      self->head_dirty = TRUE;
      break;
    case PROP_TEMPERATURE:
      self->head_props.temperature = g_value_get_float (value);
      self->head_dirty = TRUE;
      break;
    case PROP_ALPHA:
      self->alpha = g_value_get_float (value);
      self->map_dirty = TRUE;
      break;
    case PROP_COLORMAP:
      self->colormap = g_value_get_enum (value);
      self->map_dirty = TRUE;
      break;
    case PROP_BLUR_SIGMA:
      self->blur_sigma = g_value_get_float (value);
      self->map_dirty = TRUE;
      break;
    case PROP_OVERLAY_THRESHOLD:
      self->overlay_threshold = g_value_get_float (value);
      self->map_dirty = TRUE;
      break;
    case PROP_NORMALIZE:
      self->normalize = g_value_get_enum (value);
      self->map_dirty = TRUE;
      break;
    case PROP_THRESHOLD:
      self->threshold = g_value_get_float (value);
      break;
    case PROP_INFERENCE_INTERVAL:
      self->inference_interval = g_value_get_uint (value);
      break;
    case PROP_MODE:
      self->mode = g_value_get_enum (value);
      break;
    case PROP_ATTACH_MAP:
      self->attach_map = g_value_get_boolean (value);
      break;
    case PROP_MAX_REGIONS:
      self->max_regions = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_tokenclip_get_property (GObject * object, guint prop_id, GValue * value, GParamSpec * pspec)
{
  GstTokenClip *self = GST_TOKENCLIP (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_DEVICE_NAME:
      g_value_set_string (value, self->device_name);
      break;
    case PROP_MODEL:
      g_value_set_string (value, self->model);
      break;
    case PROP_HEAD:
      g_value_set_string (value, self->head);
      break;
    case PROP_OBJECT:
      g_value_set_string (value, self->object);
      break;
    case PROP_PROMPTS:
      g_value_set_string (value, self->prompts);
      break;
    case PROP_VOCAB:
      g_value_set_string (value, self->vocab);
      break;
    case PROP_DEVICE:
      g_value_set_string (value, self->device);
      break;
    case PROP_INPUT_SIZE:
      g_value_set_uint (value, self->input_size);
      break;
    case PROP_VV_START:
      g_value_set_uint (value, self->vv_start);
      break;
    case PROP_TOPK:
      g_value_set_uint (value, self->head_props.topk);
      break;
    case PROP_SINKHORN_EPS:
      g_value_set_float (value, self->head_props.sinkhorn_eps);
      break;
    case PROP_SINKHORN_ITERS:
      g_value_set_uint (value, self->head_props.sinkhorn_iters);
      break;
    case PROP_TEMPERATURE:
      g_value_set_float (value, self->head_props.temperature);
      break;
    case PROP_ALPHA:
      g_value_set_float (value, self->alpha);
      break;
    case PROP_COLORMAP:
      g_value_set_enum (value, self->colormap);
      break;
    case PROP_BLUR_SIGMA:
      g_value_set_float (value, self->blur_sigma);
      break;
    case PROP_OVERLAY_THRESHOLD:
      g_value_set_float (value, self->overlay_threshold);
      break;
    case PROP_NORMALIZE:
      g_value_set_enum (value, self->normalize);
      break;
    case PROP_THRESHOLD:
      g_value_set_float (value, self->threshold);
      break;
    case PROP_INFERENCE_INTERVAL:
      g_value_set_uint (value, self->inference_interval);
      break;
    case PROP_MODE:
      g_value_set_enum (value, self->mode);
      break;
    case PROP_ATTACH_MAP:
      g_value_set_boolean (value, self->attach_map);
      break;
    case PROP_MAX_REGIONS:
      g_value_set_uint (value, self->max_regions);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_tokenclip_finalize (GObject * object)
{
  GstTokenClip *self = GST_TOKENCLIP (object);

  g_free (self->model);
  g_free (self->head);
  g_free (self->device);
  g_free (self->object);
  g_free (self->prompts);
  g_free (self->vocab);
  g_free (self->device_name);
  g_mutex_clear (&self->analyse_lock);
  g_mutex_clear (&self->result_lock);
  g_mutex_clear (&self->worker_lock);
  g_cond_clear (&self->worker_cond);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_tokenclip_class_init (GstTokenClipClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *filter_class = GST_VIDEO_FILTER_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;
  /* not GST_PARAM_CONTROLLABLE: a map change rebuilds the overlay, too
   * costly to do per frame from a control binding */
  const GParamFlags live = rw | GST_PARAM_MUTABLE_PLAYING;
  const GParamFlags ready = rw | GST_PARAM_MUTABLE_READY;

  gobject_class->set_property = gst_tokenclip_set_property;
  gobject_class->get_property = gst_tokenclip_get_property;
  gobject_class->finalize = gst_tokenclip_finalize;

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "CLIP weights (safetensors, Hugging Face or open_clip naming; the vision tower is used)", NULL,
          ready));
  g_object_class_install_property (gobject_class, PROP_HEAD,
      g_param_spec_string ("head", "Head",
          "Head file: safetensors with the textual subspaces [Q, 2, D] and optional defaults", NULL, ready));
  g_object_class_install_property (gobject_class, PROP_OBJECT,
      g_param_spec_string ("object", "Object",
          "Zero-shot instead of a head file: the object's name (e.g. \"screw\"); the subspaces are computed "
          "once at start with the model's text tower from normal/abnormal prompts", NULL, ready));
  g_object_class_install_property (gobject_class, PROP_PROMPTS,
      g_param_spec_string ("prompts", "Prompt templates",
          "With object: a file of templates, one per line with one {} (NULL: the built-in photo templates); "
          "each template is one subspace", NULL, ready));
  g_object_class_install_property (gobject_class, PROP_VOCAB,
      g_param_spec_string ("vocab", "Vocabulary",
          "With object: CLIP's BPE vocabulary (bpe_simple_vocab_16e6.txt.gz, or vocab.json + merges.txt; NULL: "
          "beside the model, else the one installed with tokenclip)", NULL, ready));
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_string ("device", "Device",
          "Vulkan device: index or part of its name (NULL: $TOKENCLIP_DEVICE, else discrete GPU > integrated "
          "GPU > CPU)", NULL, ready));
  g_object_class_install_property (gobject_class, PROP_DEVICE_NAME,
      g_param_spec_string ("device-name", "Device name", "The Vulkan device in use (NULL until started)", NULL,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_INPUT_SIZE,
      g_param_spec_uint ("input-size", "Input size",
          "Side of the square model input in pixels, a multiple of the patch size (0: the model's own); "
          "the positional embedding is resized to it", 0, 4096, DEFAULT_INPUT_SIZE, ready));
  g_object_class_install_property (gobject_class, PROP_VV_START,
      g_param_spec_uint ("vv-start", "V-V attention start",
          "First layer (from 1) of the value-value attention stream for the patch tokens (0: off, plain CLIP)",
          0, 256, DEFAULT_VV_START, ready));
  g_object_class_install_property (gobject_class, PROP_TOPK,
      g_param_spec_uint ("topk", "Top k",
          "Subspaces kept per token after Sinkhorn (0: the head file's value, else all)", 0, 4096, DEFAULT_TOPK,
          live));
  g_object_class_install_property (gobject_class, PROP_SINKHORN_EPS,
      g_param_spec_float ("sinkhorn-eps", "Sinkhorn epsilon",
          "Entropic regularisation of the transport (0: the head file's value, else 0.05)", 0.0f, 10.0f,
          DEFAULT_SINKHORN_EPS, live));
  g_object_class_install_property (gobject_class, PROP_SINKHORN_ITERS,
      g_param_spec_uint ("sinkhorn-iters", "Sinkhorn iterations",
          "Iteration limit of Sinkhorn (0: the head file's value, else 100)", 0, 10000, DEFAULT_SINKHORN_ITERS,
          live));
  g_object_class_install_property (gobject_class, PROP_TEMPERATURE,
      g_param_spec_float ("temperature", "Temperature",
          "Softmax temperature of the normal/abnormal probabilities (0: the head file's value, else 0.07)",
          0.0f, 10.0f, DEFAULT_TEMPERATURE, live));
  g_object_class_install_property (gobject_class, PROP_ALPHA,
      g_param_spec_float ("alpha", "Alpha", "Opacity of the heatmap (0: frames untouched)", 0.0f, 1.0f,
          DEFAULT_ALPHA, live));
  g_object_class_install_property (gobject_class, PROP_COLORMAP,
      g_param_spec_enum ("colormap", "Colormap", "Colours of the heatmap", GST_TYPE_TOKENCLIP_COLORMAP,
          DEFAULT_COLORMAP, live));
  g_object_class_install_property (gobject_class, PROP_BLUR_SIGMA,
      g_param_spec_float ("blur-sigma", "Blur sigma",
          "Gaussian blur of the map at frame size, in frame pixels (0: none)", 0.0f, 256.0f,
          DEFAULT_BLUR_SIGMA, live));
  g_object_class_install_property (gobject_class, PROP_THRESHOLD,
      g_param_spec_float ("threshold", "Threshold",
          "Anomaly score from which a frame is anomalous (message) and token regions become "
          "region-of-interest meta", 0.0f, 1.0f, DEFAULT_THRESHOLD, live));
  g_object_class_install_property (gobject_class, PROP_OVERLAY_THRESHOLD,
      g_param_spec_float ("overlay-threshold", "Overlay threshold",
          "Normalised map value below which no colour is blended", 0.0f, 1.0f, DEFAULT_OVERLAY_THRESHOLD,
          live));
  g_object_class_install_property (gobject_class, PROP_NORMALIZE,
      g_param_spec_enum ("normalize", "Normalize", "How map values are spread over the colormap",
          GST_TYPE_TOKENCLIP_NORMALIZE, DEFAULT_NORMALIZE, live));
  g_object_class_install_property (gobject_class, PROP_INFERENCE_INTERVAL,
      g_param_spec_uint ("inference-interval", "Inference interval",
          "Analyse every Nth frame; the frames between get the latest map", 1, G_MAXINT,
          DEFAULT_INFERENCE_INTERVAL, live));
  g_object_class_install_property (gobject_class, PROP_MODE,
      g_param_spec_enum ("mode", "Mode", "Whether video waits for the analysis", GST_TYPE_TOKENCLIP_MODE,
          DEFAULT_MODE, ready));
  g_object_class_install_property (gobject_class, PROP_ATTACH_MAP,
      g_param_spec_boolean ("attach-map", "Attach map",
          "Attach the token scores to buffers as GstTokenClipMeta", DEFAULT_ATTACH_MAP, live));
  g_object_class_install_property (gobject_class, PROP_MAX_REGIONS,
      g_param_spec_uint ("max-regions", "Max regions",
          "Most region-of-interest metas per buffer, highest scores first (0: none)", 0,
          GST_TOKENCLIP_MAX_REGIONS, DEFAULT_MAX_REGIONS, live));

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

  gst_type_mark_as_plugin_api (GST_TYPE_TOKENCLIP_COLORMAP, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_TOKENCLIP_MODE, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_TOKENCLIP_NORMALIZE, 0);
}

static void
gst_tokenclip_init (GstTokenClip * self)
{
  self->input_size = DEFAULT_INPUT_SIZE;
  self->vv_start = DEFAULT_VV_START;
  self->head_props.topk = DEFAULT_TOPK;
  self->head_props.sinkhorn_eps = DEFAULT_SINKHORN_EPS;
  self->head_props.sinkhorn_iters = DEFAULT_SINKHORN_ITERS;
  self->head_props.temperature = DEFAULT_TEMPERATURE;
  self->alpha = DEFAULT_ALPHA;
  self->colormap = DEFAULT_COLORMAP;
  self->blur_sigma = DEFAULT_BLUR_SIGMA;
  self->threshold = DEFAULT_THRESHOLD;
  self->overlay_threshold = DEFAULT_OVERLAY_THRESHOLD;
  self->normalize = DEFAULT_NORMALIZE;
  self->inference_interval = DEFAULT_INFERENCE_INTERVAL;
  self->mode = DEFAULT_MODE;
  self->attach_map = DEFAULT_ATTACH_MAP;
  self->max_regions = DEFAULT_MAX_REGIONS;
  tc_head_params_default (&self->head_base);
  g_mutex_init (&self->analyse_lock);
  g_mutex_init (&self->result_lock);
  g_mutex_init (&self->worker_lock);
  g_cond_init (&self->worker_cond);
  /* every frame is written in place */
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
}
