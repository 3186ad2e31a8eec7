#ifndef GST_TOKENCLIP_H
#define GST_TOKENCLIP_H

#include <gst/gst.h>
#include <gst/video/gstvideofilter.h>
#include <gst/video/video.h>

#include <tokenclip/tokenclip.h>

G_BEGIN_DECLS

#define GST_TYPE_TOKENCLIP (gst_tokenclip_get_type ())
G_DECLARE_FINAL_TYPE (GstTokenClip, gst_tokenclip, GST, TOKENCLIP, GstVideoFilter)

typedef enum {
  GST_TOKENCLIP_MODE_SYNC = TC_RUNNER_SYNC,
  GST_TOKENCLIP_MODE_ASYNC = TC_RUNNER_ASYNC,
} GstTokenClipMode;

/* The value is the fixed_range parameter. */
typedef enum {
  GST_TOKENCLIP_NORMALIZE_MINMAX = 0,
  GST_TOKENCLIP_NORMALIZE_FIXED = 1,
} GstTokenClipNormalize;

/* Most regions attached per buffer (the max-regions property's maximum). */
#define GST_TOKENCLIP_MAX_REGIONS TC_MAX_REGIONS

struct _GstTokenClip {
  GstVideoFilter parent;

  /* under the object lock */
  gchar *model, *head, *device;
  gchar *object, *prompts, *vocab; /* zero-shot subspaces from words, instead of a head file */
  tc_params params;                /* what the other properties set, as the library takes them */
  GstTokenClipMode mode;
  gboolean attach_map;
  gchar *model_instance_id;        /* a shared model's name (NULL: none, unless share_model) */
  gboolean share_model;
  guint batch_size, batch_timeout; /* of a shared model: frames a submission, microseconds a frame waits */
  gchar *shared_name;              /* the name of the shared model in use, from start to stop */
  gboolean running;                /* from start to stop: the properties above are fixed */
  gchar *device_name;              /* of the running detector */
  tc_runner *runner;               /* the analysis: between start and stop */

  /* streaming thread only */
  tc_frame layout;                 /* the negotiated frames' layout */
  GstVideoInfo info;               /* and as GStreamer describes it */
  struct _GstTokenClipVulkan *vulkan; /* memory:VulkanBuffer frames: their device (gsttokenclipvulkan.h) */
  guint8 *repack;                  /* YUV planes packed for the runner, when a buffer's are not one block */
  GstCaps *refused_caps;           /* the caps last refused with an ERROR: a renegotiation does not post it again */
};

GST_ELEMENT_REGISTER_DECLARE (tokenclip);

G_END_DECLS

#endif
