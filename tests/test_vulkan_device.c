/* Detectors on the caller's Vulkan device with frames in the caller's
 * buffers (tc_vulkan_device, tc_detector_analyse_device; issue 17, Vulkan
 * memory), the way GStreamer's GstVulkanDevice and vulkanupload's
 * memory:VulkanBuffer give them: a device opened with no features enabled,
 * one VkBuffer per plane with transfer usage only, host-visible memory.
 *
 * - the same scores and blended pixels as a detector on its own device fed
 *   the same frame from host memory, bit for bit (RGBA and NV12);
 * - every submission on the caller's queue inside its lock;
 * - the caller's validation layer (on its instance, with its own messenger)
 *   says nothing: our kernels ask for no feature the device lacks;
 * - a sync runner's analysed and overlaid device frames equal a host runner's;
 * - an RGBA frame in the caller's VkImage likewise (barriers, layouts);
 * - the refusals: a detector on its own device, a wrong plane count or stride,
 *   an async runner.
 *
 * usage: test_vulkan_device MODEL.safetensors (the tiny random CLIP, embed 96) */
#include <unistd.h>
#include <vulkan/vulkan.h>

#include "tc_head_file.h"
#include "tc_test.h"

#define Q 4

static const char *model_path;
static char head_path[256];
static int validation_messages;
static int locks, unlocks, lock_depth, lock_errors;

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT type,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
  (void)type, (void)user;
  if (severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
    validation_messages++;
    fprintf(stderr, "caller's validation: %s\n", data->pMessage);
  }
  return VK_FALSE;
}

static void lock_queue(void *user)
{
  (void)user;
  locks++;
  lock_errors += lock_depth++ != 0;
}

static void unlock_queue(void *user)
{
  (void)user;
  unlocks++;
  lock_errors += --lock_depth != 0;
}

/* The caller's side: an instance (validation on when the layer is there), a
 * device with no features, a compute queue; buffers of transfer usage. */
typedef struct {
  VkInstance instance;
  VkDebugUtilsMessengerEXT messenger;
  VkPhysicalDevice phys;
  VkDevice device;
  VkQueue queue;
  uint32_t family;
  int validating;
} caller_device;

static int has_validation_layer(void)
{
  uint32_t n = 0;
  vkEnumerateInstanceLayerProperties(&n, NULL);
  VkLayerProperties *l = calloc(n ? n : 1, sizeof *l);
  vkEnumerateInstanceLayerProperties(&n, l);
  int found = 0;
  for (uint32_t i = 0; i < n; i++)
    found |= strcmp(l[i].layerName, "VK_LAYER_KHRONOS_validation") == 0;
  free(l);
  return found;
}

