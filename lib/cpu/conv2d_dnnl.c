/* conv2d_dnnl.c: conv2d through oneDNN's convolution primitives (Debian libdnnl 2.6/2.7,
 * the very kernels PyTorch 1.13 runs on this CPU), behind the gsg_cpu_conv2d_dnnl interface.
 *
 * Per plan, made once: forward (forward_training), backward-data and backward-weights
 * primitives; activations in our own NHWC layout (no activation reorders, oneDNN has
 * nhwc AVX-512 kernels); weights and weight gradients with format_tag_any, so oneDNN picks
 * its blocked layout and we reorder the [Co,Ci,K,K] weights into it per call (weights are
 * small next to activations: measured in tests/bench/NOTES.md). dw is accumulated by the
 * reorder back to oihw with a sum post-op (dst = src + dst), so no extra pass.
 * Everything transient (oneDNN scratchpads in "user" mode, the weights in kernel layout, the
 * weight gradient before it is summed into dw) lives in ONE process-wide arena, sized at plan
 * creation to the largest plan's need: [scratchpad | weights buffer]. Per-plan copies of the
 * weights would cost 3x the parameters (134 MB for ResNet-18); the arena costs the largest
 * layer's (about 19 MB). Calls hold a mutex while they use the arena, so plans may be used from
 * several threads (they then run one at a time). Memory objects are created once with no data
 * and pointed at the caller's buffers and the arena per call. One engine and one stream serve
 * the whole process (created on first use).
 *
 * bf16 plans (gsg_cpu_conv2d_dnnl_create_bf16; --precision bf16): the same three primitives with
 * bf16 operands and f32 results: forward src/weights bf16 -> dst f32, backward-data diff_dst/weights
 * bf16 -> diff_src f32, backward-weights src/diff_dst bf16 -> diff_weights f32 (oneDNN accumulates
 * in f32). The caller's tensors stay f32: per call, x and dy are converted into bf16 copies in the
 * arena by reorders (round to nearest even), and the f32 master weights into bf16 in the kernel's
 * layout by the weights reorder, so the weights used are always this step's. dw is summed into the
 * caller's f32 gradient as in f32. Arena = [scratchpad | weights buffer | x bf16 | dy bf16]. */
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include "cpu/conv2d.h"

#ifdef GSG_HAVE_DNNL
#include <dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <pthread.h>
#include <string.h>

static dnnl_engine_t g_eng;
static dnnl_stream_t g_stream;
static dnnl_status_t g_init_st = dnnl_success;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;   /* guards the arena */
static char *g_arena;
static size_t g_arena_bytes;
static int g_nplans;

static void dnnl_global_init(void)
{
    g_init_st = dnnl_engine_create(&g_eng, dnnl_cpu, 0);
    if (g_init_st == dnnl_success) g_init_st = dnnl_stream_create(&g_stream, g_eng, dnnl_stream_default_flags);
}

/* A primitive with its scratchpad memory (pointed at the arena per call). */
struct prim {
    dnnl_primitive_t p;
    dnnl_memory_t scratch;
    size_t scratch_bytes;
    dnnl_memory_desc_t scratch_md;
    char info[64];
};

/* Weights in the layout a conv primitive wants: a reorder from the user's oihw, or an alias. */
struct wconv {
    dnnl_memory_t mem;       /* in the primitive's layout, in the arena after the scratchpad */
    size_t bytes;
    int alias;               /* layout is oihw already: mem points at the user's buffer */
    struct prim reo;         /* oihw -> layout (or layout -> oihw with sum, for dw) */
};

struct gsg_cpu_conv2d_dnnl {
    struct gsg_conv2d_desc d;
    int bf16;                /* bf16 operands (see the top of this file) */
    struct prim fwd, bwd_d, bwd_w;
    struct wconv w_fwd, w_bwd, dw;
    dnnl_memory_t m_x, m_y, m_dx, m_dy, m_w_user, m_dw_user;
    /* bf16 only: the user's f32 x and dy, their bf16 copies (the primitives' src / diff_dst), the
     * reorders f32 -> bf16, and the copies' offsets in the arena */
    dnnl_memory_t m_xf, m_dyf;
    struct prim reo_x, reo_dy;
    size_t off_xb, off_dyb;
    size_t scratch_bytes;    /* arena = [scratchpad (rounded to 64) | weights buffer | bf16 x | bf16 dy] */
    size_t need;             /* bytes of the arena this plan uses */
    int registered;          /* counted in g_nplans */
};

