/* The model input of a YUV frame read by tokenclip (frame.glsl) against the
 * same frame converted to RGBA by GStreamer's videoconvert (its library,
 * GstVideoConverter, with videoconvert's defaults) and preprocessed as RGBA:
 * NV12, I420 and YUY2, BT.601 and BT.709, limited and full range.
 *
 * The pictures are camera-like (smooth gradients, sharp-edged blocks, a
 * little noise) made in RGBA and converted to YUV by GstVideoConverter.
 *
 * Where the two readings differ:
 *  - the matrix: tokenclip evaluates the standards' matrices in float and
 *    rounds (test_preprocess checks black, white and red against the
 *    standards' values); videoconvert's 8-bit path uses a fixed-point matrix
 *    that truncates. Probed 2026-12-05 (GStreamer 1.22): limited-range white
 *    Y 235 gives 253, not 255; mid grey Y 126 gives 126, not 128; Y 100 U 60
 *    V 200 gives G 63 where the matrix says 65.9. So videoconvert reads
 *    limited range about 2 steps dark, with up to 6 steps (limited range
 *    stretches by 255/219) on saturated colours;
 *  - chroma: videoconvert interpolates subsampled chroma between samples
 *    (chroma-mode=full, its default, on the NV12 and YUY2 paths), tokenclip
 *    takes the sample covering the pixel, as videoconvert does with
 *    chroma-mode=none. That moves colour edges by a pixel: large at the edge,
 *    nothing elsewhere.
 *
 * Tolerances (one step: one 8-bit level after CLIP's normalisation), measured
 * (printed) on lavapipe 2026-12-05 in brackets:
 *  - RGB pixels vs chroma-mode=none: at most 8 steps per channel [6];
 *  - model input (bicubic to 224) vs chroma-mode=none: at most 8 steps [5.95];
 *    vs the default: at most 32 steps at colour edges [26.5];
 *  - both: mean absolute difference at most 3 steps [2.49], videoconvert's
 *    darker limited range. */
#include <gst/video/video.h>

#include "tc_ref_yuv.h"
#include "tc_test.h"

#define PIXEL_STEPS 8
#define NEAREST_WORST 8.0
#define INTERP_WORST 32.0
#define MEAN_STEPS 3.0
#define STEP (1.0 / (255 * 0.26130258)) /* one 8-bit step in CLIP's normalisation, the smallest std */

/* Camera-like RGBA: a smooth background, sharp-edged blocks of saturated
 * colour, a little noise. */
static uint8_t *camera_picture(uint32_t w, uint32_t h)
{
  uint8_t *px = malloc((size_t)w * h * 4);
  for (uint32_t y = 0; y < h; y++)
    for (uint32_t x = 0; x < w; x++) {
      uint8_t *p = px + 4 * ((size_t)y * w + x);
      double u = (double)x / w, v = (double)y / h;
      double rgb[3] = { 200 * u + 30, 160 * v + 40, 120 + 100 * sin(6 * u + 3 * v) };
      if (((x * 7 / w) + (y * 5 / h)) % 3 == 0) { /* blocks: red, green, blue, yellow */
        int k = (x * 7 / w + y * 5 / h) % 4;
        rgb[0] = k == 0 || k == 3 ? 230 : 20;
        rgb[1] = k == 1 || k == 3 ? 220 : 30;
        rgb[2] = k == 2 ? 210 : 25;
      }
      for (int c = 0; c < 3; c++) {
        double n = rgb[c] + tc_test_uniform(-6, 6);
        p[c] = (uint8_t)(n < 0 ? 0 : n > 255 ? 255 : n);
      }
      p[3] = 255;
    }
  return px;
}

/* GstVideoConverter from one layout to another with videoconvert's defaults,
 * chroma-mode set (videoconvert's own property of that name). */
