/* A model shared by detectors (tc_model, issue 17): the same results as
 * detectors with models of their own, the weights loaded once, analyses from
 * several threads taking the encoder in turn, and the mismatches refused.
 *
 * usage: test_shared_model MODEL.safetensors (a tiny random CLIP, embed 96) */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "tc_head_file.h"
#include "tc_test.h"

#define STREAMS 4
#define FRAMES 3
#define Q 5

static const char *model_path;
static char head_path[256];

static tc_detector_options options(tc_model *model)
{
  tc_detector_options o;
  tc_detector_options_init(&o);
  tc_params_set(&o.params, TC_PARAM_PRECISION, TC_PRECISION_FP32, NULL);
  tc_params_set(&o.params, TC_PARAM_ALPHA, 0.5, NULL);
  tc_params_set(&o.params, TC_PARAM_SINKHORN_WARM_START, 1, NULL); /* each stream's own potentials carry over */
  o.model = model;
  o.model_path = model ? NULL : model_path;
  o.head_path = head_path;
  o.warm_up = 1;
  return o;
}

/* Stream s's frame i: its own size and pixels. */
static tc_frame stream_frame(int s) { return tc_frame_make(TC_FRAME_RGBA, 64 + 8 * s, 48 + 4 * s); }

static uint8_t *stream_pixels(int s, int i)
{
  tc_frame f = stream_frame(s);
  uint8_t *px = malloc(tc_frame_bytes(&f));
  tc_test_seed(1000 + 10 * s + i);
  for (size_t k = 0; k < tc_frame_bytes(&f); k++)
    px[k] = (uint8_t)tc_test_uniform(0, 256);
  return px;
}

/* What one stream's analyses give: scores and the blended frames. */
typedef struct {
  tc_detector *det;
  int stream;
  float scores[FRAMES][64];
  float image[FRAMES];
  uint32_t batch[FRAMES];
  double wall_ms[FRAMES];
  uint8_t *blended[FRAMES];
  tc_status st;
  tc_error err;
} stream_run;

/* The frames go in first: the random numbers are not for threads. */
static void stream_frames(stream_run *r)
{
  for (int i = 0; i < FRAMES; i++)
    r->blended[i] = stream_pixels(r->stream, i);
}

static void *run_stream(void *arg)
{
  stream_run *r = arg;
  tc_frame f = stream_frame(r->stream);
  r->st = tc_detector_set_frame(r->det, &f, &r->err);
  for (int i = 0; i < FRAMES && r->st == TC_OK; i++) {
    tc_analysis a;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r->st = tc_detector_analyse(r->det, r->blended[i], f.stride, 1, &a, &r->err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->wall_ms[i] = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) * 1e-6;
    if (r->st == TC_OK && a.grid * a.grid <= 64) {
      memcpy(r->scores[i], a.scores, sizeof(float) * a.grid * a.grid);
      r->image[i] = a.image_score;
      r->batch[i] = a.batch;
    }
  }
  return NULL;
}

static void free_run(stream_run *r)
{
  for (int i = 0; i < FRAMES; i++)
    free(r->blended[i]);
  tc_detector_destroy(r->det);
}

/* 4 detectors on one model, run from 4 threads at once, against 4 detectors
 * with their own models run one after another: the same scores and blended
 * frames bit for bit (the same kernels on the same device; the encoder's
 * buffers are taken in turn, each detector keeps its own head state). */
