/* The tokenclip element in GStreamer: pixels, messages, meta, live property
 * changes, renegotiation, async mode against a live source, and an ERROR
 * (never a crash or a hang) for each kind of bad input.
 *
 * Usage: test_element MODEL HEAD HEAD50 TRUNCATED NAN [TEST]: a tiny random
 * CLIP (embed 96, input 32, patch 8: a 4 x 4 token grid), a head of 4
 * subspaces, one of dimension 50, and two broken copies of the model (written
 * at build time by random_head.py and broken_models.py).
 *        test_element MODEL HEAD HEAD50 TRUNCATED NAN --object TEXT_MODEL
 * TOOL_HEAD NAME: zero-shot subspaces from the element against those of
 * tokenclip-prompts.
 *        test_element MODEL HEAD HEAD50 TRUNCATED NAN --anomalyclip CLIP
 * HEAD_SINGLE HEAD_MULTI IMG_DIR: the exporter's AnomalyCLIP heads alone
 * (tests/anomalyclip) on IMG_DIR's 48 x 48 frame give the reference's image
 * score in the message; feature-layers="<1,2,3,4>" over head-single gives
 * head-multi's token scores.
 *
 * It links only the installed library's public API, as the plugin does: a
 * symbol the plugin needs from elsewhere would fail here too. */
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gsttokenclipmeta.h"
#include "tc_check.h"

#define GRID 4

static const char *model_path, *head_path, *head_bad_dim_path, *truncated_path, *nan_model_path;

/* ---- harness helpers --------------------------------------------------------- */

static GstHarness *make_harness_desc(const char *desc, GstBus **bus)
{
  /* a lone element comes back as itself, not in a bin */
  GstElement *el = gst_parse_launch(desc, NULL);
  g_assert(el && !GST_IS_BIN(el));
  *bus = gst_bus_new();
  gst_element_set_bus(el, *bus);
  GstHarness *h = gst_harness_new_with_element(el, "sink", "src");
  gst_object_unref(el);
  return h;
}

static GstHarness *make_harness(const char *props, GstBus **bus)
{
  char desc[1024];
  snprintf(desc, sizeof desc, "tokenclip model=%s head=%s %s", model_path, head_path, props ? props : "");
  return make_harness_desc(desc, bus);
}

static void set_caps(GstHarness *h, const char *format, int w, int hgt)
{
  char caps[256];
  snprintf(caps, sizeof caps, "video/x-raw,format=%s,width=%d,height=%d,framerate=30/1", format, w, hgt);
  gst_harness_set_src_caps_str(h, caps);
}

/* The bus has a WARNING (popped; the messages before it are discarded) whose
 * text holds needle, and also needle2 where given. */
static void expect_warning(GstBus *bus, const char *what, const char *needle, const char *needle2)
{
  GstMessage *m = gst_bus_pop_filtered(bus, GST_MESSAGE_WARNING);
  TC_CHECK(m != NULL, "%s: a WARNING", what);
  if (!m)
    return;
  GError *e = NULL;
  gst_message_parse_warning(m, &e, NULL);
  TC_CHECK(strstr(e->message, needle) && (!needle2 || strstr(e->message, needle2)), "%s: the warning says so: %s",
           what, e->message);
  g_error_free(e);
  gst_message_unref(m);
}

/* No message of the type on the bus (popped, as above). */
static void expect_no_message(GstBus *bus, GstMessageType type, const char *what)
{
  GstMessage *m = gst_bus_pop_filtered(bus, type);
  TC_CHECK(m == NULL, "%s: no %s", what, gst_message_type_get_name(type));
  if (m)
    gst_message_unref(m);
}

static GstBuffer *make_frame(int w, int h, GstClockTime pts, int pattern)
{
  GstBuffer *buf = gst_buffer_new_allocate(NULL, (gsize)w * h * 4, NULL);
  GstMapInfo map;
  gst_buffer_map(buf, &map, GST_MAP_WRITE);
  for (int i = 0; i < w * h; i++) {
    uint8_t *p = map.data + 4 * i;
    if (pattern) {
      p[0] = (uint8_t)(i * 7), p[1] = (uint8_t)(i * 13 + 5), p[2] = (uint8_t)(i / w * 3);
    } else {
      p[0] = 100, p[1] = 120, p[2] = 140;
    }
    p[3] = (uint8_t)(200 + i % 37);
  }
  gst_buffer_unmap(buf, &map);
  GST_BUFFER_PTS(buf) = pts;
  GST_BUFFER_DURATION(buf) = GST_SECOND / 30;
  return buf;
}

/* The next element message named tokenclip (NULL if none is waiting). */
static GstMessage *pop_tokenclip_message(GstBus *bus)
{
  GstMessage *m;
  while ((m = gst_bus_pop_filtered(bus, GST_MESSAGE_ELEMENT))) {
    if (gst_message_has_name(m, "tokenclip"))
      return m;
    gst_message_unref(m);
  }
  return NULL;
}

static int count_tokenclip_messages(GstBus *bus)
{
  int n = 0;
  GstMessage *m;
  while ((m = pop_tokenclip_message(bus))) {
    n++;
    gst_message_unref(m);
  }
  return n;
}

static int count_rois(GstBuffer *buf)
{
  int n = 0;
  gpointer state = NULL;
  while (gst_buffer_iterate_meta_filtered(buf, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))
    n++;
  return n;
}

/* ---- tests ------------------------------------------------------------------- */

/* Colour goes where the map is high and nowhere it is below the overlay
 * threshold; alpha bytes are never touched. */
static void test_pixels_follow_map(void)
{
  enum { W = 64, H = 48 };
  GstBus *bus;
  GstHarness *h = make_harness("blur-sigma=0 normalize=minmax overlay-threshold=0.5 alpha=0.6 attach-map=true", &bus);
  set_caps(h, "RGBA", W, H);
  GstBuffer *in = make_frame(W, H, 0, 0);
  GstBuffer *ref = gst_buffer_copy_deep(in);
  GstBuffer *out = gst_harness_push_and_pull(h, in);
  TC_CHECK(out != NULL, "a buffer comes out");
  if (!out)
    goto done;

  GstTokenClipMeta *meta = gst_buffer_get_tokenclip_meta(out);
  TC_CHECK(meta && meta->grid_width == GRID && meta->grid_height == GRID, "score meta with a %dx%d grid", GRID, GRID);
  if (!meta)
    goto done;
  float lo = INFINITY, hi = -INFINITY;
  for (int i = 0; i < GRID * GRID; i++) {
    TC_CHECK(meta->scores[i] >= 0 && meta->scores[i] <= 1, "score %d = %g in [0, 1]", i, meta->scores[i]);
    lo = fminf(lo, meta->scores[i]), hi = fmaxf(hi, meta->scores[i]);
  }
  TC_CHECK(hi > lo, "the scores differ (%g..%g)", lo, hi);

  GstMapInfo got, want;
  gst_buffer_map(out, &got, GST_MAP_READ);
  gst_buffer_map(ref, &want, GST_MAP_READ);
  int changed = 0, kept = 0;
  for (int cy = 0; cy < GRID; cy++)
    for (int cx = 0; cx < GRID; cx++) {
      /* the pixel nearest the cell's centre, where the bilinear map is
       * within a few percent of the cell's own score */
      int x = cx * W / GRID + W / GRID / 2, y = cy * H / GRID + H / GRID / 2;
      size_t o = ((size_t)y * W + x) * 4;
      float n = (meta->scores[cy * GRID + cx] - lo) / (hi - lo);
      int diff = abs(got.data[o] - want.data[o]) + abs(got.data[o + 1] - want.data[o + 1]) +
                 abs(got.data[o + 2] - want.data[o + 2]);
      if (n >= 0.65f) {
        TC_CHECK(diff >= 3, "cell (%d,%d) normalised %.2f: colour expected, pixel moved by %d", cx, cy, n, diff);
        changed++;
      } else if (n <= 0.35f) {
        TC_CHECK(diff == 0, "cell (%d,%d) normalised %.2f: untouched expected, pixel moved by %d", cx, cy, n, diff);
        kept++;
      }
    }
  TC_CHECK(changed > 0 && kept > 0, "both kinds of cells checked (%d coloured, %d untouched)", changed, kept);
  int alpha_ok = 1;
  for (size_t i = 3; i < got.size; i += 4)
    alpha_ok &= got.data[i] == want.data[i];
  TC_CHECK(alpha_ok, "the fourth byte is never written");
  gst_buffer_unmap(out, &got);
  gst_buffer_unmap(ref, &want);

  GstMessage *m = pop_tokenclip_message(bus);
  TC_CHECK(m != NULL, "a tokenclip message per analysed frame");
  if (m) {
    const GstStructure *s = gst_message_get_structure(m);
    double image, maxs, ms;
    guint mw, mh;
    guint64 rt;
    gboolean anomalous;
    TC_CHECK(gst_structure_get(s, "image-score", G_TYPE_DOUBLE, &image, "max-score", G_TYPE_DOUBLE, &maxs,
                               "inference-ms", G_TYPE_DOUBLE, &ms, "map-width", G_TYPE_UINT, &mw, "map-height",
                               G_TYPE_UINT, &mh, "running-time", G_TYPE_UINT64, &rt, "anomalous", G_TYPE_BOOLEAN,
                               &anomalous, NULL),
             "message fields: %" GST_PTR_FORMAT, s);
    TC_CHECK(isfinite(image) && image >= 0 && image <= 1, "image-score %g in [0, 1]", image);
    TC_CHECK(fabs(maxs - hi) < 1e-6, "max-score %g is the largest token score %g", maxs, hi);
    TC_CHECK(fabs(image - meta->image_score) < 1e-6, "message and meta agree on the image score");
    TC_CHECK(ms > 0 && ms < 60000, "inference-ms %g", ms);
    TC_CHECK(mw == GRID && mh == GRID, "map %ux%u", mw, mh);
    TC_CHECK(rt == 0, "running-time %" G_GUINT64_FORMAT " of the first frame", rt);
    TC_CHECK(anomalous == (image >= 0.5), "anomalous follows the default threshold 0.5");
    gst_message_unref(m);
  }
done:
  if (out)
    gst_buffer_unref(out);
  gst_buffer_unref(ref);
  gst_harness_teardown(h);
  gst_object_unref(bus);
}

/* alpha 0: frames pass bit for bit, and analysis still reports. A live
 * change of alpha takes effect on the next frame. */
