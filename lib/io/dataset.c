#define _GNU_SOURCE
#include "dataset.h"
#include <dirent.h>
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "core/limits.h"
#include "io/cifar.h"
#include "io/idx.h"
#include "io/tstream.h"

static const char *format_names[] = {"auto", "idx", "cifar10", "cifar100", "jpeg", "stream"};

const char *gsg_data_format_name(enum gsg_data_format f)
{
    return (unsigned)f < sizeof format_names / sizeof format_names[0] ? format_names[f] : "?";
}

int gsg_data_format_parse(const char *s, enum gsg_data_format *f)
{
    for (size_t i = 0; i < sizeof format_names / sizeof format_names[0]; i++)
        if (strcmp(s, format_names[i]) == 0) { *f = (enum gsg_data_format)i; return 0; }
    return -1;
}

static int is_dir(const char *p) { struct stat sb; return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode); }
static int is_file(const char *p) { struct stat sb; return stat(p, &sb) == 0 && S_ISREG(sb.st_mode); }

static char *join(const char *a, const char *b)
{
    char *s = NULL;
    if (asprintf(&s, "%s/%s", a, b) < 0) return NULL;
    return s;
}

/* First existing file among dir/name{"", ".gz"}; malloc'd or NULL. */
static char *find_idx(const char *dir, const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, name) < 0) return NULL;
    if (is_file(p)) return p;
    free(p);
    if (asprintf(&p, "%s/%s.gz", dir, name) < 0) return NULL;
    if (is_file(p)) return p;
    free(p);
    return NULL;
}

/* ---------------- format detection ---------------- */

static gsg_status detect(const char *path, enum gsg_data_format *f)
{
    if (strcmp(path, "fashion-mnist") == 0) { *f = GSG_DATA_IDX; return GSG_OK; }
    if (strcmp(path, "-") == 0) { *f = GSG_DATA_STREAM; return GSG_OK; }
    if (is_dir(path)) {
        static const char *idx_names[] = {"train-images-idx3-ubyte", "t10k-images-idx3-ubyte"};
        for (int i = 0; i < 2; i++) {
            char *p = find_idx(path, idx_names[i]);
            if (p) { free(p); *f = GSG_DATA_IDX; return GSG_OK; }
        }
        static const char *c10[] = {"data_batch_1.bin", "test_batch.bin", "cifar-10-batches-bin"};
        static const char *c100[] = {"train.bin", "test.bin", "cifar-100-binary"};
        for (int i = 0; i < 3; i++) {
            char *p = join(path, c10[i]);
            int ok = p && (i < 2 ? is_file(p) : is_dir(p));
            free(p);
            if (ok) { *f = GSG_DATA_CIFAR10; return GSG_OK; }
            p = join(path, c100[i]);
            ok = p && (i < 2 ? is_file(p) : is_dir(p));
            free(p);
            if (ok) { *f = GSG_DATA_CIFAR100; return GSG_OK; }
        }
        *f = GSG_DATA_JPEG;
        return GSG_OK;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) return gsg_err_set(GSG_E_IO, "%s: %s", path, strerror(errno));
    uint8_t m[4] = {0};
    size_t got = fread(m, 1, 4, fp);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fclose(fp);
    if (got >= 2 && m[0] == 0x1f && m[1] == 0x8b) { *f = GSG_DATA_IDX; return GSG_OK; }
    if (got == 4 && m[0] == 0 && m[1] == 0 && m[2] == 8) { *f = GSG_DATA_IDX; return GSG_OK; }
    if (got == 4 && ((m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) || memcmp(m, "GSGT", 4) == 0)) {
        *f = GSG_DATA_STREAM;
        return GSG_OK;
    }
    if (size > 0 && size % 3073 == 0) { *f = GSG_DATA_CIFAR10; return GSG_OK; }
    if (size > 0 && size % 3074 == 0) { *f = GSG_DATA_CIFAR100; return GSG_OK; }
    return gsg_err_set(GSG_E_FORMAT, "%s: cannot tell the format (not IDX, gzip, a tensor stream, or whole CIFAR records); use --format",
                       path);
}

