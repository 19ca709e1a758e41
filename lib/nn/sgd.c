/* sgd.c: SGD with momentum and weight decay (PyTorch semantics) over a network's
 * parameter arena, with a separate lr for the predictor group; cosine schedule. */
#include "nn/net.h"
#include "ops/ops_engine.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct gsg_sgd {
    struct gsg_net *net;
    struct gsg_tensor m_t;   /* f32 [n] momentum on the network's device, the parameter arena's layout */
    float *m;
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
    gsg_status st = gsg_tensor_alloc(&o->m_t, GSG_DTYPE_F32, gsg_net_device(net), 1, &o->n);   /* zeroed */
    if (st < 0) { free(o); return gsg_err_prefix(st, "optimiser state"); }
    o->m = o->m_t.data;
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
    gsg_tensor_free(&o->m_t);
    free(o);
}

float *gsg_sgd_momentum(struct gsg_sgd *o, int64_t *n)
{
    if (n) *n = o->n;
    return o->m;
}

const struct gsg_tensor *gsg_sgd_momentum_arena(const struct gsg_sgd *o) { return &o->m_t; }

gsg_status gsg_sgd_step(struct gsg_sgd *o, double lr, double lr_pred)
{
    if (!isfinite(lr) || !isfinite(lr_pred))
        return gsg_err_set(GSG_E_NUMERIC, "optimiser: learning rate %g / %g is not finite", lr, lr_pred);
    /* two updates over the whole arenas: [0, pred_off) at lr, the predictor at lr_pred. Padding between
     * tensors holds zeros in all three arenas and stays zero. */
    const struct gsg_tensor *W = gsg_net_param_arena(o->net), *G = gsg_net_grad_arena(o->net);
    const int64_t n0 = o->pred_off, n1 = o->n - o->pred_off;
    struct gsg_tensor w0 = gsg_tensor_sub(W, 0, 1, &n0), g0 = gsg_tensor_sub(G, 0, 1, &n0),
                      m0 = gsg_tensor_sub(&o->m_t, 0, 1, &n0);
    struct gsg_tensor w1 = gsg_tensor_sub(W, n0, 1, &n1), g1 = gsg_tensor_sub(G, n0, 1, &n1),
                      m1 = gsg_tensor_sub(&o->m_t, n0, 1, &n1);
    GSG_TRY(gsg_op_sgd(&w0, &m0, &g0, lr, o->momentum, o->wd));
    return gsg_op_sgd(&w1, &m1, &g1, lr_pred, o->momentum, o->wd);
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
