// w[N,K] as a storage buffer of uint words: fp32 values bit-cast, or fp16
// pairs unpacked (so no 16-bit storage feature is needed).
#ifndef TC_MATMUL_WEIGHTS_GLSL
#define TC_MATMUL_WEIGHTS_GLSL

layout(constant_id = MATMUL_SPEC_W_F16) const bool W_F16 = false;
layout(std430, binding = MATMUL_BIND_W) readonly buffer W { uint w[]; };

// Element i of w in row-major order (i = n * K + k).
float tc_weight(uint i)
{
  if (W_F16) {
    vec2 pair = unpackHalf2x16(w[i >> 1]);
    return (i & 1u) == 0u ? pair.x : pair.y;
  }
  return uintBitsToFloat(w[i]);
}

#endif
