/* tokenclip-streams: many camera streams, one model, each stream's results.
 *
 *   tokenclip-streams MODEL HEAD [STREAMS=4] [FRAMES=30] [BATCH=STREAMS]
 *   tokenclip-streams MODEL HEAD FILE...              one stream per video file
 *
 * Builds one pipeline with a branch per stream (a moving test pattern in
 * NV12, as a camera would give, or a decoded file), each through a tokenclip
 * element. The elements share one model (model-instance-id): the weights
 * load once and, with batch-size, the streams' frames run through the encoder
 * together. The application reads each stream's results from the bus: every
 * analysis posts an element message named "tokenclip" whose source is that
 * stream's element (here named stream0, stream1, ...). It prints a line per
 * analysis and a summary per stream; the exit status is non-zero when a
 * stream was not analysed (or the pipeline failed).
 *
 *   cc tokenclip-streams.c $(pkg-config --cflags --libs gstreamer-1.0) -o tokenclip-streams */
#include <gst/gst.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STREAMS 64

typedef struct {
  guint analyses, batched;
  gdouble sum_score, max_score, sum_ms;
} StreamStats;

/* "streamN" -> N, or -1. */
static int
stream_index (GstObject * src)
{
  const gchar *name = GST_OBJECT_NAME (src);
  int n;

  return name && sscanf (name, "stream%d", &n) == 1 && n >= 0 && n < MAX_STREAMS ? n : -1;
}

static void
on_result (StreamStats * stats, int stream, const GstStructure * s)
{
  gdouble score = 0, ms = 0;
  guint batch = 1;
  GstClockTime t = 0;
  gboolean anomalous = FALSE;

  gst_structure_get_double (s, "image-score", &score);
  gst_structure_get_double (s, "inference-ms", &ms);
  gst_structure_get_uint (s, "batch", &batch);
  gst_structure_get_uint64 (s, "running-time", &t);
  gst_structure_get_boolean (s, "anomalous", &anomalous);
  printf ("stream %d at %.3f s: image score %.3f%s (%.1f ms, batch of %u)\n", stream, t / 1e9, score,
      anomalous ? "  ANOMALOUS" : "", ms, batch);
  stats[stream].analyses++;
  stats[stream].batched += batch > 1;
  stats[stream].sum_score += score;
  stats[stream].sum_ms += ms;
  if (score > stats[stream].max_score)
    stats[stream].max_score = score;
}

int
main (int argc, char **argv)
{
  GString *desc;
  GstElement *pipe;
  GstBus *bus;
  GError *error = NULL;
  StreamStats stats[MAX_STREAMS] = { 0 };
  int streams, frames = 30, batch, files = argc > 3 && !g_ascii_isdigit (argv[3][0]), failed = 0, done = 0;

  gst_init (&argc, &argv);
  if (argc < 3) {
    fprintf (stderr, "usage: %s MODEL HEAD [STREAMS [FRAMES [BATCH]]] | MODEL HEAD FILE...\n", argv[0]);
    return 2;
  }
  streams = files ? argc - 3 : argc > 3 ? atoi (argv[3]) : 4;
  if (!files && argc > 4)
    frames = atoi (argv[4]);
  batch = !files && argc > 5 ? atoi (argv[5]) : MIN (streams, 8);
  if (streams < 1 || streams > MAX_STREAMS || frames < 1 || batch < 1 || batch > 8) {
    fprintf (stderr, "%s: 1..%d streams, at least one frame, batch 1..8\n", argv[0], MAX_STREAMS);
    return 2;
  }

  desc = g_string_new (NULL);
  for (int i = 0; i < streams; i++) {
    if (files)
      g_string_append_printf (desc, "filesrc location=\"%s\" ! decodebin ! videoconvert ! videoscale ! "
          "video/x-raw,format=NV12,width=640,height=480 ! ", argv[3 + i]);
    else
      g_string_append_printf (desc, "videotestsrc pattern=%d num-buffers=%d ! "
          "video/x-raw,format=NV12,width=320,height=240,framerate=30/1 ! ", (i * 7) % 25, frames);
    /* sync mode: every frame analysed; a live application would use mode=async */
    g_string_append_printf (desc, "tokenclip name=stream%d model-instance-id=streams batch-size=%d "
        "batch-timeout=200000 model=\"%s\" head=\"%s\" ! fakesink ", i, batch, argv[1], argv[2]);
  }
  pipe = gst_parse_launch (desc->str, &error);
  g_string_free (desc, TRUE);
  if (!pipe) {
    fprintf (stderr, "pipeline: %s\n", error ? error->message : "?");
    g_clear_error (&error);
    return 1;
  }

  bus = gst_element_get_bus (pipe);
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  while (!done) {
    GstMessage *m = gst_bus_timed_pop (bus, GST_CLOCK_TIME_NONE);
    int stream;

    switch (GST_MESSAGE_TYPE (m)) {
      case GST_MESSAGE_ELEMENT:
        stream = stream_index (GST_MESSAGE_SRC (m));
        if (stream >= 0 && gst_message_has_name (m, "tokenclip"))
          on_result (stats, stream, gst_message_get_structure (m));
        break;
      case GST_MESSAGE_ERROR:
        gst_message_parse_error (m, &error, NULL);
        fprintf (stderr, "error from %s: %s\n", GST_OBJECT_NAME (GST_MESSAGE_SRC (m)), error->message);
        g_clear_error (&error);
        failed = done = 1;
        break;
      case GST_MESSAGE_EOS:
        done = 1;
        break;
      default:
        break;
    }
    gst_message_unref (m);
  }

  /* still started: how many elements use the one model */
  {
    GstElement *first = gst_bin_get_by_name (GST_BIN (pipe), "stream0");
    guint users = 0;

    g_object_get (first, "model-users", &users, NULL);
    printf ("%d streams, one model: %u elements use it\n", streams, users);
    gst_object_unref (first);
  }
  for (int i = 0; i < streams; i++) {
    StreamStats *s = &stats[i];

    printf ("stream %d: %u analyses (%u batched), mean image score %.3f, max %.3f, %.1f ms a submission\n", i,
        s->analyses, s->batched, s->analyses ? s->sum_score / s->analyses : 0, s->max_score,
        s->analyses ? s->sum_ms / s->analyses : 0);
    failed |= s->analyses == 0;
  }
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipe);
  return failed;
}
