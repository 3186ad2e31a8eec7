/* The runner: a detector driven frame by frame, sync or async (tc_runner.h). */
#include "tc_runner.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "map/tc_map.h"
#include "tc_detector.h"
#include "tc_params.h"

/* The map of the latest scores blended into frames, on a context of its own. */
typedef struct overlay_lane {
  tc_context *ctx;
  tc_frame_slot slot;
  tc_buffer *scores;
  tc_map *map;
  tc_cmd *cmd;       /* smoothing and blend: the frames after a new analysis */
  tc_cmd *blend_cmd; /* the blend alone: the map smoothed before, over the frames after those */
  tc_cmd *copy_cmd;  /* device frames: the caller's buffers to the slot and back */
  bool recorded;
  bool smoothed;     /* the map holds the smoothing of `scores` (scores_seq) */
  tc_params params;    /* its map was made with these */
  uint64_t scores_seq; /* the analysis whose scores are in `scores` */
} overlay_lane;

/* An analysis with scores of its own. */
typedef struct kept_analysis {
  tc_analysis a;
  float *scores;
  uint64_t seq; /* 0: none */
} kept_analysis;

struct tc_runner {
  tc_detector *det;
  tc_runner_mode mode;
  tc_analysis_fn on_analysis;
  void *user;
  tc_status (*submit)(tc_runner *r, void *pixels, size_t stride, uint64_t timestamp, tc_error *err);

  /* the submitting thread's own */
  overlay_lane overlay;
  bool in_callback; /* in on_analysis, called from submit (sync) */
  tc_params stream_params; /* a copy of params, seq stream_seq */
  uint64_t stream_seq;
  uint64_t frame_count;
  kept_analysis view; /* a copy of latest */

  /* the detector's parameters and layout: set_params (any thread) reads
   * them while apply_params and set_frame write them */
  pthread_mutex_t det_lock;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  /* under lock */
  tc_params user_params, params; /* the caller's, and the values in effect */
  uint64_t params_seq, det_params_seq; /* the latter: applied to the detector */
  kept_analysis latest;
  uint64_t next_seq;
  uint32_t generation;
  bool have_thread, pending, busy, stop, failed;
  /* tc_runner_destroy from on_analysis: the runner is freed by whoever is
   * last out of it, the runner's thread or a call in progress */
  bool destroy_requested, thread_done;
  uint32_t calls; /* API calls in progress */
  int pending_slot, busy_slot;
  uint64_t pending_timestamp;
  uint32_t pending_generation;
  tc_error error; /* why the runner's thread stopped */
  pthread_t thread;
};

static void runner_free(tc_runner *r);

void tc_runner_options_init(tc_runner_options *o) { *o = (tc_runner_options){ .mode = TC_RUNNER_SYNC }; }

/* Whether this call comes from on_analysis: on the runner's thread (async),
 * or inside submit (sync). */
static bool in_callback(const tc_runner *r)
{
  return r->in_callback || (r->have_thread && pthread_equal(pthread_self(), r->thread));
}

static tc_status refuse_in_callback(const char *what, tc_error *err)
{
  return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s from the on_analysis callback: it would wait for the "
                      "callback itself", what);
}

/* Every API call but destroy is inside enter() and leave(), so that a
 * destroy from the callback frees the runner only when no call is in it. */
static bool enter(tc_runner *r)
{
  pthread_mutex_lock(&r->lock);
  const bool ok = !r->destroy_requested;
  r->calls += ok;
  pthread_mutex_unlock(&r->lock);
  return ok;
}

/* true when it freed the runner */
static bool leave(tc_runner *r)
{
  pthread_mutex_lock(&r->lock);
  const bool free_now = --r->calls == 0 && r->destroy_requested && r->thread_done;
  pthread_mutex_unlock(&r->lock);
  if (free_now)
    runner_free(r);
  return free_now;
}

static tc_status destroyed(const char *what, tc_error *err)
{
  return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: the runner was destroyed by its callback", what);
}