static void test_alpha_zero_and_live_change(void)
{
  enum { W = 40, H = 30 };
  GstBus *bus;
  GstHarness *h = make_harness("alpha=0", &bus);
  set_caps(h, "BGRx", W, H);
  for (int round = 0; round < 2; round++) {
    GstBuffer *in = make_frame(W, H, round * GST_SECOND / 30, 1);
    GstBuffer *ref = gst_buffer_copy_deep(in);
    GstBuffer *out = gst_harness_push_and_pull(h, in);
    GstMapInfo a, b;
    gst_buffer_map(out, &a, GST_MAP_READ);
    gst_buffer_map(ref, &b, GST_MAP_READ);
    int same = a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
    if (round == 0)
      TC_CHECK(same, "alpha 0: the frame is untouched");
    else
      TC_CHECK(!same, "alpha 0.8 set while playing: the next frame is coloured");
    gst_buffer_unmap(out, &a);
    gst_buffer_unmap(ref, &b);
    gst_buffer_unref(out);
    gst_buffer_unref(ref);
    TC_CHECK(count_tokenclip_messages(bus) == 1, "one message for the frame");
    g_object_set(h->element, "alpha", 0.8f, NULL);
  }
  /* a live value the head cannot take: a WARNING, the old value stays, frames flow */
  g_object_set(h->element, "topk", 9u, NULL);
  GstBuffer *out = gst_harness_push_and_pull(h, make_frame(W, H, 2 * GST_SECOND / 30, 1));
  TC_CHECK(out != NULL, "topk 9 > Q 4 live: frames still flow");
  /* (popping one type discards the others: the warning first) */
  expect_warning(bus, "topk 9 > Q 4 live", "topk", NULL);
  if (out)
    gst_buffer_unref(out);
  /* the refused value is not kept: the property reads what is in effect, and
   * a later valid change goes through */
  guint topk = 99;
  g_object_get(h->element, "topk", &topk, NULL);
  TC_CHECK(topk == 0, "after the refusal topk reads %u, the value in effect (0)", topk);
  g_object_set(h->element, "temperature", 0.2f, NULL);
  out = gst_harness_push_and_pull(h, make_frame(W, H, 3 * GST_SECOND / 30, 1));
  expect_no_message(bus, GST_MESSAGE_WARNING, "a valid change after a refused one");
  if (out)
    gst_buffer_unref(out);
  gst_harness_teardown(h);
  gst_object_unref(bus);
}

/* A flush (seek) starts over: the interval restarts, so the first frame
 * after it is analysed instead of carrying the map from before the seek. */
static void test_flush_restarts(void)
{
  GstBus *bus;
  GstHarness *h = make_harness("inference-interval=3 attach-map=true", &bus);
  set_caps(h, "RGBA", 64, 48);
  gst_buffer_unref(gst_harness_push_and_pull(h, make_frame(64, 48, 0, 0)));
  TC_CHECK(count_tokenclip_messages(bus) == 1, "frame 0 analysed");
  TC_CHECK(gst_harness_push_event(h, gst_event_new_flush_start()), "flush-start");
  TC_CHECK(gst_harness_push_event(h, gst_event_new_flush_stop(TRUE)), "flush-stop");
  GstSegment seg;
  gst_segment_init(&seg, GST_FORMAT_TIME);
  TC_CHECK(gst_harness_push_event(h, gst_event_new_segment(&seg)), "new segment");
  GstBuffer *out = gst_harness_push_and_pull(h, make_frame(64, 48, 5 * GST_SECOND, 0));
  TC_CHECK(count_tokenclip_messages(bus) == 1, "the first frame after the flush is analysed");
  GstTokenClipMeta *meta = out ? gst_buffer_get_tokenclip_meta(out) : NULL;
  TC_CHECK(meta && meta->running_time == 5 * GST_SECOND, "its scores are its own (running time %" GST_TIME_FORMAT ")",
           GST_TIME_ARGS(meta ? meta->running_time : GST_CLOCK_TIME_NONE));
  if (out)
    gst_buffer_unref(out);
  gst_harness_teardown(h);
  gst_object_unref(bus);
}

/* ROI meta: threshold 0 gives one region, the whole frame; threshold 1 none;
 * in between, boxes inside the frame whose scores reach the threshold. */
static void test_regions(void)
{
  enum { W = 64, H = 48 };
  struct {
    float threshold;
    int want; /* -1: any */
  } cases[] = { { 0.0f, 1 }, { 1.0f, 0 }, { 0.5f, -1 } };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    char props[128];
    snprintf(props, sizeof props, "threshold=%g attach-map=true", cases[c].threshold);
    GstBus *bus;
    GstHarness *h = make_harness(props, &bus);
    set_caps(h, "RGBA", W, H);
    GstBuffer *out = gst_harness_push_and_pull(h, make_frame(W, H, 0, 1));
    int n = count_rois(out);
    GstMessage *m = pop_tokenclip_message(bus);
    guint regions = 0;
    if (m)
      gst_structure_get_uint(gst_message_get_structure(m), "regions", &regions);
    /* fewer regions than max-regions (16): one ROI meta each */
    TC_CHECK(m && (int)regions == n, "threshold %g: message says %u regions, buffer has %d", cases[c].threshold,
             regions, n);
    if (cases[c].want >= 0)
      TC_CHECK(n == cases[c].want, "threshold %g: %d regions, want %d", cases[c].threshold, n, cases[c].want);
    GstTokenClipMeta *meta = gst_buffer_get_tokenclip_meta(out);
    int above = 0;
    for (int i = 0; meta && i < GRID * GRID; i++)
      above += meta->scores[i] >= cases[c].threshold;
    if (above > 0)
      TC_CHECK(n >= 1, "threshold %g: %d cells above, so at least one region", cases[c].threshold, above);
    gpointer state = NULL;
    GstMeta *gm;
    while ((gm = gst_buffer_iterate_meta_filtered(out, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
      GstVideoRegionOfInterestMeta *roi = (GstVideoRegionOfInterestMeta *)gm;
      TC_CHECK(g_quark_to_string(roi->roi_type) && strcmp(g_quark_to_string(roi->roi_type), "anomaly") == 0,
               "ROI type anomaly");
      TC_CHECK(roi->w > 0 && roi->h > 0 && roi->x + roi->w <= W && roi->y + roi->h <= H, "box %u,%u %ux%u in frame",
               roi->x, roi->y, roi->w, roi->h);
      if (cases[c].threshold == 0.0f)
        TC_CHECK(roi->x == 0 && roi->y == 0 && roi->w == W && roi->h == H, "threshold 0: the whole frame");
      GstStructure *p = gst_video_region_of_interest_meta_get_param(roi, "anomaly");
      double max_score = -1;
      TC_CHECK(p && gst_structure_get_double(p, "max-score", &max_score) && max_score >= cases[c].threshold,
               "region max-score %g reaches the threshold %g", max_score, cases[c].threshold);
    }
    if (m)
      gst_message_unref(m);
    gst_buffer_unref(out);
    gst_harness_teardown(h);
    gst_object_unref(bus);
  }
}

/* 8-connected regions of grid cells with score >= t (the test's own count). */
static int count_regions(const float *scores, float t)
{
  int label[GRID * GRID] = { 0 }, n = 0, stack[GRID * GRID];
  for (int i = 0; i < GRID * GRID; i++) {
    if (label[i] || !(scores[i] >= t))
      continue;
    int top = 0;
    label[i] = ++n, stack[top++] = i;
    while (top) {
      int c = stack[--top], cx = c % GRID, cy = c / GRID;
      for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++) {
          int x = cx + dx, y = cy + dy, j = y * GRID + x;
          if (x >= 0 && y >= 0 && x < GRID && y < GRID && !label[j] && scores[j] >= t)
            label[j] = n, stack[top++] = j;
        }
    }
  }
  return n;
}

/* max-regions=k with more than k regions: exactly k ROI metas, the highest
 * scores, and the message still counts every region found (k = 1, and 2
 * when the grid has 3 regions at some threshold). */
