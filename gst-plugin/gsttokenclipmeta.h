/* GstTokenClipMeta: the raw anomaly scores of the analysed frame, for
 * applications that want more than pixels and ROI boxes. */
#ifndef GST_TOKENCLIP_META_H
#define GST_TOKENCLIP_META_H

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TOKENCLIP_META_API_TYPE (gst_tokenclip_meta_api_get_type ())
#define GST_TOKENCLIP_META_INFO (gst_tokenclip_meta_get_info ())

typedef struct _GstTokenClipMeta GstTokenClipMeta;

/**
 * GstTokenClipMeta:
 * @meta: parent #GstMeta
 * @grid_width: columns of the token grid
 * @grid_height: rows of the token grid
 * @scores: per-token anomaly scores in [0, 1], raster order, grid_width * grid_height floats (owned)
 * @image_score: the frame's anomaly score
 * @running_time: running time of the frame the scores were computed on (in async mode an earlier frame)
 *
 * Attached by tokenclip when its attach-map property is set. The grid covers
 * the whole picture: the meta follows a copy or a scale of the frame
 * (videoscale, videoconvert) unchanged; elements that crop or flip the
 * picture (videocrop, videoflip) drop it, as its tags (video, size,
 * orientation) tell them to.
 */
struct _GstTokenClipMeta {
  GstMeta meta;
  guint grid_width, grid_height;
  gfloat *scores;
  gdouble image_score;
  GstClockTime running_time;
};

/* For the plugin itself. */
GType gst_tokenclip_meta_api_get_type (void);
const GstMetaInfo *gst_tokenclip_meta_get_info (void);

/* The meta API's registered name. Applications that do not link the plugin
 * (the usual case: it is loaded by the registry) find the meta with
 * gst_buffer_get_tokenclip_meta(), which looks the type up by this name. */
#define GST_TOKENCLIP_META_API_NAME "GstTokenClipMetaAPI"

static inline GstTokenClipMeta *
gst_buffer_get_tokenclip_meta (GstBuffer * buffer)
{
  GType api = g_type_from_name (GST_TOKENCLIP_META_API_NAME);

  return api ? (GstTokenClipMeta *) gst_buffer_get_meta (buffer, api) : NULL;
}

/* Copies scores. */
GstTokenClipMeta *gst_buffer_add_tokenclip_meta (GstBuffer * buffer, guint grid_width, guint grid_height,
    const gfloat * scores, gdouble image_score, GstClockTime running_time);

G_END_DECLS

#endif
