/* The runner (core/detector/tc_runner.h): a detector driven frame by frame.
 *
 *   sync      the analysed frame gets its own map in the same submission, the
 *             frames between get the latest one from the overlay lane, drawn
 *             the same; one callback per analysis, with the frame's timestamp
 *   async     frames are never held; drain waits for the newest one, whose
 *             analysis becomes the latest; a flush discards what came before
 *   params    a refused change keeps what is in effect; alpha 0 leaves frames
 *   warm_up   (test_runner MODEL warm_up, run with a cold shader cache)
 *             every kernel is compiled before the first frame: the first
 *             analysis takes about as long as the next ones
 *
 * usage: test_runner MODEL.safetensors [warm_up]  (the tiny random CLIP) */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "detector/tc_runner.h"
#include "image/tc_frame.h"
#include "tc_head_file.h"
#include "tc_test.h"

#define Q 4

static const char *model_path;
static char head_path[256];

typedef struct {
  pthread_mutex_t lock;
  int calls;
  uint64_t last_timestamp;
} calls;

static void on_analysis(void *user, const tc_analysis *a)
{
  calls *c = user;
  pthread_mutex_lock(&c->lock);
  c->calls++;
  c->last_timestamp = a->timestamp;
  pthread_mutex_unlock(&c->lock);
}

static tc_runner *make(tc_runner_mode mode, uint32_t interval, calls *c)
{
  tc_detector_options o;
  tc_detector_options_init(&o);
  o.model_path = model_path;
  o.head_path = head_path;
  tc_params_set(&o.params, TC_PARAM_INTERVAL, interval, NULL);
  tc_params_set(&o.params, TC_PARAM_SIGMA, 1, NULL);
  tc_runner_options ro;
  tc_runner_options_init(&ro);
  ro.mode = mode;
  ro.on_analysis = on_analysis;
  ro.user = c;
  tc_runner *r = NULL;
  tc_error err = { 0 };
  TC_CHECK_OK(tc_runner_create(&o, &ro, &r, &err), &err);
  return r;
}

static void random_frame(uint8_t *px, size_t n)
{
  for (size_t i = 0; i < n; i++)
    px[i] = (uint8_t)tc_test_uniform(0, 256);
}

/* Interval 2, sync: frame 0 is analysed and blended in one submission; frame
 * 1, the same pixels, gets the map from the overlay lane: the same bytes;
 * so do frames 2 (analysed) and 3 (the lane), another picture. */
static void test_sync(void)
{
  calls c = { PTHREAD_MUTEX_INITIALIZER, 0, 0 };
  tc_runner *r = make(TC_RUNNER_SYNC, 2, &c);
  if (!r)
    return;
  tc_error err = { 0 };
  const tc_frame f = { .format = TC_FRAME_BGRX, .width = 45, .height = 33, .stride = 45 * 4 + 8 }; /* padded rows */
  const size_t bytes = tc_frame_bytes(&f);
  uint8_t *px = malloc(bytes), *a0 = malloc(bytes), *a1 = malloc(bytes);
  random_frame(px, bytes);
  memcpy(a0, px, bytes);
  memcpy(a1, px, bytes);
  const tc_analysis *latest = NULL;
  TC_CHECK(tc_runner_submit(r, a0, f.stride, 7, &latest, &err) == TC_ERR_INVALID_ARGUMENT,
           "a frame before set_frame is refused");
  tc_error_clear(&err);
  if (TC_CHECK_OK(tc_runner_set_frame(r, &f, &err), &err) &&
      TC_CHECK_OK(tc_runner_submit(r, a0, f.stride, 100, &latest, &err), &err)) {
    TC_CHECK(c.calls == 1 && c.last_timestamp == 100, "one callback for frame 0 (%d, timestamp %llu)", c.calls,
             (unsigned long long)c.last_timestamp);
    TC_CHECK(latest && latest->timestamp == 100 && latest->grid == 4, "latest is frame 0's");
    TC_CHECK(memcmp(a0, px, bytes) != 0, "frame 0 got its map");
    if (TC_CHECK_OK(tc_runner_submit(r, a1, f.stride, 200, &latest, &err), &err)) {
      TC_CHECK(c.calls == 1, "frame 1 is not analysed (interval 2): %d callbacks", c.calls);
      TC_CHECK(latest && latest->timestamp == 100, "frame 1 carries frame 0's analysis");
      TC_CHECK(memcmp(a0, a1, bytes) == 0, "the overlay lane draws the map as the analysis blend did");
    }
    /* frame 2, another picture, is analysed again; frame 3, the same picture,
     * gets frame 2's map from the overlay lane, not the one it smoothed for
     * frame 1 (the lane smooths only when the scores change) */
    random_frame(px, bytes);
    memcpy(a0, px, bytes);
    memcpy(a1, px, bytes);
    if (TC_CHECK_OK(tc_runner_submit(r, a0, f.stride, 300, &latest, &err), &err))
      TC_CHECK(c.calls == 2 && latest && latest->timestamp == 300, "frame 2 analysed");
    if (TC_CHECK_OK(tc_runner_submit(r, a1, f.stride, 400, &latest, &err), &err))
      TC_CHECK(memcmp(a0, a1, bytes) == 0, "frame 3 gets frame 2's map, smoothed anew");
  }
  TC_CHECK(tc_runner_drain(r, &err) == TC_OK, "drain in sync mode returns at once");
  TC_CHECK(tc_runner_validation_messages(r) == 0, "validation layer messages");
  tc_runner_destroy(r);
  free(px), free(a0), free(a1);
}