static void test_max_regions(void)
{
  enum { W = 64, H = 48 };
  GstBus *bus;
  GstHarness *h = make_harness("threshold=1 attach-map=true", &bus);
  set_caps(h, "RGBA", W, H);
  GstBuffer *out = gst_harness_push_and_pull(h, make_frame(W, H, 0, 1));
  GstTokenClipMeta *meta = out ? gst_buffer_get_tokenclip_meta(out) : NULL;
  float threshold = -1;
  int regions = 0;
  /* a threshold at one of the scores that splits the grid into the most regions (2 or more) */
  for (int i = 0; meta && i < GRID * GRID; i++) {
    int n = count_regions(meta->scores, meta->scores[i]);
    if (n > regions)
      regions = n, threshold = meta->scores[i];
  }
  TC_CHECK(regions >= 2, "some threshold gives 2 or more regions (at most %d)", regions);
  if (out)
    gst_buffer_unref(out);
  count_tokenclip_messages(bus);
  for (guint k = 1; (int)k < regions && k <= 2; k++) {
    g_object_set(h->element, "threshold", threshold, "max-regions", k, NULL);
    out = gst_harness_push_and_pull(h, make_frame(W, H, k * GST_SECOND / 30, 1));
    TC_CHECK(out && count_rois(out) == (int)k, "max-regions %u, %d regions: %d ROI metas", k, regions,
             out ? count_rois(out) : -1);
    GstMessage *m = pop_tokenclip_message(bus);
    guint said = 0;
    if (m)
      gst_structure_get_uint(gst_message_get_structure(m), "regions", &said);
    TC_CHECK(m && (int)said == regions, "max-regions %u: the message counts all %d regions (says %u)", k, regions,
             said);
    /* the ROIs are the regions with the highest max-score, highest first */
    double prev = INFINITY;
    gpointer state = NULL;
    GstMeta *gm;
    while (out && (gm = gst_buffer_iterate_meta_filtered(out, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
      GstStructure *p = gst_video_region_of_interest_meta_get_param((GstVideoRegionOfInterestMeta *)gm, "anomaly");
      double max_score = -1;
      TC_CHECK(p && gst_structure_get_double(p, "max-score", &max_score) && max_score >= threshold &&
                   max_score <= prev,
               "max-regions %u: ROI max-score %g at or above %g, not above the one before (%g)", k, max_score,
               threshold, prev);
      prev = max_score;
    }
    if (m)
      gst_message_unref(m);
    if (out)
      gst_buffer_unref(out);
  }
  gst_harness_teardown(h);
  gst_object_unref(bus);
}

/* Every third frame analysed; the two between carry the latest map. Then a
 * new format and size mid-stream. */
static void test_interval_and_renegotiation(void)
{
  GstBus *bus;
  GstHarness *h = make_harness("inference-interval=3 attach-map=true", &bus);
  set_caps(h, "RGBA", 64, 48);
  for (int i = 0; i < 6; i++) {
    GstBuffer *in = make_frame(64, 48, i * GST_SECOND / 30, 0);
    GstBuffer *ref = gst_buffer_copy_deep(in);
    GstBuffer *out = gst_harness_push_and_pull(h, in);
    GstMapInfo a, b;
    gst_buffer_map(out, &a, GST_MAP_READ);
    gst_buffer_map(ref, &b, GST_MAP_READ);
    TC_CHECK(memcmp(a.data, b.data, a.size) != 0, "frame %d carries the heatmap", i);
    TC_CHECK(gst_buffer_get_tokenclip_meta(out) != NULL, "frame %d carries the scores", i);
    gst_buffer_unmap(out, &a);
    gst_buffer_unmap(ref, &b);
    gst_buffer_unref(out);
    gst_buffer_unref(ref);
  }
  TC_CHECK(count_tokenclip_messages(bus) == 2, "6 frames, interval 3: 2 analyses");

  set_caps(h, "BGRx", 80, 60);
  GstBuffer *out = gst_harness_push_and_pull(h, make_frame(80, 60, 6 * GST_SECOND / 30, 0));
  TC_CHECK(out && gst_buffer_get_size(out) == 80 * 60 * 4, "a BGRx 80x60 frame after renegotiation");
  /* frame 6 of an interval of 3 is analysed */
  TC_CHECK(count_tokenclip_messages(bus) == 1, "the new layout is analysed");
  GstCaps *caps = gst_pad_get_current_caps(h->sinkpad);
  GstVideoInfo info;
  TC_CHECK(caps && gst_video_info_from_caps(&info, caps) && GST_VIDEO_INFO_FORMAT(&info) == GST_VIDEO_FORMAT_BGRx &&
               GST_VIDEO_INFO_WIDTH(&info) == 80,
           "caps downstream follow");
  if (caps)
    gst_caps_unref(caps);
  if (out)
    gst_buffer_unref(out);
  gst_harness_teardown(h);
  gst_object_unref(bus);
}

/* Model and the other load-time properties stay while running: a warning, not a reload. */
static void test_model_change_refused(void)
{
  GstBus *bus;
  GstHarness *h = make_harness("", &bus);
  set_caps(h, "RGBA", 32, 32);
  gst_buffer_unref(gst_harness_push_and_pull(h, make_frame(32, 32, 0, 0)));
  g_object_set(h->element, "model", "/elsewhere.safetensors", "input-size", 64, NULL);
  gchar *model = NULL;
  guint size = 1;
  g_object_get(h->element, "model", &model, "input-size", &size, NULL);
  TC_CHECK(model && strcmp(model, model_path) == 0 && size == 0, "model and input-size unchanged while running");
  g_free(model);
  expect_warning(bus, "model changed while running", "model", NULL);
  GstBuffer *out = gst_harness_push_and_pull(h, make_frame(32, 32, GST_SECOND / 30, 0));
  TC_CHECK(out != NULL, "frames still flow");
  if (out)
    gst_buffer_unref(out);
  gchar *dev = NULL;
  g_object_get(h->element, "device-name", &dev, NULL);
  TC_CHECK(dev && *dev, "device-name while running: %s", dev ? dev : "(null)");
  g_free(dev);
  gst_harness_teardown(h);
  gst_object_unref(bus);
}

/* Every property reads its documented (GParamSpec) default on a new
 * element: the defaults of the parameter properties are the library's. */
static void test_property_defaults(void)
{
  GstElement *e = gst_element_factory_make("tokenclip", NULL);
  guint n = 0;
  GParamSpec **specs = g_object_class_list_properties(G_OBJECT_GET_CLASS(e), &n);
  int checked = 0;
  for (guint i = 0; i < n; i++) {
    if (specs[i]->owner_type != G_OBJECT_TYPE(e) || !(specs[i]->flags & G_PARAM_READABLE))
      continue;
    GValue v = G_VALUE_INIT;
    g_value_init(&v, specs[i]->value_type);
    g_object_get_property(G_OBJECT(e), specs[i]->name, &v);
    gchar *got = g_strdup_value_contents(&v);
    gchar *want = g_strdup_value_contents(g_param_spec_get_default_value(specs[i]));
    TC_CHECK(g_param_values_cmp(specs[i], &v, g_param_spec_get_default_value(specs[i])) == 0,
             "%s reads %s, its default is %s", specs[i]->name, got, want);
    g_free(got), g_free(want);
    g_value_unset(&v);
    checked++;
  }
  TC_CHECK(checked >= 20, "%d properties checked", checked);
  g_free(specs);
  gst_object_unref(e);
}

/* ---- pipelines ----------------------------------------------------------------- */

typedef struct {
  GstClockTime base_time, latency;
  GstClock *clock;
  int buffers;
  GstClockTimeDiff max_late, sum_late;
  GstClockTimeDiff late[256]; /* per buffer, the first 256 */
} sink_stats;

static int cmp_diff(const void *a, const void *b)
{
  GstClockTimeDiff x = *(const GstClockTimeDiff *)a, y = *(const GstClockTimeDiff *)b;
  return (x > y) - (x < y);
}

static void on_handoff(GstElement *sink, GstBuffer *buf, GstPad *pad, gpointer data)
{
  sink_stats *st = data;
  GstSegment *seg = NULL;
  GstEvent *ev = gst_pad_get_sticky_event(pad, GST_EVENT_SEGMENT, 0);
  if (ev) {
    const GstSegment *s;
    gst_event_parse_segment(ev, &s);
    seg = gst_segment_copy(s);
    gst_event_unref(ev);
  }
  if (seg && st->clock) {
    GstClockTime rt = gst_segment_to_running_time(seg, GST_FORMAT_TIME, GST_BUFFER_PTS(buf));
    /* a live sink renders at running time + the pipeline's latency */
    GstClockTimeDiff late = GST_CLOCK_DIFF(st->base_time + rt + st->latency, gst_clock_get_time(st->clock));
    st->max_late = MAX(st->max_late, late);
    st->sum_late += late;
    if (st->buffers < 256)
      st->late[st->buffers] = late;
  }
  if (seg)
    gst_segment_free(seg);
  st->buffers++;
}

/* Runs a pipeline to EOS or ERROR (30 s at most). Counts tokenclip messages
 * and records the error. Returns the state-change result of PLAYING. */
typedef struct {
  GstStateChangeReturn change;
  int eos, messages, qos;
  double max_inference_ms;
  char error[512];
} run_result;

static run_result run_pipeline(const char *desc, sink_stats *stats)
{
  run_result r = { 0 };
  GError *perr = NULL;
  GstElement *pipe = gst_parse_launch(desc, &perr);
  if (!pipe) {
    snprintf(r.error, sizeof r.error, "parse: %s", perr ? perr->message : "?");
    g_clear_error(&perr);
    r.change = GST_STATE_CHANGE_FAILURE;
    return r;
  }
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipe), "sink");
  if (sink && stats)
    g_signal_connect(sink, "handoff", G_CALLBACK(on_handoff), stats);
  GstBus *bus = gst_element_get_bus(pipe);
  r.change = gst_element_set_state(pipe, GST_STATE_PLAYING);
  if (stats) {
    gst_element_get_state(pipe, NULL, NULL, 10 * GST_SECOND);
    stats->clock = gst_pipeline_get_clock(GST_PIPELINE(pipe));
    stats->base_time = gst_element_get_base_time(pipe);
    GstQuery *q = gst_query_new_latency();
    if (gst_element_query(pipe, q))
      gst_query_parse_latency(q, NULL, &stats->latency, NULL);
    gst_query_unref(q);
  }
  for (;;) {
    GstMessage *m = gst_bus_timed_pop(bus, 30 * GST_SECOND);
    if (!m) {
      snprintf(r.error, sizeof r.error, "timeout: no EOS or ERROR in 30 s");
      break;
    }
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
      GError *e = NULL;
      gchar *dbg = NULL;
      gst_message_parse_error(m, &e, &dbg);
      if (!r.error[0])
        snprintf(r.error, sizeof r.error, "%s", e->message);
      g_error_free(e);
      g_free(dbg);
      gst_message_unref(m);
      break;
    }
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS) {
      r.eos = 1;
      gst_message_unref(m);
      break;
    }
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_QOS)
      r.qos++;
    if (gst_message_has_name(m, "tokenclip")) {
      double ms = 0;
      gst_structure_get_double(gst_message_get_structure(m), "inference-ms", &ms);
      r.max_inference_ms = MAX(r.max_inference_ms, ms);
      r.messages++;
    }
    gst_message_unref(m);
  }
  gst_element_set_state(pipe, GST_STATE_NULL);
  if (stats && stats->clock)
    gst_object_unref(stats->clock);
  if (sink)
    gst_object_unref(sink);
  gst_object_unref(bus);
  gst_object_unref(pipe);
  return r;
}

/* A 30 fps live source into a sink that syncs on the clock, with a model
 * slower than a frame interval: in async mode every frame arrives, on time. */
static void test_async_keeps_live_rate(void)
{
  enum { FRAMES = 150 }; /* 5 s: room for a first analysis that still compiles kernels */
  char desc[1024];
  /* input-size 256: a 32 x 32 grid, 1024 tokens, several times slower than 33 ms */
  snprintf(desc, sizeof desc,
           "videotestsrc is-live=true num-buffers=%d ! video/x-raw,format=RGBA,width=320,height=240,framerate=30/1 ! "
           "tokenclip mode=async input-size=256 model=%s head=%s ! fakesink name=sink sync=true signal-handoffs=true",
           FRAMES, model_path, head_path);
  /* Warm-up: lavapipe compiles each kernel at its first dispatch (seconds on
   * a cold cache); one sync frame at the same size fills Mesa's disk cache,
   * so the timed run measures the model, not the compiler. */
  char warm[1024];
  snprintf(warm, sizeof warm,
           "videotestsrc num-buffers=1 ! video/x-raw,format=RGBA,width=320,height=240 ! "
           "tokenclip input-size=256 model=%s head=%s ! fakesink",
           model_path, head_path);
  run_result w = run_pipeline(warm, NULL);
  TC_CHECK(w.eos && w.messages == 1, "warm-up run (%s)", w.error);

  sink_stats stats = { 0 };
  gint64 t0 = g_get_monotonic_time();
  run_result r = run_pipeline(desc, &stats);
  double seconds = (g_get_monotonic_time() - t0) / 1e6;
  TC_CHECK(r.eos && !r.error[0], "async pipeline reaches EOS (%s)", r.error);
  TC_CHECK(stats.buffers == FRAMES, "%d of %d frames reached the sink", stats.buffers, FRAMES);
  TC_CHECK(r.messages >= 1, "at least one analysis finished (%d)", r.messages);
  TC_CHECK(r.max_inference_ms > 1000.0 / 30, "the model is slower than a frame (%.1f ms), so the test means something",
           r.max_inference_ms);
  TC_CHECK(r.messages < FRAMES, "fewer analyses (%d) than frames: video did not wait", r.messages);
  double max_late_ms = stats.max_late / 1e6, mean_late_ms = stats.buffers ? stats.sum_late / 1e6 / stats.buffers : 0;
  /* frames are rendered when their time comes; on a loaded 2-core machine a
   * few ms of scheduling jitter, never the inference time */
  int n_late = MIN(stats.buffers, 256);
  qsort(stats.late, n_late, sizeof stats.late[0], cmp_diff);
  double p95_late_ms = n_late ? stats.late[n_late * 95 / 100] / 1e6 : 0;
  /* The analysis takes both cores while the streaming thread runs, so a frame
   * can wait for the scheduler now and then; a stall would show in the 95th
   * percentile and the mean (in sync mode every frame is an inference late). */
  TC_CHECK(mean_late_ms < 15 && p95_late_ms < 40 && max_late_ms < 300,
           "lateness at the sink: mean %.1f ms, 95th percentile %.1f ms, max %.1f ms", mean_late_ms, p95_late_ms,
           max_late_ms);
  TC_CHECK(r.qos == 0, "no QoS (dropped or late frame) messages: %d", r.qos);
  /* the same pipeline with identity in place of tokenclip: the latency the
   * pipeline configures must be the same (async mode adds none) */
  char base[1024];
  snprintf(base, sizeof base,
           "videotestsrc is-live=true num-buffers=10 ! video/x-raw,format=RGBA,width=320,height=240,framerate=30/1 ! "
           "identity ! fakesink name=sink sync=true signal-handoffs=true");
  sink_stats base_stats = { 0 };
  run_result b = run_pipeline(base, &base_stats);
  TC_CHECK(b.eos && base_stats.buffers == 10, "baseline pipeline runs (%s)", b.error);
  TC_CHECK(stats.latency == base_stats.latency, "latency with tokenclip %.1f ms, without %.1f ms",
           stats.latency / 1e6, base_stats.latency / 1e6);
  printf("async: latency %.1f ms, %d frames in %.2f s, %d analyses (max %.0f ms), "
         "sink lateness mean %.1f ms p95 %.1f ms max %.1f ms\n",
         stats.latency / 1e6, stats.buffers, seconds, r.messages, r.max_inference_ms, mean_late_ms, p95_late_ms,
         max_late_ms);
}

/* Score meta seen on a pad: whether the last buffer had it, and its scores. */
typedef struct {
  int buffers, with_meta;
  float scores[GRID * GRID];
} meta_probe;

