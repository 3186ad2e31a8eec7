#version 450
#extension GL_GOOGLE_include_directive : require
// Preprocess, pass 1: every frame row resampled to the model's width.
// out[y][x] = sum_k w[x][k] * pixel(first[x] + k, y), RGB as floats 0..255.
// One invocation per output sample; the filter is a precomputed table.
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(std430, binding = 0) readonly buffer Frame { uint pixels[]; }; // 8-bit x4, rows stride_px words apart
layout(std430, binding = 1) readonly buffer First { uint first[]; };
layout(std430, binding = 2) readonly buffer Weights { float weights[]; };
layout(std430, binding = 3) writeonly buffer Rows { vec4 rows[]; }; // [frame height][out_w], RGB + unused
layout(push_constant) uniform P {
  uint stride_px, out_w, height, taps;
  uint blue_first; // BGRA/BGRx: byte 0 is blue
} p;

void main()
{
  uint x = gl_GlobalInvocationID.x, y = gl_GlobalInvocationID.y;
  if (x >= p.out_w || y >= p.height)
    return;
  uint src = y * p.stride_px + first[x], wi = x * p.taps;
  vec3 acc = vec3(0.0);
  for (uint k = 0; k < p.taps; k++) {
    uint px = pixels[src + k];
    acc += weights[wi + k] * vec3(uvec3(px, px >> 8, px >> 16) & 0xffu);
  }
  rows[y * p.out_w + x] = vec4(p.blue_first != 0u ? acc.zyx : acc, 0.0);
}
