/* GStreamer
 * Copyright (C) 2026 gst-tokenclip developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */

/* The tokenclip element's properties (gsttokenclipprops.h). */
#include "gsttokenclipprops.h"

#include <math.h>
#include <string.h>

/* The properties that are analysis parameters. A property whose `unset`
 * value is a number takes it to mean "not set": the head file's default (or
 * the library's) applies; the others are set by any value given. */
static const struct {
  guint prop;
  tc_param param;
  gdouble unset;
} param_props[] = {
  {PROP_INPUT_SIZE, TC_PARAM_INPUT_SIZE, 0},
  {PROP_VV_START, TC_PARAM_VV_START, -1},
  {PROP_POS_INTERP, TC_PARAM_POS_INTERP, NAN},
  {PROP_RESAMPLE, TC_PARAM_RESAMPLE, NAN},
  {PROP_FEATURE_LAYERS, TC_PARAM_FEATURE_LAYERS, NAN},  /* an empty array unsets it */
  {PROP_GLOBAL_LN_POST, TC_PARAM_GLOBAL_LN_POST, NAN},
  {PROP_PRECISION, TC_PARAM_PRECISION, NAN},
  {PROP_TOPK, TC_PARAM_TOPK, 0},
  {PROP_SINKHORN_EPS, TC_PARAM_SINKHORN_EPS, 0},
  {PROP_SINKHORN_ITERS, TC_PARAM_SINKHORN_ITERS, 0},
  {PROP_TEMPERATURE, TC_PARAM_TEMPERATURE, 0},
  {PROP_IMAGE_BLEND, TC_PARAM_IMAGE_BLEND, NAN},
  {PROP_ALPHA, TC_PARAM_ALPHA, NAN},
  {PROP_COLORMAP, TC_PARAM_COLORMAP, NAN},
  {PROP_BLUR_SIGMA, TC_PARAM_SIGMA, NAN},
  {PROP_THRESHOLD, TC_PARAM_THRESHOLD, NAN},
  {PROP_OVERLAY_THRESHOLD, TC_PARAM_OVERLAY_THRESHOLD, NAN},
  {PROP_NORMALIZE, TC_PARAM_FIXED_RANGE, NAN},
  {PROP_INFERENCE_INTERVAL, TC_PARAM_INTERVAL, NAN},
  {PROP_MAX_REGIONS, TC_PARAM_MAX_REGIONS, NAN},
};

/* The string properties: where each is kept. */
static const struct {
  guint prop;
  gsize offset;
} string_props[] = {
  {PROP_MODEL, G_STRUCT_OFFSET (GstTokenClip, model)},
  {PROP_HEAD, G_STRUCT_OFFSET (GstTokenClip, head)},
  {PROP_OBJECT, G_STRUCT_OFFSET (GstTokenClip, object)},
  {PROP_PROMPTS, G_STRUCT_OFFSET (GstTokenClip, prompts)},
  {PROP_VOCAB, G_STRUCT_OFFSET (GstTokenClip, vocab)},
  {PROP_DEVICE, G_STRUCT_OFFSET (GstTokenClip, device)},
  {PROP_DEVICE_NAME, G_STRUCT_OFFSET (GstTokenClip, device_name)},
  {PROP_MODEL_INSTANCE_ID, G_STRUCT_OFFSET (GstTokenClip, model_instance_id)},
};

/* ---- enums ---------------------------------------------------------------- */

/* A GEnum type, registered on first use. */
#define DEFINE_ENUM_TYPE(func, name, ...)                                      \
  static GType                                                                 \
  func (void)                                                                  \
  {                                                                            \
    static GType type = 0;                                                     \
    static const GEnumValue values[] = { __VA_ARGS__, {0, NULL, NULL} };       \
    if (g_once_init_enter (&type))                                             \
      g_once_init_leave (&type, g_enum_register_static (name, values));        \
    return type;                                                               \
  }

DEFINE_ENUM_TYPE (colormap_get_type, "GstTokenClipColormap",
    {TC_COLORMAP_TURBO, "Google's Turbo", "turbo"},
    {TC_COLORMAP_JET, "Jet", "jet"},
    {TC_COLORMAP_INFERNO, "Inferno", "inferno"},
    {TC_COLORMAP_GRAY, "Grey levels", "gray"});

DEFINE_ENUM_TYPE (mode_get_type, "GstTokenClipMode",
    {GST_TOKENCLIP_MODE_SYNC, "Every analysed frame waits for its own map", "sync"},
    {GST_TOKENCLIP_MODE_ASYNC,
        "Video never waits: the newest frame is analysed on a thread, frames get the latest map", "async"});

