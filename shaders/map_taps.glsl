// The smoothed map's vertical pass for one invocation's texel of pass 1
// (four columns, 4 x4 .. 4 x4 + 3) over one group of four rows (4 group ..
// 4 group + 3): v[r][c] of row 4 group + r, column 4 x4 + c. One pass over the
// group's record of the vertical table serves all sixteen values. map_cols and
// map_colour both call this, so the colours follow the very values whose min
// and max map_cols found. Needs `rows` and `table` (uniform texel buffers) and
// the push constants width4, grid_h, record.
#ifndef TC_MAP_TAPS_GLSL
#define TC_MAP_TAPS_GLSL

mat4 map_taps(uint group, uint x4)
{
  int rec = int(group * p.record);
  uint first = uint(texelFetch(table, rec).x), last = p.grid_h - 1u;
  vec4 v0 = vec4(0.0), v1 = vec4(0.0), v2 = vec4(0.0), v3 = vec4(0.0);
  for (uint u = 1; u < p.record; u++) {
    vec4 w = texelFetch(table, rec + int(u));
    vec4 cols4 = texelFetch(rows, int(min(first + u - 1u, last) * p.width4 + x4)); // past the end: weight 0
    v0 += w.x * cols4;
    v1 += w.y * cols4;
    v2 += w.z * cols4;
    v3 += w.w * cols4;
  }
  return mat4(v0, v1, v2, v3);
}

#endif
