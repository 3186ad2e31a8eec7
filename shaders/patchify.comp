#version 450
#extension GL_GOOGLE_include_directive : require
// Patch extraction (im2col) for the conv patch embedding: the image
// [3, S, S] becomes rows of patches [grid*grid, 3*p*p], columns ordered
// (channel, ky, kx) like the conv weight, so the embedding is one matmul.
#define TC_KERNEL_PATCHIFY
#include "abi/encoder.h"
#include "common.glsl"
TC_LOCAL_SIZE_X

layout(std430, binding = PATCHIFY_BIND_IMAGE) readonly buffer Image { float image[]; };
layout(std430, binding = PATCHIFY_BIND_PATCHES) writeonly buffer Patches { float patches[]; };

void main()
{
  uint cols = 3u * p.psize * p.psize;
  uint i = gl_GlobalInvocationID.x;
  if (i >= p.grid * p.grid * cols)
    return;
  uint row = i / cols, col = i % cols;
  uint c = col / (p.psize * p.psize), k = col % (p.psize * p.psize);
  uint y = (row / p.grid) * p.psize + k / p.psize;
  uint x = (row % p.grid) * p.psize + k % p.psize;
  patches[i] = image[(c * p.size + y) * p.size + x];
}