/* ---------------- IDX ---------------- */

static gsg_status open_idx(struct gsg_dataset *ds, const struct gsg_dataset_opts *o)
{
    const char *path = strcmp(o->path, "fashion-mnist") == 0 ? GSG_FASHION_MNIST_DIR : o->path;
    char *img = NULL, *lab = NULL;
    if (is_dir(path)) {
        const char *split = o->test ? "t10k" : "train";
        char name[64];
        snprintf(name, sizeof name, "%s-images-idx3-ubyte", split);
        img = find_idx(path, name);
        if (!img) {
            if (strcmp(o->path, "fashion-mnist") == 0)
                return gsg_err_set(GSG_E_IO, "%s: no %s[.gz]; install Debian's dataset-fashion-mnist package", path, name);
            return gsg_err_set(GSG_E_IO, "%s: no %s[.gz] in this folder", path, name);
        }
        snprintf(name, sizeof name, "%s-labels-idx1-ubyte", split);
        lab = find_idx(path, name);
        if (!lab) { free(img); return gsg_err_set(GSG_E_IO, "%s: no %s[.gz] beside the images", path, name); }
    } else {
        img = strdup(path);
        const char *k = strstr(path, "images-idx3");
        if (k) {
            lab = strdup(path);
            memcpy(lab + (k - path), "labels-idx1", 11);
            if (!is_file(lab)) { free(lab); lab = NULL; }
        }
    }
    ds->source = strdup(img);
    int64_t dims[3], ldims[1];
    uint8_t *labels = NULL;
    gsg_status st = gsg_idx_read(img, 3, &ds->images, dims);
    if (st == GSG_OK && lab) st = gsg_idx_read(lab, 1, &labels, ldims);
    if (st == GSG_OK && lab && ldims[0] != dims[0])
        st = gsg_err_set(GSG_E_FORMAT, "%s: %lld labels, expected %lld (one per image in %s)", lab, (long long)ldims[0],
                         (long long)dims[0], img);
    if (st == GSG_OK) {
        ds->n = dims[0]; ds->c = 1; ds->h = (int)dims[1]; ds->w = (int)dims[2];
        if (ds->h < 1 || ds->w < 1) st = gsg_err_set(GSG_E_FORMAT, "%s: images of %lldx%lld pixels", img, (long long)dims[1], (long long)dims[2]);
    }
    if (st == GSG_OK) {
        ds->labels = malloc((size_t)(ds->n ? ds->n : 1) * sizeof(int64_t));
        if (!ds->labels) st = gsg_err_set(GSG_E_NOMEM, "out of memory");
        for (int64_t i = 0; st == GSG_OK && i < ds->n; i++) {
            ds->labels[i] = labels ? labels[i] : -1;
            if (labels && labels[i] + 1 > ds->nclasses) ds->nclasses = labels[i] + 1;
        }
    }
    free(labels); free(img); free(lab);
    return st;
}

/* ---------------- CIFAR ---------------- */

