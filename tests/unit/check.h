/* check.h: the unit-test harness. Each TEST prints "PASS name" or "FAIL name";
 * failed checks print file:line and the values. main() returns non-zero when
 * any check failed. Usage:
 *   TEST(name) { CHECK(x == 1); CHECK_CLOSE(a, b, 1e-6, 1e-6); }
 *   int main(void) { RUN(name); return check_summary(); }          */
#ifndef GSG_CHECK_H
#define GSG_CHECK_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failed_cases, check_passed_cases, check_case_failed;
static const char *check_case_name = "";

#define TEST(name) static void name(void)
#define RUN(name) do { check_case_failed = 0; check_case_name = #name; name(); \
    if (check_case_failed) { check_failed_cases++; printf("FAIL %s\n", #name); } \
    else { check_passed_cases++; printf("PASS %s\n", #name); } fflush(stdout); } while (0)
/* A case that cannot run here (no GPU, no torch): reported, never counted as passed. Under
 * GSG_REQUIRE_GPU=1 (pipelines/gpu-check.sh, on the machine that must run everything) a skip is a
 * failure: a GPU run never passes by skipping. */
static inline int check_require_gpu(void)
{
    const char *e = getenv("GSG_REQUIRE_GPU");
    return e && !strcmp(e, "1");
}
#define SKIP(name, why) do { if (check_require_gpu()) { check_failed_cases++; \
    printf("FAIL %s: would skip (%s), and GSG_REQUIRE_GPU=1 makes every skip a failure\n", #name, why); } \
    else { printf("SKIP %s: %s\n", #name, why); } fflush(stdout); } while (0)

#define CHECK(c) do { if (!(c)) { check_case_failed = 1; \
    printf("  %s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__, check_case_name, #c); } } while (0)
#define CHECK_MSG(c, ...) do { if (!(c)) { check_case_failed = 1; \
    printf("  %s:%d: %s: CHECK(%s) failed: ", __FILE__, __LINE__, check_case_name, #c); printf(__VA_ARGS__); printf("\n"); } } while (0)
#define CHECK_EQ_I64(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); if (a_ != b_) { check_case_failed = 1; \
    printf("  %s:%d: %s: %s == %s failed: %lld vs %lld\n", __FILE__, __LINE__, check_case_name, #a, #b, a_, b_); } } while (0)
#define CHECK_CLOSE(a, b, rtol, atol) do { double a_ = (double)(a), b_ = (double)(b); \
    if (!(fabs(a_ - b_) <= (atol) + (rtol) * fabs(b_))) { check_case_failed = 1; \
    printf("  %s:%d: %s: %s ~= %s failed: %.9g vs %.9g (rtol %g atol %g)\n", __FILE__, __LINE__, check_case_name, #a, #b, a_, b_, (double)(rtol), (double)(atol)); } } while (0)
#define CHECK_OK(st) do { int st_ = (int)(st); if (st_ < 0) { check_case_failed = 1; \
    printf("  %s:%d: %s: %s returned %d: %s\n", __FILE__, __LINE__, check_case_name, #st, st_, gsg_err_msg()); } } while (0)

static inline int check_summary(void)
{
    return check_failed_cases ? 1 : 0;
}

/* Normalised mean squared error between two arrays (ggml's nmse). */
static inline double check_nmse(const float *a, const float *ref, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) { double d = (double)a[i] - ref[i]; num += d * d; den += (double)ref[i] * ref[i]; }
    return den > 0 ? num / den : num;
}
/* A shared fixture: a smooth w x h test image, interleaved RGB (seed shifts the colours), that
 * JPEG keeps close (tests of the image readers and of the data sets). */
static inline void smooth(uint8_t *p, int w, int h, int seed)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            p[(y * w + x) * 3 + 0] = (uint8_t)(40 + 150 * x / w + seed);
            p[(y * w + x) * 3 + 1] = (uint8_t)(30 + 150 * y / h);
            p[(y * w + x) * 3 + 2] = (uint8_t)(120 + seed * 3);
        }
}

#endif