static void test_shared_equals_separate(uint32_t batch_size)
{
  tc_detector_options o = options(NULL);
  tc_model *model = NULL;
  tc_error err = { 0 };
  printf("-- %d streams, batch size %u\n", STREAMS, batch_size);
  o.batch_size = batch_size;
  o.batch_timeout_us = 2000000; /* 2 s: the batches fill, one frame of each stream */
  if (!TC_CHECK_OK(tc_model_create(&o, &model, &err), &err))
    return;
  o.batch_size = 0;
  const size_t model_bytes = tc_model_device_bytes(model);
  TC_CHECK(tc_model_users(model) == 1, "a new model has one user (%u)", tc_model_users(model));

  stream_run shared[STREAMS] = { 0 }, separate[STREAMS] = { 0 };
  pthread_t threads[STREAMS];
  size_t separate_bytes = 0;
  for (int s = 0; s < STREAMS; s++) {
    tc_detector_options so = options(model);
    shared[s].stream = separate[s].stream = s;
    stream_frames(&shared[s]);
    stream_frames(&separate[s]);
    TC_CHECK_OK(tc_detector_create(&so, &shared[s].det, &err), &err);
    TC_CHECK_OK(tc_detector_create(&o, &separate[s].det, &err), &err);
    TC_CHECK(shared[s].det && tc_detector_model(shared[s].det) == model, "stream %d: the shared model", s);
    TC_CHECK(separate[s].det && tc_detector_model(separate[s].det) != model, "stream %d: a model of its own", s);
  }
  TC_CHECK(tc_model_users(model) == 1 + STREAMS, "users: the caller and %d detectors (%u)", STREAMS,
           tc_model_users(model));
  for (int s = 0; s < STREAMS; s++)
    if (shared[s].det && separate[s].det)
      pthread_create(&threads[s], NULL, run_stream, &shared[s]);
  for (int s = 0; s < STREAMS; s++)
    if (shared[s].det && separate[s].det) {
      run_stream(&separate[s]);
      separate_bytes += tc_model_device_bytes(tc_detector_model(separate[s].det));
    }
  for (int s = 0; s < STREAMS; s++)
    if (shared[s].det && separate[s].det)
      pthread_join(threads[s], NULL);
  const size_t shared_bytes = tc_model_device_bytes(model);

  for (int s = 0; s < STREAMS; s++) {
    if (!shared[s].det || !separate[s].det)
      continue;
    TC_CHECK(shared[s].st == TC_OK && separate[s].st == TC_OK, "stream %d: %s / %s", s, shared[s].err.message,
             separate[s].err.message);
    if (shared[s].st != TC_OK || separate[s].st != TC_OK)
      continue;
    const uint32_t G = tc_detector_grid(shared[s].det);
    tc_frame f = stream_frame(s);
    for (int i = 0; i < FRAMES; i++) {
      TC_CHECK(memcmp(shared[s].scores[i], separate[s].scores[i], sizeof(float) * G * G) == 0 &&
                   shared[s].image[i] == separate[s].image[i],
               "stream %d frame %d: shared and separate scores equal (image %.6f vs %.6f)", s, i, shared[s].image[i],
               separate[s].image[i]);
      TC_CHECK(shared[s].batch[i] == batch_size && separate[s].batch[i] == 1,
               "stream %d frame %d: analysed in a submission of %u frames (want %u)", s, i, shared[s].batch[i],
               batch_size);
      TC_CHECK(memcmp(shared[s].blended[i], separate[s].blended[i], tc_frame_bytes(&f)) == 0,
               "stream %d frame %d: the same blended frame", s, i);
    }
  }
  /* the weights once: the separate detectors hold STREAMS models, the shared ones one */
  printf("device memory: one model alone %.2f MB; %d streams shared %.2f MB, separate %.2f MB\n", model_bytes / 1e6,
         STREAMS, shared_bytes / 1e6, separate_bytes / 1e6);
  uint64_t submissions = 0, frames = 0;
  tc_model_batch_stats(model, &submissions, &frames);
  if (batch_size > 1)
    TC_CHECK(submissions == FRAMES * STREAMS / batch_size && frames == FRAMES * STREAMS,
             "%llu batches of %llu frames in all (want %d of %d)", (unsigned long long)submissions,
             (unsigned long long)frames, FRAMES * STREAMS / (int)batch_size, FRAMES * STREAMS);
  /* (a batching model's activations hold batch_size frames: then only less than half) */
  if (batch_size > 1)
    TC_CHECK(2 * shared_bytes < separate_bytes, "shared with batches %zu bytes, separate %zu", shared_bytes,
             separate_bytes);
  else
    TC_CHECK(separate_bytes >= shared_bytes + (STREAMS - 1) * model_bytes,
           "separate models hold %d more copies of the model's %zu bytes (%zu vs %zu)", STREAMS - 1, model_bytes,
           separate_bytes, shared_bytes);

  for (int s = 0; s < STREAMS; s++) {
    free_run(&shared[s]);
    free_run(&separate[s]);
  }
  TC_CHECK(tc_model_users(model) == 1, "the detectors released the model (%u users)", tc_model_users(model));
  tc_model_unref(model);
}

