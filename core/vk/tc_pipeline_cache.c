/* The VkPipelineCache kept on disk, so that a second start does not compile
 * every kernel again (where the driver compiles at pipeline creation: GPU
 * drivers; lavapipe compiles at the first dispatch and keeps its own shader
 * cache, see tools/bench/README.md).
 *
 * One file per device and driver:
 *   <dir>/pipelines-<vendor>-<device>-<driver version>-<pipelineCacheUUID>.bin
 * with <dir> the context option cache_dir, else TOKENCLIP_CACHE_DIR, else
 * $XDG_CACHE_HOME/tokenclip, else ~/.cache/tokenclip; "" (option or
 * variable) turns the disk cache off. The file is what
 * vkGetPipelineCacheData returned; it is read only when its header names this
 * device and driver (so a corrupt, truncated or foreign file is ignored) and
 * written beside and renamed into place, so that concurrent processes never
 * see half a file. Nothing depends on it: without it pipelines are built from
 * scratch. TOKENCLIP_DEBUG=1 says on stderr what happened to the file. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tc_vk_internal.h"

static void debug(const tc_context *ctx, const char *fmt, ...)
{
  (void)ctx;
  const char *v = getenv("TOKENCLIP_DEBUG");
  if (!v || !*v || strcmp(v, "0") == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "tokenclip: pipeline cache: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static int mkdir_p(const char *path)
{
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
    return -1;
  for (char *p = tmp + 1; *p; p++) {
    if (*p == '/') {
      *p = '\0';
      if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -1;
      *p = '/';
    }
  }
  return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* The cache directory, or NULL for none (turned off, or no home). */
static const char *cache_dir(const char *dir_opt, char *buf, size_t size)
{
  const char *env = getenv("TOKENCLIP_CACHE_DIR");
  if (dir_opt)
    return *dir_opt ? dir_opt : NULL;
  if (env)
    return *env ? env : NULL;
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  if (xdg && *xdg)
    snprintf(buf, size, "%s/tokenclip", xdg);
  else if (home && *home)
    snprintf(buf, size, "%s/.cache/tokenclip", home);
  else
    return NULL;
  return buf;
}

static char *cache_file_path(const tc_context *ctx, const char *dir_opt)
{
  char buf[4096];
  const char *dir = cache_dir(dir_opt, buf, sizeof buf);
  if (!dir) {
    debug(ctx, "off");
    return NULL;
  }
  if (mkdir_p(dir) != 0) {
    debug(ctx, "cannot create %s (%s): not used", dir, strerror(errno));
    return NULL;
  }
  const VkPhysicalDeviceProperties *pr = &ctx->props;
  char uuid[2 * VK_UUID_SIZE + 1];
  for (unsigned i = 0; i < VK_UUID_SIZE; i++)
    sprintf(uuid + 2 * i, "%02x", pr->pipelineCacheUUID[i]);
  size_t n = strlen(dir) + 96;
  char *path = malloc(n);
  if (path)
    snprintf(path, n, "%s/pipelines-%04x-%04x-%08x-%s.bin", dir, pr->vendorID, pr->deviceID, pr->driverVersion,
             uuid);
  return path;
}

