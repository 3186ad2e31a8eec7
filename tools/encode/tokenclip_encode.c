/* tokenclip-encode: runs the CLIP ViT image encoder on one input.
 *
 *   tokenclip-encode --model M.safetensors (--input x.npy | --image file.png|jpg)
 *                    --output tokens.npy [--head H] [--vv-start L] [--input-size S]
 *                    [--feature-layers L,L,...] [--global-ln-post 0|1]
 *                    [--pos-interp bicubic|bicubic-aa|bilinear] [--resample bicubic|bilinear|bicubic-pil]
 *                    [--weights stored|f32|f16] [--precision auto|fp32|fp16] [--device D] [--kernels cpu|gpu] [--ref] [--reps N]
 *
 * x.npy holds float [3, S, S], already CLIP-normalised; S is the encoder's
 * input size. --image decodes a PNG or JPEG to RGBA and runs the
 * preprocessing kernel (whole picture resized to S x S, CLIP mean/std) in
 * the same submission as the encoder, so the picture is uploaded once.
 * tokens.npy gets float32 [1 + N, D] (one feature layer) or [n, 1 + N, D]
 * (n feature layers): row 0 the global token, rows 1..N the patch tokens in
 * raster order. The encoder's settings are the detector's: the library's
 * defaults (vv-start round(L/4), the last layer) < a head file's defaults
 * (--head) < the options. --ref runs the plain-C reference of tests/ref
 * instead of Vulkan (slow; for checking). A JSON object on stdout gives the
 * model's configuration, the settings, the device and the times. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "detector/tc_detector.h"
#include "head/tc_head_file.h"
#include "image/tc_preprocess.h"
#include "image_file.h"
#include "tc_npy.h"
#include "tc_encoder.h"
#include "tc_ref_encoder.h"
#include "tc_ref_image.h"

#define TOOL "tokenclip-encode"

typedef struct options {
  const char *model, *input, *image, *output, *device, *head;
  uint32_t reps;
  tc_params user; /* the encoder's settings given as options */
  tc_weight_precision weights;
  tc_kernel_family family;
  int precision; /* -1: not given (--weights decides); else a tc_precision */
  int ref;
} options;

static void usage(FILE *f)
{
  fprintf(f, "usage: tokenclip-encode --model M.safetensors (--input x.npy | --image file.png|jpg)\n"
             "                        --output tokens.npy [--head H] [--vv-start L] [--input-size S]\n"
             "                        [--feature-layers L,L,...] [--global-ln-post 0|1]\n"
             "                        [--pos-interp bicubic|bicubic-aa|bilinear]\n"
             "                        [--resample bicubic|bilinear|bicubic-pil]\n"
             "                        [--weights stored|f32|f16] [--precision auto|fp32|fp16] [--device D] [--kernels cpu|gpu] [--ref] [--reps N]\n"
             "  --model F        CLIP weights (safetensors, Hugging Face or open_clip naming, fp32/fp16/bf16)\n"
             "  --input F        float [3, S, S] .npy, already CLIP-normalised; S is the input size\n"
             "  --image F        PNG or JPEG picture: resized to S x S and normalised on the device\n"
             "  --output F       where the tokens go: float32 .npy [1 + N, D], or [n, 1 + N, D] for n feature\n"
             "                   layers: row 0 the global token, rows 1..N the patch tokens in raster order\n"
             "  --head F         take the encoder's defaults from this head file (the options below win)\n"
             "  --vv-start L     first layer (from 1) of the value-value attention stream; 0 = off, plain\n"
             "                   CLIP (default round(L/4) of the model's L layers: 6 of 24, 3 of 12)\n"
             "  --feature-layers L,L,...\n"
             "                   layers (from 1, increasing) whose patch tokens are output (default: the last)\n"
             "  --global-ln-post B  1: global token through ln_post (default); 0: without (AnomalyCLIP)\n"
             "  --input-size S   encoder input size, a multiple of the patch size (default: --input's size,\n"
             "                   else the model's pre-training size)\n"
             "  --pos-interp M   positional-embedding resize when S differs from the pre-training size\n"
             "                   (default bicubic)\n"
             "  --resample M     --image resize filter: bicubic, bilinear (antialiased, in float) or\n"
             "                   bicubic-pil (PIL's 8-bit resize) (default bicubic)\n"
             "  --weights P      matrix weights on the device: as stored (fp16 stays fp16), f32 or f16\n"
             "  --device D       Vulkan device index or name substring (default: the best)\n"
             "  --kernels F      kernel family cpu or gpu (default: from the device type)\n"
             "  --precision P    as the element's: auto (fp16 on GPUs, fp32 on CPU devices), fp32, or fp16\n"
             "                   (fp16 weights and matmul inputs, fp32 sums, cooperative matrices where the\n"
             "                   device has them); replaces --weights (default: --weights alone, fp32 sums)\n"
             "  --ref            run the plain-C reference instead of Vulkan (slow; for checking)\n"
             "  --reps N         time N more runs after the first and report their median\n");
}

