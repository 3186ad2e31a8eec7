/* tokenclip-eval: the papers' metrics of a model and head on a test set in
 * MVTec AD layout or VisA's split CSV, through tc_detector (the element's
 * pipeline).
 *
 *   tokenclip-eval --model M (--head H | --heads-dir DIR | --object NAME |
 *                  --objects-from-categories) [--prompts F] [--vocab V] --data ROOT
 *                  [--csv split_csv/1cls.csv] [--categories a,b]
 *                  [--eval-size R] [--json FILE] [--panels DIR --worst N]
 *                  [--limit N] [--fpr-limit F] [detector options]
 *
 * Each test image is resized to R x R by PIL's 8-bit resize, bit for bit
 * (tc_resize_pil_8bit: bicubic, or bilinear with --resample bilinear), as
 * AnomalyCLIP's test transform does (R = the model's input size by default),
 * and given to the detector as a frame of that size (when R is the model's
 * input size, the detector's own resize is the identity: the model sees
 * AnomalyCLIP's input exactly). The anomaly map is the detector's smoothed
 * map at the frame size (the feature layers' token scores summed on the
 * grid, bilinearly upsampled to R x R, scipy's Gaussian blur of --sigma
 * model-input pixels scaled to R: AnomalyCLIP's map path exactly at R = S,
 * as upsampling and blur are linear), so the pixel metrics are at R x R,
 * against masks resized to R x R as AnomalyCLIP's are (PIL's 8-bit
 * bilinear resize of the 0/255 mask, then / 255 > 0.5). --eval-size 0 keeps
 * every image and mask at its own size. The image score is the detector's
 * (the global token's score blended with the map's maximum, --blend; an
 * AnomalyCLIP head file's default: the global token alone). The head
 * file's defaults apply unless an option overrides them.
 *
 * The subspaces of a category (source_for_category): one head file, a head
 * file per category, or zero-shot from words by the model file's CLIP text
 * encoder: one object name, or each category's name with underscores as
 * spaces ("metal_nut" -> "metal nut"), as AnomalyCLIP and WinCLIP prompt. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dataset.h"
#include "detector_args.h"
#include "map/tc_map.h"
#include "tc_metrics.h"
#include "image/tc_resample.h"
#include "image_file.h"
#include "tc_npy.h"

#define TOOL "tokenclip-eval"

typedef struct options {
  detector_args d;
  const char *heads_dir;       /* DIR/<category>.safetensors, instead of --head */
  int objects_from_categories; /* each category's name as the object words */
  const char *data, *csv, *categories, *json, *panels, *maps;
  uint32_t eval_size; /* UINT32_MAX: the model's input size */
  uint32_t worst, limit;
  double fpr_limit;
  int progress; /* -1 auto (a terminal), 0 off, 1 on */
} options;

static void usage(FILE *f)
{
  fprintf(f,
          "usage: " TOOL " --model M (--head H | --heads-dir DIR | --object NAME | --objects-from-categories)\n"
          "                      [--prompts F] [--vocab V] --data ROOT [--csv FILE]\n"
          "                      [--categories a,b,...] [--eval-size R] [--json FILE]\n"
          "                      [--panels DIR [--worst N]] [--maps DIR] [--limit N] [--fpr-limit F]\n"
          "                      [--progress | --no-progress] [detector options]\n"
          "  --data ROOT      the data set: MVTec AD layout (ROOT/<category>/test/<defect>/*.png,\n"
          "                   ROOT/<category>/ground_truth/<defect>/*_mask.png; `good` is normal),\n"
          "                   or with --csv the root that VisA's CSV paths are relative to\n"
          "  --csv FILE       VisA's split CSV (split_csv/1cls.csv: object,split,label,image,mask);\n"
          "                   the rows with split `test` are evaluated\n"
          "  --head H         one head file for every category\n"
          "  --heads-dir DIR  a head file per category: DIR/<category>.safetensors\n"
          "  --objects-from-categories\n"
          "                   zero-shot: each category's subspaces from its name as the object words,\n"
          "                   underscores as spaces (metal_nut -> \"metal nut\"), by the model file's CLIP\n"
          "                   text encoder (the model file needs the text tower; --prompts and --vocab\n"
          "                   below apply); --object NAME: one name for every category.\n"
          "                   Exactly one of --head, --heads-dir, --object, --objects-from-categories\n"
          "  --categories L   only these categories (comma-separated), in this order\n"
          "  --eval-size R    resolution of the maps and masks the pixel metrics use: every image is\n"
          "                   resized to R x R (PIL's 8-bit bicubic) before the detector, every mask\n"
          "                   to R x R (PIL's 8-bit bilinear of the 0/255 mask, then > 127). Default:\n"
          "                   the model's input size (AnomalyCLIP's protocol). 0: each image and mask\n"
          "                   at its own size\n"
          "                   (memory: 4-8 bytes per pixel of a category's test set)\n"
          "  --json FILE      also write the results as JSON, with every image's score\n"
          "  --maps DIR       also write every image's map, float32 [R, R] .npy, as\n"
          "                   DIR/<category>/<defect>_<name>.npy (the JSON names them)\n"
          "  --panels DIR     write PNG panels (image | map | ground truth) of the worst images to\n"
          "                   DIR/<category>/; the map coloured (turbo) over the category's map range\n"
          "  --worst N        panels per category (default 5); worst = the image that loses the\n"
          "                   largest fraction of its comparisons with the other class (an anomalous\n"
          "                   image scored at or below normal ones, or a normal one at or above\n"
          "                   anomalous ones): its share of 1 - image AUROC\n"
          "  --limit N        at most N images per category, taking anomalous and normal in turn\n"
          "  --fpr-limit F    AUPRO integration limit (default 0.3)\n"
          "  --progress       progress bar on stderr (default: only when stderr is a terminal)\n");
  detector_args_usage(f);
  fprintf(f, "The map: the token scores on the patch grid (summed over the feature layers), bilinearly\n"
             "upsampled to the frame (R x R, or the image's size with --eval-size 0) and blurred with scipy's\n"
             "Gaussian of --sigma model-input pixels scaled to the frame (R / S).\n"
             "Metrics per category and their mean over categories: image AUROC and AP (the detector's image\n"
             "score), pixel AUROC and AUPRO (MVTec AD's definition: PRO over 8-connected ground-truth regions\n"
             "integrated over FPR 0..F, divided by F); the JSON adds pixel AP and AnomalyCLIP's AUPRO\n"
             "variant. A metric a category cannot define (no anomalous images) is null / -.\n");
}

