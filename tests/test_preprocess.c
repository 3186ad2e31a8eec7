/* Preprocess on the device against the C reference (tests/ref/tc_ref_image.c,
 * itself checked against torch by tests/torch/test_ref_image.py): awkward
 * frame sizes, padded strides, all four byte orders, down- and upscaling,
 * both interpolations; plus argument errors.
 *
 * Tolerance: outputs are about -1.8..2.6; the device sums up to ~40 fp32
 * products of 0..255 and fp32 weights where the reference sums in double.
 * Measured worst error 1.0e-6; atol 5e-6 + rtol 2e-6 (an 8-bit step is 0.015
 * after normalisation).
 *
 * TC_RESAMPLE_PIL_BICUBIC (PIL's 8-bit resize) must equal the reference bit
 * for bit, tolerance 0: both passes are integer arithmetic (integer weights,
 * int32 sums, shifts and clamps: exact on any device), and the normalisation
 * is a lookup in a table the host fills with the reference's own double
 * expression rounded to float. */
#include "image/tc_preprocess.h"
#include "tc_ref_image.h"
#include "tc_ref_yuv.h"
#include "tc_test.h"

#define ATOL 5e-6
#define RTOL 2e-6

/* Random pixels, padding bytes included (they must be ignored). */
static uint8_t *random_frame(const tc_frame *f)
{
  size_t n = tc_frame_bytes(f);
  uint8_t *px = malloc(n);
  for (size_t i = 0; i < n; i++)
    px[i] = (uint8_t)tc_test_uniform(0, 256);
  return px;
}

typedef struct {
  uint32_t w, h, pad; /* pad: extra bytes per row */
  tc_frame_format format;
  uint32_t size;
  tc_resample_filter filter;
} pp_case;

static void run_case(tc_context *ctx, const pp_case *c)
{
  tc_frame f = tc_frame_make(c->format, c->w, c->h);
  f.stride += c->pad;
  char what[160];
  snprintf(what, sizeof what, "preprocess %s %ux%u stride %u -> %u %s", tc_frame_format_name(c->format), c->w, c->h,
           f.stride, c->size, tc_resample_filter_name(c->filter));
  const int exact = c->filter == TC_RESAMPLE_PIL_BICUBIC;
  const double atol = exact ? 0 : ATOL, rtol = exact ? 0 : RTOL;
  size_t n_out = 3 * (size_t)c->size * c->size;
  uint8_t *px = random_frame(&f);
  float *got = malloc(n_out * 4), *want = malloc(n_out * 4);
  tc_error err = { 0 };
  tc_preprocess *pp = NULL;
  tc_buffer *frame = NULL, *out = NULL;
  tc_cmd *cmd = NULL;
  if (TC_CHECK_OK(tc_preprocess_create(ctx, &f, c->size, c->filter, &pp, &err), &err) &&
      TC_CHECK_OK(tc_frame_buffer_create(ctx, &f, &frame, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create(ctx, tc_preprocess_output_bytes(pp), &out, &err), &err) &&
      TC_CHECK_OK(tc_frame_upload(frame, &f, px, f.stride, &err), &err) &&
      TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err) &&
      TC_CHECK_OK(tc_preprocess_record(pp, cmd, frame, out, &err), &err) &&
      TC_CHECK_OK(tc_cmd_end(cmd, &err), &err) && TC_CHECK_OK(tc_cmd_run(cmd, &err), &err)) {
    tc_buffer_download(out, 0, got, n_out * 4, &err);
    tc_ref_preprocess(px, &f, c->size, c->filter, want);
    tc_test_close(what, got, want, n_out, atol, rtol);

    /* the same recording on the next frame's pixels */
    free(px);
    px = random_frame(&f);
    if (TC_CHECK_OK(tc_frame_upload(frame, &f, px, f.stride, &err), &err) &&
        TC_CHECK_OK(tc_cmd_run(cmd, &err), &err)) {
      tc_buffer_download(out, 0, got, n_out * 4, &err);
      tc_ref_preprocess(px, &f, c->size, c->filter, want);
      snprintf(what + strlen(what), sizeof what - strlen(what), ", resubmitted");
      tc_test_close(what, got, want, n_out, atol, rtol);
    }
  }
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(out);
  tc_buffer_destroy(frame);
  tc_preprocess_destroy(pp);
  free(px), free(got), free(want);
}