static gsg_status open_cifar(struct gsg_dataset *ds, const struct gsg_dataset_opts *o, int classes)
{
    const char *path = o->path;
    char *sub = NULL;
    if (is_dir(path)) {
        sub = join(path, classes == 10 ? "cifar-10-batches-bin" : "cifar-100-binary");
        if (sub && is_dir(sub)) path = sub;
    }
    ds->source = strdup(path);
    ds->c = 3; ds->h = 32; ds->w = 32; ds->nclasses = classes;
    gsg_status st = GSG_OK;
    if (!is_dir(path)) {
        st = gsg_cifar_read(path, classes, &ds->images, &ds->labels, &ds->n);
    } else if (classes == 10) {
        if (o->test) {
            char *p = join(path, "test_batch.bin");
            st = is_file(p) ? gsg_cifar_read(p, 10, &ds->images, &ds->labels, &ds->n)
                            : gsg_err_set(GSG_E_IO, "%s: no test_batch.bin in this folder", path);
            free(p);
        } else {
            for (int b = 1; b <= 5 && st == GSG_OK; b++) {
                char name[32];
                snprintf(name, sizeof name, "data_batch_%d.bin", b);
                char *p = join(path, name);
                if (is_file(p)) st = gsg_cifar_read(p, 10, &ds->images, &ds->labels, &ds->n);
                else st = gsg_err_set(GSG_E_IO, "%s: no %s in this folder (the CIFAR-10 train split is data_batch_1.bin .. data_batch_5.bin)", path, name);
                free(p);
            }
        }
    } else {
        char *p = join(path, o->test ? "test.bin" : "train.bin");
        st = is_file(p) ? gsg_cifar_read(p, 100, &ds->images, &ds->labels, &ds->n)
                        : gsg_err_set(GSG_E_IO, "%s: no %s in this folder", path, o->test ? "test.bin" : "train.bin");
        free(p);
    }
    free(sub);
    return st;
}

/* ---------------- tensor stream ---------------- */

static gsg_status open_stream(struct gsg_dataset *ds, const struct gsg_dataset_opts *o)
{
    struct gsg_tstream_reader *r = NULL;
    ds->source = strdup(o->path);
    GSG_TRY(gsg_tstream_open_read(&r, o->path));
    struct gsg_record rec;
    gsg_status st;
    char img_name[256] = "";
    int nhwc = 0;
    int64_t nlab = 0, cap = 0, lcap = 0;
    while ((st = gsg_tstream_read(r, &rec)) == GSG_OK) {
        const struct gsg_tensor *t = &rec.t;
        if (strcmp(rec.name, "label") == 0 || strcmp(rec.name, "labels") == 0) {
            if (t->ndim != 1 || (t->dtype != GSG_DTYPE_I64 && t->dtype != GSG_DTYPE_I32 && t->dtype != GSG_DTYPE_U8)) {
                st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "expected labels of integer dtype and shape [N], found %s with %d dims",
                                              gsg_dtype_name(t->dtype), t->ndim);
                break;
            }
            if (nlab + t->dims[0] > lcap) {
                lcap = (nlab + t->dims[0]) * 2;
                int64_t *nl = realloc(ds->labels, (size_t)lcap * sizeof(int64_t));
                if (!nl) { st = gsg_err_set(GSG_E_NOMEM, "out of memory"); break; }
                ds->labels = nl;
            }
            for (int64_t i = 0; i < t->dims[0]; i++) ds->labels[nlab + i] = (int64_t)gsg_tensor_get(t, i);
            nlab += t->dims[0];
            continue;
        }
        if (t->dtype != GSG_DTYPE_U8 || (t->ndim != 3 && t->ndim != 4)) continue;
        if (img_name[0] && strcmp(rec.name, img_name) != 0) continue;
        int64_t c, h, w, nh = 0;
        if (t->ndim == 3) { c = 1; h = t->dims[1]; w = t->dims[2]; }
        else if (t->dims[1] == 1 || t->dims[1] == 3) { c = t->dims[1]; h = t->dims[2]; w = t->dims[3]; }
        else if (t->dims[3] == 1 || t->dims[3] == 3) { c = t->dims[3]; h = t->dims[1]; w = t->dims[2]; nh = 1; }
        else {
            st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "expected images [N,C,H,W] or [N,H,W,C] with C 1 or 3, found [%lld,%lld,%lld,%lld]",
                                          (long long)t->dims[0], (long long)t->dims[1], (long long)t->dims[2], (long long)t->dims[3]);
            break;
        }
        if (!img_name[0]) {
            snprintf(img_name, sizeof img_name, "%s", rec.name);
            ds->c = (int)c; ds->h = (int)h; ds->w = (int)w; nhwc = (int)nh;
            if (h < 1 || w < 1 || h > 1 << 16 || w > 1 << 16) {
                st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "expected images of 1..65536 pixels a side, found %lldx%lld", (long long)w, (long long)h);
                break;
            }
        } else if (c != ds->c || h != ds->h || w != ds->w || nh != nhwc) {
            st = gsg_tstream_record_error(r, &rec, GSG_E_FORMAT, "expected images of %dx%dx%d like the first record, found %lldx%lldx%lld",
                                          ds->c, ds->h, ds->w, (long long)c, (long long)h, (long long)w);
            break;
        }
        size_t per = (size_t)c * h * w;
        if (t->dims[0] == 0) continue;   /* no images: nothing to copy (and no memcpy from a NULL buffer) */
        if (ds->n + t->dims[0] > cap) {
            cap = (ds->n + t->dims[0]) * 2;
            uint8_t *ni = realloc(ds->images, (size_t)cap * per);
            if (!ni) { st = gsg_err_set(GSG_E_NOMEM, "out of memory for %lld images", (long long)cap); break; }
            ds->images = ni;
        }
        uint8_t *dst = ds->images + (size_t)ds->n * per;
        const uint8_t *src = t->data;
        if (!nh) memcpy(dst, src, (size_t)t->dims[0] * per);
        else
            for (int64_t i = 0; i < t->dims[0]; i++)
                for (int64_t y = 0; y < h * w; y++)
                    for (int64_t k = 0; k < c; k++) dst[(size_t)i * per + (size_t)k * h * w + y] = src[(size_t)i * per + (size_t)y * c + k];
        ds->n += t->dims[0];
    }
    gsg_tstream_close_read(r);
    if (st < 0) return st;
    if (!img_name[0])
        return gsg_err_set(GSG_E_FORMAT, "%s: no u8 image records ([N,C,H,W], [N,H,W] or [N,H,W,C]) in the stream", o->path);
    if (nlab && nlab != ds->n)
        return gsg_err_set(GSG_E_FORMAT, "%s: %lld labels for %lld images", o->path, (long long)nlab, (long long)ds->n);
    if (!nlab) {
        int64_t *nl = realloc(ds->labels, (size_t)(ds->n ? ds->n : 1) * sizeof(int64_t));
        if (!nl) return gsg_err_set(GSG_E_NOMEM, "out of memory");
        ds->labels = nl;
        for (int64_t i = 0; i < ds->n; i++) ds->labels[i] = -1;
    }
    for (int64_t i = 0; i < ds->n; i++)
        if (ds->labels[i] + 1 > ds->nclasses) ds->nclasses = ds->labels[i] + 1;
    return GSG_OK;
}

