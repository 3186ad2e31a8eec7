#version 450
#extension GL_GOOGLE_include_directive : require
// Anomaly map, pass 4: normalise, colour and blend into the frame in place.
// t = clamp((v - lo) / (hi - lo), 0, 1), [lo, hi] the map's range or a fixed
// one; where t >= threshold each colour byte p becomes
// floor(p + alpha (colour - p) + 0.5). Other pixels, and the fourth byte of
// every pixel, are not written at all.
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(std430, binding = 0) readonly buffer Map { float map[]; }; // [height][width]
layout(std430, binding = 1) readonly buffer Range { vec2 range; };
layout(std430, binding = 2) readonly buffer Lut { uint lut[256]; }; // colours in the frame's byte order
layout(std430, binding = 3) buffer Frame { uint pixels[]; };
layout(push_constant) uniform P {
  uint width, height, stride_px, use_range;
  float lo, hi, alpha, threshold;
} p;

void main()
{
  uint x = gl_GlobalInvocationID.x, y = gl_GlobalInvocationID.y;
  if (x >= p.width || y >= p.height)
    return;
  float v = map[y * p.width + x];
  vec2 r = p.use_range != 0u ? range : vec2(p.lo, p.hi);
  float t = r.y > r.x ? clamp((v - r.x) / (r.y - r.x), 0.0, 1.0) : 0.0;
  if (!(p.alpha > 0.0) || t < p.threshold)
    return;
  uint colour = lut[min(uint(t * 256.0), 255u)];
  uint i = y * p.stride_px + x, px = pixels[i];
  vec3 pf = vec3(uvec3(px, px >> 8, px >> 16) & 0xffu);
  vec3 cf = vec3(uvec3(colour, colour >> 8, colour >> 16) & 0xffu);
  uvec3 o = uvec3(floor(pf + p.alpha * (cf - pf) + 0.5));
  pixels[i] = (px & 0xff000000u) | o.x | (o.y << 8) | (o.z << 16);
}