#define DN(stmt) do { dnnl_status_t dn_st_ = (stmt); if (dn_st_ != dnnl_success) { \
    st = gsg_err_set(dn_st_ == dnnl_out_of_memory ? GSG_E_NOMEM : GSG_E_UNSUPPORTED, \
                     "conv2d: oneDNN %s: %s", #stmt, dnnl_status2str(dn_st_)); goto fail; } } while (0)

static const char *impl_str(const_dnnl_primitive_desc_t pd)
{
    const char *s = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s) != dnnl_success || !s) return "";
    return s;
}

static dnnl_primitive_attr_t user_scratch_attr(int sum)
{
    dnnl_primitive_attr_t a = NULL;
    if (dnnl_primitive_attr_create(&a) != dnnl_success) return NULL;
    dnnl_primitive_attr_set_scratchpad_mode(a, dnnl_scratchpad_mode_user);
    if (sum) {
        dnnl_post_ops_t po = NULL;
        if (dnnl_post_ops_create(&po) != dnnl_success) { dnnl_primitive_attr_destroy(a); return NULL; }
        dnnl_post_ops_append_sum(po, 1.0f);
        if (dnnl_primitive_attr_set_post_ops(a, po) != dnnl_success) {
            dnnl_post_ops_destroy(po); dnnl_primitive_attr_destroy(a); return NULL;
        }
        dnnl_post_ops_destroy(po);
    }
    return a;
}

/* Make the primitive from pd and note its scratchpad size and name. */
static gsg_status prim_make(struct prim *pr, const_dnnl_primitive_desc_t pd)
{
    gsg_status st = GSG_OK;
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd) { pr->scratch_md = *smd; pr->scratch_bytes = dnnl_memory_desc_get_size(smd); }
    snprintf(pr->info, sizeof pr->info, "%s", impl_str(pd));
    DN(dnnl_primitive_create(&pr->p, pd));
fail:
    return st;
}

static void prim_free(struct prim *pr)
{
    if (pr->p) dnnl_primitive_destroy(pr->p);
    if (pr->scratch) dnnl_memory_destroy(pr->scratch);
    memset(pr, 0, sizeof *pr);
}

/* Weights memory in layout md, fed from (to_user=0) or summed into (to_user=1) the user's oihw. */
static gsg_status wconv_make(struct gsg_cpu_conv2d_dnnl *k, struct wconv *wc, const dnnl_memory_desc_t *md,
                             const dnnl_memory_desc_t *user_md, int to_user)
{
    gsg_status st = GSG_OK;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    wc->alias = !to_user && dnnl_memory_desc_equal(md, user_md);
    if (wc->alias) {
        DN(dnnl_memory_create(&wc->mem, md, g_eng, DNNL_MEMORY_NONE));
        return GSG_OK;
    }
    (void)k;
    wc->bytes = dnnl_memory_desc_get_size(md);
    DN(dnnl_memory_create(&wc->mem, md, g_eng, DNNL_MEMORY_NONE));
    attr = user_scratch_attr(to_user);
    if (!attr) { st = gsg_err_set(GSG_E_NOMEM, "conv2d: oneDNN attribute creation failed"); goto fail; }
    if (to_user) DN(dnnl_reorder_primitive_desc_create(&rpd, md, g_eng, user_md, g_eng, attr));
    else DN(dnnl_reorder_primitive_desc_create(&rpd, user_md, g_eng, md, g_eng, attr));
    st = prim_make(&wc->reo, rpd);
fail:
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return st;
}

static void wconv_free(struct wconv *wc)
{
    if (wc->mem) dnnl_memory_destroy(wc->mem);
    prim_free(&wc->reo);
    memset(wc, 0, sizeof *wc);
}

static gsg_status scratch_make(struct prim *pr)
{
    gsg_status st = GSG_OK;
    if (!pr->p || pr->scratch_bytes == 0) return GSG_OK;
    DN(dnnl_memory_create(&pr->scratch, &pr->scratch_md, g_eng, DNNL_MEMORY_NONE));
fail:
    return st;
}

