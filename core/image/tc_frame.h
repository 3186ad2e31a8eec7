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

/* tc_frame, tc_frame_format, tc_frame_make, tc_frame_format_name,
 * tc_frame_planes and tc_frame_bytes are public (tokenclip/tokenclip.h,
 * through tc_vk.h). */

/* 1 for NV12, I420, YUY2. */
int tc_frame_is_yuv(tc_frame_format format);

/* TC_OK when the descriptor is usable; otherwise a message naming the field. */
tc_status tc_frame_check(const tc_frame *frame, tc_error *err);

/* 1 when byte 0 of a pixel is blue (BGRA, BGRx), 0 when it is red. */
int tc_frame_blue_first(tc_frame_format format);

/* TC_OK when host frames of this layout may have rows `stride` bytes apart
 * (RGB: at least a row; YUV: the planes of tc_frame_planes at that stride). */
tc_status tc_frame_check_host_stride(const tc_frame *frame, size_t stride, tc_error *err);

/* TC_OK when buf is large enough for the frame. */
tc_status tc_frame_check_buffer(const tc_frame *frame, tc_buffer *buf, tc_error *err);

/* A device buffer for the frame (tc_frame_bytes). */
tc_status tc_frame_buffer_create(tc_context *ctx, const tc_frame *frame, tc_buffer **out, tc_error *err);

/* Copies a frame between host memory with rows src_stride / dst_stride bytes
 * apart (GStreamer's stride, which may differ) and the buffer, whose rows are
 * frame->stride apart. Only 4 * width bytes of each row are copied. YUV: the
 * host frame is in the layout above with its own Y stride; each plane's
 * pixel bytes are copied. */
tc_status tc_frame_upload(tc_buffer *buf, const tc_frame *frame, const void *src, size_t src_stride, tc_error *err);
tc_status tc_frame_download(tc_buffer *buf, const tc_frame *frame, void *dst, size_t dst_stride, tc_error *err);

/* Copies the 4 * width bytes of each row between two host frames. */
void tc_frame_copy(const tc_frame *frame, void *dst, size_t dst_stride, const void *src, size_t src_stride);

/* A frame's device buffer and the host memory it is written through: the
 * buffer's mapping where it is host-visible (lavapipe, unified memory), else
 * a host copy sent to the device before use. Either way a frame costs no
 * allocation, and where the buffer is mapped one host copy. Zeroed at creation. */
typedef struct tc_frame_slot {
  tc_frame frame;
  tc_buffer *buf;
  uint8_t *host;    /* rows frame.stride apart */
  uint8_t *staging; /* host's own memory when buf is not host-visible, else NULL */
} tc_frame_slot;

tc_status tc_frame_slot_create(tc_context *ctx, const tc_frame *frame, tc_frame_slot *slot, tc_error *err);

/* Frames in the caller's device buffers (tokenclip.h's tc_device_plane): TC_OK
 * when `planes` fit the slot's layout (count, strides); then one submission
 * of `cmd` (on the slot's context) copying them into the slot's buffer
 * (to_slot) or the slot's buffer back into them. */
tc_status tc_frame_slot_check_planes(const tc_frame_slot *slot, const tc_device_plane *planes, uint32_t n,
                                     tc_error *err);
tc_status tc_frame_slot_copy_planes(tc_frame_slot *slot, tc_cmd *cmd, tc_device_plane *planes, int to_slot,
                                    tc_error *err);
void tc_frame_slot_destroy(tc_frame_slot *slot);
/* pixels (rows stride bytes apart) -> the slot's host memory; then
 * tc_frame_slot_to_device before a submission reads it. */
void tc_frame_slot_write(tc_frame_slot *slot, const void *pixels, size_t stride);
tc_status tc_frame_slot_to_device(tc_frame_slot *slot, tc_error *err);
/* After a submission wrote the buffer: tc_frame_slot_from_device, then
 * tc_frame_slot_read copies it out to pixels. */
tc_status tc_frame_slot_from_device(tc_frame_slot *slot, tc_error *err);
void tc_frame_slot_read(const tc_frame_slot *slot, void *pixels, size_t stride);

#ifdef __cplusplus
}
#endif

#endif