/* Async: frames go straight back; drain waits for the newest frame's
 * analysis; the frames after it carry its map. A flush discards an analysis
 * in flight and forgets the latest. */
static void test_async(void)
{
  calls c = { PTHREAD_MUTEX_INITIALIZER, 0, 0 };
  tc_runner *r = make(TC_RUNNER_ASYNC, 1, &c);
  if (!r)
    return;
  tc_error err = { 0 };
  const tc_frame f = tc_frame_make(TC_FRAME_RGBA, 64, 48);
  const size_t bytes = tc_frame_bytes(&f);
  uint8_t *px = malloc(bytes), *work = malloc(bytes);
  random_frame(px, bytes);
  const tc_analysis *latest = NULL;
  enum { FRAMES = 6 };
  if (TC_CHECK_OK(tc_runner_set_frame(r, &f, &err), &err)) {
    for (int i = 0; i < FRAMES; i++) {
      memcpy(work, px, bytes);
      TC_CHECK_OK(tc_runner_submit(r, work, f.stride, 1000 + i, &latest, &err), &err);
    }
    TC_CHECK_OK(tc_runner_drain(r, &err), &err);
    pthread_mutex_lock(&c.lock);
    TC_CHECK(c.calls >= 1 && c.calls <= FRAMES && c.last_timestamp == 1000 + FRAMES - 1,
             "%d analyses of %d frames, the last one the newest frame's (%llu)", c.calls, FRAMES,
             (unsigned long long)c.last_timestamp);
    pthread_mutex_unlock(&c.lock);
    memcpy(work, px, bytes);
    if (TC_CHECK_OK(tc_runner_submit(r, work, f.stride, 2000, &latest, &err), &err)) {
      TC_CHECK(latest && latest->timestamp == 1000 + FRAMES - 1, "the next frame carries the newest analysis");
      TC_CHECK(memcmp(work, px, bytes) != 0, "and its map");
    }
    TC_CHECK_OK(tc_runner_drain(r, &err), &err);

    /* a flush right after a frame: whatever of it was analysed is dropped */
    pthread_mutex_lock(&c.lock);
    int before = c.calls;
    pthread_mutex_unlock(&c.lock);
    memcpy(work, px, bytes);
    TC_CHECK_OK(tc_runner_submit(r, work, f.stride, 3000, &latest, &err), &err);
    tc_runner_flush(r);
    TC_CHECK_OK(tc_runner_drain(r, &err), &err);
    pthread_mutex_lock(&c.lock);
    TC_CHECK(c.calls == before, "no callback for a frame from before the flush (%d, was %d)", c.calls, before);
    pthread_mutex_unlock(&c.lock);
    memcpy(work, px, bytes);
    /* the frame after the flush is analysed (the interval restarts), but not yet drawn */
    if (TC_CHECK_OK(tc_runner_submit(r, work, f.stride, 4000, &latest, &err), &err))
      TC_CHECK(!latest && memcmp(work, px, bytes) == 0, "after a flush: no latest analysis, nothing drawn");
    TC_CHECK_OK(tc_runner_drain(r, &err), &err);
    pthread_mutex_lock(&c.lock);
    TC_CHECK(c.calls == before + 1 && c.last_timestamp == 4000, "the frame after the flush analysed");
    pthread_mutex_unlock(&c.lock);
  }
  TC_CHECK(tc_runner_validation_messages(r) == 0, "validation layer messages");
  tc_runner_destroy(r);
  free(px), free(work);
}

/* A refused change keeps the parameters in effect; alpha 0 from the next
 * frame on leaves frames as they are. */
