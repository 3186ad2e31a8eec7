/* tokenclip-prompts: zero-shot textual subspaces from words, written as a head file.
 *
 *   tokenclip-prompts --model clip.safetensors --object "metal nut" --output head.safetensors
 *                     [--prompts templates.txt] [--vocab V] [--half] [--device D] [--print-prompts]
 *
 * Runs the CLIP text encoder of the model file on the prompt ensemble of
 * core/text/tc_prompts.h (the built-in templates or one per line of
 * --prompts, x the normal and abnormal state phrases) and writes T [Q, 2, D]
 * as the head file's `subspaces` (F32, or F16 with --half). A JSON summary
 * goes to stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "head/tc_head_file.h"
#include "text/tc_prompts.h"

static void usage(FILE *f)
{
  fprintf(f, "usage: tokenclip-prompts --model M --object NAME --output head.safetensors\n"
             "                         [--prompts FILE] [--vocab V] [--half] [--device D] [--print-prompts]\n"
             "  --model M        CLIP safetensors with a text tower (Hugging Face or open_clip naming)\n"
             "  --object NAME    the object's name, e.g. \"metal nut\"\n"
             "  --output F       the head file to write (tensor subspaces [Q, 2, D])\n"
             "  --prompts F      templates, one per line with one {} (default: the 35 built-in photo templates)\n"
             "  --vocab V        bpe_simple_vocab_16e6.txt.gz, vocab.json or merges.txt, or a directory\n"
             "                   (default: beside the model, else the vocabulary installed with tokenclip)\n"
             "  --half           store the subspaces as F16\n"
             "  --device D       Vulkan device index or name substring (default: the best)\n"
             "  --print-prompts  list every prompt (template x state) on stderr\n");
}

int main(int argc, char **argv)
{
  const char *model = NULL, *object = NULL, *output = NULL, *prompts = NULL, *vocab = NULL, *device = NULL;
  int half = 0, print = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (cli_is_help(a)) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--half") == 0) {
      half = 1;
      continue;
    } else if (strcmp(a, "--print-prompts") == 0) {
      print = 1;
      continue;
    } else if (!v) {
      fprintf(stderr, "tokenclip-prompts: unknown option or missing value: %s\n", a);
      return cli_refused(usage);
    } else if (strcmp(a, "--model") == 0) {
      model = v;
    } else if (strcmp(a, "--object") == 0) {
      object = v;
    } else if (strcmp(a, "--output") == 0) {
      output = v;
    } else if (strcmp(a, "--prompts") == 0) {
      prompts = v;
    } else if (strcmp(a, "--vocab") == 0) {
      vocab = v;
    } else if (strcmp(a, "--device") == 0) {
      device = v;
    } else {
      fprintf(stderr, "tokenclip-prompts: unknown option: %s\n", a);
      return cli_refused(usage);
    }
    i++;
  }
  if (!model || !object || !output) {
    fprintf(stderr, "tokenclip-prompts: --model, --object and --output are required\n");
    return cli_refused(usage);
  }
  tc_error err = { 0 };
  float *T = NULL;
  uint32_t Q = 0, D = 0;
  double t0 = cli_now_ms();
  tc_status st = tc_prompt_subspaces(model, object, prompts, vocab, device, &T, &Q, &D, &err);
  double ms = cli_now_ms() - t0;
  if (st == TC_OK && print) {
    char **loaded = NULL;
    uint32_t n = tc_prompt_templates_count;
    const char *const *templates = tc_prompt_templates;
    if (prompts && tc_prompt_templates_load(prompts, &loaded, &n, &err) == TC_OK)
      templates = (const char *const *)loaded;
    for (uint32_t q = 0; q < n; q++)
      for (uint32_t s = 0; s < tc_prompt_normal_count + tc_prompt_abnormal_count; s++) {
        int normal = s < tc_prompt_normal_count;
        char *text;
        if (tc_prompt_format(templates[q], normal ? tc_prompt_normal_states[s]
                                                  : tc_prompt_abnormal_states[s - tc_prompt_normal_count],
                             object, &text, &err) == TC_OK) {
          fprintf(stderr, "%u %s: %s\n", q, normal ? "normal" : "abnormal", text);
          free(text);
        }
      }
    tc_prompt_templates_free(loaded, loaded ? n : 0);
  }
  if (st == TC_OK)
    st = tc_head_file_write(output, T, Q, D, half, NULL, &err);
  if (st != TC_OK) {
    fprintf(stderr, "tokenclip-prompts: %s\n", err.message);
    free(T);
    return 1;
  }
  printf("{\n");
  cli_json_member("object", object, ",");
  cli_json_member("templates", prompts ? prompts : "built-in", ",");
  printf("  \"subspaces\": %u,\n  \"dim\": %u,\n  \"prompts\": %u,\n", Q, D,
         Q * (tc_prompt_normal_count + tc_prompt_abnormal_count));
  cli_json_member("output", output, ",");
  printf("  \"run_ms\": %.1f\n}\n", ms);
  free(T);
  return 0;
}
