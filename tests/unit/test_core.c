/* test_core.c: status/error record, tensors, RNG known answers, atomic files, npy. */
#include "check.h"
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
#include "core/status.h"
#include "core/rng.h"
#include "core/afile.h"
#include "tensor/tensor.h"
#include "io/npy.h"
#include "cuda/gsg_cuda.h"
#include "core/tool.h"

/* Random123's published known-answer vectors for philox4x32-10 (tests/kat_vectors):
 * counter (4 words), key (2 words) -> output (4 words). */
TEST(philox_kat)
{
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        uint64_t ctr = kat[i][0] | ((uint64_t)kat[i][1] << 32);
        uint64_t stream = kat[i][2] | ((uint64_t)kat[i][3] << 32);
        uint64_t seed = kat[i][4] | ((uint64_t)kat[i][5] << 32);
        gsg_philox_block(out, seed, stream, ctr);
        for (int j = 0; j < 4; j++) CHECK_EQ_I64(out[j], kat[i][6 + j]);
    }
}

TEST(rng_streams_and_ranges)
{
    struct gsg_rng a, b;
    gsg_rng_init(&a, 7, gsg_rng_stream(GSG_RNG_TEST, 1, 2, 3));
    gsg_rng_init(&b, 7, gsg_rng_stream(GSG_RNG_TEST, 1, 2, 3));
    for (int i = 0; i < 100; i++) CHECK_EQ_I64(gsg_rng_u32(&a), gsg_rng_u32(&b));
    gsg_rng_init(&b, 7, gsg_rng_stream(GSG_RNG_TEST, 1, 2, 4));
    int same = 0;
    for (int i = 0; i < 100; i++) same += gsg_rng_u32(&a) == gsg_rng_u32(&b);
    CHECK(same < 3);
    double sum = 0, sq = 0;
    int counts[10] = {0};
    for (int i = 0; i < 100000; i++) {
        float u = gsg_rng_uniform(&a);
        CHECK(u >= 0 && u < 1);
        counts[gsg_rng_below(&a, 10)]++;
        double z = gsg_rng_normal(&a);
        sum += z; sq += z * z;
    }
    CHECK_CLOSE(sum / 100000, 0, 0, 0.02);
    CHECK_CLOSE(sq / 100000, 1, 0, 0.03);
    for (int i = 0; i < 10; i++) CHECK(counts[i] > 9500 && counts[i] < 10500);
    int64_t perm[50], seen[50] = {0};
    gsg_rng_permutation(&a, perm, 50);
    for (int i = 0; i < 50; i++) seen[perm[i]]++;
    for (int i = 0; i < 50; i++) CHECK_EQ_I64(seen[i], 1);
}

TEST(error_record)
{
    gsg_err_clear();
    CHECK(gsg_err_set(GSG_E_FORMAT, "x: record %d", 3) == GSG_E_FORMAT);
    CHECK(strcmp(gsg_err_msg(), "x: record 3") == 0);
    gsg_err_prefix(GSG_E_FORMAT, "ctx");
    CHECK(strcmp(gsg_err_msg(), "ctx: x: record 3") == 0);
    CHECK(gsg_err_status() == GSG_E_FORMAT);
}

TEST(tensor_basics)
{
    struct gsg_tensor t;
    int64_t dims[3] = {2, 3, 4};
    CHECK_OK(gsg_tensor_alloc(&t, GSG_DTYPE_F32, GSG_DEV_CPU, 3, dims));
    CHECK_EQ_I64(gsg_tensor_numel(&t), 24);
    CHECK_EQ_I64(gsg_tensor_nbytes(&t), 96);
    CHECK(((uintptr_t)t.data & 63) == 0);
    char buf[64];
    CHECK(strcmp(gsg_shape_str(buf, sizeof buf, 3, dims), "[2,3,4]") == 0);
    gsg_tensor_free(&t);
    uint64_t bytes;
    int64_t big[3] = {1LL << 40, 1LL << 40, 1LL << 40};
    CHECK(gsg_shape_bytes(3, big, 4, &bytes) != 0);
    CHECK(gsg_tensor_alloc(&t, GSG_DTYPE_F32, GSG_DEV_CUDA, 3, dims) == GSG_E_NO_CUDA || gsg_cuda_built());
}

