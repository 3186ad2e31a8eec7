/* tokenclip-bench [--device D] [--list-devices] [--kernels cpu|gpu] [--reps N] [--warmup N]
 *                 [--wall] [--per-run] [--profile] [FILTER...]
 *
 * Times every bench case whose "name shape what" contains one of the
 * FILTERs (all cases without one) and prints one line per case: the median
 * of --reps submissions, from GPU timestamps when the device has them (and
 * --wall is not given), otherwise wall clock around submit and wait;
 * GFLOP/s from that; the median CPU time of the process per submission (on
 * a CPU device shared with other work, flop / cpu ms is the steadier
 * measure of the kernel); and the wall time of the first submission,
 * compilation included. --warmup adds untimed submissions after the first
 * (--warmup-ms: until that much time has passed, for clocks to ramp up);
 * --per-run prints every timed submission (GPU and wall ms) as a comment
 * line, to show bimodal timings; --profile prints the dispatch count and
 * the GPU time per kernel label of the last submission. */
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
  tc_bench_layers_cases,
  /* -- more areas: add their tables here -- */
};

typedef struct options {
  const char *device;
  tc_kernel_family family;
  int reps, warmup, warmup_ms;
  int wall, per_run, profile;
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
             "  --warmup N      untimed submissions after the first (default 0)\n"
             "  --warmup-ms T   and more of them until T ms have passed (a GPU's clocks ramp up under load)\n"
             "  --precision P   the encoder cases at auto, fp32 or fp16 (as the element's; cooperative matrices\n"
             "                  on unless fp32 or TOKENCLIP_COOPMAT is set) (default: each case's weights, fp32 sums)\n"
             "  --wall          time by wall clock around submit and wait, no GPU timestamps\n"
             "  --per-run       print every timed submission (GPU and wall ms)\n"
             "  --profile       print the dispatch count and GPU ms per kernel label of the last submission\n"
             "  FILTER          run the cases whose \"name shape what\" contains one of these\n");
}

