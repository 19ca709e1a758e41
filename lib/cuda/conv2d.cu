// conv2d.cu: convolution through cuDNN. Activations NHWC (our layout), weights [Co,Ci,K,K] (PyTorch's,
// as checkpoints store them) transposed per call into cuDNN's NHWC filter layout [Co,K,K,Ci] (a small
// kernel; the weights change every step). A plan fixes the shape and precision, picks one algorithm per
// direction once (cuDNN's heuristic ranking, or timing with GSG_CUDNN_FIND=1; deterministic algorithms
// preferred, gsg_algo_pick) and sizes the process-wide workspace at creation: calls never allocate.
//   fp32: fp32 tensors, always CUDNN_FMA_MATH (no TF32: the CPU parity tolerance is 1e-4). The math type
//         cuDNN reports for a candidate is never copied back: DEFAULT_MATH would permit TF32 on sm_80+.
//   bf16: x, w, dy converted to bf16 in the workspace, CUDNN_TENSOR_OP_MATH with fp32 accumulation, the
//         bf16 outputs converted back to fp32 (y, dx written; dw accumulated into the fp32 gradient).
//         A layer cuDNN cannot run in bf16 NHWC (channels not a multiple of 8: the 1-channel fmnist
//         stem, odd test shapes) falls back to fp32 for that layer only (its plan says "fp32 (bf16
//         fallback)"), instead of failing the network.
// Each chosen algorithm is run once at plan time on scratch buffers; one that fails there (a heuristic
// can rank an algorithm that then refuses the layer) is dropped and the next candidate tried.
// Identical layers share one choice through a process cache (cuda_host.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cuda_internal.h"
extern "C" {
#include "../ops/ops.h"
}

#define WS_LIMIT ((size_t)1 << 30)   // per-algorithm workspace cap

struct gsg_cuda_conv2d {
    struct gsg_conv2d_desc d;
    int64_t Ho, Wo;
    enum gsg_precision prec;
    cudnnTensorDescriptor_t xd, yd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd[3];   // fwd, bwd data, bwd filter (each with its algorithm's math type)
    struct gsg_conv_choice ch;
    // workspace layout (bytes): [ algorithm | wT | dwT | xb | yb | dxb ]
    size_t ws_algo, off_wT, off_dwT, off_xb, off_yb, off_dxb, ws_total;
    char algos[160];
};

static struct gsg_conv_cache conv_cache;

static cudnnDataType_t dtype_of(enum gsg_precision p)
{
    return p == GSG_PREC_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
}

static size_t up256(size_t n) { return (n + 255) & ~(size_t)255; }

// [Co,Ci,K,K] f32 -> [Co,K,K,Ci] (f32 or bf16)
template <typename T> __device__ __forceinline__ T from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__global__ void k_w_to_krsc(T *wt, const float *w, int64_t Co, int64_t Ci, int64_t KK)
{
    const int64_t n = Co * Ci * KK;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t ci = i % Ci, q = i / Ci, s = q % KK, co = q / KK;   // i indexes [co][s][ci]
        wt[i] = from_f32<T>(w[(co * Ci + ci) * KK + s]);
    }
}

// dw[Co,Ci,K,K] += dwt[Co,K,K,Ci]
template <typename T>
__global__ void k_dw_from_krsc(float *dw, const T *dwt, int64_t Co, int64_t Ci, int64_t KK)
{
    const int64_t n = Co * Ci * KK;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t s = i % KK, q = i / KK, ci = q % Ci, co = q / Ci;   // i indexes [co][ci][s]
        dw[i] += to_f32(dwt[(co * KK + s) * Ci + ci]);
    }
}

__global__ void k_to_bf16(__nv_bfloat16 *y, const float *x, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = __float2bfloat16_rn(x[i]);
}
__global__ void k_from_bf16(float *y, const __nv_bfloat16 *x, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = __bfloat162float(x[i]);
}

static int math_ok(enum gsg_precision p, cudnnMathType_t m)
{
    // fp32: the algorithms cuDNN lists for FMA or default math (run below with FMA math forced); never
    // those that need tensor-op math. bf16 takes what cuDNN ranks first.
    return p == GSG_PREC_BF16 || m == CUDNN_FMA_MATH || m == CUDNN_DEFAULT_MATH;
}

