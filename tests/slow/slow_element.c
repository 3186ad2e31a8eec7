/* The slow suite (issue 15): what a live camera does to the element over
 * hours, in minutes. Not in the default test run: `meson test -C build
 * --suite slow` (README, "Tests").
 *
 *   slow_element MODEL HEAD soak FRAMES       one pipeline, FRAMES analysed
 *                                             frames; RSS flat after warm-up
 *   slow_element MODEL HEAD cycles N          N NULL<->PLAYING cycles, sync and
 *                                             async alternately, every async one
 *                                             stopped during an analysis
 *   slow_element MODEL HEAD four FRAMES       4 tokenclip elements in one pipeline
 *   slow_element MODEL HEAD cycles N light    the same at the model's own input
 *                                             size and without a time limit (valgrind)
 *
 * Valgrind runs `cycles 20` (tests/slow/meson.build) with the driver's own
 * allocations suppressed (valgrind.supp). */
#include <gst/gst.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tc_check.h"

static const char *model, *head;

static long rss_kib(void)
{
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
      break;
  if (f)
    fclose(f);
  return kib;
}

/* Runs the pipeline to EOS, counting the element's analysis messages; the
 * callback sees each one (with its count). */
typedef void (*on_analysis)(int count, void *data);

static int run_to_eos(GstElement *pipe, int *analyses, on_analysis cb, void *data, int timeout_s)
{
  GstBus *bus = gst_element_get_bus(pipe);
  int ok = gst_element_set_state(pipe, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE;
  while (ok) {
    GstMessage *m = gst_bus_timed_pop(bus, (GstClockTime)timeout_s * GST_SECOND);
    if (!m) {
      fprintf(stderr, "no EOS within %d s\n", timeout_s);
      ok = 0;
      break;
    }
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
      GError *e = NULL;
      gst_message_parse_error(m, &e, NULL);
      fprintf(stderr, "ERROR from %s: %s\n", GST_OBJECT_NAME(GST_MESSAGE_SRC(m)), e->message);
      g_error_free(e);
      ok = 0;
    } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS) {
      gst_message_unref(m);
      break;
    } else if (gst_message_has_name(m, "tokenclip")) {
      ++*analyses;
      if (cb)
        cb(*analyses, data);
    }
    gst_message_unref(m);
  }
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(bus);
  return ok;
}

static GstElement *launch(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *desc = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  GError *err = NULL;
  GstElement *pipe = gst_parse_launch(desc, &err);
  TC_CHECK(pipe != NULL, "parse \"%s\": %s", desc, err ? err->message : "?");
  g_clear_error(&err);
  g_free(desc);
  return pipe;
}

/* ---- soak ---- */

typedef struct soak_state {
  int frames, warm;
  long at_warm, max_after, min_after;
} soak_state;

static void soak_sample(int count, void *data)
{
  soak_state *s = data;
  if (count % 500 != 0 && count != s->frames)
    return;
  long r = rss_kib();
  if (count == s->warm)
    s->at_warm = s->max_after = s->min_after = r;
  else if (count > s->warm)
    s->max_after = MAX(s->max_after, r), s->min_after = MIN(s->min_after, r);
  printf("frame %6d: RSS %ld KiB\n", count, r);
  fflush(stdout);
}

static void soak(int frames)
{
  /* every frame analysed; sync mode so the count is exact */
  GstElement *pipe = launch("videotestsrc num-buffers=%d pattern=ball ! video/x-raw,format=RGBA,width=96,height=64 "
                            "! tokenclip model=%s head=%s ! fakesink", frames, model, head);
  /* warm-up: the first 1000 frames (500 in a short run), a multiple of the sampling step */
  soak_state s = { .frames = frames, .warm = frames >= 5000 ? 1000 : 500 };
  int analyses = 0;
  gint64 t0 = g_get_monotonic_time();
  TC_CHECK(run_to_eos(pipe, &analyses, soak_sample, &s, 120), "soak: the pipeline ran to EOS");
  double secs = (g_get_monotonic_time() - t0) / 1e6;
  gst_object_unref(pipe);
  TC_CHECK(analyses == frames, "soak: %d analyses of %d frames", analyses, frames);
  /* flat: what the process holds after warm-up moves by less than 4 MiB (lavapipe's
   * allocator and GLib's slices wobble by a few hundred KiB; a leak of a 96x64
   * frame per frame would be 24 KiB x frames) */
  long growth = s.max_after - s.at_warm;
  printf("soak: %d frames in %.1f s (%.2f ms a frame); RSS after warm-up %ld KiB, max %ld, min %ld, growth %ld KiB\n",
         frames, secs, 1e3 * secs / frames, s.at_warm, s.max_after, s.min_after, growth);
  TC_CHECK(s.at_warm > 0 && growth < 4096, "soak: RSS grew %ld KiB after warm-up (limit 4096)", growth);
}

