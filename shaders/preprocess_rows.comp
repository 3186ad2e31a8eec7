#version 450
#extension GL_GOOGLE_include_directive : require
// Preprocess, pass 1: every frame row resampled to the model's width.
// out[y][x] = sum_k w[x][k] * pixel(k, y), RGB as floats 0..255.
// An invocation makes a group of four adjacent output columns of one row:
// their supports overlap, so each pixel is read once for the four, with one
// texel fetch for its four weights. Table: see tc_resample_upload.
#define TC_KERNEL_PREPROCESS_ROWS
#include "abi/preprocess.h"
#include "common.glsl"
#define FRAME_BINDING PREPROCESS_ROWS_BIND_FRAME
#include "frame.glsl"
TC_LOCAL_SIZE_X

layout(binding = PREPROCESS_ROWS_BIND_TABLE) uniform samplerBuffer table;
layout(std430, binding = PREPROCESS_ROWS_BIND_ROWS) writeonly buffer Rows { vec4 rows[]; }; // [frame height][out_w], RGB + unused

void main()
{
  uint group = gl_GlobalInvocationID.x, y = gl_GlobalInvocationID.y;
  if (4u * group >= p.out_w || y >= p.height)
    return;
  int rec = int(group * p.record);
  uint first = uint(texelFetch(table, rec).x), last = p.width - 1u;
  vec4 acc_r = vec4(0.0), acc_g = vec4(0.0), acc_b = vec4(0.0); // a channel of the four outputs
  for (uint u = 1; u < p.record; u++) {
    vec4 w = texelFetch(table, rec + int(u));
    vec3 px = vec3(frame_rgb(min(first + u - 1u, last), y, p.stride, p.height)); // inputs past the row: weight 0
    acc_r += w * px.r;
    acc_g += w * px.g;
    acc_b += w * px.b;
  }
  uint n_out = min(4u, p.out_w - 4u * group);
  for (uint c = 0; c < 4u; c++) { // a constant trip count: unrolled, constant component indices
    if (c >= n_out)
      break;
    rows[y * p.out_w + 4u * group + c] = vec4(acc_r[c], acc_g[c], acc_b[c], 0.0);
  }
}
