/* tokenclip-scores: a small application on libtokenclip's public API, the
 * installed header alone:
 *
 *   cc tokenclip-scores.c $(pkg-config --cflags --libs tokenclip) -o tokenclip-scores
 *
 *   tokenclip-scores MODEL HEAD [FRAMES]             a moving test pattern (10 frames)
 *   tokenclip-scores MODEL HEAD WIDTHxHEIGHT FILE    raw RGBA frames, "-" for stdin, e.g.
 *       ffmpeg -i in.mp4 -f rawvideo -pix_fmt rgba - | tokenclip-scores clip.safetensors head.safetensors 640x480 -
 *
 * The frames go through a runner in async mode, as a live source would feed
 * it (video never waits; the newest frame is analysed on the runner's
 * thread). Each analysis prints a line (image score, anomalous, time) and
 * its regions; the exit status is non-zero unless a frame was analysed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokenclip/tokenclip.h>

static int analysed;

/* On the runner's thread, once per analysis. */
static void on_analysis(void *user, const tc_analysis *a)
{
  (void)user;
  printf("frame at %.3f s: image score %.3f%s (%.1f ms), %u region(s)\n", a->timestamp / 1e9, a->image_score,
         a->anomalous ? "  ANOMALOUS" : "", a->inference_ms, a->regions);
  for (uint32_t i = 0; i < a->n_regions; i++) {
    const tc_region *r = &a->region[i];
    printf("  region %ux%u at (%u,%u), max score %.3f, %u cells\n", r->w, r->h, r->x, r->y, r->max_score, r->cells);
  }
  analysed++;
}

/* A gradient drifting to the right with a red disc in the middle. */
static void test_pattern(uint8_t *px, uint32_t w, uint32_t h, int t)
{
  for (uint32_t y = 0; y < h; y++)
    for (uint32_t x = 0; x < w; x++) {
      uint8_t *p = px + 4 * ((size_t)y * w + x);
      int dx = (int)x - (int)w / 2, dy = (int)y - (int)h / 2, disc = dx * dx + dy * dy < (int)(h * h / 36);
      p[0] = disc ? 230 : (uint8_t)((x + 4 * t) * 255 / w);
      p[1] = disc ? 30 : (uint8_t)(y * 255 / h);
      p[2] = disc ? 30 : 128;
      p[3] = 255;
    }
}

int main(int argc, char **argv)
{
  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL HEAD [FRAMES]\n       %s MODEL HEAD WIDTHxHEIGHT FILE|-\n", argv[0], argv[0]);
    return 2;
  }
  uint32_t w = 320, h = 240;
  int frames = 10;
  FILE *in = NULL;
  if (argc > 4) {
    if (sscanf(argv[3], "%ux%u", &w, &h) != 2 || !w || !h) {
      fprintf(stderr, "%s: a frame size WIDTHxHEIGHT, not \"%s\"\n", argv[0], argv[3]);
      return 2;
    }
    in = strcmp(argv[4], "-") == 0 ? stdin : fopen(argv[4], "rb");
    if (!in) {
      perror(argv[4]);
      return 1;
    }
  } else if (argc > 3) {
    char *end;
    long n = strtol(argv[3], &end, 10);
    if (strchr(argv[3], 'x')) {
      fprintf(stderr, "%s: a frame size %s needs a FILE of raw RGBA frames after it (\"-\" for stdin)\n", argv[0],
              argv[3]);
      return 2;
    }
    if (*end || n < 1 || n > 1000000) {
      fprintf(stderr, "%s: FRAMES is a number of frames from 1, not \"%s\"\n", argv[0], argv[3]);
      return 2;
    }
    frames = (int)n;
  }

  tc_detector_options opts;
  tc_detector_options_init(&opts);
  opts.model_path = argv[1];
  opts.head_path = argv[2];
  tc_params_set(&opts.params, TC_PARAM_THRESHOLD, 0.6, NULL);
  tc_runner_options ropts;
  tc_runner_options_init(&ropts);
  ropts.mode = TC_RUNNER_ASYNC;
  ropts.on_analysis = on_analysis;

  tc_error err = { 0 };
  tc_runner *runner = NULL;
  const tc_frame frame = tc_frame_make(TC_FRAME_RGBA, w, h);
  uint8_t *px = malloc((size_t)frame.stride * h);
  tc_status st = px ? TC_OK : TC_ERR_OUT_OF_MEMORY;
  if (st == TC_OK)
    st = tc_runner_create(&opts, &ropts, &runner, &err);
  if (st == TC_OK) {
    const tc_detector *det = tc_runner_detector(runner);
    printf("%s: %ux%u input, %ux%u tokens, %u subspaces\n", tc_detector_device_name(det),
           tc_detector_input_size(det), tc_detector_input_size(det), tc_detector_grid(det), tc_detector_grid(det),
           tc_detector_subspaces(det));
    st = tc_runner_set_frame(runner, &frame, &err);
  }
  for (int t = 0; st == TC_OK && (in || t < frames); t++) {
    if (in && fread(px, frame.stride, h, in) != h)
      break;
    if (!in)
      test_pattern(px, w, h, t);
    const tc_analysis *latest; /* its map is now blended into px */
    st = tc_runner_submit(runner, px, frame.stride, (uint64_t)t * 1000000000 / 30, &latest, &err);
  }
  if (st == TC_OK)
    st = tc_runner_drain(runner, &err); /* the last frame's analysis */
  if (st != TC_OK)
    fprintf(stderr, "%s: %s\n", argv[0], err.status ? err.message : tc_status_name(st));
  tc_runner_destroy(runner);
  free(px);
  if (in && in != stdin)
    fclose(in);
  printf("%d frames analysed\n", analysed);
  return st != TC_OK ? 1 : analysed > 0 ? 0 : 1;
}
