/* GStreamer
 * Copyright (C) 2026 gst-tokenclip developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */

/* GStreamer's video frames as libtokenclip takes them: the caps' format and
 * colorimetry as a tc_frame, and the planes of a buffer packed into the
 * tc_frame layout where they are not already in it. */
#ifndef GST_TOKENCLIP_FRAME_H
#define GST_TOKENCLIP_FRAME_H

#include <gst/video/video.h>
#include <tokenclip/tokenclip.h>

G_BEGIN_DECLS

#define GST_TOKENCLIP_FORMATS "{ RGBA, BGRA, RGBx, BGRx, NV12, I420, YUY2 }"
/* memory:VulkanImage frames: not YUY2 (vulkanupload makes no YUY2 images) */
#define GST_TOKENCLIP_IMAGE_FORMATS "{ RGBA, BGRA, RGBx, BGRx, NV12, I420 }"

/* The tc_frame of frames described by `info`: format, size and, for YUV,
 * matrix and range. Colorimetry left unknown gets GStreamer's own default
 * (BT.709 from 720 rows up, else BT.601; limited range). FALSE where the
 * library cannot take them, with `why` set to a message naming the problem
 * (g_free it). */
gboolean gst_tokenclip_frame_from_info (const GstVideoInfo * info, tc_frame * frame, gchar ** why);

/* Whether the planes of `v` already lie as libtokenclip takes a planar frame
 * (tc_frame_planes at `v`'s Y stride). Packed formats always do. */
gboolean gst_tokenclip_frame_in_layout (const GstVideoFrame * v, const tc_frame * f);

/* Copies the planes of a frame `v` into `packed`, in the layout
 * tc_frame_planes (f) gives (to_packed), or back from it; `packed` holds
 * tc_frame_bytes (f). */
void gst_tokenclip_frame_pack (GstVideoFrame * v, const tc_frame * f, guint8 * packed, gboolean to_packed);

G_END_DECLS

#endif