/* A lone stream on a batching model waits no longer than the timeout: its
 * frames run alone, each after ~100 ms (bound: 100 ms to 100 ms + 2 s). */
static void test_lone_stream(void)
{
  tc_detector_options o = options(NULL);
  o.batch_size = 4;
  o.batch_timeout_us = 100000;
  tc_model *model = NULL;
  tc_error err = { 0 };
  if (!TC_CHECK_OK(tc_model_create(&o, &model, &err), &err))
    return;
  tc_detector_options so = options(model);
  stream_run r = { .stream = 2 };
  TC_CHECK_OK(tc_detector_create(&so, &r.det, &err), &err);
  stream_frames(&r);
  if (r.det)
    run_stream(&r);
  TC_CHECK(r.st == TC_OK, "lone stream: %s", r.err.message);
  for (int i = 0; i < FRAMES && r.st == TC_OK; i++) {
    printf("lone stream frame %d: %.1f ms, batch %u\n", i, r.wall_ms[i], r.batch[i]);
    TC_CHECK(r.batch[i] == 1 && r.wall_ms[i] >= 99.0 && r.wall_ms[i] < 2100.0,
             "lone stream frame %d: alone after the 100 ms timeout (%.1f ms, batch %u)", i, r.wall_ms[i], r.batch[i]);
  }
  free_run(&r);
  tc_model_unref(model);
  o = options(NULL);
  o.batch_size = TC_MAX_BATCH + 1;
  TC_CHECK(tc_model_create(&o, &model, &err) == TC_ERR_INVALID_ARGUMENT && strstr(err.message, "batch_size 9"),
           "batch size 9 refused: %s", err.message);
}

/* The caller's reference may go first: the detectors keep the model. */
static void test_lifetime(void)
{
  tc_detector_options o = options(NULL);
  tc_model *model = NULL;
  tc_error err = { 0 };
  if (!TC_CHECK_OK(tc_model_create(&o, &model, &err), &err))
    return;
  tc_detector_options so = options(model);
  tc_detector *det = NULL;
  TC_CHECK_OK(tc_detector_create(&so, &det, &err), &err);
  tc_model_unref(model);
  stream_run r = { .det = det, .stream = 1 };
  stream_frames(&r);
  if (det)
    run_stream(&r);
  TC_CHECK(r.st == TC_OK, "analysis after the caller released the model: %s", r.err.message);
  free_run(&r);
}

static void expect_mismatch(tc_model *model, tc_detector_options *o, const char *what, const char *want)
{
  tc_detector *det = NULL;
  tc_error err = { 0 };
  tc_status st = tc_detector_create(o, &det, &err);
  TC_CHECK(st == TC_ERR_MISMATCH && !det && strstr(err.message, want), "%s: TC_ERR_MISMATCH naming '%s' (%s: %s)",
           what, want, tc_status_name(st), err.message);
  printf("ok %s: %s\n", what, err.message);
  tc_detector_destroy(det);
  TC_CHECK(tc_model_users(model) == 1, "%s: the refused detector holds no reference (%u)", what,
           tc_model_users(model));
}