/* The same picture as RGBA and as BGRx gives the same model input, bit for bit. */
static void test_byte_orders_agree(tc_context *ctx, tc_resample_filter filter)
{
  const uint32_t w = 53, h = 31, size = 32;
  tc_frame rgba = tc_frame_make(TC_FRAME_RGBA, w, h), bgrx = tc_frame_make(TC_FRAME_BGRX, w, h);
  uint8_t *a = random_frame(&rgba), *b = malloc(tc_frame_bytes(&bgrx));
  for (size_t i = 0; i < (size_t)w * h; i++) {
    b[4 * i] = a[4 * i + 2];
    b[4 * i + 1] = a[4 * i + 1];
    b[4 * i + 2] = a[4 * i];
    b[4 * i + 3] = (uint8_t)~a[4 * i + 3];
  }
  size_t n_out = 3 * size * size;
  float *out[2] = { malloc(n_out * 4), malloc(n_out * 4) };
  const tc_frame *fs[2] = { &rgba, &bgrx };
  uint8_t *pxs[2] = { a, b };
  tc_error err = { 0 };
  for (int i = 0; i < 2; i++) {
    tc_preprocess *pp = NULL;
    tc_buffer *frame = NULL, *o = NULL;
    tc_cmd *cmd = NULL;
    if (TC_CHECK_OK(tc_preprocess_create(ctx, fs[i], size, filter, &pp, &err), &err) &&
        TC_CHECK_OK(tc_frame_buffer_create(ctx, fs[i], &frame, &err), &err) &&
        TC_CHECK_OK(tc_frame_upload(frame, fs[i], pxs[i], fs[i]->stride, &err), &err) &&
        TC_CHECK_OK(tc_buffer_create(ctx, n_out * 4, &o, &err), &err) &&
        TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err) &&
        TC_CHECK_OK(tc_preprocess_record(pp, cmd, frame, o, &err), &err) &&
        TC_CHECK_OK(tc_cmd_end(cmd, &err), &err) && TC_CHECK_OK(tc_cmd_run(cmd, &err), &err))
      tc_buffer_download(o, 0, out[i], n_out * 4, &err);
    tc_cmd_destroy(cmd);
    tc_buffer_destroy(o);
    tc_buffer_destroy(frame);
    tc_preprocess_destroy(pp);
  }
  char what[80];
  snprintf(what, sizeof what, "preprocess %s: RGBA == BGRx of the same picture", tc_resample_filter_name(filter));
  tc_test_close(what, out[1], out[0], n_out, 0, 0);
  free(a), free(b), free(out[0]), free(out[1]);
}

/* A YUV frame read on the device (frame.glsl's conversion fused into the
 * first resampling pass) gives the model input of the same picture converted
 * to RGBA by the C reference tc_ref_yuv_to_rgba and preprocessed as RGBA:
 * every format, both matrices, both ranges, odd sizes (chroma rounded up),
 * padded strides, every resample mode. bicubic-pil needs 8-bit RGB: each tap
 * is converted to 8-bit RGB (rounded) before PIL's integer passes, so it sees
 * the bytes an RGB frame would hold.
 *
 * Tolerance: one 8-bit step after normalisation (1 / (255 * 0.2613) =
 * 0.0150; atol 0.016). The device and the reference evaluate the same float
 * expression, but the device may contract it into fma, which moves a value
 * on a rounding boundary by one step in a few taps: measured on lavapipe 4
 * of 72 comparisons differ, worst 3.6e-5 (a one-step tap with a small
 * weight); bicubic-pil equal here. */
