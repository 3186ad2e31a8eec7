#include "tc_frame.h"

#include <stdlib.h>
#include <string.h>

int tc_frame_is_yuv(tc_frame_format format) { return format >= TC_FRAME_NV12 && format <= TC_FRAME_YUY2; }

/* The narrowest Y-plane (YUY2: packed) stride: whole chroma pairs. In 64
 * bits: for an absurd width it does not fit a stride. */
static uint64_t min_stride(tc_frame_format format, uint32_t width)
{
  uint64_t even = (uint64_t)width + (width & 1u);
  switch (format) {
  case TC_FRAME_NV12:
  case TC_FRAME_I420: return even;
  case TC_FRAME_YUY2: return 2 * even;
  default: return 4 * (uint64_t)width;
  }
}

tc_frame tc_frame_make(tc_frame_format format, uint32_t width, uint32_t height)
{
  const uint64_t stride = min_stride(format, width);
  /* a width no stride can hold: stride 0, which tc_frame_check refuses naming the width */
  return (tc_frame){ .format = format, .width = width, .height = height,
                     .stride = stride > UINT32_MAX ? 0 : (uint32_t)stride };
}

int tc_frame_planes(const tc_frame *f, tc_frame_plane planes[3])
{
  uint32_t cw = (f->width + 1) / 2, ch = (f->height + 1) / 2;
  size_t luma = (size_t)f->stride * f->height;
  planes[0] = (tc_frame_plane){ 0, f->stride, f->height, f->width };
  switch (f->format) {
  case TC_FRAME_NV12:
    planes[1] = (tc_frame_plane){ luma, f->stride, ch, 2 * cw };
    return 2;
  case TC_FRAME_I420:
    planes[1] = (tc_frame_plane){ luma, f->stride / 2, ch, cw };
    planes[2] = (tc_frame_plane){ luma + (size_t)(f->stride / 2) * ch, f->stride / 2, ch, cw };
    return 3;
  case TC_FRAME_YUY2: planes[0].row_bytes = 4 * cw; return 1;
  default: planes[0].row_bytes = 4 * (size_t)f->width; return 1;
  }
}

/* Bytes up to the end of the last plane's last row (stride padding included). */
static size_t data_bytes(const tc_frame *f)
{
  tc_frame_plane pl[3];
  int n = tc_frame_planes(f, pl);
  return pl[n - 1].offset + pl[n - 1].stride * pl[n - 1].rows;
}

tc_status tc_frame_check(const tc_frame *f, tc_error *err)
{
  if ((unsigned)f->format > TC_FRAME_YUY2)
    return tc_error_set(err, TC_ERR_UNSUPPORTED,
                        "frame format %d is not RGBA, BGRA, RGBx, BGRx, NV12, I420 or YUY2", (int)f->format);
  if (f->width == 0 || f->height == 0)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "frame of %ux%u pixels", f->width, f->height);
  if (min_stride(f->format, f->width) > UINT32_MAX)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "a %s frame %u pixels wide: its rows do not fit a 32-bit stride",
                        tc_frame_format_name(f->format), f->width);
  if (tc_frame_is_yuv(f->format)) {
    if ((unsigned)f->matrix > TC_YUV_BT709 || f->full_range > 1)
      return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "YUV matrix %d / full_range %u: expected BT.601 or BT.709, 0 or 1",
                          (int)f->matrix, f->full_range);
    if (f->stride % 2 != 0 || f->stride < min_stride(f->format, f->width))
      return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s frame stride %u bytes: must be even and at least %u",
                          tc_frame_format_name(f->format), f->stride, (uint32_t)min_stride(f->format, f->width));
    if ((uint64_t)f->stride * f->height * 2 > UINT32_MAX)
      return tc_error_set(err, TC_ERR_UNSUPPORTED, "a %ux%u frame with stride %u exceeds 2 GiB", f->width, f->height,
                          f->stride);
    return TC_OK;
  }
  /* the shaders read a pixel as one 32-bit word: rows must start on one */
  if (f->stride % 4 != 0 || f->stride / 4 < f->width)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT,
                        "frame stride %u bytes: must be a multiple of 4 and at least 4 * width (%u)", f->stride,
                        f->width);
  if ((uint64_t)f->stride * f->height > UINT32_MAX)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "a %ux%u frame with stride %u exceeds 4 GiB", f->width,
                        f->height, f->stride);
  return TC_OK;
}

