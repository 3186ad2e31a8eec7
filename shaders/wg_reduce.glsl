// Workgroup-wide sum and max through shared memory, for the GPU-family row
// kernels (one workgroup per row). The workgroup size must be a power of two.
// Every invocation of the workgroup must call these (they contain barriers).
#ifndef TC_WG_REDUCE_GLSL
#define TC_WG_REDUCE_GLSL

shared float tc_red[gl_WorkGroupSize.x];

float tc_wg_sum(float v)
{
  uint i = gl_LocalInvocationID.x;
  tc_red[i] = v;
  barrier();
  for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
    if (i < s)
      tc_red[i] += tc_red[i + s];
    barrier();
  }
  float r = tc_red[0];
  barrier(); // tc_red is reused by the next call
  return r;
}

float tc_wg_max(float v)
{
  uint i = gl_LocalInvocationID.x;
  tc_red[i] = v;
  barrier();
  for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
    if (i < s)
      tc_red[i] = max(tc_red[i], tc_red[i + s]);
    barrier();
  }
  float r = tc_red[0];
  barrier();
  return r;
}

#endif