/* Grow the process-wide arena to at least need bytes (under g_lock: no call is running). */
static gsg_status arena_register(struct gsg_cpu_conv2d_dnnl *k)
{
    gsg_status st = GSG_OK;
    pthread_mutex_lock(&g_lock);
    if (k->need > g_arena_bytes) {
        char *p = gsg_aligned_alloc(k->need);
        if (!p) st = gsg_err_set(GSG_E_NOMEM, "conv2d: out of memory for the oneDNN arena (%zu bytes)", k->need);
        else { gsg_aligned_free(g_arena); g_arena = p; g_arena_bytes = k->need; }
    }
    if (st == GSG_OK) { g_nplans++; k->registered = 1; }
    pthread_mutex_unlock(&g_lock);
    return st;
}

/* An f32 -> bf16 reorder between two memory descriptors of the same layout. */
static gsg_status cvt_make(struct prim *pr, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to)
{
    gsg_status st = GSG_OK;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_attr_t attr = user_scratch_attr(0);
    if (!attr) return gsg_err_set(GSG_E_NOMEM, "conv2d: oneDNN attribute creation failed");
    DN(dnnl_reorder_primitive_desc_create(&rpd, from, g_eng, to, g_eng, attr));
    st = prim_make(pr, rpd);
fail:
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    dnnl_primitive_attr_destroy(attr);
    return st;
}