/* on_analysis on the submitting thread (sync) */
static void call_back(tc_runner *r, const tc_analysis *a)
{
  if (!r->on_analysis)
    return;
  r->in_callback = true;
  r->on_analysis(r->user, a);
  r->in_callback = false;
}
const tc_detector *tc_runner_detector(const tc_runner *r) { return r->det; }

uint32_t tc_runner_validation_messages(const tc_runner *r)
{
  return tc_detector_validation_messages(r->det) + tc_context_validation_messages(r->overlay.ctx);
}

/* ---- the overlay lane ---- */

static void overlay_drop(overlay_lane *o)
{
  tc_frame_slot_destroy(&o->slot);
  tc_map_destroy(o->map);
  o->map = NULL;
  o->recorded = false;
}

static tc_status overlay_record(overlay_lane *o, tc_error *err)
{
  tc_status st = tc_cmd_begin(o->cmd, err);
  if (st == TC_OK)
    st = tc_map_record(o->map, o->cmd, o->scores, 0, o->slot.buf, err);
  if (st == TC_OK)
    st = tc_cmd_end(o->cmd, err);
  if (st == TC_OK)
    st = tc_cmd_begin(o->blend_cmd, err);
  if (st == TC_OK)
    st = tc_map_record_blend(o->map, o->blend_cmd, o->slot.buf, err);
  if (st == TC_OK)
    st = tc_cmd_end(o->blend_cmd, err);
  o->recorded = st == TC_OK;
  o->smoothed = false; /* a new map: smoothed at the next frame */
  return st;
}

/* Buffers and map for this layout, and one run on the zero frame and scores
 * (the map's kernels depend on the layout: compiled now, not at a frame). */
static tc_status overlay_prepare(overlay_lane *o, const tc_frame *frame, const tc_params *p, const tc_detector *det,
                                 tc_error *err)
{
  overlay_drop(o);
  tc_map_params mp;
  tc_detector_map_params(det, p, frame, &mp);
  mp.keep_map = 0;
  o->params = *p;
  tc_status st = tc_frame_slot_create(o->ctx, frame, &o->slot, err);
  if (st == TC_OK)
    st = tc_map_create(o->ctx, frame, &mp, &o->map, err);
  if (st == TC_OK)
    st = overlay_record(o, err);
  if (st == TC_OK)
    st = tc_cmd_run(o->cmd, err);
  if (st != TC_OK)
    overlay_drop(o);
  return st;
}

/* A map change (colours, blur, alpha, ...) rebuilds the map. */
static tc_status overlay_follow(overlay_lane *o, const tc_params *p, const tc_detector *det, tc_error *err)
{
  if (!o->map || !(tc_params_diff(&o->params, p) & tc_params_map_fields()))
    return TC_OK;
  tc_map_params mp;
  tc_detector_map_params(det, p, &o->slot.frame, &mp);
  mp.keep_map = 0;
  tc_map *map = NULL;
  tc_status st = tc_map_create(o->ctx, &o->slot.frame, &mp, &map, err);
  if (st != TC_OK)
    return st;
  tc_map_destroy(o->map);
  o->map = map;
  o->params = *p;
  o->recorded = false;
  return TC_OK;
}

/* The lane's scores are the analysis' (a new analysis is smoothed again) and
 * its commands recorded. */
static tc_status overlay_take_scores(overlay_lane *o, const kept_analysis *k, tc_error *err)
{
  tc_status st = TC_OK;
  if (o->scores_seq != k->seq) {
    st = tc_buffer_upload(o->scores, 0, k->scores, (size_t)k->a.grid * k->a.grid * sizeof(float), err);
    o->scores_seq = st == TC_OK ? k->seq : 0;
    o->smoothed = false;
  }
  if (st == TC_OK && !o->recorded)
    st = overlay_record(o, err);
  return st;
}