TEST(half_conversions)
{
    float vals[] = {0.f, 1.f, -2.5f, 65504.f, 1e-5f, 3.140625f};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        CHECK_CLOSE(gsg_f16_to_f32(gsg_f32_to_f16(vals[i])), vals[i], 1e-3, 1e-7);
        CHECK_CLOSE(gsg_bf16_to_f32(gsg_f32_to_bf16(vals[i])), vals[i], 1e-2, 1e-30);
    }
    CHECK_EQ_I64(gsg_f32_to_f16(1.0f), 0x3c00);
    CHECK_EQ_I64(gsg_f32_to_bf16(1.0f), 0x3f80);
}

TEST(atomic_file)
{
    char dir[] = "/tmp/gsg_afile_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/out.bin", dir);
    struct gsg_afile *af;
    CHECK_OK(gsg_afile_open(&af, path));
    fputs("hello", af->f);
    struct stat sb;
    CHECK(stat(path, &sb) != 0);              /* not visible before commit */
    CHECK_OK(gsg_afile_commit(af));
    CHECK(stat(path, &sb) == 0 && sb.st_size == 5);
    CHECK_OK(gsg_afile_open(&af, path));
    fputs("partial", af->f);
    gsg_afile_abort(af);
    CHECK(stat(path, &sb) == 0 && sb.st_size == 5);   /* old content kept */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "test $(ls %s | wc -l) -eq 1", dir);
    CHECK(system(cmd) == 0);                   /* no temp files left */
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

TEST(atomic_file_device_written_in_place)
{
    struct gsg_afile *af;
    CHECK_OK(gsg_afile_open(&af, "/dev/null"));
    CHECK(af->direct == 1);
    fputs("x", af->f);
    CHECK_OK(gsg_afile_commit(af));
    struct stat sb;
    CHECK(stat("/dev/null", &sb) == 0 && S_ISCHR(sb.st_mode));
    if (stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode)) {
        CHECK_OK(gsg_afile_open(&af, "/dev/full"));
        for (int i = 0; i < 10000; i++) fputs("0123456789", af->f);
        CHECK(gsg_afile_commit(af) == GSG_E_IO);
        CHECK(stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode));
    }
}

TEST(npy_roundtrip)
{
    struct gsg_tensor t, u;
    int64_t dims[2] = {3, 5};
    CHECK_OK(gsg_tensor_alloc(&t, GSG_DTYPE_F32, GSG_DEV_CPU, 2, dims));
    for (int i = 0; i < 15; i++) ((float *)t.data)[i] = (float)i * 0.5f;
    CHECK_OK(gsg_npy_save("/tmp/gsg_test_core.npy", &t));
    CHECK_OK(gsg_npy_load("/tmp/gsg_test_core.npy", &u));
    CHECK(u.dtype == GSG_DTYPE_F32 && u.ndim == 2 && u.dims[0] == 3 && u.dims[1] == 5);
    CHECK(memcmp(t.data, u.data, 60) == 0);
    FILE *f = fopen("/tmp/gsg_test_core.npy", "rb");
    fseek(f, 0, SEEK_END);
    CHECK_EQ_I64(ftell(f), 128 + 60);
    fclose(f);
    unlink("/tmp/gsg_test_core.npy");
    gsg_tensor_free(&t);
    gsg_tensor_free(&u);
}

/* The ETA counts the rate from the step a run (re)started at: a run resumed at step 10530 of 11700
 * that did 170 steps in 89 s has ~523 s left, not the 8 s that dividing by 10700 steps gave. */
TEST(progress_eta_counts_from_start)
{
    CHECK(fabs(gsg_progress_eta(89.0, 10530, 10700, 11700) - 89.0 * 1000.0 / 170.0) < 1e-9);
    CHECK(fabs(gsg_progress_eta(10.0, 0, 25, 100) - 30.0) < 1e-12);
    CHECK(gsg_progress_eta(5.0, 10530, 10530, 11700) < 0);   /* no step since the resume: no rate yet */
    CHECK(gsg_progress_eta(5.0, 0, 10, 0) < 0);              /* unknown total */
    CHECK(gsg_progress_eta(5.0, 0, 100, 100) == 0);
}

int main(void)
{
    RUN(philox_kat);
    RUN(rng_streams_and_ranges);
    RUN(error_record);
    RUN(tensor_basics);
    RUN(half_conversions);
    RUN(atomic_file);
    RUN(atomic_file_device_written_in_place);
    RUN(npy_roundtrip);
    RUN(progress_eta_counts_from_start);
    return check_summary();
}