DEFINE_ENUM_TYPE (normalize_get_type, "GstTokenClipNormalize",
    {GST_TOKENCLIP_NORMALIZE_FIXED, "Scores 0..1 map to the colormap as they are (comparable across frames)",
        "fixed"},
    {GST_TOKENCLIP_NORMALIZE_MINMAX, "Each map stretched from its minimum to its maximum", "minmax"});

DEFINE_ENUM_TYPE (resample_get_type, "GstTokenClipResample",
    {TC_RESAMPLE_BICUBIC, "Bicubic, antialiased, in float (as CLIP's preprocessing)", "bicubic"},
    {TC_RESAMPLE_BILINEAR, "Bilinear, antialiased, in float", "bilinear"},
    {TC_RESAMPLE_PIL_BICUBIC, "PIL's 8-bit bicubic resize bit for bit (AnomalyCLIP's input)", "bicubic-pil"});

DEFINE_ENUM_TYPE (pos_interp_get_type, "GstTokenClipPosInterp",
    {TC_POS_INTERP_BICUBIC, "Bicubic (as open_clip)", "bicubic"},
    {TC_POS_INTERP_BICUBIC_AA, "Bicubic, antialiased", "bicubic-aa"},
    {TC_POS_INTERP_BILINEAR, "Bilinear (as AnomalyCLIP)", "bilinear"});

DEFINE_ENUM_TYPE (precision_get_type, "GstTokenClipPrecision",
    {TC_PRECISION_AUTO, "fp16 on GPUs, fp32 on CPU devices (lavapipe)", "auto"},
    {TC_PRECISION_FP32, "fp32 throughout", "fp32"},
    {TC_PRECISION_FP16, "fp16 weights and matmul/attention inputs, fp32 sums; cooperative matrices where the "
        "device has them", "fp16"});

/* ---- the specs -------------------------------------------------------------- */

#define HEAD_FILE "; the head file's value unless set"

static tc_params
library_defaults (void)
{
  tc_params p;

  tc_params_init (&p);
  return p;
}

