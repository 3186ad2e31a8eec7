#version 450
#extension GL_GOOGLE_include_directive : require
// Anomaly map, pass 4: the smoothed map's values (recomputed from pass 1
// by map_cols' own function, map_taps.glsl), normalised and coloured once per map into the
// colour layer, one word a pixel: the colour table's entry in the frame's
// byte order (RGB frames) or as Y | U << 8 | V << 16 (YUV frames), and 0xff
// in the top byte where the pixel is blended. t = clamp((v - lo) / (hi - lo),
// 0, 1), [lo, hi] the map's range or a fixed one; entry min(floor(256 t),
// 255); blended where t >= threshold. The blends (map_blend, map_blend_yuv)
// then read one word a pixel for every frame until the next map, instead of
// the taps, the range and the table. Four columns by 16 rows an invocation.
#define TC_KERNEL_MAP_COLOUR
#include "abi/map.h"
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(binding = MAP_COLOUR_BIND_ROWS) uniform samplerBuffer rows;  // [grid_h][width4], four columns a texel
layout(binding = MAP_COLOUR_BIND_TABLE) uniform samplerBuffer table; // groups of four rows, see tc_resample_upload
layout(std430, binding = MAP_COLOUR_BIND_RANGE) readonly buffer Range { vec2 range; };
layout(std430, binding = MAP_COLOUR_BIND_LUT) readonly buffer Lut { uint lut[256]; };
layout(std430, binding = MAP_COLOUR_BIND_LAYER) writeonly buffer Layer { uvec4 layer[]; }; // [height][width4]

#include "map_taps.glsl"

void main()
{
  uint x4 = gl_GlobalInvocationID.x, block = gl_GlobalInvocationID.y;
  if (x4 >= p.width4)
    return;
  uvec4 inside = uvec4(lessThan(uvec4(4u * x4) + uvec4(0u, 1u, 2u, 3u), uvec4(p.width)));
  vec2 lim = p.use_range != 0u ? range : vec2(p.lo, p.hi);
  for (uint group = 4u * block; group < 4u * block + 4u && 4u * group < p.height; group++) {
    mat4 v = map_taps(group, x4); // map_cols' very values
    uint n_rows = min(4u, p.height - 4u * group);
    for (uint r = 0; r < 4u; r++) { // constant trip count: unrolled, v stays in registers
      if (r >= n_rows)
        break;
      vec4 t = lim.y > lim.x ? clamp((v[r] - lim.x) / (lim.y - lim.x), 0.0, 1.0) : vec4(0.0);
      uvec4 idx = min(uvec4(t * 256.0), uvec4(255u));
      uvec4 on = inside & uvec4(greaterThanEqual(t, vec4(p.threshold)));
      layer[(4u * group + r) * p.width4 + x4] =
        uvec4(lut[idx.x], lut[idx.y], lut[idx.z], lut[idx.w]) | (on * 0xff000000u);
    }
  }
}