static int parse(int argc, char **argv, options *o)
{
  memset(o, 0, sizeof *o);
  detector_args_init(&o->d);
  o->eval_size = UINT32_MAX;
  o->worst = 5;
  o->fpr_limit = 0.3;
  o->progress = -1;
  int has_worst = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (cli_is_help(a)) {
      usage(stdout);
      exit(0);
    }
    if (strcmp(a, "--progress") == 0 || strcmp(a, "--no-progress") == 0) {
      o->progress = a[2] == 'p';
      continue;
    }
    if (strcmp(a, "--objects-from-categories") == 0) {
      o->objects_from_categories = 1;
      continue;
    }
    int r = detector_args_parse(&o->d, TOOL, a, val);
    if (r < 0)
      return -1;
    if (r > 0) {
      i++;
      continue;
    }
    r = 0;
    if (strcmp(a, "--heads-dir") == 0)
      o->heads_dir = val;
    else if (strcmp(a, "--data") == 0)
      o->data = val;
    else if (strcmp(a, "--csv") == 0)
      o->csv = val;
    else if (strcmp(a, "--categories") == 0)
      o->categories = val;
    else if (strcmp(a, "--json") == 0)
      o->json = val;
    else if (strcmp(a, "--panels") == 0)
      o->panels = val;
    else if (strcmp(a, "--maps") == 0)
      o->maps = val;
    else if (strcmp(a, "--eval-size") == 0)
      r = cli_uint(TOOL, a, val, &o->eval_size);
    else if (strcmp(a, "--worst") == 0)
      r = cli_uint(TOOL, a, val, &o->worst), has_worst = 1;
    else if (strcmp(a, "--limit") == 0)
      r = cli_uint(TOOL, a, val, &o->limit);
    else if (strcmp(a, "--fpr-limit") == 0) {
      float f;
      r = cli_float(TOOL, a, val, &f);
      o->fpr_limit = strtod(val, NULL); /* checked by args_float; kept in double */
    }
    else {
      fprintf(stderr, TOOL ": unknown option: %s\n", a);
      return -1;
    }
    if (r != 0)
      return -1;
    i++;
  }
  /* exactly one source of subspaces */
  const char *given[4];
  int sources = 0;
  if (o->d.det.head_path)
    given[sources++] = "--head";
  if (o->heads_dir)
    given[sources++] = "--heads-dir";
  if (o->d.det.object)
    given[sources++] = "--object";
  if (o->objects_from_categories)
    given[sources++] = "--objects-from-categories";
  if (!o->d.det.model_path || !o->data || sources == 0) {
    fprintf(stderr, TOOL ": --model, --data and a source of subspaces (--head, --heads-dir, --object or "
                         "--objects-from-categories) are required\n");
    return -1;
  }
  if (sources > 1) {
    fprintf(stderr, TOOL ": %s and %s are two sources of subspaces: give one\n", given[0], given[1]);
    return -1;
  }
  if (!o->d.det.object && !o->objects_from_categories && (o->d.det.prompts_path || o->d.det.vocab_path)) {
    fprintf(stderr, TOOL ": --prompts and --vocab go with --object or --objects-from-categories\n");
    return -1;
  }
  if (o->eval_size != UINT32_MAX && o->eval_size > IMAGE_FILE_MAX_SIDE) {
    fprintf(stderr, TOOL ": --eval-size %u is larger than %d\n", o->eval_size, IMAGE_FILE_MAX_SIDE);
    return -1;
  }
  if (!(o->fpr_limit > 0 && o->fpr_limit <= 1)) {
    fprintf(stderr, TOOL ": --fpr-limit takes a number in (0, 1]\n");
    return -1;
  }
  if (has_worst && !o->panels) {
    fprintf(stderr, TOOL ": --worst needs --panels DIR\n");
    return -1;
  }
  return 0;
}

/* ---- the subspaces of a category: the one place that chooses them ---- */

