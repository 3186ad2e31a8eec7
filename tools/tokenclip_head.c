/* tokenclip-head: runs the TokenCLIP head on encoder tokens from a .npy file.
 *
 *   tokenclip-head --tokens tokens.npy --head head.safetensors --output scores.npy
 *   tokenclip-head --tokens tokens.npy --model clip.safetensors --object NAME [--prompts FILE]
 *                  [--vocab V] --output scores.npy
 *                  [--eps E] [--iters I] [--tol X] [--topk K] [--temperature T]
 *                  [--affinity max|mean|abnormal] [--greedy] [--blend B] [--map-max M]
 *                  [--device D] [--kernels cpu|gpu]
 *
 * tokens.npy holds [1 + N, D] floats: row 0 the global token, rows 1..N the
 * patch tokens in raster order. scores.npy gets the N token scores (float32).
 * A JSON object on stdout gives the global and image scores, the Sinkhorn
 * iterations and the plan's marginal errors. Parameters come from the
 * defaults, then the head file, then the command line. Without --map-max
 * the image score blends in the largest (unsmoothed) token score. With
 * --model and --object instead of --head, the subspaces are computed from
 * words by the model's CLIP text encoder (core/text/tc_prompts.h), with the
 * library's default head parameters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "head/tc_head.h"
#include "head/tc_head_file.h"
#include "tc_npy.h"
#include "tc_params.h"
#include "text/tc_prompts.h"

#define TOOL "tokenclip-head"

typedef struct options {
  const char *tokens, *head, *output, *device;
  const char *model, *object, *prompts, *vocab; /* zero-shot subspaces instead of --head */
  tc_kernel_family family;
  tc_params set; /* the head parameters given, over the head file's defaults */
  int has_map_max;
  float map_max;
} options;

static void usage(FILE *f)
{
  fprintf(f, "usage: tokenclip-head --tokens tokens.npy --head head.safetensors --output scores.npy\n"
             "       tokenclip-head --tokens tokens.npy --model M --object NAME [--prompts F] [--vocab V]\n"
             "                      --output scores.npy\n"
             "                      [--eps E] [--iters I] [--tol X] [--topk K] [--temperature T]\n"
             "                      [--affinity max|mean|abnormal] [--greedy] [--blend B] [--map-max M]\n"
             "                      [--device D] [--kernels cpu|gpu]\n"
             "  --tokens F       [1 + N, D] float array: the global token, then N patch tokens\n"
             "  --head F         safetensors head file: subspaces [Q, 2, D] and optional defaults\n"
             "  --model M        instead of --head: subspaces from words with this CLIP file's text encoder\n"
             "  --object NAME    the object's name for the prompts (with --model)\n"
             "  --prompts F      prompt templates, one per line with one {} (default: the built-in ones)\n"
             "  --vocab V        CLIP vocabulary (default: beside the model, else the installed one)\n"
             "  --output F       where the N token scores go (float32 .npy)\n"
             "  --eps E          Sinkhorn entropic regularisation (default 0.05 or the file's)\n"
             "  --iters I        Sinkhorn iteration limit (default 100 or the file's)\n"
             "  --tol X          stop when the plan's row marginal error is below X (default 1e-4)\n"
             "  --topk K         subspaces kept per token, 0 = all (default all or the file's)\n"
             "  --temperature T  softmax temperature of the class probabilities (default 0.07 or the file's)\n"
             "  --affinity A     transport affinity: max, mean or abnormal cosine (default max)\n"
             "  --greedy         each token to its argmax subspace, no transport\n"
             "  --blend B        weight of the map maximum in the image score (default 0.5)\n"
             "  --map-max M      the smoothed map's maximum (default: the largest token score)\n"
             "  --device D       Vulkan device index or name substring (default: the best)\n"
             "  --kernels F      kernel family cpu or gpu (default: from the device type)\n");
}

/* The options that set one head parameter each. */
static const struct {
  const char *name;
  tc_param id;
} param_opts[] = {
  { "--eps", TC_PARAM_SINKHORN_EPS }, { "--iters", TC_PARAM_SINKHORN_ITERS },
  { "--tol", TC_PARAM_SINKHORN_TOL }, { "--topk", TC_PARAM_TOPK },
  { "--temperature", TC_PARAM_TEMPERATURE }, { "--blend", TC_PARAM_IMAGE_BLEND },
};

