/* tokenclip-bench [--device D] [--list-devices] [--kernels cpu|gpu] [--reps N] [FILTER...]
 *
 * Times every bench case whose "name shape what" contains one of the
 * FILTERs (all cases without one) and prints one line per case: the median
 * of --reps submissions, from GPU timestamps when the device has them,
 * otherwise wall clock around submit and wait; GFLOP/s from that; the
 * median CPU time of the process per submission (on a CPU device shared
 * with other work, flop / cpu ms is the steadier measure of the kernel);
 * and the wall time of the first submission, compilation included. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"

/* One table per area (see bench.h). */
static const tc_bench_case *const suites[] = {
  tc_bench_matmul_cases,
  tc_bench_image_cases,
  tc_bench_head_cases,
  tc_bench_nn_cases,
  tc_bench_encoder_cases,
  /* -- more areas: add their tables here -- */
};

typedef struct options {
  const char *device;
  tc_kernel_family family;
  int reps;
  int list_devices, list_cases;
  char **filters;
  int n_filters;
} options;

static void usage(FILE *f)
{
  fprintf(f, "usage: tokenclip-bench [--device D] [--list-devices] [--list] [--kernels cpu|gpu] [--reps N] "
             "[FILTER...]\n"
             "  --device D      device index or name substring (default: TOKENCLIP_DEVICE, else the best)\n"
             "  --list-devices  print the Vulkan devices and exit\n"
             "  --list          print the cases FILTER selects and exit\n"
             "  --kernels F     kernel family cpu or gpu (default: from the device type)\n"
             "  --reps N        timed submissions per case, median reported (default 5)\n"
             "  FILTER          run the cases whose \"name shape what\" contains one of these\n");
}

static int parse(int argc, char **argv, options *o)
{
  *o = (options){ .family = TC_FAMILY_AUTO, .reps = 5, .filters = argv, .n_filters = 0 };
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      exit(0);
    } else if (strcmp(a, "--list-devices") == 0) {
      o->list_devices = 1;
    } else if (strcmp(a, "--list") == 0) {
      o->list_cases = 1;
    } else if (strcmp(a, "--device") == 0 && val) {
      o->device = val, i++;
    } else if (strcmp(a, "--kernels") == 0 && val) {
      if (strcmp(val, "cpu") == 0)
        o->family = TC_FAMILY_CPU;
      else if (strcmp(val, "gpu") == 0)
        o->family = TC_FAMILY_GPU;
      else {
        fprintf(stderr, "tokenclip-bench: --kernels takes cpu or gpu, not \"%s\"\n", val);
        return -1;
      }
      i++;
    } else if (strcmp(a, "--reps") == 0 && val) {
      char *end;
      long n = strtol(val, &end, 10);
      if (*end || n < 1 || n > 100000) {
        fprintf(stderr, "tokenclip-bench: --reps takes a positive count, not \"%s\"\n", val);
        return -1;
      }
      o->reps = (int)n, i++;
    } else if (a[0] == '-') {
      fprintf(stderr, "tokenclip-bench: unknown option or missing value: %s\n", a);
      usage(stderr);
      return -1;
    } else {
      o->filters[o->n_filters++] = argv[i]; /* compacts argv in place */
    }
  }
  return 0;
}

static int selected(const options *o, const tc_bench_case *c)
{
  if (o->n_filters == 0)
    return 1;
  char full[256];
  snprintf(full, sizeof full, "%s %s %s", c->name, c->shape, c->what);
  for (int i = 0; i < o->n_filters; i++)
    if (strstr(full, o->filters[i]))
      return 1;
  return 0;
}

