#include "tc_ref.h"

void tc_ref_activation(const float *x, float *y, size_t n, tc_act act)
{
  for (size_t i = 0; i < n; i++)
    y[i] = tc_act_f32(x[i], act);
}
