#version 450
#extension GL_GOOGLE_include_directive : require
// Anomaly map, pass 4: the smoothed map's values (recomputed from pass 1
// exactly as map_cols does), normalised, coloured and blended into the frame
// in place. t = clamp((v - lo) / (hi - lo), 0, 1), [lo, hi] the map's range
// or a fixed one; where t >= threshold each colour byte p becomes
// floor(p + alpha (colour - p) + 0.5). Other pixels, and the fourth byte of
// every pixel, are not changed. Four columns by 16 rows an invocation.
#define TC_KERNEL_MAP_BLEND
#include "abi/map.h"
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(binding = MAP_BLEND_BIND_ROWS) uniform samplerBuffer rows;  // [grid_h][width4], four columns a texel
layout(binding = MAP_BLEND_BIND_TABLE) uniform samplerBuffer table; // groups of four rows, see tc_resample_upload
layout(std430, binding = MAP_BLEND_BIND_RANGE) readonly buffer Range { vec2 range; };
layout(binding = MAP_BLEND_BIND_LUT) uniform samplerBuffer lut; // colours: the frame's bytes 0..2 as floats
layout(std430, binding = MAP_BLEND_BIND_FRAME) buffer Frame { uint pixels[]; };
layout(std430, binding = MAP_BLEND_BIND_FRAME) buffer Frame4 { uvec4 pixels4[]; }; // the same, four pixels a load
layout(constant_id = MAP_BLEND_SPEC_ALIGNED) const bool ALIGNED = false; // stride a multiple of 16 bytes: rows start on a uvec4

void main()
{
  uint x4 = gl_GlobalInvocationID.x, block = gl_GlobalInvocationID.y;
  if (x4 >= p.width4 || !(p.alpha > 0.0))
    return;
  uint n_cols = min(4u, p.width - 4u * x4), last = p.grid_h - 1u;
  vec2 lim = p.use_range != 0u ? range : vec2(p.lo, p.hi);
  for (uint group = 4u * block; group < 4u * block + 4u && 4u * group < p.height; group++) {
    int rec = int(group * p.record);
    uint first = uint(texelFetch(table, rec).x);
    vec4 v0 = vec4(0.0), v1 = vec4(0.0), v2 = vec4(0.0), v3 = vec4(0.0);
    for (uint u = 1; u < p.record; u++) {
      vec4 w = texelFetch(table, rec + int(u));
      vec4 cols4 = texelFetch(rows, int(min(first + u - 1u, last) * p.width4 + x4));
      v0 += w.x * cols4;
      v1 += w.y * cols4;
      v2 += w.z * cols4;
      v3 += w.w * cols4;
    }
    mat4 v = mat4(v0, v1, v2, v3);
    uint n_rows = min(4u, p.height - 4u * group);
    for (uint r = 0; r < 4u; r++) { // constant trip counts: unrolled, v stays in registers
      vec4 t = lim.y > lim.x ? clamp((v[r] - lim.x) / (lim.y - lim.x), 0.0, 1.0) : vec4(0.0);
      uint i = (4u * group + r) * p.stride_px + 4u * x4;
      bvec4 on = bvec4(r < n_rows && 0u < n_cols, r < n_rows && 1u < n_cols, r < n_rows && 2u < n_cols,
                       r < n_rows && 3u < n_cols);
      on = bvec4(uvec4(on) & uvec4(greaterThanEqual(t, vec4(p.threshold))));
      if (!any(on))
        continue;
      // aligned: one 16-byte load and store for the four (columns past the width
      // are row padding, written back as read); otherwise only the pixels blended
      uvec4 px = ALIGNED ? pixels4[i >> 2]
                         : uvec4(on.x ? pixels[i] : 0u, on.y ? pixels[i + 1u] : 0u, on.z ? pixels[i + 2u] : 0u,
                                 on.w ? pixels[i + 3u] : 0u);
      // the four pixels' channels as vectors: no branch or dynamic index per pixel
      uvec4 idx = min(uvec4(t * 256.0), uvec4(255u));
      mat4 colour = mat4(texelFetch(lut, int(idx.x)), texelFetch(lut, int(idx.y)), texelFetch(lut, int(idx.z)),
                         texelFetch(lut, int(idx.w)));
      vec4 alpha = vec4(p.alpha);
      vec4 pr = vec4(px & 0xffu), pg = vec4((px >> 8) & 0xffu), pb = vec4((px >> 16) & 0xffu);
      vec4 cr = vec4(colour[0].x, colour[1].x, colour[2].x, colour[3].x);
      vec4 cg = vec4(colour[0].y, colour[1].y, colour[2].y, colour[3].y);
      vec4 cb = vec4(colour[0].z, colour[1].z, colour[2].z, colour[3].z);
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
}
