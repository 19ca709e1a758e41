// graph.cu: capture a step into a CUDA graph and replay it (the decisions: cuda_host.h's state machine).
// The step is captured on the context's stream in thread-local mode; anything that would allocate or
// synchronise inside it fails the capture, and that key then stays eager (the step still runs).
#include <stdlib.h>
#include "cuda_internal.h"

struct gsg_cuda_graph {
    struct gsg_graph_state st;
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    int last;
};

static void drop(struct gsg_cuda_graph *g)
{
    if (g->exec) cudaGraphExecDestroy(g->exec);
    if (g->graph) cudaGraphDestroy(g->graph);
    g->exec = NULL;
    g->graph = NULL;
}

extern "C" gsg_status gsg_cuda_graph_create(struct gsg_cuda_graph **g, int warmup)
{
    *g = (struct gsg_cuda_graph *)calloc(1, sizeof **g);
    if (!*g) return gsg_err_set(GSG_E_NOMEM, "cuda graph: out of memory");
    gsg_graph_state_init(&(*g)->st, warmup);
    (*g)->last = -1;
    return GSG_OK;
}

extern "C" void gsg_cuda_graph_destroy(struct gsg_cuda_graph *g)
{
    if (!g) return;
    drop(g);
    free(g);
}

extern "C" int gsg_cuda_graph_last_action(const struct gsg_cuda_graph *g) { return g ? g->last : -1; }

extern "C" gsg_status gsg_cuda_graph_run(struct gsg_cuda_graph *g, uint64_t key, gsg_status (*fn)(void *arg),
                                         void *arg)
{
    GSG_CTX(c);
    int dropit = 0;
    enum gsg_graph_action a = gsg_graph_next(&g->st, key, &dropit);
    if (dropit) drop(g);
    g->last = (int)a;
    switch (a) {
    case GSG_GRAPH_EAGER: return fn(arg);
    case GSG_GRAPH_REPLAY:
        GSG_CU(cudaGraphLaunch(g->exec, c->stream));
        return GSG_OK;
    case GSG_GRAPH_CAPTURE: break;
    }
    GSG_CU(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal));
    gsg_status st = fn(arg);
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamEndCapture(c->stream, &graph);
    if (st == GSG_OK && e == cudaSuccess && graph) e = cudaGraphInstantiate(&g->exec, graph, 0);
    if (st != GSG_OK || e != cudaSuccess || !graph) {
        if (graph) cudaGraphDestroy(graph);
        g->exec = NULL;
        cudaGetLastError();   // clear the capture error
        gsg_graph_captured(&g->st, 0);
        g->last = GSG_GRAPH_EAGER;
        gsg_err_clear();
        return fn(arg);       // nothing ran during the failed capture: run the step for real
    }
    g->graph = graph;
    gsg_graph_captured(&g->st, 1);
    GSG_CU(cudaGraphLaunch(g->exec, c->stream));
    return GSG_OK;
}