static gsg_status create(struct gsg_cpu_conv2d_dnnl **out, const struct gsg_conv2d_desc *d, int bf16)
{
    *out = NULL;
    pthread_once(&g_once, dnnl_global_init);
    if (g_init_st != dnnl_success)
        return gsg_err_set(GSG_E_UNSUPPORTED, "conv2d: oneDNN CPU engine: %s", dnnl_status2str(g_init_st));
    gsg_status st = GSG_OK;
    dnnl_primitive_desc_t fpd = NULL, dpd = NULL, wpd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    struct gsg_cpu_conv2d_dnnl *k = calloc(1, sizeof *k);
    if (!k) return gsg_err_set(GSG_E_NOMEM, "conv2d: out of memory for a oneDNN plan");
    k->d = *d;
    k->bf16 = bf16;
    int64_t Ho, Wo;
    gsg_conv2d_out_hw(d, &Ho, &Wo);
    dnnl_dims_t xd = {d->N, d->Ci, d->H, d->W}, yd = {d->N, d->Co, Ho, Wo}, wd = {d->Co, d->Ci, d->K, d->K};
    dnnl_dims_t strides = {d->stride, d->stride}, pad = {d->pad, d->pad};
    const dnnl_data_type_t op_t = bf16 ? dnnl_bf16 : dnnl_f32;   /* the operands' type */
    /* x_md, dy_md: the operands (bf16 or f32); xf_md, y_md: the caller's f32 x/dx and y/dy */
    dnnl_memory_desc_t x_md, xf_md, y_md, dy_md, w_any, w_any_f32, w_user;
    DN(dnnl_memory_desc_init_by_tag(&x_md, 4, xd, op_t, dnnl_nhwc));
    DN(dnnl_memory_desc_init_by_tag(&xf_md, 4, xd, dnnl_f32, dnnl_nhwc));
    DN(dnnl_memory_desc_init_by_tag(&y_md, 4, yd, dnnl_f32, dnnl_nhwc));
    DN(dnnl_memory_desc_init_by_tag(&dy_md, 4, yd, op_t, dnnl_nhwc));
    DN(dnnl_memory_desc_init_by_tag(&w_any, 4, wd, op_t, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&w_any_f32, 4, wd, dnnl_f32, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&w_user, 4, wd, dnnl_f32, dnnl_oihw));
    attr = user_scratch_attr(0);
    if (!attr) { st = gsg_err_set(GSG_E_NOMEM, "conv2d: oneDNN attribute creation failed"); goto fail; }

    dnnl_convolution_desc_t cd;
    DN(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct, &x_md, &w_any, NULL,
                                          &y_md, strides, pad, pad));
    DN(dnnl_primitive_desc_create(&fpd, &cd, attr, g_eng, NULL));
    DN(dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, &xf_md, &w_any, &dy_md, strides, pad,
                                                pad));
    DN(dnnl_primitive_desc_create(&dpd, &cd, attr, g_eng, fpd));
    DN(dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, &x_md, &w_any_f32, NULL, &dy_md,
                                                   strides, pad, pad));
    DN(dnnl_primitive_desc_create(&wpd, &cd, attr, g_eng, fpd));

    if ((st = prim_make(&k->fwd, fpd)) < 0) goto fail;
    if ((st = prim_make(&k->bwd_d, dpd)) < 0) goto fail;
    if ((st = prim_make(&k->bwd_w, wpd)) < 0) goto fail;
    if ((st = wconv_make(k, &k->w_fwd, dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0), &w_user, 0)) < 0)
        goto fail;
    if ((st = wconv_make(k, &k->w_bwd, dnnl_primitive_desc_query_md(dpd, dnnl_query_weights_md, 0), &w_user, 0)) < 0)
        goto fail;
    if ((st = wconv_make(k, &k->dw, dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_weights_md, 0), &w_user, 1)) < 0)
        goto fail;

    DN(dnnl_memory_create(&k->m_x, &x_md, g_eng, DNNL_MEMORY_NONE));
    DN(dnnl_memory_create(&k->m_y, &y_md, g_eng, DNNL_MEMORY_NONE));
    DN(dnnl_memory_create(&k->m_dx, &xf_md, g_eng, DNNL_MEMORY_NONE));
    DN(dnnl_memory_create(&k->m_dy, &dy_md, g_eng, DNNL_MEMORY_NONE));
    DN(dnnl_memory_create(&k->m_w_user, &w_user, g_eng, DNNL_MEMORY_NONE));
    DN(dnnl_memory_create(&k->m_dw_user, &w_user, g_eng, DNNL_MEMORY_NONE));
    if (bf16) {
        DN(dnnl_memory_create(&k->m_xf, &xf_md, g_eng, DNNL_MEMORY_NONE));
        DN(dnnl_memory_create(&k->m_dyf, &y_md, g_eng, DNNL_MEMORY_NONE));
        if ((st = cvt_make(&k->reo_x, &xf_md, &x_md)) < 0) goto fail;
        if ((st = cvt_make(&k->reo_dy, &y_md, &dy_md)) < 0) goto fail;
    }

    struct prim *all[8] = {&k->fwd, &k->bwd_d, &k->bwd_w, &k->w_fwd.reo, &k->w_bwd.reo, &k->dw.reo, &k->reo_x,
                           &k->reo_dy};
    for (int i = 0; i < 8; i++)
        if (all[i]->scratch_bytes > k->scratch_bytes) k->scratch_bytes = all[i]->scratch_bytes;
    k->scratch_bytes = (k->scratch_bytes + 63) / 64 * 64;
    /* the three weight buffers are never live at once: fwd, bwd-data and bwd-weights run in turn */
    size_t wmax = k->w_fwd.alias ? 0 : k->w_fwd.bytes;
    if (!k->w_bwd.alias && k->w_bwd.bytes > wmax) wmax = k->w_bwd.bytes;
    if (k->dw.bytes > wmax) wmax = k->dw.bytes;
    k->need = k->scratch_bytes + wmax;
    if (bf16) {   /* the bf16 copies of x and dy, live together in the backward pass */
        k->need = (k->need + 63) / 64 * 64;
        k->off_xb = k->need;
        k->need += ((size_t)dnnl_memory_desc_get_size(&x_md) + 63) / 64 * 64;
        k->off_dyb = k->need;
        k->need += dnnl_memory_desc_get_size(&dy_md);
    }
    for (int i = 0; i < 8; i++)
        if ((st = scratch_make(all[i])) < 0) goto fail;
    if ((st = arena_register(k)) < 0) goto fail;
    *out = k;
    k = NULL;
fail:
    if (fpd) dnnl_primitive_desc_destroy(fpd);
    if (dpd) dnnl_primitive_desc_destroy(dpd);
    if (wpd) dnnl_primitive_desc_destroy(wpd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    gsg_cpu_conv2d_dnnl_destroy(k);
    return st;
}

