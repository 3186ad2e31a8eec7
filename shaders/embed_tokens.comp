#version 450
#extension GL_GOOGLE_include_directive : require
// Token sequence of the ViT: x[0] = class embedding, x[1 + i] = patch i's
// embedding, each plus its positional embedding.
#define TC_KERNEL_EMBED_TOKENS
#include "abi/encoder.h"
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(std430, binding = EMBED_BIND_PATCHES) readonly buffer Patches { float patches[]; }; // [tokens - 1, width]
layout(std430, binding = EMBED_BIND_CLASS) readonly buffer Class { float cls[]; };       // [width]
layout(std430, binding = EMBED_BIND_POS) readonly buffer Pos { float pos[]; };         // [tokens, width]
layout(std430, binding = EMBED_BIND_X) writeonly buffer X { float x[]; };            // [tokens, width]

void main()
{
  uint i = gl_GlobalInvocationID.x;
  if (i >= p.tokens * p.width)
    return;
  float e = i < p.width ? cls[i] : patches[i - p.width];
  x[i] = e + pos[i];
}
