/* Vulkan instance, device choice and queue (the pipeline cache on disk:
 * tc_pipeline_cache.c). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tc_vk_internal.h"

#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

tc_status tc_vk_check(VkResult r, const char *what, tc_error *err)
{
  switch (r) {
  case VK_SUCCESS:
    return TC_OK;
  case VK_ERROR_OUT_OF_HOST_MEMORY:
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: out of host memory", what);
  case VK_ERROR_OUT_OF_DEVICE_MEMORY:
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: out of device memory", what);
  case VK_ERROR_DEVICE_LOST:
    return tc_error_set(err, TC_ERR_DEVICE_LOST, "%s: the Vulkan device was lost", what);
  case VK_ERROR_INCOMPATIBLE_DRIVER:
    return tc_error_set(err, TC_ERR_NO_DEVICE,
                        "%s: no compatible Vulkan driver (for the CPU device install mesa-vulkan-drivers)", what);
  case VK_ERROR_LAYER_NOT_PRESENT:
    return tc_error_set(err, TC_ERR_NO_DEVICE, "%s: the validation layer is not installed "
                        "(vulkan-validationlayers)", what);
  default:
    return tc_error_set(err, TC_ERR_VULKAN, "%s failed (VkResult %d)", what, (int)r);
  }
}

static int env_flag(const char *name)
{
  const char *v = getenv(name);
  return v && *v && strcmp(v, "0") != 0;
}

void tc_context_options_init(tc_context_options *opts)
{
  memset(opts, 0, sizeof *opts);
  opts->validation = -1;
  opts->profile = -1;
  opts->family = TC_FAMILY_AUTO;
  opts->cooperative_matrix = -1;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                            VkDebugUtilsMessageTypeFlagsEXT type,
                                                            const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                            void *user)
{
  tc_context *ctx = user;
  __atomic_add_fetch(&ctx->validation_messages, 1, __ATOMIC_RELAXED);
  fprintf(stderr, "tokenclip: Vulkan validation %s: %s\n",
          severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error" : "warning",
          data->pMessage ? data->pMessage : "(no message)");
  return VK_FALSE;
}

static bool has_layer(const char *name)
{
  uint32_t n = 0;
  vkEnumerateInstanceLayerProperties(&n, NULL);
  VkLayerProperties *layers = calloc(n ? n : 1, sizeof *layers);
  if (!layers)
    return false;
  vkEnumerateInstanceLayerProperties(&n, layers);
  bool found = false;
  for (uint32_t i = 0; i < n && !found; i++)
    found = strcmp(layers[i].layerName, name) == 0;
  free(layers);
  return found;
}

/* lavapipe (llvmpipe) runs a subgroup as the lanes of one SIMD register,
 * 256 bits wide unless LP_NATIVE_VECTOR_WIDTH says otherwise, also on CPUs
 * with AVX-512. At 512 bits (16 lanes) the cpu kernels run the ViT encoders
 * about 1.2x faster (tools/bench/README.md), so on an x86-64 CPU with
 * AVX-512 (F, VL, BW, DQ) the variable is set to 512 before the first
 * Vulkan instance, unless it is set already: LP_NATIVE_VECTOR_WIDTH=256
 * keeps Mesa's default. Mesa reads it once per process, when lavapipe (or
 * llvmpipe GL) first starts: if that happened before, it changes nothing,
 * and if GL starts later in the process it sees 512 too. setenv is not safe
 * against getenv running at the same moment on another thread (GStreamer
 * processes have several): it runs once per process, before the first
 * instance of a context or of tc_list_devices, and never when the variable
 * is set. */
static void prefer_wide_lavapipe(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (getenv("LP_NATIVE_VECTOR_WIDTH"))
    return;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
    setenv("LP_NATIVE_VECTOR_WIDTH", "512", 0);
#endif
}

static pthread_once_t wide_lavapipe_once = PTHREAD_ONCE_INIT;

