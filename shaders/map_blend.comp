#version 450
#extension GL_GOOGLE_include_directive : require
// Anomaly map, pass 5 for RGB frames: the colour layer (map_colour) blended
// into the frame in place. Where a pixel's layer word has its top byte set,
// each colour byte p becomes floor(p + alpha (colour - p) + 0.5); other
// pixels, and the fourth byte of every pixel, are not changed. Four columns
// by 16 rows an invocation. Plain-C reference: tc_ref_map_blend.
#define TC_KERNEL_MAP_BLEND
#include "abi/map.h"
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(std430, binding = MAP_BLEND_BIND_LAYER) readonly buffer Layer { uvec4 layer[]; }; // [height][width4]
layout(std430, binding = MAP_BLEND_BIND_FRAME) buffer Frame { uint pixels[]; };
layout(std430, binding = MAP_BLEND_BIND_FRAME) buffer Frame4 { uvec4 pixels4[]; }; // the same, four pixels a load
layout(constant_id = MAP_BLEND_SPEC_ALIGNED) const bool ALIGNED = false; // stride a multiple of 16 bytes: rows start on a uvec4

void main()
{
  uint x4 = gl_GlobalInvocationID.x, block = gl_GlobalInvocationID.y;
  if (x4 >= p.width4 || !(p.alpha > 0.0))
    return;
  vec4 alpha = vec4(p.alpha);
  for (uint y = 16u * block; y < 16u * block + 16u && y < p.height; y++) {
    uvec4 colour = layer[y * p.width4 + x4];
    bvec4 on = greaterThanEqual(colour, uvec4(0xff000000u)); // past the width: never on
    if (!any(on))
      continue;
    uint i = y * p.stride_px + 4u * x4;
    // aligned: one 16-byte load and store for the four (columns past the width
    // are row padding, written back as read); otherwise only the pixels blended
    uvec4 px = ALIGNED ? pixels4[i >> 2]
                       : uvec4(on.x ? pixels[i] : 0u, on.y ? pixels[i + 1u] : 0u, on.z ? pixels[i + 2u] : 0u,
                               on.w ? pixels[i + 3u] : 0u);
    // the four pixels' channels as vectors: no branch or dynamic index per pixel
    vec4 pr = vec4(px & 0xffu), pg = vec4((px >> 8) & 0xffu), pb = vec4((px >> 16) & 0xffu);
    vec4 cr = vec4(colour & 0xffu), cg = vec4((colour >> 8) & 0xffu), cb = vec4((colour >> 16) & 0xffu);
    uvec4 qr = uvec4(floor(pr + alpha * (cr - pr) + 0.5));
    uvec4 qg = uvec4(floor(pg + alpha * (cg - pg) + 0.5));
    uvec4 qb = uvec4(floor(pb + alpha * (cb - pb) + 0.5));
    uvec4 blended = (px & 0xff000000u) | qr | (qg << 8) | (qb << 16);
    uvec4 o = uvec4(on.x ? blended.x : px.x, on.y ? blended.y : px.y, on.z ? blended.z : px.z,
                    on.w ? blended.w : px.w);
    if (ALIGNED)
      pixels4[i >> 2] = o;
    else
      for (uint c = 0; c < 4u; c++)
        if (on[c])
          pixels[i + c] = o[c];
  }
}
