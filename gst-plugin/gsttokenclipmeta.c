#include "gsttokenclipmeta.h"

#include <gst/video/video.h>
#include <string.h>

GType
gst_tokenclip_meta_api_get_type (void)
{
  static GType type = 0;
  /* the scores lie on a grid over the whole picture: they depend on its size
   * (a crop moves them) and orientation (a flip moves them); an element that
   * changes either drops the meta unless meta_transform can follow */
  static const gchar *tags[] = { GST_META_TAG_VIDEO_STR, GST_META_TAG_VIDEO_SIZE_STR,
    GST_META_TAG_VIDEO_ORIENTATION_STR, NULL };

  if (g_once_init_enter (&type)) {
    GType t = gst_meta_api_type_register (GST_TOKENCLIP_META_API_NAME, tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

static gboolean
meta_init (GstMeta * meta, gpointer params, GstBuffer * buffer)
{
  GstTokenClipMeta *m = (GstTokenClipMeta *) meta;

  m->grid_width = m->grid_height = 0;
  m->scores = NULL;
  m->image_score = 0;
  m->running_time = GST_CLOCK_TIME_NONE;
  return TRUE;
}

static void
meta_free (GstMeta * meta, GstBuffer * buffer)
{
  g_free (((GstTokenClipMeta *) meta)->scores);
}

/* A copy of the whole buffer, and a scale (videoscale; videoconvert asks the
 * same with equal sizes), keep the grid over the whole picture: the meta goes
 * on as it is. A copy of part of the buffer no longer holds the picture the
 * grid covers: no meta. Anything else (GStreamer 1.22 has no crop or flip
 * transform) is refused, so the element drops the meta. */
static gboolean
meta_transform (GstBuffer * dest, GstMeta * meta, GstBuffer * buffer, GQuark type, gpointer data)
{
  GstTokenClipMeta *m = (GstTokenClipMeta *) meta;

  if (GST_META_TRANSFORM_IS_COPY (type) && ((GstMetaTransformCopy *) data)->region)
    return TRUE;
  if (!GST_META_TRANSFORM_IS_COPY (type) && !GST_VIDEO_META_TRANSFORM_IS_SCALE (type))
    return FALSE;
  return gst_buffer_add_tokenclip_meta (dest, m->grid_width, m->grid_height, m->scores, m->image_score,
      m->running_time) != NULL;
}

const GstMetaInfo *
gst_tokenclip_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter (&info)) {
    const GstMetaInfo *i = gst_meta_register (GST_TOKENCLIP_META_API_TYPE, "GstTokenClipMeta",
        sizeof (GstTokenClipMeta), meta_init, meta_free, meta_transform);
    g_once_init_leave (&info, i);
  }
  return info;
}

GstTokenClipMeta *
gst_buffer_add_tokenclip_meta (GstBuffer * buffer, guint grid_width, guint grid_height, const gfloat * scores,
    gdouble image_score, GstClockTime running_time)
{
  GstTokenClipMeta *m;

  g_return_val_if_fail (scores != NULL && grid_width > 0 && grid_height > 0, NULL);
  m = (GstTokenClipMeta *) gst_buffer_add_meta (buffer, GST_TOKENCLIP_META_INFO, NULL);
  if (!m)
    return NULL;
  m->grid_width = grid_width;
  m->grid_height = grid_height;
  m->scores = g_memdup2 (scores, sizeof (gfloat) * grid_width * grid_height);
  m->image_score = image_score;
  m->running_time = running_time;
  return m;
}