static tc_status create_instance(tc_context *ctx, bool validation, tc_error *err)
{
  pthread_once(&wide_lavapipe_once, prefer_wide_lavapipe);
  if (validation && !has_layer(VALIDATION_LAYER))
    return tc_error_set(err, TC_ERR_NO_DEVICE, "Vulkan validation was requested but %s is not installed "
                        "(apt install vulkan-validationlayers)", VALIDATION_LAYER);
  VkApplicationInfo app = {
    .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
    .pApplicationName = "tokenclip",
    .pEngineName = "libtokenclip",
    .apiVersion = VK_API_VERSION_1_2,
  };
  const char *layers[] = { VALIDATION_LAYER };
  const char *exts[] = { VK_EXT_DEBUG_UTILS_EXTENSION_NAME };
  VkDebugUtilsMessengerCreateInfoEXT msg_info = {
    .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
    .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
    .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT,
    .pfnUserCallback = on_validation_message,
    .pUserData = ctx,
  };
  VkInstanceCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
    .pNext = validation ? &msg_info : NULL, /* also catches instance creation itself */
    .pApplicationInfo = &app,
    .enabledLayerCount = validation ? 1 : 0,
    .ppEnabledLayerNames = layers,
    .enabledExtensionCount = validation ? 1 : 0,
    .ppEnabledExtensionNames = exts,
  };
  tc_status st = tc_vk_check(vkCreateInstance(&info, NULL, &ctx->instance), "vkCreateInstance", err);
  if (st != TC_OK)
    return st;
  if (validation) {
    PFN_vkCreateDebugUtilsMessengerEXT create =
      (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(ctx->instance, "vkCreateDebugUtilsMessengerEXT");
    if (!create)
      return tc_error_set(err, TC_ERR_VULKAN, "vkCreateDebugUtilsMessengerEXT is not available");
    st = tc_vk_check(create(ctx->instance, &msg_info, NULL, &ctx->messenger), "vkCreateDebugUtilsMessengerEXT", err);
  }
  return st;
}

static int device_rank(VkPhysicalDeviceType type)
{
  switch (type) {
  case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
  case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
  case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
  case VK_PHYSICAL_DEVICE_TYPE_CPU: return 1;
  default: return 0;
  }
}

static const char *device_type_name(VkPhysicalDeviceType type)
{
  switch (type) {
  case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
  case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
  case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
  case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
  default: return "other";
  }
}

static bool contains_nocase(const char *hay, const char *needle)
{
  size_t n = strlen(needle);
  for (; *hay; hay++)
    if (strncasecmp(hay, needle, n) == 0)
      return true;
  return n == 0;
}

static bool all_digits(const char *s)
{
  if (!*s)
    return false;
  for (; *s; s++)
    if (!isdigit((unsigned char)*s))
      return false;
  return true;
}

static int compute_queue_family(VkPhysicalDevice phys)
{
  uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(phys, &n, NULL);
  VkQueueFamilyProperties q[16];
  if (n > 16)
    n = 16;
  vkGetPhysicalDeviceQueueFamilyProperties(phys, &n, q);
  for (uint32_t i = 0; i < n; i++)
    if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT)
      return (int)i;
  return -1;
}

static tc_status choose_device(tc_context *ctx, const char *want, tc_error *err)
{
  uint32_t n = 0;
  tc_status st = tc_vk_check(vkEnumeratePhysicalDevices(ctx->instance, &n, NULL), "vkEnumeratePhysicalDevices", err);
  if (st != TC_OK)
    return st;
  if (n == 0)
    return tc_error_set(err, TC_ERR_NO_DEVICE, "no Vulkan device found (for the CPU device install "
                        "mesa-vulkan-drivers, or set VK_ICD_FILENAMES to an installed driver)");
  VkPhysicalDevice devs[32];
  if (n > 32)
    n = 32;
  vkEnumeratePhysicalDevices(ctx->instance, &n, devs);

  int best = -1, best_rank = -1;
  for (uint32_t i = 0; i < n; i++) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(devs[i], &p);
    bool usable = compute_queue_family(devs[i]) >= 0 && p.apiVersion >= VK_API_VERSION_1_2;
    if (want && *want) {
      bool match = all_digits(want) ? (uint32_t)atoi(want) == i : contains_nocase(p.deviceName, want);
      if (match) {
        if (!usable)
          return tc_error_set(err, TC_ERR_NO_DEVICE, "Vulkan device %u (%s) has no compute queue or is older "
                              "than Vulkan 1.2", i, p.deviceName);
        best = (int)i;
        break;
      }
    } else if (usable && device_rank(p.deviceType) > best_rank) {
      best = (int)i;
      best_rank = device_rank(p.deviceType);
    }
  }
  if (best < 0) {
    if (want && *want)
      return tc_error_set(err, TC_ERR_NO_DEVICE, "no Vulkan device matches \"%s\" (%u device%s found; "
                          "give an index or part of a name, see tokenclip-bench --list-devices)",
                          want, n, n == 1 ? "" : "s");
    return tc_error_set(err, TC_ERR_NO_DEVICE, "no Vulkan 1.2 device with a compute queue found");
  }
  ctx->phys = devs[best];
  ctx->queue_family = (uint32_t)compute_queue_family(ctx->phys);
  return TC_OK;
}