static void test_params(void)
{
  calls c = { PTHREAD_MUTEX_INITIALIZER, 0, 0 };
  tc_runner *r = make(TC_RUNNER_SYNC, 1, &c);
  if (!r)
    return;
  tc_error err = { 0 };
  const tc_frame f = tc_frame_make(TC_FRAME_RGBA, 32, 32);
  const size_t bytes = tc_frame_bytes(&f);
  uint8_t *px = malloc(bytes), *work = malloc(bytes);
  random_frame(px, bytes);
  const tc_analysis *latest;
  tc_params p;
  tc_params_init(&p);
  tc_params_set(&p, TC_PARAM_TOPK, Q + 1, NULL);
  TC_CHECK(tc_runner_set_params(r, &p, &err) == TC_ERR_INVALID_ARGUMENT && strstr(err.message, "topk"),
           "topk %d > Q refused: %s", Q + 1, err.message);
  tc_error_clear(&err);
  memcpy(work, px, bytes);
  if (TC_CHECK_OK(tc_runner_set_frame(r, &f, &err), &err) &&
      TC_CHECK_OK(tc_runner_submit(r, work, f.stride, 0, &latest, &err), &err))
    TC_CHECK(memcmp(work, px, bytes) != 0, "after the refusal the previous alpha (0.5) still draws");
  tc_params_init(&p);
  tc_params_set(&p, TC_PARAM_ALPHA, 0, NULL);
  memcpy(work, px, bytes);
  if (TC_CHECK_OK(tc_runner_set_params(r, &p, &err), &err) &&
      TC_CHECK_OK(tc_runner_submit(r, work, f.stride, 1, &latest, &err), &err))
    TC_CHECK(memcmp(work, px, bytes) == 0 && latest && latest->timestamp == 1, "alpha 0: analysed, not drawn");
  tc_params eff;
  tc_runner_params(r, &eff);
  TC_CHECK(eff.alpha == 0 && eff.topk != Q + 1, "tc_runner_params: alpha %g, topk %u in effect", eff.alpha, eff.topk);
  TC_CHECK(tc_runner_set_params(r, NULL, &err) == TC_ERR_INVALID_ARGUMENT && strstr(err.message, "NULL"),
           "NULL params refused: %s", err.message);
  tc_error_clear(&err);
  tc_runner_destroy(r);
  free(px), free(work);
}

/* What a callback that calls back into its runner saw. */
typedef struct {
  tc_runner *r;
  int what; /* 0: drain and set_frame, 1: destroy */
  tc_status drain, set_frame, submit;
  volatile int done;
} reentry;

static void on_analysis_reenter(void *user, const tc_analysis *a)
{
  (void)a;
  reentry *e = user;
  if (e->done)
    return;
  if (e->what == 0) {
    tc_error err = { 0 };
    const tc_frame f = tc_frame_make(TC_FRAME_RGBA, 16, 16);
    uint8_t px[16 * 16 * 4] = { 0 };
    const tc_analysis *latest;
    e->drain = tc_runner_drain(e->r, &err);
    e->set_frame = tc_runner_set_frame(e->r, &f, &err);
    e->submit = tc_runner_submit(e->r, px, f.stride, 0, &latest, &err);
  } else {
    tc_runner_destroy(e->r); /* takes effect when this callback returns */
  }
  e->done = 1;
}

static tc_runner *make_reentrant(tc_runner_mode mode, reentry *e)
{
  tc_detector_options o;
  tc_detector_options_init(&o);
  o.model_path = model_path;
  o.head_path = head_path;
  tc_runner_options ro;
  tc_runner_options_init(&ro);
  ro.mode = mode;
  ro.on_analysis = on_analysis_reenter;
  ro.user = e;
  tc_error err = { 0 };
  e->r = NULL;
  TC_CHECK_OK(tc_runner_create(&o, &ro, &e->r, &err), &err);
  return e->r;
}

/* The callback may not wait for itself: drain, set_frame and submit from it
 * are refused (they used to hang in async mode); destroy from it takes
 * effect when it returns (it used to free the runner under its own thread).
 * Run under scripts/asan.sh, the destroy cases also prove nothing leaks. */