// The math type a candidate runs with: fp32 always FMA (no TF32), bf16 what cuDNN reported.
static cudnnMathType_t math_for(enum gsg_precision p, cudnnMathType_t reported)
{
    return p == GSG_PREC_BF16 ? reported : CUDNN_FMA_MATH;
}

// Scratch tensors for the plan-time trial (and GSG_CUDNN_FIND timing): x, w, y of the layer.
struct trial_bufs { void *x, *w, *y; };

// Run direction dir once with algorithm algo on the trial buffers; cuDNN's status, or a CUDA error.
static int trial_run(struct gsg_cuda_ctx *c, struct gsg_cuda_conv2d *p, int dir, int algo, size_t mem,
                     const struct trial_bufs *b, char *why, size_t cap)
{
    void *ws = NULL;
    if (mem && gsg_cuda_workspace(mem, &ws) != GSG_OK) {
        snprintf(why, cap, "workspace of %zu bytes: %s", mem, gsg_err_msg());
        return -1;
    }
    const float one = 1.0f, zero = 0.0f;
    cudnnStatus_t s;
    cudnnConvolutionDescriptor_t cd = p->cd[dir];
    if (dir == 0)
        s = c->fn.cudnnConvolutionForward(c->dnn, &one, p->xd, b->x, p->wd, b->w, cd, (cudnnConvolutionFwdAlgo_t)algo,
                                          ws, mem, &zero, p->yd, b->y);
    else if (dir == 1)
        s = c->fn.cudnnConvolutionBackwardData(c->dnn, &one, p->wd, b->w, p->yd, b->y, cd,
                                               (cudnnConvolutionBwdDataAlgo_t)algo, ws, mem, &zero, p->xd, b->x);
    else
        s = c->fn.cudnnConvolutionBackwardFilter(c->dnn, &one, p->xd, b->x, p->yd, b->y, cd,
                                                 (cudnnConvolutionBwdFilterAlgo_t)algo, ws, mem, &zero, p->wd, b->w);
    if (s != CUDNN_STATUS_SUCCESS) {
        snprintf(why, cap, "cuDNN %d '%s'", (int)s, c->fn.cudnnGetErrorString(s));
        return -1;
    }
    cudaError_t e = cudaStreamSynchronize(c->stream);
    if (e == cudaSuccess) e = cudaGetLastError();
    if (e != cudaSuccess) {
        snprintf(why, cap, "CUDA '%s'", cudaGetErrorString(e));
        return -1;
    }
    return 0;
}