static void gst_convert(const GstVideoInfo *in_info, const uint8_t *in, const GstVideoInfo *out_info, uint8_t *out,
                        GstVideoChromaMode chroma)
{
  GstVideoFrame fin, fout;
  GstBuffer *bin = gst_buffer_new_wrapped_full(GST_MEMORY_FLAG_READONLY, (gpointer)in, GST_VIDEO_INFO_SIZE(in_info),
                                               0, GST_VIDEO_INFO_SIZE(in_info), NULL, NULL);
  GstBuffer *bout = gst_buffer_new_wrapped_full(0, out, GST_VIDEO_INFO_SIZE(out_info), 0,
                                                GST_VIDEO_INFO_SIZE(out_info), NULL, NULL);
  GstVideoConverter *conv = gst_video_converter_new(
      (GstVideoInfo *)in_info, (GstVideoInfo *)out_info,
      gst_structure_new("options", GST_VIDEO_CONVERTER_OPT_CHROMA_MODE, GST_TYPE_VIDEO_CHROMA_MODE, chroma, NULL));
  gst_video_frame_map(&fin, (GstVideoInfo *)in_info, bin, GST_MAP_READ);
  gst_video_frame_map(&fout, (GstVideoInfo *)out_info, bout, GST_MAP_WRITE);
  gst_video_converter_frame(conv, &fin, &fout);
  gst_video_frame_unmap(&fout);
  gst_video_frame_unmap(&fin);
  gst_video_converter_free(conv);
  gst_buffer_unref(bout);
  gst_buffer_unref(bin);
}

static GstVideoFormat gst_format(tc_frame_format f)
{
  return f == TC_FRAME_NV12 ? GST_VIDEO_FORMAT_NV12 : f == TC_FRAME_I420 ? GST_VIDEO_FORMAT_I420
                                                                          : GST_VIDEO_FORMAT_YUY2;
}

/* GStreamer's default layout of frame f is tokenclip's (planes one after the
 * other at the Y stride; I420 chroma at half of it): true for the sizes here. */
static int same_layout(const GstVideoInfo *info, const tc_frame *f)
{
  tc_frame_plane planes[3];
  int n = tc_frame_planes(f, planes);
  if (n != (int)GST_VIDEO_INFO_N_PLANES(info) || GST_VIDEO_INFO_SIZE(info) != tc_frame_bytes(f))
    return 0;
  for (int p = 0; p < n; p++)
    if (GST_VIDEO_INFO_PLANE_OFFSET(info, p) != planes[p].offset ||
        (uint32_t)GST_VIDEO_INFO_PLANE_STRIDE(info, p) != planes[p].stride)
      return 0;
  return 1;
}

