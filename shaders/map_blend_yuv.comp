#version 450
#extension GL_GOOGLE_include_directive : require
// Anomaly map, pass 5 for YUV frames (NV12, I420, YUY2): the blend of
// map_blend done in YUV, so the frame never goes to RGB and back. The
// colour layer (map_colour) holds each pixel's colour converted to 8-bit
// Y | U << 8 | V << 16 (the colormap converted once, on the host) and 0xff in
// the top byte where it is blended. One invocation a block of 4 x 4 pixels:
// for each chroma sample in it (2x2 pixels, YUY2 2x1) each covered pixel blended gets
// Y' = floor(Y + alpha (Yc - Y) + 0.5); the chroma sample gets the mean of
// the covered pixels' pulls, C' = floor(C + sum_on alpha (Cc - C) / n + 0.5),
// n the pixels it covers inside the frame (the RGB blend followed by a box
// chroma downsample, since YUV is linear in RGB). Bytes are written into
// words: see OWNED for when atomics are needed. Plain-C reference:
// tc_ref_map_blend_yuv (tests/ref/tc_ref_map.c).
#define TC_KERNEL_MAP_BLEND_YUV
#include "abi/map.h"
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(std430, binding = MAP_BLEND_BIND_LAYER) readonly buffer Layer { uvec4 layer[]; }; // [height][width4]
layout(std430, binding = MAP_BLEND_BIND_FRAME) buffer Frame { uint words[]; };
layout(constant_id = MAP_BLEND_YUV_SPEC_FORMAT) const uint FORMAT = 4u; // tc_frame_format: 4 NV12, 5 I420, 6 YUY2
// Stride a multiple of 4: no word spans two rows, so the words holding a
// block's Y bytes (NV12 / YUY2: and chroma bytes) hold no other block's
// changed bytes: plain read-modify-write, no atomics (on lavapipe an atomic
// costs as much as the rest of the blend). I420's chroma is two bytes of a
// word per block row: always atomics.
layout(constant_id = MAP_BLEND_YUV_SPEC_ALIGNED) const bool OWNED = false;

uint get_byte(uint o) { return (words[o >> 2] >> (8u * (o & 3u))) & 0xffu; }
void set_byte_shared(uint o, uint v)
{
  uint sh = 8u * (o & 3u);
  atomicAnd(words[o >> 2], ~(0xffu << sh));
  atomicOr(words[o >> 2], (v & 0xffu) << sh);
}
void set_byte(uint o, uint v)
{
  if (!OWNED) {
    set_byte_shared(o, v);
    return;
  }
  uint sh = 8u * (o & 3u);
  words[o >> 2] = (words[o >> 2] & ~(0xffu << sh)) | ((v & 0xffu) << sh);
}

uint blend(uint v, float target, float pull) { return uint(floor(float(v) + pull * (target - float(v)) + 0.5)); }

uint byte_of(uint w, uint b) { return (w >> (8u * b)) & 0xffu; }
uint with_byte(uint w, uint b, uint v) { return (w & ~(0xffu << (8u * b))) | ((v & 0xffu) << (8u * b)); }

