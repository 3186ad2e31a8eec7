#include "fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];
static char paths[8][128];
static int n_paths;

static void remove_all(void)
{
  for (int i = 0; i < n_paths; i++)
    remove(paths[i]);
  if (dir[0])
    rmdir(dir);
}

const char *fuzz_dir(void)
{
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "%s/tc-fuzz-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
      perror("fuzz: mkdtemp");
      abort();
    }
    atexit(remove_all);
  }
  return dir;
}

const char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
  char path[128];
  snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
  int slot = 0;
  while (slot < n_paths && strcmp(paths[slot], path) != 0)
    slot++;
  if (slot == n_paths) {
    if (n_paths == 8)
      abort();
    memcpy(paths[n_paths++], path, sizeof path);
  }
  FILE *f = fopen(paths[slot], "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
    perror(paths[slot]);
    abort();
  }
  return paths[slot];
}

char *fuzz_string(const uint8_t *data, size_t size)
{
  char *s = malloc(size + 1);
  if (!s)
    abort();
  if (size)
    memcpy(s, data, size);
  s[size] = '\0';
  return s;
}