static void test_yuv_matches_rgb(tc_context *ctx)
{
  static const struct { tc_frame_format format; uint32_t w, h, pad; } shapes[] = {
    { TC_FRAME_NV12, 641, 479, 2 }, { TC_FRAME_I420, 641, 479, 6 }, { TC_FRAME_YUY2, 641, 479, 4 },
    { TC_FRAME_NV12, 64, 48, 0 },   { TC_FRAME_I420, 33, 17, 0 },   { TC_FRAME_YUY2, 1, 1, 0 },
  };
  static const tc_resample_filter filters[] = { TC_RESAMPLE_BICUBIC, TC_RESAMPLE_BILINEAR, TC_RESAMPLE_PIL_BICUBIC };
  const uint32_t size = 32;
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
    for (int m = 0; m < 4; m++) {
      tc_frame f = tc_frame_make(shapes[s].format, shapes[s].w, shapes[s].h);
      f.stride += shapes[s].pad;
      f.matrix = (m & 1) ? TC_YUV_BT709 : TC_YUV_BT601;
      f.full_range = (uint32_t)(m >> 1);
      tc_frame rgba = tc_frame_make(TC_FRAME_RGBA, f.width, f.height);
      uint8_t *yuv = random_frame(&f), *rgb = malloc(tc_frame_bytes(&rgba));
      tc_ref_yuv_to_rgba(&f, yuv, rgb);
      for (size_t i = 0; i < sizeof filters / sizeof *filters; i++) {
        float *got = tc_test_preprocess(ctx, &f, yuv, size, filters[i]);
        float *want = tc_test_preprocess(ctx, &rgba, rgb, size, filters[i]);
        char what[160];
        snprintf(what, sizeof what, "preprocess %s %ux%u stride %u %s %s range, %s == RGBA of the same picture",
                 tc_frame_format_name(f.format), f.width, f.height, f.stride, m & 1 ? "BT.709" : "BT.601",
                 m >> 1 ? "full" : "limited", tc_resample_filter_name(filters[i]));
        if (got && want)
          tc_test_close(what, got, want, 3 * size * size, 0.016, 0);
        free(got), free(want);
      }
      free(yuv), free(rgb);
    }
}

/* The reference conversion itself on known values: limited-range black,
 * white and BT.601 / BT.709 red (values from the standards' matrices). */
