/* GStreamer
 * Copyright (C) 2026 gst-tokenclip developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */

#include <string.h>

#include "gsttokenclipframe.h"

gboolean
gst_tokenclip_frame_from_info (const GstVideoInfo * info, tc_frame * frame, gchar ** why)
{
  static const GstVideoFormat formats[] = {     /* in tc_frame_format's order */
    GST_VIDEO_FORMAT_RGBA, GST_VIDEO_FORMAT_BGRA, GST_VIDEO_FORMAT_RGBx, GST_VIDEO_FORMAT_BGRx,
    GST_VIDEO_FORMAT_NV12, GST_VIDEO_FORMAT_I420, GST_VIDEO_FORMAT_YUY2
  };
  const GstVideoColorimetry *c = &GST_VIDEO_INFO_COLORIMETRY (info);
  guint format = 0;

  while (format < G_N_ELEMENTS (formats) && formats[format] != GST_VIDEO_INFO_FORMAT (info))
    format++;
  if (format == G_N_ELEMENTS (formats)) {
    *why = g_strdup_printf ("Unsupported video format %s: tokenclip takes " GST_TOKENCLIP_FORMATS,
        gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (info)));
    return FALSE;
  }
  *frame = tc_frame_make ((tc_frame_format) format, GST_VIDEO_INFO_WIDTH (info), GST_VIDEO_INFO_HEIGHT (info));
  if (!GST_VIDEO_INFO_IS_YUV (info))
    return TRUE;
  if (c->matrix == GST_VIDEO_COLOR_MATRIX_BT709)
    frame->matrix = TC_YUV_BT709;
  else if (c->matrix == GST_VIDEO_COLOR_MATRIX_BT601)
    frame->matrix = TC_YUV_BT601;
  else if (c->matrix == GST_VIDEO_COLOR_MATRIX_UNKNOWN)
    frame->matrix = GST_VIDEO_INFO_HEIGHT (info) >= 720 ? TC_YUV_BT709 : TC_YUV_BT601;
  else {
    gchar *name = gst_video_colorimetry_to_string (c);
    *why = g_strdup_printf ("Unsupported YUV colorimetry %s: tokenclip reads YUV in the BT.601 or BT.709 matrix; "
        "put videoconvert ! video/x-raw,colorimetry=bt709 before it (videoconvert alone passes the frames "
        "through)", GST_STR_NULL (name));
    g_free (name);
    return FALSE;
  }
  frame->full_range = c->range == GST_VIDEO_COLOR_RANGE_0_255;
  return TRUE;
}

/* GStreamer's buffers are mostly so (even sizes, default strides); not: I420
 * with a chroma stride rounded up, odd heights, planes in separate memories.
 * The library reads a host frame's rows at GStreamer's Y stride. */
gboolean
gst_tokenclip_frame_in_layout (const GstVideoFrame * v, const tc_frame * f)
{
  const guint8 *y = GST_VIDEO_FRAME_PLANE_DATA (v, 0);
  tc_frame host = *f;
  tc_frame_plane pl[3];
  int n, p;

  host.stride = GST_VIDEO_FRAME_PLANE_STRIDE (v, 0);
  if (f->format == TC_FRAME_I420 && host.stride % 2)
    return FALSE;               /* chroma rows at exactly half of it */
  n = tc_frame_planes (&host, pl);
  for (p = 1; p < n; p++)
    if ((const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (v, p) != y + pl[p].offset
        || (gsize) GST_VIDEO_FRAME_PLANE_STRIDE (v, p) != pl[p].stride)
      return FALSE;
  return TRUE;
}

void
gst_tokenclip_frame_pack (GstVideoFrame * v, const tc_frame * f, guint8 * packed, gboolean to_packed)
{
  tc_frame_plane pl[3];
  int n = tc_frame_planes (f, pl), p;
  guint r;

  for (p = 0; p < n; p++)
    for (r = 0; r < pl[p].rows; r++) {
      guint8 *g = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (v, p) + r * GST_VIDEO_FRAME_PLANE_STRIDE (v, p);
      guint8 *t = packed + pl[p].offset + r * pl[p].stride;
      memcpy (to_packed ? t : g, to_packed ? g : t, pl[p].row_bytes);
    }
}