static tc_status overlay_draw(overlay_lane *o, const kept_analysis *k, void *pixels, size_t stride, tc_error *err)
{
  if (!k->seq || o->params.alpha <= 0)
    return TC_OK; /* nothing to draw */
  tc_status st = overlay_take_scores(o, k, err);
  tc_frame_slot_write(&o->slot, pixels, stride);
  if (st == TC_OK)
    st = tc_frame_slot_to_device(&o->slot, err);
  /* the smoothing (upsampling and blur to frame size) only when the scores or the map changed */
  if (st == TC_OK)
    st = tc_cmd_run(o->smoothed ? o->blend_cmd : o->cmd, err);
  o->smoothed = st == TC_OK;
  if (st == TC_OK)
    st = tc_frame_slot_from_device(&o->slot, err);
  if (st == TC_OK)
    tc_frame_slot_read(&o->slot, pixels, stride);
  return st;
}

/* The same for a frame in the caller's device buffers: copied on the device
 * into the lane's slot and back (the lane shares the caller's device). */
static tc_status overlay_draw_device(overlay_lane *o, const kept_analysis *k, tc_device_plane *planes,
                                     tc_error *err)
{
  if (!k->seq || o->params.alpha <= 0)
    return TC_OK;
  tc_status st = overlay_take_scores(o, k, err);
  if (st == TC_OK && !o->copy_cmd)
    st = tc_cmd_create(o->ctx, &o->copy_cmd, err);
  if (st == TC_OK)
    st = tc_frame_slot_copy_planes(&o->slot, o->copy_cmd, planes, 1, err);
  if (st == TC_OK)
    st = tc_cmd_run(o->smoothed ? o->blend_cmd : o->cmd, err);
  o->smoothed = st == TC_OK;
  if (st == TC_OK)
    st = tc_frame_slot_copy_planes(&o->slot, o->copy_cmd, planes, 0, err);
  return st;
}

/* ---- analyses: the latest, and the submitting thread's copy ---- */

static void keep(kept_analysis *k, const tc_analysis *a, uint64_t seq)
{
  k->a = *a;
  memcpy(k->scores, a->scores, (size_t)a->grid * a->grid * sizeof(float));
  k->a.scores = k->scores;
  k->seq = seq;
}

/* Lock held: a finished analysis of a frame of generation `generation`
 * becomes the latest, unless a flush came since. */
static bool publish_locked(tc_runner *r, const tc_analysis *a, uint32_t generation)
{
  if (generation != r->generation)
    return false;
  keep(&r->latest, a, ++r->next_seq);
  return true;
}

/* Lock held: the submitting thread's copies of the latest and the parameters. */
static void refresh_locked(tc_runner *r)
{
  if (r->view.seq != r->latest.seq) {
    if (r->latest.seq)
      keep(&r->view, &r->latest.a, r->latest.seq);
    else
      r->view.seq = 0;
  }
  if (r->stream_seq != r->params_seq) {
    r->stream_params = r->params;
    r->stream_seq = r->params_seq;
  }
}

/* Whoever uses the detector next applies a parameter change first. */
static tc_status apply_params(tc_runner *r, tc_error *err)
{
  pthread_mutex_lock(&r->lock);
  uint64_t seq = r->params_seq;
  tc_params user = r->user_params;
  pthread_mutex_unlock(&r->lock);
  if (seq == r->det_params_seq)
    return TC_OK;
  pthread_mutex_lock(&r->det_lock);
  tc_status st = tc_detector_set_params(r->det, &user, err);
  pthread_mutex_unlock(&r->det_lock);
  if (st == TC_OK)
    r->det_params_seq = seq;
  return st;
}

static bool analyse_this_frame(tc_runner *r)
{
  return r->frame_count++ % r->stream_params.interval == 0;
}

/* ---- sync: the frame is analysed (and blended) here ---- */