/* ---------------- JPEG folder ---------------- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The files of an image folder, as torchvision's ImageFolder keeps them: only these extensions
 * (any case) are images; README.txt, .DS_Store, labels.csv and the like are ignored. */
static const char *const image_exts[] = {".jpg", ".jpeg", ".png"};

int gsg_dataset_is_image_name(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof image_exts / sizeof image_exts[0]; i++) {
        size_t k = strlen(image_exts[i]);
        if (n > k && strcasecmp(name + n - k, image_exts[i]) == 0) return 1;
    }
    return 0;
}

/* Sorted names of the entries of dir that are folders (want_dir) or regular image files; hidden ones skipped. */
static gsg_status list_dir(const char *dir, int want_dir, char ***names, int64_t *n)
{
    *names = NULL; *n = 0;
    DIR *d = opendir(dir);
    if (!d) return gsg_err_set(GSG_E_IO, "%s: %s", dir, strerror(errno));
    int64_t cap = 0;
    struct dirent *e;
    gsg_status st = GSG_OK;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (!want_dir && !gsg_dataset_is_image_name(e->d_name)) continue;
        char *p = join(dir, e->d_name);
        int ok = p && (want_dir ? is_dir(p) : is_file(p));
        free(p);
        if (!ok) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(*names, (size_t)cap * sizeof(char *));
            if (!nn) { st = gsg_err_set(GSG_E_NOMEM, "out of memory listing %s", dir); break; }
            *names = nn;
        }
        (*names)[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    if (*n > 1) qsort(*names, (size_t)*n, sizeof(char *), cmp_str);
    return st;
}