static int parse(int argc, char **argv, options *o)
{
  *o = (options){ .weights = TC_WEIGHTS_AS_STORED, .family = TC_FAMILY_AUTO, .precision = -1 };
  tc_params_init(&o->user);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    int r = 0, takes = 1;
    if (cli_is_help(a)) {
      usage(stdout);
      exit(0);
    } else if (strcmp(a, "--ref") == 0) {
      o->ref = 1, takes = 0;
    } else if (!val) {
      fprintf(stderr, "tokenclip-encode: unknown option or missing value: %s\n", a);
      return -1;
    } else if (strcmp(a, "--model") == 0) {
      o->model = val;
    } else if (strcmp(a, "--input") == 0) {
      o->input = val;
    } else if (strcmp(a, "--image") == 0) {
      o->image = val;
    } else if (strcmp(a, "--output") == 0) {
      o->output = val;
    } else if (strcmp(a, "--device") == 0) {
      o->device = val;
    } else if (strcmp(a, "--head") == 0) {
      o->head = val;
    } else if (strcmp(a, "--vv-start") == 0) {
      r = cli_param(TOOL, a, val, &o->user, TC_PARAM_VV_START);
    } else if (strcmp(a, "--global-ln-post") == 0) {
      r = cli_param(TOOL, a, val, &o->user, TC_PARAM_GLOBAL_LN_POST);
    } else if (strcmp(a, "--feature-layers") == 0) {
      r = cli_param_list(TOOL, a, val, &o->user, TC_PARAM_FEATURE_LAYERS);
    } else if (strcmp(a, "--input-size") == 0) {
      r = cli_param(TOOL, a, val, &o->user, TC_PARAM_INPUT_SIZE);
      if (r == 0 && o->user.input_size == 0)
        fprintf(stderr, "tokenclip-encode: --input-size takes a positive size\n"), r = -1;
    } else if (strcmp(a, "--reps") == 0) {
      r = cli_uint_max(TOOL, a, val, 10000, &o->reps);
    } else if (strcmp(a, "--pos-interp") == 0) {
      tc_interp m;
      if ((r = cli_pos_interp(TOOL, val, &m)) == 0)
        tc_params_set(&o->user, TC_PARAM_POS_INTERP, m, NULL);
    } else if (strcmp(a, "--resample") == 0) {
      tc_resample_filter f;
      if ((r = cli_resample(TOOL, val, &f)) == 0)
        tc_params_set(&o->user, TC_PARAM_RESAMPLE, f, NULL);
    } else if (strcmp(a, "--weights") == 0) {
      if (strcmp(val, "stored") == 0)
        o->weights = TC_WEIGHTS_AS_STORED;
      else if (strcmp(val, "f32") == 0)
        o->weights = TC_WEIGHTS_F32;
      else if (strcmp(val, "f16") == 0)
        o->weights = TC_WEIGHTS_F16;
      else
        fprintf(stderr, "tokenclip-encode: --weights takes stored, f32 or f16, not \"%s\"\n", val), r = -1;
    } else if (strcmp(a, "--kernels") == 0) {
      r = cli_kernels(TOOL, val, &o->family);
    } else if (strcmp(a, "--precision") == 0) {
      tc_precision p;
      if ((r = cli_precision(TOOL, val, &p)) == 0)
        o->precision = (int)p;
    } else {
      fprintf(stderr, "tokenclip-encode: unknown option: %s\n", a);
      return -1;
    }
    if (r != 0)
      return -1;
    i += takes;
  }
  if (o->input && o->image) {
    fprintf(stderr, "tokenclip-encode: give --input or --image, not both\n");
    return -1;
  }
  if (!o->model || !o->output || (!o->input && !o->image)) {
    fprintf(stderr, "tokenclip-encode: --model, --output and one of --input or --image are required\n");
    return -1;
  }
  return 0;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static const char *act_name(tc_act act)
{
  return act == TC_ACT_GELU ? "gelu" : act == TC_ACT_QUICK_GELU ? "quick_gelu" : "none";
}

