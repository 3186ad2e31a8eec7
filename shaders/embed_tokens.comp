#version 450
#extension GL_GOOGLE_include_directive : require
// Token sequence of the ViT: x[0] = class embedding, x[1 + i] = patch i's
// embedding, each plus its positional embedding.
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(std430, binding = 0) readonly buffer Patches { float patches[]; }; // [tokens - 1, width]
layout(std430, binding = 1) readonly buffer Class { float cls[]; };       // [width]
layout(std430, binding = 2) readonly buffer Pos { float pos[]; };         // [tokens, width]
layout(std430, binding = 3) writeonly buffer X { float x[]; };            // [tokens, width]
layout(push_constant) uniform P {
  uint tokens;
  uint width;
} p;

void main()
{
  uint i = gl_GlobalInvocationID.x;
  if (i >= p.tokens * p.width)
    return;
  float e = i < p.width ? cls[i] : patches[i - p.width];
  x[i] = e + pos[i];
}
