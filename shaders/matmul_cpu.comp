#version 450
#extension GL_GOOGLE_include_directive : require
// Matmul for CPU devices, w fp32: see matmul_cpu.glsl.
#include "matmul_cpu.glsl"
