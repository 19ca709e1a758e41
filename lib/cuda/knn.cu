// knn.cu: the k nearest bank rows of every query by dot product (rows L2-normalised by the caller).
// Per (query tile, bank tile): one cuBLAS GEMM gives the similarity tile; then one block per query
// merges its running top-k with the tile's similarities by a bitonic sort in shared memory. Each
// candidate is one 64-bit key, (similarity as an order-preserving u32) << 32 | ~bank_index, so a
// descending sort puts higher similarity first and, on equal similarity, the lower bank index first:
// lib/eval/knn.h's tie rule, exact (gsg_knn_key, cuda_host.h, unit-tested on the CPU).
#include <string.h>
#include "cuda_internal.h"

#define KMAX 1024
#define QT 1024    // queries per tile
#define BT 2048    // bank rows per tile
#define SORT_N 4096  // >= KMAX + BT, a power of two
#define THREADS 512

// top[q][0..k) (sorted keys) merged with sims[q][0..nb) of bank rows b0.. ; q = blockIdx.x
__global__ void k_topk_merge(unsigned long long *top, const float *sims, int64_t nb, int64_t b0, int k, int first)
{
    __shared__ unsigned long long key[SORT_N];
    const int64_t q = blockIdx.x;
    unsigned long long *tq = top + q * k;
    const float *sq = sims + q * nb;
    int P = 1;
    while (P < k + nb) P <<= 1;
    for (int i = threadIdx.x; i < P; i += blockDim.x) {
        unsigned long long v = 0;   // below every real key
        if (i < k) v = first ? 0ull : tq[i];
        else if (i - k < nb) {
            int64_t j = i - k;
            v = gsg_knn_key(sq[j], (uint32_t)(b0 + j));
        }
        key[i] = v;
    }
    __syncthreads();
    // bitonic sort, descending
    for (int size = 2; size <= P; size <<= 1)
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            for (int i = threadIdx.x; i < P; i += blockDim.x) {
                int j = i ^ stride;
                if (j > i) {
                    unsigned long long a = key[i], b = key[j];
                    bool desc = (i & size) == 0;
                    if (desc ? (a < b) : (a > b)) { key[i] = b; key[j] = a; }
                }
            }
            __syncthreads();
        }
    for (int i = threadIdx.x; i < k; i += blockDim.x) tq[i] = key[i];
}

__global__ void k_topk_decode(int32_t *idx, float *sim, const unsigned long long *top, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        idx[i] = (int32_t)gsg_knn_key_index(top[i]);
        sim[i] = gsg_knn_key_sim(top[i]);
    }
}

extern "C" gsg_status gsg_cuda_knn_topk(int32_t *idx, float *sim, const float *query, int64_t Nq, const float *bank,
                                        int64_t Nb, int64_t D, int64_t k)
{
    if (k < 1 || k > KMAX || k > Nb)
        return gsg_err_set(GSG_E_USAGE, "knn: k = %lld: expected 1 <= k <= min(bank rows %lld, %d)", (long long)k,
                           (long long)Nb, KMAX);
    if (Nb > 0xfffffffeLL || D > 0x7fffffffLL)
        return gsg_err_set(GSG_E_SHAPE, "knn: bank of %lld rows of %lld: too large", (long long)Nb, (long long)D);
    if (Nq <= 0) return GSG_OK;
    GSG_CTX(c);
    const int64_t qt = Nq < QT ? Nq : QT;
    float *S = NULL;
    unsigned long long *top = NULL;
    GSG_CU(cudaMalloc(&S, (size_t)qt * BT * sizeof(float)));
    cudaError_t e = cudaMalloc(&top, (size_t)Nq * k * sizeof *top);
    if (e != cudaSuccess) { cudaFree(S); return gsg_cuda_fail(e, "cudaMalloc(top)", __FILE__, __LINE__); }
    gsg_status st = GSG_OK;
    const float one = 1.0f, zero = 0.0f;
    for (int64_t q0 = 0; q0 < Nq && st == GSG_OK; q0 += qt) {
        const int64_t nq = Nq - q0 < qt ? Nq - q0 : qt;
        for (int64_t b0 = 0; b0 < Nb && st == GSG_OK; b0 += BT) {
            const int64_t nb = Nb - b0 < BT ? Nb - b0 : BT;
            // S (nq, nb) row-major = query (nq, D) bank (nb, D)^T
            cublasStatus_t be = c->fn.cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)nb, (int)nq, (int)D, &one,
                                                   bank + b0 * D, CUDA_R_32F, (int)D, query + q0 * D, CUDA_R_32F,
                                                   (int)D, &zero, S, CUDA_R_32F, (int)nb, CUBLAS_COMPUTE_32F,
                                                   CUBLAS_GEMM_DEFAULT);
            if (be != CUBLAS_STATUS_SUCCESS) { st = gsg_cublas_fail(be, "cublasGemmEx (knn)", __FILE__, __LINE__); break; }
            k_topk_merge<<<(unsigned)nq, THREADS, 0, c->stream>>>(top + q0 * k, S, nb, b0, (int)k, b0 == 0);
            e = cudaGetLastError();
            if (e != cudaSuccess) st = gsg_cuda_fail(e, "the launch of k_topk_merge", __FILE__, __LINE__);
        }
    }
    if (st == GSG_OK) {
        k_topk_decode<<<gsg_grid(Nq * k, 256, 4), 256, 0, c->stream>>>(idx, sim, top, Nq * k);
        e = cudaGetLastError();
        if (e != cudaSuccess) st = gsg_cuda_fail(e, "the launch of k_topk_decode", __FILE__, __LINE__);
    }
    // the buffers are freed once the stream is done with them (knn runs outside the training step)
    e = cudaStreamSynchronize(c->stream);
    if (st == GSG_OK && e != cudaSuccess) st = gsg_cuda_fail(e, "cudaStreamSynchronize (knn)", __FILE__, __LINE__);
    cudaFree(S);
    cudaFree(top);
    return st;
}
