/* GStreamer
 * Copyright (C) 2026 gst-tokenclip developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */

/* Models shared by tokenclip elements in one process, by name: the
 * model-instance-id property (DL Streamer's convention), or the model file
 * and device with share-model. The first element to start under a name loads
 * the model (libtokenclip's tc_model); the others use it; the last to stop
 * releases it. */
#ifndef GST_TOKENCLIP_SHARED_H
#define GST_TOKENCLIP_SHARED_H

#include <glib.h>
#include <tokenclip/tokenclip.h>

G_BEGIN_DECLS

/* The model under `name` (loaded from `options` if none is), for one more
 * user; NULL with err filled when `options` name another model file or
 * device than the one loaded under that name. */
tc_model *gst_tokenclip_shared_acquire (const gchar * name, const tc_detector_options * options, tc_error * err);

/* One user less; the last releases the model. */
void gst_tokenclip_shared_release (const gchar * name);

/* Users of the model under `name` now (0: none loaded). */
guint gst_tokenclip_shared_users (const gchar * name);

G_END_DECLS

#endif