/* FNV-1a: tells whether the cache changed since it was read. */
static uint64_t hash(const void *data, size_t n)
{
  const uint8_t *b = data;
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

/* Whether data (n bytes) begins with a version-one pipeline cache header
 * (VkPipelineCacheHeaderVersionOne) for this device and driver. */
static bool header_matches(const tc_context *ctx, const uint8_t *data, size_t n)
{
  uint32_t length, version, vendor, device;
  if (n < 16 + VK_UUID_SIZE)
    return false;
  memcpy(&length, data, 4);
  memcpy(&version, data + 4, 4);
  memcpy(&vendor, data + 8, 4);
  memcpy(&device, data + 12, 4);
  return length >= 16 + VK_UUID_SIZE && length <= n && version == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
         vendor == ctx->props.vendorID && device == ctx->props.deviceID &&
         memcmp(data + 16, ctx->props.pipelineCacheUUID, VK_UUID_SIZE) == 0;
}

/* The file's contents if they are a cache for this device, else NULL. */
static void *read_cache(const tc_context *ctx, size_t *size)
{
  *size = 0;
  FILE *f = fopen(ctx->cache_path, "rb");
  if (!f) {
    debug(ctx, "%s: none yet", ctx->cache_path);
    return NULL;
  }
  uint8_t *data = NULL;
  long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  if (n > 0 && n < (1l << 30) && fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)n)) &&
      fread(data, 1, (size_t)n, f) == (size_t)n && header_matches(ctx, data, (size_t)n))
    *size = (size_t)n;
  fclose(f);
  if (*size == 0) {
    debug(ctx, "%s: not a pipeline cache of %s (%ld bytes): ignored", ctx->cache_path, ctx->device_name, n);
    free(data);
    return NULL;
  }
  return data;
}

tc_status tc_pipeline_cache_open(tc_context *ctx, const char *dir_opt, tc_error *err)
{
  ctx->cache_path = cache_file_path(ctx, dir_opt);
  size_t n = 0;
  void *data = ctx->cache_path ? read_cache(ctx, &n) : NULL;
  VkPipelineCacheCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
    .initialDataSize = n,
    .pInitialData = data,
  };
  VkResult r = vkCreatePipelineCache(ctx->device, &info, NULL, &ctx->pipeline_cache);
  if (r != VK_SUCCESS && data) { /* the driver refused what it wrote: start empty */
    debug(ctx, "%s: refused by the driver (VkResult %d): ignored", ctx->cache_path, (int)r);
    info.initialDataSize = 0, info.pInitialData = NULL, n = 0;
    r = vkCreatePipelineCache(ctx->device, &info, NULL, &ctx->pipeline_cache);
  }
  if (r == VK_SUCCESS && n) {
    ctx->cache_loaded = n;
    ctx->cache_hash = hash(data, n);
    debug(ctx, "%s: %zu bytes loaded", ctx->cache_path, n);
  }
  free(data);
  return tc_vk_check(r, "vkCreatePipelineCache", err);
}

void tc_pipeline_cache_save(tc_context *ctx)
{
  if (!ctx->cache_path || !ctx->pipeline_cache)
    return;
  size_t n = 0;
  if (vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &n, NULL) != VK_SUCCESS || n == 0)
    return;
  void *data = malloc(n);
  if (!data || vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &n, data) != VK_SUCCESS) {
    free(data);
    return;
  }
  if (n == ctx->cache_loaded && hash(data, n) == ctx->cache_hash) {
    debug(ctx, "%s: unchanged", ctx->cache_path);
    free(data);
    return;
  }
  size_t len = strlen(ctx->cache_path) + 32;
  char *tmp = malloc(len);
  FILE *f = NULL;
  if (tmp) {
    snprintf(tmp, len, "%s.%ld.tmp", ctx->cache_path, (long)getpid());
    f = fopen(tmp, "wb");
  }
  if (f) {
    bool ok = fwrite(data, 1, n, f) == n;
    ok = fclose(f) == 0 && ok;
    if (ok && rename(tmp, ctx->cache_path) == 0) {
      debug(ctx, "%s: %zu bytes written", ctx->cache_path, n);
      ctx->cache_loaded = n; /* what the file holds now */
      ctx->cache_hash = hash(data, n);
    } else {
      debug(ctx, "%s: cannot write (%s)", ctx->cache_path, strerror(errno));
      unlink(tmp);
    }
  } else {
    debug(ctx, "%s: cannot write (%s)", ctx->cache_path, strerror(errno));
  }
  free(tmp);
  free(data);
}

size_t tc_context_pipeline_cache_loaded(const tc_context *ctx) { return ctx->cache_loaded; }

void tc_context_save_pipeline_cache(tc_context *ctx)
{
  pthread_mutex_lock(&ctx->lock);
  tc_pipeline_cache_save(ctx);
  pthread_mutex_unlock(&ctx->lock);
}