size_t tc_frame_bytes(const tc_frame *f) { return (data_bytes(f) + 3) & ~(size_t)3; }

int tc_frame_blue_first(tc_frame_format format) { return format == TC_FRAME_BGRA || format == TC_FRAME_BGRX; }

const char *tc_frame_format_name(tc_frame_format format)
{
  switch (format) {
  case TC_FRAME_RGBA: return "RGBA";
  case TC_FRAME_BGRA: return "BGRA";
  case TC_FRAME_RGBX: return "RGBx";
  case TC_FRAME_BGRX: return "BGRx";
  case TC_FRAME_NV12: return "NV12";
  case TC_FRAME_I420: return "I420";
  case TC_FRAME_YUY2: return "YUY2";
  }
  return "?";
}

tc_status tc_frame_check_buffer(const tc_frame *f, tc_buffer *buf, tc_error *err)
{
  tc_status st = tc_frame_check(f, err);
  if (st != TC_OK)
    return st;
  if (!buf)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "no frame buffer");
  if (tc_buffer_size(buf) < tc_frame_bytes(f))
    return tc_error_set(err, TC_ERR_MISMATCH, "a %zu-byte buffer cannot hold a %ux%u frame with stride %u (%zu bytes)",
                        tc_buffer_size(buf), f->width, f->height, f->stride, tc_frame_bytes(f));
  return TC_OK;
}

tc_status tc_frame_buffer_create(tc_context *ctx, const tc_frame *f, tc_buffer **out, tc_error *err)
{
  *out = NULL;
  tc_status st = tc_frame_check(f, err);
  return st == TC_OK ? tc_buffer_create(ctx, tc_frame_bytes(f), out, err) : st;
}

static tc_status copy_rows(tc_buffer *buf, const tc_frame *f, void *host, size_t host_stride, int upload,
                           tc_error *err)
{
  tc_status st = tc_frame_check_buffer(f, buf, err);
  if (st != TC_OK)
    return st;
  if (tc_frame_is_yuv(f->format)) {
    /* the host frame is the same layout with its own Y stride (chroma strides follow from it) */
    tc_frame host_f = *f;
    host_f.stride = (uint32_t)host_stride;
    if (host_stride != f->stride && (st = tc_frame_check(&host_f, err)) != TC_OK) {
      tc_error_prefix(err, "host frame");
      return st;
    }
    char *mapped = tc_buffer_host_ptr(buf);
    if (host_stride == f->stride || !mapped) {
      if (host_stride != f->stride)
        return tc_error_set(err, TC_ERR_UNSUPPORTED, "a YUV frame in device-local memory is copied with its own stride");
      size_t n = data_bytes(f);
      return upload ? tc_buffer_upload(buf, 0, host, n, err) : tc_buffer_download(buf, 0, host, n, err);
    }
    if (upload)
      tc_frame_copy(f, mapped, f->stride, host, host_stride);
    else
      tc_frame_copy(f, host, host_stride, mapped, f->stride);
    return TC_OK;
  }
  size_t row = 4 * (size_t)f->width;
  if (host_stride < row)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "host stride %zu is less than a %u-pixel row", host_stride,
                        f->width);
  /* same stride: one copy, which stops at the last pixel (the host frame may end there) */
  size_t span = (size_t)(f->height - 1) * f->stride + row;
  if (host_stride == f->stride)
    return upload ? tc_buffer_upload(buf, 0, host, span, err) : tc_buffer_download(buf, 0, host, span, err);
  /* device-local memory: repack into a host copy with the buffer's stride, one staging copy */
  char *mapped = tc_buffer_host_ptr(buf), *tmp = NULL;
  if (!mapped) {
    tmp = calloc(1, tc_frame_bytes(f));
    if (!tmp)
      return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory for a %zu-byte frame", tc_frame_bytes(f));
    if (!upload && (st = tc_buffer_download(buf, 0, tmp, tc_frame_bytes(f), err)) != TC_OK) {
      free(tmp);
      return st;
    }
  }
  char *dev = mapped ? mapped : tmp;
  for (uint32_t y = 0; y < f->height; y++) {
    char *h = (char *)host + y * host_stride, *d = dev + (size_t)y * f->stride;
    memcpy(upload ? d : h, upload ? h : d, row);
  }
  if (tmp && upload)
    st = tc_buffer_upload(buf, 0, tmp, tc_frame_bytes(f), err);
  free(tmp);
  return st;
}

