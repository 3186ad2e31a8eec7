#version 450
#extension GL_GOOGLE_include_directive : require
// Matmul for CPU devices, w fp16 (read as floats): see matmul_cpu.glsl.
#define W_HALF
#include "matmul_cpu.glsl"
