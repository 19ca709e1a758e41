/* test_cuda_runtime.c: host<->device copies through the tensor API.
 * Reports SKIP (never PASS) when the build has no CUDA backend or no device is present. */
#include "check.h"
#include "tensor/tensor.h"
#include "cuda/gsg_cuda.h"

static int have_gpu(const char **why)
{
    if (!gsg_cuda_built()) { *why = "built without nvcc"; return 0; }
    if (gsg_cuda_init(0) < 0) { *why = gsg_err_msg(); return 0; }
    return 1;
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
    if (!have_gpu(&why)) { SKIP(cuda_copy_roundtrip, why); return 0; }
    RUN(cuda_copy_roundtrip);
    return check_summary();
}