static GstPadProbeReturn on_meta_buffer(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  meta_probe *p = data;
  GstTokenClipMeta *m = gst_buffer_get_tokenclip_meta(GST_PAD_PROBE_INFO_BUFFER(info));
  p->buffers++;
  if (m && m->grid_width == GRID && m->grid_height == GRID) {
    p->with_meta++;
    memcpy(p->scores, m->scores, sizeof p->scores);
  }
  return GST_PAD_PROBE_OK;
}

/* GstTokenClipMeta downstream of elements that change the picture's
 * geometry: a scale keeps the grid over the whole frame, so the meta goes
 * on unchanged (the "gst-video-scale" transform, also what videoconvert
 * asks); a crop or a flip would leave scores on the wrong pixels, so the
 * meta's tags (size, orientation) make them drop it. */
static void test_meta_follows_geometry(void)
{
  static const struct {
    const char *element;
    int kept;
  } cases[] = {
    { "videoscale ! video/x-raw,width=32,height=24", 1 },
    { "videoconvert ! video/x-raw,format=I420", 1 },
    { "videocrop left=8 top=4", 0 },
    { "videoflip video-direction=horiz", 0 },
    { "videoflip video-direction=90r", 0 },
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    char desc[2048];
    snprintf(desc, sizeof desc,
             "videotestsrc num-buffers=2 ! video/x-raw,format=RGBA,width=64,height=48 ! tokenclip model=%s head=%s "
             "attach-map=true ! identity name=before ! %s ! fakesink name=after",
             model_path, head_path, cases[c].element);
    GstElement *pipe = gst_parse_launch(desc, NULL);
    TC_CHECK(pipe != NULL, "pipeline %s", desc);
    if (!pipe)
      continue;
    meta_probe probes[2] = { 0 };
    const char *names[2] = { "before", "after" };
    for (int i = 0; i < 2; i++) {
      GstElement *e = gst_bin_get_by_name(GST_BIN(pipe), names[i]);
      GstPad *pad = gst_element_get_static_pad(e, i ? "sink" : "src");
      gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_meta_buffer, &probes[i], NULL);
      gst_object_unref(pad);
      gst_object_unref(e);
    }
    gst_element_set_state(pipe, GST_STATE_PLAYING);
    GstBus *bus = gst_element_get_bus(pipe);
    GstMessage *m = gst_bus_timed_pop_filtered(bus, 30 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
    TC_CHECK(m && GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS, "%s: EOS", cases[c].element);
    if (m)
      gst_message_unref(m);
    gst_element_set_state(pipe, GST_STATE_NULL);
    gst_object_unref(bus);
    gst_object_unref(pipe);
    TC_CHECK(probes[0].buffers == 2 && probes[0].with_meta == 2 && probes[1].buffers == 2,
             "%s: 2 buffers with the meta before (%d of %d), 2 after (%d)", cases[c].element, probes[0].with_meta,
             probes[0].buffers, probes[1].buffers);
    if (cases[c].kept)
      TC_CHECK(probes[1].with_meta == 2 && memcmp(probes[0].scores, probes[1].scores, sizeof probes[0].scores) == 0,
               "%s: the meta goes on with the same scores (%d of 2 buffers)", cases[c].element, probes[1].with_meta);
    else
      TC_CHECK(probes[1].with_meta == 0, "%s: the meta is dropped (%d of 2 buffers kept it)", cases[c].element,
               probes[1].with_meta);
  }
}

/* Replaces {M} {H} {T} {D} {N}: the model, the head, the truncated model,
 * the head of dimension 50, the NaN model. */
static void expand(char *out, size_t size, const char *tmpl)
{
  size_t n = 0;
  for (const char *p = tmpl; *p && n + 1 < size; p++) {
    const char *sub = NULL;
    if (p[0] == '{' && p[1] && p[2] == '}') {
      switch (p[1]) {
      case 'M': sub = model_path; break;
      case 'H': sub = head_path; break;
      case 'T': sub = truncated_path; break;
      case 'D': sub = head_bad_dim_path; break;
      case 'N': sub = nan_model_path; break;
      }
    }
    if (sub) {
      n += (size_t)snprintf(out + n, size - n, "%s", sub);
      if (n >= size)
        n = size - 1;
      p += 2;
    } else {
      out[n++] = *p;
    }
  }
  out[n] = 0;
}

/* A bad input: the pipeline must end in an ERROR (not EOS) whose message
 * names `want`. props may use the placeholders of expand(). */
typedef struct {
  const char *what, *props, *caps, *want;
} error_case;

static void expect_error(const error_case *c)
{
  char props[1024], desc[2048];
  expand(props, sizeof props, c->props);
  snprintf(desc, sizeof desc,
           "videotestsrc num-buffers=3 ! video/x-raw,format=%s,width=64,height=48 ! tokenclip %s ! fakesink",
           c->caps, props);
  run_result r = run_pipeline(desc, NULL);
  TC_CHECK(r.error[0] && !r.eos, "%s: an ERROR, not EOS", c->what);
  TC_CHECK(strstr(r.error, c->want) != NULL || strcasestr(r.error, c->want) != NULL,
           "%s: the error names '%s': %s", c->what, c->want, r.error);
  printf("ok %s: %s\n", c->what, r.error);
}

/* Each bad input: an ERROR naming the problem, a failed state change or
 * stopped stream, no crash, no hang. */