/* A head file, or words for the text encoder (--prompts and --vocab are the
 * options'); one of the two, malloc'd. */
typedef struct source {
  char *head, *object;
} source;

static void source_free(source *s)
{
  free(s->head);
  free(s->object);
  memset(s, 0, sizeof *s);
}

static int source_same(const source *a, const source *b)
{
  return !a->head == !b->head && !a->object == !b->object && (!a->head || strcmp(a->head, b->head) == 0) &&
         (!a->object || strcmp(a->object, b->object) == 0);
}

/* The subspaces of category `name`: --head's file, --heads-dir's
 * DIR/<name>.safetensors, --object's words, or with
 * --objects-from-categories the name with underscores as spaces. */
static tc_status source_for_category(const options *o, const char *name, source *s, tc_error *err)
{
  memset(s, 0, sizeof *s);
  const char *dir = o->heads_dir;
  char **out = o->d.det.object || o->objects_from_categories ? &s->object : &s->head;
  size_t len = dir ? strlen(dir) + strlen(name) + 16
                   : strlen(o->objects_from_categories ? name : o->d.det.object ? o->d.det.object
                                                                                 : o->d.det.head_path) + 1;
  if (!(*out = malloc(len)))
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  if (dir) {
    snprintf(*out, len, "%s/%s.safetensors", dir, name);
    if (access(*out, R_OK) != 0) {
      tc_error_set(err, TC_ERR_IO, "--heads-dir: no head file for category \"%s\": %s: %s", name, *out,
                   strerror(errno));
      source_free(s);
      return err->status;
    }
  } else if (o->objects_from_categories) {
    for (size_t i = 0; i < len; i++)
      (*out)[i] = name[i] == '_' ? ' ' : name[i];
  } else {
    snprintf(*out, len, "%s", o->d.det.object ? o->d.det.object : o->d.det.head_path);
  }
  return TC_OK;
}

/* ---- host resampling ---- */

/* The picture at size x size, RGBA (alpha 255), as the detector's frame:
 * PIL's 8-bit Image.resize of the RGB picture, bit for bit (AnomalyCLIP's
 * transform), with bicubic's filter unless the detector's is bilinear. */
static tc_status resize_image(image_file *img, uint32_t size, tc_resample_filter filter, tc_error *err)
{
  if (img->width == size && img->height == size)
    return TC_OK;
  uint8_t *px = malloc((size_t)size * size * 4);
  tc_status st = px ? TC_OK : tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory to resize");
  if (st == TC_OK)
    st = tc_resize_pil_8bit(img->rgba, img->width, img->height, 4 * (size_t)img->width, px, size, size,
                            4 * (size_t)size, filter == TC_RESAMPLE_BILINEAR ? TC_RESAMPLE_BILINEAR
                                                                              : TC_RESAMPLE_PIL_BICUBIC, err);
  if (st == TC_OK) {
    free(img->rgba);
    img->rgba = px;
    img->width = img->height = size;
    px = NULL;
  }
  free(px);
  return st;
}

/* The ground truth at width x height: nonzero = anomalous in the file;
 * when sizes differ, resized as AnomalyCLIP's target transform does: the
 * mask as 0/255 through PIL's 8-bit bilinear resize, then / 255 > 0.5. A
 * normal image (path NULL) is all zero. The mask file must have the image's
 * size. */
static tc_status load_mask(const char *path, const char *image_path, uint32_t img_w, uint32_t img_h, uint32_t width,
                           uint32_t height, uint8_t *mask, tc_error *err)
{
  const size_t m = (size_t)width * height;
  if (!path) {
    memset(mask, 0, m);
    return TC_OK;
  }
  image_file f = { 0 };
  tc_status st = image_file_read(path, &f, err);
  if (st == TC_OK && (f.width != img_w || f.height != img_h))
    st = tc_error_set(err, TC_ERR_MISMATCH, "%s: a %ux%u mask for the %ux%u image %s", path, f.width, f.height,
                      img_w, img_h, image_path);
  if (st == TC_OK && f.width == width && f.height == height) {
    for (size_t i = 0; i < m; i++)
      mask[i] = (f.rgba[4 * i] | f.rgba[4 * i + 1] | f.rgba[4 * i + 2]) ? 1 : 0;
  } else if (st == TC_OK) {
    for (size_t i = 0; i < (size_t)f.width * f.height; i++) {
      uint8_t *p = f.rgba + 4 * i;
      p[0] = p[1] = p[2] = (p[0] | p[1] | p[2]) ? 255 : 0;
    }
    uint8_t *out = malloc(m * 4);
    st = out ? tc_resize_pil_8bit(f.rgba, f.width, f.height, 4 * (size_t)f.width, out, width, height,
                                  4 * (size_t)width, TC_RESAMPLE_BILINEAR, err)
             : tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory to resize %s", path);
    if (st == TC_OK)
      for (size_t i = 0; i < m; i++)
        mask[i] = out[4 * i] > 127; /* v / 255 > 0.5 */
    free(out);
  }
  image_file_free(&f);
  return st;
}

/* ---- one image through the detector ---- */

typedef struct evaluator {
  const options *o;
  tc_detector *det;
  source det_src; /* the subspaces the detector was made with */
  uint32_t size;  /* the frame size in effect (0: native) */
  tc_resample_filter resample; /* in effect (the head file's or the option's): the host resize follows it */
} evaluator;

