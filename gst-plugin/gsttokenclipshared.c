/* GStreamer
 * Copyright (C) 2026 gst-tokenclip developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */

/* Models shared by tokenclip elements (gsttokenclipshared.h). */
#include "gsttokenclipshared.h"

#include <string.h>

typedef struct {
  tc_model *model;              /* the registry's reference */
  gchar *path, *device;         /* as the first user gave them (device NULL: the default) */
  guint batch_size, batch_timeout_us;
  guint users;
} SharedModel;

/* Held while a model loads too: a second element under the same name waits
 * for it rather than loading its own. */
static GMutex lock;
static GHashTable *models;      /* name -> SharedModel */

static void
shared_model_free (gpointer data)
{
  SharedModel *s = data;

  tc_model_unref (s->model);
  g_free (s->path);
  g_free (s->device);
  g_free (s);
}

static tc_model *
check_same (const gchar * name, SharedModel * s, const tc_detector_options * o, tc_error * err)
{
  if (g_strcmp0 (o->model_path, s->path) != 0) {
    err->status = TC_ERR_MISMATCH;
    g_snprintf (err->message, sizeof err->message, "model-instance-id '%s' is the model %s; this element "
        "names %s (give it another id)", name, s->path, o->model_path ? o->model_path : "(none)");
    return NULL;
  }
  if (g_strcmp0 (o->device, s->device) != 0) {
    err->status = TC_ERR_MISMATCH;
    g_snprintf (err->message, sizeof err->message, "model-instance-id '%s' is loaded on %s (device '%s'); this "
        "element asks for device '%s' (a shared model lives on one device)", name,
        tc_model_device_name (s->model), s->device ? s->device : "default", o->device ? o->device : "default");
    return NULL;
  }
  if (MAX (o->batch_size, 1) != s->batch_size || o->batch_timeout_us != s->batch_timeout_us) {
    err->status = TC_ERR_MISMATCH;
    g_snprintf (err->message, sizeof err->message, "model-instance-id '%s' has batch-size %u, batch-timeout %u; "
        "this element asks for batch-size %u, batch-timeout %u (the elements of one model agree)", name,
        s->batch_size, s->batch_timeout_us, MAX (o->batch_size, 1), o->batch_timeout_us);
    return NULL;
  }
  s->users++;
  return s->model;
}

tc_model *
gst_tokenclip_shared_acquire (const gchar * name, const tc_detector_options * o, tc_error * err)
{
  SharedModel *s;
  tc_model *model = NULL;

  g_mutex_lock (&lock);
  if (!models)
    models = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, shared_model_free);
  s = g_hash_table_lookup (models, name);
  if (s) {
    model = check_same (name, s, o, err);
  } else if (tc_model_create (o, &model, err) == TC_OK) {
    s = g_new0 (SharedModel, 1);
    s->model = model;
    s->path = g_strdup (o->model_path);
    s->device = g_strdup (o->device);
    s->batch_size = MAX (o->batch_size, 1);
    s->batch_timeout_us = o->batch_timeout_us;
    s->users = 1;
    g_hash_table_insert (models, g_strdup (name), s);
  }
  g_mutex_unlock (&lock);
  return model;
}

void
gst_tokenclip_shared_release (const gchar * name)
{
  SharedModel *s;

  g_mutex_lock (&lock);
  s = models ? g_hash_table_lookup (models, name) : NULL;
  if (s && --s->users == 0)
    g_hash_table_remove (models, name);
  g_mutex_unlock (&lock);
}

guint
gst_tokenclip_shared_users (const gchar * name)
{
  SharedModel *s;
  guint users;

  g_mutex_lock (&lock);
  s = models ? g_hash_table_lookup (models, name) : NULL;
  users = s ? s->users : 0;
  g_mutex_unlock (&lock);
  return users;
}