static void test_errors(void)
{
  static const error_case cases[] = {
    { "no model", "head={H}", "RGBA", "model" },
    { "missing model file", "model=/nonexistent/clip.safetensors head={H}", "RGBA", "/nonexistent/clip.safetensors" },
    { "truncated model", "model={T} head={H}", "RGBA", "truncated" },
    { "no head", "model={M}", "RGBA", "head" },
    { "missing head file", "model={M} head=/nonexistent/head.safetensors", "RGBA", "/nonexistent/head.safetensors" },
    { "head of another dimension", "model={M} head={D}", "RGBA", "50" },
    { "no such device", "model={M} head={H} device=no-such-gpu", "RGBA", "no-such-gpu" },
    /* the library's parameter names said as the properties' */
    { "input size not a multiple of the patch", "model={M} head={H} input-size=33", "RGBA", "input-size 33" },
    /* the tiny model's patch is 8: 64 x 8 = 512 is its largest input */
    { "input size beyond 64 patches a side", "model={M} head={H} input-size=1024", "RGBA", "at most 512" },
    { "topk above the subspaces", "model={M} head={H} topk=9", "RGBA", "topk" },
    { "NaN weights", "model={N} head={H}", "RGBA", "NaN" },
    /* async: the analysis thread's error, not the stream's "internal error", comes first */
    { "NaN weights, async", "model={N} head={H} mode=async", "RGBA", "NaN" },
    { "unsupported caps", "model={M} head={H}", "GRAY8", "" },
    /* videotestsrc writes BT.2020 YUV when asked: a matrix tokenclip does not read */
    { "unsupported colorimetry", "model={M} head={H}", "NV12,colorimetry=bt2020", "colorimetry=bt709 before it" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    expect_error(&cases[i]);
  /* the colorimetry error's advice works as written */
  char props[1024], desc[2048];
  expand(props, sizeof props, "model={M} head={H}");
  snprintf(desc, sizeof desc,
           "videotestsrc num-buffers=3 ! video/x-raw,format=NV12,width=64,height=48,colorimetry=bt2020 ! "
           "videoconvert ! video/x-raw,colorimetry=bt709 ! tokenclip %s ! fakesink",
           props);
  run_result r = run_pipeline(desc, NULL);
  TC_CHECK(r.eos && !r.error[0], "BT.2020 through videoconvert to BT.709: EOS (%s)", r.error);
}

/* A blur that does not fit the frame (sigma in model-input pixels, scaled to
 * the frame: 256 at input 32 is 8192 pixels on a 1024-wide frame) is
 * refused when it is set, like any live value: a WARNING naming the
 * property, the old value stays, frames flow. */
static void test_blur_sigma_refused_live(void)
{
  enum { W = 1024, H = 8 };
  GstBus *bus;
  GstHarness *h = make_harness("input-size=32 blur-sigma=100", &bus);
  set_caps(h, "BGRx", W, H);
  GstBuffer *out = gst_harness_push_and_pull(h, make_frame(W, H, 0, 1));
  TC_CHECK(out != NULL, "blur-sigma 100 (3200 frame pixels) at %dx%d: frames flow", W, H);
  if (out)
    gst_buffer_unref(out);
  g_object_set(h->element, "blur-sigma", 256.0f, NULL);
  expect_warning(bus, "blur-sigma 256 (8192 frame pixels), when it is set", "blur-sigma", "1024x8");
  float sigma = 0;
  g_object_get(h->element, "blur-sigma", &sigma, NULL);
  TC_CHECK(sigma == 100.0f, "after the refusal blur-sigma reads %g, the value in effect (100)", sigma);
  out = gst_harness_push_and_pull(h, make_frame(W, H, GST_SECOND / 30, 1));
  TC_CHECK(out != NULL, "after the refusal frames still flow");
  expect_no_message(bus, GST_MESSAGE_ERROR, "after the refusal");
  if (out)
    gst_buffer_unref(out);
  gst_harness_teardown(h);
  gst_object_unref(bus);
}

/* prompts (or vocab) beside head: a WARNING that it is ignored, frames flow */
static void test_prompts_with_head(void)
{
  GstBus *bus;
  GstHarness *h = make_harness("prompts=/nonexistent/templates.txt", &bus);
  set_caps(h, "RGBA", 32, 24);
  GstBuffer *out = gst_harness_push_and_pull(h, make_frame(32, 24, 0, 1));
  TC_CHECK(out != NULL, "prompts with head: frames flow");
  if (out)
    gst_buffer_unref(out);
  expect_warning(bus, "prompts with head", "prompts", "ignored");
  gst_harness_teardown(h);
  gst_object_unref(bus);
}

static char *last_warning;
static void keep_warning(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
  (void)domain, (void)data;
  if (level & G_LOG_LEVEL_WARNING) {
    g_free(last_warning);
    last_warning = g_strdup(message);
  }
}

/* An element not yet in a pipeline has no bus (gst-launch sets properties
 * first): a refused value is a GLib warning on stderr, not a message lost. */
static void test_refused_without_bus(void)
{
  GstElement *e = gst_element_factory_make("tokenclip", NULL);
  GLogFunc was = g_log_set_default_handler(keep_warning, NULL);
  gst_util_set_object_arg(G_OBJECT(e), "feature-layers", "<3,2>");
  g_log_set_default_handler(was, NULL);
  TC_CHECK(last_warning && strstr(last_warning, "feature-layers") && strstr(last_warning, "increasing"),
           "feature-layers <3,2> on a lone element: a warning naming it (%s)", last_warning ? last_warning : "none");
  GValue v = G_VALUE_INIT;
  g_value_init(&v, GST_TYPE_ARRAY);
  g_object_get_property(G_OBJECT(e), "feature-layers", &v);
  TC_CHECK(gst_value_array_get_size(&v) == 0, "the refused list is not kept (%u entries)",
           gst_value_array_get_size(&v));
  g_value_unset(&v);
  g_clear_pointer(&last_warning, g_free);
  gst_object_unref(e);
}

/* The GParamSpec ranges say what works (issue 15): no value inside a range
 * fails for a reason the range could have stated. */
static void test_property_ranges(void)
{
  GstElement *e = gst_element_factory_make("tokenclip", NULL);
  GObjectClass *klass = G_OBJECT_GET_CLASS(e);
  GParamSpecUInt *size = G_PARAM_SPEC_UINT(g_object_class_find_property(klass, "input-size"));
  GParamSpecUInt *topk = G_PARAM_SPEC_UINT(g_object_class_find_property(klass, "topk"));
  TC_CHECK(size->maximum == TC_MAX_INPUT_SIZE, "input-size at most %u, got %u", TC_MAX_INPUT_SIZE, size->maximum);
  TC_CHECK(topk->maximum == TC_MAX_SUBSPACES, "topk at most %u, got %u", TC_MAX_SUBSPACES, topk->maximum);
  tc_params p;
  tc_params_init(&p);
  TC_CHECK(tc_params_set(&p, TC_PARAM_TOPK, TC_MAX_SUBSPACES + 1, NULL) == TC_ERR_INVALID_ARGUMENT &&
               tc_params_set(&p, TC_PARAM_INPUT_SIZE, TC_MAX_INPUT_SIZE + 16, NULL) == TC_ERR_INVALID_ARGUMENT,
           "the library refuses what the properties cannot take");
  gst_object_unref(e);
}

/* ---- camera formats (issue 18) ---- */

/* The last buffer a pipeline's sink named "out" received (a ref), or NULL
 * when the pipeline did not reach EOS. */
static GstPadProbeReturn on_last_buffer(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  gst_buffer_replace((GstBuffer **)data, GST_PAD_PROBE_INFO_BUFFER(info));
  return GST_PAD_PROBE_OK;
}

static GstBuffer *last_buffer(const char *desc)
{
  GstBuffer *last = NULL;
  GstElement *pipe = gst_parse_launch(desc, NULL);
  GstElement *sink = pipe ? gst_bin_get_by_name(GST_BIN(pipe), "out") : NULL;
  TC_CHECK(sink != NULL, "pipeline with a sink named out: %s", desc);
  if (!sink) {
    if (pipe)
      gst_object_unref(pipe);
    return NULL;
  }
  GstPad *pad = gst_element_get_static_pad(sink, "sink");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_last_buffer, &last, NULL);
  gst_object_unref(pad);
  gst_object_unref(sink);
  GstBus *bus = gst_element_get_bus(pipe);
  gst_element_set_state(pipe, GST_STATE_PLAYING);
  GstMessage *m = gst_bus_timed_pop_filtered(bus, 30 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  int eos = m && GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS;
  TC_CHECK(eos, "EOS from %s", desc);
  if (m)
    gst_message_unref(m);
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(pipe);
  if (!eos)
    gst_buffer_replace(&last, NULL);
  return last;
}

/* Mean and largest absolute difference of two buffers' bytes (-1: sizes differ). */
static double byte_difference(GstBuffer *a, GstBuffer *b, int *worst)
{
  GstMapInfo ma, mb;
  double sum = -1;
  *worst = 0;
  gst_buffer_map(a, &ma, GST_MAP_READ);
  gst_buffer_map(b, &mb, GST_MAP_READ);
  if (ma.size == mb.size) {
    sum = 0;
    for (gsize i = 0; i < ma.size; i++) {
      int d = abs((int)ma.data[i] - (int)mb.data[i]);
      sum += d;
      *worst = MAX(*worst, d);
    }
    sum /= (double)ma.size;
  }
  gst_buffer_unmap(a, &ma);
  gst_buffer_unmap(b, &mb);
  return sum;
}

/* NV12, I420 and YUY2 straight in (BT.601 and BT.709 limited range, BT.601
 * full range), against the same frames through videoconvert to RGBA before
 * the element. videoconvert runs with chroma-mode=none, the chroma reading
 * tokenclip does (test_yuv_videoconvert compares the model inputs with
 * videoconvert's defaults too); what is left is videoconvert's fixed-point
 * matrix, about 2 steps darker in limited range. Measured 2026-12-05, lavapipe
 * (printed below):
 *  - scores: token scores of the tiny random model within 0.0165, image score
 *    3.4e-3; tolerance 0.03 and 0.01. Reading BT.709 as BT.601 (tried by
 *    hand) moves token scores by 0.085-0.12, so the tolerance catches a wrong
 *    matrix;
 *  - the overlay, blended in YUV then converted to RGBA by videoconvert,
 *    against videoconvert's RGBA blended by the RGB path: mean byte difference
 *    (RGBA) 2.85 limited range, under 2 full range. Bound 2 as test_map's
 *    blend against the RGB path, 3.5 in limited range where videoconvert's
 *    darker reading falls on the picture in one path and on the blended result
 *    in the other. */
static void test_yuv_formats(void)
{
  static const char *formats[] = { "NV12", "I420", "YUY2" };
  static const char *colorimetry[] = { "bt601", "bt709", "1:4:0:0" /* BT.601 matrix, full range */ };
  char caps[256], direct[2048], converted[2048];
  double worst = 0, worst_image = 0, worst_mean = 0;
  for (size_t f = 0; f < 3; f++)
    for (size_t c = 0; c < 3; c++) {
      snprintf(caps, sizeof caps, "video/x-raw,format=%s,width=64,height=48,framerate=30/1,colorimetry=%s",
               formats[f], colorimetry[c]);
      const char *tc = "tokenclip attach-map=true overlay-threshold=0 alpha=0.6";
      snprintf(direct, sizeof direct,
               "videotestsrc pattern=smpte num-buffers=1 ! %s ! %s model=%s head=%s ! videoconvert chroma-mode=none ! "
               "video/x-raw,format=RGBA ! fakesink name=out", caps, tc, model_path, head_path);
      snprintf(converted, sizeof converted,
               "videotestsrc pattern=smpte num-buffers=1 ! %s ! videoconvert chroma-mode=none ! video/x-raw,format=RGBA ! "
               "%s model=%s head=%s ! fakesink name=out", caps, tc, model_path, head_path);
      GstBuffer *a = last_buffer(direct), *b = last_buffer(converted);
      GstTokenClipMeta *ma = a ? gst_buffer_get_tokenclip_meta(a) : NULL;
      GstTokenClipMeta *mb = b ? gst_buffer_get_tokenclip_meta(b) : NULL;
      int ok = ma && mb && ma->grid_width == mb->grid_width && ma->grid_height == mb->grid_height;
      TC_CHECK(ok, "%s %s: both pipelines give scores", formats[f], colorimetry[c]);
      if (ok) {
        double d = 0, di = fabs(ma->image_score - mb->image_score);
        for (size_t i = 0; i < (size_t)ma->grid_width * ma->grid_height; i++)
          d = fmax(d, fabs((double)ma->scores[i] - mb->scores[i]));
        worst = fmax(worst, d), worst_image = fmax(worst_image, di);
        TC_CHECK(d < 0.03 && di < 0.01,
                 "%s %s: direct vs videoconvert: token scores differ by %.3g (tolerance 0.03), image score by %.3g "
                 "(0.01)",
                 formats[f], colorimetry[c], d, di);
        int worst_byte;
        double mean = byte_difference(a, b, &worst_byte);
        worst_mean = fmax(worst_mean, mean);
        double bound = c == 2 ? 2 : 3.5; /* see above: videoconvert's darker limited range */
        TC_CHECK(mean >= 0 && mean < bound, "%s %s: overlay blended in YUV vs in RGB, as RGBA: mean byte difference "
                 "%.3g (bound %.1f), worst %d", formats[f], colorimetry[c], mean, bound, worst_byte);
      }
      if (a)
        gst_buffer_unref(a);
      if (b)
        gst_buffer_unref(b);
    }
  printf("yuv: direct vs videoconvert, 3 formats x 3 colorimetries: token scores %.3g, image score %.3g, overlay mean "
         "byte difference %.3g\n", worst, worst_image, worst_mean);
}

/* A YUV frame of pseudo-random bytes with a video meta: GStreamer's default
 * layout, or (padded) each plane's rows 12 bytes longer and 100 bytes
 * between planes, which tokenclip cannot take as one block (it repacks). */
static GstBuffer *yuv_frame(GstVideoInfo *info, const char *format, int w, int h, int padded)
{
  gst_video_info_set_format(info, gst_video_format_from_string(format), w, h);
  gsize offset[GST_VIDEO_MAX_PLANES] = { 0 }, size = 0;
  gint stride[GST_VIDEO_MAX_PLANES] = { 0 };
  for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES(info); p++) {
    stride[p] = GST_VIDEO_INFO_PLANE_STRIDE(info, p) + (padded ? 12 : 0);
    offset[p] = padded ? size + (p ? 100 : 0) : GST_VIDEO_INFO_PLANE_OFFSET(info, p);
    size = offset[p] + (gsize)stride[p] * GST_VIDEO_FORMAT_INFO_SCALE_HEIGHT(info->finfo, p, h);
  }
  GstBuffer *buf = gst_buffer_new_allocate(NULL, size, NULL);
  GstMapInfo m;
  gst_buffer_map(buf, &m, GST_MAP_WRITE);
  memset(m.data, 0xa5, m.size); /* padding: never read */
  for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES(info); p++) { /* the picture: the same in any layout */
    gsize row = (gsize)GST_VIDEO_FORMAT_INFO_SCALE_WIDTH(info->finfo, p, w) * GST_VIDEO_INFO_COMP_PSTRIDE(info, p);
    for (int r = 0; r < GST_VIDEO_FORMAT_INFO_SCALE_HEIGHT(info->finfo, p, h); r++)
      for (gsize x = 0; x < row; x++)
        m.data[offset[p] + (gsize)r * stride[p] + x] = (guint8)((p * 7919u + r * 613u + x) * 2654435761u >> 13);
  }
  gst_buffer_unmap(buf, &m);
  gst_buffer_add_video_meta_full(buf, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_INFO_FORMAT(info), w, h,
                                 GST_VIDEO_INFO_N_PLANES(info), offset, stride);
  return buf;
}

/* The picture's bytes (each plane's visible rows, packed) of a YUV buffer. */
static guint8 *visible_bytes(GstBuffer *buf, const GstVideoInfo *info, gsize *n)
{
  GstVideoFrame v;
  guint8 *out = g_malloc(GST_VIDEO_INFO_SIZE(info)), *o = out;
  gst_video_frame_map(&v, (GstVideoInfo *)info, buf, GST_MAP_READ);
  for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES(&v); p++) {
    gsize row = (gsize)GST_VIDEO_FRAME_COMP_WIDTH(&v, p) * GST_VIDEO_FRAME_COMP_PSTRIDE(&v, p);
    for (int r = 0; r < GST_VIDEO_FRAME_COMP_HEIGHT(&v, p); r++, o += row)
      memcpy(o, (guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&v, p) + r * GST_VIDEO_FRAME_PLANE_STRIDE(&v, p), row);
  }
  gst_video_frame_unmap(&v);
  *n = (gsize)(o - out);
  return out;
}

/* One YUV frame through the element (sync): the frame out and its scores. */
static GstBuffer *push_yuv(const char *props, const char *format, int w, int h, GstBuffer *in)
{
  GstBus *bus;
  GstHarness *hn = make_harness(props, &bus);
  char caps[256];
  snprintf(caps, sizeof caps, "video/x-raw,format=%s,width=%d,height=%d,framerate=30/1", format, w, h);
  gst_harness_set_src_caps_str(hn, caps);
  GstBuffer *out = gst_harness_push(hn, in) == GST_FLOW_OK ? gst_harness_pull(hn) : NULL;
  gst_harness_teardown(hn);
  gst_object_unref(bus);
  return out;
}

/* YUV frames through the element in any memory layout, at odd sizes:
 *  - alpha 0 leaves every byte of the picture as it was;
 *  - planes that are not one block (padded rows, gaps, I420 chroma strides
 *    GStreamer rounds up at widths like 66) are repacked around the call: the
 *    scores and the blended picture equal those of the default layout, bit for
 *    bit;
 *  - async mode runs YUV at an odd size. */