gsg_status gsg_cpu_conv2d_dnnl_create(struct gsg_cpu_conv2d_dnnl **out, const struct gsg_conv2d_desc *d)
{
    return create(out, d, 0);
}

gsg_status gsg_cpu_conv2d_dnnl_create_bf16(struct gsg_cpu_conv2d_dnnl **out, const struct gsg_conv2d_desc *d)
{
    char why[160];
    *out = NULL;
    if (!gsg_cpu_bf16_supported(why, sizeof why)) return gsg_err_set(GSG_E_UNSUPPORTED, "conv2d: %s", why);
    GSG_TRY(create(out, d, 1));
    /* no slow emulation: a reference implementation is refused (the caller may fall back to f32) */
    for (int i = 0; i < 3; i++) {
        const char *s = gsg_cpu_conv2d_dnnl_kernel(*out, i);
        if (!strncmp(s, "ref", 3)) {
            gsg_status st = gsg_err_set(GSG_E_UNSUPPORTED, "conv2d: oneDNN has only its reference bf16 kernel (%s) for "
                                        "N=%lld H=%lld W=%lld Ci=%lld Co=%lld K=%lld stride=%lld", s, (long long)d->N,
                                        (long long)d->H, (long long)d->W, (long long)d->Ci, (long long)d->Co,
                                        (long long)d->K, (long long)d->stride);
            gsg_cpu_conv2d_dnnl_destroy(*out);
            *out = NULL;
            return st;
        }
    }
    return GSG_OK;
}

int gsg_cpu_conv2d_dnnl_is_bf16(const struct gsg_cpu_conv2d_dnnl *k) { return k && k->bf16; }

int gsg_cpu_bf16_supported(char *why, size_t cap)
{
    int cpu = 0;
#if defined(__x86_64__) || defined(__i386__)
    /* CPUID leaf 7: sub-leaf 1 EAX bit 5 = AVX512_BF16, sub-leaf 0 EDX bit 22 = AMX-BF16 (read directly:
     * __builtin_cpu_supports does not know "amx-bf16" in every compiler, e.g. clang 14 of make fuzz);
     * whether the OS enabled the registers is oneDNN's ISA check below */
    unsigned a, b, c, d;
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 5 & 1u)) cpu = 1;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (d >> 22 & 1u)) cpu = 1;
#endif
    if (!cpu) {
        snprintf(why, cap, "this CPU has no native bf16 (neither AVX512_BF16 nor AMX-BF16)");
        return 0;
    }
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if (((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) != (unsigned)dnnl_cpu_isa_avx512_core_bf16) {
        const char *name = isa == dnnl_cpu_isa_avx512_core_vnni ? "avx512_core_vnni"
                           : isa == dnnl_cpu_isa_avx512_core    ? "avx512_core"
                           : isa == dnnl_cpu_isa_avx2_vnni      ? "avx2_vnni"
                           : isa == dnnl_cpu_isa_avx2           ? "avx2"
                                                                : "an ISA";
        snprintf(why, cap, "this CPU has bf16 but oneDNN may use only %s here, without AVX512_BF16 (is "
                 "ONEDNN_MAX_CPU_ISA set?)", name);
        return 0;
    }
    if (why && cap) why[0] = 0;
    return 1;
}

void gsg_cpu_conv2d_dnnl_destroy(struct gsg_cpu_conv2d_dnnl *k)
{
    if (!k) return;
    prim_free(&k->fwd);
    prim_free(&k->bwd_d);
    prim_free(&k->bwd_w);
    wconv_free(&k->w_fwd);
    wconv_free(&k->w_bwd);
    wconv_free(&k->dw);
    prim_free(&k->reo_x);
    prim_free(&k->reo_dy);
    dnnl_memory_t ms[8] = {k->m_x, k->m_y, k->m_dx, k->m_dy, k->m_w_user, k->m_dw_user, k->m_xf, k->m_dyf};
    for (int i = 0; i < 8; i++)
        if (ms[i]) dnnl_memory_destroy(ms[i]);
    if (k->registered) {
        pthread_mutex_lock(&g_lock);
        if (--g_nplans == 0) { gsg_aligned_free(g_arena); g_arena = NULL; g_arena_bytes = 0; }
        pthread_mutex_unlock(&g_lock);
    }
    free(k);
}