static void run_case(tc_context *ctx, tc_frame_format format, int bt709, int full, uint32_t w, uint32_t h,
                     double *worst_px, double worst_in[2], double worst_mean[2])
{
  const uint32_t size = 224;
  const size_t n_in = 3 * (size_t)size * size;
  char what[128];
  snprintf(what, sizeof what, "%s %ux%u %s %s range", tc_frame_format_name(format), w, h, bt709 ? "BT.709" : "BT.601",
           full ? "full" : "limited");

  GstVideoInfo rgba_info, yuv_info;
  gst_video_info_set_format(&rgba_info, GST_VIDEO_FORMAT_RGBA, w, h);
  gst_video_info_set_format(&yuv_info, gst_format(format), w, h);
  yuv_info.colorimetry.matrix = bt709 ? GST_VIDEO_COLOR_MATRIX_BT709 : GST_VIDEO_COLOR_MATRIX_BT601;
  yuv_info.colorimetry.range = full ? GST_VIDEO_COLOR_RANGE_0_255 : GST_VIDEO_COLOR_RANGE_16_235;
  /* the RGB side's transfer and primaries as the YUV side's: a matrix conversion only */
  rgba_info.colorimetry.transfer = yuv_info.colorimetry.transfer;
  rgba_info.colorimetry.primaries = yuv_info.colorimetry.primaries;

  tc_frame f = tc_frame_make(format, w, h), rgba = tc_frame_make(TC_FRAME_RGBA, w, h);
  f.matrix = bt709 ? TC_YUV_BT709 : TC_YUV_BT601;
  f.full_range = (uint32_t)full;
  TC_CHECK(same_layout(&yuv_info, &f), "%s: GStreamer's layout is tokenclip's", what);

  uint8_t *picture = camera_picture(w, h), *yuv = malloc(tc_frame_bytes(&f));
  uint8_t *nearest = malloc(tc_frame_bytes(&rgba)), *interp = malloc(tc_frame_bytes(&rgba));
  uint8_t *ours = malloc(tc_frame_bytes(&rgba));
  gst_convert(&rgba_info, picture, &yuv_info, yuv, GST_VIDEO_CHROMA_MODE_FULL);
  gst_convert(&yuv_info, yuv, &rgba_info, nearest, GST_VIDEO_CHROMA_MODE_NONE);
  gst_convert(&yuv_info, yuv, &rgba_info, interp, GST_VIDEO_CHROMA_MODE_FULL);

  /* the conversion itself, chroma read the same way on both sides */
  tc_ref_yuv_to_rgba(&f, yuv, ours);
  int px_diff = 0;
  for (size_t i = 0; i < (size_t)w * h * 4; i++)
    px_diff = MAX(px_diff, abs((int)ours[i] - (int)nearest[i]));
  TC_CHECK(px_diff <= PIXEL_STEPS, "%s: tokenclip's RGB vs videoconvert chroma-mode=none: %d steps (at most %d)", what, px_diff, PIXEL_STEPS);
  *worst_px = MAX(*worst_px, px_diff);

  /* the model input against videoconvert's, chroma nearest and interpolated */
  float *got = tc_test_preprocess(ctx, &f, yuv, size, TC_RESAMPLE_BICUBIC);
  for (int interpolated = 0; interpolated < 2 && got; interpolated++) {
    float *want = tc_test_preprocess(ctx, &rgba, interpolated ? interp : nearest, size, TC_RESAMPLE_BICUBIC);
    if (!want)
      break;
    double worst = 0, mean = 0;
    for (size_t i = 0; i < n_in; i++) {
      double d = fabs((double)got[i] - want[i]);
      worst = MAX(worst, d), mean += d;
    }
    mean /= (double)n_in;
    double bound = interpolated ? INTERP_WORST : NEAREST_WORST;
    TC_CHECK(worst <= bound * STEP && mean <= MEAN_STEPS * STEP,
             "%s: model input vs videoconvert chroma-mode=%s: worst %.2f steps (at most %.0f), mean %.3f steps (at "
             "most %.1f)", what, interpolated ? "full" : "none", worst / STEP, bound, mean / STEP, MEAN_STEPS);
    worst_in[interpolated] = MAX(worst_in[interpolated], worst / STEP);
    worst_mean[interpolated] = MAX(worst_mean[interpolated], mean / STEP);
    free(want);
  }
  free(got), free(picture), free(yuv), free(nearest), free(interp), free(ours);
}

int main(int argc, char **argv)
{
  gst_init(&argc, &argv);
  tc_context *ctx = tc_test_context(TC_FAMILY_AUTO);
  static const tc_frame_format formats[] = { TC_FRAME_NV12, TC_FRAME_I420, TC_FRAME_YUY2 };
  static const uint32_t sizes[][2] = { { 640, 480 }, { 1280, 720 } };
  double worst_px = 0, worst_in[2] = { 0 }, worst_mean[2] = { 0 };
  tc_test_seed(5);
  for (size_t s = 0; s < 2; s++)
    for (size_t f = 0; f < 3; f++)
      for (int m = 0; m < 4; m++)
        run_case(ctx, formats[f], m & 1, m >> 1, sizes[s][0], sizes[s][1], &worst_px, worst_in, worst_mean);
  printf("yuv vs videoconvert, 3 formats x 2 matrices x 2 ranges x 2 sizes: pixels (chroma-mode=none) %.0f steps; "
         "model input: chroma-mode=none worst %.2f mean %.3f steps, chroma-mode=full worst %.2f mean %.3f steps\n",
         worst_px, worst_in[0], worst_mean[0], worst_in[1], worst_mean[1]);
  return tc_test_finish(ctx);
}
