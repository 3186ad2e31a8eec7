/* Small shared definitions of libtokenclip: the enums more than one stage
 * uses (activation, element type, interpolation, weight precision, CLIP
 * naming) and the 16-bit float conversions used by model loading, kernels'
 * references and tests. */
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

/* Element type of a device buffer's values. */
typedef enum tc_dtype {
  TC_F32 = 0,
  TC_F16 = 1,
} tc_dtype;

/* How a ViT's positional-embedding grid is resized (tc_pos_embed.h says
 * which PyTorch call each one reproduces). */
typedef enum tc_interp {
  TC_INTERP_BICUBIC = 0,
  TC_INTERP_BICUBIC_AA = 1,
  TC_INTERP_BILINEAR = 2,
} tc_interp;

/* How a model's weights are kept on the device. */
typedef enum tc_weight_precision {
  TC_WEIGHTS_AS_STORED = 0, /* fp16 files stay fp16 on the device; fp32 and bf16 become fp32 */
  TC_WEIGHTS_F32 = 1,
  TC_WEIGHTS_F16 = 2,       /* matrix weights as fp16 (half the memory); vectors stay fp32 */
} tc_weight_precision;

/* Which tensor names a CLIP checkpoint uses (both towers alike). */
typedef enum tc_clip_naming {
  TC_CLIP_NAMING_HF = 0,
  TC_CLIP_NAMING_OPENCLIP = 1, /* open_clip and OpenAI CLIP share it */
} tc_clip_naming;

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