size_t gsg_cpu_conv2d_dnnl_workspace_bytes(const struct gsg_cpu_conv2d_dnnl *k) { return k->need; }

size_t gsg_cpu_conv2d_dnnl_arena_bytes(void)
{
    pthread_mutex_lock(&g_lock);
    size_t n = g_arena_bytes;
    pthread_mutex_unlock(&g_lock);
    return n;
}

const char *gsg_cpu_conv2d_dnnl_kernel(const struct gsg_cpu_conv2d_dnnl *k, int which)
{
    return which == 0 ? k->fwd.info : which == 1 ? k->bwd_d.info : which == 2 ? k->bwd_w.info : "";
}

static gsg_status run(struct prim *pr, int nargs, dnnl_exec_arg_t *args)
{
    gsg_status st = GSG_OK;
    if (pr->scratch) {
        DN(dnnl_memory_set_data_handle(pr->scratch, g_arena));
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, pr->scratch};
    }
    DN(dnnl_primitive_execute(pr->p, g_stream, nargs, args));
fail:
    return st;
}

/* Bring the user's oihw weights into wc's layout (a reorder, or point the alias at them). */
static gsg_status weights_in(struct gsg_cpu_conv2d_dnnl *k, struct wconv *wc, const float *w)
{
    gsg_status st = GSG_OK;
    if (wc->alias) { DN(dnnl_memory_set_data_handle(wc->mem, (void *)w)); return GSG_OK; }
    DN(dnnl_memory_set_data_handle(wc->mem, g_arena + k->scratch_bytes));
    DN(dnnl_memory_set_data_handle(k->m_w_user, (void *)w));
    dnnl_exec_arg_t a[3] = {{DNNL_ARG_FROM, k->m_w_user}, {DNNL_ARG_TO, wc->mem}};
    return run(&wc->reo, 2, a);
fail:
    return st;
}

/* Point the operand memory m (x or dy) at the caller's f32 data, or (bf16) convert that data into
 * the arena at off through the reorder reo (from the f32 memory mf) and point m there. */
static gsg_status operand_in(struct gsg_cpu_conv2d_dnnl *k, dnnl_memory_t m, dnnl_memory_t mf, struct prim *reo,
                             size_t off, const float *data)
{
    gsg_status st = GSG_OK;
    if (!k->bf16) { DN(dnnl_memory_set_data_handle(m, (void *)data)); return GSG_OK; }
    DN(dnnl_memory_set_data_handle(mf, (void *)data));
    DN(dnnl_memory_set_data_handle(m, g_arena + off));
    dnnl_exec_arg_t a[3] = {{DNNL_ARG_FROM, mf}, {DNNL_ARG_TO, m}};
    return run(reo, 2, a);
fail:
    return st;
}

static gsg_status fwd_locked(struct gsg_cpu_conv2d_dnnl *k, float *y, const float *x, const float *w)
{
    gsg_status st = GSG_OK;
    GSG_TRY(weights_in(k, &k->w_fwd, w));
    GSG_TRY(operand_in(k, k->m_x, k->m_xf, &k->reo_x, k->off_xb, x));
    DN(dnnl_memory_set_data_handle(k->m_y, y));
    dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, k->m_x}, {DNNL_ARG_WEIGHTS, k->w_fwd.mem}, {DNNL_ARG_DST, k->m_y}};
    GSG_TRY(run(&k->fwd, 3, a));
    DN(dnnl_stream_wait(g_stream));
fail:
    return st;
}

