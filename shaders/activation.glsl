// Activation helpers shared by shaders (the activation kernel, matmul
// epilogues): the same functions as tc_act_f32 in core/tc_common.h.
#ifndef TC_ACTIVATION_GLSL
#define TC_ACTIVATION_GLSL

// Values of tc_act (core/tc_common.h).
#define TC_ACT_NONE 0
#define TC_ACT_QUICK_GELU 1
#define TC_ACT_GELU 2

// erf in fp32; GLSL has none. Two least-squares fits made for this file and
// checked in fp32 against double erf on [-6, 6]: |error| < 5e-8 below 0.875,
// < 8e-8 above (Abramowitz-Stegun 7.1.26 is 1.5e-7). tests/test_activation.c
// checks it through GELU on the device: on lavapipe, with its exp and the
// rounding of x / sqrt(2), the error is 1.2e-7.
float tc_erf(float x)
{
  float t = abs(x);
  if (t < 0.875) { // erf(x) = x + x * q(x^2)
    float s = x * x;
    float q = -6.052055396e-4;
    q = fma(q, s, 5.000077654e-3);
    q = fma(q, s, -2.676662244e-2);
    q = fma(q, s, 1.128161177e-1);
    q = fma(q, s, -3.761243224e-1);
    q = fma(q, s, 1.283791065e-1);
    return fma(q, x, x);
  }
  // erf(t) = 1 - exp(r(t)), r fitted to log(erfc(t)) on [0.875, 4]; above 4,
  // 1 - erfc rounds to 1 in fp32.
  t = min(t, 4.0);
  float r = -2.089632653e-5;
  r = fma(r, t, 4.319434811e-4);
  r = fma(r, t, -4.157835618e-3);
  r = fma(r, t, 2.508205920e-2);
  r = fma(r, t, -1.082186401e-1);
  r = fma(r, t, -6.334058046e-1);
  r = fma(r, t, -1.129484415);
  r = fma(r, t, 1.680788264e-4);
  return sign(x) * (1.0 - exp(r));
}

// Exact (erf) GELU: open_clip / LAION weights.
float tc_gelu(float x) { return 0.5 * x * (1.0 + tc_erf(x * 0.70710678118654752)); }

// x * sigmoid(1.702 x): OpenAI CLIP weights. For x << 0 exp overflows to inf
// and the quotient is -0, as in C.
float tc_quick_gelu(float x) { return x / (1.0 + exp(-1.702 * x)); }

// act is a tc_act value; a specialization constant in the callers, so the
// branch folds away.
float tc_act(float x, uint act)
{
  if (act == TC_ACT_QUICK_GELU)
    return tc_quick_gelu(x);
  if (act == TC_ACT_GELU)
    return tc_gelu(x);
  return x;
}

#endif