// One direction's choice. dir 0 fwd, 1 bwd data, 2 bwd filter. find: time with real buffers.
static gsg_status choose(struct gsg_cuda_ctx *c, struct gsg_cuda_conv2d *p, int dir, int find, void *bx, void *bw,
                         void *by, void *ws, size_t ws_bytes, const struct trial_bufs *trial, int *algo, size_t *mem,
                         cudnnMathType_t *math)
{
    enum { MAXA = 16 };
    struct gsg_algo_perf cand[MAXA];
    cudnnMathType_t maths[MAXA];
    int n = 0;
    cudnnConvolutionDescriptor_t cd = p->cd[dir];
    if (dir == 0) {
        cudnnConvolutionFwdAlgoPerf_t r[MAXA];
        if (find)
            GSG_CUDNN(c->fn.cudnnFindConvolutionForwardAlgorithmEx(c->dnn, p->xd, bx, p->wd, bw, cd, p->yd, by, MAXA,
                                                                   &n, r, ws, ws_bytes));
        else GSG_CUDNN(c->fn.cudnnGetConvolutionForwardAlgorithm_v7(c->dnn, p->xd, p->wd, cd, p->yd, MAXA, &n, r));
        for (int i = 0; i < n; i++) {
            cand[i] = {(int)r[i].algo, r[i].status == CUDNN_STATUS_SUCCESS && math_ok(p->prec, r[i].mathType),
                       r[i].time, r[i].memory, r[i].determinism == CUDNN_DETERMINISTIC};
            maths[i] = r[i].mathType;
        }
    } else if (dir == 1) {
        cudnnConvolutionBwdDataAlgoPerf_t r[MAXA];
        if (find)
            GSG_CUDNN(c->fn.cudnnFindConvolutionBackwardDataAlgorithmEx(c->dnn, p->wd, bw, p->yd, by, cd, p->xd, bx,
                                                                        MAXA, &n, r, ws, ws_bytes));
        else
            GSG_CUDNN(c->fn.cudnnGetConvolutionBackwardDataAlgorithm_v7(c->dnn, p->wd, p->yd, cd, p->xd, MAXA, &n, r));
        for (int i = 0; i < n; i++) {
            cand[i] = {(int)r[i].algo, r[i].status == CUDNN_STATUS_SUCCESS && math_ok(p->prec, r[i].mathType),
                       r[i].time, r[i].memory, r[i].determinism == CUDNN_DETERMINISTIC};
            maths[i] = r[i].mathType;
        }
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t r[MAXA];
        if (find)
            GSG_CUDNN(c->fn.cudnnFindConvolutionBackwardFilterAlgorithmEx(c->dnn, p->xd, bx, p->yd, by, cd, p->wd, bw,
                                                                          MAXA, &n, r, ws, ws_bytes));
        else
            GSG_CUDNN(c->fn.cudnnGetConvolutionBackwardFilterAlgorithm_v7(c->dnn, p->xd, p->yd, cd, p->wd, MAXA, &n, r));
        for (int i = 0; i < n; i++) {
            cand[i] = {(int)r[i].algo, r[i].status == CUDNN_STATUS_SUCCESS && math_ok(p->prec, r[i].mathType),
                       r[i].time, r[i].memory, r[i].determinism == CUDNN_DETERMINISTIC};
            maths[i] = r[i].mathType;
        }
    }
    // the exact workspace of each candidate with the math type it will run with (heuristic estimates
    // can be low); fp32 candidates are measured, and run, with FMA math whatever cuDNN reported
    for (int i = 0; i < n; i++) {
        maths[i] = math_for(p->prec, maths[i]);
        if (!cand[i].ok) continue;
        size_t m = 0;
        cudnnStatus_t s = c->fn.cudnnSetConvolutionMathType(cd, maths[i]);
        if (s == CUDNN_STATUS_SUCCESS) {
            if (dir == 0)
                s = c->fn.cudnnGetConvolutionForwardWorkspaceSize(c->dnn, p->xd, p->wd, cd, p->yd,
                                                                  (cudnnConvolutionFwdAlgo_t)cand[i].algo, &m);
            else if (dir == 1)
                s = c->fn.cudnnGetConvolutionBackwardDataWorkspaceSize(c->dnn, p->wd, p->yd, cd, p->xd,
                                                                       (cudnnConvolutionBwdDataAlgo_t)cand[i].algo, &m);
            else
                s = c->fn.cudnnGetConvolutionBackwardFilterWorkspaceSize(
                    c->dnn, p->xd, p->yd, cd, p->wd, (cudnnConvolutionBwdFilterAlgo_t)cand[i].algo, &m);
        }
        if (s != CUDNN_STATUS_SUCCESS) cand[i].ok = 0;
        else if (m > cand[i].memory) cand[i].memory = m;
    }
    // the first candidate by gsg_algo_pick's rules that also runs once here; a refusal moves to the next
    char tried[600] = "", why[200];
    int k;
    while ((k = gsg_algo_pick(cand, n, WS_LIMIT, 1)) >= 0) {
        GSG_CUDNN(c->fn.cudnnSetConvolutionMathType(cd, maths[k]));
        if (!trial || trial_run(c, p, dir, cand[k].algo, cand[k].memory, trial, why, sizeof why) == 0) break;
        size_t l = strlen(tried);
        snprintf(tried + l, sizeof tried - l, "%salgo %d: %s", l ? "; " : "", cand[k].algo, why);
        cand[k].ok = 0;
    }
    if (k < 0)
        return gsg_err_set(GSG_E_UNSUPPORTED, "conv2d: cuDNN offers no %s algorithm for N=%lld H=%lld W=%lld Ci=%lld "
                           "Co=%lld K=%lld stride=%lld pad=%lld in %s%s%s%s",
                           dir == 0 ? "forward" : dir == 1 ? "backward-data" : "backward-filter", (long long)p->d.N,
                           (long long)p->d.H, (long long)p->d.W, (long long)p->d.Ci, (long long)p->d.Co,
                           (long long)p->d.K, (long long)p->d.stride, (long long)p->d.pad, gsg_precision_name(p->prec),
                           *tried ? " (failed at plan time: " : "", *tried ? tried : "", *tried ? ")" : "");
    *algo = cand[k].algo;
    *mem = cand[k].memory;
    *math = maths[k];
    return GSG_OK;
}

