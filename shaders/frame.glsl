// The frame's pixels: the one place the shaders that read a frame learn its
// format (core/image/tc_frame.h). frame_rgb(x, y) is pixel (x, y) as 8-bit
// RGB, red first whatever the byte order. A shader defines FRAME_BINDING
// before including this, passes the row stride from its push constants and
// the format as specialization constant 1 (a pipeline per format: the
// choice costs nothing per pixel).
#ifndef TC_FRAME_GLSL
#define TC_FRAME_GLSL

layout(std430, binding = FRAME_BINDING) readonly buffer Frame { uint frame_words[]; }; // 8-bit x4 a pixel

// tc_frame_format
const uint FRAME_RGBA = 0u, FRAME_BGRA = 1u, FRAME_RGBX = 2u, FRAME_BGRX = 3u;
layout(constant_id = PREPROCESS_SPEC_FRAME_FORMAT) const uint FRAME_FORMAT = FRAME_RGBA;

// stride_px: 32-bit words from one row to the next.
uvec3 frame_rgb(uint x, uint y, uint stride_px)
{
  uint px = frame_words[y * stride_px + x];
  uvec3 v = uvec3(px & 0xffu, (px >> 8) & 0xffu, (px >> 16) & 0xffu);
  return FRAME_FORMAT == FRAME_BGRA || FRAME_FORMAT == FRAME_BGRX ? v.zyx : v;
}

#endif
