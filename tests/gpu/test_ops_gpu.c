/* test_ops_gpu.c: the op table of tests/unit/op_cases.h run on CUDA and compared with the CPU
 * kernels (the same inputs, forward and backward outputs), one PASS/FAIL line per case, with the
 * case's dev_tol (fp32: normwise relative error <= 1e-4). Without a CUDA build or a device every
 * case is reported SKIP with the reason, never PASS. An op without a CUDA kernel yet fails naming
 * itself (GSG_E_UNSUPPORTED): the table is the list of what the backend still lacks. */
#include "check.h"
#include "op_cases.h"
#include "cuda/gsg_cuda.h"

static int have_gpu(char *why, size_t cap)
{
    if (!gsg_cuda_built()) { snprintf(why, cap, "built without nvcc"); return 0; }
    if (gsg_cuda_init(0) < 0) { snprintf(why, cap, "%s", gsg_err_msg()); return 0; }
    return 1;
}

int main(void)
{
    char why[512];
    if (!have_gpu(why, sizeof why)) {
        for (int i = 0; i < OC_COUNT; i++) {
            char name[160];
            snprintf(name, sizeof name, "op_case_gpu_%s", oc_table[i].name);
            if (check_require_gpu()) {
                check_failed_cases++;
                printf("FAIL %s: would skip (%s), and GSG_REQUIRE_GPU=1 makes every skip a failure\n", name, why);
            } else printf("SKIP %s: %s\n", name, why);
        }
        (void)check_case_failed;
        (void)check_case_name;
        return check_summary();   /* non-zero under GSG_REQUIRE_GPU=1 */
    }
    for (int i = 0; i < OC_COUNT; i++) {
        const struct op_case *c = &oc_table[i];
        struct oc_result cpu, gpu;
        int ok = 1;
        if (oc_run(c, GSG_DEV_CPU, &cpu) < 0) { printf("  %s: cpu: %s\n", c->name, gsg_err_msg()); ok = 0; }
        if (oc_run(c, GSG_DEV_CUDA, &gpu) < 0) { printf("  %s: cuda: %s\n", c->name, gsg_err_msg()); ok = 0; }
        if (ok) ok = gsg_cuda_sync() >= 0;
        if (ok) ok = oc_compare(c, &gpu, &cpu, c->dev_tol, "cuda vs cpu");
        oc_result_free(&cpu);
        oc_result_free(&gpu);
        if (ok) { check_passed_cases++; printf("PASS op_case_gpu_%s\n", c->name); }
        else { check_failed_cases++; printf("FAIL op_case_gpu_%s\n", c->name); }
        fflush(stdout);
    }
    (void)check_case_failed;
    (void)check_case_name;
    return check_summary();
}
