/* Detector options on the command line (see detector_args.h). */
#include "detector_args.h"

#include <string.h>

#include "cli.h"

void detector_args_init(detector_args *a)
{
  memset(a, 0, sizeof *a);
  tc_detector_options_init(&a->det);
}

void detector_args_usage(FILE *f)
{
  fprintf(f, "  --model F        CLIP weights, safetensors (Hugging Face or open_clip naming)\n"
             "  --head F         head file: subspaces [Q, 2, D] and optional defaults\n"
             "  --object NAME    zero-shot, instead of a head file: the subspaces from this object's name\n"
             "                   (e.g. \"metal nut\"), computed once by the model file's CLIP text encoder\n"
             "                   from prompt templates (the file needs the text tower; head defaults: the\n"
             "                   library's). tokenclip-prompts writes the same subspaces as a head file\n"
             "  --prompts F      with words: templates, one per line with one {} (default: the built-in ones)\n"
             "  --vocab V        with words: CLIP's vocabulary, bpe_simple_vocab_16e6.txt.gz, vocab.json or\n"
             "                   a directory (default: beside the model, else the one installed)\n"
             "  --device D       Vulkan device index or name substring (default: the best)\n"
             "The analysis options below override the head file's defaults (an AnomalyCLIP head file holds\n"
             "those of AnomalyCLIP's inference); the defaults given are those without a head file's.\n"
             "  --input-size S   model input size, a multiple of the patch size (default: the model's)\n"
             "  --vv-start L     first layer (from 1) of the value-value stream; 0 = off, plain CLIP\n"
             "                   (default round(L/4) of the model's L layers: 6 of 24, 3 of 12)\n"
             "  --feature-layers L,L,...\n"
             "                   layers (from 1, increasing) whose patch tokens are scored, their scores\n"
             "                   summed (AnomalyCLIP's code default: 6,12,18,24; default: the last layer)\n"
             "  --global-ln-post B  1: the global token through ln_post as CLIP (default); 0: without, as\n"
             "                   AnomalyCLIP\n"
             "  --pos-interp M   positional-embedding resize: bicubic, bicubic-aa or bilinear (default bicubic)\n"
             "  --resample M     image -> model input: bicubic, bilinear (antialiased, in float) or\n"
             "                   bicubic-pil (PIL's 8-bit resize: AnomalyCLIP's input bit for bit) (default bicubic)\n"
             "  --precision P    encoder arithmetic: auto (fp16 on GPUs, fp32 on CPU devices), fp32 or fp16\n"
             "                   (fp16 weights and matmul inputs, fp32 sums) (default auto)\n"
             "  --topk K         subspaces kept per token (default all)\n"
             "  --eps E          Sinkhorn entropic regularisation (default 0.05)\n"
             "  --iters I        Sinkhorn iteration limit (default 100)\n"
             "  --temperature T  class-probability temperature (default 0.07)\n"
             "  --blend B        weight of the map maximum in the image score: 0 the global token alone\n"
             "                   (AnomalyCLIP), 1 the map alone (default 0.5)\n"
             "  --sigma S        Gaussian blur of the map (scipy's), in model-input pixels, scaled to the\n"
             "                   image per axis; 0 = none (default 4)\n");
}

/* The options that set one parameter each. */
static const struct {
  const char *name;
  tc_param id;
} param_opts[] = {
  { "--input-size", TC_PARAM_INPUT_SIZE }, { "--vv-start", TC_PARAM_VV_START },
  { "--topk", TC_PARAM_TOPK },             { "--eps", TC_PARAM_SINKHORN_EPS },
  { "--iters", TC_PARAM_SINKHORN_ITERS },  { "--temperature", TC_PARAM_TEMPERATURE },
  { "--blend", TC_PARAM_IMAGE_BLEND },     { "--sigma", TC_PARAM_SIGMA },
  { "--global-ln-post", TC_PARAM_GLOBAL_LN_POST }, { "--feature-layers", TC_PARAM_FEATURE_LAYERS },
};

int detector_args_parse(detector_args *a, const char *tool, const char *opt, const char *val)
{
  tc_detector_options *o = &a->det;
  int param = -1;
  for (size_t i = 0; i < sizeof param_opts / sizeof param_opts[0]; i++)
    if (strcmp(opt, param_opts[i].name) == 0)
      param = (int)i;
  const char *names[] = { "--model", "--head", "--object", "--prompts", "--vocab", "--device", "--pos-interp",
                          "--resample", "--precision" };
  int known = param >= 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    known |= strcmp(opt, names[i]) == 0;
  if (!known && !val) {
    fprintf(stderr, "%s: unknown option or missing value: %s\n", tool, opt);
    return -1;
  }
  if (!known)
    return 0;
  if (!val) {
    fprintf(stderr, "%s: %s needs a value\n", tool, opt);
    return -1;
  }
  int r = 0;
  if (param >= 0 && param_opts[param].id == TC_PARAM_FEATURE_LAYERS) {
    r = cli_param_list(tool, opt, val, &o->params, TC_PARAM_FEATURE_LAYERS);
  } else if (param >= 0) {
    r = cli_param(tool, opt, val, &o->params, param_opts[param].id);
  } else if (strcmp(opt, "--model") == 0) {
    o->model_path = val;
  } else if (strcmp(opt, "--head") == 0) {
    o->head_path = val;
  } else if (strcmp(opt, "--object") == 0) {
    if (!*val)
      fprintf(stderr, "%s: --object takes a name, not an empty string\n", tool), r = -1;
    o->object = val;
  } else if (strcmp(opt, "--prompts") == 0) {
    o->prompts_path = val;
  } else if (strcmp(opt, "--vocab") == 0) {
    o->vocab_path = val;
  } else if (strcmp(opt, "--device") == 0) {
    o->device = val;
  } else if (strcmp(opt, "--pos-interp") == 0) {
    tc_interp m;
    if ((r = cli_pos_interp(tool, val, &m)) == 0)
      tc_params_set(&o->params, TC_PARAM_POS_INTERP, m, NULL);
  } else if (strcmp(opt, "--resample") == 0) {
    tc_resample_filter f;
    if ((r = cli_resample(tool, val, &f)) == 0)
      tc_params_set(&o->params, TC_PARAM_RESAMPLE, f, NULL);
  } else if (strcmp(opt, "--precision") == 0) {
    tc_precision p;
    if ((r = cli_precision(tool, val, &p)) == 0)
      tc_params_set(&o->params, TC_PARAM_PRECISION, p, NULL);
  }
  return r == 0 ? 1 : -1;
}