static bool format_texel_ok(VkPhysicalDevice phys, VkFormat f)
{
  VkFormatProperties fp;
  vkGetPhysicalDeviceFormatProperties(phys, f, &fp);
  return fp.bufferFeatures & VK_FORMAT_FEATURE_UNIFORM_TEXEL_BUFFER_BIT;
}

static bool format_image_texel_ok(VkPhysicalDevice phys, VkFormat f)
{
  VkFormatProperties fp;
  vkGetPhysicalDeviceFormatProperties(phys, f, &fp);
  return fp.bufferFeatures & VK_FORMAT_FEATURE_STORAGE_TEXEL_BUFFER_BIT;
}

static int find_memory_type(const VkPhysicalDeviceMemoryProperties *mp, VkMemoryPropertyFlags want)
{
  for (uint32_t i = 0; i < mp->memoryTypeCount; i++)
    if ((mp->memoryTypes[i].propertyFlags & want) == want)
      return (int)i;
  return -1;
}

static tc_status choose_memory(tc_context *ctx, tc_error *err)
{
  const VkMemoryPropertyFlags unified = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                        VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  const VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  int t = find_memory_type(&ctx->mem_props, unified);
  /* A discrete GPU may offer a small host-visible window of its memory: not
   * for weights. Only devices that share memory with the host map buffers. */
  bool shares_memory = ctx->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ||
                       ctx->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU;
  if (t >= 0 && shares_memory) {
    ctx->host_visible = true;
    ctx->buffer_mem_type = ctx->staging_mem_type = (uint32_t)t;
    return TC_OK;
  }
  int dev = find_memory_type(&ctx->mem_props, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  int stage = find_memory_type(&ctx->mem_props, host | VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
  if (stage < 0)
    stage = find_memory_type(&ctx->mem_props, host);
  if (dev < 0 || stage < 0)
    return tc_error_set(err, TC_ERR_NO_DEVICE, "%s has no usable memory types", ctx->device_name);
  ctx->host_visible = false;
  ctx->buffer_mem_type = (uint32_t)dev;
  ctx->staging_mem_type = (uint32_t)stage;
  return TC_OK;
}

static bool has_device_extension(VkPhysicalDevice phys, const char *name)
{
  uint32_t n = 0;
  vkEnumerateDeviceExtensionProperties(phys, NULL, &n, NULL);
  VkExtensionProperties *exts = calloc(n ? n : 1, sizeof *exts);
  if (!exts)
    return false;
  vkEnumerateDeviceExtensionProperties(phys, NULL, &n, exts);
  bool found = false;
  for (uint32_t i = 0; i < n && !found; i++)
    found = strcmp(exts[i].extensionName, name) == 0;
  free(exts);
  return found;
}

/* VK_NV_cooperative_matrix with what matmul_coopmat_nv.comp uses: 16x16x16
 * fp16 x fp16 -> fp32 at subgroup scope in compute shaders, fp16 arithmetic
 * and the Vulkan memory model (the SPIR-V of the NV extension declares it). */
static bool coopmat_supported(tc_context *ctx, const VkPhysicalDeviceVulkan12Features *f12)
{
  if (!f12->shaderFloat16 || !f12->vulkanMemoryModel ||
      !has_device_extension(ctx->phys, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME))
    return false;
  VkPhysicalDeviceCooperativeMatrixFeaturesNV cf = { .sType =
                                                       VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV };
  VkPhysicalDeviceFeatures2 f2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &cf };
  vkGetPhysicalDeviceFeatures2(ctx->phys, &f2);
  VkPhysicalDeviceCooperativeMatrixPropertiesNV cp = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_PROPERTIES_NV
  };
  VkPhysicalDeviceProperties2 p2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &cp };
  vkGetPhysicalDeviceProperties2(ctx->phys, &p2);
  PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV get_props =
    (PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV)vkGetInstanceProcAddr(
      ctx->instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV");
  if (!cf.cooperativeMatrix || !(cp.cooperativeMatrixSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT) || !get_props)
    return false;
  uint32_t n = 0;
  if (get_props(ctx->phys, &n, NULL) != VK_SUCCESS || n == 0)
    return false;
  VkCooperativeMatrixPropertiesNV *shapes = calloc(n, sizeof *shapes);
  if (!shapes)
    return false;
  for (uint32_t i = 0; i < n; i++)
    shapes[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV;
  bool found = false;
  if (get_props(ctx->phys, &n, shapes) == VK_SUCCESS)
    for (uint32_t i = 0; i < n && !found; i++) {
      const VkCooperativeMatrixPropertiesNV *s = &shapes[i];
      found = s->MSize == 16 && s->NSize == 16 && s->KSize == 16 && s->AType == VK_COMPONENT_TYPE_FLOAT16_NV &&
              s->BType == VK_COMPONENT_TYPE_FLOAT16_NV && s->CType == VK_COMPONENT_TYPE_FLOAT32_NV &&
              s->DType == VK_COMPONENT_TYPE_FLOAT32_NV && s->scope == VK_SCOPE_SUBGROUP_NV;
    }
  free(shapes);
  return found;
}

static tc_status queue_setup(tc_context *ctx, tc_error *err);

static tc_status create_device(tc_context *ctx, int want_coopmat, tc_error *err)
{
  VkPhysicalDeviceVulkan11Features f11 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES };
  VkPhysicalDeviceVulkan12Features f12 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                           .pNext = &f11 };
  VkPhysicalDeviceFeatures2 have = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f12 };
  vkGetPhysicalDeviceFeatures2(ctx->phys, &have);

  VkPhysicalDeviceSubgroupProperties sub = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES };
  VkPhysicalDeviceProperties2 p2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sub };
  vkGetPhysicalDeviceProperties2(ctx->phys, &p2);
  ctx->subgroup_size = sub.subgroupSize;
  ctx->coopmat = want_coopmat == 1 && coopmat_supported(ctx, &f12);
  /* the emulation needs fp16 arithmetic (shared float16_t tiles) and
   * subgroups of 8 or more (its matrices spread over at most 32 entries per
   * lane) */
  ctx->coopmat_emulated = want_coopmat == 2 && f12.shaderFloat16 && sub.subgroupSize >= 8 &&
                          (sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT);

  /* Atomic float adds into storage buffers: the split-K matmul (only with
   * cooperative matrices, real or emulated). */
  VkPhysicalDeviceShaderAtomicFloatFeaturesEXT af = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_FEATURES_EXT
  };
  if ((ctx->coopmat || ctx->coopmat_emulated) &&
      has_device_extension(ctx->phys, VK_EXT_SHADER_ATOMIC_FLOAT_EXTENSION_NAME)) {
    VkPhysicalDeviceFeatures2 f2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &af };
    vkGetPhysicalDeviceFeatures2(ctx->phys, &f2);
  }
  ctx->float_atomic_add = af.shaderBufferFloat32AtomicAdd;

  /* Only what the shaders use: 16-bit storage and fp16 arithmetic where
   * present; cooperative matrices and the memory model only when asked for. */
  VkPhysicalDeviceShaderAtomicFloatFeaturesEXT use_af = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_FEATURES_EXT,
    .shaderBufferFloat32AtomicAdd = VK_TRUE,
  };
  VkPhysicalDeviceCooperativeMatrixFeaturesNV use_coop = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
    .pNext = ctx->float_atomic_add ? &use_af : NULL,
    .cooperativeMatrix = VK_TRUE,
  };
  VkPhysicalDeviceVulkan11Features use11 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
                                             .pNext = ctx->coopmat           ? (void *)&use_coop
                                                      : ctx->float_atomic_add ? (void *)&use_af
                                                                              : NULL,
                                             .storageBuffer16BitAccess = f11.storageBuffer16BitAccess };
  VkPhysicalDeviceVulkan12Features use12 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                             .pNext = &use11, .shaderFloat16 = f12.shaderFloat16,
                                             .vulkanMemoryModel = ctx->coopmat };
  const char *exts[2];
  uint32_t n_exts = 0;
  if (ctx->coopmat)
    exts[n_exts++] = VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
  if (ctx->float_atomic_add)
    exts[n_exts++] = VK_EXT_SHADER_ATOMIC_FLOAT_EXTENSION_NAME;
  float priority = 1.0f;
  VkDeviceQueueCreateInfo qinfo = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
    .queueFamilyIndex = ctx->queue_family,
    .queueCount = 1,
    .pQueuePriorities = &priority,
  };
  VkDeviceCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
    .pNext = &use12,
    .queueCreateInfoCount = 1,
    .pQueueCreateInfos = &qinfo,
    .enabledExtensionCount = n_exts,
    .ppEnabledExtensionNames = exts,
  };
  tc_status st = tc_vk_check(vkCreateDevice(ctx->phys, &info, NULL, &ctx->device), "vkCreateDevice", err);
  if (st != TC_OK)
    return st;
  vkGetDeviceQueue(ctx->device, ctx->queue_family, 0, &ctx->queue);
  return queue_setup(ctx, err);
}

