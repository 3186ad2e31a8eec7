/* Zero-shot textual subspaces from words: CLIP text embeddings of prompt
 * templates x normal / abnormal state phrases for one object name.
 *
 * The recipe (WinCLIP / APRIL-GAN-style prompt ensembles, one subspace per
 * template as in TokenCLIP's Q subspaces):
 *
 *   for each template t_q (q < Q):                     e.g. "a photo of a {}."
 *     for each state s in NORMAL:                      e.g. "flawless {}"
 *       n_s = normalise(text_encoder(tokenize(t_q.format(s.format(object)))))
 *     for each state s in ABNORMAL:                    e.g. "damaged {}"
 *       a_s = normalise(...)
 *     T[q, 0] = normalise(mean_s n_s)                  normal
 *     T[q, 1] = normalise(mean_s a_s)                  abnormal
 *
 * normalise(v) = v / |v|_2; "{}" is replaced by plain substitution (the
 * object name as given, e.g. "metal nut"; the tokenizer lower-cases it).
 * NORMAL = "{}", "flawless {}", "perfect {}", "unblemished {}", "{} without
 * flaw", "{} without defect", "{} without damage"; ABNORMAL = "damaged {}",
 * "broken {}", "{} with flaw", "{} with defect", "{} with damage". The
 * built-in templates are the 35 of WinCLIP / APRIL-GAN (tc_prompt_templates).
 *
 * A template file holds one template per line with exactly one "{}"; empty
 * lines and lines starting with '#' are skipped; leading and trailing white
 * space is removed. Each template becomes one subspace, in file order. */
#ifndef TC_PROMPTS_H
#define TC_PROMPTS_H

#include <stdint.h>

#include "tc_clip_text.h"
#include "tc_tokenizer.h"
#include "tc_vk.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const char *const tc_prompt_templates[];  /* the built-in templates */
extern const uint32_t tc_prompt_templates_count;
extern const char *const tc_prompt_normal_states[];
extern const uint32_t tc_prompt_normal_count;
extern const char *const tc_prompt_abnormal_states[];
extern const uint32_t tc_prompt_abnormal_count;

/* Reads a template file into *templates (n strings; free with
 * tc_prompt_templates_free). Errors name the file and the line. */
tc_status tc_prompt_templates_load(const char *path, char ***templates, uint32_t *n, tc_error *err);
void tc_prompt_templates_free(char **templates, uint32_t n);

/* The prompt of template t for state s and object: t.format(s.format(object)),
 * malloc'ed. */
tc_status tc_prompt_format(const char *tmpl, const char *state, const char *object, char **out, tc_error *err);

/* The recipe above on an open model and tokenizer, on ctx: T gets a malloc'ed
 * [Q, 2, D] array, Q = n_templates, D = the text embedding size. */
tc_status tc_prompt_subspaces_on(tc_context *ctx, const tc_clip_text *model, const tc_tokenizer *tok,
                                 const char *object, const char *const *templates, uint32_t n_templates, float **T,
                                 uint32_t *D, tc_error *err);

/* One call for the element and the tools: opens the text tower of
 * model_path (the same CLIP file as the image tower), the vocabulary
 * (vocab_path; NULL: the one beside the model file — vocab.json + merges.txt
 * or bpe_simple_vocab_16e6.txt.gz — else the one installed with the
 * library), the templates (templates_path; NULL: the built-in ones) and a
 * Vulkan device (NULL: TOKENCLIP_DEVICE or the best), and computes T. */
tc_status tc_prompt_subspaces(const char *model_path, const char *object, const char *templates_path,
                              const char *vocab_path, const char *device, float **T, uint32_t *Q, uint32_t *D,
                              tc_error *err);

/* The vocabulary for model_path as tc_prompt_subspaces finds it. */
tc_status tc_prompt_open_tokenizer(const char *model_path, const char *vocab_path, tc_tokenizer **out,
                                   tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