void
gst_tokenclip_install_properties (GObjectClass * klass)
{
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;
  /* not GST_PARAM_CONTROLLABLE: a map change rebuilds the overlay, too
   * costly to do per frame from a control binding */
  const GParamFlags live = rw | GST_PARAM_MUTABLE_PLAYING;
  const GParamFlags ready = rw | GST_PARAM_MUTABLE_READY;
  const tc_params lib = library_defaults ();     /* the specs' defaults */
  const struct {
    guint prop;
    GParamSpec *spec;
  } *p, specs[] = {
    {PROP_MODEL, g_param_spec_string ("model", "Model",
            "CLIP weights (safetensors, Hugging Face or open_clip naming; the vision tower is used)", NULL, ready)},
    {PROP_HEAD, g_param_spec_string ("head", "Head",
            "Head file: safetensors with the textual subspaces [Q, 2, D] and optional defaults of the analysis "
            "parameters (input-size, vv-start, pos-interp, resample, feature-layers, global-ln-post, topk, "
            "sinkhorn-eps, sinkhorn-iters, temperature, image-blend, blur-sigma), which apply unless the "
            "property is set", NULL, ready)},
    {PROP_OBJECT, g_param_spec_string ("object", "Object",
            "Zero-shot instead of a head file: the object's name (e.g. \"screw\"); the subspaces are computed "
            "once at start with the model's text tower from normal/abnormal prompts", NULL, ready)},
    {PROP_PROMPTS, g_param_spec_string ("prompts", "Prompt templates",
            "With object: a file of templates, one per line with one {} (NULL: the built-in photo templates); "
            "each template is one subspace", NULL, ready)},
    {PROP_VOCAB, g_param_spec_string ("vocab", "Vocabulary",
            "With object: CLIP's BPE vocabulary (bpe_simple_vocab_16e6.txt.gz, or vocab.json + merges.txt; "
            "NULL: beside the model, else the one installed with tokenclip)", NULL, ready)},
    {PROP_DEVICE, g_param_spec_string ("device", "Device",
            "Vulkan device: index or part of its name (NULL: $TOKENCLIP_DEVICE, else discrete GPU > integrated "
            "GPU > CPU)", NULL, ready)},
    {PROP_DEVICE_NAME, g_param_spec_string ("device-name", "Device name",
            "The Vulkan device in use (NULL until started)", NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)},
    {PROP_MODEL_INSTANCE_ID, g_param_spec_string ("model-instance-id", "Model instance id",
            "Elements (of one process) with the same id share one loaded model: weights, encoder and compiled "
            "kernels once, on one device; each keeps its own head, parameters and frames. They must name the "
            "same model file and device and load it alike (input-size, vv-start, pos-interp, feature-layers, "
            "global-ln-post, precision), else the element that differs fails to start with an error saying so "
            "(NULL: the element's own model, unless share-model)", NULL, ready)},
    {PROP_SHARE_MODEL, g_param_spec_boolean ("share-model", "Share model",
            "Without a model-instance-id: share the model with the other elements that load the same model "
            "file on the same device with share-model set", DEFAULT_SHARE_MODEL, ready)},
    {PROP_BATCH_SIZE, g_param_spec_uint ("batch-size", "Batch size",
            "With a shared model: frames of its elements gathered into one submission (the encoder runs them "
            "together); the element that loads the model sets it, the others must agree (1: none)", 1,
            TC_MAX_BATCH, DEFAULT_BATCH_SIZE, ready)},
    {PROP_BATCH_TIMEOUT, g_param_spec_uint ("batch-timeout", "Batch timeout",
            "With batch-size > 1: the longest a frame waits for the batch to fill, in microseconds, before it "
            "runs with the frames that came", 0, 10000000, DEFAULT_BATCH_TIMEOUT, ready)},
    {PROP_MODEL_USERS, g_param_spec_uint ("model-users", "Model users",
            "Elements using this element's model now, itself included (0 until started)", 0, G_MAXUINT, 0,
            G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)},
    {PROP_INPUT_SIZE, g_param_spec_uint ("input-size", "Input size",
            "Side of the square model input in pixels, a multiple of the patch size; the positional embedding "
            "is resized to it (0: the head file's value, else the model's own); at most 64 patches a side (896 for "
            "ViT-L/14, 1024 for ViT-B/16)", 0, TC_MAX_INPUT_SIZE, 0, ready)},
    {PROP_VV_START, g_param_spec_int ("vv-start", "V-V attention start",
            "First layer (from 1) of the value-value attention stream for the patch tokens; 0: off (plain "
            "CLIP); -1: the head file's value, else round(L/4) of the model's L layers (6 of 24, AnomalyCLIP's)",
            -1, 1024, -1, ready)},
    {PROP_POS_INTERP, g_param_spec_enum ("pos-interp", "Positional interpolation",
            "Resize of the positional embedding when the input size is not the model's" HEAD_FILE,
            pos_interp_get_type (), lib.pos_interp, ready)},
    {PROP_RESAMPLE, g_param_spec_enum ("resample", "Resample",
            "Filter from the frame to the model input" HEAD_FILE, resample_get_type (), lib.resample, ready)},
    {PROP_FEATURE_LAYERS, gst_param_spec_array ("feature-layers", "Feature layers",
            "Layers (from 1, increasing, at most 8) whose patch tokens are scored, their scores summed, e.g. "
            "<6,12,18,24> (empty: the head file's, else the last layer)",
            g_param_spec_uint ("layer", "Layer", "A layer, from 1", 1, 1024, 1, rw), ready)},
    {PROP_GLOBAL_LN_POST, g_param_spec_boolean ("global-ln-post", "Global token ln_post",
            "Layer-normalise the global token before its projection as CLIP does (false: as AnomalyCLIP)"
            HEAD_FILE, lib.global_ln_post != 0, ready)},
    {PROP_PRECISION, g_param_spec_enum ("precision", "Precision",
            "Arithmetic of the image encoder: fp16 against fp32 moves the anomaly map and scores by about 5e-4 "
            "(tested below 3e-3 on a small model)", precision_get_type (), lib.precision, ready)},
    {PROP_TOPK, g_param_spec_uint ("topk", "Top k",
            "Subspaces kept per token after Sinkhorn (0: the head file's value, else all; to keep all over a "
            "head file's value, give the head's number of subspaces; a head holds at most 128)", 0,
            TC_MAX_SUBSPACES, 0, live)},
    {PROP_SINKHORN_EPS, g_param_spec_float ("sinkhorn-eps", "Sinkhorn epsilon",
            "Entropic regularisation of the transport (0: the head file's value, else 0.05)", 0.0f, 10.0f, 0.0f,
            live)},
    {PROP_SINKHORN_ITERS, g_param_spec_uint ("sinkhorn-iters", "Sinkhorn iterations",
            "Iteration limit of Sinkhorn (0: the head file's value, else 100)", 0, 10000, 0, live)},
    {PROP_TEMPERATURE, g_param_spec_float ("temperature", "Temperature",
            "Softmax temperature of the normal/abnormal probabilities (0: the head file's value, else 0.07)",
            0.0f, 10.0f, 0.0f, live)},
    {PROP_IMAGE_BLEND, g_param_spec_float ("image-blend", "Image-score blend",
            "Weight of the map's maximum in the image score: 0 the global token's score alone (AnomalyCLIP's), "
            "1 the map's maximum alone" HEAD_FILE, 0.0f, 1.0f, lib.image_blend, live)},
    {PROP_ALPHA, g_param_spec_float ("alpha", "Alpha", "Opacity of the heatmap (0: frames untouched)", 0.0f,
            1.0f, lib.alpha, live)},
    {PROP_COLORMAP, g_param_spec_enum ("colormap", "Colormap", "Colours of the heatmap", colormap_get_type (),
            lib.colormap, live)},
    {PROP_BLUR_SIGMA, g_param_spec_float ("blur-sigma", "Blur sigma",
            "Gaussian blur of the map (scipy's), sigma in model-input pixels, scaled to the frame per axis (at "
            "a frame of the input size: AnomalyCLIP's map), at most 4096 frame pixels; 0: none" HEAD_FILE,
            0.0f, 256.0f, lib.sigma, live)},
    {PROP_THRESHOLD, g_param_spec_float ("threshold", "Threshold",
            "Anomaly score from which a frame is anomalous (message) and token regions become "
            "region-of-interest meta; with several feature-layers it applies to the layers' mean, while the "
            "token scores and max-score are their sum (AnomalyCLIP's map)", 0.0f, 1.0f, lib.threshold, live)},
    {PROP_OVERLAY_THRESHOLD, g_param_spec_float ("overlay-threshold", "Overlay threshold",
            "Normalised map value below which no colour is blended", 0.0f, 1.0f, lib.overlay_threshold, live)},
    {PROP_NORMALIZE, g_param_spec_enum ("normalize", "Normalize", "How map values are spread over the colormap",
            normalize_get_type (), DEFAULT_NORMALIZE, live)},
    {PROP_INFERENCE_INTERVAL, g_param_spec_uint ("inference-interval", "Inference interval",
            "Analyse every Nth frame; the frames between get the latest map", 1, G_MAXINT, lib.interval, live)},
    {PROP_MODE, g_param_spec_enum ("mode", "Mode", "Whether video waits for the analysis", mode_get_type (),
            DEFAULT_MODE, ready)},
    {PROP_ATTACH_MAP, g_param_spec_boolean ("attach-map", "Attach map",
            "Attach the token scores to buffers as GstTokenClipMeta", DEFAULT_ATTACH_MAP, live)},
    {PROP_MAX_REGIONS, g_param_spec_uint ("max-regions", "Max regions",
            "Most region-of-interest metas per buffer, highest scores first (0: none)", 0,
            GST_TOKENCLIP_MAX_REGIONS, lib.max_regions, live)},
  };

  for (p = specs; p < specs + G_N_ELEMENTS (specs); p++)
    g_object_class_install_property (klass, p->prop, p->spec);
  gst_type_mark_as_plugin_api (colormap_get_type (), 0);
  gst_type_mark_as_plugin_api (mode_get_type (), 0);
  gst_type_mark_as_plugin_api (normalize_get_type (), 0);
  gst_type_mark_as_plugin_api (resample_get_type (), 0);
  gst_type_mark_as_plugin_api (pos_interp_get_type (), 0);
  gst_type_mark_as_plugin_api (precision_get_type (), 0);
}

