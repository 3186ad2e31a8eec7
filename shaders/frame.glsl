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
const uint FRAME_NV12 = 4u, FRAME_I420 = 5u, FRAME_YUY2 = 6u;
layout(constant_id = PREPROCESS_SPEC_FRAME_FORMAT) const uint FRAME_FORMAT = FRAME_RGBA;
layout(constant_id = PREPROCESS_SPEC_YUV_MATRIX) const uint YUV_MATRIX = 0u; // 0 BT.601, 1 BT.709
layout(constant_id = PREPROCESS_SPEC_YUV_FULL) const uint YUV_FULL = 0u;     // 1: full range

uint frame_byte(uint offset) { return (frame_words[offset >> 2] >> (8u * (offset & 3u))) & 0xffu; }

// YUV -> 8-bit RGB exactly as the C reference tc_frame_yuv_to_rgb
// (tests/ref/tc_ref_yuv.c): float, rounded half up, clamped. Chroma is
// taken from the sample covering the pixel (no interpolation).
uvec3 yuv_rgb(uint Y, uint U, uint V)
{
  float kr = YUV_MATRIX == 1u ? 0.2126 : 0.299, kb = YUV_MATRIX == 1u ? 0.0722 : 0.114, kg = 1.0 - kr - kb;
  float y = YUV_FULL == 1u ? float(Y) : (float(Y) - 16.0) * (255.0 / 219.0);
  float cs = YUV_FULL == 1u ? 1.0 : 255.0 / 224.0;
  float cb = (float(U) - 128.0) * cs, cr = (float(V) - 128.0) * cs;
  vec3 rgb = vec3(y + 2.0 * (1.0 - kr) * cr, y - (2.0 * kb * (1.0 - kb) / kg) * cb - (2.0 * kr * (1.0 - kr) / kg) * cr,
                  y + 2.0 * (1.0 - kb) * cb);
  return uvec3(clamp(floor(rgb + 0.5), 0.0, 255.0));
}

// stride: bytes from one row to the next (YUV: of the Y plane, see
// tc_frame.h for where the chroma planes are); height: the frame's.
uvec3 frame_rgb(uint x, uint y, uint stride, uint height)
{
  if (FRAME_FORMAT == FRAME_NV12) {
    uint c = stride * height + (y >> 1) * stride + (x & ~1u);
    return yuv_rgb(frame_byte(y * stride + x), frame_byte(c), frame_byte(c + 1u));
  }
  if (FRAME_FORMAT == FRAME_I420) {
    uint cs = stride >> 1, u = stride * height + (y >> 1) * cs + (x >> 1);
    return yuv_rgb(frame_byte(y * stride + x), frame_byte(u), frame_byte(u + cs * ((height + 1u) >> 1)));
  }
  if (FRAME_FORMAT == FRAME_YUY2) {
    uint m = y * stride + 4u * (x >> 1);
    return yuv_rgb(frame_byte(m + 2u * (x & 1u)), frame_byte(m + 1u), frame_byte(m + 3u));
  }
  uint px = frame_words[y * (stride >> 2) + x];
  uvec3 v = uvec3(px & 0xffu, (px >> 8) & 0xffu, (px >> 16) & 0xffu);
  return FRAME_FORMAT == FRAME_BGRA || FRAME_FORMAT == FRAME_BGRX ? v.zyx : v;
}

#endif
