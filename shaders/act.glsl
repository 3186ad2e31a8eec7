// Activations as the C references compute them (tc_act_f32 in tc_common.h).
// Values of tc_act: 0 none, 1 QuickGELU, 2 exact-erf GELU.
#ifndef TC_ACT_GLSL
#define TC_ACT_GLSL

#define TC_ACT_NONE 0
#define TC_ACT_QUICK_GELU 1
#define TC_ACT_GELU 2

// GLSL has no erf. Two fits made for this file (least squares, checked in
// fp32 against double erf): |error| < 6e-8 below 0.875, < 8e-8 above, so
// about 1e-7 absolute overall (Abramowitz-Stegun 7.1.26 is 1.5e-7).
float tc_erf(float x)
{
  float t = abs(x);
  if (t < 0.875) { // erf(x) = x + x * q(x^2)
    float s = x * x;
    float q = -6.218505441e-4;
    q = fma(q, s, 5.035124253e-3);
    q = fma(q, s, -2.679345571e-2);
    q = fma(q, s, 1.128251031e-1);
    q = fma(q, s, -3.761255443e-1);
    q = fma(q, s, 1.283791512e-1);
    return fma(q, x, x);
  }
  // erf(t) = 1 - exp(r(t)), r fitted to log(erfc(t)) on [0.875, 4];
  // erfc(4) = 1.5e-8 already rounds 1 - erfc to 1 in fp32.
  t = min(t, 4.0);
  float r = -2.089621739e-5;
  r = fma(r, t, 4.319422005e-4);
  r = fma(r, t, -4.157829098e-3);
  r = fma(r, t, 2.508204244e-2);
  r = fma(r, t, -1.082186177e-1);
  r = fma(r, t, -6.334058046e-1);
  r = fma(r, t, -1.129484415);
  r = fma(r, t, 1.680764835e-4);
  return sign(x) * (1.0 - exp(r));
}

float tc_act(float x, uint act)
{
  if (act == TC_ACT_QUICK_GELU)
    return x / (1.0 + exp(-1.702 * x));
  if (act == TC_ACT_GELU)
    return 0.5 * x * (1.0 + tc_erf(x * 0.70710678118654752));
  return x;
}

#endif