static void test_yuv_reference_values(void)
{
  static const struct { tc_yuv_matrix matrix; uint32_t full; uint8_t y, u, v, r, g, b; } cases[] = {
    { TC_YUV_BT601, 0, 16, 128, 128, 0, 0, 0 },     { TC_YUV_BT601, 0, 235, 128, 128, 255, 255, 255 },
    { TC_YUV_BT601, 0, 81, 90, 240, 255, 0, 0 },    { TC_YUV_BT709, 0, 63, 102, 240, 255, 0, 0 },
    { TC_YUV_BT601, 1, 76, 85, 255, 254, 0, 0 },    { TC_YUV_BT709, 1, 128, 128, 128, 128, 128, 128 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    tc_frame f = tc_frame_make(TC_FRAME_YUY2, 2, 1);
    f.matrix = cases[i].matrix;
    f.full_range = cases[i].full;
    uint8_t yuy2[4] = { cases[i].y, cases[i].u, cases[i].y, cases[i].v }, rgba[8];
    tc_ref_yuv_to_rgba(&f, yuy2, rgba);
    /* the 8-bit codes in the standards are themselves rounded: one step */
    TC_CHECK(abs(rgba[0] - cases[i].r) <= 1 && abs(rgba[1] - cases[i].g) <= 1 && abs(rgba[2] - cases[i].b) <= 1,
             "YUV reference case %zu: RGB %u %u %u, want %u %u %u", i, rgba[0], rgba[1], rgba[2], cases[i].r,
             cases[i].g, cases[i].b);
  }
}

/* Frames copied between host rows of one stride and device rows of another. */
static void test_frame_copies(tc_context *ctx)
{
  const uint32_t w = 13, h = 7;
  tc_frame f = tc_frame_make(TC_FRAME_RGBA, w, h);
  f.stride += 8;                                /* device rows: 60 bytes */
  size_t host_stride = 4 * w + 20, back_stride = 4 * w; /* host rows: 72 bytes in, 52 out */
  uint8_t *src = malloc(host_stride * h), *back = calloc(back_stride, h);
  for (size_t i = 0; i < host_stride * h; i++)
    src[i] = (uint8_t)tc_test_uniform(0, 256);
  tc_error err = { 0 };
  tc_buffer *buf = NULL;
  if (TC_CHECK_OK(tc_frame_buffer_create(ctx, &f, &buf, &err), &err) &&
      TC_CHECK_OK(tc_frame_upload(buf, &f, src, host_stride, &err), &err) &&
      TC_CHECK_OK(tc_frame_download(buf, &f, back, back_stride, &err), &err)) {
    size_t bad = 0;
    for (uint32_t y = 0; y < h; y++)
      bad += memcmp(src + y * host_stride, back + y * back_stride, 4 * w) != 0;
    TC_CHECK(bad == 0, "%zu row(s) differ after upload and download with other strides", bad);
    if (!bad)
      printf("ok frame rows copied across strides 72 -> 60 -> 52 bytes\n");
  }
  TC_CHECK(tc_frame_upload(buf, &f, src, 4 * w - 4, &err) == TC_ERR_INVALID_ARGUMENT, "short host stride accepted");
  tc_error_clear(&err);
  tc_buffer_destroy(buf);
  free(src), free(back);
}

static void test_errors(tc_context *ctx)
{
  tc_error err = { 0 };
  tc_preprocess *pp = NULL;
  tc_frame f = tc_frame_make(TC_FRAME_RGBA, 10, 10);
  f.stride = 42; /* not a multiple of 4 */
  TC_CHECK(tc_preprocess_create(ctx, &f, 224, TC_RESAMPLE_BICUBIC, &pp, &err) == TC_ERR_INVALID_ARGUMENT && !pp,
           "stride 42 accepted");
  TC_CHECK(strstr(err.message, "stride") != NULL, "message: %s", err.message);
  tc_error_clear(&err);
  f.stride = 36; /* less than 4 * width */
  TC_CHECK(tc_preprocess_create(ctx, &f, 224, TC_RESAMPLE_BICUBIC, &pp, &err) == TC_ERR_INVALID_ARGUMENT,
           "short stride accepted");
  tc_error_clear(&err);
  f = tc_frame_make((tc_frame_format)7, 10, 10);
  TC_CHECK(tc_preprocess_create(ctx, &f, 224, TC_RESAMPLE_BICUBIC, &pp, &err) == TC_ERR_UNSUPPORTED,
           "format 7 accepted");
  TC_CHECK(strstr(err.message, "format") != NULL, "message: %s", err.message);
  tc_error_clear(&err);
  /* a width whose rows no 32-bit stride holds: named as such, not as a wrapped stride */
  f = tc_frame_make(TC_FRAME_RGBA, (1u << 30) + 1, 1);
  TC_CHECK(f.stride == 0 && tc_preprocess_create(ctx, &f, 224, TC_RESAMPLE_BICUBIC, &pp, &err) == TC_ERR_UNSUPPORTED &&
               strstr(err.message, "1073741825 pixels wide"),
           "a 2^30 + 1 wide frame: stride %u, %s", f.stride, err.message);
  tc_error_clear(&err);
  f = tc_frame_make(TC_FRAME_RGBA, 10, 10);
  TC_CHECK(tc_preprocess_create(ctx, &f, 0, TC_RESAMPLE_BICUBIC, &pp, &err) == TC_ERR_INVALID_ARGUMENT,
           "size 0 accepted");
  tc_error_clear(&err);
  TC_CHECK(tc_preprocess_create(ctx, &f, 16, (tc_resample_filter)9, &pp, &err) == TC_ERR_INVALID_ARGUMENT,
           "interpolation 9 accepted");
  TC_CHECK(strstr(err.message, "resampling filter") != NULL, "message: %s", err.message);
  tc_error_clear(&err);

  /* buffers too small for the frame or the output are refused when recording */
  tc_buffer *small = NULL, *out = NULL;
  tc_cmd *cmd = NULL;
  if (TC_CHECK_OK(tc_preprocess_create(ctx, &f, 16, TC_RESAMPLE_BICUBIC, &pp, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create(ctx, 64, &small, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create(ctx, tc_preprocess_output_bytes(pp), &out, &err), &err) &&
      TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err)) {
    TC_CHECK(tc_preprocess_record(pp, cmd, small, out, &err) == TC_ERR_MISMATCH, "small frame buffer accepted");
    TC_CHECK(strstr(err.message, "frame") != NULL, "message: %s", err.message);
    tc_error_clear(&err);
    TC_CHECK(tc_preprocess_record(pp, cmd, out, small, &err) == TC_ERR_MISMATCH, "small output accepted");
    tc_error_clear(&err);
    tc_cmd_end(cmd, &err);
  }
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(small);
  tc_buffer_destroy(out);
  tc_preprocess_destroy(pp);
}

int main(void)
{
  tc_context *ctx = tc_test_context(TC_FAMILY_AUTO);
  const pp_case cases[] = {
    { 641, 479, 12, TC_FRAME_RGBA, 224, TC_RESAMPLE_BICUBIC },  /* odd sizes, padded rows */
    { 641, 479, 0, TC_FRAME_BGRX, 224, TC_RESAMPLE_BILINEAR },
    { 1, 1, 0, TC_FRAME_BGRX, 224, TC_RESAMPLE_BICUBIC },       /* one pixel, upscaled */
    { 1, 1, 4, TC_FRAME_RGBX, 7, TC_RESAMPLE_BILINEAR },
    { 37, 23, 8, TC_FRAME_BGRA, 224, TC_RESAMPLE_BILINEAR },    /* upscaling */
    { 37, 23, 0, TC_FRAME_RGBA, 224, TC_RESAMPLE_BICUBIC },
    { 300, 7, 4, TC_FRAME_RGBX, 64, TC_RESAMPLE_BICUBIC },      /* down in x, up in y */
    { 5, 333, 0, TC_FRAME_BGRA, 518, TC_RESAMPLE_BICUBIC },     /* up in x, down in y */
    { 1920, 1080, 0, TC_FRAME_BGRX, 224, TC_RESAMPLE_BICUBIC }, /* the real thing */
    { 1280, 720, 64, TC_FRAME_RGBA, 518, TC_RESAMPLE_BICUBIC },
    /* PIL's 8-bit resize, exactly */
    { 641, 479, 12, TC_FRAME_RGBA, 224, TC_RESAMPLE_PIL_BICUBIC },
    { 1, 1, 0, TC_FRAME_BGRX, 224, TC_RESAMPLE_PIL_BICUBIC },
    { 37, 23, 8, TC_FRAME_BGRA, 224, TC_RESAMPLE_PIL_BICUBIC }, /* upscaling: overshoots clamped to 0..255 */
    { 300, 7, 4, TC_FRAME_RGBX, 64, TC_RESAMPLE_PIL_BICUBIC },
    { 5, 333, 0, TC_FRAME_BGRA, 518, TC_RESAMPLE_PIL_BICUBIC },
    { 518, 518, 0, TC_FRAME_RGBA, 518, TC_RESAMPLE_PIL_BICUBIC }, /* tokenclip-eval's frames: both passes identity */
    { 518, 300, 4, TC_FRAME_BGRX, 518, TC_RESAMPLE_PIL_BICUBIC }, /* one pass identity */
    { 1920, 1080, 0, TC_FRAME_BGRX, 518, TC_RESAMPLE_PIL_BICUBIC }, /* a camera to AnomalyCLIP */
    { 1280, 720, 64, TC_FRAME_RGBA, 224, TC_RESAMPLE_PIL_BICUBIC },
  };
  tc_test_seed(11);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    run_case(ctx, &cases[i]);
  test_byte_orders_agree(ctx, TC_RESAMPLE_BICUBIC);
  test_byte_orders_agree(ctx, TC_RESAMPLE_PIL_BICUBIC);
  test_yuv_reference_values();
  test_yuv_matches_rgb(ctx);
  test_frame_copies(ctx);
  test_errors(ctx);
  return tc_test_finish(ctx);
}