/* The input .npy: [3, S, S] with S the input size (from the file unless given). */
static tc_status read_input(const options *o, const tc_clip_vision_config *cfg, tc_npy *x, uint32_t *size,
                            tc_error *err)
{
  tc_status st = tc_npy_read(o->input, x, err);
  if (st != TC_OK)
    return st;
  if (x->ndim != 3 || x->shape[0] != 3 || x->shape[1] != x->shape[2] || x->shape[1] < 1) {
    char shape[160] = "";
    for (int i = 0, n = 0; i < x->ndim && n < (int)sizeof shape - 24; i++)
      n += snprintf(shape + n, sizeof shape - n, "%s%lld", i ? ", " : "", (long long)x->shape[i]);
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: the input must be a float array [3, S, S] (CLIP-normalised "
                        "RGB, square), not [%s]", o->input, shape);
  }
  if (tc_params_is_set(&o->user, TC_PARAM_INPUT_SIZE) && x->shape[1] != o->user.input_size)
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: the input is %lldx%lld but --input-size is %u", o->input,
                        (long long)x->shape[1], (long long)x->shape[2], o->user.input_size);
  if (x->shape[1] % cfg->patch_size != 0 || x->shape[1] > 64 * 1024)
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: the input is %lldx%lld, not a multiple of the model's patch "
                        "size %d (e.g. %d)", o->input, (long long)x->shape[1], (long long)x->shape[2],
                        cfg->patch_size, cfg->image_size);
  *size = (uint32_t)x->shape[1];
  return TC_OK;
}

/* The settings in effect: the library's defaults < the head file's < the
 * options, the model's defaults filled in. */
static tc_status settings(const options *o, const tc_clip_vision_config *cfg, tc_params *eff, tc_error *err)
{
  tc_params file;
  tc_params_init(&file);
  if (o->head) {
    tc_head_file hf;
    tc_status st = tc_head_file_load(o->head, 0, &hf, &file, err);
    tc_head_file_free(&hf);
    if (st != TC_OK)
      return st;
  }
  tc_params_merge(&file, &o->user, eff);
  tc_params_resolve_model(eff, file.set | o->user.set, (uint32_t)cfg->layers);
  return tc_params_check(eff, 0, err);
}

/* The encoder on Vulkan: input upload or preprocess, encoder, one submission. */
typedef struct vk_run {
  tc_context *ctx;
  tc_encoder *enc;
  tc_preprocess *pre;
  tc_buffer *frame_buf;
  tc_cmd *cmd;
} vk_run;

static void vk_run_free(vk_run *v)
{
  tc_cmd_destroy(v->cmd);
  tc_preprocess_destroy(v->pre);
  tc_buffer_destroy(v->frame_buf);
  tc_encoder_destroy(v->enc);
  tc_context_destroy(v->ctx);
}

/* Creates everything and records the graph; the input lands on the device. */
static tc_status vk_prepare(const options *o, const tc_clip_vision *model, const tc_encoder_options *eo,
                            tc_resample_filter resample, const tc_npy *x, const image_file *img, vk_run *v,
                            tc_error *err)
{
  tc_context_options co;
  tc_context_options_init(&co);
  co.device = o->device;
  co.family = o->family;
  if (o->precision >= 0 && !getenv("TOKENCLIP_COOPMAT")) /* as the detector: cooperative matrices unless fp32 */
    co.cooperative_matrix = o->precision == TC_PRECISION_FP32 ? 0 : 1;
  tc_status st = tc_context_create(&co, &v->ctx, err);
  tc_encoder_options with_precision = *eo;
  if (st == TC_OK && o->precision >= 0)
    tc_precision_to_encoder(v->ctx, (tc_precision)o->precision, &with_precision);
  if (st == TC_OK)
    st = tc_encoder_create(v->ctx, model, &with_precision, &v->enc, err);
  tc_frame frame = img ? tc_frame_make(TC_FRAME_RGBA, img->width, img->height) : (tc_frame){ 0 };
  if (st == TC_OK && img) {
    if ((st = tc_frame_buffer_create(v->ctx, &frame, &v->frame_buf, err)) == TC_OK &&
        (st = tc_frame_upload(v->frame_buf, &frame, img->rgba, 4 * (size_t)img->width, err)) == TC_OK)
      st = tc_preprocess_create(v->ctx, &frame, tc_encoder_input_size(v->enc), resample, &v->pre, err);
    if (st != TC_OK)
      tc_error_prefix(err, "%s", o->image);
  } else if (st == TC_OK) {
    st = tc_buffer_upload(tc_encoder_input(v->enc), 0, x->data, x->numel * sizeof(float), err);
  }
  if (st == TC_OK)
    st = tc_cmd_create(v->ctx, &v->cmd, err);
  if (st == TC_OK)
    st = tc_cmd_begin(v->cmd, err);
  if (st == TC_OK && v->pre)
    st = tc_preprocess_record(v->pre, v->cmd, v->frame_buf, tc_encoder_input(v->enc), err);
  if (st == TC_OK)
    st = tc_encoder_record(v->enc, v->cmd, err);
  if (st == TC_OK)
    st = tc_cmd_end(v->cmd, err);
  return st;
}

