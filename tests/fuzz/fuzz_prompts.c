/* Prompt-template files and the formatting of every template. */
#include <stdlib.h>

#include "fuzz_util.h"
#include "text/tc_prompts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char **templates = NULL;
  uint32_t n = 0;
  if (tc_prompt_templates_load(fuzz_file("templates.txt", data, size), &templates, &n, NULL) != TC_OK)
    return 0;
  for (uint32_t i = 0; i < n; i++) {
    char *prompt = NULL;
    if (tc_prompt_format(templates[i], tc_prompt_abnormal_states[0], "screw", &prompt, NULL) == TC_OK)
      free(prompt);
  }
  tc_prompt_templates_free(templates, n);
  return 0;
}