tc_status tc_frame_upload(tc_buffer *buf, const tc_frame *f, const void *src, size_t src_stride, tc_error *err)
{
  return copy_rows(buf, f, (void *)src, src_stride, 1, err);
}

tc_status tc_frame_download(tc_buffer *buf, const tc_frame *f, void *dst, size_t dst_stride, tc_error *err)
{
  return copy_rows(buf, f, dst, dst_stride, 0, err);
}

void tc_frame_copy(const tc_frame *f, void *dst, size_t dst_stride, const void *src, size_t src_stride)
{
  if (tc_frame_is_yuv(f->format)) {
    tc_frame fd = *f, fs = *f;
    fd.stride = (uint32_t)dst_stride;
    fs.stride = (uint32_t)src_stride;
    tc_frame_plane pd[3], ps[3];
    int n = tc_frame_planes(&fd, pd);
    tc_frame_planes(&fs, ps);
    for (int i = 0; i < n; i++)
      for (uint32_t y = 0; y < pd[i].rows; y++)
        memcpy((char *)dst + pd[i].offset + y * pd[i].stride, (const char *)src + ps[i].offset + y * ps[i].stride,
               pd[i].row_bytes);
    return;
  }
  const size_t row = 4 * (size_t)f->width;
  if (dst_stride == row && src_stride == row) {
    memcpy(dst, src, row * f->height);
    return;
  }
  for (uint32_t y = 0; y < f->height; y++)
    memcpy((char *)dst + y * dst_stride, (const char *)src + y * src_stride, row);
}

tc_status tc_frame_slot_check_planes(const tc_frame_slot *slot, const tc_device_plane *planes, uint32_t n_planes,
                                     tc_error *err)
{
  tc_frame_plane lp[3];
  const uint32_t n = (uint32_t)tc_frame_planes(&slot->frame, lp);
  if (!planes || n_planes != n)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s frames have %u planes, %u given",
                        tc_frame_format_name(slot->frame.format), n, planes ? n_planes : 0);
  for (uint32_t i = 0; i < n; i++) {
    if (!planes[i].buffer && !planes[i].image)
      return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "plane %u: no buffer or image", i);
    if (!planes[i].buffer) {
      if (slot->frame.format == TC_FRAME_YUY2)
        return tc_error_set(err, TC_ERR_UNSUPPORTED, "YUY2 frames in images are not taken (buffers are)");
      continue; /* an image: its texels go to the layout's rows */
    }
    if (planes[i].stride != lp[i].stride)
      return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "plane %u: stride %u, the frame layout's is %zu", i,
                          planes[i].stride, lp[i].stride);
  }
  return TC_OK;
}