// OWNED: each block row's words loaded once, changed in registers, stored
// once (byte loads and stores are gathers and scatters on lavapipe). Same
// arithmetic as the byte path below.
void blend_owned(uvec4 col[4], uint x4, uint group)
{
  uint x0 = 4u * x4, y0 = 4u * group;
  bvec4 on[4];
  uvec4 inside[4];
  for (uint r = 0; r < 4u; r++) {
    inside[r] = uvec4(lessThan(uvec4(x0) + uvec4(0u, 1u, 2u, 3u), uvec4(p.width))) * uint(y0 + r < p.height);
    on[r] = greaterThanEqual(col[r], uvec4(0xff000000u)); // the layer's: inside the frame only
  }
  if (FORMAT == 6u) { // YUY2: Y0 U Y1 V | Y2 U Y3 V, a row's two samples in two words
    for (uint r = 0; r < 4u; r++) {
      if (!any(on[r]))
        continue;
      uint o = ((y0 + r) * p.stride + 8u * x4) >> 2;
      for (uint k = 0; k < 2u; k++) {
        uint a = 2u * k, b = a + 1u;
        if (!on[r][a] && !on[r][b])
          continue;
        uint w = words[o + k];
        vec2 c = vec2(byte_of(w, 1u), byte_of(w, 3u)), pull = vec2(0.0);
        uint n = inside[r][a] + inside[r][b];
        if (on[r][a]) {
          w = with_byte(w, 0u, blend(byte_of(w, 0u), float(col[r][a] & 0xffu), p.alpha));
          pull += p.alpha * (vec2((col[r][a] >> 8) & 0xffu, (col[r][a] >> 16) & 0xffu) - c);
        }
        if (on[r][b]) {
          w = with_byte(w, 2u, blend(byte_of(w, 2u), float(col[r][b] & 0xffu), p.alpha));
          pull += p.alpha * (vec2((col[r][b] >> 8) & 0xffu, (col[r][b] >> 16) & 0xffu) - c);
        }
        uvec2 q = uvec2(floor(c + pull / float(n) + 0.5));
        words[o + k] = with_byte(with_byte(w, 1u, q.x), 3u, q.y);
      }
    }
    return;
  }
  for (uint r = 0; r < 4u; r++) { // Y: a row's four bytes are one word
    if (!any(on[r]))
      continue;
    uint o = ((y0 + r) * p.stride + x0) >> 2, w = words[o];
    for (uint c = 0; c < 4u; c++)
      if (on[r][c])
        w = with_byte(w, c, blend(byte_of(w, c), float(col[r][c] & 0xffu), p.alpha));
    words[o] = w;
  }
  uint chroma = p.stride * p.height;
  for (uint cyl = 0; cyl < 2u; cyl++) {
    uint cy = 2u * group + cyl, a = 2u * cyl, b = a + 1u;
    if (2u * cy >= p.height || !any(bvec4(uvec4(on[a]) | uvec4(on[b]))))
      continue;
    uint uvw = 0u, uo = 0u, vo = 0u;
    if (FORMAT == 4u)
      uvw = words[(chroma + cy * p.stride + x0) >> 2]; // U0 V0 U1 V1
    else {
      uo = chroma + cy * (p.stride >> 1) + 2u * x4;
      vo = uo + (p.stride >> 1) * ((p.height + 1u) >> 1);
    }
    for (uint k = 0; k < 2u; k++) {
      uint c0 = 2u * k, c1 = c0 + 1u;
      if (!(on[a][c0] || on[a][c1] || on[b][c0] || on[b][c1]))
        continue;
      vec2 c = FORMAT == 4u ? vec2(byte_of(uvw, 2u * k), byte_of(uvw, 2u * k + 1u))
                            : vec2(get_byte(uo + k), get_byte(vo + k));
      vec2 pull = vec2(0.0);
      uint n = inside[a][c0] + inside[a][c1] + inside[b][c0] + inside[b][c1];
      for (uint j = 0; j < 4u; j++) {
        uint rr = j < 2u ? a : b, cc = (j & 1u) == 0u ? c0 : c1;
        if (on[rr][cc])
          pull += p.alpha * (vec2((col[rr][cc] >> 8) & 0xffu, (col[rr][cc] >> 16) & 0xffu) - c);
      }
      uvec2 q = uvec2(floor(c + pull / float(n) + 0.5));
      if (FORMAT == 4u)
        uvw = with_byte(with_byte(uvw, 2u * k, q.x), 2u * k + 1u, q.y);
      else {
        set_byte_shared(uo + k, q.x);
        set_byte_shared(vo + k, q.y);
      }
    }
    if (FORMAT == 4u)
      words[(chroma + cy * p.stride + x0) >> 2] = uvw;
  }
}

void main()
{
  uint x4 = gl_GlobalInvocationID.x, group = gl_GlobalInvocationID.y;
  if (x4 >= p.width4 || 4u * group >= p.height || !(p.alpha > 0.0))
    return;
  // the block's colours, rows past the height not read (never on)
  uvec4 col[4];
  for (uint r = 0; r < 4u; r++)
    col[r] = 4u * group + r < p.height ? layer[(4u * group + r) * p.width4 + x4] : uvec4(0u);
  if (OWNED) {
    blend_owned(col, x4, group);
    return;
  }
  uint bh = FORMAT == 6u ? 1u : 2u; // pixel rows a chroma sample covers
  uint chroma = p.stride * p.height; // NV12 / I420: where chroma starts
  // the block's chroma samples: 2 columns by 2 rows (YUY2: by 4)
  for (uint cyl = 0; cyl < 4u; cyl++)
    for (uint cxl = 0; cxl < 2u; cxl++) {
      uint cx = 2u * x4 + cxl, cy = 4u * group / bh + cyl;
      if (cyl * bh >= 4u || 2u * cx >= p.width || bh * cy >= p.height)
        continue;
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
      vec2 pull = vec2(0.0);
      uint n = 0u;
      bool any_on = false;
      for (uint dy = 0; dy < 2u; dy++)
        for (uint dx = 0; dx < 2u; dx++) {
          uint x = 2u * cx + dx, y = bh * cy + dy;
          if (dy >= bh || x >= p.width || y >= p.height)
            continue;
          n++;
          uint colour = col[bh * cyl + dy][2u * cxl + dx];
          if (colour < 0xff000000u)
            continue;
          any_on = true;
          uint yo = FORMAT == 6u ? y * p.stride + 4u * cx + 2u * dx : y * p.stride + x;
          set_byte(yo, blend(get_byte(yo), float(colour & 0xffu), p.alpha));
          pull += p.alpha * (vec2((colour >> 8) & 0xffu, (colour >> 16) & 0xffu) - c);
        }
      if (any_on) {
        uvec2 q = uvec2(floor(c + pull / float(n) + 0.5));
        if (FORMAT == 5u) {
          set_byte_shared(uo, q.x);
          set_byte_shared(vo, q.y);
        } else {
          set_byte(uo, q.x);
          set_byte(vo, q.y);
        }
      }
    }
}
