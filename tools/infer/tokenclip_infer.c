/* tokenclip-infer: the element's pipeline on one image file.
 *
 *   tokenclip-infer --model M (--head H | --object NAME [--prompts F] [--vocab V])
 *                   --image in.png [--overlay out.png] [--map map.npy] [--scores s.npy]
 *                   [detector options] [--alpha A] [--colormap C] [--threshold T]
 *
 * The picture (PNG or JPEG) is the frame, at its own size: preprocess ->
 * ViT encoder -> TokenCLIP head on each feature layer -> token scores
 * summed over the layers -> map (bilinearly upsampled to the image size,
 * scipy's Gaussian blur of --sigma model-input pixels scaled to the image)
 * -> colormap blend. --overlay writes the blended picture (RGB PNG), --map
 * the smoothed map (float32 [height, width] .npy, the values the blend
 * normalises), --scores the token scores (float32 [grid, grid], summed over
 * the feature layers). A JSON object on stdout gives the image score, the
 * parameters in effect (the head file's defaults, then the options) and the
 * run's facts. With --object the subspaces come from words (the model
 * file's CLIP text encoder, once, at the detector's creation) instead of a
 * head file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "detector_args.h"
#include "image_file.h"
#include "tc_npy.h"
#include "tokenclip/tokenclip.h"

#define TOOL "tokenclip-infer"

typedef struct options {
  detector_args d;
  const char *image, *overlay, *map, *scores;
} options;

static void usage(FILE *f)
{
  fprintf(f, "usage: " TOOL " --model M (--head H | --object NAME) --image in.png [--overlay out.png]\n"
             "                       [--map map.npy] [--scores s.npy] [--alpha A] [--colormap C] [--threshold T]\n"
             "                       [detector options]\n"
             "  --image F        the picture, PNG or JPEG (any size: it is the frame)\n"
             "  --overlay F      write the picture with the heatmap blended in (RGB PNG)\n"
             "  --map F          write the smoothed anomaly map, float32 [height, width] .npy at the\n"
             "                   picture's size: token scores bilinearly upsampled, then blurred by --sigma\n"
             "  --scores F       write the token scores, float32 [grid, grid] .npy (summed over the feature\n"
             "                   layers)\n"
             "  --alpha A        heatmap opacity 0..1 (default 0.5)\n"
             "  --colormap C     turbo, jet, inferno or gray (default turbo)\n"
             "  --threshold T    blend only where the min-max normalised map is >= T (default 0)\n");
  detector_args_usage(f);
  fprintf(f, "Prints a JSON object: image_score (the head's global score blended with the map's maximum per\n"
             "feature layer, --blend), global_score, map_max, token_score_max, grid, input_size, layers, the\n"
             "parameters in effect (vv_start, feature_layers, global_ln_post, resample, pos_interp, image_blend,\n"
             "sigma, temperature), device, head or object, inference_ms.\n");
}

static int parse(int argc, char **argv, options *o)
{
  memset(o, 0, sizeof *o);
  detector_args_init(&o->d);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (cli_is_help(a)) {
      usage(stdout);
      exit(0);
    }
    int r = detector_args_parse(&o->d, TOOL, a, val);
    if (r < 0)
      return -1;
    if (r > 0) {
      i++;
      continue;
    }
    if (strcmp(a, "--image") == 0) {
      o->image = val;
    } else if (strcmp(a, "--overlay") == 0) {
      o->overlay = val;
    } else if (strcmp(a, "--map") == 0) {
      o->map = val;
    } else if (strcmp(a, "--scores") == 0) {
      o->scores = val;
    } else if (strcmp(a, "--alpha") == 0) {
      if (cli_param(TOOL, a, val, &o->d.det.params, TC_PARAM_ALPHA) != 0)
        return -1;
    } else if (strcmp(a, "--threshold") == 0) {
      if (cli_param(TOOL, a, val, &o->d.det.params, TC_PARAM_OVERLAY_THRESHOLD) != 0)
        return -1;
    } else if (strcmp(a, "--colormap") == 0) {
      int found = 0;
      for (int c = 0; tc_colormap_name((tc_colormap)c); c++)
        if (strcmp(val, tc_colormap_name((tc_colormap)c)) == 0)
          found = tc_params_set(&o->d.det.params, TC_PARAM_COLORMAP, c, NULL) == TC_OK;
      if (!found) {
        fprintf(stderr, TOOL ": --colormap takes turbo, jet, inferno or gray, not \"%s\"\n", val);
        return -1;
      }
    } else {
      fprintf(stderr, TOOL ": unknown option: %s\n", a);
      return -1;
    }
    i++;
  }
  if (!o->d.det.model_path || !o->image || (!o->d.det.head_path && !o->d.det.object)) {
    fprintf(stderr, TOOL ": --model, --image and --head or --object are required\n");
    return -1;
  }
  if (o->d.det.head_path && o->d.det.object) {
    fprintf(stderr, TOOL ": --head and --object are two sources of subspaces: give one\n");
    return -1;
  }
  if (!o->d.det.object && (o->d.det.prompts_path || o->d.det.vocab_path)) {
    fprintf(stderr, TOOL ": --prompts and --vocab go with --object\n");
    return -1;
  }
  return 0;
}

int main(int argc, char **argv)
{
  options o;
  if (parse(argc, argv, &o) != 0)
    return cli_refused(usage);
  tc_error err = { 0 };
  image_file img = { 0 };
  tc_detector *det = NULL;
  float *map = NULL;
  tc_analysis a = { 0 };

  tc_params_set(&o.d.det.params, TC_PARAM_KEEP_MAP, o.map != NULL, NULL);
  tc_status st = image_file_read(o.image, &img, &err);
  if (st == TC_OK)
    st = tc_detector_create(&o.d.det, &det, &err);
  const tc_frame frame = tc_frame_make(TC_FRAME_RGBA, img.width, img.height);
  if (st == TC_OK)
    st = tc_detector_set_frame(det, &frame, &err);
  if (st == TC_OK)
    st = tc_detector_analyse(det, img.rgba, frame.stride, o.overlay != NULL, &a, &err);
  if (st == TC_OK && o.overlay)
    st = image_file_write_png(o.overlay, img.rgba, img.width, img.height, frame.stride, &err);
  if (st == TC_OK && o.map) {
    if (!(map = malloc((size_t)img.width * img.height * sizeof *map)))
      st = tc_error_set(&err, TC_ERR_OUT_OF_MEMORY, "out of host memory for a %ux%u map", img.width, img.height);
    if (st == TC_OK)
      st = tc_detector_read_map(det, map, &err);
    if (st == TC_OK)
      st = tc_npy_write(o.map, map, 2, (int64_t[]){ img.height, img.width }, &err);
  }
  if (st == TC_OK && o.scores)
    st = tc_npy_write(o.scores, a.scores, 2, (int64_t[]){ a.grid, a.grid }, &err);
  tc_params p;
  if (st == TC_OK)
    tc_detector_params(det, &p);
  if (st == TC_OK) {
    printf("{\n");
    cli_json_member("image", o.image, ",");
    printf("  \"width\": %u,\n  \"height\": %u,\n", img.width, img.height);
    cli_json_member("device", tc_detector_device_name(det), ",");
    if (o.d.det.object)
      cli_json_member("object", o.d.det.object, ",");
    else
      cli_json_member("head", o.d.det.head_path, ",");
    printf("  \"input_size\": %u,\n  \"grid\": %u,\n  \"subspaces\": %u,\n", tc_detector_input_size(det), a.grid,
           tc_detector_subspaces(det));
    printf("  \"image_score\": %.9g,\n  \"global_score\": %.9g,\n  \"map_max\": %.9g,\n", a.image_score,
           a.global_score, a.map_max);
    printf("  \"token_score_max\": %.9g,\n  \"iterations\": %u,\n  \"converged\": %s,\n", a.max_score,
           a.iterations, a.converged ? "true" : "false");
    uint32_t layers[TC_MAX_FEATURE_LAYERS], n = tc_params_get_list(&p, TC_PARAM_FEATURE_LAYERS, layers,
                                                                   TC_MAX_FEATURE_LAYERS);
    printf("  \"layers\": %u,\n  \"vv_start\": %u,\n  \"feature_layers\": [", a.layers, p.vv_start);
    for (uint32_t i = 0; i < n; i++)
      printf("%s%u", i ? ", " : "", layers[i]);
    printf("],\n  \"global_ln_post\": %s,\n  \"resample\": \"%s\",\n  \"pos_interp\": \"%s\",\n",
           p.global_ln_post ? "true" : "false", tc_resample_filter_name(p.resample),
           tc_interp_name((tc_interp)p.pos_interp));
    printf("  \"image_blend\": %.9g,\n  \"sigma\": %.9g,\n  \"temperature\": %.9g,\n", p.image_blend, p.sigma,
           p.temperature);
    if (o.scores)
      cli_json_member("scores", o.scores, ",");
    if (o.overlay)
      cli_json_member("overlay", o.overlay, ",");
    if (o.map)
      cli_json_member("map", o.map, ",");
    printf("  \"inference_ms\": %.3f\n}\n", a.inference_ms); /* the first run compiles the shaders */
  } else {
    fprintf(stderr, TOOL ": %s\n", err.message);
  }
  free(map);
  tc_detector_destroy(det);
  image_file_free(&img);
  return st == TC_OK ? 0 : 1;
}
