#version 450
#extension GL_GOOGLE_include_directive : require
// matmul_coopmat.glsl with K split over workgroups (TC_SPLIT_K), with the matrix operations
// emulated (coopmat.glsl): tests its logic on devices without cooperative matrices.
// tests its logic on devices without cooperative matrices.
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_atomic_float : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#define TC_COOPMAT_EMULATE
#define TC_SPLIT_K
#include "matmul_coopmat.glsl"