static void test_yuv_frames(void)
{
  static const char *formats[] = { "NV12", "I420", "YUY2" };
  static const int sizes[][2] = { { 64, 48 }, { 63, 47 }, { 66, 47 } };
  for (size_t f = 0; f < 3; f++)
    for (size_t z = 0; z < 3; z++) {
      const int w = sizes[z][0], h = sizes[z][1];
      GstVideoInfo info;
      GstBuffer *outs[2] = { NULL, NULL };
      guint8 *bytes[2] = { NULL, NULL };
      gsize n[2] = { 0, 0 };
      for (int padded = 0; padded < 2; padded++) {
        GstBuffer *in = yuv_frame(&info, formats[f], w, h, padded);
        gsize n_in;
        guint8 *before = visible_bytes(in, &info, &n_in);
        GstBuffer *out = push_yuv("alpha=0 attach-map=true", formats[f], w, h, in);
        TC_CHECK(out && gst_buffer_get_tokenclip_meta(out), "%s %dx%d%s: a frame out, analysed", formats[f], w, h,
                 padded ? " padded" : "");
        if (out) {
          gsize n_out;
          guint8 *after = visible_bytes(out, &info, &n_out);
          TC_CHECK(n_in == n_out && memcmp(before, after, n_in) == 0, "%s %dx%d%s alpha 0: bytes unchanged",
                   formats[f], w, h, padded ? " padded" : "");
          g_free(after);
          gst_buffer_unref(out);
        }
        g_free(before);
        outs[padded] = push_yuv("alpha=0.6 overlay-threshold=0 attach-map=true", formats[f], w, h,
                                yuv_frame(&info, formats[f], w, h, padded));
        if (outs[padded])
          bytes[padded] = visible_bytes(outs[padded], &info, &n[padded]);
      }
      GstTokenClipMeta *m0 = outs[0] ? gst_buffer_get_tokenclip_meta(outs[0]) : NULL;
      GstTokenClipMeta *m1 = outs[1] ? gst_buffer_get_tokenclip_meta(outs[1]) : NULL;
      TC_CHECK(m0 && m1 && m0->grid_width == m1->grid_width && m0->grid_height == m1->grid_height &&
                   memcmp(m0->scores, m1->scores, sizeof(float) * m0->grid_width * m0->grid_height) == 0,
               "%s %dx%d: padded planes give the default layout's scores", formats[f], w, h);
      TC_CHECK(bytes[0] && bytes[1] && n[0] == n[1] && memcmp(bytes[0], bytes[1], n[0]) == 0,
               "%s %dx%d: padded planes get the default layout's overlay", formats[f], w, h);
      for (int i = 0; i < 2; i++) {
        g_free(bytes[i]);
        if (outs[i])
          gst_buffer_unref(outs[i]);
      }
    }
  for (size_t f = 0; f < 3; f++) {
    char desc[1024];
    snprintf(desc, sizeof desc,
             "videotestsrc num-buffers=10 ! video/x-raw,format=%s,width=63,height=47 ! tokenclip mode=async "
             "model=%s head=%s ! fakesink",
             formats[f], model_path, head_path);
    run_result r = run_pipeline(desc, NULL);
    TC_CHECK(r.eos && !r.error[0] && r.messages >= 1, "%s async: EOS with %d analyses (%s)", formats[f], r.messages,
             r.error);
  }
}

/* ---- many streams, one model (issue 17) ---- */

/* An element's model-users property. */
static guint model_users(GstElement *pipe, const char *name)
{
  GstElement *e = gst_bin_get_by_name(GST_BIN(pipe), name);
  guint users = G_MAXUINT;
  if (e) {
    g_object_get(e, "model-users", &users, NULL);
    gst_object_unref(e);
  }
  return users;
}

/* Runs a pipeline to EOS and keeps it (PAUSED, elements started) for queries;
 * the last buffer at each sink outN (N < n) in last[N]. NULL on error. */
static int batch_messages[8]; /* run_to_eos: tokenclip messages by their batch field (0..7) */

