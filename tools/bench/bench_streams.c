/* tokenclip-bench-streams MODEL HEAD [--streams 1,4,16] [--frames N] [--size WxH] [--batch B]
 *                         [--timeout-us T] [--precision auto|fp32|fp16] [--device D]
 *
 * Many streams on one device (issue 17), through libtokenclip's public API:
 * for each stream count, N detectors each with a model of its own
 * ("separate"), then N detectors on one tc_model ("shared", batching up to
 * --batch frames, default min(N, 8)). Each stream is a thread analysing
 * --frames NV12 frames one after another, as an element in sync mode would.
 * Prints, per row: device memory of the contexts' buffers once everything is
 * loaded (weights, activations, frames: tc_model_device_bytes summed over the
 * distinct models), the wall time of the whole run, the total throughput in
 * frames a second, and for shared rows the mean frames a submission. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokenclip/tokenclip.h>

#define MAX_STREAMS 64

typedef struct {
  const char *model, *head, *device;
  uint32_t frames, width, height, batch, timeout_us;
  int precision;
} bench_options;

typedef struct {
  tc_detector *det;
  const bench_options *o;
  uint8_t *pixels;
  tc_status st;
  tc_error err;
} stream;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *run_stream(void *arg)
{
  stream *s = arg;
  tc_frame f = tc_frame_make(TC_FRAME_NV12, s->o->width, s->o->height);
  for (uint32_t i = 0; i < s->o->frames && s->st == TC_OK; i++) {
    tc_analysis a;
    s->pixels[i % f.width] ^= 0x55; /* a different frame each time */
    s->st = tc_detector_analyse(s->det, s->pixels, f.stride, 1, &a, &s->err);
  }
  return NULL;
}

static tc_detector_options detector_options(const bench_options *o, tc_model *model)
{
  tc_detector_options d;
  tc_detector_options_init(&d);
  d.model_path = model ? NULL : o->model;
  d.model = model;
  d.head_path = o->head;
  d.device = model ? NULL : o->device;
  d.warm_up = 1;
  if (o->precision >= 0)
    tc_params_set(&d.params, TC_PARAM_PRECISION, o->precision, NULL);
  return d;
}

/* One row: n streams, shared (with batches) or each with its own model. */
static int run_row(const bench_options *o, uint32_t n, int shared)
{
  stream s[MAX_STREAMS] = { 0 };
  pthread_t threads[MAX_STREAMS];
  tc_model *model = NULL;
  tc_error err = { 0 };
  tc_frame f = tc_frame_make(TC_FRAME_NV12, o->width, o->height);
  uint32_t batch = o->batch ? o->batch : (n < TC_MAX_BATCH ? n : TC_MAX_BATCH);
  tc_status st = TC_OK;
  if (shared) {
    tc_detector_options mo = detector_options(o, NULL);
    mo.batch_size = batch;
    mo.batch_timeout_us = o->timeout_us;
    st = tc_model_create(&mo, &model, &err);
  }
  const size_t frame_bytes = (size_t)f.stride * (f.height + (f.height + 1) / 2); /* NV12: Y, then UV rows */
  for (uint32_t i = 0; i < n && st == TC_OK; i++) {
    tc_detector_options d = detector_options(o, model);
    s[i].o = o;
    st = tc_detector_create(&d, &s[i].det, &err);
    if (st == TC_OK)
      st = tc_detector_set_frame(s[i].det, &f, &err);
    s[i].pixels = malloc(frame_bytes);
    for (size_t k = 0; s[i].pixels && k < frame_bytes; k++)
      s[i].pixels[k] = (uint8_t)((k * 2654435761u + i * 40503u) >> 13);
  }
  if (st != TC_OK) {
    fprintf(stderr, "%u streams %s: %s\n", n, shared ? "shared" : "separate", err.message);
  } else {
    size_t bytes = shared ? tc_model_device_bytes(model) : 0;
    for (uint32_t i = 0; i < n && !shared; i++)
      bytes += tc_model_device_bytes(tc_detector_model(s[i].det));
    uint64_t sub0 = 0, fr0 = 0, sub1 = 0, fr1 = 0;
    if (shared)
      tc_model_batch_stats(model, &sub0, &fr0);
    double t0 = now_s();
    for (uint32_t i = 0; i < n; i++)
      pthread_create(&threads[i], NULL, run_stream, &s[i]);
    for (uint32_t i = 0; i < n; i++)
      pthread_join(threads[i], NULL);
    double wall = now_s() - t0;
    for (uint32_t i = 0; i < n; i++)
      if (s[i].st != TC_OK) {
        fprintf(stderr, "stream %u: %s\n", i, s[i].err.message);
        st = s[i].st;
      }
    if (shared)
      tc_model_batch_stats(model, &sub1, &fr1);
    char batches[32] = "-";
    if (shared && sub1 > sub0)
      snprintf(batches, sizeof batches, "%.2f", (double)(fr1 - fr0) / (double)(sub1 - sub0));
    printf("%7u  %-8s  %5u  %10.1f  %8.2f  %10.2f  %s\n", n, shared ? "shared" : "separate", shared ? batch : 1,
           bytes / 1e6, wall, n * o->frames / wall, batches);
    fflush(stdout);
  }
  for (uint32_t i = 0; i < n; i++) {
    tc_detector_destroy(s[i].det);
    free(s[i].pixels);
  }
  tc_model_unref(model);
  return st == TC_OK ? 0 : 1;
}

