/* Test sets for tokenclip-eval, read from disk into lists of (image, mask,
 * label) per category:
 *
 * - MVTec AD layout: ROOT/<category>/test/<defect>/<name>.png (or .jpg),
 *   masks ROOT/<category>/ground_truth/<defect>/<name>_mask.png; the
 *   defect `good` is normal and has no masks. Categories are the folders of
 *   ROOT with a test/ folder, in name order; files in name order.
 * - VisA's split CSV (split_csv/1cls.csv): a header naming the columns
 *   object, split, label, image, mask (any order, others ignored); rows with
 *   split `test`; label `normal` or `anomaly` (or 0 / 1); paths relative to
 *   ROOT; the mask empty for normal images. Categories in order of first
 *   appearance.
 *
 * Every problem (a missing folder, a defect image without its mask, a CSV
 * without a column) is an error naming the path and, for the CSV, the line. */
#ifndef TC_TOOLS_DATASET_H
#define TC_TOOLS_DATASET_H

#include <stddef.h>

#include "tc_error.h"

typedef struct sample {
  char *image;  /* path */
  char *mask;   /* path, NULL for a normal image */
  char *defect; /* MVTec: the defect folder; VisA: "good" or "anomaly" */
  int label;    /* 0 normal, 1 anomalous */
} sample;

typedef struct category {
  char *name;
  sample *samples;
  size_t n, cap;
} category;

typedef struct dataset {
  category *cats;
  size_t n, cap;
} dataset;

tc_status dataset_read_mvtec(const char *root, dataset *out, tc_error *err);
tc_status dataset_read_csv(const char *root, const char *csv_path, dataset *out, tc_error *err);

/* Keeps only the comma-separated categories of `list`, in its order; an
 * unknown name is an error that lists the known ones. */
tc_status dataset_select(dataset *d, const char *list, tc_error *err);

/* Keeps at most `limit` samples per category, anomalous and normal ones
 * alternately from the front, so a short run still has both classes. */
void dataset_limit(dataset *d, size_t limit);

size_t dataset_samples(const dataset *d);
void dataset_free(dataset *d);

#endif
