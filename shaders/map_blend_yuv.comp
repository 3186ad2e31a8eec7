#version 450
#extension GL_GOOGLE_include_directive : require
// Anomaly map, pass 4 for YUV frames (NV12, I420, YUY2): the blend of
// map_blend done in YUV, so the frame never goes to RGB and back. The
// colormap's colours come converted to 8-bit Y, U, V once, on the host
// (lut: Y | U << 8 | V << 16). One invocation a 4x4 pixel block (its map
// values computed as map_blend does, sharing table and row loads), which
// holds whole chroma samples (2x2 pixels, YUY2 2x1): each covered pixel with t >= threshold gets
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
// stride a multiple of 4: the block's luma (and NV12's, YUY2's chroma) bytes
// fill whole words no other invocation touches, kept in registers and
// stored plainly; otherwise (and I420's chroma, half words) word atomics
layout(constant_id = MAP_BLEND_YUV_SPEC_ALIGNED) const bool ALIGNED = false;

uint cache[8];    // ALIGNED: the words of the block (4 luma rows x 2 words, NV12 chroma in 4..5 unused by luma)
uint cache_at[8]; // their word indices
bool cache_dirty[8];

int cached(uint o)
{
  if (!ALIGNED || (FORMAT == 5u && o >= p.stride * p.height))
    return -1;
  for (int i = 0; i < 8; i++)
    if (cache_at[i] == (o >> 2))
      return i;
  return -1;
}

uint get_byte(uint o)
{
  int i = cached(o);
  return ((i >= 0 ? cache[i] : words[o >> 2]) >> (8u * (o & 3u))) & 0xffu;
}
void set_byte(uint o, uint v)
{
  uint sh = 8u * (o & 3u);
  int i = cached(o);
  if (i >= 0) {
    cache[i] = (cache[i] & ~(0xffu << sh)) | ((v & 0xffu) << sh);
    cache_dirty[i] = true;
    return;
  }
  atomicAnd(words[o >> 2], ~(0xffu << sh));
  atomicOr(words[o >> 2], (v & 0xffu) << sh);
}

uint blend(uint v, float target, float pull) { return uint(floor(float(v) + pull * (target - float(v)) + 0.5)); }

// chroma byte offsets of chroma sample (cx, cy)
uvec2 chroma_at(uint cx, uint cy)
{
  uint base = p.stride * p.height;
  if (FORMAT == 4u)
    return uvec2(base + cy * p.stride + 2u * cx) + uvec2(0u, 1u);
  if (FORMAT == 5u) {
    uint u = base + cy * (p.stride >> 1) + cx;
    return uvec2(u, u + (p.stride >> 1) * ((p.height + 1u) >> 1));
  }
  return uvec2(cy * p.stride + 4u * cx + 1u) + uvec2(0u, 2u);
}

void main()
{
  // a 4x4 pixel block an invocation: its map values as map_blend computes them
  uint x4 = gl_GlobalInvocationID.x, group = gl_GlobalInvocationID.y;
  if (x4 >= p.width4 || 4u * group >= p.height || !(p.alpha > 0.0))
    return;
  vec2 lim = p.use_range != 0u ? range : vec2(p.lo, p.hi);
  int rec = int(group * p.record);
  uint first = uint(texelFetch(table, rec).x), last = p.grid_h - 1u;
  vec4 v0 = vec4(0.0), v1 = vec4(0.0), v2 = vec4(0.0), v3 = vec4(0.0);
  for (uint u = 1; u < p.record; u++) {
    vec4 w = texelFetch(table, rec + int(u));
    vec4 cols4 = texelFetch(rows, int(min(first + u - 1u, last) * p.width4 + x4));
    v0 += w.x * cols4;
    v1 += w.y * cols4;
    v2 += w.z * cols4;
    v3 += w.w * cols4;
  }
  mat4 v = mat4(v0, v1, v2, v3); // v[r][c]: row 4 group + r, column 4 x4 + c
  uint bh = FORMAT == 6u ? 1u : 2u; // pixel rows a chroma sample covers
  if (ALIGNED) { // the block's own words: luma rows (YUY2: 2 words a row), NV12's 2 chroma rows
    for (uint i = 0; i < 8u; i++) {
      cache_at[i] = 0xffffffffu;
      cache_dirty[i] = false;
    }
    for (uint r = 0; r < 4u && 4u * group + r < p.height; r++) {
      uint o = (4u * group + r) * p.stride + (FORMAT == 6u ? 8u : 4u) * x4;
      cache_at[2u * r] = o >> 2;
      if (FORMAT == 6u)
        cache_at[2u * r + 1u] = (o >> 2) + 1u;
    }
    if (FORMAT == 4u)
      for (uint cr = 0; cr < 2u && 4u * group + 2u * cr < p.height; cr++)
        cache_at[2u * cr + 1u] = (p.stride * p.height + (2u * group + cr) * p.stride + 4u * x4) >> 2;
    for (uint i = 0; i < 8u; i++)
      if (cache_at[i] != 0xffffffffu)
        cache[i] = words[cache_at[i]];
  }
  for (uint cr = 0; cr < 4u / bh; cr++)
    for (uint cc = 0; cc < 2u; cc++) {
      uint cx = 2u * x4 + cc, cy = (4u * group) / bh + cr;
      if (2u * cx >= p.width || bh * cy >= p.height)
        continue;
      uvec2 co = chroma_at(cx, cy);
      vec2 c = vec2(get_byte(co.x), get_byte(co.y)), pull = vec2(0.0);
      uint n = 0u;
      bool any_on = false;
      for (uint dy = 0; dy < bh; dy++)
        for (uint dx = 0; dx < 2u; dx++) {
          uint r = bh * cr + dy, k = 2u * cc + dx, x = 4u * x4 + k, y = 4u * group + r;
          if (x >= p.width || y >= p.height)
            continue;
          n++;
          float t = lim.y > lim.x ? clamp((v[r][k] - lim.x) / (lim.y - lim.x), 0.0, 1.0) : 0.0;
          if (t < p.threshold)
            continue;
          any_on = true;
          uint colour = lut[min(uint(t * 256.0), 255u)];
          uint yo = FORMAT == 6u ? y * p.stride + 2u * x : y * p.stride + x;
          set_byte(yo, blend(get_byte(yo), float(colour & 0xffu), p.alpha));
          pull += p.alpha * (vec2((colour >> 8) & 0xffu, (colour >> 16) & 0xffu) - c);
        }
      if (any_on) {
        uvec2 q = uvec2(floor(c + pull / float(n) + 0.5));
        set_byte(co.x, q.x);
        set_byte(co.y, q.y);
      }
    }
  if (ALIGNED)
    for (uint i = 0; i < 8u; i++)
      if (cache_dirty[i])
        words[cache_at[i]] = cache[i];
}