/* The caller's device: nothing enabled is assumed (fp32 kernels, no
 * cooperative matrices, no float atomics). */
static tc_status adopt_device(tc_context *ctx, tc_error *err)
{
  VkPhysicalDeviceSubgroupProperties sub = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES };
  VkPhysicalDeviceProperties2 p2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sub };
  vkGetPhysicalDeviceProperties2(ctx->phys, &p2);
  ctx->subgroup_size = sub.subgroupSize;
  ctx->device = (VkDevice)ctx->borrowed->device;
  ctx->queue = (VkQueue)ctx->borrowed->queue;
  ctx->queue_family = ctx->borrowed->queue_family;
  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(ctx->phys, &nq, NULL);
  if (!ctx->device || !ctx->queue || ctx->queue_family >= nq)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "the given Vulkan device: no device or queue, or queue family "
                        "%u of %u", ctx->queue_family, nq);
  return queue_setup(ctx, err);
}

/* Timestamps of the queue's family, the pool for one-shot transfers. */
static tc_status queue_setup(tc_context *ctx, tc_error *err)
{
  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(ctx->phys, &nq, NULL);
  VkQueueFamilyProperties q[16];
  if (nq > 16)
    nq = 16;
  vkGetPhysicalDeviceQueueFamilyProperties(ctx->phys, &nq, q);
  ctx->timestamp_bits = q[ctx->queue_family].timestampValidBits;
  ctx->timestamps = ctx->timestamp_bits > 0 && ctx->props.limits.timestampComputeAndGraphics;
  ctx->timestamp_period_ns = ctx->props.limits.timestampPeriod;

  VkCommandPoolCreateInfo pool = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
    .flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
    .queueFamilyIndex = ctx->queue_family,
  };
  return tc_vk_check(vkCreateCommandPool(ctx->device, &pool, NULL, &ctx->transfer_pool), "vkCreateCommandPool",
                     err);
}

