#version 450
#extension GL_GOOGLE_include_directive : require
// Anomaly map, pass 4 for YUV frames (NV12, I420, YUY2): the blend of
// map_blend done in YUV, so the frame never goes to RGB and back. The
// colormap's colours come converted to 8-bit Y, U, V once, on the host
// (lut: Y | U << 8 | V << 16). One invocation a chroma sample (2x2 pixels,
// YUY2 2x1): each covered pixel with t >= threshold gets
// Y' = floor(Y + alpha (Yc - Y) + 0.5); the chroma sample gets the mean of
// the covered pixels' pulls, C' = floor(C + sum_on alpha (Cc - C) / n + 0.5),
// n the pixels it covers inside the frame (the RGB blend followed by a box
// chroma downsample, since YUV is linear in RGB). Bytes are written with
// word atomics (neighbouring invocations share words). Plain-C reference:
// tc_ref_map_blend_yuv (tests/ref/tc_ref_map.c).
#define TC_KERNEL_MAP_BLEND_YUV
#include "abi/map.h"
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(binding = MAP_BLEND_BIND_ROWS) uniform samplerBuffer rows;  // [grid_h][width4], four columns a texel
layout(binding = MAP_BLEND_BIND_TABLE) uniform samplerBuffer table; // groups of four rows, see tc_resample_upload
layout(std430, binding = MAP_BLEND_BIND_RANGE) readonly buffer Range { vec2 range; };
layout(std430, binding = MAP_BLEND_BIND_LUT) readonly buffer Lut { uint lut[256]; };
layout(std430, binding = MAP_BLEND_BIND_FRAME) buffer Frame { uint words[]; };
layout(constant_id = MAP_BLEND_YUV_SPEC_FORMAT) const uint FORMAT = 4u; // tc_frame_format: 4 NV12, 5 I420, 6 YUY2

float map_value(uint x, uint y)
{
  int rec = int((y >> 2) * p.record);
  uint first = uint(texelFetch(table, rec).x), last = p.grid_h - 1u, r = y & 3u;
  float v = 0.0;
  for (uint u = 1; u < p.record; u++)
    v += texelFetch(table, rec + int(u))[r] * texelFetch(rows, int(min(first + u - 1u, last) * p.width4 + (x >> 2)))[x & 3u];
  return v;
}

uint get_byte(uint o) { return (words[o >> 2] >> (8u * (o & 3u))) & 0xffu; }
void set_byte(uint o, uint v)
{
  uint sh = 8u * (o & 3u);
  atomicAnd(words[o >> 2], ~(0xffu << sh));
  atomicOr(words[o >> 2], (v & 0xffu) << sh);
}

uint blend(uint v, float target, float pull) { return uint(floor(float(v) + pull * (target - float(v)) + 0.5)); }

void main()
{
  uint cx = gl_GlobalInvocationID.x, cy = gl_GlobalInvocationID.y;
  uint bh = FORMAT == 6u ? 1u : 2u; // pixel rows a chroma sample covers
  if (2u * cx >= p.width || bh * cy >= p.height || !(p.alpha > 0.0))
    return;
  vec2 lim = p.use_range != 0u ? range : vec2(p.lo, p.hi);
  uint chroma = p.stride * p.height; // NV12 / I420: where chroma starts
  vec2 pull = vec2(0.0);
  uint n = 0u;
  bool any_on = false;
  uint uo, vo; // chroma byte offsets
  if (FORMAT == 4u) {
    uo = chroma + cy * p.stride + 2u * cx;
    vo = uo + 1u;
  } else if (FORMAT == 5u) {
    uo = chroma + cy * (p.stride >> 1) + cx;
    vo = uo + (p.stride >> 1) * ((p.height + 1u) >> 1);
  } else {
    uo = cy * p.stride + 4u * cx + 1u;
    vo = uo + 2u;
  }
  vec2 c = vec2(get_byte(uo), get_byte(vo));
  for (uint dy = 0; dy < bh; dy++)
    for (uint dx = 0; dx < 2u; dx++) {
      uint x = 2u * cx + dx, y = bh * cy + dy;
      if (x >= p.width || y >= p.height)
        continue;
      n++;
      float t = lim.y > lim.x ? clamp((map_value(x, y) - lim.x) / (lim.y - lim.x), 0.0, 1.0) : 0.0;
      if (t < p.threshold)
        continue;
      any_on = true;
      uint colour = lut[min(uint(t * 256.0), 255u)];
      uint yo = FORMAT == 6u ? y * p.stride + 4u * cx + 2u * dx : y * p.stride + x;
      set_byte(yo, blend(get_byte(yo), float(colour & 0xffu), p.alpha));
      pull += p.alpha * (vec2((colour >> 8) & 0xffu, (colour >> 16) & 0xffu) - c);
    }
  if (any_on) {
    uvec2 q = uvec2(floor(c + pull / float(n) + 0.5));
    set_byte(uo, q.x);
    set_byte(vo, q.y);
  }
}
