/* sgd.c: SGD with momentum and weight decay (PyTorch semantics) over a network's
 * parameter arena, with a separate lr for the predictor group; cosine schedule. */
#include "nn/net.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct gsg_sgd {
    struct gsg_net *net;
    float *m;            /* momentum, same layout as the parameter arena */
    int64_t n;
    int64_t pred_off;    /* first element of the predictor group */
    double momentum, wd;
};

gsg_status gsg_sgd_create(struct gsg_sgd **out, struct gsg_net *net, double momentum, double weight_decay)
{
    *out = NULL;
    if (!(momentum >= 0 && momentum < 1))
        return gsg_err_set(GSG_E_USAGE, "momentum %g: expected 0 <= momentum < 1", momentum);
    if (!(weight_decay >= 0 && weight_decay < 1))
        return gsg_err_set(GSG_E_USAGE, "weight decay %g: expected 0 <= wd < 1", weight_decay);
    if (!gsg_net_grad_data(net, NULL))
        return gsg_err_set(GSG_E_USAGE, "optimiser: the network was created for inference only");
    struct gsg_sgd *o = calloc(1, sizeof *o);
    if (!o) return gsg_err_set(GSG_E_NOMEM, "out of memory");
    o->net = net;
    gsg_net_param_data(net, &o->n);
    o->m = gsg_aligned_alloc((size_t)o->n * sizeof(float));
    if (!o->m) { free(o); return gsg_err_set(GSG_E_NOMEM, "out of memory for optimiser state"); }
    memset(o->m, 0, (size_t)o->n * sizeof(float));
    o->pred_off = o->n;
    for (int i = 0; i < gsg_net_param_count(net); i++) {
        const struct gsg_param *p = gsg_net_param(net, i);
        if (p->group == GSG_GROUP_PREDICTOR) { o->pred_off = p->offset; break; }
    }
    o->momentum = momentum;
    o->wd = weight_decay;
    *out = o;
    return GSG_OK;
}

void gsg_sgd_destroy(struct gsg_sgd *o)
{
    if (!o) return;
    gsg_aligned_free(o->m);
    free(o);
}

float *gsg_sgd_momentum(struct gsg_sgd *o, int64_t *n)
{
    if (n) *n = o->n;
    return o->m;
}

/* w, g, m: [n] f32. Padding between tensors holds zeros in all three arenas and stays zero. */
static void sgd_range(float *w, const float *g, float *m, int64_t n, float lr, float mom, float wd)
{
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        float b = mom * m[i] + d;
        m[i] = b;
        w[i] = w[i] - lr * b;
    }
}

gsg_status gsg_sgd_step(struct gsg_sgd *o, double lr, double lr_pred)
{
    if (!isfinite(lr) || !isfinite(lr_pred))
        return gsg_err_set(GSG_E_NUMERIC, "optimiser: learning rate %g / %g is not finite", lr, lr_pred);
    int64_t n;
    float *w = gsg_net_param_data(o->net, &n), *g = gsg_net_grad_data(o->net, NULL);
    sgd_range(w, g, o->m, o->pred_off, (float)lr, (float)o->momentum, (float)o->wd);
    sgd_range(w + o->pred_off, g + o->pred_off, o->m + o->pred_off, n - o->pred_off, (float)lr_pred,
              (float)o->momentum, (float)o->wd);
    return GSG_OK;
}

double gsg_lr_cosine(double base, double final, double t, double total, double warmup)
{
    if (warmup > 0 && t < warmup) return base * (t + 1) / warmup;
    double span = total - warmup;
    if (span <= 0) return final;
    double x = (t - warmup) / span;
    if (x > 1) x = 1;
    if (x < 0) x = 0;
    return final + (base - final) * 0.5 * (1.0 + cos(M_PI * x));
}
