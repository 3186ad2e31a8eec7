/* PNG and JPEG decoding to RGBA (see image_file.h). Both libraries report
 * errors by longjmp: each decoder keeps what it allocates in a struct owned
 * by its caller, so nothing leaks and no local changes across the jump. */
#include "image_file.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

/* What a header declares, checked before anything is allocated for it. */
static tc_status check_size(const char *path, uint32_t w, uint32_t h, tc_error *err)
{
  if (w == 0 || h == 0 || w > IMAGE_FILE_MAX_SIDE || h > IMAGE_FILE_MAX_SIDE)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: a %ux%u image (each side must be 1..%d)", path, w, h,
                        IMAGE_FILE_MAX_SIDE);
  if ((uint64_t)w * h > IMAGE_FILE_MAX_PIXELS)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: a %ux%u image has %llu pixels, more than the %llu accepted "
                        "(PIL's decompression-bomb limit)", path, w, h, (unsigned long long)w * h,
                        IMAGE_FILE_MAX_PIXELS);
  return TC_OK;
}

static tc_status alloc_pixels(const char *path, uint32_t w, uint32_t h, image_file *out, tc_error *err)
{
  tc_status st = check_size(path, w, h, err);
  if (st != TC_OK)
    return st;
  out->width = w, out->height = h;
  out->rgba = malloc((size_t)w * h * 4);
  if (!out->rgba)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: out of host memory for %ux%u pixels", path, w, h);
  return TC_OK;
}

/* ---- PNG ---------------------------------------------------------------- */

typedef struct png_job {
  const char *path;
  FILE *f;
  png_structp png;
  png_infop info;
  png_bytep *rows;
  image_file *out;
  tc_error *err;
  tc_status st;
  char message[256];
} png_job;

static void png_on_error(png_structp png, png_const_charp msg)
{
  png_job *job = png_get_error_ptr(png);
  snprintf(job->message, sizeof job->message, "%s", msg);
  png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

/* Everything between the libpng calls that may jump; returns 0 when done. */
static int png_decode(png_job *job)
{
  if (setjmp(png_jmpbuf(job->png)))
    return -1;
  png_init_io(job->png, job->f);
  png_set_user_limits(job->png, IMAGE_FILE_MAX_SIDE, IMAGE_FILE_MAX_SIDE);
  png_read_info(job->png, job->info);
  png_uint_32 w = png_get_image_width(job->png, job->info), h = png_get_image_height(job->png, job->info);
  int depth = png_get_bit_depth(job->png, job->info), type = png_get_color_type(job->png, job->info);
  if (type == PNG_COLOR_TYPE_PALETTE)
    png_set_palette_to_rgb(job->png);
  if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
    png_set_expand_gray_1_2_4_to_8(job->png);
  if (png_get_valid(job->png, job->info, PNG_INFO_tRNS))
    png_set_tRNS_to_alpha(job->png);
  else if (!(type & PNG_COLOR_MASK_ALPHA))
    png_set_filler(job->png, 0xff, PNG_FILLER_AFTER);
  if (depth == 16)
    png_set_strip_16(job->png);
  if (!(type & PNG_COLOR_MASK_COLOR))
    png_set_gray_to_rgb(job->png);
  png_set_interlace_handling(job->png);
  png_read_update_info(job->png, job->info);
  if (png_get_rowbytes(job->png, job->info) != (size_t)w * 4) {
    snprintf(job->message, sizeof job->message, "unexpected row size %zu after conversion to RGBA",
             (size_t)png_get_rowbytes(job->png, job->info));
    return -1;
  }
  if ((job->st = alloc_pixels(job->path, w, h, job->out, job->err)) != TC_OK)
    return 0;
  if (!(job->rows = malloc(h * sizeof *job->rows))) {
    job->st = tc_error_set(job->err, TC_ERR_OUT_OF_MEMORY, "%s: out of host memory", job->path);
    return 0;
  }
  for (png_uint_32 y = 0; y < h; y++)
    job->rows[y] = job->out->rgba + (size_t)y * w * 4;
  png_read_image(job->png, job->rows);
  png_read_end(job->png, NULL);
  return 0;
}

static tc_status read_png(const char *path, FILE *f, image_file *out, tc_error *err)
{
  png_job job = { .path = path, .f = f, .out = out, .err = err, .st = TC_OK };
  job.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &job, png_on_error, png_on_warning);
  job.info = job.png ? png_create_info_struct(job.png) : NULL;
  if (!job.info)
    job.st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: cannot start the PNG decoder", path);
  else if (png_decode(&job) != 0)
    job.st = tc_error_set(err, TC_ERR_FORMAT, "%s: bad PNG file: %s", path, job.message);
  png_destroy_read_struct(job.png ? &job.png : NULL, job.info ? &job.info : NULL, NULL);
  free(job.rows);
  return job.st;
}