tc_status tc_context_create(const tc_context_options *opts_in, tc_context **out, tc_error *err)
{
  tc_context_options defaults;
  tc_context_options_init(&defaults);
  const tc_context_options *opts = opts_in ? opts_in : &defaults;
  *out = NULL;

  tc_context *ctx = calloc(1, sizeof *ctx);
  if (!ctx)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  pthread_mutex_init(&ctx->lock, NULL);

  bool validation = opts->validation < 0 ? env_flag("TOKENCLIP_VALIDATE") : opts->validation > 0;
  ctx->profile = opts->profile < 0 ? env_flag("TOKENCLIP_PROFILE") : opts->profile > 0;
  ctx->profile_print = ctx->profile && opts->profile != 2;
  const char *want = opts->device ? opts->device : getenv("TOKENCLIP_DEVICE");

  tc_status st = TC_OK;
  if (opts->borrowed) {
    ctx->borrowed_copy = *opts->borrowed;
    ctx->borrowed = &ctx->borrowed_copy;
    ctx->instance = (VkInstance)ctx->borrowed->instance;
    ctx->phys = (VkPhysicalDevice)ctx->borrowed->physical_device;
    if (!ctx->instance || !ctx->phys)
      st = tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "the given Vulkan device: no instance or physical device");
  } else {
    st = create_instance(ctx, validation, err);
    if (st == TC_OK)
      st = choose_device(ctx, want, err);
  }
  if (st == TC_OK) {
    vkGetPhysicalDeviceProperties(ctx->phys, &ctx->props);
    vkGetPhysicalDeviceMemoryProperties(ctx->phys, &ctx->mem_props);
    snprintf(ctx->device_name, sizeof ctx->device_name, "%s", ctx->props.deviceName);
    ctx->texel_f16 = format_texel_ok(ctx->phys, VK_FORMAT_R16G16B16A16_SFLOAT);
    /* all three are required formats of Vulkan; checked all the same */
    ctx->image_texels = format_image_texel_ok(ctx->phys, VK_FORMAT_R32G32B32A32_SFLOAT) &&
                        format_image_texel_ok(ctx->phys, VK_FORMAT_R16G16B16A16_SFLOAT) &&
                        format_image_texel_ok(ctx->phys, VK_FORMAT_R32_SFLOAT);
    if (!format_texel_ok(ctx->phys, VK_FORMAT_R32G32B32A32_SFLOAT))
      st = tc_error_set(err, TC_ERR_NO_DEVICE, "%s cannot read RGBA32F uniform texel buffers", ctx->device_name);
  }
  if (st == TC_OK) {
    ctx->family = opts->family;
    const char *fam = getenv("TOKENCLIP_KERNELS");
    if (ctx->family == TC_FAMILY_AUTO && fam && strcmp(fam, "cpu") == 0)
      ctx->family = TC_FAMILY_CPU;
    else if (ctx->family == TC_FAMILY_AUTO && fam && strcmp(fam, "gpu") == 0)
      ctx->family = TC_FAMILY_GPU;
    else if (ctx->family == TC_FAMILY_AUTO)
      ctx->family = ctx->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? TC_FAMILY_CPU : TC_FAMILY_GPU;
  }
  /* the cooperative-matrix kernels belong to the gpu family */
  int coopmat = opts->cooperative_matrix;
  if (coopmat < 0) {
    const char *env = getenv("TOKENCLIP_COOPMAT");
    coopmat = env && strcmp(env, "emulate") == 0 ? 2 : env_flag("TOKENCLIP_COOPMAT");
  }
  if (ctx->family != TC_FAMILY_GPU)
    coopmat = 0;
  if (st == TC_OK)
    st = choose_memory(ctx, err);
  if (st == TC_OK)
    st = ctx->borrowed ? adopt_device(ctx, err) : create_device(ctx, coopmat, err);
  if (st == TC_OK)
    st = tc_pipeline_cache_open(ctx, opts->cache_dir, err);
  if (st != TC_OK) {
    tc_context_destroy(ctx);
    return st;
  }
  *out = ctx;
  return TC_OK;
}

