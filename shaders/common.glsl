// Shared declarations for the compute shaders. Keep this small: only what
// several shaders need in exactly the same form.
#ifndef TC_COMMON_GLSL
#define TC_COMMON_GLSL

// Workgroup size is a specialization constant (id 0) so one shader serves
// both kernel families; the host sets it when the pipeline is created.
#define TC_LOCAL_SIZE_X layout(local_size_x_id = 0) in;

#endif