static double now_ms(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

/* CPU time of the whole process, lavapipe's worker threads included. */
static double cpu_ms(void)
{
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-3;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n)
{
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct timing {
  double ms;       /* median per submission: GPU timestamps, else wall clock */
  double cpu_ms;   /* median CPU time of the process per submission */
  double first_ms; /* wall time of the first submission, shader compilation included */
} timing;

/* Times one case; false after printing why it could not. */
/* 1: timed, 2: skipped (unsupported here), 0: failed */
static int time_case(tc_context *ctx, const tc_bench_case *c, int reps, timing *t)
{
  tc_error err = { 0 };
  tc_cmd *cmd = NULL;
  void *state = NULL;
  double *ms = malloc(2 * reps * sizeof *ms), *cpu = ms + reps;
  tc_status st = ms ? tc_cmd_create(ctx, &cmd, &err) : tc_error_set(&err, TC_ERR_OUT_OF_MEMORY, "out of memory");
  if (st == TC_OK)
    st = tc_cmd_begin(cmd, &err);
  if (st == TC_OK)
    st = c->setup(ctx, c->params, cmd, &state, &err);
  if (st == TC_OK)
    st = tc_cmd_end(cmd, &err);
  /* lavapipe compiles shaders at their first dispatch: not in the median */
  double t0 = now_ms();
  if (st == TC_OK)
    st = tc_cmd_run(cmd, &err);
  t->first_ms = now_ms() - t0;
  for (int r = 0; r < reps && st == TC_OK; r++) {
    double c0 = cpu_ms(), w0 = now_ms();
    st = tc_cmd_run(cmd, &err);
    double wall = now_ms() - w0;
    cpu[r] = cpu_ms() - c0;
    ms[r] = tc_context_profiling(ctx) ? tc_cmd_total_ms(cmd) : wall;
  }
  if (st == TC_OK) {
    t->ms = median(ms, reps);
    t->cpu_ms = median(cpu, reps);
  } else if (st == TC_ERR_UNSUPPORTED) {
    /* a variant this device's kernel family does not have: not a failure */
    printf("# %-10s %-16s skipped: %s\n", c->name, c->shape, err.message);
  } else {
    fprintf(stderr, "tokenclip-bench: %s %s: %s\n", c->name, c->shape, err.message);
  }
  c->teardown(state);
  tc_cmd_destroy(cmd);
  free(ms);
  return st == TC_OK ? 1 : st == TC_ERR_UNSUPPORTED ? 2 : 0;
}

int main(int argc, char **argv)
{
  options o;
  if (parse(argc, argv, &o) != 0)
    return 2;
  tc_error err = { 0 };
  if (o.list_devices) {
    if (tc_list_devices(stdout, &err) != TC_OK) {
      fprintf(stderr, "tokenclip-bench: %s\n", err.message);
      return 1;
    }
    return 0;
  }
  if (o.list_cases) {
    for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++)
      for (const tc_bench_case *c = suites[s]; c->name; c++)
        if (selected(&o, c))
          printf("%-12s %-16s %s\n", c->name, c->shape, c->what);
    return 0;
  }

  tc_context_options opts;
  tc_context_options_init(&opts);
  opts.device = o.device;
  opts.family = o.family;
  opts.profile = 2; /* timestamps for tc_cmd_total_ms, nothing printed */
  tc_context *ctx = NULL;
  if (tc_context_create(&opts, &ctx, &err) != TC_OK) {
    fprintf(stderr, "tokenclip-bench: %s\n", err.message);
    return 1;
  }
  printf("# device: %s, kernels: %s%s, time: %s, median of %d\n", tc_context_device_name(ctx),
         tc_context_family(ctx) == TC_FAMILY_CPU ? "cpu" : "gpu",
         tc_context_has_coopmat(ctx) ? " + cooperative matrices (fp16 inputs, TOKENCLIP_COOPMAT)" : "",
         tc_context_profiling(ctx) ? "GPU timestamps" : "wall clock", o.reps);
  printf("%-12s %-16s %-28s %10s %9s %10s %10s\n", "# kernel", "shape", "what", "ms", "GFLOP/s", "cpu ms",
         "first ms");
  int failed = 0, ran = 0;
  for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++)
    for (const tc_bench_case *c = suites[s]; c->name; c++) {
      if (!selected(&o, c))
        continue;
      ran++;
      timing t;
      int r = time_case(ctx, c, o.reps, &t);
      if (r != 1) {
        failed += r == 0;
        continue;
      }
      char gflops[32] = "-"; /* cases that count no flop (resampling, blending) */
      if (c->flop > 0)
        snprintf(gflops, sizeof gflops, "%.2f", c->flop / (t.ms * 1e6));
      printf("%-12s %-16s %-28s %10.3f %9s %10.1f %10.1f\n", c->name, c->shape, c->what, t.ms, gflops, t.cpu_ms,
             t.first_ms);
      fflush(stdout);
    }
  tc_context_destroy(ctx);
  if (ran == 0)
    fprintf(stderr, "tokenclip-bench: no case matches the filter (see --list)\n");
  return failed || ran == 0 ? 1 : 0;
}
