/* tokenclip-scores: a small application around the tokenclip element.
 *
 * Runs a pipeline (a video file, or the test pattern), reads the element's
 * `tokenclip` bus messages and prints one line per analysed frame, plus the
 * anomaly regions attached to the buffers as GstVideoRegionOfInterestMeta.
 *
 *   tokenclip-scores MODEL.safetensors HEAD.safetensors [VIDEO] [FRAMES]
 *
 * The plugin is found through GST_PLUGIN_PATH (build/gst-plugin in a build
 * tree) or the system plugin directory once installed. */
#include <gst/gst.h>
#include <gst/video/video.h>
#include <stdio.h>
#include <stdlib.h>

/* Prints the regions of each buffer leaving tokenclip. */
static GstPadProbeReturn on_buffer(GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
  gpointer state = NULL;
  GstMeta *meta;
  while ((meta = gst_buffer_iterate_meta_filtered(buf, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    GstVideoRegionOfInterestMeta *roi = (GstVideoRegionOfInterestMeta *)meta;
    GstStructure *s = gst_video_region_of_interest_meta_get_param(roi, "anomaly");
    double score = 0;
    if (s)
      gst_structure_get_double(s, "max-score", &score);
    printf("  region %ux%u at (%u,%u), max score %.3f\n", roi->w, roi->h, roi->x, roi->y, score);
  }
  return GST_PAD_PROBE_OK;
}

int main(int argc, char **argv)
{
  gst_init(&argc, &argv);
  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL.safetensors HEAD.safetensors [VIDEO] [FRAMES]\n", argv[0]);
    return 2;
  }
  const char *video = argc > 3 && argv[3][0] ? argv[3] : NULL;
  int frames = argc > 4 ? atoi(argv[4]) : 10;

  gchar *src = video ? g_strdup_printf("filesrc location=\"%s\" ! decodebin ! videoconvert ! videoscale", video)
                     : g_strdup_printf("videotestsrc num-buffers=%d ! video/x-raw,width=320,height=240", frames);
  gchar *desc = g_strdup_printf("%s ! videoconvert ! video/x-raw,format=RGBA ! "
                                "tokenclip name=tc model=\"%s\" head=\"%s\" threshold=0.6 ! fakesink",
                                src, argv[1], argv[2]);
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch(desc, &error);
  g_free(src);
  g_free(desc);
  /* a missing element is a "recoverable" error: a pipeline comes back too */
  if (error) {
    fprintf(stderr, "pipeline: %s%s\n", error->message,
            g_error_matches(error, GST_PARSE_ERROR, GST_PARSE_ERROR_NO_SUCH_ELEMENT)
                ? " (is GST_PLUGIN_PATH set to build/gst-plugin?)" : "");
    g_error_free(error);
    if (pipeline)
      gst_object_unref(pipeline);
    return 1;
  }
  GstElement *tc = gst_bin_get_by_name(GST_BIN(pipeline), "tc");
  GstPad *srcpad = gst_element_get_static_pad(tc, "src");
  gst_pad_add_probe(srcpad, GST_PAD_PROBE_TYPE_BUFFER, on_buffer, NULL, NULL);
  gst_object_unref(srcpad);
  gst_object_unref(tc);

  int status = 0, analysed = 0;
  GstBus *bus = gst_element_get_bus(pipeline);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  for (gboolean done = FALSE; !done;) {
    GstMessage *msg = gst_bus_timed_pop_filtered(bus, GST_CLOCK_TIME_NONE,
                                                 GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
    switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_ELEMENT:
      if (gst_message_has_name(msg, "tokenclip")) {
        const GstStructure *s = gst_message_get_structure(msg);
        guint64 t = 0;
        double image = 0, ms = 0;
        gboolean anomalous = FALSE;
        gst_structure_get(s, "running-time", G_TYPE_UINT64, &t, "image-score", G_TYPE_DOUBLE, &image, "inference-ms",
                          G_TYPE_DOUBLE, &ms, "anomalous", G_TYPE_BOOLEAN, &anomalous, NULL);
        printf("%" GST_TIME_FORMAT "  image score %.3f%s  (%.1f ms)\n", GST_TIME_ARGS(t), image,
               anomalous ? "  ANOMALOUS" : "", ms);
        analysed++;
      }
      break;
    case GST_MESSAGE_ERROR: {
      GError *e = NULL;
      gchar *dbg = NULL;
      gst_message_parse_error(msg, &e, &dbg);
      fprintf(stderr, "error: %s\n", e->message);
      g_error_free(e);
      g_free(dbg);
      status = 1;
      done = TRUE;
      break;
    }
    default:
      done = TRUE;
      break;
    }
    gst_message_unref(msg);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(pipeline);
  printf("%d frames analysed\n", analysed);
  return status ? status : analysed > 0 ? 0 : 1;
}
