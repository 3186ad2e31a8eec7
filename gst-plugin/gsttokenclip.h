#ifndef GST_TOKENCLIP_H
#define GST_TOKENCLIP_H

#include <gst/gst.h>
#include <gst/video/gstvideofilter.h>
#include <gst/video/video.h>

#include "tc_detector.h"
#include "tc_regions.h"

G_BEGIN_DECLS

#define GST_TYPE_TOKENCLIP (gst_tokenclip_get_type ())
G_DECLARE_FINAL_TYPE (GstTokenClip, gst_tokenclip, GST, TOKENCLIP, GstVideoFilter)

typedef enum {
  GST_TOKENCLIP_MODE_SYNC,
  GST_TOKENCLIP_MODE_ASYNC,
} GstTokenClipMode;

typedef enum {
  GST_TOKENCLIP_NORMALIZE_FIXED,
  GST_TOKENCLIP_NORMALIZE_MINMAX,
} GstTokenClipNormalize;

/* Most regions attached per buffer (the max-regions property's maximum). */
#define GST_TOKENCLIP_MAX_REGIONS 64

/* The head properties, kept together so a refused change can be undone. */
typedef struct {
  guint topk, sinkhorn_iters;
  gfloat sinkhorn_eps, temperature;
} GstTokenClipHeadProps;

/* The latest finished analysis, shared by the analysing and the streaming threads. */
typedef struct {
  gboolean valid;
  guint grid;
  gfloat *scores;               /* grid x grid token scores */
  gdouble image_score;
  GstClockTime running_time;    /* of the analysed frame */
  tc_region regions[GST_TOKENCLIP_MAX_REGIONS];
  gsize n_regions;              /* ROI metas to attach: at most max-regions */
} GstTokenClipResult;

struct _GstTokenClip {
  GstVideoFilter parent;

  /* properties, under the object lock */
  gchar *model, *head, *device;
  gchar *object, *prompts, *vocab; /* zero-shot subspaces from words, instead of a head file */
  guint input_size, vv_start;
  GstTokenClipHeadProps head_props; /* 0: the head file's value */
  gfloat alpha, blur_sigma, threshold, overlay_threshold;
  tc_colormap colormap;
  GstTokenClipNormalize normalize;
  guint inference_interval, max_regions;
  GstTokenClipMode mode;
  gboolean attach_map;
  gboolean head_dirty, map_dirty; /* live changes to apply before the next frame */
  tc_head_params head_base;       /* the head file's parameters (or the library's defaults) */
  GstTokenClipHeadProps applied;  /* the head properties last accepted */
  gboolean running;               /* between start and stop: load-time properties are fixed */
  gchar *device_name;             /* of the running detector */

  /* running state: the detector, its frame layout and one analysis at a time */
  GMutex analyse_lock;
  tc_detector *det;
  tc_frame frame;
  gboolean have_frame;

  /* streaming thread only */
  guint64 frame_count;
  gboolean async;
  tc_frame frame_layout;
  gfloat *overlay_scores;
  guint overlay_grid;

  GMutex result_lock;
  GstTokenClipResult result;
  guint generation;               /* bumped by a flush: older analyses are dropped */

  /* async mode: the newest frame waits here for the analysis thread */
  GThread *worker;
  GMutex worker_lock;
  GCond worker_cond;
  gboolean worker_stop, pending, busy, worker_failed;
  guint8 *pending_pixels;
  gsize pending_size;
  tc_frame pending_frame;
  GstClockTime pending_running_time;
  guint pending_generation;
  tc_error worker_error;          /* why the analysis thread stopped */
};

GST_ELEMENT_REGISTER_DECLARE (tokenclip);

G_END_DECLS

#endif
