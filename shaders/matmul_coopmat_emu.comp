#version 450
#extension GL_GOOGLE_include_directive : require
// matmul_coopmat.glsl with the matrix operations emulated (coopmat.glsl):
// tests its logic on devices without cooperative matrices.
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#define TC_COOPMAT_EMULATE
#include "matmul_coopmat.glsl"