static void test_callback_reentry(void)
{
  const tc_frame f = tc_frame_make(TC_FRAME_RGBA, 40, 30);
  uint8_t *px = calloc(1, tc_frame_bytes(&f));
  for (int mode = 0; mode < 2 && px; mode++) {
    const char *name = mode ? "async" : "sync";
    tc_error err = { 0 };
    const tc_analysis *latest;
    reentry e = { .what = 0 };
    tc_runner *r = make_reentrant(mode ? TC_RUNNER_ASYNC : TC_RUNNER_SYNC, &e);
    if (r && TC_CHECK_OK(tc_runner_set_frame(r, &f, &err), &err) &&
        TC_CHECK_OK(tc_runner_submit(r, px, f.stride, 0, &latest, &err), &err) &&
        TC_CHECK_OK(tc_runner_drain(r, &err), &err))
      TC_CHECK(e.done && e.drain == TC_ERR_INVALID_ARGUMENT && e.set_frame == TC_ERR_INVALID_ARGUMENT &&
                   e.submit == TC_ERR_INVALID_ARGUMENT,
               "%s: drain, set_frame, submit from the callback refused (%s %s %s)", name,
               tc_status_name(e.drain), tc_status_name(e.set_frame), tc_status_name(e.submit));
    tc_runner_destroy(r);

    reentry d = { .what = 1 };
    r = make_reentrant(mode ? TC_RUNNER_ASYNC : TC_RUNNER_SYNC, &d);
    if (r && TC_CHECK_OK(tc_runner_set_frame(r, &f, &err), &err)) {
      tc_status st = tc_runner_submit(r, px, f.stride, 0, &latest, &err);
      /* sync: the runner is gone when submit returns; async: when the callback returns */
      for (int i = 0; i < 3000 && !d.done; i++)
        usleep(1000);
      TC_CHECK(st == TC_OK && d.done, "%s: destroy from the callback: submit %s, callback %s", name,
               tc_status_name(st), d.done ? "ran" : "did not run");
      if (mode == 1)
        usleep(100000); /* the runner's thread frees it after the callback */
    }
  }
  free(px);
}

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* With a cold shader cache (MESA_SHADER_CACHE_DISABLE=true), lavapipe
 * compiles each kernel at its first dispatch. The runner compiles them all
 * at creation and set_frame: the first analysis then takes about as long as
 * the next ones (at most 3 times their median plus 25 ms of scheduling
 * noise), and the compiling visibly happened before it (creation and
 * set_frame took at least 5 times the first analysis). */
static void test_warm_up(void)
{
  calls c = { PTHREAD_MUTEX_INITIALIZER, 0, 0 };
  double t0 = now_ms();
  tc_runner *r = make(TC_RUNNER_SYNC, 1, &c);
  if (!r)
    return;
  tc_error err = { 0 };
  const tc_frame f = tc_frame_make(TC_FRAME_RGBA, 160, 120);
  const size_t bytes = tc_frame_bytes(&f);
  uint8_t *px = malloc(bytes);
  const tc_analysis *latest;
  double ms[6];
  int n = 0;
  if (TC_CHECK_OK(tc_runner_set_frame(r, &f, &err), &err)) {
    double ready = now_ms() - t0;
    for (; n < 6; n++) {
      random_frame(px, bytes);
      if (!TC_CHECK_OK(tc_runner_submit(r, px, f.stride, n, &latest, &err), &err))
        break;
      ms[n] = latest->inference_ms;
    }
    if (n == 6) {
      double first = ms[0];
      qsort(ms + 1, 5, sizeof ms[0], cmp_double);
      double median = ms[3];
      printf("warm-up: creation + set_frame %.0f ms, first analysis %.1f ms, median of the next five %.1f ms\n",
             ready, first, median);
      TC_CHECK(first <= 3 * median + 25, "the first analysis (%.1f ms) compiled kernels: the next take %.1f ms",
               first, median);
      TC_CHECK(ready >= 5 * first, "creation and set_frame (%.0f ms) did the compiling, not the first frame (%.1f ms)",
               ready, first);
    }
  }
  tc_runner_destroy(r);
  free(px);
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL.safetensors [warm_up]\n", argv[0]);
    return 2;
  }
  model_path = argv[1];
  tc_context *probe = tc_test_context(TC_FAMILY_AUTO); /* skips or fails without a device */
  snprintf(head_path, sizeof head_path, "/tmp/tc-test-runner-%d.safetensors", (int)getpid());
  float t[Q * 2 * 96];
  tc_test_seed(5);
  tc_test_fill(t, Q * 2 * 96, -1, 1);
  tc_error err = { 0 };
  TC_CHECK_OK(tc_head_file_write(head_path, t, Q, 96, 0, NULL, &err), &err);
  if (argc > 2 && strcmp(argv[2], "warm_up") == 0) {
    test_warm_up();
  } else {
    test_sync();
    test_async();
    test_params();
    test_callback_reentry();
  }
  unlink(head_path);
  return tc_test_finish(probe);
}