/* ---- strings ---------------------------------------------------------------- */

gchar **
gst_tokenclip_string_prop (GstTokenClip * self, guint prop_id)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (string_props); i++)
    if (string_props[i].prop == prop_id)
      return G_STRUCT_MEMBER_P (self, string_props[i].offset);
  return NULL;
}

void
gst_tokenclip_free_strings (GstTokenClip * self)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (string_props); i++)
    g_clear_pointer ((gchar **) G_STRUCT_MEMBER_P (self, string_props[i].offset), g_free);
}

/* ---- parameters ------------------------------------------------------------- */

gint
gst_tokenclip_param_prop (guint prop_id)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (param_props); i++)
    if (param_props[i].prop == prop_id)
      return (gint) i;
  return -1;
}

/* The layers of a GstValueArray of whole numbers; FALSE (err filled) for
 * more than the library takes or a value that is not a whole number. */
static gboolean
layers_from_array (const GValue * value, guint32 * layers, guint * n, tc_error * err)
{
  guint i, size = gst_value_array_get_size (value);

  if (size > TC_MAX_FEATURE_LAYERS) {
    err->status = TC_ERR_INVALID_ARGUMENT;
    g_snprintf (err->message, sizeof err->message, "feature-layers: %u layers; at most %d", size,
        TC_MAX_FEATURE_LAYERS);
    return FALSE;
  }
  for (i = 0; i < size; i++) {
    const GValue *v = gst_value_array_get_value (value, i);
    gint64 x = G_VALUE_HOLDS_UINT (v) ? (gint64) g_value_get_uint (v) : G_VALUE_HOLDS_INT (v) ?
        g_value_get_int (v) : -1;

    if (x < 1 || x > G_MAXUINT32) {
      err->status = TC_ERR_INVALID_ARGUMENT;
      g_snprintf (err->message, sizeof err->message, "feature-layers: element %u is not a layer (a whole number "
          "from 1)", i);
      return FALSE;
    }
    layers[i] = (guint32) x;
  }
  *n = size;
  return TRUE;
}