void tc_context_destroy(tc_context *ctx)
{
  if (!ctx)
    return;
  if (ctx->device) {
    if (!ctx->borrowed) /* a borrowed device's queues are not ours to wait on: our submissions waited for theirs */
      vkDeviceWaitIdle(ctx->device);
    tc_pipeline_cache_save(ctx);
    for (tc_kernel *k = ctx->kernels, *next; k; k = next) {
      next = k->next;
      vkDestroyPipeline(ctx->device, k->pipeline, NULL);
      vkDestroyPipelineLayout(ctx->device, k->layout, NULL);
      vkDestroyDescriptorSetLayout(ctx->device, k->set_layout, NULL);
      free(k);
    }
    vkDestroyPipelineCache(ctx->device, ctx->pipeline_cache, NULL);
    vkDestroyCommandPool(ctx->device, ctx->transfer_pool, NULL);
    if (!ctx->borrowed)
      vkDestroyDevice(ctx->device, NULL);
  }
  if (ctx->messenger) {
    PFN_vkDestroyDebugUtilsMessengerEXT destroy =
      (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(ctx->instance, "vkDestroyDebugUtilsMessengerEXT");
    if (destroy)
      destroy(ctx->instance, ctx->messenger, NULL);
  }
  if (ctx->instance && !ctx->borrowed)
    vkDestroyInstance(ctx->instance, NULL);
  pthread_mutex_destroy(&ctx->lock);
  free(ctx->cache_path);
  free(ctx);
}

VkResult tc_context_queue_submit(tc_context *ctx, const VkSubmitInfo *info, VkFence fence)
{
  const tc_vulkan_device *b = ctx->borrowed;
  if (b && b->lock_queue)
    b->lock_queue(b->user);
  VkResult r = vkQueueSubmit(ctx->queue, 1, info, fence);
  if (b && b->unlock_queue)
    b->unlock_queue(b->user);
  return r;
}

const char *tc_context_device_name(const tc_context *ctx) { return ctx->device_name; }
int tc_context_is_borrowed(const tc_context *ctx) { return ctx->borrowed != NULL; }
tc_kernel_family tc_context_family(const tc_context *ctx) { return ctx->family; }
int tc_context_is_cpu(const tc_context *ctx) { return ctx->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU; }
int tc_context_has_coopmat(const tc_context *ctx) { return ctx->coopmat ? 1 : ctx->coopmat_emulated ? 2 : 0; }
int tc_context_has_float_atomic_add(const tc_context *ctx) { return ctx->float_atomic_add; }
uint32_t tc_context_subgroup_size(const tc_context *ctx) { return ctx->subgroup_size; }
int tc_context_profiling(const tc_context *ctx) { return ctx->profile && ctx->timestamps; }
uint64_t tc_context_max_storage_range(const tc_context *ctx) { return ctx->props.limits.maxStorageBufferRange; }

uint32_t tc_context_validation_messages(const tc_context *ctx)
{
  return __atomic_load_n(&ctx->validation_messages, __ATOMIC_RELAXED);
}

tc_status tc_list_devices(void *out, tc_error *err)
{
  FILE *f = out;
  VkApplicationInfo app = { .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .apiVersion = VK_API_VERSION_1_2 };
  VkInstanceCreateInfo info = { .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app };
  VkInstance inst;
  pthread_once(&wide_lavapipe_once, prefer_wide_lavapipe);
  tc_status st = tc_vk_check(vkCreateInstance(&info, NULL, &inst), "vkCreateInstance", err);
  if (st != TC_OK)
    return st;
  uint32_t n = 0;
  vkEnumeratePhysicalDevices(inst, &n, NULL);
  VkPhysicalDevice devs[32];
  if (n > 32)
    n = 32;
  vkEnumeratePhysicalDevices(inst, &n, devs);
  for (uint32_t i = 0; i < n; i++) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(devs[i], &p);
    fprintf(f, "%u: %s (%s, Vulkan %u.%u)\n", i, p.deviceName, device_type_name(p.deviceType),
            VK_API_VERSION_MAJOR(p.apiVersion), VK_API_VERSION_MINOR(p.apiVersion));
  }
  if (n == 0)
    fprintf(f, "no Vulkan devices\n");
  vkDestroyInstance(inst, NULL);
  return TC_OK;
}