/* A plane keeps the layout's stride, so it is one region. */
tc_status tc_frame_slot_copy_planes(tc_frame_slot *slot, tc_cmd *cmd, tc_device_plane *planes, int to_slot,
                                    tc_error *err)
{
  tc_frame_plane lp[3];
  const int n = tc_frame_planes(&slot->frame, lp);
  tc_buffer *wrapped[3] = { NULL, NULL, NULL };
  tc_status st = tc_cmd_begin(cmd, err);
  for (int i = 0; i < n && st == TC_OK; i++) {
    if (planes[i].image) {
      /* texels of one plane: 4 bytes (RGB), 1 (Y, I420 chroma) or 2 (NV12 chroma); the width in texels */
      const int nv12_chroma = slot->frame.format == TC_FRAME_NV12 && i == 1;
      const uint32_t texel = tc_frame_is_yuv(slot->frame.format) ? (nv12_chroma ? 2 : 1) : 4;
      const uint32_t w = (uint32_t)(lp[i].row_bytes / texel);
      st = tc_cmd_copy_image(cmd, planes[i].image, w, lp[i].rows, &planes[i].image_layout, &planes[i].image_stages,
                             &planes[i].image_access, slot->buf, lp[i].offset, (uint32_t)(lp[i].stride / texel),
                             to_slot, err);
      continue;
    }
    const size_t bytes = (size_t)(lp[i].rows - 1) * lp[i].stride + lp[i].row_bytes;
    st = tc_buffer_wrap(tc_cmd_context(cmd), planes[i].buffer, planes[i].offset + bytes, &wrapped[i], err);
    if (st == TC_OK)
      st = to_slot ? tc_cmd_copy(cmd, wrapped[i], planes[i].offset, slot->buf, lp[i].offset, bytes, err)
                   : tc_cmd_copy(cmd, slot->buf, lp[i].offset, wrapped[i], planes[i].offset, bytes, err);
  }
  if (st == TC_OK)
    st = tc_cmd_end(cmd, err);
  if (st == TC_OK)
    st = tc_cmd_run(cmd, err);
  for (int i = 0; i < n; i++)
    tc_buffer_destroy(wrapped[i]);
  return st;
}

tc_status tc_frame_slot_create(tc_context *ctx, const tc_frame *frame, tc_frame_slot *s, tc_error *err)
{
  *s = (tc_frame_slot){ .frame = *frame };
  tc_status st = tc_frame_buffer_create(ctx, frame, &s->buf, err);
  if (st != TC_OK)
    return st;
  s->host = tc_buffer_host_ptr(s->buf);
  if (s->host) {
    memset(s->host, 0, tc_frame_bytes(frame));
    return TC_OK;
  }
  if (!(s->staging = calloc(1, tc_frame_bytes(frame))))
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory for a %zu-byte frame", tc_frame_bytes(frame));
  s->host = s->staging;
  if (st == TC_OK)
    st = tc_frame_slot_to_device(s, err);
  if (st != TC_OK)
    tc_frame_slot_destroy(s);
  return st;
}

void tc_frame_slot_destroy(tc_frame_slot *s)
{
  tc_buffer_destroy(s->buf);
  free(s->staging);
  *s = (tc_frame_slot){ 0 };
}

void tc_frame_slot_write(tc_frame_slot *s, const void *pixels, size_t stride)
{
  tc_frame_copy(&s->frame, s->host, s->frame.stride, pixels, stride);
}

tc_status tc_frame_slot_to_device(tc_frame_slot *s, tc_error *err)
{
  return s->staging ? tc_buffer_upload(s->buf, 0, s->staging, tc_frame_bytes(&s->frame), err) : TC_OK;
}

tc_status tc_frame_slot_from_device(tc_frame_slot *s, tc_error *err)
{
  return s->staging ? tc_buffer_download(s->buf, 0, s->staging, tc_frame_bytes(&s->frame), err) : TC_OK;
}

void tc_frame_slot_read(const tc_frame_slot *s, void *pixels, size_t stride)
{
  tc_frame_copy(&s->frame, pixels, stride, s->host, s->frame.stride);
}

tc_status tc_frame_check_host_stride(const tc_frame *f, size_t stride, tc_error *err)
{
  if (!tc_frame_is_yuv(f->format)) {
    if (stride < 4 * (size_t)f->width)
      return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "stride %zu is less than a %u-pixel row", stride, f->width);
    return TC_OK;
  }
  tc_frame host = *f;
  host.stride = (uint32_t)stride;
  if (stride > UINT32_MAX || tc_frame_check(&host, err) != TC_OK)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "stride %zu does not fit a %ux%u %s frame (even, at least %u)",
                        stride, f->width, f->height, tc_frame_format_name(f->format),
                        (uint32_t)min_stride(f->format, f->width));
  return TC_OK;
}