/* A detector that would load the model otherwise is refused, naming why. */
static void test_mismatches(void)
{
  tc_detector_options o = options(NULL);
  tc_model *model = NULL;
  tc_error err = { 0 };
  if (!TC_CHECK_OK(tc_model_create(&o, &model, &err), &err))
    return;
  tc_detector_options m = options(model);
  tc_params_set(&m.params, TC_PARAM_INPUT_SIZE, 48, NULL);
  expect_mismatch(model, &m, "another input size", "input_size 48");
  m = options(model);
  tc_params_set(&m.params, TC_PARAM_VV_START, 2, NULL); /* the tiny model's default: round(3 / 4) = 1 */
  expect_mismatch(model, &m, "another V-V start", "vv_start 2");
  m = options(model);
  tc_params_set(&m.params, TC_PARAM_INPUT_SIZE, 32, NULL); /* the tiny model's own size, named: fine */
  tc_detector *own = NULL;
  TC_CHECK(tc_detector_create(&m, &own, &err) == TC_OK, "the model's own input size, named: %s", err.message);
  tc_detector_destroy(own);
  m = options(model);
  m.model_path = "/elsewhere/clip.safetensors";
  expect_mismatch(model, &m, "another model file", "/elsewhere/clip.safetensors");
  m = options(model);
  m.device = "1";
  expect_mismatch(model, &m, "another device", "device '1'");
  m = options(model);
  m.model_path = model_path; /* the same file, named again: fine */
  tc_detector *det = NULL;
  TC_CHECK(tc_detector_create(&m, &det, &err) == TC_OK, "the model's own path accepted: %s", err.message);
  tc_detector_destroy(det);
  /* map and head parameters may differ between the detectors of one model */
  m = options(model);
  tc_params_set(&m.params, TC_PARAM_SIGMA, 3, NULL);
  tc_params_set(&m.params, TC_PARAM_TOPK, 2, NULL);
  det = NULL;
  TC_CHECK(tc_detector_create(&m, &det, &err) == TC_OK, "other sigma and topk accepted: %s", err.message);
  tc_detector_destroy(det);
  tc_model_unref(model);
}

/* A runner (async) on a shared model. */
static void test_runner(void)
{
  tc_detector_options o = options(NULL);
  tc_model *model = NULL;
  tc_error err = { 0 };
  if (!TC_CHECK_OK(tc_model_create(&o, &model, &err), &err))
    return;
  tc_detector_options so = options(model);
  tc_runner_options ro;
  tc_runner_options_init(&ro);
  ro.mode = TC_RUNNER_ASYNC;
  tc_runner *r[2] = { NULL, NULL };
  for (int i = 0; i < 2; i++)
    TC_CHECK_OK(tc_runner_create(&so, &ro, &r[i], &err), &err);
  tc_model_unref(model);
  tc_frame f = stream_frame(0);
  uint8_t *px = stream_pixels(0, 0);
  for (int i = 0; i < 2 && r[0] && r[1]; i++) {
    const tc_analysis *latest = NULL;
    TC_CHECK_OK(tc_runner_set_frame(r[i], &f, &err), &err);
    for (int k = 0; k < 3; k++)
      TC_CHECK_OK(tc_runner_submit(r[i], px, f.stride, (uint64_t)k, &latest, &err), &err);
  }
  for (int i = 0; i < 2; i++) {
    if (r[i])
      TC_CHECK_OK(tc_runner_drain(r[i], &err), &err);
    tc_runner_destroy(r[i]);
  }
  free(px);
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL.safetensors\n", argv[0]);
    return 2;
  }
  model_path = argv[1];
  /* the device, checked first (fails under CI=true when there is none) */
  tc_context *ctx = tc_test_context(TC_FAMILY_AUTO);
  float t[Q * 2 * 96];
  tc_test_seed(7);
  tc_test_fill(t, Q * 2 * 96, -1, 1);
  tc_error err = { 0 };
  snprintf(head_path, sizeof head_path, "/tmp/tc-test-shared-%d.safetensors", (int)getpid());
  TC_CHECK_OK(tc_head_file_write(head_path, t, Q, 96, 0, NULL, &err), &err);
  test_shared_equals_separate(1);
  test_shared_equals_separate(STREAMS);
  test_shared_equals_separate(2);
  test_lone_stream();
  test_lifetime();
  test_mismatches();
  test_runner();
  unlink(head_path);
  return tc_test_finish(ctx);
}
