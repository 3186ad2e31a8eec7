/* The interface of a kernel, written once for its GLSL shader and for the C
 * that dispatches it: binding and specialisation-constant ids, and the
 * push-constant struct. A shader includes its header (shaders/abi/<name>.h)
 * and gets `layout(push_constant) uniform ... { ... } p;`; C includes the
 * same file and gets a typedef'd struct whose size is asserted against the
 * byte count written beside it, so a field added on one side only fails
 * the build. Push constants hold 32-bit scalars only (no padding: std430 and
 * C agree). */
#ifndef TC_ABI_H
#define TC_ABI_H

#ifdef VULKAN /* GLSL for Vulkan (glslc) */
#define TC_PUSH_U32 uint
#define TC_PUSH_F32 float
#define TC_PUSH_BEGIN(name) layout(push_constant) uniform name##_block {
#define TC_PUSH_END(name, bytes) } p;
#else
#include <stdint.h>
#define TC_PUSH_U32 uint32_t
#define TC_PUSH_F32 float
#define TC_PUSH_BEGIN(name) typedef struct name {
#define TC_PUSH_END(name, bytes) \
  } name;                        \
  _Static_assert(sizeof(name) == (bytes), #name " must be " #bytes " bytes, as its shader declares it");
#endif

/* Specialisation constant 0 of every kernel: the workgroup size (x). */
#define TC_SPEC_WORKGROUP 0

#endif
