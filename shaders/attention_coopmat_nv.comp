#version 450
#extension GL_GOOGLE_include_directive : require
// attention_coopmat.glsl on NVIDIA cooperative matrices (tensor cores).
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_NV_cooperative_matrix : require
#include "attention_coopmat.glsl"
