/* tokenclip-bench: times kernels on one device.
 *
 * Each area adds a file bench_<area>.c defining a table of cases that ends
 * with an entry whose name is NULL, declares it below and lists it in
 * bench_main.c's `suites`. A case records its dispatches once; the runner
 * submits the recording --reps times and reports the median. */
#ifndef TC_BENCH_H
#define TC_BENCH_H

#include <stddef.h>

#include "tc_vk.h"

typedef struct tc_bench_case {
  const char *name;  /* kernel and variant, e.g. "matmul_f16" */
  const char *shape; /* as the area writes shapes, e.g. "197x768x3072" (M x K x N) */
  const char *what;  /* where the shape comes from, e.g. "ViT-B/16 mlp.c_fc"; may be "" */
  double flop;       /* floating-point operations of one run, for GFLOP/s; 0: printed as - */
  /* Creates the case's buffers (into *state) and records its dispatches into
   * cmd, between the runner's tc_cmd_begin and tc_cmd_end. */
  tc_status (*setup)(tc_context *ctx, const void *params, tc_cmd *cmd, void **state, tc_error *err);
  /* Frees *state; called after setup whatever it returned. */
  void (*teardown)(void *state);
  const void *params;
} tc_bench_case;

/* --precision: a tc_precision for every encoder case, -1 when not given. */
extern int tc_bench_precision;

extern const tc_bench_case tc_bench_matmul_cases[];
extern const tc_bench_case tc_bench_image_cases[];
extern const tc_bench_case tc_bench_head_cases[];
extern const tc_bench_case tc_bench_nn_cases[];
extern const tc_bench_case tc_bench_encoder_cases[];
extern const tc_bench_case tc_bench_layers_cases[];

/* A device buffer of n fp32 values, uniform in [lo, hi), from a fixed seed. */
tc_status tc_bench_random_f32(tc_context *ctx, size_t n, float lo, float hi, tc_buffer **out, tc_error *err);
/* The same as fp16 values. */
tc_status tc_bench_random_f16(tc_context *ctx, size_t n, float lo, float hi, tc_buffer **out, tc_error *err);

#endif