static void free_names(char **names, int64_t n)
{
    for (int64_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

static gsg_status add_file(struct gsg_dataset *ds, int64_t *cap, char *path, int64_t label)
{
    if (ds->n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        char **nf = realloc(ds->files, (size_t)*cap * sizeof(char *));
        if (nf) ds->files = nf;
        int64_t *nl = realloc(ds->labels, (size_t)*cap * sizeof(int64_t));
        if (nl) ds->labels = nl;
        if (!nf || !nl) { free(path); return gsg_err_set(GSG_E_NOMEM, "out of memory for the file list"); }
    }
    ds->files[ds->n] = path;
    ds->labels[ds->n] = label;
    ds->n++;
    return GSG_OK;
}

static gsg_status open_jpeg(struct gsg_dataset *ds, const struct gsg_dataset_opts *o)
{
    const char *root = o->path;
    if (!is_dir(root)) return gsg_err_set(GSG_E_IO, "%s: not a folder (a JPEG data set is a folder with one sub-folder per class)", root);
    /* root/train or root/val (or test) when the folder holds splits */
    static const char *train_names[] = {"train"}, *test_names[] = {"val", "test"};
    char *split = NULL;
    const char **cands = o->test ? test_names : train_names;
    for (int i = 0; i < (o->test ? 2 : 1) && !split; i++) {
        char *p = join(root, cands[i]);
        if (p && is_dir(p)) split = p; else free(p);
    }
    if (split) root = split;
    ds->source = strdup(root);
    ds->c = 3;
    char **classes = NULL;
    int64_t ncls = 0, cap = 0;
    gsg_status st = list_dir(root, 1, &classes, &ncls);
    if (st == GSG_OK && ncls == 0) {
        /* no class folders: the files of the folder itself, unlabelled */
        char **files = NULL;
        int64_t nf = 0;
        st = list_dir(root, 0, &files, &nf);
        for (int64_t i = 0; st == GSG_OK && i < nf; i++) st = add_file(ds, &cap, join(root, files[i]), -1);
        free_names(files, nf);
    }
    for (int64_t c = 0; st == GSG_OK && c < ncls; c++) {
        char *cdir = join(root, classes[c]);
        char **files = NULL;
        int64_t nf = 0;
        st = list_dir(cdir, 0, &files, &nf);
        for (int64_t i = 0; st == GSG_OK && i < nf; i++) st = add_file(ds, &cap, join(cdir, files[i]), c);
        free_names(files, nf);
        free(cdir);
    }
    ds->nclasses = ncls;
    free_names(classes, ncls);
    free(split);
    if (st < 0) return st;
    if (ds->n == 0) return gsg_err_set(GSG_E_FORMAT, "%s: no image files (expected CLASS/IMAGE.jpg, .jpeg or .png)", ds->source);
    if (o->offset > 0) {
        if (o->offset >= ds->n)
            return gsg_err_set(GSG_E_USAGE, "%s: the range starts at image %lld, past its %lld images", ds->source,
                               (long long)o->offset, (long long)ds->n);
        for (int64_t i = 0; i < o->offset; i++) free(ds->files[i]);
        memmove(ds->files, ds->files + o->offset, (size_t)(ds->n - o->offset) * sizeof *ds->files);
        memmove(ds->labels, ds->labels + o->offset, (size_t)(ds->n - o->offset) * sizeof *ds->labels);
        ds->n -= o->offset;
    }
    if (o->limit > 0 && o->limit < ds->n) {
        for (int64_t i = o->limit; i < ds->n; i++) free(ds->files[i]);
        ds->n = o->limit;
    }
    /* check every header, in parallel; the first bad file (in order) decides */
    ds->file_w = malloc((size_t)ds->n * sizeof(int));
    ds->file_h = malloc((size_t)ds->n * sizeof(int));
    char **errs = calloc((size_t)ds->n, sizeof(char *));
    if (!ds->file_w || !ds->file_h || !errs) { free(errs); return gsg_err_set(GSG_E_NOMEM, "out of memory"); }
    int init_failed = 0;
    uint64_t maxpx;
    if ((st = gsg_limit_get("GSG_MAX_PIXELS", GSG_MAX_PIXELS_DEFAULT, &maxpx)) < 0) { free(errs); return st; }
#pragma omp parallel
    {
        struct gsg_jpeg j;
        if (gsg_jpeg_init(&j) < 0) {
#pragma omp atomic write
            init_failed = 1;
        } else {
#pragma omp for schedule(dynamic, 16)
            for (int64_t i = 0; i < ds->n; i++) {
                if (gsg_jpeg_probe(&j, ds->files[i], &ds->file_w[i], &ds->file_h[i]) < 0) errs[i] = strdup(gsg_err_msg());
            }
            gsg_jpeg_free(&j);
        }
    }
    if (init_failed) st = gsg_err_set(GSG_E_NOMEM, "jpeg: cannot create a TurboJPEG decompressor");
    int64_t keep = 0;
    for (int64_t i = 0; i < ds->n; i++) {
        if (errs[i]) {
            if (st == GSG_OK && !o->skip_bad) st = gsg_err_set(GSG_E_FORMAT, "%s (use --skip-bad to skip such files)", errs[i]);
            if (st == GSG_OK && o->skip_bad) {   /* keep the message: the tool names every skipped file */
                char **nm = realloc(ds->skipped_msgs, (size_t)(ds->nskipped_msgs + 1) * sizeof(char *));
                if (nm) { ds->skipped_msgs = nm; nm[ds->nskipped_msgs++] = errs[i]; errs[i] = NULL; }
                else st = gsg_err_set(GSG_E_NOMEM, "out of memory");
            }
            free(errs[i]);
            free(ds->files[i]);
            ds->skipped++;
            continue;
        }
        ds->files[keep] = ds->files[i];
        ds->labels[keep] = ds->labels[i];
        ds->file_w[keep] = ds->file_w[i];
        ds->file_h[keep] = ds->file_h[i];
        keep++;
    }
    free(errs);
    ds->n = keep;
    if (st == GSG_OK && keep == 0) st = gsg_err_set(GSG_E_FORMAT, "%s: no readable image files (%lld skipped)", ds->source, (long long)ds->skipped);
    return st;
}

/* ---------------- open / free ---------------- */

gsg_status gsg_dataset_open(struct gsg_dataset *ds, const struct gsg_dataset_opts *o)
{
    memset(ds, 0, sizeof *ds);
    enum gsg_data_format f = o->format;
    if (!o->path) return gsg_err_set(GSG_E_USAGE, "no data set given");
    if (f == GSG_DATA_AUTO) GSG_TRY(detect(o->path, &f));
    ds->format = f;
    gsg_status st;
    switch (f) {
    case GSG_DATA_IDX: st = open_idx(ds, o); break;
    case GSG_DATA_CIFAR10: st = open_cifar(ds, o, 10); break;
    case GSG_DATA_CIFAR100: st = open_cifar(ds, o, 100); break;
    case GSG_DATA_JPEG: st = open_jpeg(ds, o); break;
    case GSG_DATA_STREAM: st = open_stream(ds, o); break;
    case GSG_DATA_AUTO:
    default: st = gsg_err_set(GSG_E_USAGE, "unknown data format %d", (int)f); break;
    }
    if (st == GSG_OK && ds->n == 0) st = gsg_err_set(GSG_E_FORMAT, "%s: the data set is empty", ds->source ? ds->source : o->path);
    if (st == GSG_OK && f != GSG_DATA_JPEG && o->offset > 0) {   /* JPEG folders drop theirs before reading headers */
        if (o->offset >= ds->n) {
            st = gsg_err_set(GSG_E_USAGE, "%s: the range starts at image %lld, past its %lld images", ds->source,
                             (long long)o->offset, (long long)ds->n);
        } else {
            size_t per = (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
            memmove(ds->images, ds->images + (size_t)o->offset * per, (size_t)(ds->n - o->offset) * per);
            memmove(ds->labels, ds->labels + o->offset, (size_t)(ds->n - o->offset) * sizeof *ds->labels);
            ds->n -= o->offset;
        }
    }
    if (st < 0) { gsg_dataset_free(ds); return st; }
    if (o->limit > 0 && o->limit < ds->n) ds->n = o->limit;
    return GSG_OK;
}

void gsg_dataset_free(struct gsg_dataset *ds)
{
    if (ds->files) for (int64_t i = 0; i < ds->n; i++) free(ds->files[i]);
    free(ds->files); free(ds->file_w); free(ds->file_h);
    free(ds->images); free(ds->labels); free(ds->source);
    for (int64_t i = 0; i < ds->nskipped_msgs; i++) free(ds->skipped_msgs[i]);
    free(ds->skipped_msgs);
    memset(ds, 0, sizeof *ds);
}

/* ---------------- per-image access ---------------- */

static gsg_status conv_grow(struct gsg_dataset_loader *l, size_t n)
{
    if (n <= l->conv_cap) return GSG_OK;
    free(l->conv);
    l->conv = malloc(n);
    if (!l->conv) { l->conv_cap = 0; return gsg_err_set(GSG_E_NOMEM, "out of memory for an image of %zu bytes", n); }
    l->conv_cap = n;
    return GSG_OK;
}

gsg_status gsg_dataset_image(struct gsg_dataset_loader *l, const struct gsg_dataset *ds, int64_t i, int channels,
                             int min_side, struct gsg_image *img)
{
    if (i < 0 || i >= ds->n) return gsg_err_set(GSG_E_USAGE, "image %lld of a data set of %lld", (long long)i, (long long)ds->n);
    if (ds->format == GSG_DATA_JPEG) {
        if (!l->jpeg_ready) { GSG_TRY(gsg_jpeg_init(&l->jpeg)); l->jpeg_ready = 1; }
        int w, h, ow, oh;
        GSG_TRY(gsg_jpeg_decode_file(&l->jpeg, ds->files[i], channels, min_side, &w, &h, &ow, &oh));
        img->data = l->jpeg.out; img->c = channels; img->h = h; img->w = w; img->orig_h = oh; img->orig_w = ow;
        return GSG_OK;
    }
    size_t hw = (size_t)ds->h * ds->w;
    const uint8_t *src = ds->images + (size_t)i * ds->c * hw;
    img->h = img->orig_h = ds->h; img->w = img->orig_w = ds->w; img->c = channels;
    if (channels == ds->c) { img->data = src; return GSG_OK; }
    GSG_TRY(conv_grow(l, (size_t)channels * hw));
    if (ds->c == 1 && channels == 3) {
        for (int k = 0; k < 3; k++) memcpy(l->conv + k * hw, src, hw);
    } else if (ds->c == 3 && channels == 1) {
        for (size_t p = 0; p < hw; p++)
            l->conv[p] = (uint8_t)((299 * src[p] + 587 * src[hw + p] + 114 * src[2 * hw + p] + 500) / 1000);
    } else {
        return gsg_err_set(GSG_E_SHAPE, "%s: images have %d channels, cannot make %d", ds->source, ds->c, channels);
    }
    img->data = l->conv;
    return GSG_OK;
}

void gsg_dataset_loader_free(struct gsg_dataset_loader *l)
{
    if (l->jpeg_ready) gsg_jpeg_free(&l->jpeg);
    free(l->conv);
    memset(l, 0, sizeof *l);
}