static int parse(int argc, char **argv, options *o)
{
  *o = (options){ .family = TC_FAMILY_AUTO };
  tc_params_init(&o->set);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    int r = 0, takes = 1, param = -1;
    for (int k = 0; k < (int)(sizeof param_opts / sizeof param_opts[0]); k++)
      if (strcmp(a, param_opts[k].name) == 0)
        param = k;
    if (cli_is_help(a)) {
      usage(stdout);
      exit(0);
    } else if (strcmp(a, "--greedy") == 0) {
      tc_params_set(&o->set, TC_PARAM_GREEDY, 1, NULL), takes = 0;
    } else if (!val) {
      fprintf(stderr, "tokenclip-head: unknown option or missing value: %s\n", a);
      return -1;
    } else if (strcmp(a, "--tokens") == 0) {
      o->tokens = val;
    } else if (strcmp(a, "--head") == 0) {
      o->head = val;
    } else if (strcmp(a, "--output") == 0) {
      o->output = val;
    } else if (strcmp(a, "--model") == 0) {
      o->model = val;
    } else if (strcmp(a, "--object") == 0) {
      o->object = val;
    } else if (strcmp(a, "--prompts") == 0) {
      o->prompts = val;
    } else if (strcmp(a, "--vocab") == 0) {
      o->vocab = val;
    } else if (strcmp(a, "--device") == 0) {
      o->device = val;
    } else if (strcmp(a, "--kernels") == 0) {
      r = cli_kernels(TOOL, val, &o->family);
    } else if (param >= 0) {
      r = cli_param(TOOL, a, val, &o->set, param_opts[param].id);
    } else if (strcmp(a, "--map-max") == 0) {
      r = cli_float(TOOL, a, val, &o->map_max), o->has_map_max = 1;
    } else if (strcmp(a, "--affinity") == 0) {
      static const char *names[] = { "max", "mean", "abnormal" }; /* tc_head_affinity */
      r = -1;
      for (int k = 0; k < 3; k++)
        if (strcmp(val, names[k]) == 0)
          r = 0, tc_params_set(&o->set, TC_PARAM_AFFINITY, k, NULL);
      if (r)
        fprintf(stderr, "tokenclip-head: --affinity takes max, mean or abnormal, not \"%s\"\n", val);
    } else {
      fprintf(stderr, "tokenclip-head: unknown option: %s\n", a);
      return -1;
    }
    if (r != 0)
      return -1;
    i += takes;
  }
  if (!o->tokens || !o->output || !o->head == !o->model || !o->model != !o->object) {
    fprintf(stderr, "tokenclip-head: --tokens, --output and either --head or --model with --object are required\n");
    return -1;
  }
  return 0;
}

/* JSON number: finite values only reach here (the head refuses the rest). */
static void json_number(const char *key, double v, int last)
{
  printf("  \"%s\": %.9g%s\n", key, v, last ? "" : ",");
}

