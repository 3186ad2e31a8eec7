/* Video frames as libtokenclip sees them: packed 8-bit pixels, four bytes a
 * pixel, rows `stride` bytes apart, in a tc_buffer. The frame is uploaded once
 * per analysed frame, read by preprocess and written in place by the map's
 * blend; where buffers are host-mapped (lavapipe, unified memory) upload and
 * download are plain copies. */
#ifndef TC_FRAME_H
#define TC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "tc_vk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Byte order in memory, as GStreamer names them (GST_VIDEO_FORMAT_RGBA ...).
 * The fourth byte (alpha or padding) is never read and never written. */
typedef enum tc_frame_format {
  TC_FRAME_RGBA = 0,
  TC_FRAME_BGRA = 1,
  TC_FRAME_RGBX = 2,
  TC_FRAME_BGRX = 3,
} tc_frame_format;

typedef struct tc_frame {
  tc_frame_format format;
  uint32_t width, height;
  uint32_t stride; /* bytes from one row to the next: a multiple of 4, at least 4 * width */
} tc_frame;

/* A frame descriptor with the tightest stride (4 * width). */
tc_frame tc_frame_make(tc_frame_format format, uint32_t width, uint32_t height);

/* TC_OK when the descriptor is usable; otherwise a message naming the field. */
tc_status tc_frame_check(const tc_frame *frame, tc_error *err);

/* Bytes a buffer needs to hold the frame: stride * height. */
size_t tc_frame_bytes(const tc_frame *frame);

/* 1 when byte 0 of a pixel is blue (BGRA, BGRx), 0 when it is red. */
int tc_frame_blue_first(tc_frame_format format);

/* "RGBA", "BGRA", "RGBx", "BGRx"; "?" for anything else. */
const char *tc_frame_format_name(tc_frame_format format);

/* TC_OK when buf is large enough for the frame. */
tc_status tc_frame_check_buffer(const tc_frame *frame, tc_buffer *buf, tc_error *err);

/* A device buffer for the frame (tc_frame_bytes). */
tc_status tc_frame_buffer_create(tc_context *ctx, const tc_frame *frame, tc_buffer **out, tc_error *err);

/* Copies a frame between host memory with rows src_stride / dst_stride bytes
 * apart (GStreamer's stride, which may differ) and the buffer, whose rows are
 * frame->stride apart. Only 4 * width bytes of each row are copied. */
tc_status tc_frame_upload(tc_buffer *buf, const tc_frame *frame, const void *src, size_t src_stride, tc_error *err);
tc_status tc_frame_download(tc_buffer *buf, const tc_frame *frame, void *dst, size_t dst_stride, tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
