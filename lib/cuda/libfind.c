/* libfind.c: the search for the run-time loaded GPU libraries (libfind.h). */
#define _GNU_SOURCE
#include "cuda/libfind.h"
#include <dlfcn.h>
#include <glob.h>
#include <link.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* append dir to the colon list out unless it is already there */
static void add_dir(char *out, size_t cap, const char *dir)
{
    size_t n = strlen(dir), len = strlen(out);
    if (!n) return;
    for (const char *p = out; *p;) {
        const char *e = strchr(p, ':');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && !strncmp(p, dir, n)) return;
        p = e ? e + 1 : p + l;
    }
    if (len + n + 2 > cap) return;
    if (len) out[len++] = ':';
    memcpy(out + len, dir, n + 1);
}

void gsg_gpulib_wheel_dirs(char *out, size_t cap)
{
    if (!cap) return;
    out[0] = 0;
    const char *roots[6] = {getenv("VIRTUAL_ENV"), getenv("CONDA_PREFIX"), NULL, "/usr/local", "/usr", "/opt/conda"};
    char home[PATH_MAX] = "";
    const char *h = getenv("HOME");
    if (h && *h) {
        snprintf(home, sizeof home, "%s/.local", h);
        roots[2] = home;
    }
    for (int r = 0; r < 6; r++) {
        if (!roots[r] || !*roots[r]) continue;
        static const char *const tails[] = {"lib/python3*/site-packages/nvidia/*/lib",
                                            "lib/python3*/dist-packages/nvidia/*/lib",
                                            "lib/python3/dist-packages/nvidia/*/lib"};
        for (int t = 0; t < 3; t++) {
            char pat[PATH_MAX + 64];
            snprintf(pat, sizeof pat, "%s/%s", roots[r], tails[t]);
            glob_t g;
            if (glob(pat, GLOB_ONLYDIR | GLOB_NOSORT, NULL, &g) == 0) {
                /* newest python first is not needed: one install of torch is the usual case; sort by name */
                for (size_t i = 0; i < g.gl_pathc; i++)
                    for (size_t j = i + 1; j < g.gl_pathc; j++)
                        if (strcmp(g.gl_pathv[j], g.gl_pathv[i]) < 0) {
                            char *s = g.gl_pathv[i];
                            g.gl_pathv[i] = g.gl_pathv[j];
                            g.gl_pathv[j] = s;
                        }
                for (size_t i = 0; i < g.gl_pathc; i++) add_dir(out, cap, g.gl_pathv[i]);
            }
            globfree(&g);
        }
    }
}

void gsg_gpulib_real_name(const char *path, char *out, size_t cap)
{
    char rp[PATH_MAX];
    const char *src = realpath(path, rp) ? rp : path;
    const char *b = strrchr(src, '/');
    snprintf(out, cap, "%s", b ? b + 1 : src);
}

void *gsg_gpulib_open(const char *const *names, const char *extra_dirs, char *path, size_t pcap, char *why,
                      size_t wcap)
{
    static char dirs[16384];   /* the search list; built per call (the environment may change) */
    dirs[0] = 0;
    const char *env = getenv("GSG_CUDA_LIBDIR");
    char one[PATH_MAX];
    for (int pass = 0; pass < 2; pass++) {
        const char *list = pass == 0 ? env : extra_dirs;
        if (!list) continue;
        for (const char *p = list; *p;) {
            const char *e = strchr(p, ':');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            if (l && l < sizeof one) {
                memcpy(one, p, l);
                one[l] = 0;
                add_dir(dirs, sizeof dirs, one);
            }
            p = e ? e + 1 : p + l;
        }
    }
    char wheels[8192];
    gsg_gpulib_wheel_dirs(wheels, sizeof wheels);
    if (*wheels) {
        size_t len = strlen(dirs);
        snprintf(dirs + len, sizeof dirs - len, "%s%s", len ? ":" : "", wheels);
    }
    char best[1024] = "";   /* the loader's reason for a file that exists but failed to load */
    char last[1024] = "";
    for (const char *const *n = names; *n; n++) {
        for (const char *p = dirs; *p;) {
            const char *e = strchr(p, ':');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            char file[PATH_MAX + 256];
            snprintf(file, sizeof file, "%.*s/%s", (int)(l < PATH_MAX ? l : PATH_MAX), p, *n);
            p = e ? e + 1 : p + l;
            if (access(file, F_OK) != 0) continue;
            void *h = dlopen(file, RTLD_NOW | RTLD_GLOBAL);
            if (h) {
                snprintf(path, pcap, "%s", file);
                return h;
            }
            const char *err = dlerror();   /* read once: a second call returns NULL */
            if (!*best) snprintf(best, sizeof best, "%.1000s", err ? err : file);
        }
        void *h = dlopen(*n, RTLD_NOW | RTLD_GLOBAL);
        if (h) {
            /* where the loader found it */
            struct link_map *lm = NULL;
            if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name && *lm->l_name)
                snprintf(path, pcap, "%s", lm->l_name);
            else snprintf(path, pcap, "%s (loader path)", *n);
            return h;
        }
        const char *err = dlerror();
        snprintf(last, sizeof last, "%.1000s", err ? err : *n);
    }
    if (*best) snprintf(why, wcap, "%s", best);
    else snprintf(why, wcap, "%s (looked in %s%sthe loader path)", *last ? last : "not found",
                  *dirs ? dirs : "", *dirs ? " and " : "");
    return NULL;
}