int main(int argc, char **argv)
{
  options o;
  if (parse(argc, argv, &o) != 0)
    return cli_refused(usage);
  tc_error err = { 0 };
  tc_npy tokens = { 0 };
  tc_head_file file = { 0 };
  tc_context *ctx = NULL;
  tc_head *head = NULL;
  tc_buffer *tok = NULL, *scores = NULL;
  tc_cmd *cmd = NULL;
  float *out = NULL;
  tc_head_result res;
  double ms = 0;
  tc_head_params p;
  tc_params file_defaults, eff;
  tc_params_init(&file_defaults);

  tc_status st = tc_npy_read(o.tokens, &tokens, &err);
  if (st == TC_OK && (tokens.ndim != 2 || tokens.shape[0] < 2 || tokens.shape[1] < 1))
    st = tc_error_set(&err, TC_ERR_MISMATCH, "%s: tokens must be [1 + N, D] with N >= 1 (the global token, then "
                      "the patch tokens)", o.tokens);
  uint32_t N = st == TC_OK ? (uint32_t)(tokens.shape[0] - 1) : 0, D = st == TC_OK ? (uint32_t)tokens.shape[1] : 0;
  if (st == TC_OK && o.head) {
    st = tc_head_file_load(o.head, 0, &file, &file_defaults, &err);
    /* said from the tokens' side: a wrong file there is the likelier mistake */
    if (st == TC_OK && file.D != D)
      st = tc_error_set(&err, TC_ERR_MISMATCH, "%s: tokens [%u, %u] have %u dimensions, the subspaces of %s have %u "
                        "(tokens are [1 + N, D]: tokenclip-encode's output)", o.tokens, N + 1, D, D, o.head, file.D);
  } else if (st == TC_OK) {
    st = tc_prompt_subspaces(o.model, o.object, o.prompts, o.vocab, o.device, &file.subspaces, &file.Q, &file.D,
                             &err);
    if (st == TC_OK && file.D != D)
      st = tc_error_set(&err, TC_ERR_MISMATCH, "%s: text embeddings have %u dimensions, the tokens of %s have %u",
                        o.model, file.D, o.tokens, D);
  }
  /* defaults < the head file's < the options given, checked against Q */
  tc_params_merge(&file_defaults, &o.set, &eff);
  tc_params_to_head(&eff, &p);
  if (st == TC_OK)
    st = tc_params_check(&eff, file.Q, &err);
  if (st == TC_OK) {
    tc_context_options opts;
    tc_context_options_init(&opts);
    opts.device = o.device;
    opts.family = o.family;
    st = tc_context_create(&opts, &ctx, &err);
  }
  if (st == TC_OK)
    st = tc_head_create(ctx, file.subspaces, file.Q, D, N, &head, &err);
  if (st == TC_OK)
    st = tc_buffer_create_from(ctx, tokens.data, tokens.numel * sizeof(float), &tok, &err);
  if (st == TC_OK)
    st = tc_buffer_create(ctx, (size_t)N * sizeof(float), &scores, &err);
  if (st == TC_OK)
    st = tc_cmd_create(ctx, &cmd, &err);
  if (st == TC_OK)
    st = tc_cmd_begin(cmd, &err);
  if (st == TC_OK)
    st = tc_head_record(head, cmd, tok, scores, &p, &err);
  if (st == TC_OK)
    st = tc_cmd_end(cmd, &err);
  if (st == TC_OK) {
    double t0 = cli_now_ms();
    st = tc_cmd_run(cmd, &err);
    ms = cli_now_ms() - t0;
  }
  if (st == TC_OK)
    st = tc_head_read_result(head, &res, &err);
  if (st == TC_OK && !(out = malloc((size_t)N * sizeof *out)))
    st = tc_error_set(&err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  if (st == TC_OK)
    st = tc_buffer_download(scores, 0, out, (size_t)N * sizeof *out, &err);
  if (st == TC_OK)
    st = tc_npy_write(o.output, out, 1, (int64_t[]){ N }, &err);

  if (st == TC_OK) {
    float map_max = o.has_map_max ? o.map_max : res.token_score_max;
    static const char *affinity[] = { "max", "mean", "abnormal" };
    printf("{\n");
    cli_json_member("device", tc_context_device_name(ctx), ",");
    printf("  \"tokens\": %u,\n  \"subspaces\": %u,\n  \"dim\": %u,\n", N, file.Q, D);
    printf("  \"params\": {\"temperature\": %.9g, \"sinkhorn_eps\": %.9g, \"sinkhorn_iters\": %u, "
           "\"sinkhorn_tol\": %.9g, \"topk\": %u, \"affinity\": \"%s\", \"greedy\": %s, \"image_blend\": %.9g},\n",
           p.temperature, p.sinkhorn_eps, p.sinkhorn_iters, p.sinkhorn_tol, p.topk ? p.topk : file.Q,
           affinity[p.affinity], p.greedy ? "true" : "false", p.image_blend);
    json_number("image_score", tc_head_image_score(&p, res.global_score, map_max), 0);
    json_number("global_score", res.global_score, 0);
    json_number("token_score_max", res.token_score_max, 0);
    printf("  \"map_max\": {\"value\": %.9g, \"from\": \"%s\"},\n", map_max,
           o.has_map_max ? "--map-max" : "token_score_max");
    printf("  \"iterations\": %u,\n  \"converged\": %s,\n", res.iterations, res.converged ? "true" : "false");
    json_number("row_marginal_error", res.row_error, 0);
    json_number("col_marginal_error", res.col_error, 0);
    json_number("run_ms", ms, 1); /* one submission; the first compiles the shaders */
    printf("}\n");
  } else {
    fprintf(stderr, "tokenclip-head: %s\n", err.message);
  }
  free(out);
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(tok);
  tc_buffer_destroy(scores);
  tc_head_destroy(head);
  tc_context_destroy(ctx);
  tc_head_file_free(&file);
  tc_npy_free(&tokens);
  return st == TC_OK ? 0 : 1;
}