int tc_bench_precision = -1;

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
    } else if ((strcmp(a, "--reps") == 0 || strcmp(a, "--warmup") == 0 || strcmp(a, "--warmup-ms") == 0) && val) {
      char *end;
      long n = strtol(val, &end, 10);
      int reps = strcmp(a, "--reps") == 0;
      if (*end || n < (reps ? 1 : 0) || n > 100000) {
        fprintf(stderr, "tokenclip-bench: %s takes a %s count, not \"%s\"\n", a, reps ? "positive" : "non-negative",
                val);
        return -1;
      }
      *(reps ? &o->reps : strcmp(a, "--warmup") == 0 ? &o->warmup : &o->warmup_ms) = (int)n, i++;
    } else if (strcmp(a, "--precision") == 0 && val) {
      static const char *const names[] = { "auto", "fp32", "fp16" }; /* tc_precision's order */
      for (int p = 0; p < 3; p++)
        if (strcmp(val, names[p]) == 0)
          tc_bench_precision = p;
      if (tc_bench_precision < 0) {
        fprintf(stderr, "tokenclip-bench: --precision takes auto, fp32 or fp16, not \"%s\"\n", val);
        return -1;
      }
      i++;
    } else if (strcmp(a, "--wall") == 0) {
      o->wall = 1;
    } else if (strcmp(a, "--per-run") == 0) {
      o->per_run = 1;
    } else if (strcmp(a, "--profile") == 0) {
      o->profile = 1;
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

/* The dispatches of cmd's last submission and their GPU time per label,
 * in order of first use. */
static void print_profile(const tc_cmd *cmd)
{
  const char *const *labels;
  const double *ms;
  uint32_t n = tc_cmd_timings(cmd, &labels, &ms);
  printf("#   %u dispatches, %.3f ms from the first timestamp to the last\n", n, tc_cmd_total_ms(cmd));
  for (uint32_t i = 0; i < n; i++) {
    int seen = 0;
    for (uint32_t j = 0; j < i && !seen; j++)
      seen = strcmp(labels[i], labels[j]) == 0;
    if (seen)
      continue;
    double sum = 0;
    int count = 0;
    for (uint32_t j = i; j < n; j++)
      if (strcmp(labels[i], labels[j]) == 0)
        sum += ms[j], count++;
    printf("#   %-28s %5d x %9.4f ms = %9.3f ms\n", labels[i], count, sum / count, sum);
  }
}

/* Times one case; false after printing why it could not. */
/* 1: timed, 2: skipped (unsupported here), 0: failed */
static int time_case(tc_context *ctx, const tc_bench_case *c, const options *o, timing *t)
{
  tc_error err = { 0 };
  tc_cmd *cmd = NULL;
  void *state = NULL;
  int reps = o->reps;
  double *ms = malloc(3 * reps * sizeof *ms), *cpu = ms + reps, *wall_ms = ms + 2 * reps;
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
  int warm = 0;
  for (double w0 = now_ms(); st == TC_OK && (warm < o->warmup || now_ms() - w0 < o->warmup_ms); warm++)
    st = tc_cmd_run(cmd, &err);
  for (int r = 0; r < reps && st == TC_OK; r++) {
    double c0 = cpu_ms(), w0 = now_ms();
    st = tc_cmd_run(cmd, &err);
    wall_ms[r] = now_ms() - w0;
    cpu[r] = cpu_ms() - c0;
    ms[r] = tc_context_profiling(ctx) ? tc_cmd_total_ms(cmd) : wall_ms[r];
  }
  if (st == TC_OK && o->per_run) {
    printf("# runs %s %s after %d warm-up (%s ms / wall ms):", c->name, c->shape, 1 + warm,
           tc_context_profiling(ctx) ? "GPU" : "wall");
    for (int r = 0; r < reps; r++)
      printf(" %.3f/%.3f", ms[r], wall_ms[r]);
    printf("\n");
  }
  if (st == TC_OK && o->profile && tc_context_profiling(ctx))
    print_profile(cmd);
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

/* Frames one run encodes, from the shape convention of the encoder and
 * layers tables: "input/patch", then "xB" for B frames; 0 for other cases. */
static uint32_t frames_of(const tc_bench_case *c)
{
  const char *slash = strchr(c->shape, '/'), *x = slash ? strchr(slash, 'x') : NULL;
  if (!slash)
    return 0;
  return x ? (uint32_t)strtoul(x + 1, NULL, 10) : 1;
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
  if (tc_bench_precision >= 0 && !getenv("TOKENCLIP_COOPMAT"))
    opts.cooperative_matrix = tc_bench_precision == TC_PRECISION_FP32 ? 0 : 1;
  /* timestamps for tc_cmd_total_ms (none with --wall); the per-kernel table
   * of each submission only with TOKENCLIP_PROFILE=1 */
  const char *prof = getenv("TOKENCLIP_PROFILE");
  opts.profile = o.wall ? 0 : prof && strcmp(prof, "1") == 0 ? 1 : 2;
  tc_context *ctx = NULL;
  if (tc_context_create(&opts, &ctx, &err) != TC_OK) {
    fprintf(stderr, "tokenclip-bench: %s\n", err.message);
    return 1;
  }
  int coop = tc_context_has_coopmat(ctx);
  printf("# device: %s, kernels: %s%s, time: %s, median of %d after %d warm-up\n", tc_context_device_name(ctx),
         tc_context_family(ctx) == TC_FAMILY_CPU ? "cpu" : "gpu",
         coop == 2   ? " + EMULATED cooperative matrices (TOKENCLIP_COOPMAT=emulate: slow, for testing)"
         : coop == 1 ? " + cooperative matrices (fp16 inputs, TOKENCLIP_COOPMAT)"
                     : "",
         tc_context_profiling(ctx) ? "GPU timestamps" : "wall clock", o.reps, 1 + o.warmup);
  printf("%-12s %-16s %-28s %10s %9s %10s %10s\n", "# kernel", "shape", "what", "ms", "GFLOP/s", "cpu ms",
         "first ms");
  int failed = 0, ran = 0;
  for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++)
    for (const tc_bench_case *c = suites[s]; c->name; c++) {
      if (!selected(&o, c))
        continue;
      ran++;
      timing t;
      int r = time_case(ctx, c, &o, &t);
      if (r != 1) {
        failed += r == 0;
        continue;
      }
      char gflops[32] = "-"; /* cases that count no flop (resampling, blending) */
      if (c->flop > 0)
        snprintf(gflops, sizeof gflops, "%.2f", c->flop / (t.ms * 1e6));
      printf("%-12s %-16s %-28s %10.3f %9s %10.1f %10.1f\n", c->name, c->shape, c->what, t.ms, gflops, t.cpu_ms,
             t.first_ms);
      uint32_t frames = frames_of(c);
      if (frames)
        printf("#   %s %s: %.2f frames/s (%u per submission)\n", c->name, c->shape, frames * 1000.0 / t.ms, frames);
      fflush(stdout);
    }
  tc_context_destroy(ctx);
  if (ran == 0)
    fprintf(stderr, "tokenclip-bench: no case matches the filter (see --list)\n");
  return failed || ran == 0 ? 1 : 0;
}