static tc_status submit_sync(tc_runner *r, void *pixels, size_t stride, uint64_t timestamp, tc_error *err)
{
  pthread_mutex_lock(&r->lock);
  uint32_t generation = r->generation;
  pthread_mutex_unlock(&r->lock);
  if (!analyse_this_frame(r))
    return overlay_draw(&r->overlay, &r->view, pixels, stride, err);
  tc_analysis a;
  tc_status st = apply_params(r, err);
  if (st == TC_OK)
    st = tc_detector_analyse(r->det, pixels, stride, 1, &a, err);
  if (st != TC_OK)
    return st;
  a.timestamp = timestamp;
  pthread_mutex_lock(&r->lock);
  publish_locked(r, &a, generation);
  refresh_locked(r);
  pthread_mutex_unlock(&r->lock);
  call_back(r, &a);
  return TC_OK;
}

/* ---- async: the frame waits in the pending slot for the runner's thread ---- */

static void *analysis_thread(void *data)
{
  tc_runner *r = data;
  pthread_mutex_lock(&r->lock);
  while (!r->stop) {
    if (!r->pending) {
      pthread_cond_wait(&r->cond, &r->lock);
      continue;
    }
    const int slot = r->pending_slot;
    const uint64_t timestamp = r->pending_timestamp;
    const uint32_t generation = r->pending_generation;
    r->pending = false;
    r->busy = true;
    r->busy_slot = slot;
    pthread_mutex_unlock(&r->lock);

    tc_error err = { 0 };
    tc_analysis a;
    tc_status st = apply_params(r, &err);
    if (st == TC_OK)
      st = tc_detector_analyse_slot(r->det, slot, &a, &err);
    a.timestamp = timestamp;

    pthread_mutex_lock(&r->lock);
    bool kept = st == TC_OK && publish_locked(r, &a, generation);
    if (st != TC_OK) {
      /* submit and drain report it, from the submitting thread */
      r->error = err;
      r->failed = true;
    }
    pthread_mutex_unlock(&r->lock);
    /* still busy: the detector (and a.scores) stay as they are meanwhile */
    if (kept && r->on_analysis)
      r->on_analysis(r->user, &a);
    pthread_mutex_lock(&r->lock);
    r->busy = false;
    pthread_cond_broadcast(&r->cond);
    if (r->failed)
      break;
  }
  r->thread_done = true;
  const bool self_destroy = r->destroy_requested, free_now = self_destroy && r->calls == 0;
  pthread_mutex_unlock(&r->lock);
  if (self_destroy) /* the callback destroyed the runner: nobody joins this thread */
    pthread_detach(pthread_self());
  if (free_now)
    runner_free(r);
  return NULL;
}

static tc_status failed_locked(tc_runner *r, tc_error *err)
{
  if (err && err->status == TC_OK)
    *err = r->error;
  return r->error.status;
}

static tc_status submit_async(tc_runner *r, void *pixels, size_t stride, uint64_t timestamp, tc_error *err)
{
  pthread_mutex_lock(&r->lock);
  if (r->failed) {
    tc_status st = failed_locked(r, err);
    pthread_mutex_unlock(&r->lock);
    return st;
  }
  if (analyse_this_frame(r)) {
    /* the slot the runner's thread is not reading; a frame still waiting is replaced */
    int slot = r->busy ? 1 - r->busy_slot : r->pending ? r->pending_slot : 0;
    tc_frame_slot_write(tc_detector_slot(r->det, slot), pixels, stride);
    r->pending = true;
    r->pending_slot = slot;
    r->pending_timestamp = timestamp;
    r->pending_generation = r->generation;
    pthread_cond_broadcast(&r->cond);
  }
  pthread_mutex_unlock(&r->lock);
  return overlay_draw(&r->overlay, &r->view, pixels, stride, err);
}

/* ---- the API ---- */

static tc_status kept_alloc(kept_analysis *k, uint32_t grid, tc_error *err)
{
  if (!(k->scores = calloc((size_t)grid * grid, sizeof(float))))
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  return TC_OK;
}

