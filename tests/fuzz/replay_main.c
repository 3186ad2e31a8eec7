/* Runs every file of the given corpus folders (or files) through the target's
 * LLVMFuzzerTestOneInput once: the fuzz corpora replayed under ASan/UBSan in
 * the ordinary test run, without libFuzzer. Fails on no input at all, so an
 * empty or missing corpus cannot pass. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"
#include "tc_test_files.h"

static int replay_file(const char *path)
{
  size_t n;
  unsigned char *buf = tc_read_bytes(path, &n); /* exits on failure */
  LLVMFuzzerTestOneInput(buf, n);
  free(buf);
  return 1;
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

int main(int argc, char **argv)
{
  int count = 0;
  for (int i = 1; i < argc; i++) {
    struct stat sb;
    if (stat(argv[i], &sb) != 0) {
      perror(argv[i]);
      return 1;
    }
    if (!S_ISDIR(sb.st_mode)) {
      count += replay_file(argv[i]);
      continue;
    }
    struct dirent **names;
    int n = scandir(argv[i], &names, NULL, by_name);
    for (int k = 0; k < n; k++) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", argv[i], names[k]->d_name);
      if (names[k]->d_name[0] != '.' && stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
        count += replay_file(path);
      free(names[k]);
    }
    free(names);
  }
  printf("replayed %d inputs\n", count);
  if (count == 0) {
    fprintf(stderr, "no corpus files: nothing was checked\n");
    return 1;
  }
  return 0;
}
