/* Small shared definitions of libtokenclip: activations and the 16-bit
 * float conversions used by model loading, kernels' references and tests. */
#ifndef TC_COMMON_H
#define TC_COMMON_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tc_act {
  TC_ACT_NONE = 0,
  TC_ACT_QUICK_GELU = 1, /* x * sigmoid(1.702 x): OpenAI CLIP weights */
  TC_ACT_GELU = 2,       /* exact erf GELU: open_clip / LAION weights */
} tc_act;

/* The activation of one value, as the references compute it. */
static inline float tc_act_f32(float x, tc_act act)
{
  switch (act) {
  case TC_ACT_QUICK_GELU: return x / (1.0f + expf(-1.702f * x));
  case TC_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
  default: return x;
  }
}

/* IEEE half -> float, exact for every half including subnormals, inf, NaN. */
static inline float tc_f16_to_f32(uint16_t h)
{
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else { /* subnormal: normalise */
    exp = 113;
    while (!(man & 0x400)) {
      man <<= 1;
      exp--;
    }
    bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/* float -> IEEE half, round to nearest even; overflow gives inf, NaN stays NaN. */
static inline uint16_t tc_f32_to_f16(float f)
{
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000, exp = (x >> 23) & 0xff, man = x & 0x7fffff;
  if (exp == 0xff)
    return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
  int e = (int)exp - 127 + 15;
  if (e >= 31)
    return (uint16_t)(sign | 0x7c00);
  if (e <= 0) {
    if (e < -10)
      return (uint16_t)sign;
    man |= 0x800000;
    uint32_t shift = (uint32_t)(14 - e);
    uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1)))
      half++;
    return (uint16_t)(sign | half);
  }
  uint32_t half = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
    half++; /* may carry into the exponent: still correct, up to inf */
  return (uint16_t)(sign | half);
}

/* bfloat16 -> float: the top half of a float. */
static inline float tc_bf16_to_f32(uint16_t b)
{
  uint32_t bits = (uint32_t)b << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

#ifdef __cplusplus
}
#endif

#endif