typedef struct view {
  image_file img; /* the frame's pixels */
  float *map;     /* [h][w] */
  uint8_t *mask;  /* [h][w] */
  float score;
} view;

static void view_free(view *v)
{
  image_file_free(&v->img);
  free(v->map);
  free(v->mask);
  memset(v, 0, sizeof *v);
}

/* A detector with these subspaces (kept while consecutive categories share
 * them); takes src. */
static tc_status evaluator_use(evaluator *e, source *src, tc_error *err)
{
  if (e->det && source_same(&e->det_src, src)) {
    source_free(src);
    return TC_OK;
  }
  tc_detector_destroy(e->det);
  e->det = NULL;
  source_free(&e->det_src);
  e->det_src = *src;
  memset(src, 0, sizeof *src);
  detector_args a = e->o->d;
  a.det.head_path = e->det_src.head;
  a.det.object = e->det_src.object;
  tc_params_set(&a.det.params, TC_PARAM_KEEP_MAP, 1, NULL);
  tc_params_set(&a.det.params, TC_PARAM_ALPHA, 0, NULL); /* no blend: the tool reads the map */
  tc_status st = tc_detector_create(&a.det, &e->det, err);
  if (st != TC_OK)
    return st;
  e->size = e->o->eval_size == UINT32_MAX ? tc_detector_input_size(e->det) : e->o->eval_size;
  tc_params p;
  tc_detector_params(e->det, &p);
  e->resample = p.resample;
  return TC_OK;
}

static tc_status run_one(evaluator *e, const sample *s, view *v, tc_error *err)
{
  memset(v, 0, sizeof *v);
  tc_status st = image_file_read(s->image, &v->img, err);
  const uint32_t img_w = v->img.width, img_h = v->img.height;
  if (st == TC_OK && e->size)
    st = resize_image(&v->img, e->size, e->resample, err);
  const uint32_t w = v->img.width, h = v->img.height;
  const size_t n = (size_t)w * h;
  if (st == TC_OK && (!(v->map = malloc(n * sizeof *v->map)) || !(v->mask = malloc(n))))
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory for a %ux%u map", w, h);
  if (st == TC_OK)
    st = load_mask(s->mask, s->image, img_w, img_h, w, h, v->mask, err);
  const tc_frame frame = tc_frame_make(TC_FRAME_RGBA, w, h);
  tc_analysis a;
  if (st == TC_OK)
    st = tc_detector_set_frame(e->det, &frame, err);
  if (st == TC_OK)
    st = tc_detector_analyse(e->det, v->img.rgba, frame.stride, 0, &a, err);
  if (st == TC_OK)
    st = tc_detector_read_map(e->det, v->map, err);
  if (st == TC_OK)
    v->score = a.image_score;
  else if (!strstr(err->message, s->image))
    tc_error_prefix(err, "%s", s->image); /* it adds the ": " */
  return st;
}

/* ---- progress on a terminal ---- */

static double now_s(void)
{
  return cli_now_ms() * 1e-3;
}

static void progress(int on, size_t done, size_t total, const char *cat, double t0)
{
  if (!on)
    return;
  const int width = 30;
  int fill = total ? (int)(width * done / total) : width;
  double el = now_s() - t0, per = done ? el / done : 0, eta = per * (total - done);
  char bar[64];
  for (int i = 0; i < width; i++)
    bar[i] = i < fill ? '#' : '.';
  bar[width] = 0;
  fprintf(stderr, "\r[%s] %zu/%zu %3.0f%% %-12.12s %.2f s/img ETA %d:%02d ", bar, done, total,
          total ? 100.0 * done / total : 100.0, cat, per, (int)eta / 60, (int)eta % 60);
  if (done == total)
    fprintf(stderr, "\r\033[K");
  fflush(stderr);
}

/* ---- results ---- */

enum { M_IMAGE_AUROC, M_IMAGE_AP, M_PIXEL_AUROC, M_AUPRO, M_PIXEL_AP, M_AUPRO_AC, N_METRICS };
static const char *metric_key[N_METRICS] = { "image_auroc", "image_ap", "pixel_auroc", "aupro", "pixel_ap",
                                             "aupro_anomalyclip" };

typedef struct record {
  size_t index; /* in the category's samples */
  const sample *s;
  float score;
  double badness;
  char *panel, *map; /* the files written for it, or NULL */
} record;

typedef struct result {
  const char *name;
  size_t normal, anomalous;
  double value[N_METRICS];
  int defined[N_METRICS];
  char why[N_METRICS][TC_ERROR_MESSAGE_MAX]; /* why a metric is undefined */
  float map_lo, map_hi;
  record *all; /* every image, in the category's order */
  size_t n_all;
  record *worst;
  size_t n_worst;
  double seconds;
  char *head, *object; /* the category's subspaces (source_for_category) */
} result;

static void set_metric(result *r, int k, tc_status st, double v, const tc_error *e)
{
  r->defined[k] = st == TC_OK;
  r->value[k] = v;
  if (st != TC_OK)
    snprintf(r->why[k], sizeof r->why[k], "%s", e->message);
}

