/* MVTec AD folders and VisA split CSVs (see dataset.h). */
#include "dataset.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *dup_str(const char *s)
{
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

static char *join(const char *a, const char *b)
{
  size_t na = strlen(a), nb = strlen(b);
  char *s = malloc(na + nb + 2);
  if (!s)
    return NULL;
  memcpy(s, a, na);
  size_t k = na;
  if (na && a[na - 1] != '/')
    s[k++] = '/';
  memcpy(s + k, b, nb + 1);
  return s;
}

static int is_dir(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static tc_status no_memory(tc_error *err) { return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory"); }

static void sample_free(sample *s)
{
  free(s->image);
  free(s->mask);
  free(s->defect);
}

static void category_free(category *c)
{
  for (size_t i = 0; i < c->n; i++)
    sample_free(&c->samples[i]);
  free(c->samples);
  free(c->name);
  memset(c, 0, sizeof *c);
}

void dataset_free(dataset *d)
{
  for (size_t i = 0; i < d->n; i++)
    category_free(&d->cats[i]);
  free(d->cats);
  memset(d, 0, sizeof *d);
}

size_t dataset_samples(const dataset *d)
{
  size_t n = 0;
  for (size_t i = 0; i < d->n; i++)
    n += d->cats[i].n;
  return n;
}

static category *add_category(dataset *d, const char *name)
{
  if (d->n == d->cap) {
    size_t cap = d->cap ? 2 * d->cap : 16;
    category *c = realloc(d->cats, cap * sizeof *c);
    if (!c)
      return NULL;
    d->cats = c;
    d->cap = cap;
  }
  category *c = &d->cats[d->n];
  memset(c, 0, sizeof *c);
  if (!(c->name = dup_str(name)))
    return NULL;
  d->n++;
  return c;
}

/* Takes ownership of the three strings (also on failure). */
static tc_status add_sample(category *c, char *image, char *mask, char *defect, int label, tc_error *err)
{
  if (!image || (label && !mask) || !defect) {
    free(image), free(mask), free(defect);
    return no_memory(err);
  }
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 64;
    sample *s = realloc(c->samples, cap * sizeof *s);
    if (!s) {
      free(image), free(mask), free(defect);
      return no_memory(err);
    }
    c->samples = s;
    c->cap = cap;
  }
  c->samples[c->n++] = (sample){ .image = image, .mask = mask, .defect = defect, .label = label };
  return TC_OK;
}

/* ---- MVTec AD ---- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The names in a folder, sorted, without . and ..; with dirs_only the
 * sub-folders, else the files with an image extension. */
static tc_status list_dir(const char *path, int dirs_only, char ***names, size_t *count, tc_error *err)
{
  *names = NULL;
  *count = 0;
  DIR *dir = opendir(path);
  if (!dir)
    return tc_error_set(err, TC_ERR_IO, "%s: cannot open the folder: %s", path, strerror(errno));
  size_t n = 0, cap = 0;
  char **v = NULL;
  tc_status st = TC_OK;
  struct dirent *e;
  while (st == TC_OK && (e = readdir(dir))) {
    if (e->d_name[0] == '.')
      continue;
    char *full = join(path, e->d_name);
    if (!full) {
      st = no_memory(err);
      break;
    }
    int keep;
    if (dirs_only) {
      keep = is_dir(full);
    } else {
      const char *dot = strrchr(e->d_name, '.');
      keep = is_file(full) && dot &&
             (strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0);
    }
    free(full);
    if (!keep)
      continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      char **nv = realloc(v, cap * sizeof *nv);
      if (!nv) {
        st = no_memory(err);
        break;
      }
      v = nv;
    }
    if (!(v[n] = dup_str(e->d_name)))
      st = no_memory(err);
    else
      n++;
  }
  closedir(dir);
  if (st != TC_OK) {
    for (size_t i = 0; i < n; i++)
      free(v[i]);
    free(v);
    return st;
  }
  if (n)
    qsort(v, n, sizeof *v, cmp_str);
  *names = v;
  *count = n;
  return TC_OK;
}

static void free_names(char **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

static tc_status read_mvtec_category(const char *root, const char *name, category *c, tc_error *err)
{
  char *catdir = join(root, name), *test = catdir ? join(catdir, "test") : NULL;
  char *gt = catdir ? join(catdir, "ground_truth") : NULL;
  char **defects = NULL;
  size_t nd = 0;
  tc_status st = test && gt ? list_dir(test, 1, &defects, &nd, err) : no_memory(err);
  for (size_t d = 0; st == TC_OK && d < nd; d++) {
    char *ddir = join(test, defects[d]);
    char **files = NULL;
    size_t nf = 0;
    st = ddir ? list_dir(ddir, 0, &files, &nf, err) : no_memory(err);
    const int label = strcmp(defects[d], "good") != 0;
    for (size_t f = 0; st == TC_OK && f < nf; f++) {
      char *mask = NULL;
      if (label) {
        /* <stem>_mask.png beside the defect's name under ground_truth */
        const char *dot = strrchr(files[f], '.');
        size_t stem = (size_t)(dot - files[f]);
        size_t len = strlen(gt) + strlen(defects[d]) + stem + 16;
        if (!(mask = malloc(len))) {
          st = no_memory(err);
          break;
        }
        snprintf(mask, len, "%s/%s/%.*s_mask.png", gt, defects[d], (int)stem, files[f]);
        if (!is_file(mask)) {
          st = tc_error_set(err, TC_ERR_IO, "%s/%s: no ground-truth mask %s (MVTec AD layout: every defect "
                            "image has one)", ddir, files[f], mask);
          free(mask);
          break;
        }
      }
      st = add_sample(c, join(ddir, files[f]), mask, dup_str(defects[d]), label, err);
    }
    free_names(files, nf);
    free(ddir);
  }
  if (st == TC_OK && c->n == 0)
    st = tc_error_set(err, TC_ERR_FORMAT, "%s: no PNG or JPEG images under test/<defect>/", catdir);
  free_names(defects, nd);
  free(catdir), free(test), free(gt);
  return st;
}

tc_status dataset_read_mvtec(const char *root, dataset *out, tc_error *err)
{
  memset(out, 0, sizeof *out);
  char **names = NULL;
  size_t n = 0;
  tc_status st = list_dir(root, 1, &names, &n, err);
  for (size_t i = 0; st == TC_OK && i < n; i++) {
    char *catdir = join(root, names[i]), *test = catdir ? join(catdir, "test") : NULL;
    if (!test)
      st = no_memory(err);
    else if (is_dir(test)) {
      category *c = add_category(out, names[i]);
      st = c ? read_mvtec_category(root, names[i], c, err) : no_memory(err);
    }
    free(catdir), free(test);
  }
  free_names(names, n);
  if (st == TC_OK && out->n == 0)
    st = tc_error_set(err, TC_ERR_FORMAT, "%s: no category folders with a test/ folder (MVTec AD layout: "
                      "<category>/test/<defect>/*.png); for VisA give --csv", root);
  if (st != TC_OK)
    dataset_free(out);
  return st;
}

/* ---- VisA CSV ---- */

/* Splits one CSV line in place into at most max fields (double quotes
 * around a field allowed, "" inside them a quote). Returns the count. */
static size_t split_csv(char *line, char **field, size_t max)
{
  size_t n = 0;
  char *p = line;
  for (;;) {
    char *out = p, *start = p;
    if (*p == '"') {
      p++;
      while (*p) {
        if (*p == '"' && p[1] == '"')
          *out++ = '"', p += 2;
        else if (*p == '"')
          break;
        else
          *out++ = *p++;
      }
      if (*p == '"')
        p++;
      while (*p && *p != ',')
        p++;
    } else {
      while (*p && *p != ',')
        p++;
      out = p;
    }
    char c = *p;
    *out = 0;
    if (n < max)
      field[n++] = start;
    if (c != ',')
      break;
    p++;
  }
  return n;
}

static category *find_category(dataset *d, const char *name)
{
  for (size_t i = 0; i < d->n; i++)
    if (strcmp(d->cats[i].name, name) == 0)
      return &d->cats[i];
  return NULL;
}

tc_status dataset_read_csv(const char *root, const char *csv_path, dataset *out, tc_error *err)
{
  memset(out, 0, sizeof *out);
  FILE *f = fopen(csv_path, "r");
  if (!f)
    return tc_error_set(err, TC_ERR_IO, "%s: cannot open: %s", csv_path, strerror(errno));
  enum { OBJECT, SPLIT, LABEL, IMAGE, MASK, NCOL };
  static const char *col_name[NCOL] = { "object", "split", "label", "image", "mask" };
  int col[NCOL] = { -1, -1, -1, -1, -1 };
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  size_t lineno = 0;
  tc_status st = TC_OK;
  char *field[64];
  while (st == TC_OK && (len = getline(&line, &cap, f)) >= 0) {
    lineno++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      line[--len] = 0;
    if (len == 0)
      continue;
    size_t nf = split_csv(line, field, 64);
    if (lineno == 1) {
      for (size_t i = 0; i < nf; i++)
        for (int k = 0; k < NCOL; k++)
          if (strcmp(field[i], col_name[k]) == 0)
            col[k] = (int)i;
      for (int k = 0; k < NCOL && st == TC_OK; k++)
        if (col[k] < 0)
          st = tc_error_set(err, TC_ERR_FORMAT, "%s: the header has no column \"%s\" (VisA's split CSV: "
                            "object,split,label,image,mask)", csv_path, col_name[k]);
      continue;
    }
    int need = 0;
    for (int k = 0; k < NCOL; k++)
      need = col[k] + 1 > need ? col[k] + 1 : need;
    if ((int)nf < need) {
      st = tc_error_set(err, TC_ERR_FORMAT, "%s:%zu: %zu fields, the header names %d", csv_path, lineno, nf, need);
      break;
    }
    if (strcmp(field[col[SPLIT]], "test") != 0)
      continue;
    const char *lab = field[col[LABEL]], *mask = field[col[MASK]];
    int label;
    if (strcmp(lab, "normal") == 0 || strcmp(lab, "0") == 0)
      label = 0;
    else if (strcmp(lab, "anomaly") == 0 || strcmp(lab, "1") == 0)
      label = 1;
    else {
      st = tc_error_set(err, TC_ERR_FORMAT, "%s:%zu: label \"%s\" (expected normal or anomaly)", csv_path, lineno,
                        lab);
      break;
    }
    if (label && !*mask) {
      st = tc_error_set(err, TC_ERR_FORMAT, "%s:%zu: an anomalous image (%s) without a mask", csv_path, lineno,
                        field[col[IMAGE]]);
      break;
    }
    char *image_path = join(root, field[col[IMAGE]]);
    char *mask_path = label ? join(root, mask) : NULL;
    if (image_path && !is_file(image_path))
      st = tc_error_set(err, TC_ERR_IO, "%s:%zu: no image %s", csv_path, lineno, image_path);
    else if (mask_path && !is_file(mask_path))
      st = tc_error_set(err, TC_ERR_IO, "%s:%zu: no mask %s", csv_path, lineno, mask_path);
    if (st != TC_OK) {
      free(image_path), free(mask_path);
      break;
    }
    category *c = find_category(out, field[col[OBJECT]]);
    if (!c && !(c = add_category(out, field[col[OBJECT]]))) {
      free(image_path), free(mask_path);
      st = no_memory(err);
      break;
    }
    st = add_sample(c, image_path, mask_path, dup_str(label ? "anomaly" : "good"), label, err);
  }
  if (st == TC_OK && ferror(f))
    st = tc_error_set(err, TC_ERR_IO, "%s: read error", csv_path);
  if (st == TC_OK && lineno == 0)
    st = tc_error_set(err, TC_ERR_FORMAT, "%s: empty file", csv_path);
  if (st == TC_OK && out->n == 0)
    st = tc_error_set(err, TC_ERR_FORMAT, "%s: no rows with split \"test\"", csv_path);
  free(line);
  fclose(f);
  if (st != TC_OK)
    dataset_free(out);
  return st;
}

/* ---- selection ---- */

tc_status dataset_select(dataset *d, const char *list, tc_error *err)
{
  char *copy = dup_str(list);
  size_t *pick = calloc(d->n ? d->n : 1, sizeof *pick), n = 0;
  tc_status st = copy && pick ? TC_OK : no_memory(err);
  char *save = NULL;
  for (char *name = st == TC_OK ? strtok_r(copy, ",", &save) : NULL; st == TC_OK && name;
       name = strtok_r(NULL, ",", &save)) {
    category *c = find_category(d, name);
    size_t at = c ? (size_t)(c - d->cats) : 0;
    for (size_t k = 0; c && k < n; k++)
      if (pick[k] == at)
        st = tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "--categories names \"%s\" twice", name);
    if (!c) {
      char known[256] = "";
      for (size_t i = 0; i < d->n && strlen(known) + strlen(d->cats[i].name) + 8 < sizeof known; i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", d->cats[i].name);
      st = tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "--categories: no category \"%s\" in the data set (it has: %s)",
                        name, known);
    } else if (st == TC_OK) {
      pick[n++] = at;
    }
  }
  if (st == TC_OK && n == 0)
    st = tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "--categories: no category named");
  category *cats = st == TC_OK ? calloc(n, sizeof *cats) : NULL;
  if (st == TC_OK && !cats)
    st = no_memory(err);
  if (st == TC_OK) {
    /* move the picked ones, free the rest */
    char *taken = calloc(d->n, 1);
    if (!taken) {
      st = no_memory(err);
      free(cats);
    } else {
      for (size_t k = 0; k < n; k++) {
        cats[k] = d->cats[pick[k]];
        taken[pick[k]] = 1;
      }
      for (size_t i = 0; i < d->n; i++)
        if (!taken[i])
          category_free(&d->cats[i]);
      free(taken);
      free(d->cats);
      d->cats = cats;
      d->n = d->cap = n;
    }
  }
  free(copy);
  free(pick);
  return st;
}

void dataset_limit(dataset *d, size_t limit)
{
  for (size_t i = 0; i < d->n; i++) {
    category *c = &d->cats[i];
    if (c->n <= limit)
      continue;
    /* take anomalous and normal samples in turn, keeping the data set's order */
    char *take = calloc(c->n, 1);
    if (!take)
      continue;
    size_t kept = 0, next[2] = { 0, 0 };
    for (int turn = 1; kept < limit; turn ^= 1) {
      while (next[turn] < c->n && c->samples[next[turn]].label != turn)
        next[turn]++;
      if (next[turn] < c->n)
        take[next[turn]++] = 1, kept++;
      else if (next[turn ^ 1] >= c->n)
        break;
    }
    size_t k = 0;
    for (size_t j = 0; j < c->n; j++) {
      if (take[j])
        c->samples[k++] = c->samples[j];
      else
        sample_free(&c->samples[j]);
    }
    c->n = k;
    free(take);
  }
}