static GstElement *run_to_eos(const char *desc, GstBuffer **last, int n)
{
  memset(batch_messages, 0, sizeof batch_messages);
  GstElement *pipe = gst_parse_launch(desc, NULL);
  TC_CHECK(pipe != NULL, "parse %s", desc);
  if (!pipe)
    return NULL;
  for (int i = 0; i < n; i++) {
    char name[16];
    snprintf(name, sizeof name, "out%d", i);
    GstElement *sink = gst_bin_get_by_name(GST_BIN(pipe), name);
    GstPad *pad = gst_element_get_static_pad(sink, "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_last_buffer, &last[i], NULL);
    gst_object_unref(pad);
    gst_object_unref(sink);
  }
  GstBus *bus = gst_element_get_bus(pipe);
  gst_element_set_state(pipe, GST_STATE_PLAYING);
  GstMessage *m;
  while ((m = gst_bus_timed_pop_filtered(bus, 60 * GST_SECOND,
                                         GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT)) &&
         GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT) {
    guint batch = 0;
    if (gst_message_has_name(m, "tokenclip") &&
        gst_structure_get_uint(gst_message_get_structure(m), "batch", &batch) && batch < 8)
      batch_messages[batch]++;
    gst_message_unref(m);
  }
  int eos = m && GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS;
  if (m && !eos) {
    GError *e = NULL;
    gst_message_parse_error(m, &e, NULL);
    TC_CHECK(eos, "EOS from %s: %s", desc, e->message);
    g_error_free(e);
  } else {
    TC_CHECK(eos, "EOS from %s (timeout)", desc);
  }
  if (m)
    gst_message_unref(m);
  gst_object_unref(bus);
  if (!eos) {
    gst_element_set_state(pipe, GST_STATE_NULL);
    gst_object_unref(pipe);
    return NULL;
  }
  return pipe;
}

static void stop_pipeline(GstElement *pipe)
{
  if (pipe) {
    gst_element_set_state(pipe, GST_STATE_NULL);
    gst_object_unref(pipe);
  }
}

/* Four streams through one model (model-instance-id) give each stream the
 * scores and pixels of four elements with models of their own, bit for bit
 * (the same kernels; each element keeps its own Sinkhorn state); the model
 * is loaded once: every element counts four users. share-model does the same
 * by model file; batch-size=4 runs the four streams' frames in one submission
 * each time (the messages' batch field), with the same results. */
static void test_shared_streams(void)
{
  static const char *patterns[4] = { "smpte", "ball", "snow", "pinwheel" };
  char desc[8192], sharing[3][96] = { "model-instance-id=cams", "share-model=true",
                                      "model-instance-id=batched batch-size=4 batch-timeout=5000000" };
  GstBuffer *alone[4] = { NULL }, *shared[4] = { NULL };
  for (int s = 0; s < 4; s++) {
    snprintf(desc, sizeof desc,
             "videotestsrc pattern=%s num-buffers=4 ! video/x-raw,format=NV12,width=%d,height=48 ! tokenclip "
             "model=%s head=%s attach-map=true alpha=0.5 ! fakesink name=out0",
             patterns[s], 64 + 8 * s, model_path, head_path);
    stop_pipeline(run_to_eos(desc, &alone[s], 1));
  }
  for (int k = 0; k < 3; k++) {
    size_t len = 0;
    for (int s = 0; s < 4; s++)
      len += (size_t)snprintf(desc + len, sizeof desc - len,
                              "videotestsrc pattern=%s num-buffers=4 ! video/x-raw,format=NV12,width=%d,height=48 ! "
                              "tokenclip name=tc%d %s model=%s head=%s attach-map=true alpha=0.5 ! fakesink name=out%d ",
                              patterns[s], 64 + 8 * s, s, sharing[k], model_path, head_path, s);
    GstElement *pipe = run_to_eos(desc, shared, 4);
    /* batches of 4 (every element's 4 frames, in 4 submissions), else each alone */
    TC_CHECK(!pipe || batch_messages[k == 2 ? 4 : 1] == 16, "%s: 16 analyses in submissions of %d frames (%d)",
             sharing[k], k == 2 ? 4 : 1, batch_messages[k == 2 ? 4 : 1]);
    for (int s = 0; s < 4 && pipe; s++) {
      char name[8];
      snprintf(name, sizeof name, "tc%d", s);
      TC_CHECK(model_users(pipe, name) == 4, "%s: element %d counts %u users of the model (4: loaded once)",
               sharing[k], s, model_users(pipe, name));
      GstTokenClipMeta *a = alone[s] ? gst_buffer_get_tokenclip_meta(alone[s]) : NULL;
      GstTokenClipMeta *b = shared[s] ? gst_buffer_get_tokenclip_meta(shared[s]) : NULL;
      TC_CHECK(a && b && a->grid_width == b->grid_width &&
                   memcmp(a->scores, b->scores, sizeof(float) * a->grid_width * a->grid_height) == 0 &&
                   a->image_score == b->image_score,
               "%s stream %d: the scores of an element alone", sharing[k], s);
      int worst;
      TC_CHECK(a && b && byte_difference(alone[s], shared[s], &worst) == 0, "%s stream %d: the same pixels",
               sharing[k], s);
    }
    stop_pipeline(pipe);
    for (int s = 0; s < 4; s++)
      gst_buffer_replace(&shared[s], NULL);
  }
  for (int s = 0; s < 4; s++)
    gst_buffer_replace(&alone[s], NULL);
}

/* Buffers seen at a pad, counted. */
static GstPadProbeReturn count_buffer(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  g_atomic_int_inc((gint *)data);
  return GST_PAD_PROBE_OK;
}

/* Three live pipelines on one batching model (3 frames, 30 ms timeout): one
 * goes to NULL while the others play
 * on (they keep receiving frames, the count of users drops), and starts
 * again; the model goes with the last. */
static void test_shared_start_stop(void)
{
  GstElement *pipes[3];
  gint counts[3] = { 0 };
  for (int i = 0; i < 3; i++) {
    char desc[2048];
    snprintf(desc, sizeof desc,
             "videotestsrc is-live=true ! video/x-raw,format=I420,width=64,height=48,framerate=30/1 ! tokenclip "
             "name=tc model-instance-id=live batch-size=3 batch-timeout=30000 model=%s head=%s mode=%s ! "
             "fakesink name=out",
             model_path, head_path, i == 1 ? "async" : "sync");
    pipes[i] = gst_parse_launch(desc, NULL);
    GstElement *sink = gst_bin_get_by_name(GST_BIN(pipes[i]), "out");
    GstPad *pad = gst_element_get_static_pad(sink, "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, count_buffer, &counts[i], NULL);
    gst_object_unref(pad);
    gst_object_unref(sink);
    gst_element_set_state(pipes[i], GST_STATE_PLAYING);
  }
  for (int i = 0; i < 3; i++)
    gst_element_get_state(pipes[i], NULL, NULL, 20 * GST_SECOND);
  g_usleep(500000);
  TC_CHECK(model_users(pipes[0], "tc") == 3, "three users while all play (%u)", model_users(pipes[0], "tc"));
  gst_element_set_state(pipes[1], GST_STATE_NULL);
  TC_CHECK(model_users(pipes[0], "tc") == 2 && model_users(pipes[1], "tc") == 0,
           "one stopped: two users (%u), the stopped element none (%u)", model_users(pipes[0], "tc"),
           model_users(pipes[1], "tc"));
  gint before[3] = { g_atomic_int_get(&counts[0]), 0, g_atomic_int_get(&counts[2]) };
  g_usleep(500000);
  for (int i = 0; i < 3; i += 2)
    TC_CHECK(g_atomic_int_get(&counts[i]) >= before[i] + 5,
             "stream %d plays on while another stopped: %d frames in 0.5 s", i, g_atomic_int_get(&counts[i]) - before[i]);
  gst_element_set_state(pipes[1], GST_STATE_PLAYING);
  gst_element_get_state(pipes[1], NULL, NULL, 20 * GST_SECOND);
  gint restarted = g_atomic_int_get(&counts[1]);
  g_usleep(500000);
  TC_CHECK(g_atomic_int_get(&counts[1]) >= restarted + 5 && model_users(pipes[1], "tc") == 3,
           "the stopped stream starts again (%d frames, %u users)", g_atomic_int_get(&counts[1]) - restarted,
           model_users(pipes[1], "tc"));
  for (int i = 0; i < 3; i++)
    gst_element_set_state(pipes[i], GST_STATE_NULL);
  TC_CHECK(model_users(pipes[0], "tc") == 0, "all stopped: no users (%u)", model_users(pipes[0], "tc"));
  for (int i = 0; i < 3; i++)
    gst_object_unref(pipes[i]);
}

/* Async streams on one batching model keep their own frame rates: a 30 fps
 * and a 10 fps live source for 2 s, batch-size 2; each sink gets (nearly) all
 * of its source's frames, on time, while analyses run in batches. */
static void test_shared_async_rates(void)
{
  static const int fps[2] = { 30, 10 };
  GstElement *pipes[2];
  gint counts[2] = { 0 };
  for (int i = 0; i < 2; i++) {
    char desc[2048];
    snprintf(desc, sizeof desc,
             "videotestsrc is-live=true pattern=%s ! video/x-raw,format=NV12,width=64,height=48,framerate=%d/1 ! "
             "tokenclip name=tc model-instance-id=rates batch-size=2 batch-timeout=50000 mode=async model=%s "
             "head=%s ! fakesink name=out sync=true",
             i ? "ball" : "smpte", fps[i], model_path, head_path);
    pipes[i] = gst_parse_launch(desc, NULL);
    GstElement *sink = gst_bin_get_by_name(GST_BIN(pipes[i]), "out");
    GstPad *pad = gst_element_get_static_pad(sink, "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, count_buffer, &counts[i], NULL);
    gst_object_unref(pad);
    gst_object_unref(sink);
  }
  for (int i = 0; i < 2; i++)
    gst_element_set_state(pipes[i], GST_STATE_PLAYING);
  for (int i = 0; i < 2; i++)
    gst_element_get_state(pipes[i], NULL, NULL, 20 * GST_SECOND);
  gint start[2] = { g_atomic_int_get(&counts[0]), g_atomic_int_get(&counts[1]) };
  g_usleep(2 * G_USEC_PER_SEC);
  for (int i = 0; i < 2; i++) {
    int got = g_atomic_int_get(&counts[i]) - start[i];
    TC_CHECK(got >= 2 * fps[i] * 8 / 10 && got <= 2 * fps[i] + 2,
             "stream at %d fps: %d frames in 2 s (want about %d)", fps[i], got, 2 * fps[i]);
    printf("async stream at %d fps: %d frames in 2 s\n", fps[i], got);
  }
  for (int i = 0; i < 2; i++) {
    gst_element_set_state(pipes[i], GST_STATE_NULL);
    gst_object_unref(pipes[i]);
  }
}

/* A file's bytes (g_free), NULL when unreadable. */
static gchar *file_bytes(const char *path, gsize *n)
{
  gchar *data = NULL;
  return g_file_get_contents(path, &data, n, NULL) ? data : NULL;
}

/* memory:VulkanBuffer frames (vulkanupload before the element; issue 17):
 * analysed on the pipeline's Vulkan device with no copy through host memory,
 * the same pixels as the same frames in system memory, bit for bit, for
 * RGBA and NV12, the analysed frames and (interval 2) those that get the
 * latest map; memory:VulkanImage frames the same (vulkandownload after).
 * filesink reads the Vulkan buffers' host-visible memory at the end
 * (vulkandownload takes only images in GStreamer 1.22). Two such streams
 * on one shared, batching model likewise. Async mode refuses such frames with
 * an error saying so. */
static void test_vulkan_memory(void)
{
  static const char *formats[] = { "RGBA", "NV12" };
  char desc[2048];
  static const char *memory[3] = { "system memory", "memory:VulkanBuffer", "memory:VulkanImage" };
  static const char *before[3] = { "", "vulkanupload ! video/x-raw(memory:VulkanBuffer) !",
                                   "vulkanupload ! video/x-raw(memory:VulkanImage) !" };
  static const char *after[3] = { "", "", "vulkandownload !" };
  char path[3][256];
  for (int f = 0; f < 2; f++) {
    gchar *data[3] = { NULL, NULL, NULL };
    gsize n[3] = { 0, 0, 0 };
    for (int vk = 0; vk < 3; vk++) {
      snprintf(path[vk], sizeof path[vk], "/tmp/tc-element-vk-%d-%d.raw", (int)getpid(), vk);
      snprintf(desc, sizeof desc,
               "videotestsrc pattern=smpte num-buffers=6 ! video/x-raw,format=%s,width=64,height=48 ! %s "
               "tokenclip name=tc model=%s head=%s inference-interval=2 alpha=0.6 overlay-threshold=0 ! %s "
               "filesink location=%s",
               formats[f], before[vk], model_path, head_path, after[vk], path[vk]);
      GstBuffer *unused = NULL;
      GstElement *pipe = run_to_eos(desc, &unused, 0);
      TC_CHECK(pipe && batch_messages[1] == 3, "%s %s: EOS with 3 analyses (%d)", formats[f], memory[vk],
               batch_messages[1]);
      gchar *device = NULL;
      GstElement *tc = pipe ? gst_bin_get_by_name(GST_BIN(pipe), "tc") : NULL;
      if (tc) {
        g_object_get(tc, "device-name", &device, NULL);
        gst_object_unref(tc);
      }
      /* the analysis ran on the pipeline's device, not through a host mapping */
      TC_CHECK(device && (strstr(device, "the pipeline's") != NULL) == (vk > 0), "%s %s: device-name \"%s\"",
               formats[f], memory[vk], device ? device : "(none)");
      g_free(device);
      stop_pipeline(pipe);
      data[vk] = file_bytes(path[vk], &n[vk]);
      unlink(path[vk]);
    }
    for (int vk = 1; vk < 3; vk++)
      TC_CHECK(data[0] && data[vk] && n[0] == n[vk] && n[0] > 0 && memcmp(data[0], data[vk], n[0]) == 0,
               "%s: %s frames come out as the system-memory ones (%zu and %zu bytes)", formats[f], memory[vk], n[0],
               n[vk]);
    for (int vk = 0; vk < 3; vk++)
      g_free(data[vk]);
  }
  /* two streams of memory:VulkanBuffer frames on one shared model, in batches of 2: the pixels of the same
   * streams in system memory, each with its own model; both elements count 2 users */
  {
    gchar *data[2] = { NULL, NULL };
    gsize n[2] = { 0, 0 };
    for (int vk = 0; vk < 2; vk++) {
      size_t len = 0;
      for (int i = 0; i < 2; i++) {
        char p[256];
        snprintf(p, sizeof p, "/tmp/tc-element-vkshared-%d-%d-%d.raw", (int)getpid(), vk, i);
        len += (size_t)snprintf(desc + len, sizeof desc - len,
                                "videotestsrc pattern=%s num-buffers=4 ! video/x-raw,format=NV12,width=64,height=48 "
                                "! %s tokenclip name=tc%d %s model=%s head=%s ! filesink location=%s ",
                                i ? "ball" : "smpte", vk ? "vulkanupload ! video/x-raw(memory:VulkanBuffer) !" : "", i,
                                vk ? "model-instance-id=vk batch-size=2 batch-timeout=2000000" : "", model_path,
                                head_path, p);
      }
      GstBuffer *unused = NULL;
      GstElement *pipe = run_to_eos(desc, &unused, 0);
      if (vk)
        TC_CHECK(pipe && model_users(pipe, "tc0") == 2 && model_users(pipe, "tc1") == 2 && batch_messages[2] == 8,
                 "memory:VulkanBuffer on a shared model: 2 users each (%u, %u), 8 analyses in batches of 2 (%d; "
                 "alone %d)", model_users(pipe, "tc0"), model_users(pipe, "tc1"), batch_messages[2], batch_messages[1]);
      stop_pipeline(pipe);
      GString *all = g_string_new(NULL);
      for (int i = 0; i < 2; i++) {
        char p[256];
        gsize m = 0;
        snprintf(p, sizeof p, "/tmp/tc-element-vkshared-%d-%d-%d.raw", (int)getpid(), vk, i);
        gchar *d = file_bytes(p, &m);
        if (d)
          g_string_append_len(all, d, (gssize)m);
        g_free(d);
        unlink(p);
      }
      n[vk] = all->len;
      data[vk] = g_string_free(all, FALSE);
    }
    TC_CHECK(n[0] > 0 && n[0] == n[1] && memcmp(data[0], data[1], n[0]) == 0,
             "memory:VulkanBuffer streams on a shared batching model come out as system-memory streams alone");
    g_free(data[0]);
    g_free(data[1]);
  }
  static const struct {
    const char *what, *props, *want;
  } refused[] = {
    { "async mode", "mode=async", "sync mode" },
  };
  for (size_t c = 0; c < sizeof refused / sizeof *refused; c++) {
    snprintf(desc, sizeof desc,
             "videotestsrc num-buffers=3 ! video/x-raw,format=RGBA,width=64,height=48 ! vulkanupload ! "
             "video/x-raw(memory:VulkanBuffer) ! tokenclip model=%s head=%s %s ! fakesink",
             model_path, head_path, refused[c].props);
    run_result r = run_pipeline(desc, NULL);
    TC_CHECK(r.error[0] && strstr(r.error, refused[c].want), "memory:VulkanBuffer with %s: an error naming it: %s",
             refused[c].what, r.error);
    printf("ok memory:VulkanBuffer with %s: %s\n", refused[c].what, r.error);
  }
}

/* One id, another model file or another device: the second element fails to
 * start with an error naming both. */
static void test_shared_mismatch(void)
{
  char other[256], first[2048];
  snprintf(other, sizeof other, "/tmp/tc-element-other-%d.safetensors", (int)getpid());
  TC_CHECK(symlink(model_path, other) == 0, "symlink %s", other);
  static const struct {
    const char *what, *props, *want;
  } cases[] = {
    { "another model under one id", "model={O}", "model-instance-id 'mix' is the model" },
    { "another device under one id", "model={M} device=0", "this element asks for device '0'" },
    { "another batch size under one id", "model={M} batch-size=2", "asks for batch-size 2" },
  };
  /* the first element holds the id while the second tries */
  snprintf(first, sizeof first,
           "videotestsrc is-live=true ! video/x-raw,format=RGBA,width=64,height=48 ! tokenclip model-instance-id=mix "
           "model=%s head=%s ! fakesink",
           model_path, head_path);
  GstElement *holder = gst_parse_launch(first, NULL);
  gst_element_set_state(holder, GST_STATE_PLAYING);
  gst_element_get_state(holder, NULL, NULL, 20 * GST_SECOND);
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    char props[1024], desc[2048];
    snprintf(props, sizeof props, "%s", cases[c].props);
    char *o = strstr(props, "{O}");
    if (o)
      snprintf(o, sizeof props - (size_t)(o - props), "%s", other);
    char *m = strstr(props, "{M}");
    if (m) {
      char tail[256];
      snprintf(tail, sizeof tail, "%s", m + 3);
      snprintf(m, sizeof props - (size_t)(m - props), "%s%s", model_path, tail);
    }
    snprintf(desc, sizeof desc,
             "videotestsrc num-buffers=3 ! video/x-raw,format=RGBA,width=64,height=48 ! tokenclip "
             "model-instance-id=mix head=%s %s ! fakesink",
             head_path, props);
    run_result r = run_pipeline(desc, NULL);
    TC_CHECK(r.error[0] && !r.eos && strstr(r.error, cases[c].want), "%s: an error naming it: %s", cases[c].what,
             r.error);
    printf("ok %s: %s\n", cases[c].what, r.error);
  }
  gst_element_set_state(holder, GST_STATE_NULL);
  gst_object_unref(holder);
  unlink(other);
}

/* Start and stop repeatedly: each run completes (leaks are checked under valgrind). */
static void test_state_cycles(void)
{
  char desc[1024];
  snprintf(desc, sizeof desc,
           "videotestsrc num-buffers=3 ! video/x-raw,format=BGRA,width=48,height=32 ! tokenclip model=%s head=%s "
           "mode=%%s ! fakesink",
           model_path, head_path);
  for (int i = 0; i < 4; i++) {
    char d[1100];
    snprintf(d, sizeof d, desc, i % 2 ? "async" : "sync");
    run_result r = run_pipeline(d, NULL);
    TC_CHECK(r.eos && !r.error[0], "cycle %d (%s): EOS (%s)", i, i % 2 ? "async" : "sync", r.error);
    if (i % 2 == 0)
      TC_CHECK(r.messages == 3, "cycle %d sync: 3 analyses, got %d", i, r.messages);
  }
}

/* Zero-shot: object=NAME on a model with a text tower gives the same token
 * scores as head=FILE, where FILE is what tokenclip-prompts wrote for NAME. */
static int test_object(const char *text_model, const char *tool_head, const char *object)
{
  float *scores[2] = { NULL, NULL };
  for (int i = 0; i < 2; i++) {
    char desc[2048];
    if (i == 0)
      snprintf(desc, sizeof desc, "tokenclip model=%s object=\"%s\" attach-map=true", text_model, object);
    else
      snprintf(desc, sizeof desc, "tokenclip model=%s head=%s attach-map=true", text_model, tool_head);
    GstBus *bus;
    GstHarness *h = make_harness_desc(desc, &bus);
    set_caps(h, "RGBA", 64, 48);
    GstBuffer *out = gst_harness_push_and_pull(h, make_frame(64, 48, 0, 1));
    GstTokenClipMeta *meta = out ? gst_buffer_get_tokenclip_meta(out) : NULL;
    TC_CHECK(meta != NULL, "%s: scores attached", i ? "head" : "object");
    if (meta) {
      scores[i] = g_memdup2(meta->scores, sizeof(float) * meta->grid_width * meta->grid_height);
      if (i == 1)
        TC_CHECK(tc_test_close("element object= vs head= from tokenclip-prompts", scores[0], scores[1],
                               (size_t)meta->grid_width * meta->grid_height, 1e-6, 1e-5),
                 "same scores");
    }
    if (out)
      gst_buffer_unref(out);
    gst_harness_teardown(h);
    gst_object_unref(bus);
  }
  g_free(scores[0]);
  g_free(scores[1]);

  /* a model without a text tower, and both sources at once: errors */
  static const error_case cases[] = {
    { "object on a model without a text tower", "model={M} object=screw", "RGBA", "text" },
    { "both head and object", "model={M} head={H} object=screw", "RGBA", "object" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    expect_error(&cases[i]);
  return 0;
}

/* One frame through `desc`: the message's image score and global score, the
 * attached token scores (malloc'd, grid^2 of them). */
static int run_frame(const char *desc, const uint8_t *rgba, int w, int h, double *image, double *global,
                     float **scores, guint *grid)
{
  GstBus *bus;
  GstHarness *hn = make_harness_desc(desc, &bus);
  set_caps(hn, "RGBA", w, h);
  GstBuffer *in = gst_buffer_new_allocate(NULL, (gsize)w * h * 4, NULL);
  gst_buffer_fill(in, 0, rgba, (gsize)w * h * 4);
  GST_BUFFER_PTS(in) = 0;
  GstBuffer *out = gst_harness_push_and_pull(hn, in);
  GstTokenClipMeta *meta = out ? gst_buffer_get_tokenclip_meta(out) : NULL;
  GstMessage *m = pop_tokenclip_message(bus);
  int ok = m && meta;
  TC_CHECK(ok, "%s: a message and scores", desc);
  if (ok) {
    const GstStructure *st = gst_message_get_structure(m);
    gst_structure_get_double(st, "image-score", image);
    gst_structure_get_double(st, "global-score", global);
    *grid = meta->grid_width;
    *scores = g_memdup2(meta->scores, sizeof(float) * meta->grid_width * meta->grid_height);
  }
  if (m)
    gst_message_unref(m);
  if (out)
    gst_buffer_unref(out);
  gst_harness_teardown(hn);
  gst_object_unref(bus);
  return ok;
}

/* AnomalyCLIP's heads alone (their defaults: input 48, V-V from 2, PIL's
 * resize, the global token without ln_post and alone in the image score)
 * on the picture PIL-resized to 48 x 48: the image score in the message is
 * the reference's (tests/anomalyclip, float64) within 1e-4 relative; an
 * option set in gst-launch syntax overrides a head default. */
static int test_anomalyclip(const char *clip, const char *head_single, const char *head_multi, const char *img_dir)
{
  char path[2048];
  enum { S = 48 };
  static uint8_t rgba[S * S * 4];
  snprintf(path, sizeof path, "%s/resized.rgba", img_dir);
  FILE *f = fopen(path, "rb");
  size_t got = f ? fread(rgba, 1, sizeof rgba, f) : 0;
  if (f)
    fclose(f);
  snprintf(path, sizeof path, "%s/image_score.txt", img_dir);
  double want = NAN;
  f = fopen(path, "r");
  if (!f || fscanf(f, "%lf", &want) != 1)
    want = NAN;
  if (f)
    fclose(f);
  TC_CHECK(got == sizeof rgba && isfinite(want), "%s: resized.rgba and image_score.txt", img_dir);
  if (got != sizeof rgba || !isfinite(want))
    return 1;
  char desc[4096];
  double image[3] = { 0 }, global[3] = { 0 };
  float *scores[3] = { NULL, NULL, NULL };
  guint grid[3] = { 0 };
  const char *heads[3] = { head_single, head_multi, head_single };
  const char *extra[3] = { "", "", " feature-layers=\"<1,2,3,4>\"" };
  for (int i = 0; i < 3; i++) {
    snprintf(desc, sizeof desc, "tokenclip model=%s head=%s alpha=0 attach-map=true%s", clip, heads[i], extra[i]);
    if (!run_frame(desc, rgba, S, S, &image[i], &global[i], &scores[i], &grid[i]))
      continue;
    TC_CHECK(fabs(image[i] - want) <= 1e-4 * want && image[i] == global[i],
             "%s: image score %.7f, the reference's %.7f (the global token alone)", desc, image[i], want);
    printf("ok %s: image score %.7f, reference %.7f\n", heads[i], image[i], want);
  }
  if (scores[1] && scores[2]) {
    double worst = 0;
    for (guint k = 0; k < grid[1] * grid[1]; k++)
      worst = fmax(worst, fabs((double)scores[1][k] - scores[2][k]));
    TC_CHECK(grid[1] == grid[2] && worst <= 1e-6, "feature-layers=<1,2,3,4> over head-single: head-multi's "
             "scores (max diff %g)", worst);
    printf("ok feature-layers=<1,2,3,4> over head-single gives head-multi's summed scores (max diff %.2g)\n", worst);
  }
  /* the property reads back as set */
  snprintf(desc, sizeof desc, "tokenclip model=%s head=%s feature-layers=\"<1,2,3,4>\" vv-start=0", clip,
           head_single);
  GstElement *e = gst_parse_launch(desc, NULL);
  TC_CHECK(e != NULL, "parse %s", desc);
  if (e) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, GST_TYPE_ARRAY);
    g_object_get_property(G_OBJECT(e), "feature-layers", &v);
    gchar *text = gst_value_serialize(&v);
    gint vv = -2;
    g_object_get(e, "vv-start", &vv, NULL);
    TC_CHECK(text && strcmp(text, "< (uint)1, (uint)2, (uint)3, (uint)4 >") == 0 && vv == 0,
             "feature-layers reads back %s, vv-start %d", text, vv);
    g_free(text);
    g_value_unset(&v);
    gst_object_unref(e);
  }
  for (int i = 0; i < 3; i++)
    g_free(scores[i]);
  return 0;
}

int main(int argc, char **argv)
{
  gst_init(&argc, &argv);
  if (argc < 6) {
    fprintf(stderr, "usage: %s MODEL HEAD HEAD50 TRUNCATED NAN [TEST]\n", argv[0]);
    return 2;
  }
  model_path = argv[1], head_path = argv[2], head_bad_dim_path = argv[3];
  truncated_path = argv[4], nan_model_path = argv[5];
  GstElementFactory *f = gst_element_factory_find("tokenclip");
  if (!f) {
    fprintf(stderr, "FAIL: element tokenclip not found (GST_PLUGIN_PATH=%s)\n", g_getenv("GST_PLUGIN_PATH"));
    return 1;
  }
  gst_object_unref(f);

  const char *only = argc > 6 ? argv[6] : NULL;
  if (only && strcmp(only, "--object") == 0) {
    /* ... --object TEXT_MODEL TOOL_HEAD NAME */
    if (argc < 10) {
      fprintf(stderr, "usage: %s MODEL HEAD HEAD50 TRUNCATED NAN --object TEXT_MODEL TOOL_HEAD NAME\n", argv[0]);
      return 2;
    }
    test_object(argv[7], argv[8], argv[9]);
    only = "(none)";
  } else if (only && strcmp(only, "--anomalyclip") == 0) {
    /* ... --anomalyclip CLIP HEAD_SINGLE HEAD_MULTI IMG_DIR */
    if (argc < 11) {
      fprintf(stderr, "usage: %s MODEL HEAD HEAD50 TRUNCATED NAN --anomalyclip CLIP HEAD_SINGLE HEAD_MULTI IMG_DIR\n",
              argv[0]);
      return 2;
    }
    test_anomalyclip(argv[7], argv[8], argv[9], argv[10]);
    only = "(none)";
  }
#define RUN(t)                                   \
  if (!only || strstr(#t, only)) {               \
    printf("-- %s\n", #t);                       \
    fflush(stdout);                              \
    t();                                         \
  }
  RUN(test_property_defaults);
  RUN(test_pixels_follow_map);
  RUN(test_alpha_zero_and_live_change);
  RUN(test_regions);
  RUN(test_max_regions);
  RUN(test_interval_and_renegotiation);
  RUN(test_flush_restarts);
  RUN(test_meta_follows_geometry);
  RUN(test_model_change_refused);
  RUN(test_errors);
  RUN(test_property_ranges);
  RUN(test_blur_sigma_refused_live);
  RUN(test_refused_without_bus);
  RUN(test_prompts_with_head);
  RUN(test_yuv_formats);
  RUN(test_yuv_frames);
  RUN(test_shared_streams);
  RUN(test_shared_start_stop);
  RUN(test_shared_async_rates);
  RUN(test_vulkan_memory);
  RUN(test_shared_mismatch);
  RUN(test_state_cycles);
  RUN(test_async_keeps_live_rate);

  gst_deinit();
  return tc_check_finish();
}
