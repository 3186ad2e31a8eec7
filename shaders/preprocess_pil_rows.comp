#version 450
#extension GL_GOOGLE_include_directive : require
// Preprocess as PIL's 8-bit resize, pass 1 (Resample.c's
// ImagingResampleHorizontal_8bpc): every frame row resampled to the model's
// width with PIL's integer weights (units of 2^-22), int32 sums, each output
// clamp((2^21 + sum) >> 22, 0, 255) (an arithmetic shift: floor). Integer
// arithmetic throughout, so the result is PIL's on every device. Invocations
// as preprocess_rows: four adjacent output columns of one row.
#define TC_KERNEL_PREPROCESS_ROWS
#include "abi/preprocess.h"
#include "common.glsl"
#define FRAME_BINDING PREPROCESS_ROWS_BIND_FRAME
#include "frame.glsl"
TC_LOCAL_SIZE_X

layout(binding = PREPROCESS_ROWS_BIND_TABLE) uniform samplerBuffer table; // integer weights, exact in fp32 (|w| <= 2^22)
layout(std430, binding = PREPROCESS_ROWS_BIND_ROWS) writeonly buffer Rows { uint rows[]; }; // [frame height][out_w], R | G << 8 | B << 16

void main()
{
  uint group = gl_GlobalInvocationID.x, y = gl_GlobalInvocationID.y;
  if (4u * group >= p.out_w || y >= p.height)
    return;
  int rec = int(group * p.record);
  uint first = uint(texelFetch(table, rec).x), last = p.width - 1u;
  ivec4 acc_r = ivec4(1 << 21), acc_g = acc_r, acc_b = acc_r; // a channel of the four outputs, rounding added
  for (uint u = 1; u < p.record; u++) {
    ivec4 w = ivec4(texelFetch(table, rec + int(u)));
    ivec3 px = ivec3(frame_rgb(min(first + u - 1u, last), y, p.stride, p.height)); // past the row: weight 0
    acc_r += w * px.r; // |sum| < 1.2 * 255 * 2^22 < 2^31, as in PIL
    acc_g += w * px.g;
    acc_b += w * px.b;
  }
  uvec4 r = uvec4(clamp(acc_r >> 22, 0, 255)), g = uvec4(clamp(acc_g >> 22, 0, 255));
  uvec4 b = uvec4(clamp(acc_b >> 22, 0, 255));
  uint n_out = min(4u, p.out_w - 4u * group);
  for (uint c = 0; c < 4u; c++) { // a constant trip count: unrolled, constant component indices
    if (c >= n_out)
      break;
    rows[y * p.out_w + 4u * group + c] = r[c] | g[c] << 8 | b[c] << 16;
  }
}
