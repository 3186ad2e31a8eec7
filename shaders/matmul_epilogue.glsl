// What every matmul variant shares: the bindings after x and w, the push
// constants and the epilogue y = act(acc + bias) + residual.
// Binding 0 is x and binding 1 is w, declared by each variant in its own way.
// The gpu-family variants also take x and y as fp16 (X_F16, Y_F16: packed in
// uint words, so no 16-bit storage feature is needed); fp16 y is written in
// pairs of columns (tc_matmul_store2, N even) and never with a residual.
#ifndef TC_MATMUL_EPILOGUE_GLSL
#define TC_MATMUL_EPILOGUE_GLSL

#define TC_KERNEL_MATMUL
#include "abi/matmul.h"
#include "activation.glsl" // tc_act, shared with the activation kernel

#define TC_RESIDUAL_NONE 0
#define TC_RESIDUAL_BUFFER 1   // a buffer of its own
#define TC_RESIDUAL_Y 2        // y itself (in-place residual add)

layout(constant_id = MATMUL_SPEC_ACT) const uint ACT = TC_ACT_NONE;
layout(constant_id = MATMUL_SPEC_HAS_BIAS) const bool HAS_BIAS = false;
layout(constant_id = MATMUL_SPEC_RESIDUAL) const uint RESIDUAL = TC_RESIDUAL_NONE;

// Without bias or residual the host binds y in their place; they are never
// read then.
layout(std430, binding = MATMUL_BIND_BIAS) readonly buffer Bias { float bias[]; };
layout(std430, binding = MATMUL_BIND_RESIDUAL) readonly buffer Residual { float residual[]; };
layout(std430, binding = MATMUL_BIND_Y) buffer Y { float y[]; };
layout(std430, binding = MATMUL_BIND_Y) buffer Y16 { uint y16[]; }; // y as fp16 pairs (Y_F16)

// ids 8 and 9: after every variant's tile constants (the cpu variants leave
// them false)
layout(constant_id = MATMUL_SPEC_X_F16) const bool X_F16 = false;
layout(constant_id = MATMUL_SPEC_Y_F16) const bool Y_F16 = false;


// One finished element of y. A residual that is y is read before the write.
void tc_matmul_store(uint m, uint n, float acc)
{
  uint i = m * p.N + n;
  if (HAS_BIAS)
    acc += bias[n];
  acc = tc_act(acc, ACT);
  if (RESIDUAL == TC_RESIDUAL_BUFFER || RESIDUAL == TC_RESIDUAL_Y)
    acc += residual[i];
  y[i] = acc;
}

// Elements (m, n) and (m, n + 1), n even; the second is skipped past the
// last column (fp32 y only: fp16 y has N even).
void tc_matmul_store2(uint m, uint n, float acc0, float acc1)
{
  uint i = m * p.N + n;
  vec2 v = vec2(acc0, acc1);
  if (HAS_BIAS) {
    v.x += bias[n];
    if (n + 1 < p.N)
      v.y += bias[n + 1];
  }
  v = vec2(tc_act(v.x, ACT), tc_act(v.y, ACT));
  if (Y_F16) {
    y16[i >> 1] = packHalf2x16(v);
    return;
  }
  if (RESIDUAL == TC_RESIDUAL_BUFFER || RESIDUAL == TC_RESIDUAL_Y)
    v.x += residual[i];
  y[i] = v.x;
  if (n + 1 < p.N) {
    if (RESIDUAL == TC_RESIDUAL_BUFFER || RESIDUAL == TC_RESIDUAL_Y)
      v.y += residual[i + 1];
    y[i + 1] = v.y;
  }
}

// Large register tiles (matmul_scalar) start their sums from the bias
// and finish in two steps, so that little code is unrolled over the tile:
// each unrolled load or activation made a 32x8 shader compile for seconds
// longer on lavapipe.
//   1. tc_matmul_store_sum, unrolled over the tile: the sum into y;
//   2. tc_matmul_finish_block, a loop with run-time bounds that stays a
//      loop: y = act(y) + residual.
// A residual that is y is gone after step 1, so then everything happens in
// step 1 (an activation as well: slow to compile, but no CLIP layer has an
// activation before an in-place residual add).
// (A function, not a spec-constant expression: glslang emits that one with
// an undefined id.)
bool tc_matmul_finish_in_loop()
{
  return RESIDUAL == TC_RESIDUAL_BUFFER || (RESIDUAL == TC_RESIDUAL_NONE && ACT != TC_ACT_NONE);
}

// The start of the sums of column n: its bias, or 0.
float tc_matmul_bias(uint n)
{
  return HAS_BIAS ? bias[n] : 0.0;
}

// acc already holds the bias.
void tc_matmul_store_sum(uint m, uint n, float acc)
{
  uint i = m * p.N + n;
  if (!tc_matmul_finish_in_loop()) {
    acc = tc_act(acc, ACT);
    if (RESIDUAL == TC_RESIDUAL_Y)
      acc += residual[i];
  }
  y[i] = acc;
}

void tc_matmul_finish_block(uint m0, uint n0, uint rows, uint cols)
{
  if (!tc_matmul_finish_in_loop())
    return;
  for (uint r = 0; r < rows; r++)
    for (uint c = 0; c < cols; c++) {
      uint i = (m0 + r) * p.N + n0 + c;
      float v = tc_act(y[i], ACT);
      if (RESIDUAL == TC_RESIDUAL_BUFFER)
        v += residual[i];
      y[i] = v;
    }
}

#endif
