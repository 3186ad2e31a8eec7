#version 450
#extension GL_GOOGLE_include_directive : require
// Preprocess, pass 2: the columns of pass 1 resampled to the model's height,
// then CLIP-normalised into planes: out[c][y][x] = v * scale[c] + bias[c]
// with scale = 1 / (255 std), bias = -mean / std.
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(binding = 0) uniform samplerBuffer rows; // [frame height][size], RGB + unused
layout(std430, binding = 1) readonly buffer First { uint first[]; };
layout(std430, binding = 2) readonly buffer Weights { float weights[]; };
layout(std430, binding = 3) writeonly buffer Out { float planes[]; }; // [3][size][size]
layout(push_constant) uniform P {
  uint size, taps;
  float scale_r, scale_g, scale_b, bias_r, bias_g, bias_b;
} p;

void main()
{
  uint x = gl_GlobalInvocationID.x, y = gl_GlobalInvocationID.y;
  if (x >= p.size || y >= p.size)
    return;
  uint src = first[y] * p.size + x, wi = y * p.taps;
  vec3 acc = vec3(0.0);
  for (uint k = 0; k < p.taps; k++)
    acc += weights[wi + k] * texelFetch(rows, int(src + k * p.size)).xyz;
  uint i = y * p.size + x, plane = p.size * p.size;
  planes[i] = acc.x * p.scale_r + p.bias_r;
  planes[plane + i] = acc.y * p.scale_g + p.bias_g;
  planes[2u * plane + i] = acc.z * p.scale_b + p.bias_b;
}