/* ---- JPEG --------------------------------------------------------------- */

typedef struct jpeg_job {
  struct jpeg_error_mgr mgr; /* first: libjpeg hands back its address */
  jmp_buf jump;
  const char *path;
  FILE *f;
  struct jpeg_decompress_struct d;
  image_file *out;
  tc_error *err;
  tc_status st;
  int truncated;
  char message[JMSG_LENGTH_MAX];
} jpeg_job;

static void jpeg_on_error(j_common_ptr c)
{
  jpeg_job *job = (jpeg_job *)c->err;
  c->err->format_message(c, job->message);
  longjmp(job->jump, 1);
}

/* Warnings are silent, but a premature end of the file makes libjpeg pad
 * the picture with grey: that one is an error here. */
static void jpeg_on_message(j_common_ptr c, int level)
{
  jpeg_job *job = (jpeg_job *)c->err;
  if (level < 0) {
    c->err->num_warnings++;
    /* EOF: the file stops; HIT_MARKER: the data stops at a marker (an
     * end-of-image, say) before the picture is whole */
    if (c->err->msg_code == JWRN_JPEG_EOF || c->err->msg_code == JWRN_HIT_MARKER)
      job->truncated = 1;
  }
}

static int jpeg_decode(jpeg_job *job)
{
  if (setjmp(job->jump))
    return -1;
  jpeg_create_decompress(&job->d);
  jpeg_stdio_src(&job->d, job->f);
  jpeg_read_header(&job->d, TRUE);
  if (job->d.jpeg_color_space == JCS_CMYK || job->d.jpeg_color_space == JCS_YCCK) {
    job->st = tc_error_set(job->err, TC_ERR_UNSUPPORTED, "%s: CMYK JPEG files are not supported (convert the "
                           "picture to RGB)", job->path);
    return 0;
  }
  if ((job->st = check_size(job->path, job->d.image_width, job->d.image_height, job->err)) != TC_OK)
    return 0;
  job->d.out_color_space = JCS_EXT_RGBA; /* libjpeg-turbo: grey and YCbCr both expand to it */
  jpeg_start_decompress(&job->d);
  if (job->d.output_components != 4) {
    snprintf(job->message, sizeof job->message, "decoder gave %d components, not RGBA", job->d.output_components);
    return -1;
  }
  if ((job->st = alloc_pixels(job->path, job->d.output_width, job->d.output_height, job->out, job->err)) != TC_OK)
    return 0;
  while (job->d.output_scanline < job->d.output_height && !job->truncated) {
    JSAMPROW row = job->out->rgba + (size_t)job->d.output_scanline * job->d.output_width * 4;
    jpeg_read_scanlines(&job->d, &row, 1);
  }
  if (!job->truncated)
    jpeg_finish_decompress(&job->d);
  if (job->truncated) {
    snprintf(job->message, sizeof job->message, "the file ends before the picture does (truncated)");
    return -1;
  }
  return 0;
}

static tc_status read_jpeg(const char *path, FILE *f, image_file *out, tc_error *err)
{
  jpeg_job job = { .path = path, .f = f, .out = out, .err = err, .st = TC_OK };
  job.d.err = jpeg_std_error(&job.mgr);
  job.mgr.error_exit = jpeg_on_error;
  job.mgr.emit_message = jpeg_on_message;
  if (jpeg_decode(&job) != 0)
    job.st = tc_error_set(err, TC_ERR_FORMAT, "%s: bad JPEG file: %s", path, job.message);
  jpeg_destroy_decompress(&job.d);
  return job.st;
}

/* ---- either ------------------------------------------------------------- */

