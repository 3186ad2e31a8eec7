/* GStreamer
 * Copyright (C) 2026 gst-tokenclip developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */

/* The tokenclip element's properties: their specs (the blurbs say where a
 * default comes from) and, through one table, the translation of the
 * analysis parameters between properties and tc_params. A parameter a head
 * file holds a default for takes the head file's value unless the property
 * is set. */
#ifndef GST_TOKENCLIP_PROPS_H
#define GST_TOKENCLIP_PROPS_H

#include "gsttokenclip.h"

G_BEGIN_DECLS

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
  PROP_POS_INTERP,
  PROP_RESAMPLE,
  PROP_FEATURE_LAYERS,
  PROP_GLOBAL_LN_POST,
  PROP_PRECISION,
  PROP_TOPK,
  PROP_SINKHORN_EPS,
  PROP_SINKHORN_ITERS,
  PROP_TEMPERATURE,
  PROP_IMAGE_BLEND,
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
  PROP_MODEL_INSTANCE_ID,
  PROP_SHARE_MODEL,
  PROP_MODEL_USERS,
  PROP_BATCH_SIZE,
  PROP_BATCH_TIMEOUT,
};

#define DEFAULT_NORMALIZE GST_TOKENCLIP_NORMALIZE_FIXED
#define DEFAULT_MODE GST_TOKENCLIP_MODE_SYNC
#define DEFAULT_ATTACH_MAP FALSE
#define DEFAULT_SHARE_MODEL FALSE
#define DEFAULT_BATCH_SIZE 1
#define DEFAULT_BATCH_TIMEOUT 40000     /* us: a frame interval at 25 fps */

/* Installs every property on the class and marks the enum types as plugin API. */
void gst_tokenclip_install_properties (GObjectClass * klass);

/* The field of a string property, NULL if prop_id is not one. */
gchar **gst_tokenclip_string_prop (GstTokenClip * self, guint prop_id);
/* Frees every string property. */
void gst_tokenclip_free_strings (GstTokenClip * self);

/* The row of a parameter property, -1 if prop_id is not one. */
gint gst_tokenclip_param_prop (guint prop_id);
/* A parameter property's value into p: set, or unset where the value says
 * "not set" (then the head file's default applies); FALSE with err filled
 * when the library refuses it. */
/* A library message that starts with a parameter's name ("input_size 7: ...")
 * with the property's name instead ("input-size 7: ..."); g_free it. */
gchar *gst_tokenclip_props_message (GObject * object, const gchar * message);

gboolean gst_tokenclip_param_store (tc_params * p, gint row, const GValue * value, tc_error * err);
/* The property's value from p ("not set" for a field not set, where the
 * property has such a value). */
void gst_tokenclip_param_load (const tc_params * p, gint row, GValue * value);

G_END_DECLS

#endif