static gsg_status bwd_locked(struct gsg_cpu_conv2d_dnnl *k, float *dx, float *dw, const float *dy, const float *x,
                             const float *w)
{
    gsg_status st = GSG_OK;
    GSG_TRY(operand_in(k, k->m_dy, k->m_dyf, &k->reo_dy, k->off_dyb, dy));
    if (dx) {
        GSG_TRY(weights_in(k, &k->w_bwd, w));
        DN(dnnl_memory_set_data_handle(k->m_dx, dx));
        dnnl_exec_arg_t a[4] = {{DNNL_ARG_DIFF_DST, k->m_dy}, {DNNL_ARG_WEIGHTS, k->w_bwd.mem},
                                {DNNL_ARG_DIFF_SRC, k->m_dx}};
        GSG_TRY(run(&k->bwd_d, 3, a));
    }
    if (dw) {
        GSG_TRY(operand_in(k, k->m_x, k->m_xf, &k->reo_x, k->off_xb, x));
        DN(dnnl_memory_set_data_handle(k->dw.mem, g_arena + k->scratch_bytes));
        dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, k->m_x}, {DNNL_ARG_DIFF_DST, k->m_dy},
                                {DNNL_ARG_DIFF_WEIGHTS, k->dw.mem}};
        GSG_TRY(run(&k->bwd_w, 3, a));
        /* dw (oihw) += diff_weights, by the reorder's sum post-op */
        DN(dnnl_memory_set_data_handle(k->m_dw_user, dw));
        dnnl_exec_arg_t r[3] = {{DNNL_ARG_FROM, k->dw.mem}, {DNNL_ARG_TO, k->m_dw_user}};
        GSG_TRY(run(&k->dw.reo, 2, r));
    }
    DN(dnnl_stream_wait(g_stream));
fail:
    return st;
}

gsg_status gsg_cpu_conv2d_dnnl_fwd(struct gsg_cpu_conv2d_dnnl *k, float *y, const float *x, const float *w)
{
    pthread_mutex_lock(&g_lock);
    gsg_status st = fwd_locked(k, y, x, w);
    pthread_mutex_unlock(&g_lock);
    return st;
}

gsg_status gsg_cpu_conv2d_dnnl_bwd(struct gsg_cpu_conv2d_dnnl *k, float *dx, float *dw, const float *dy,
                                   const float *x, const float *w)
{
    pthread_mutex_lock(&g_lock);
    gsg_status st = bwd_locked(k, dx, dw, dy, x, w);
    pthread_mutex_unlock(&g_lock);
    return st;
}

#else /* !GSG_HAVE_DNNL */

struct gsg_cpu_conv2d_dnnl { int unused; };

gsg_status gsg_cpu_conv2d_dnnl_create(struct gsg_cpu_conv2d_dnnl **k, const struct gsg_conv2d_desc *d)
{
    *k = NULL;
    return gsg_err_set(GSG_E_UNSUPPORTED, "conv2d: this build has no oneDNN (rebuild with libdnnl-dev installed)");
}
gsg_status gsg_cpu_conv2d_dnnl_create_bf16(struct gsg_cpu_conv2d_dnnl **k, const struct gsg_conv2d_desc *d)
{
    *k = NULL;
    return gsg_err_set(GSG_E_UNSUPPORTED, "conv2d: bf16 needs oneDNN, and this build has none (DNNL=0)");
}
int gsg_cpu_conv2d_dnnl_is_bf16(const struct gsg_cpu_conv2d_dnnl *k) { (void)k; return 0; }
int gsg_cpu_bf16_supported(char *why, size_t cap)
{
    snprintf(why, cap, "bf16 on the CPU needs oneDNN, and this build has none (DNNL=0)");
    return 0;
}
void gsg_cpu_conv2d_dnnl_destroy(struct gsg_cpu_conv2d_dnnl *k) { (void)k; }
gsg_status gsg_cpu_conv2d_dnnl_fwd(struct gsg_cpu_conv2d_dnnl *k, float *y, const float *x, const float *w)
{
    return gsg_err_set(GSG_E_UNSUPPORTED, "conv2d: this build has no oneDNN");
}
gsg_status gsg_cpu_conv2d_dnnl_bwd(struct gsg_cpu_conv2d_dnnl *k, float *dx, float *dw, const float *dy,
                                   const float *x, const float *w)
{
    return gsg_err_set(GSG_E_UNSUPPORTED, "conv2d: this build has no oneDNN");
}
size_t gsg_cpu_conv2d_dnnl_workspace_bytes(const struct gsg_cpu_conv2d_dnnl *k) { return 0; }
size_t gsg_cpu_conv2d_dnnl_arena_bytes(void) { return 0; }
const char *gsg_cpu_conv2d_dnnl_kernel(const struct gsg_cpu_conv2d_dnnl *k, int which) { return ""; }

#endif
