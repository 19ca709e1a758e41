/* fuzz.h: what the harnesses in tests/fuzz share.
 * Each tests/fuzz/fuzz_<reader>.c defines LLVMFuzzerTestOneInput (libFuzzer's entry point). It is
 * linked either with libFuzzer (`make fuzz`, clang, build/fuzz) or with tests/fuzz/driver.c, the
 * regression driver that `make test` runs over tests/fuzz/corpus/<harness> and crashes/<harness>
 * with the normal compiler. Readers that want a path get one that holds the bytes: a memfd seen
 * through /proc/self/fd (no disk), or a file in a private temporary folder (folder readers). */
#ifndef GSG_FUZZ_H
#define GSG_FUZZ_H
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A harness's own invariant broke: print it and abort (libFuzzer keeps the input as a crash). */
#define FUZZ_CHECK(x) do { if (!(x)) { \
    fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #x); abort(); } } while (0)

static inline void fuzz_write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        FUZZ_CHECK(w > 0);
        b += w;
        n -= (size_t)w;
    }
}

/* A memfd holding the bytes, offset 0; *path gets "/proc/self/fd/N". Close the fd when done. */
static inline int fuzz_memfd(const void *p, size_t n, char path[64])
{
    int fd = memfd_create("gsg-fuzz", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0);
    fuzz_write_all(fd, p, n);
    FUZZ_CHECK(lseek(fd, 0, SEEK_SET) == 0);
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

/* A private folder, made once per process (under /dev/shm when there is one), removed at exit. */
static char fuzz_dir_path[256];
static void fuzz_dir_cleanup(void)
{
    if (!fuzz_dir_path[0]) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir_path);
    if (system(cmd) != 0) { /* best effort */ }
}
static inline const char *fuzz_dir(void)
{
    if (!fuzz_dir_path[0]) {
        struct stat sb;
        const char *base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/gsg-fuzz.XXXXXX", base);
        FUZZ_CHECK(mkdtemp(fuzz_dir_path) != NULL);
        atexit(fuzz_dir_cleanup);
    }
    return fuzz_dir_path;
}

/* Write bytes to <fuzz_dir>/<rel> (parent folders made as needed); returns the malloc'd path. */
static inline char *fuzz_file(const char *rel, const void *p, size_t n)
{
    char *path = NULL;
    FUZZ_CHECK(asprintf(&path, "%s/%s", fuzz_dir(), rel) > 0);
    for (char *s = path + strlen(fuzz_dir()) + 1; (s = strchr(s, '/')); s++) {
        *s = 0;
        mkdir(path, 0700);
        *s = '/';
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FUZZ_CHECK(fd >= 0);
    fuzz_write_all(fd, p, n);
    close(fd);
    return path;
}

/* Read every byte of a buffer so that a short or dangling buffer shows up under ASan. */
static inline uint64_t fuzz_touch(const void *p, size_t n)
{
    const volatile uint8_t *b = p;
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) s = s * 31 + b[i];
    return s;
}

#endif