int main(int argc, char **argv)
{
  options o;
  if (parse(argc, argv, &o) != 0)
    return cli_refused(usage);
  tc_error err = { 0 };
  tc_clip_vision *model = NULL;
  tc_npy x = { 0 };
  image_file img = { 0 };
  vk_run v = { 0 };
  float *input = NULL, *tokens = NULL;
  double *rep_ms = NULL;
  double t_start = cli_now_ms(), load_ms = 0, first_ms = 0, median_ms = 0, min_ms = 0;
  uint32_t S = 0, G = 0, E = 0;
  const tc_clip_vision_config *cfg = NULL;

  tc_params eff;
  tc_params_init(&eff);
  tc_status st = tc_clip_vision_open(o.model, NULL, &model, &err);
  if (st == TC_OK) {
    cfg = tc_clip_vision_get_config(model);
    st = settings(&o, cfg, &eff, &err);
  }
  if (st == TC_OK) {
    if (o.input)
      st = read_input(&o, cfg, &x, &S, &err);
    else if ((st = image_file_read(o.image, &img, &err)) == TC_OK)
      S = eff.input_size ? eff.input_size : (uint32_t)cfg->image_size;
  }
  tc_encoder_options eo;
  tc_params_to_encoder(&eff, &eo);
  eo.input_size = S;
  eo.weights = o.weights;
  if (st == TC_OK && (st = tc_encoder_options_check(&eo, cfg, &err)) != TC_OK)
    tc_error_prefix(&err, "%s", o.model);
  uint32_t layers[TC_MAX_FEATURE_LAYERS], n = tc_params_feature_layers(&eff, layers);
  if (st == TC_OK) {
    G = S / (uint32_t)cfg->patch_size;
    E = (uint32_t)cfg->embed_dim;
  }
  const size_t rows = 1 + (size_t)G * G;
  if (st == TC_OK && !(tokens = malloc(n * rows * E * sizeof *tokens)))
    st = tc_error_set(&err, TC_ERR_OUT_OF_MEMORY, "out of host memory for %u x %zux%u tokens", n, rows, E);

  if (st == TC_OK && o.ref) {
    /* the plain-C path: preprocess and encoder references */
    if (img.rgba) {
      tc_frame frame = tc_frame_make(TC_FRAME_RGBA, img.width, img.height);
      if (!(input = malloc(3 * (size_t)S * S * sizeof *input)))
        st = tc_error_set(&err, TC_ERR_OUT_OF_MEMORY, "out of host memory for the %ux%u input", S, S);
      else
        tc_ref_preprocess(img.rgba, &frame, S, eff.resample, input);
    }
    load_ms = cli_now_ms() - t_start;
    double t0 = cli_now_ms();
    if (st == TC_OK)
      st = tc_ref_encoder_run(model, &eo, input ? input : x.data, tokens, &err);
    first_ms = median_ms = min_ms = cli_now_ms() - t0;
  } else if (st == TC_OK) {
    st = vk_prepare(&o, model, &eo, eff.resample, &x, img.rgba ? &img : NULL, &v, &err);
    load_ms = cli_now_ms() - t_start;
    double t0 = cli_now_ms();
    if (st == TC_OK)
      st = tc_cmd_run(v.cmd, &err);
    first_ms = median_ms = min_ms = cli_now_ms() - t0;
    if (st == TC_OK && o.reps) {
      if (!(rep_ms = malloc(o.reps * sizeof *rep_ms)))
        st = tc_error_set(&err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
      for (uint32_t r = 0; st == TC_OK && r < o.reps; r++) {
        t0 = cli_now_ms();
        st = tc_cmd_run(v.cmd, &err);
        rep_ms[r] = cli_now_ms() - t0;
      }
      if (st == TC_OK) {
        qsort(rep_ms, o.reps, sizeof *rep_ms, cmp_double);
        min_ms = rep_ms[0];
        median_ms = o.reps % 2 ? rep_ms[o.reps / 2] : 0.5 * (rep_ms[o.reps / 2 - 1] + rep_ms[o.reps / 2]);
      }
    }
    if (st == TC_OK)
      st = tc_buffer_download(tc_encoder_output(v.enc), 0, tokens, n * rows * E * sizeof *tokens, &err);
  }
  if (st == TC_OK && n == 1)
    st = tc_npy_write(o.output, tokens, 2, (int64_t[]){ (int64_t)rows, E }, &err);
  else if (st == TC_OK)
    st = tc_npy_write(o.output, tokens, 3, (int64_t[]){ n, (int64_t)rows, E }, &err);

  if (st == TC_OK) {
    static const char *weights[] = { "stored", "f32", "f16" };
    printf("{\n  \"model\": ");
    cli_json_string(stdout, o.model, 0);
    printf(",\n  \"naming\": \"%s\",\n",
           tc_clip_vision_naming(model) == TC_CLIP_NAMING_HF ? "hf" : "openclip");
    printf("  \"config\": {\"width\": %d, \"layers\": %d, \"heads\": %d, \"mlp\": %d, \"patch\": %d, "
           "\"pretrain_size\": %d, \"embed\": %d, \"act\": \"%s\"},\n",
           cfg->width, cfg->layers, cfg->heads, cfg->mlp_dim, cfg->patch_size, cfg->image_size, cfg->embed_dim,
           act_name(cfg->act));
    printf("  \"input\": {\"%s\": ", o.input ? "npy" : "image");
    cli_json_string(stdout, o.input ? o.input : o.image, 0);
    if (img.rgba)
      printf(", \"format\": \"%s\", \"width\": %u, \"height\": %u, \"resample\": \"%s\"", img.format, img.width,
             img.height, tc_resample_filter_name(eff.resample));
    printf("},\n");
    printf("  \"input_size\": %u,\n  \"grid\": %u,\n  \"tokens\": %zu,\n  \"dim\": %u,\n", S, G, rows, E);
    printf("  \"vv_start\": %u,\n  \"feature_layers\": [", eff.vv_start);
    for (uint32_t i = 0; i < n; i++)
      printf("%s%u", i ? ", " : "", layers[i]);
    printf("],\n  \"global_ln_post\": %s,\n  \"pos_interp\": \"%s\",\n  \"weights\": \"%s\",\n",
           eff.global_ln_post ? "true" : "false", tc_interp_name((tc_interp)eff.pos_interp), weights[o.weights]);
    static const char *precisions[] = { "auto", "fp32", "fp16" };
    printf("  \"precision\": \"%s\",\n", o.precision >= 0 ? precisions[o.precision] : "weights");
    printf("  \"device\": ");
    cli_json_string(stdout, o.ref ? "C reference" : tc_context_device_name(v.ctx), 0);
    printf(",\n  \"kernels\": \"%s\",\n",
           o.ref ? "ref" : tc_context_family(v.ctx) == TC_FAMILY_CPU ? "cpu" : "gpu");
    printf("  \"load_ms\": %.3f,\n", load_ms);        /* model, weights upload, recording */
    printf("  \"first_run_ms\": %.3f,\n", first_ms);  /* the first submission compiles the shaders */
    printf("  \"reps\": %u,\n", o.ref ? 0 : o.reps);
    printf("  \"run_ms\": %.3f,\n  \"min_ms\": %.3f\n}\n", median_ms, min_ms); /* median and best of --reps */
  } else {
    fprintf(stderr, "tokenclip-encode: %s\n", err.message);
  }
  free(rep_ms);
  free(tokens);
  free(input);
  vk_run_free(&v);
  image_file_free(&img);
  tc_npy_free(&x);
  tc_clip_vision_close(model);
  return st == TC_OK ? 0 : 1;
}