static int open_caller_device(caller_device *c)
{
  memset(c, 0, sizeof *c);
  c->validating = has_validation_layer();
  const char *layer = "VK_LAYER_KHRONOS_validation", *ext = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
  VkApplicationInfo app = { .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .apiVersion = VK_API_VERSION_1_2 };
  VkInstanceCreateInfo ii = { .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app,
                              .enabledLayerCount = c->validating ? 1 : 0, .ppEnabledLayerNames = &layer,
                              .enabledExtensionCount = c->validating ? 1 : 0, .ppEnabledExtensionNames = &ext };
  if (vkCreateInstance(&ii, NULL, &c->instance) != VK_SUCCESS)
    return 0;
  if (c->validating) {
    VkDebugUtilsMessengerCreateInfoEXT mi = {
      .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
      .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
      .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
      .pfnUserCallback = on_message,
    };
    PFN_vkCreateDebugUtilsMessengerEXT create =
      (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(c->instance, "vkCreateDebugUtilsMessengerEXT");
    if (create)
      create(c->instance, &mi, NULL, &c->messenger);
  }
  uint32_t n = 1;
  vkEnumeratePhysicalDevices(c->instance, &n, &c->phys);
  if (n == 0)
    return 0;
  VkQueueFamilyProperties qf[8];
  uint32_t nq = 8;
  vkGetPhysicalDeviceQueueFamilyProperties(c->phys, &nq, qf);
  for (c->family = 0; c->family < nq && !(qf[c->family].queueFlags & VK_QUEUE_COMPUTE_BIT); c->family++)
    ;
  float prio = 1;
  VkDeviceQueueCreateInfo qi = { .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, .queueFamilyIndex = c->family,
                                 .queueCount = 1, .pQueuePriorities = &prio };
  /* no features, as GStreamer 1.22 opens its device */
  VkDeviceCreateInfo di = { .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .queueCreateInfoCount = 1,
                            .pQueueCreateInfos = &qi };
  if (c->family == nq || vkCreateDevice(c->phys, &di, NULL, &c->device) != VK_SUCCESS)
    return 0;
  vkGetDeviceQueue(c->device, c->family, 0, &c->queue);
  return 1;
}

static void close_caller_device(caller_device *c)
{
  if (c->device)
    vkDestroyDevice(c->device, NULL);
  if (c->messenger) {
    PFN_vkDestroyDebugUtilsMessengerEXT destroy =
      (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(c->instance, "vkDestroyDebugUtilsMessengerEXT");
    destroy(c->instance, c->messenger, NULL);
  }
  if (c->instance)
    vkDestroyInstance(c->instance, NULL);
}

/* A host-visible buffer of transfer usage (as vulkanupload's), mapped. */
typedef struct {
  VkBuffer buffer;
  VkDeviceMemory memory;
  uint8_t *mapped;
} caller_buffer;

static int caller_buffer_create(caller_device *c, size_t bytes, caller_buffer *b)
{
  VkBufferCreateInfo bi = { .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = bytes,
                            .usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT };
  if (vkCreateBuffer(c->device, &bi, NULL, &b->buffer) != VK_SUCCESS)
    return 0;
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(c->device, b->buffer, &req);
  VkPhysicalDeviceMemoryProperties mp;
  vkGetPhysicalDeviceMemoryProperties(c->phys, &mp);
  const VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  uint32_t t = 0;
  while (t < mp.memoryTypeCount && !((req.memoryTypeBits >> t & 1) && (mp.memoryTypes[t].propertyFlags & want) == want))
    t++;
  VkMemoryAllocateInfo ai = { .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size,
                              .memoryTypeIndex = t };
  return t < mp.memoryTypeCount && vkAllocateMemory(c->device, &ai, NULL, &b->memory) == VK_SUCCESS &&
         vkBindBufferMemory(c->device, b->buffer, b->memory, 0) == VK_SUCCESS &&
         vkMapMemory(c->device, b->memory, 0, VK_WHOLE_SIZE, 0, (void **)&b->mapped) == VK_SUCCESS;
}

static void caller_buffer_destroy(caller_device *c, caller_buffer *b)
{
  if (b->memory)
    vkFreeMemory(c->device, b->memory, NULL);
  if (b->buffer)
    vkDestroyBuffer(c->device, b->buffer, NULL);
}

static tc_detector *make(const tc_vulkan_device *vd)
{
  tc_detector_options o;
  tc_detector_options_init(&o);
  o.model_path = model_path;
  o.head_path = head_path;
  o.vulkan_device = vd;
  o.warm_up = 1;
  tc_params_set(&o.params, TC_PARAM_PRECISION, TC_PRECISION_FP32, NULL);
  tc_params_set(&o.params, TC_PARAM_ALPHA, 0.6, NULL);
  tc_detector *det = NULL;
  tc_error err = { 0 };
  TC_CHECK_OK(tc_detector_create(&o, &det, &err), &err);
  return det;
}

/* The frame in per-plane caller buffers (planes apart, each at an offset)
 * against the same frame in host memory on a detector of its own. */
static void test_frame(caller_device *c, const tc_vulkan_device *vd, tc_frame_format format, uint32_t w, uint32_t h)
{
  tc_frame f = tc_frame_make(format, w, h);
  const int n = format == TC_FRAME_NV12 ? 2 : 1;
  const size_t y_bytes = (size_t)f.stride * h, uv_bytes = (size_t)f.stride * ((h + 1) / 2);
  const size_t bytes = y_bytes + (n == 2 ? uv_bytes : 0), plane_bytes[2] = { y_bytes, uv_bytes };
  uint8_t *host = malloc(bytes);
  for (size_t i = 0; i < bytes; i++)
    host[i] = (uint8_t)tc_test_uniform(0, 256);
  caller_buffer b[2] = { 0 };
  tc_device_plane planes[2];
  int ok = 1;
  for (int p = 0; p < n; p++) {
    ok &= caller_buffer_create(c, 64 + plane_bytes[p], &b[p]);
    if (ok)
      memcpy(b[p].mapped + 64, host + (p ? y_bytes : 0), plane_bytes[p]);
    planes[p] = (tc_device_plane){ .buffer = (void *)b[p].buffer, .offset = 64, .stride = f.stride };
  }
  TC_CHECK(ok, "%s: the caller's buffers", tc_frame_format_name(format));
  tc_detector *dev = make(vd), *own = make(NULL);
  tc_error err = { 0 };
  tc_analysis a, want;
  if (ok && dev && own && TC_CHECK_OK(tc_detector_set_frame(dev, &f, &err), &err) &&
      TC_CHECK_OK(tc_detector_set_frame(own, &f, &err), &err) &&
      TC_CHECK_OK(tc_detector_analyse_device(dev, planes, (uint32_t)n, 1, &a, &err), &err) &&
      TC_CHECK_OK(tc_detector_analyse(own, host, f.stride, 1, &want, &err), &err)) {
    TC_CHECK(a.grid == want.grid && memcmp(a.scores, want.scores, sizeof(float) * a.grid * a.grid) == 0 &&
                 a.image_score == want.image_score,
             "%s %ux%u: the caller's device gives the scores of a device of our own (image %.6f vs %.6f)",
             tc_frame_format_name(format), w, h, a.image_score, want.image_score);
    int same = 1;
    for (int p = 0; p < n; p++)
      same &= memcmp(b[p].mapped + 64, host + (p ? y_bytes : 0), plane_bytes[p]) == 0;
    TC_CHECK(same, "%s %ux%u: the blended frame is written back into the caller's buffers, as blended in host "
             "memory", tc_frame_format_name(format), w, h);
    /* refusals */
    TC_CHECK(tc_detector_analyse_device(dev, planes, (uint32_t)n + 1, 1, &a, &err) == TC_ERR_INVALID_ARGUMENT &&
                 strstr(err.message, "planes"), "a wrong plane count refused: %s", err.message);
    tc_error_clear(&err);
    tc_device_plane bad = planes[0];
    bad.stride += 4;
    tc_device_plane bad_planes[2] = { bad, planes[1] };
    TC_CHECK(tc_detector_analyse_device(dev, bad_planes, (uint32_t)n, 1, &a, &err) == TC_ERR_INVALID_ARGUMENT &&
                 strstr(err.message, "stride"), "a wrong stride refused: %s", err.message);
    tc_error_clear(&err);
    TC_CHECK(tc_detector_analyse_device(own, planes, (uint32_t)n, 1, &a, &err) == TC_ERR_INVALID_ARGUMENT &&
                 strstr(err.message, "vulkan_device"), "device frames on a detector of its own device refused: %s",
             err.message);
  }
  tc_detector_destroy(dev);
  tc_detector_destroy(own);
  for (int p = 0; p < n; p++)
    caller_buffer_destroy(c, &b[p]);
  free(host);
}

/* An RGBA frame in the caller's VkImage (linear tiling, host-visible, as
 * the test can fill it; GStreamer's are optimal): analysed and blended as the
 * same frame from host memory, bit for bit; the image left in the transfer
 * layout the returned plane says; the caller's validation layer checks the
 * barriers and copies. */
static void test_image(caller_device *c, const tc_vulkan_device *vd)
{
  const uint32_t w = 64, h = 48;
  tc_frame f = tc_frame_make(TC_FRAME_RGBA, w, h);
  VkImageCreateInfo ii = { .sType = VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO, .imageType = VK_IMAGE_TYPE_2D,
                           .format = VK_FORMAT_R8G8B8A8_UNORM, .extent = { w, h, 1 }, .mipLevels = 1,
                           .arrayLayers = 1, .samples = VK_SAMPLE_COUNT_1_BIT, .tiling = VK_IMAGE_TILING_LINEAR,
                           .usage = VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT,
                           .initialLayout = VK_IMAGE_LAYOUT_PREINITIALIZED };
  VkImage image = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  uint8_t *mapped = NULL;
  int ok = vkCreateImage(c->device, &ii, NULL, &image) == VK_SUCCESS;
  VkMemoryRequirements req;
  VkPhysicalDeviceMemoryProperties mp;
  if (ok) {
    vkGetImageMemoryRequirements(c->device, image, &req);
    vkGetPhysicalDeviceMemoryProperties(c->phys, &mp);
    const VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    uint32_t t = 0;
    while (t < mp.memoryTypeCount &&
           !((req.memoryTypeBits >> t & 1) && (mp.memoryTypes[t].propertyFlags & want) == want))
      t++;
    VkMemoryAllocateInfo ai = { .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size,
                                .memoryTypeIndex = t };
    ok = t < mp.memoryTypeCount && vkAllocateMemory(c->device, &ai, NULL, &memory) == VK_SUCCESS &&
         vkBindImageMemory(c->device, image, memory, 0) == VK_SUCCESS &&
         vkMapMemory(c->device, memory, 0, VK_WHOLE_SIZE, 0, (void **)&mapped) == VK_SUCCESS;
  }
  TC_CHECK(ok, "the caller's image");
  VkImageSubresource sub = { VK_IMAGE_ASPECT_COLOR_BIT, 0, 0 };
  VkSubresourceLayout lay = { 0 };
  if (ok)
    vkGetImageSubresourceLayout(c->device, image, &sub, &lay);
  uint8_t *host = malloc(tc_frame_bytes(&f));
  for (size_t i = 0; i < tc_frame_bytes(&f); i++)
    host[i] = (uint8_t)tc_test_uniform(0, 256);
  for (uint32_t y = 0; ok && y < h; y++)
    memcpy(mapped + lay.offset + y * lay.rowPitch, host + (size_t)y * f.stride, (size_t)w * 4);
  tc_detector *dev = make(vd), *own = make(NULL);
  tc_error err = { 0 };
  tc_analysis a, want;
  tc_device_plane plane = { .image = (void *)image, .image_layout = VK_IMAGE_LAYOUT_PREINITIALIZED,
                            .image_stages = VK_PIPELINE_STAGE_HOST_BIT, .image_access = VK_ACCESS_HOST_WRITE_BIT };
  if (ok && dev && own && TC_CHECK_OK(tc_detector_set_frame(dev, &f, &err), &err) &&
      TC_CHECK_OK(tc_detector_set_frame(own, &f, &err), &err) &&
      TC_CHECK_OK(tc_detector_analyse_device(dev, &plane, 1, 1, &a, &err), &err) &&
      TC_CHECK_OK(tc_detector_analyse(own, host, f.stride, 1, &want, &err), &err)) {
    TC_CHECK(memcmp(a.scores, want.scores, sizeof(float) * a.grid * a.grid) == 0,
             "image frame: the scores of a device of our own from host memory");
    int same = 1;
    for (uint32_t y = 0; y < h; y++)
      same &= memcmp(mapped + lay.offset + y * lay.rowPitch, host + (size_t)y * f.stride, (size_t)w * 4) == 0;
    TC_CHECK(same, "image frame: the blended frame written back into the image, as blended in host memory");
    TC_CHECK(plane.image_layout == VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL &&
                 plane.image_stages == VK_PIPELINE_STAGE_TRANSFER_BIT &&
                 plane.image_access == VK_ACCESS_TRANSFER_WRITE_BIT,
             "image frame: left in the transfer-destination layout it reports (%u)", plane.image_layout);
  }
  tc_detector_destroy(dev);
  tc_detector_destroy(own);
  if (memory)
    vkFreeMemory(c->device, memory, NULL);
  if (image)
    vkDestroyImage(c->device, image, NULL);
  free(host);
}

/* A runner on the caller's device, interval 2, NV12: frame 0 analysed and
 * blended in the call, frame 1 (the same pixels) blended by the overlay lane
 * on the device: both equal a host runner's frames bit for bit. Async mode
 * is refused there. */
static void test_runner(caller_device *c, const tc_vulkan_device *vd)
{
  tc_frame f = tc_frame_make(TC_FRAME_NV12, 64, 48);
  const size_t y_bytes = (size_t)f.stride * 48, uv_bytes = (size_t)f.stride * 24, bytes = y_bytes + uv_bytes;
  uint8_t *px = malloc(bytes), *host[2] = { malloc(bytes), malloc(bytes) };
  for (size_t i = 0; i < bytes; i++)
    px[i] = (uint8_t)tc_test_uniform(0, 256);
  tc_runner *rd = NULL, *rh = NULL;
  tc_error err = { 0 };
  tc_detector_options o;
  tc_detector_options_init(&o);
  o.model_path = model_path;
  o.head_path = head_path;
  tc_params_set(&o.params, TC_PARAM_PRECISION, TC_PRECISION_FP32, NULL);
  tc_params_set(&o.params, TC_PARAM_INTERVAL, 2, NULL);
  tc_runner_options ro;
  tc_runner_options_init(&ro);
  ro.mode = TC_RUNNER_ASYNC;
  o.vulkan_device = vd;
  TC_CHECK(tc_runner_create(&o, &ro, &rd, &err) == TC_ERR_UNSUPPORTED && !rd && strstr(err.message, "sync mode"),
           "async on the caller's device refused: %s", err.message);
  tc_error_clear(&err);
  ro.mode = TC_RUNNER_SYNC;
  TC_CHECK_OK(tc_runner_create(&o, &ro, &rd, &err), &err);
  o.vulkan_device = NULL;
  TC_CHECK_OK(tc_runner_create(&o, &ro, &rh, &err), &err);
  caller_buffer b[2] = { 0 };
  int ok = rd && rh && caller_buffer_create(c, y_bytes, &b[0]) && caller_buffer_create(c, uv_bytes, &b[1]);
  tc_device_plane planes[2] = { { .buffer = (void *)b[0].buffer, .stride = f.stride },
                                { .buffer = (void *)b[1].buffer, .stride = f.stride } };
  const tc_analysis *latest = NULL;
  if (ok && TC_CHECK_OK(tc_runner_set_frame(rd, &f, &err), &err) && TC_CHECK_OK(tc_runner_set_frame(rh, &f, &err), &err))
    for (int i = 0; i < 2; i++) {
      memcpy(b[0].mapped, px, y_bytes);
      memcpy(b[1].mapped, px + y_bytes, uv_bytes);
      memcpy(host[i], px, bytes);
      if (!TC_CHECK_OK(tc_runner_submit_device(rd, planes, 2, (uint64_t)i, &latest, &err), &err) ||
          !TC_CHECK_OK(tc_runner_submit(rh, host[i], f.stride, (uint64_t)i, &latest, &err), &err))
        break;
      TC_CHECK(memcmp(b[0].mapped, host[i], y_bytes) == 0 && memcmp(b[1].mapped, host[i] + y_bytes, uv_bytes) == 0,
               "runner frame %d (%s): the device frame equals the host runner's", i, i ? "overlay lane" : "analysed");
      TC_CHECK(memcmp(host[i], px, bytes) != 0, "runner frame %d got a heatmap", i);
    }
  tc_runner_destroy(rd);
  tc_runner_destroy(rh);
  caller_buffer_destroy(c, &b[0]);
  caller_buffer_destroy(c, &b[1]);
  free(px), free(host[0]), free(host[1]);
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL.safetensors\n", argv[0]);
    return 2;
  }
  model_path = argv[1];
  tc_context *ctx = tc_test_context(TC_FAMILY_AUTO); /* fails under CI=true without a device */
  float t[Q * 2 * 96];
  tc_test_seed(9);
  tc_test_fill(t, Q * 2 * 96, -1, 1);
  tc_error err = { 0 };
  snprintf(head_path, sizeof head_path, "/tmp/tc-test-vkdev-%d.safetensors", (int)getpid());
  TC_CHECK_OK(tc_head_file_write(head_path, t, Q, 96, 0, NULL, &err), &err);
  caller_device c;
  int opened = open_caller_device(&c);
  TC_CHECK(opened, "the caller's Vulkan device");
  if (opened) {
    tc_vulkan_device vd = { .instance = c.instance, .physical_device = c.phys, .device = c.device,
                            .queue = c.queue, .queue_family = c.family, .lock_queue = lock_queue,
                            .unlock_queue = unlock_queue };
    test_frame(&c, &vd, TC_FRAME_RGBA, 67, 45);
    test_frame(&c, &vd, TC_FRAME_NV12, 64, 48);
    test_runner(&c, &vd);
    test_image(&c, &vd);
    printf("caller's queue: %d locked submissions, validation %s: %d messages\n", locks,
           c.validating ? "on" : "not installed", validation_messages);
    TC_CHECK(locks > 0 && locks == unlocks && lock_errors == 0, "every submission inside the caller's lock (%d "
             "locks, %d unlocks, %d nested or unbalanced)", locks, unlocks, lock_errors);
    TC_CHECK(validation_messages == 0, "the caller's validation layer: %d messages", validation_messages);
  }
  close_caller_device(&c);
  unlink(head_path);
  return tc_test_finish(ctx);
}