static int cmp_badness(const void *a, const void *b)
{
  const record *x = a, *y = b;
  if (x->badness != y->badness)
    return x->badness < y->badness ? 1 : -1;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* badness: the fraction of the other class's images that the image loses
 * to (ties count 1/2), i.e. its share of 1 - AUROC. */
static void rank_worst(const category *c, record *rec, size_t n)
{
  size_t pos = 0, neg = 0;
  for (size_t i = 0; i < n; i++)
    c->samples[i].label ? pos++ : neg++;
  for (size_t i = 0; i < n; i++) {
    const int li = c->samples[i].label;
    double lost = 0;
    for (size_t j = 0; j < n; j++) {
      if (c->samples[j].label == li)
        continue;
      float mine = rec[i].score, other = rec[j].score;
      lost += mine == other ? 0.5 : li ? other > mine : other < mine;
    }
    size_t others = li ? neg : pos;
    rec[i].badness = others ? lost / others : 0;
  }
  qsort(rec, n, sizeof *rec, cmp_badness);
}

static int make_dir(const char *path, tc_error *err)
{
  if (mkdir(path, 0777) != 0 && errno != EEXIST) {
    tc_error_set(err, TC_ERR_IO, "%s: cannot create the folder: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

/* A panel: image | map coloured over [lo, hi] | ground truth, side by side. */
static tc_status write_panel(const char *path, const view *v, float lo, float hi, tc_error *err)
{
  const uint32_t w = v->img.width, h = v->img.height, pw = 3 * w + 8;
  uint8_t lut[256 * 3];
  tc_status st = tc_colormap_lut(TC_COLORMAP_TURBO, lut, err);
  uint8_t *px = calloc((size_t)pw * h, 4);
  if (st == TC_OK && !px)
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory for a panel");
  if (st == TC_OK) {
    const float scale = hi > lo ? 1.0f / (hi - lo) : 0.0f;
    for (uint32_t y = 0; y < h; y++) {
      uint8_t *row = px + (size_t)y * pw * 4;
      memset(row, 255, (size_t)pw * 4); /* white gaps */
      for (uint32_t x = 0; x < w; x++) {
        const size_t i = (size_t)y * w + x;
        memcpy(row + 4 * (size_t)x, v->img.rgba + 4 * i, 4);
        float t = (v->map[i] - lo) * scale;
        int k = (int)(t * 256);
        k = k < 0 ? 0 : k > 255 ? 255 : k;
        memcpy(row + 4 * ((size_t)w + 4 + x), lut + 3 * k, 3);
        memset(row + 4 * (2 * (size_t)w + 8 + x), v->mask[i] ? 255 : 0, 3);
      }
    }
    st = image_file_write_png(path, px, pw, h, (size_t)pw * 4, err);
  }
  free(px);
  return st;
}

/* A file-name-safe copy of s (/ and odd characters become _). */
static void safe_name(char *dst, size_t cap, const char *s)
{
  size_t k = 0;
  for (; *s && k + 1 < cap; s++)
    dst[k++] = (*s == '/' || *s == '\\' || (unsigned char)*s < 0x20) ? '_' : *s;
  dst[k] = 0;
}

/* <defect>_<image name without extension>, safe as a file name. */
static void sample_name(const sample *s, char *dst, size_t cap)
{
  const char *base = strrchr(s->image, '/');
  char stem[256], defect[128];
  safe_name(stem, sizeof stem, base ? base + 1 : s->image);
  char *dot = strrchr(stem, '.');
  if (dot)
    *dot = 0;
  safe_name(defect, sizeof defect, s->defect);
  snprintf(dst, cap, "%s_%s", defect, stem);
}

static tc_status write_map(const options *o, const category *c, const sample *s, const view *v, char **out,
                           tc_error *err)
{
  char dir[4096], name[512], path[4096 + 640];
  snprintf(dir, sizeof dir, "%s/%s", o->maps, c->name);
  if (make_dir(o->maps, err) != 0 || make_dir(dir, err) != 0)
    return err->status;
  sample_name(s, name, sizeof name);
  snprintf(path, sizeof path, "%s/%s.npy", dir, name);
  tc_status st = tc_npy_write(path, v->map, 2, (int64_t[]){ v->img.height, v->img.width }, err);
  if (st == TC_OK && !(*out = strdup(path)))
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  return st;
}

static tc_status write_panels(evaluator *e, const category *c, result *r, record *rec, size_t n, tc_error *err)
{
  const options *o = e->o;
  size_t want = o->worst < n ? o->worst : n;
  if (!want)
    return TC_OK;
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/%s", o->panels, c->name);
  if (make_dir(o->panels, err) != 0 || make_dir(dir, err) != 0)
    return err->status;
  r->worst = calloc(want, sizeof *r->worst);
  if (!r->worst)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  tc_status st = TC_OK;
  for (size_t k = 0; k < want && st == TC_OK; k++) {
    const sample *s = &c->samples[rec[k].index];
    view v;
    st = run_one(e, s, &v, err);
    if (st == TC_OK) {
      char name[512], path[4096 + 640];
      sample_name(s, name, sizeof name);
      snprintf(path, sizeof path, "%s/%02zu_%s.png", dir, k + 1, name);
      st = write_panel(path, &v, r->map_lo, r->map_hi, err);
      r->worst[k] = rec[k];
      r->worst[k].map = NULL;
      if (st == TC_OK && !(r->worst[k].panel = strdup(path)))
        st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
      r->n_worst = k + 1;
    }
    view_free(&v);
  }
  return st;
}

static tc_status eval_category(evaluator *e, const category *c, result *r, size_t *done, size_t total, double t0,
                               int show, tc_error *err)
{
  const options *o = e->o;
  memset(r, 0, sizeof *r);
  r->name = c->name;
  const double c0 = now_s();
  source src;
  tc_status st = source_for_category(o, c->name, &src, err);
  if (st == TC_OK) { /* for the JSON */
    r->head = src.head ? strdup(src.head) : NULL;
    r->object = src.object ? strdup(src.object) : NULL;
    if (!r->head && !r->object)
      st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  }
  if (st == TC_OK)
    st = evaluator_use(e, &src, err);
  source_free(&src);
  tc_metric_scores *ms = NULL;
  tc_metric_maps *mm = NULL;
  record *rec = calloc(c->n ? c->n : 1, sizeof *rec);
  if (st == TC_OK && !rec)
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  if (st == TC_OK)
    st = tc_metric_scores_create(&ms, err);
  if (st == TC_OK)
    st = tc_metric_maps_create(&mm, err);
  r->map_lo = INFINITY;
  r->map_hi = -INFINITY;
  for (size_t i = 0; i < c->n && st == TC_OK; i++) {
    const sample *s = &c->samples[i];
    view v;
    st = run_one(e, s, &v, err);
    const uint8_t label = (uint8_t)s->label;
    if (st == TC_OK)
      st = tc_metric_scores_add(ms, &label, &v.score, 1, err);
    if (st == TC_OK)
      st = tc_metric_maps_add(mm, v.map, v.mask, v.img.width, v.img.height, err);
    if (st == TC_OK) {
      for (size_t p = 0; p < (size_t)v.img.width * v.img.height; p++) {
        r->map_lo = fminf(r->map_lo, v.map[p]);
        r->map_hi = fmaxf(r->map_hi, v.map[p]);
      }
      rec[i] = (record){ .index = i, .s = s, .score = v.score };
      label ? r->anomalous++ : r->normal++;
      r->n_all = i + 1;
      if (o->maps)
        st = write_map(o, c, s, &v, &rec[i].map, err);
    } else if (!strstr(err->message, s->image)) {
      tc_error_prefix(err, "%s", s->image); /* it adds the ": " */
    }
    view_free(&v);
    progress(show, ++*done, total, c->name, t0);
  }
  if (st == TC_OK) {
    tc_error e2;
    double v;
    tc_status s2;
#define METRIC(k, call)                                                                                               \
  do {                                                                                                                \
    tc_error_clear(&e2);                                                                                              \
    v = 0;                                                                                                            \
    s2 = call;                                                                                                        \
    set_metric(r, k, s2, v, &e2);                                                                                     \
  } while (0)
    METRIC(M_IMAGE_AUROC, tc_metric_scores_auroc(ms, &v, &e2));
    METRIC(M_IMAGE_AP, tc_metric_scores_ap(ms, &v, &e2));
    METRIC(M_PIXEL_AUROC, tc_metric_maps_auroc(mm, &v, &e2));
    METRIC(M_PIXEL_AP, tc_metric_maps_ap(mm, &v, &e2));
    METRIC(M_AUPRO, tc_metric_maps_aupro(mm, o->fpr_limit, &v, &e2));
    METRIC(M_AUPRO_AC, tc_metric_maps_aupro_anomalyclip(mm, 200, o->fpr_limit, &v, &e2));
#undef METRIC
  }
  tc_metric_scores_destroy(ms);
  tc_metric_maps_destroy(mm);
  r->seconds = now_s() - c0;
  r->all = rec;
  if (st == TC_OK && o->panels) {
    record *ranked = malloc(c->n * sizeof *ranked);
    if (!ranked)
      return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
    memcpy(ranked, rec, c->n * sizeof *ranked);
    rank_worst(c, ranked, c->n);
    st = write_panels(e, c, r, ranked, c->n, err);
    free(ranked);
  }
  return st;
}

/* ---- output ---- */

static void mean_of(const result *res, size_t n, double *mean, size_t *count)
{
  for (int k = 0; k < N_METRICS; k++) {
    double s = 0;
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
      if (res[i].defined[k])
        s += res[i].value[k], c++;
    count[k] = c;
    mean[k] = c ? s / c : 0;
  }
}

static void print_table(FILE *f, const result *res, size_t n, double fpr_limit)
{
  fprintf(f, "%-16s %6s %6s %9s  %11s %8s %11s %9s\n", "category", "images", "normal", "anomalous", "image-AUROC",
          "image-AP", "pixel-AUROC", "AUPRO");
  double mean[N_METRICS];
  size_t count[N_METRICS], normal = 0, anomalous = 0;
  for (size_t i = 0; i <= n; i++) {
    const int is_mean = i == n;
    if (is_mean)
      mean_of(res, n, mean, count);
    const char *name = is_mean ? "mean" : res[i].name;
    if (!is_mean) {
      normal += res[i].normal;
      anomalous += res[i].anomalous;
    }
    size_t nn = is_mean ? normal : res[i].normal, na = is_mean ? anomalous : res[i].anomalous;
    fprintf(f, "%-16.16s %6zu %6zu %9zu ", name, nn + na, nn, na);
    static const int cols[4] = { M_IMAGE_AUROC, M_IMAGE_AP, M_PIXEL_AUROC, M_AUPRO };
    static const int width[4] = { 12, 9, 12, 10 };
    for (int k = 0; k < 4; k++) {
      int def = is_mean ? count[cols[k]] > 0 : res[i].defined[cols[k]];
      double v = is_mean ? mean[cols[k]] : res[i].value[cols[k]];
      if (def)
        fprintf(f, "%*.1f", width[k], 100 * v);
      else
        fprintf(f, "%*s", width[k], "-");
    }
    fputc('\n', f);
  }
  fprintf(f, "(percent; AUPRO integrated to FPR %.2g; mean over the categories that define each metric)\n",
          fpr_limit);
}

static tc_status write_json(const char *path, const options *o, const evaluator *e, const result *res, size_t n,
                            double seconds, size_t images, tc_error *err)
{
  FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
  if (!f)
    return tc_error_set(err, TC_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
  fprintf(f, "{\n  \"model\": ");
  cli_json_string(f, o->d.det.model_path, 1);
  const int words = o->d.det.object || o->objects_from_categories;
  fprintf(f, ",\n  \"subspaces\": \"%s\",\n  \"head\": ",
          o->heads_dir ? "heads-dir" : o->objects_from_categories ? "objects-from-categories"
                     : o->d.det.object ? "object" : "head");
  if (words)
    fprintf(f, "null");
  else
    cli_json_string(f, o->heads_dir ? o->heads_dir : o->d.det.head_path, 1);
  fprintf(f, ",\n  \"heads_per_category\": %s,\n", o->heads_dir || o->objects_from_categories ? "true" : "false");
  if (words) {
    fprintf(f, "  \"object\": ");
    o->d.det.object ? cli_json_string(f, o->d.det.object, 1) : (void)fprintf(f, "null");
    fprintf(f, ",\n  \"prompts\": ");
    cli_json_string(f, o->d.det.prompts_path ? o->d.det.prompts_path : "built-in", 1);
    fprintf(f, ",\n  \"vocab\": ");
    o->d.det.vocab_path ? cli_json_string(f, o->d.det.vocab_path, 1) : (void)fprintf(f, "null");
    fprintf(f, ",\n");
  }
  fprintf(f, "  \"data\": ");
  cli_json_string(f, o->data, 1);
  fprintf(f, ",\n  \"layout\": \"%s\",\n", o->csv ? "visa-csv" : "mvtec");
  /* the parameters in effect: the head file's defaults and the options given */
  tc_params p = o->d.det.params;
  if (e->det) {
    tc_detector_params(e->det, &p);
    fprintf(f, "  \"device\": ");
    cli_json_string(f, tc_detector_device_name(e->det), 1);
    fprintf(f, ",\n  \"input_size\": %u,\n  \"grid\": %u,\n  \"vv_start\": %u,\n  \"feature_layers\": [",
            tc_detector_input_size(e->det), tc_detector_grid(e->det), p.vv_start);
    uint32_t layers[TC_MAX_FEATURE_LAYERS], n = tc_params_get_list(&p, TC_PARAM_FEATURE_LAYERS, layers,
                                                                   TC_MAX_FEATURE_LAYERS);
    for (uint32_t i = 0; i < n; i++)
      fprintf(f, "%s%u", i ? ", " : "", layers[i]);
    fprintf(f, "],\n  \"global_ln_post\": %s,\n  \"resample\": \"%s\",\n  \"pos_interp\": \"%s\",\n",
            p.global_ln_post ? "true" : "false", tc_resample_filter_name(p.resample),
            tc_interp_name((tc_interp)p.pos_interp));
    fprintf(f, "  \"head_params\": {\"temperature\": %.7g, \"sinkhorn_eps\": %.7g, \"sinkhorn_iters\": %u, "
            "\"topk\": %u, \"image_blend\": %.7g},\n",
            p.temperature, p.sinkhorn_eps, p.sinkhorn_iters, p.topk ? p.topk : tc_detector_subspaces(e->det),
            p.image_blend);
  }
  fprintf(f, "  \"eval_size\": %u,\n  \"sigma\": %.7g,\n  \"fpr_limit\": %.9g,\n", e->size, p.sigma,
          o->fpr_limit);
  fprintf(f, "  \"seconds\": %.3f,\n  \"images\": %zu,\n  \"seconds_per_image\": %.4f,\n", seconds, images,
          images ? seconds / images : 0.0);
  fprintf(f, "  \"categories\": {");
  for (size_t i = 0; i < n; i++) {
    const result *r = &res[i];
    fprintf(f, "%s\n    ", i ? "," : "");
    cli_json_string(f, r->name, 1);
    fprintf(f, ": {\"images\": %zu, \"normal\": %zu, \"anomalous\": %zu, \"seconds\": %.3f", r->normal + r->anomalous,
            r->normal, r->anomalous, r->seconds);
    fprintf(f, ", \"%s\": ", r->object ? "object" : "head");
    cli_json_string(f, r->object ? r->object : r->head ? r->head : "", 1);
    for (int k = 0; k < N_METRICS; k++)
      if (r->defined[k])
        fprintf(f, ", \"%s\": %.9g", metric_key[k], r->value[k]);
      else
        fprintf(f, ", \"%s\": null", metric_key[k]);
    fprintf(f, ", \"undefined\": {");
    int first = 1;
    for (int k = 0; k < N_METRICS; k++)
      if (!r->defined[k]) {
        fprintf(f, "%s\"%s\": ", first ? "" : ", ", metric_key[k]);
        cli_json_string(f, r->why[k], 1);
        first = 0;
      }
    fprintf(f, "}");
    fprintf(f, ",\n      \"samples\": [");
    for (size_t k = 0; k < r->n_all; k++) {
      const record *w = &r->all[k];
      fprintf(f, "%s\n        {\"image\": ", k ? "," : "");
      cli_json_string(f, w->s->image, 1);
      fprintf(f, ", \"defect\": ");
      cli_json_string(f, w->s->defect, 1);
      fprintf(f, ", \"label\": %d, \"score\": %.9g", w->s->label, w->score);
      if (w->map) {
        fprintf(f, ", \"map\": ");
        cli_json_string(f, w->map, 1);
      }
      fprintf(f, "}");
    }
    fprintf(f, "]");
    if (o->panels) {
      fprintf(f, ",\n      \"worst\": [");
      for (size_t k = 0; k < r->n_worst; k++) {
        const record *w = &r->worst[k];
        fprintf(f, "%s\n        {\"image\": ", k ? "," : "");
        cli_json_string(f, w->s->image, 1);
        fprintf(f, ", \"defect\": ");
        cli_json_string(f, w->s->defect, 1);
        fprintf(f, ", \"label\": %d, \"score\": %.9g, \"badness\": %.9g, \"panel\": ", w->s->label, w->score,
                w->badness);
        cli_json_string(f, w->panel ? w->panel : "", 1);
        fprintf(f, "}");
      }
      fprintf(f, "]");
    }
    fprintf(f, "}");
  }
  double mean[N_METRICS];
  size_t count[N_METRICS];
  mean_of(res, n, mean, count);
  fprintf(f, "\n  },\n  \"mean\": {");
  for (int k = 0; k < N_METRICS; k++) {
    if (count[k])
      fprintf(f, "%s\"%s\": %.9g", k ? ", " : "", metric_key[k], mean[k]);
    else
      fprintf(f, "%s\"%s\": null", k ? ", " : "", metric_key[k]);
  }
  fprintf(f, "}\n}\n");
  int bad = ferror(f);
  if (f != stdout && fclose(f) != 0)
    bad = 1;
  if (bad)
    return tc_error_set(err, TC_ERR_IO, "%s: writing failed", path);
  return TC_OK;
}

static void results_free(result *res, size_t n)
{
  for (size_t i = 0; res && i < n; i++) {
    for (size_t k = 0; k < res[i].n_worst; k++)
      free(res[i].worst[k].panel);
    for (size_t k = 0; k < res[i].n_all; k++)
      free(res[i].all[k].map);
    free(res[i].worst);
    free(res[i].all);
    free(res[i].head);
    free(res[i].object);
  }
  free(res);
}

int main(int argc, char **argv)
{
  options o;
  if (parse(argc, argv, &o) != 0)
    return cli_refused(usage);
  tc_error err = { 0 };
  dataset ds = { 0 };
  evaluator e = { .o = &o };
  result *res = NULL;
  size_t done = 0, evaluated = 0;
  const double t0 = now_s();

  tc_status st = o.csv ? dataset_read_csv(o.data, o.csv, &ds, &err) : dataset_read_mvtec(o.data, &ds, &err);
  if (st == TC_OK && o.categories)
    st = dataset_select(&ds, o.categories, &err);
  if (st == TC_OK && o.limit)
    dataset_limit(&ds, o.limit);
  const size_t total = dataset_samples(&ds);
  const int show = o.progress < 0 ? isatty(2) : o.progress;
  if (st == TC_OK && !(res = calloc(ds.n, sizeof *res)))
    st = tc_error_set(&err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  for (size_t i = 0; st == TC_OK && i < ds.n; i++) {
    st = eval_category(&e, &ds.cats[i], &res[i], &done, total, t0, show, &err);
    evaluated = i + 1;
  }
  const double seconds = now_s() - t0;
  if (show && done < total)
    fprintf(stderr, "\n");
  if (st == TC_OK) {
    print_table(stdout, res, evaluated, o.fpr_limit);
    printf("%zu images in %.1f s (%.3f s per image, %s)\n", total, seconds, total ? seconds / total : 0.0,
           e.det ? tc_detector_device_name(e.det) : "-");
    if (o.json)
      st = write_json(o.json, &o, &e, res, evaluated, seconds, total, &err);
  }
  if (st != TC_OK)
    fprintf(stderr, TOOL ": %s\n", err.message);
  results_free(res, evaluated);
  tc_detector_destroy(e.det);
  source_free(&e.det_src);
  dataset_free(&ds);
  return st == TC_OK ? 0 : 1;
}