tc_status tc_runner_create(const tc_detector_options *dopts, const tc_runner_options *o, tc_runner **out,
                           tc_error *err)
{
  TC_REQUIRE(dopts, err);
  TC_REQUIRE(o, err);
  TC_REQUIRE(out, err);
  *out = NULL;
  tc_runner *r = calloc(1, sizeof *r);
  if (!r)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  pthread_mutex_init(&r->det_lock, NULL);
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->cond, NULL);
  r->mode = o->mode;
  r->on_analysis = o->on_analysis;
  r->user = o->user;
  r->submit = o->mode == TC_RUNNER_ASYNC ? submit_async : submit_sync;

  tc_detector_options d = *dopts;
  d.warm_up = 1;
  tc_status st = o->mode == TC_RUNNER_SYNC || o->mode == TC_RUNNER_ASYNC
                     ? TC_OK
                     : tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "unknown runner mode %d", (int)o->mode);
  /* async needs a queue the overlay never shares with an analysis; on the
   * caller's device (GStreamer's has one queue) it would wait behind one */
  if (st == TC_OK && o->mode == TC_RUNNER_ASYNC && dopts->vulkan_device)
    st = tc_error_set(err, TC_ERR_UNSUPPORTED, "on the caller's Vulkan device the runner works in sync mode only: "
                      "async needs a queue of its own for the overlay");
  if (st == TC_OK)
    st = tc_detector_create(&d, &r->det, err);
  /* The overlay lane gets a device (and so a queue) of its own on the same
   * physical device: a queue runs its submissions in order, and lavapipe
   * has one queue per device, so on a shared queue an overlay would wait
   * for the analysis submitted before it, the very wait async mode avoids. */
  tc_context_options copts;
  tc_context_options_init(&copts);
  copts.device = r->det ? tc_detector_device_option(r->det) : NULL;
  copts.borrowed = dopts->vulkan_device; /* frames in the caller's buffers: the overlay on that device too */
  if (st == TC_OK)
    st = tc_context_create(&copts, &r->overlay.ctx, err);
  const uint32_t grid = st == TC_OK ? tc_detector_grid(r->det) : 0;
  if (st == TC_OK)
    st = tc_buffer_create(r->overlay.ctx, (size_t)grid * grid * sizeof(float), &r->overlay.scores, err);
  if (st == TC_OK)
    st = tc_cmd_create(r->overlay.ctx, &r->overlay.cmd, err);
  if (st == TC_OK)
    st = tc_cmd_create(r->overlay.ctx, &r->overlay.blend_cmd, err);
  if (st == TC_OK)
    st = kept_alloc(&r->latest, grid, err);
  if (st == TC_OK)
    st = kept_alloc(&r->view, grid, err);
  /* zero scores for the warm-up run at each new layout (overlay_prepare), not
   * whatever the new memory held */
  if (st == TC_OK)
    st = tc_buffer_upload(r->overlay.scores, 0, r->latest.scores, (size_t)grid * grid * sizeof(float), err);
  if (st == TC_OK) {
    r->user_params = dopts->params;
    tc_detector_params(r->det, &r->params);
    r->stream_params = r->params;
  }
  if (st == TC_OK && o->mode == TC_RUNNER_ASYNC) {
    if (pthread_create(&r->thread, NULL, analysis_thread, r) != 0)
      st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "cannot start the analysis thread");
    r->have_thread = st == TC_OK;
  }
  r->thread_done = !r->have_thread;
  if (st != TC_OK) {
    tc_runner_destroy(r);
    return st;
  }
  *out = r;
  return TC_OK;
}

static void runner_free(tc_runner *r)
{
  overlay_drop(&r->overlay);
  tc_cmd_destroy(r->overlay.cmd);
  tc_cmd_destroy(r->overlay.blend_cmd);
  tc_cmd_destroy(r->overlay.copy_cmd);
  tc_buffer_destroy(r->overlay.scores);
  tc_context_destroy(r->overlay.ctx);
  tc_detector_destroy(r->det);
  free(r->latest.scores);
  free(r->view.scores);
  pthread_cond_destroy(&r->cond);
  pthread_mutex_destroy(&r->lock);
  pthread_mutex_destroy(&r->det_lock);
  free(r);
}