static void forget_layer(struct gsg_cuda_conv2d *p)
{
    if (!gsg_cu.ready) return;
    if (p->xd) gsg_cu.fn.cudnnDestroyTensorDescriptor(p->xd);
    if (p->yd) gsg_cu.fn.cudnnDestroyTensorDescriptor(p->yd);
    if (p->wd) gsg_cu.fn.cudnnDestroyFilterDescriptor(p->wd);
    for (int i = 0; i < 3; i++)
        if (p->cd[i]) gsg_cu.fn.cudnnDestroyConvolutionDescriptor(p->cd[i]);
    p->xd = p->yd = NULL;
    p->wd = NULL;
    for (int i = 0; i < 3; i++) p->cd[i] = NULL;
}

static gsg_status describe_layer(struct gsg_cuda_ctx *c, struct gsg_cuda_conv2d *p)
{
    const struct gsg_conv2d_desc *d = &p->d;
    const cudnnDataType_t dt = dtype_of(p->prec);
    GSG_CUDNN(c->fn.cudnnCreateTensorDescriptor(&p->xd));
    GSG_CUDNN(c->fn.cudnnCreateTensorDescriptor(&p->yd));
    GSG_CUDNN(c->fn.cudnnCreateFilterDescriptor(&p->wd));
    GSG_CUDNN(c->fn.cudnnSetTensor4dDescriptor(p->xd, CUDNN_TENSOR_NHWC, dt, (int)d->N, (int)d->Ci, (int)d->H, (int)d->W));
    GSG_CUDNN(c->fn.cudnnSetTensor4dDescriptor(p->yd, CUDNN_TENSOR_NHWC, dt, (int)d->N, (int)d->Co, (int)p->Ho,
                                               (int)p->Wo));
    GSG_CUDNN(c->fn.cudnnSetFilter4dDescriptor(p->wd, dt, CUDNN_TENSOR_NHWC, (int)d->Co, (int)d->Ci, (int)d->K, (int)d->K));
    for (int i = 0; i < 3; i++) {
        GSG_CUDNN(c->fn.cudnnCreateConvolutionDescriptor(&p->cd[i]));
        GSG_CUDNN(c->fn.cudnnSetConvolution2dDescriptor(p->cd[i], (int)d->pad, (int)d->pad, (int)d->stride,
                                                        (int)d->stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                                        CUDNN_DATA_FLOAT));
        GSG_CUDNN(c->fn.cudnnSetConvolutionMathType(
            p->cd[i], p->prec == GSG_PREC_BF16 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
    }
    return GSG_OK;
}

static gsg_status plan_layout(struct gsg_cuda_conv2d *p)
{
    const struct gsg_conv2d_desc *d = &p->d;
    const size_t es = p->prec == GSG_PREC_BF16 ? 2 : 4;
    const size_t nw = (size_t)(d->Co * d->Ci * d->K * d->K);
    const size_t nx = (size_t)(d->N * d->H * d->W * d->Ci), ny = (size_t)(d->N * p->Ho * p->Wo * d->Co);
    p->ws_algo = up256(p->ch.ws_fwd > p->ch.ws_bwd_data ? p->ch.ws_fwd : p->ch.ws_bwd_data);
    if (up256(p->ch.ws_bwd_filter) > p->ws_algo) p->ws_algo = up256(p->ch.ws_bwd_filter);
    p->off_wT = p->ws_algo;
    p->off_dwT = p->off_wT + up256(nw * es);
    size_t end = p->off_dwT + up256(nw * es);
    if (p->prec == GSG_PREC_BF16) {
        p->off_xb = end;
        p->off_yb = p->off_xb + up256(nx * 2);
        p->off_dxb = p->off_yb + up256(ny * 2);
        end = p->off_dxb + up256(nx * 2);
    } else p->off_xb = p->off_yb = p->off_dxb = end;
    p->ws_total = end;
    return GSG_OK;
}

static const char *fwd_name(int a)
{
    static const char *n[] = {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT", "FFT", "FFT_TILING",
                              "WINOGRAD", "WINOGRAD_NONFUSED"};
    return a >= 0 && a < 8 ? n[a] : "?";
}

// Choose the three directions' algorithms for p->prec (descriptors made); the trial buffers sized for fp32
// serve bf16 too.
static gsg_status choose_all(struct gsg_cuda_ctx *c, struct gsg_cuda_conv2d *p, const struct trial_bufs *tb,
                             struct gsg_conv_choice *ch)
{
    const char *fe = getenv("GSG_CUDNN_FIND");
    int find = fe && !strcmp(fe, "1") && tb;
    void *ws = NULL;
    size_t ws_bytes = 0;
    if (find) {
        ws_bytes = (size_t)256 << 20;
        if (cudaMalloc(&ws, ws_bytes) != cudaSuccess) {
            cudaGetLastError();
            find = 0;   // not enough memory to time: use the heuristics
        }
    }
    int a[3] = {0, 0, 0};
    size_t mem[3] = {0, 0, 0};
    cudnnMathType_t m[3] = {CUDNN_FMA_MATH, CUDNN_FMA_MATH, CUDNN_FMA_MATH};
    gsg_status st = GSG_OK;
    for (int dir = 0; dir < 3 && st == GSG_OK; dir++)
        st = choose(c, p, dir, find, tb ? tb->x : NULL, tb ? tb->w : NULL, tb ? tb->y : NULL, ws, ws_bytes, tb, &a[dir],
                    &mem[dir], &m[dir]);
    cudaFree(ws);
    if (st == GSG_OK) {
        memset(ch, 0, sizeof *ch);
        ch->fwd = a[0];
        ch->bwd_data = a[1];
        ch->bwd_filter = a[2];
        for (int i = 0; i < 3; i++) ch->math[i] = (int)m[i];
        ch->ws_fwd = mem[0];
        ch->ws_bwd_data = mem[1];
        ch->ws_bwd_filter = mem[2];
    }
    return st;
}

extern "C" gsg_status gsg_cuda_conv2d_create(struct gsg_cuda_conv2d **plan, const struct gsg_conv2d_desc *d)
{
    *plan = NULL;
    GSG_CTX(c);
    struct gsg_cuda_conv2d *p = (struct gsg_cuda_conv2d *)calloc(1, sizeof *p);
    if (!p) return gsg_err_set(GSG_E_NOMEM, "conv2d: out of memory for a CUDA plan");
    p->d = *d;
    gsg_conv2d_out_hw(d, &p->Ho, &p->Wo);
    const enum gsg_precision asked = gsg_cuda_precision();
    p->prec = asked;
    struct gsg_conv_key key = {d->N, d->H, d->W, d->Ci, d->Co, d->K, d->stride, d->pad, (int)asked};
    const struct gsg_conv_choice *hit = gsg_conv_cache_find(&conv_cache, &key);
    if (hit && hit->fp32_fallback) p->prec = GSG_PREC_FP32;
    gsg_status st = describe_layer(c, p);
    if (st == GSG_OK && hit) {
        p->ch = *hit;
        for (int dir = 0; dir < 3 && st == GSG_OK; dir++) {
            cudnnStatus_t e = c->fn.cudnnSetConvolutionMathType(p->cd[dir], (cudnnMathType_t)hit->math[dir]);
            if (e != CUDNN_STATUS_SUCCESS) st = gsg_cudnn_fail(e, "cudnnSetConvolutionMathType", __FILE__, __LINE__);
        }
    }
    if (st == GSG_OK && !hit) {
        // trial buffers (fp32-sized, so a bf16 fallback reuses them), zeroed: the trial runs each choice
        // once. Not while a graph is being captured (allocation and synchronisation are not allowed):
        // then the heuristic's ranking alone decides.
        struct trial_bufs tb = {NULL, NULL, NULL};
        const struct trial_bufs *tbp = NULL;
        cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
        if (cudaStreamIsCapturing(c->stream, &cs) == cudaSuccess && cs == cudaStreamCaptureStatusNone) {
            const size_t nx = (size_t)(d->N * d->H * d->W * d->Ci) * 4, nw = (size_t)(d->Co * d->Ci * d->K * d->K) * 4,
                         ny = (size_t)(d->N * p->Ho * p->Wo * d->Co) * 4;
            if (cudaMalloc(&tb.x, nx) == cudaSuccess && cudaMalloc(&tb.w, nw) == cudaSuccess &&
                cudaMalloc(&tb.y, ny) == cudaSuccess && cudaMemsetAsync(tb.x, 0, nx, c->stream) == cudaSuccess &&
                cudaMemsetAsync(tb.w, 0, nw, c->stream) == cudaSuccess &&
                cudaMemsetAsync(tb.y, 0, ny, c->stream) == cudaSuccess)
                tbp = &tb;
            else
                st = gsg_err_set(GSG_E_CUDA, "conv2d: cannot allocate the plan-time trial buffers (%s)",
                                 cudaGetErrorString(cudaGetLastError()));
        }
        if (st == GSG_OK) st = choose_all(c, p, tbp, &p->ch);
        if (st != GSG_OK && st != GSG_E_NOMEM && p->prec == GSG_PREC_BF16) {
            // this layer in fp32 (cuDNN has no bf16 NHWC algorithm for it); the rest of the net stays bf16
            char why[512];
            snprintf(why, sizeof why, "%s", gsg_err_msg());
            forget_layer(p);
            p->prec = GSG_PREC_FP32;
            st = describe_layer(c, p);
            if (st == GSG_OK) st = choose_all(c, p, tbp, &p->ch);
            if (st == GSG_OK) p->ch.fp32_fallback = 1;
            else st = gsg_err_prefix(st, "conv2d: no bf16 algorithm (%s), and in fp32", why);
        }
        cudaFree(tb.x);
        cudaFree(tb.w);
        cudaFree(tb.y);
        if (st == GSG_OK && gsg_conv_cache_put(&conv_cache, &key, &p->ch) != 0)
            st = gsg_err_set(GSG_E_NOMEM, "conv2d: cache");
    }
    if (st == GSG_OK) st = plan_layout(p);
    void *w = NULL;
    if (st == GSG_OK) st = gsg_cuda_workspace(p->ws_total, &w);
    if (st != GSG_OK) { gsg_cuda_conv2d_destroy(p); return st; }
    snprintf(p->algos, sizeof p->algos, "fwd=%s bwd_data=%d bwd_filter=%d %s%s ws=%zuKiB", fwd_name(p->ch.fwd),
             p->ch.bwd_data, p->ch.bwd_filter, gsg_precision_name(p->prec),
             p->ch.fp32_fallback ? " (bf16 fallback)" : "", p->ws_total >> 10);
    *plan = p;
    return GSG_OK;
}

extern "C" void gsg_cuda_conv2d_destroy(struct gsg_cuda_conv2d *p)
{
    if (!p) return;
    forget_layer(p);
    free(p);
}

extern "C" size_t gsg_cuda_conv2d_workspace_bytes(const struct gsg_cuda_conv2d *p) { return p ? p->ws_total : 0; }
extern "C" const char *gsg_cuda_conv2d_algos(const struct gsg_cuda_conv2d *p) { return p ? p->algos : ""; }

static gsg_status to_bf16(cudaStream_t s, void *dst, const float *src, int64_t n)
{
    k_to_bf16<<<gsg_grid(n, 256, 4), 256, 0, s>>>((__nv_bfloat16 *)dst, src, n);
    GSG_LAUNCHED("k_to_bf16");
    return GSG_OK;
}
static gsg_status from_bf16(cudaStream_t s, float *dst, const void *src, int64_t n)
{
    k_from_bf16<<<gsg_grid(n, 256, 4), 256, 0, s>>>(dst, (const __nv_bfloat16 *)src, n);
    GSG_LAUNCHED("k_from_bf16");
    return GSG_OK;
}

static gsg_status weights_in(struct gsg_cuda_ctx *c, const struct gsg_cuda_conv2d *p, char *ws, const float *w)
{
    const struct gsg_conv2d_desc *d = &p->d;
    const int64_t n = d->Co * d->Ci * d->K * d->K;
    if (p->prec == GSG_PREC_BF16)
        k_w_to_krsc<__nv_bfloat16><<<gsg_grid(n, 256, 2), 256, 0, c->stream>>>(
            (__nv_bfloat16 *)(ws + p->off_wT), w, d->Co, d->Ci, d->K * d->K);
    else
        k_w_to_krsc<float><<<gsg_grid(n, 256, 2), 256, 0, c->stream>>>((float *)(ws + p->off_wT), w, d->Co, d->Ci,
                                                                       d->K * d->K);
    GSG_LAUNCHED("k_w_to_krsc");
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_conv2d_fwd(struct gsg_cuda_conv2d *p, float *y, const float *x, const float *w)
{
    GSG_CTX(c);
    char *ws = NULL;
    GSG_TRY(gsg_cuda_workspace(p->ws_total, (void **)&ws));
    const struct gsg_conv2d_desc *d = &p->d;
    const int64_t nx = d->N * d->H * d->W * d->Ci, ny = d->N * p->Ho * p->Wo * d->Co;
    GSG_TRY(weights_in(c, p, ws, w));
    const float one = 1.0f, zero = 0.0f;
    const void *xin = x;
    void *yout = y;
    if (p->prec == GSG_PREC_BF16) {
        GSG_TRY(to_bf16(c->stream, ws + p->off_xb, x, nx));
        xin = ws + p->off_xb;
        yout = ws + p->off_yb;
    }
    GSG_CUDNN(c->fn.cudnnConvolutionForward(c->dnn, &one, p->xd, xin, p->wd, ws + p->off_wT, p->cd[0],
                                            (cudnnConvolutionFwdAlgo_t)p->ch.fwd, ws, p->ch.ws_fwd, &zero, p->yd,
                                            yout));
    if (p->prec == GSG_PREC_BF16) GSG_TRY(from_bf16(c->stream, y, ws + p->off_yb, ny));
    return GSG_OK;
}

extern "C" gsg_status gsg_cuda_conv2d_bwd(struct gsg_cuda_conv2d *p, float *dx, float *dw, const float *dy,
                                          const float *x, const float *w)
{
    if (!dx && !dw) return GSG_OK;
    GSG_CTX(c);
    char *ws = NULL;
    GSG_TRY(gsg_cuda_workspace(p->ws_total, (void **)&ws));
    const struct gsg_conv2d_desc *d = &p->d;
    const int64_t nx = d->N * d->H * d->W * d->Ci, ny = d->N * p->Ho * p->Wo * d->Co;
    const int64_t nw = d->Co * d->Ci * d->K * d->K;
    const float one = 1.0f, zero = 0.0f;
    const bool bf = p->prec == GSG_PREC_BF16;
    const void *dyin = dy;
    if (bf) {
        GSG_TRY(to_bf16(c->stream, ws + p->off_yb, dy, ny));
        dyin = ws + p->off_yb;
    }
    if (dx) {
        GSG_TRY(weights_in(c, p, ws, w));
        void *dxout = bf ? (void *)(ws + p->off_dxb) : (void *)dx;
        GSG_CUDNN(c->fn.cudnnConvolutionBackwardData(c->dnn, &one, p->wd, ws + p->off_wT, p->yd, dyin, p->cd[1],
                                                     (cudnnConvolutionBwdDataAlgo_t)p->ch.bwd_data, ws,
                                                     p->ch.ws_bwd_data, &zero, p->xd, dxout));
        if (bf) GSG_TRY(from_bf16(c->stream, dx, ws + p->off_dxb, nx));
    }
    if (dw) {
        const void *xin = x;
        if (bf) {
            GSG_TRY(to_bf16(c->stream, ws + p->off_xb, x, nx));
            xin = ws + p->off_xb;
        }
        GSG_CUDNN(c->fn.cudnnConvolutionBackwardFilter(c->dnn, &one, p->xd, xin, p->yd, dyin, p->cd[2],
                                                       (cudnnConvolutionBwdFilterAlgo_t)p->ch.bwd_filter, ws,
                                                       p->ch.ws_bwd_filter, &zero, p->wd, ws + p->off_dwT));
        if (bf)
            k_dw_from_krsc<__nv_bfloat16><<<gsg_grid(nw, 256, 2), 256, 0, c->stream>>>(
                dw, (const __nv_bfloat16 *)(ws + p->off_dwT), d->Co, d->Ci, d->K * d->K);
        else
            k_dw_from_krsc<float><<<gsg_grid(nw, 256, 2), 256, 0, c->stream>>>(dw, (const float *)(ws + p->off_dwT),
                                                                               d->Co, d->Ci, d->K * d->K);
        GSG_LAUNCHED("k_dw_from_krsc");
    }
    return GSG_OK;
}
