/* File helpers for the tests that read and write model files: a private
 * temporary directory, raw files, and error-message checks. Header-only so
 * the shared test library stays as it is. */
#ifndef TC_TEST_FILES_H
#define TC_TEST_FILES_H

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tc_test.h"

static char tc_tmp_dir[512];

/* Creates a fresh directory under $TMPDIR (or /tmp); exits on failure. */
static inline const char *tc_tmp_init(const char *test_name)
{
  const char *base = getenv("TMPDIR");
  snprintf(tc_tmp_dir, sizeof tc_tmp_dir, "%s/tc-%s-XXXXXX", base && base[0] ? base : "/tmp", test_name);
  if (!mkdtemp(tc_tmp_dir)) {
    perror("mkdtemp");
    exit(1);
  }
  return tc_tmp_dir;
}

/* dir/name in memory freed by tc_tmp_cleanup. */
static char **tc_tmp_paths;
static size_t tc_tmp_path_count;
static inline const char *tc_path_join(const char *dir, const char *name)
{
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  char **list = realloc(tc_tmp_paths, (tc_tmp_path_count + 1) * sizeof *list);
  if (!p || !list) {
    perror("tc_path_join");
    exit(1);
  }
  snprintf(p, n, "%s/%s", dir, name);
  tc_tmp_paths = list;
  tc_tmp_paths[tc_tmp_path_count++] = p;
  return p;
}

/* A path inside the temporary directory. */
static inline const char *tc_tmp_path(const char *name) { return tc_path_join(tc_tmp_dir, name); }

/* Removes the files in the temporary directory and the directory itself. */
static inline void tc_tmp_cleanup(void)
{
  DIR *d = opendir(tc_tmp_dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", tc_tmp_dir, e->d_name);
        unlink(p);
      }
    }
    closedir(d);
  }
  rmdir(tc_tmp_dir);
  for (size_t i = 0; i < tc_tmp_path_count; i++)
    free(tc_tmp_paths[i]);
  free(tc_tmp_paths);
  tc_tmp_paths = NULL;
  tc_tmp_path_count = 0;
}

static inline void tc_write_bytes(const char *path, const void *data, size_t n)
{
  FILE *f = fopen(path, "wb");
  if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

/* Reads a whole file into malloc'd memory; exits on failure. */
static inline unsigned char *tc_read_bytes(const char *path, size_t *n)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(size > 0 ? (size_t)size : 1);
  if (!b || fread(b, 1, (size_t)size, f) != (size_t)size) {
    perror(path);
    exit(1);
  }
  fclose(f);
  *n = (size_t)size;
  return b;
}

/* Checks that a call failed with `want` and that its message mentions
 * every given fragment (NULL-terminated list), then clears err. */
#define TC_CHECK_ERROR(st, err, want, ...) tc_check_error((st), (err), (want), #st, __LINE__, __VA_ARGS__, (const char *)NULL)
static inline void tc_check_error(tc_status st, tc_error *err, tc_status want, const char *what, int line, ...)
{
  if (st != want || err->status != want) {
    fprintf(stderr, "FAIL line %d: %s returned %s (error status %s), expected %s: %s\n", line, what,
            tc_status_name(st), tc_status_name(err->status), tc_status_name(want), err->message);
    tc_test_failures++;
  } else {
    va_list ap;
    va_start(ap, line);
    const char *frag;
    while ((frag = va_arg(ap, const char *))) {
      if (!strstr(err->message, frag)) {
        fprintf(stderr, "FAIL line %d: %s: message lacks \"%s\": %s\n", line, what, frag, err->message);
        tc_test_failures++;
      }
    }
    va_end(ap);
    printf("ok line %d: %s\n", line, err->message);
  }
  tc_error_clear(err);
}

#endif
