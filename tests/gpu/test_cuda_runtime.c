/* test_cuda_runtime.c: the GPU libraries this run found (which file, which version: the first lines of
 * gpu-check's test log), then host<->device copies through the tensor API.
 * Reports SKIP (never PASS) when the build has no CUDA backend or no device is present; under
 * GSG_REQUIRE_GPU=1 a skip is a failure (check.h). */
#include "check.h"
#include "tensor/tensor.h"
#include "cuda/gsg_cuda.h"
#include "cuda/libfind.h"
#include "dist/dist_internal.h"

static int have_gpu(const char **why)
{
    if (!gsg_cuda_built()) { *why = "built without nvcc"; return 0; }
    if (gsg_cuda_init(0) < 0) { *why = gsg_err_msg(); return 0; }
    return 1;
}

/* cuBLAS and cuDNN load and resolve every entry point (no device needed); NCCL is reported, needed
 * only by several GPU ranks */
TEST(gpu_libraries_found)
{
    size_t v = 0;
    CHECK_OK(gsg_cuda_libs_probe(&v));
    printf("# libraries: %s\n", gsg_cuda_libs_describe());
    char why[1400];
    if (gsg_nccl_load(why, sizeof why) == 0) printf("# libraries: %s\n", gsg_nccl_describe());
    else printf("# libraries: NCCL not loaded (only several GPU ranks need it): %s\n", why);
    CHECK_MSG(v / 10000 == 9, "cuDNN version %zu (cuDNN 9 expected)", v);
}

TEST(cuda_copy_roundtrip)
{
    int64_t dims[2] = {37, 129};
    struct gsg_tensor h, d, back;
    CHECK_OK(gsg_tensor_alloc(&h, GSG_DTYPE_F32, GSG_DEV_CPU, 2, dims));
    CHECK_OK(gsg_tensor_alloc(&back, GSG_DTYPE_F32, GSG_DEV_CPU, 2, dims));
    CHECK_OK(gsg_tensor_alloc(&d, GSG_DTYPE_F32, GSG_DEV_CUDA, 2, dims));
    for (int64_t i = 0; i < 37 * 129; i++) ((float *)h.data)[i] = (float)i * 0.25f - 7.0f;
    CHECK_OK(gsg_tensor_copy(&d, &h));
    CHECK_OK(gsg_tensor_copy(&back, &d));
    CHECK(memcmp(h.data, back.data, gsg_tensor_nbytes(&h)) == 0);
    gsg_tensor_free(&h);
    gsg_tensor_free(&d);
    gsg_tensor_free(&back);
}

int main(void)
{
    const char *why = "";
    if (!gsg_cuda_built()) {
        SKIP(gpu_libraries_found, "built without nvcc");
    } else {
        char wheels[4096];
        gsg_gpulib_wheel_dirs(wheels, sizeof wheels);
        printf("# GSG_CUDA_LIBDIR=%s\n# wheel folders: %s\n", getenv("GSG_CUDA_LIBDIR") ? getenv("GSG_CUDA_LIBDIR") : "",
               *wheels ? wheels : "(none)");
        size_t v = 0;
        char msg[1200] = "";
        if (gsg_cuda_libs_probe(&v) < 0) snprintf(msg, sizeof msg, "no device, and %s", gsg_err_msg());
        if (*msg && !have_gpu(&why)) SKIP(gpu_libraries_found, msg);   /* a CPU machine without the libraries */
        else RUN(gpu_libraries_found);
    }
    if (!have_gpu(&why)) { SKIP(cuda_copy_roundtrip, why); return check_summary(); }
    RUN(cuda_copy_roundtrip);
    return check_summary();
}