void tc_runner_destroy(tc_runner *r)
{
  if (!r)
    return;
  pthread_mutex_lock(&r->lock);
  r->stop = true;
  r->destroy_requested = in_callback(r); /* then freed after the callback, see leave() */
  pthread_cond_broadcast(&r->cond);
  pthread_mutex_unlock(&r->lock);
  if (r->destroy_requested)
    return;
  if (r->have_thread)
    pthread_join(r->thread, NULL);
  runner_free(r);
}

void tc_runner_params(const tc_runner *r, tc_params *effective)
{
  pthread_mutex_lock((pthread_mutex_t *)&r->lock);
  *effective = r->params;
  pthread_mutex_unlock((pthread_mutex_t *)&r->lock);
}

static tc_status runner_set_params_impl(tc_runner *r, const tc_params *user, tc_error *err)
{
  tc_params eff;
  pthread_mutex_lock(&r->det_lock);
  tc_status st = tc_detector_merge_params(r->det, user, &eff, err);
  pthread_mutex_unlock(&r->det_lock);
  if (st != TC_OK)
    return st;
  pthread_mutex_lock(&r->lock);
  r->user_params = *user;
  r->params = eff;
  r->params_seq++;
  pthread_mutex_unlock(&r->lock);
  return TC_OK;
}

static tc_status runner_set_frame_impl(tc_runner *r, const tc_frame *frame, tc_error *err)
{
  if (in_callback(r))
    return refuse_in_callback("tc_runner_set_frame", err);
  /* the analysis lane comes back: a frame still waiting has the old layout */
  pthread_mutex_lock(&r->lock);
  while (r->busy)
    pthread_cond_wait(&r->cond, &r->lock);
  r->pending = false;
  refresh_locked(r);
  pthread_mutex_unlock(&r->lock);
  tc_status st = apply_params(r, err);
  if (st == TC_OK) {
    pthread_mutex_lock(&r->det_lock);
    st = tc_detector_set_frame(r->det, frame, err);
    pthread_mutex_unlock(&r->det_lock);
  }
  if (st == TC_OK)
    st = overlay_prepare(&r->overlay, frame, &r->stream_params, r->det, err);
  return st;
}

static tc_status runner_submit_impl(tc_runner *r, void *pixels, size_t stride, uint64_t timestamp, const tc_analysis **latest,
                           tc_error *err)
{
  *latest = NULL;
  if (in_callback(r))
    return refuse_in_callback("tc_runner_submit", err);
  const tc_frame *f = tc_detector_frame(r->det);
  if (!f || !r->overlay.map)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "no frame layout: call tc_runner_set_frame first");
  tc_status sst = tc_frame_check_host_stride(f, stride, err);
  if (sst != TC_OK)
    return sst;
  pthread_mutex_lock(&r->lock);
  refresh_locked(r);
  pthread_mutex_unlock(&r->lock);
  tc_status st = overlay_follow(&r->overlay, &r->stream_params, r->det, err);
  if (st == TC_OK)
    st = r->submit(r, pixels, stride, timestamp, err);
  *latest = r->view.seq ? &r->view.a : NULL;
  return st;
}

static tc_status runner_submit_device_impl(tc_runner *r, tc_device_plane *planes, uint32_t n_planes, uint64_t timestamp,
                                  const tc_analysis **latest, tc_error *err)
{
  *latest = NULL;
  if (in_callback(r))
    return refuse_in_callback("tc_runner_submit_device", err);
  if (!r->overlay.map)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "no frame layout: call tc_runner_set_frame first");
  if (!tc_context_is_borrowed(r->overlay.ctx))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "device frames need a runner on the caller's Vulkan device "
                        "(tc_detector_options.vulkan_device)");
  tc_status st = tc_frame_slot_check_planes(&r->overlay.slot, planes, n_planes, err);
  if (st != TC_OK)
    return st;
  pthread_mutex_lock(&r->lock);
  uint32_t generation = r->generation;
  refresh_locked(r);
  pthread_mutex_unlock(&r->lock);
  st = overlay_follow(&r->overlay, &r->stream_params, r->det, err);
  if (st == TC_OK && !analyse_this_frame(r)) {
    st = overlay_draw_device(&r->overlay, &r->view, planes, err);
  } else if (st == TC_OK) {
    /* sync (the only mode here): analysed and blended in the call */
    tc_analysis a;
    st = apply_params(r, err);
    if (st == TC_OK)
      st = tc_detector_analyse_device(r->det, planes, n_planes, 1, &a, err);
    if (st == TC_OK) {
      a.timestamp = timestamp;
      pthread_mutex_lock(&r->lock);
      publish_locked(r, &a, generation);
      refresh_locked(r);
      pthread_mutex_unlock(&r->lock);
      call_back(r, &a);
    }
  }
  *latest = r->view.seq ? &r->view.a : NULL;
  return st;
}