static void usage(FILE *f, const char *argv0)
{
  fprintf(f,
          "usage: %s MODEL HEAD [--streams 1,4,16] [--frames N] [--size WxH] [--batch B] [--timeout-us T]\n"
          "       [--precision auto|fp32|fp16] [--device D]\n"
          "Many streams on one device: for each stream count, that many detectors with a model each\n"
          "(separate), then as many on one shared, batching model (shared). Each stream analyses\n"
          "--frames NV12 frames of --size (default 8, 640x480) in turn; --batch frames at most a\n"
          "submission (default min(streams, 8)), waiting --timeout-us for it to fill (200000).\n"
          "Prints device memory, wall time, frames a second and frames a submission per row.\n",
          argv0);
}

/* A whole number min..max into *out: 0, else -1. (tools/common/cli.c has the
 * like, but links the library's internals; this tool uses the public API.) */
static int whole_arg(const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
  char *end;
  unsigned long n = strtoul(v, &end, 10);
  if (!*v || *v == '-' || *end || n < min || n > max)
    return -1;
  *out = (uint32_t)n;
  return 0;
}

int main(int argc, char **argv)
{
  bench_options o = { .frames = 8, .width = 640, .height = 480, .timeout_us = 200000, .precision = -1 };
  uint32_t counts[16] = { 1, 4, 16 }, n_counts = 3;
  int positional = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--streams") == 0 && v) {
      n_counts = 0;
      for (char *p = (char *)v; *p && n_counts < 16; p += *p == ',')
        counts[n_counts++] = (uint32_t)strtoul(p, &p, 10);
      i++;
    } else if (strcmp(a, "--frames") == 0 && v) {
      if (whole_arg(v, 1, 1000000, &o.frames))
        return fprintf(stderr, "%s: --frames %s: a number of frames from 1\n", argv[0], v), 2;
      i++;
    } else if (strcmp(a, "--size") == 0 && v) {
      char end = 0;
      if (sscanf(v, "%ux%u%c", &o.width, &o.height, &end) != 2 || !o.width || !o.height)
        return fprintf(stderr, "%s: --size %s: WIDTHxHEIGHT\n", argv[0], v), 2;
      i++;
    } else if (strcmp(a, "--batch") == 0 && v) {
      if (whole_arg(v, 1, TC_MAX_BATCH, &o.batch))
        return fprintf(stderr, "%s: --batch %s: 1..%d frames\n", argv[0], v, TC_MAX_BATCH), 2;
      i++;
    } else if (strcmp(a, "--timeout-us") == 0 && v) {
      if (whole_arg(v, 0, 10000000, &o.timeout_us))
        return fprintf(stderr, "%s: --timeout-us %s: 0..10000000\n", argv[0], v), 2;
      i++;
    } else if (strcmp(a, "--device") == 0 && v) {
      o.device = v, i++;
    } else if (strcmp(a, "--precision") == 0 && v) {
      o.precision = strcmp(v, "fp32") == 0   ? TC_PRECISION_FP32
                    : strcmp(v, "fp16") == 0 ? TC_PRECISION_FP16
                    : strcmp(v, "auto") == 0 ? TC_PRECISION_AUTO
                                             : -2;
      if (o.precision == -2)
        return fprintf(stderr, "%s: --precision %s: auto, fp32 or fp16\n", argv[0], v), 2;
      i++;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout, argv[0]);
      return 0;
    } else if (a[0] != '-' && positional < 2) {
      *(positional++ ? &o.head : &o.model) = a;
    } else {
      usage(stderr, argv[0]);
      return 2;
    }
  }
  if (positional < 2) {
    fprintf(stderr, "%s: give MODEL and HEAD\n", argv[0]);
    return 2;
  }
  for (uint32_t c = 0; c < n_counts; c++)
    if (counts[c] < 1 || counts[c] > MAX_STREAMS) {
      fprintf(stderr, "%s: 1..%d streams\n", argv[0], MAX_STREAMS);
      return 2;
    }
  printf("# %s, %u frames a stream, NV12 %ux%u, sync analyses (every frame), batch timeout %u us\n", o.model,
         o.frames, o.width, o.height, o.timeout_us);
  printf("%7s  %-8s  %5s  %10s  %8s  %10s  %s\n", "streams", "model", "batch", "device MB", "wall s", "frames/s",
         "frames/submission");
  int failed = 0;
  for (uint32_t c = 0; c < n_counts; c++) {
    failed |= run_row(&o, counts[c], 0);
    if (failed && c == 0)
      return 1; /* the first row's error (model, head, device) is every row's */
    failed |= run_row(&o, counts[c], 1);
  }
  return failed;
}