gchar *
gst_tokenclip_props_message (GObject * object, const gchar * message)
{
  guint i, j, n;
  GParamSpec **specs = g_object_class_list_properties (G_OBJECT_GET_CLASS (object), &n);
  gchar *out = NULL;

  for (i = 0; i < G_N_ELEMENTS (param_props) && !out; i++) {
    const char *name = tc_param_name (param_props[i].param);
    gsize len = strlen (name);

    if (strncmp (message, name, len) != 0 || (message[len] != ' ' && message[len] != ':'))
      continue;
    for (j = 0; j < n && !out; j++)
      if (specs[j]->param_id == param_props[i].prop)
        out = g_strconcat (g_param_spec_get_name (specs[j]), message + len, NULL);
  }
  g_free (specs);
  return out ? out : g_strdup (message);
}

gboolean
gst_tokenclip_param_store (tc_params * p, gint row, const GValue * value, tc_error * err)
{
  tc_param id = param_props[row].param;
  gdouble v;

  if (GST_VALUE_HOLDS_ARRAY (value)) {
    guint32 layers[TC_MAX_FEATURE_LAYERS];
    guint n = 0;

    return layers_from_array (value, layers, &n, err) && tc_params_set_list (p, id, layers, n, err) == TC_OK;
  }
  v = G_VALUE_HOLDS_UINT (value) ? g_value_get_uint (value) : G_VALUE_HOLDS_INT (value) ?
      g_value_get_int (value) : G_VALUE_HOLDS_FLOAT (value) ? g_value_get_float (value) :
      G_VALUE_HOLDS_BOOLEAN (value) ? g_value_get_boolean (value) : g_value_get_enum (value);
  if (v == param_props[row].unset) {
    tc_params_unset (p, id);
    return TRUE;
  }
  return tc_params_set (p, id, v, err) == TC_OK;
}

void
gst_tokenclip_param_load (const tc_params * p, gint row, GValue * value)
{
  tc_param id = param_props[row].param;
  gdouble v = !tc_params_is_set (p, id) && !isnan (param_props[row].unset) ? param_props[row].unset :
      tc_params_get (p, id);

  if (GST_VALUE_HOLDS_ARRAY (value)) {
    guint32 layers[TC_MAX_FEATURE_LAYERS];
    guint i, n = tc_params_get_list (p, id, layers, TC_MAX_FEATURE_LAYERS);

    g_value_reset (value);
    for (i = 0; i < n; i++) {
      GValue layer = G_VALUE_INIT;

      g_value_init (&layer, G_TYPE_UINT);
      g_value_set_uint (&layer, layers[i]);
      gst_value_array_append_and_take_value (value, &layer);
    }
  } else if (G_VALUE_HOLDS_UINT (value)) {
    g_value_set_uint (value, (guint) v);
  } else if (G_VALUE_HOLDS_INT (value)) {
    g_value_set_int (value, (gint) v);
  } else if (G_VALUE_HOLDS_FLOAT (value)) {
    g_value_set_float (value, (gfloat) v);
  } else if (G_VALUE_HOLDS_BOOLEAN (value)) {
    g_value_set_boolean (value, v != 0);
  } else {
    g_value_set_enum (value, (gint) v);
  }
}