tc_status image_file_read(const char *path, image_file *out, tc_error *err)
{
  *out = (image_file){ 0 };
  FILE *f = fopen(path, "rb");
  if (!f)
    return tc_error_set(err, TC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  unsigned char magic[8] = { 0 };
  size_t n = fread(magic, 1, sizeof magic, f);
  rewind(f);
  tc_status st;
  if (n == 8 && png_sig_cmp(magic, 0, 8) == 0) {
    out->format = "PNG";
    st = read_png(path, f, out, err);
  } else if (n >= 3 && magic[0] == 0xff && magic[1] == 0xd8 && magic[2] == 0xff) {
    out->format = "JPEG";
    st = read_jpeg(path, f, out, err);
  } else if (n == 0) {
    st = tc_error_set(err, ferror(f) ? TC_ERR_IO : TC_ERR_FORMAT, ferror(f) ? "%s: read error"
                      : "%s: empty file (0 bytes), not a PNG or JPEG image", path);
  } else {
    /* the bytes the file has, up to four */
    char start[16] = "";
    for (size_t i = 0; i < n && i < 4; i++)
      snprintf(start + 3 * i, sizeof start - 3 * i, "%s%02x", i ? " " : "", magic[i]);
    st = tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: not a PNG or JPEG file (it starts with %s)", path, start);
  }
  fclose(f);
  if (st != TC_OK)
    image_file_free(out);
  return st;
}

void image_file_free(image_file *img)
{
  free(img->rgba);
  *img = (image_file){ 0 };
}

/* ---- writing PNG -------------------------------------------------------- */

typedef struct png_write_job {
  FILE *f;
  png_structp png;
  png_infop info;
  const uint8_t *rgba;
  uint32_t width, height;
  size_t stride;
  uint8_t *row; /* one RGB row */
  char message[256];
} png_write_job;

static void png_write_on_error(png_structp png, png_const_charp msg)
{
  png_write_job *job = png_get_error_ptr(png);
  snprintf(job->message, sizeof job->message, "%s", msg);
  png_longjmp(png, 1);
}

static int png_encode(png_write_job *job)
{
  if (setjmp(png_jmpbuf(job->png)))
    return -1;
  png_init_io(job->png, job->f);
  png_set_IHDR(job->png, job->info, job->width, job->height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(job->png, 6);
  png_write_info(job->png, job->info);
  for (uint32_t y = 0; y < job->height; y++) {
    const uint8_t *src = job->rgba + (size_t)y * job->stride;
    for (uint32_t x = 0; x < job->width; x++)
      memcpy(job->row + 3 * (size_t)x, src + 4 * (size_t)x, 3);
    png_write_row(job->png, job->row);
  }
  png_write_end(job->png, NULL);
  return 0;
}

tc_status image_file_write_png(const char *path, const uint8_t *rgba, uint32_t width, uint32_t height,
                               size_t stride, tc_error *err)
{
  if (!rgba || width == 0 || height == 0 || width > IMAGE_FILE_MAX_SIDE || height > IMAGE_FILE_MAX_SIDE ||
      stride < 4 * (size_t)width)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: cannot write a %ux%u image with rows %zu bytes apart",
                        path, width, height, stride);
  png_write_job job = { .rgba = rgba, .width = width, .height = height, .stride = stride };
  if (!(job.row = malloc(3 * (size_t)width)))
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
  if (!(job.f = fopen(path, "wb"))) {
    free(job.row);
    return tc_error_set(err, TC_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
  }
  tc_status st = TC_OK;
  job.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &job, png_write_on_error, png_on_warning);
  job.info = job.png ? png_create_info_struct(job.png) : NULL;
  if (!job.info)
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: cannot start the PNG encoder", path);
  else if (png_encode(&job) != 0)
    st = tc_error_set(err, TC_ERR_IO, "%s: writing the PNG failed: %s", path, job.message);
  png_destroy_write_struct(job.png ? &job.png : NULL, job.info ? &job.info : NULL);
  if (fclose(job.f) != 0 && st == TC_OK)
    st = tc_error_set(err, TC_ERR_IO, "%s: writing failed: %s", path, strerror(errno));
  if (st != TC_OK)
    remove(path);
  free(job.row);
  return st;
}