static void runner_flush_impl(tc_runner *r)
{
  if (in_callback(r)) /* from the callback it would reset the submitting thread's count under it */
    return;
  pthread_mutex_lock(&r->lock);
  r->pending = false;
  r->generation++;
  r->latest.seq = 0;
  refresh_locked(r);
  pthread_mutex_unlock(&r->lock);
  r->frame_count = 0;
}

static tc_status runner_drain_impl(tc_runner *r, tc_error *err)
{
  if (in_callback(r))
    return refuse_in_callback("tc_runner_drain", err);
  pthread_mutex_lock(&r->lock);
  while ((r->pending || r->busy) && !r->failed && r->have_thread)
    pthread_cond_wait(&r->cond, &r->lock);
  tc_status st = r->failed ? failed_locked(r, err) : TC_OK;
  pthread_mutex_unlock(&r->lock);
  return st;
}

/* ---- the API: each call inside enter() and leave() ---- */

tc_status tc_runner_set_params(tc_runner *r, const tc_params *user, tc_error *err)
{
  TC_REQUIRE(r, err);
  TC_REQUIRE(user, err);
  if (!enter(r))
    return destroyed(__func__, err);
  tc_status st = runner_set_params_impl(r, user, err);
  leave(r);
  return st;
}

tc_status tc_runner_set_frame(tc_runner *r, const tc_frame *frame, tc_error *err)
{
  TC_REQUIRE(r, err);
  TC_REQUIRE(frame, err);
  if (!enter(r))
    return destroyed(__func__, err);
  tc_status st = runner_set_frame_impl(r, frame, err);
  leave(r);
  return st;
}

tc_status tc_runner_submit(tc_runner *r, void *pixels, size_t stride, uint64_t timestamp, const tc_analysis **latest,
                           tc_error *err)
{
  TC_REQUIRE(r, err);
  TC_REQUIRE(pixels, err);
  TC_REQUIRE(latest, err);
  if (!enter(r))
    return destroyed(__func__, err);
  tc_status st = runner_submit_impl(r, pixels, stride, timestamp, latest, err);
  if (leave(r))
    *latest = NULL; /* it pointed into the runner */
  return st;
}

tc_status tc_runner_submit_device(tc_runner *r, tc_device_plane *planes, uint32_t n_planes, uint64_t timestamp,
                                  const tc_analysis **latest, tc_error *err)
{
  TC_REQUIRE(r, err);
  TC_REQUIRE(planes, err);
  TC_REQUIRE(latest, err);
  if (!enter(r))
    return destroyed(__func__, err);
  tc_status st = runner_submit_device_impl(r, planes, n_planes, timestamp, latest, err);
  if (leave(r))
    *latest = NULL;
  return st;
}

void tc_runner_flush(tc_runner *r)
{
  if (!r || !enter(r))
    return;
  runner_flush_impl(r);
  leave(r);
}

tc_status tc_runner_drain(tc_runner *r, tc_error *err)
{
  TC_REQUIRE(r, err);
  if (!enter(r))
    return destroyed(__func__, err);
  tc_status st = runner_drain_impl(r, err);
  leave(r);
  return st;
}