/* ---- cycles ---- */

static void cycles(int n, int light)
{
  for (int i = 0; i < n; i++) {
    int async = i % 2;
    /* async cycles: a 256 input (1024 tokens) keeps the analysis busy for tens
     * of ms, and the pipeline goes to NULL right after the first frame left
     * the element, while the worker is still analysing it */
    GstElement *pipe = launch("videotestsrc num-buffers=%d ! video/x-raw,format=BGRx,width=64,height=48 "
                              "! tokenclip model=%s head=%s mode=%s%s ! fakesink",
                              async ? 30 : 3, model, head, async ? "async" : "sync",
                              async && !light ? " input-size=256" : "");
    if (!async) {
      int analyses = 0;
      TC_CHECK(run_to_eos(pipe, &analyses, NULL, NULL, 60), "cycle %d (sync): EOS", i);
      TC_CHECK(analyses == 3, "cycle %d (sync): 3 analyses, got %d", i, analyses);
    } else {
      GstBus *bus = gst_element_get_bus(pipe);
      TC_CHECK(gst_element_set_state(pipe, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE, "cycle %d: PLAYING", i);
      /* wait for the first buffer at the sink (or an error) */
      GstMessage *m = gst_bus_timed_pop_filtered(bus, 60 * GST_SECOND,
                                                 GST_MESSAGE_ERROR | GST_MESSAGE_ASYNC_DONE | GST_MESSAGE_EOS);
      TC_CHECK(m && GST_MESSAGE_TYPE(m) != GST_MESSAGE_ERROR, "cycle %d (async): prerolled", i);
      if (m)
        gst_message_unref(m);
      gint64 t0 = g_get_monotonic_time();
      TC_CHECK(gst_element_set_state(pipe, GST_STATE_NULL) == GST_STATE_CHANGE_SUCCESS,
               "cycle %d (async): NULL during the analysis", i);
      double ms = (g_get_monotonic_time() - t0) / 1e3;
      TC_CHECK(light || ms < 10000, "cycle %d (async): NULL took %.0f ms", i, ms);
      gst_object_unref(bus);
    }
    gst_object_unref(pipe);
    if (i % 20 == 19 || i == n - 1) {
      printf("cycle %d: RSS %ld KiB\n", i + 1, rss_kib());
      fflush(stdout);
    }
  }
}

/* ---- four elements ---- */

static void four(int frames)
{
  GstElement *pipe = launch("videotestsrc num-buffers=%d ! video/x-raw,format=RGBA,width=64,height=48 ! tee name=t "
                            "t. ! queue ! tokenclip name=a model=%s head=%s ! fakesink "
                            "t. ! queue ! tokenclip name=b model=%s head=%s mode=async ! fakesink "
                            "t. ! queue ! tokenclip name=c model=%s head=%s colormap=inferno ! "
                            "tokenclip name=d model=%s head=%s mode=async alpha=0.3 ! fakesink",
                            frames, model, head, model, head, model, head, model, head);
  int analyses = 0;
  TC_CHECK(run_to_eos(pipe, &analyses, NULL, NULL, 120), "four: EOS");
  gst_object_unref(pipe);
  /* sync elements analyse every frame; async ones at least one */
  printf("four: %d analyses from 4 elements over %d frames\n", analyses, frames);
  TC_CHECK(analyses >= 2 * frames + 2, "four: %d analyses, want at least %d", analyses, 2 * frames + 2);
}

int main(int argc, char **argv)
{
  gst_init(&argc, &argv);
  if (argc < 5) {
    fprintf(stderr, "usage: %s MODEL HEAD soak|cycles|four N\n", argv[0]);
    return 2;
  }
  model = argv[1], head = argv[2];
  int n = atoi(argv[4]);
  if (strcmp(argv[3], "soak") == 0)
    soak(n);
  else if (strcmp(argv[3], "cycles") == 0)
    cycles(n, argc > 5 && strcmp(argv[5], "light") == 0);
  else if (strcmp(argv[3], "four") == 0)
    four(n);
  else
    return 2;
  gst_deinit();
  return tc_check_finish();
}
