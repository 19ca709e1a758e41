/* driver.c: the fuzz corpora and crash inputs as regression tests, without libFuzzer.
 * Linked with one harness (tests/fuzz/fuzz_<name>.c) by the normal compiler into
 * $(BUILD)/tests/test_fuzz_<name>, which tests/run.sh runs from the repository root like any
 * unit test. With no arguments it runs tests/fuzz/corpus/<name>/ and tests/fuzz/crashes/<name>/;
 * arguments name other files or folders (e.g. to replay one crash under a debugger).
 * Every input runs in its own child process under a time limit (GSG_FUZZ_TIMEOUT, 60 s) and a
 * memory limit (GSG_FUZZ_RSS_MB, 1024 MiB of peak RSS; address space too in builds without ASan;
 * in ASan builds one allocation above 1 GiB aborts): a crash, a sanitizer report, a timeout or an
 * input that needs more memory fails it.
 * Output (tests/unit/check.h's format): one PASS line for the corpus of each folder, one FAIL line
 * per failing input; one line per crash input: PASS when it no longer crashes, SKIP when it still
 * does and tests/fuzz/crashes/KNOWN-OPEN lists it ("<name>/<file> <why>": a defect another branch
 * is fixing), FAIL otherwise. Exit status 1 when anything failed. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef FUZZ_NAME
#error define FUZZ_NAME
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif
#ifdef FUZZ_ASAN
/* As libFuzzer's -malloc_limit_mb=1024 in `make fuzz`: one allocation above 1 GiB aborts (a reader
 * may not ask for more than the input holds plus a documented cap). ASAN_OPTIONS may override. */
const char *__asan_default_options(void) { return "allocator_may_return_null=0:max_allocation_size_mb=1024"; }
#endif

static long env_long(const char *name, long def)
{
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : def;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Files of a folder (sorted, hidden ones skipped), or the path itself when it is a file. */
static char **list(const char *path, int *n)
{
    *n = 0;
    struct stat sb;
    if (stat(path, &sb) != 0) return NULL;
    char **v = NULL;
    if (!S_ISDIR(sb.st_mode)) {
        v = malloc(sizeof *v);
        v[0] = strdup(path);
        *n = 1;
        return v;
    }
    DIR *d = opendir(path);
    if (!d) return NULL;
    struct dirent *e;
    int cap = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *p;
        if (asprintf(&p, "%s/%s", path, e->d_name) < 0) continue;
        if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode)) { free(p); continue; }
        if (*n == cap) { cap = cap ? 2 * cap : 64; v = realloc(v, (size_t)cap * sizeof *v); }
        v[(*n)++] = p;
    }
    closedir(d);
    if (*n > 1) qsort(v, (size_t)*n, sizeof *v, cmp_str);
    return v;
}

/* Run one input in a child. Returns 0 when it passed, else fills why. */
static int run_one(const char *path, char *why, size_t wcap)
{
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(why, wcap, "cannot open: %s", strerror(errno)); return -1; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) { fclose(f); free(buf); snprintf(why, wcap, "cannot read"); return -1; }
    fclose(f);
    long rss_mb = env_long("GSG_FUZZ_RSS_MB", 1024), tmo = env_long("GSG_FUZZ_TIMEOUT", 60);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) { free(buf); snprintf(why, wcap, "fork: %s", strerror(errno)); return -1; }
    if (pid == 0) {
#ifndef FUZZ_ASAN
        struct rlimit rl = {(rlim_t)(rss_mb + 1024) << 20, (rlim_t)(rss_mb + 1024) << 20};   /* + room for threads and libraries */
        setrlimit(RLIMIT_AS, &rl);
#endif
        alarm((unsigned)tmo);
        LLVMFuzzerTestOneInput(buf, (size_t)n);
        exit(0);   /* exit, not _exit: leak checks run at exit */
    }
    free(buf);
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {}
    long peak_mb = ru.ru_maxrss / 1024;
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (sig == SIGALRM) snprintf(why, wcap, "timed out after %ld s", tmo);
        else snprintf(why, wcap, "killed by signal %d (%s)", sig, strsignal(sig));
        return -1;
    }
    if (WEXITSTATUS(status) != 0) { snprintf(why, wcap, "exited %d (sanitizer report or failed check above)", WEXITSTATUS(status)); return -1; }
    if (peak_mb > rss_mb) { snprintf(why, wcap, "peak RSS %ld MiB, above the %ld MiB limit", peak_mb, rss_mb); return -1; }
    return 0;
}

/* The reason a crash input is known to be open, from crashes/KNOWN-OPEN, or NULL. */
static char *known_open(const char *file)
{
    FILE *f = fopen("tests/fuzz/crashes/KNOWN-OPEN", "r");
    if (!f) return NULL;
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    char key[512], line[1024];
    snprintf(key, sizeof key, "%s/%s", FUZZ_NAME, base);
    char *r = NULL;
    while (!r && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        size_t kl = strlen(key);
        if (!strncmp(line, key, kl) && (line[kl] == ' ' || line[kl] == '\t' || !line[kl])) {
            const char *w = line + kl;
            while (*w == ' ' || *w == '\t') w++;
            r = strdup(*w ? w : "known open");
        }
    }
    fclose(f);
    return r;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    const char *defaults[] = {"tests/fuzz/corpus/" FUZZ_NAME, "tests/fuzz/crashes/" FUZZ_NAME};
    int npaths = argc > 1 ? argc - 1 : 2;
    const char *const *paths = argc > 1 ? (const char *const *)argv + 1 : defaults;
    int failed = 0, total = 0;
    char why[256];
    for (int k = 0; k < npaths; k++) {
        int crashes = strstr(paths[k], "crashes/") != NULL, n = 0;
        char **files = list(paths[k], &n);
        int bad = 0;
        for (int i = 0; i < n; i++) {
            int rc = run_one(files[i], why, sizeof why);
            total++;
            if (crashes) {
                char *ko = rc ? known_open(files[i]) : NULL;
                if (rc == 0) printf("PASS fuzz_%s %s: no longer fails\n", FUZZ_NAME, files[i]);
                else if (ko) printf("SKIP fuzz_%s %s: still fails (%s), known open: %s\n", FUZZ_NAME, files[i], why, ko);
                else { printf("FAIL fuzz_%s %s: %s\n", FUZZ_NAME, files[i], why); failed++; }
                free(ko);
            } else if (rc) {
                printf("FAIL fuzz_%s %s: %s\n", FUZZ_NAME, files[i], why);
                bad++;
                failed++;
            }
            free(files[i]);
        }
        free(files);
        if (!crashes) {
            if (n == 0) { printf("FAIL fuzz_%s %s: no inputs\n", FUZZ_NAME, paths[k]); failed++; }
            else if (!bad) printf("PASS fuzz_%s %s: %d inputs\n", FUZZ_NAME, paths[k], n);
        }
    }
    if (total == 0) { printf("FAIL fuzz_%s: nothing to run\n", FUZZ_NAME); return 1; }
    return failed ? 1 : 0;
}
