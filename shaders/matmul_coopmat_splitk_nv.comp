#version 450
#extension GL_GOOGLE_include_directive : require
// matmul_coopmat.glsl with K split over workgroups (TC_SPLIT_K), on NVIDIA cooperative
// matrices (tensor cores).
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_atomic_float : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_NV_cooperative_matrix : require
#define TC_SPLIT_K
#include "matmul_coopmat.glsl"
