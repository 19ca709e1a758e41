/* test_flops.c: gsg_net_macs and gsg_net_view_train_flops (the FLOP count `make bench` reports)
 * against counts derived by hand, layer by layer, for a tiny network, and against the CIFAR
 * ResNet-18 convolution count of docs/performance.md §1. */
#include "check.h"
#include "nn/net.h"

static struct gsg_net *make(const struct gsg_net_config *c, int64_t hw)
{
    struct gsg_net *net = NULL;
    if (gsg_net_create(&net, c, 1, hw, hw, GSG_DEV_CPU, 1, GSG_NET_INFERENCE) < 0) {
        printf("  gsg_net_create: %s\n", gsg_err_msg());
        return NULL;
    }
    return net;
}

/* ResNet-18, CIFAR stem, 1 input channel, width 2 (stages 2-4-8-16), 4x4 input; every 3x3
 * convolution has padding 1, so a stride-2 layer maps 4x4 -> 2x2 -> 1x1 -> 1x1.
 * MACs of a convolution: Ho * Wo * Co * Ci * K * K.
 *   stem            4x4 out, 1 -> 2,  3x3:  16 * 2 * 1 * 9              =   288
 *   layer1 (4x4)    4 convs 2 -> 2, 3x3:     4 * (16 * 2 * 2 * 9)         =  2304
 *   layer2 (2x2)    0.conv1 2 -> 4 s2:       4 * 4 * 2 * 9                =   288
 *                   0.conv2 and 1.conv1/2:   3 * (4 * 4 * 4 * 9)          =  1728
 *                   downsample 1x1 s2:       4 * 4 * 2                    =    32
 *   layer3 (1x1)    0.conv1 4 -> 8:          1 * 8 * 4 * 9                =   288
 *                   three 8 -> 8:            3 * (8 * 8 * 9)              =  1728
 *                   downsample:              8 * 4                        =    32
 *   layer4 (1x1)    0.conv1 8 -> 16:         16 * 8 * 9                   =  1152
 *                   three 16 -> 16:          3 * (16 * 16 * 9)            =  6912
 *                   downsample:              16 * 8                       =   128
 *   backbone: 288 + 2304 + 2048 + 2048 + 8192                             = 14880
 *   projector 16 -> 8 -> 6:  16 * 8 + 8 * 6                                =   176
 *   predictor 6 -> 3 -> 6:   6 * 3 + 3 * 6                                 =    36
 *   one view's training pass: forward 15092 MACs, weight gradients 15092, input gradients
 *   15092 - 288 (no input gradient for the stem): 45276 - 288 = 44988 MACs = 89976 FLOPs. */
TEST(tiny_resnet18_by_hand)
{
    struct gsg_net_config c = {GSG_ARCH_RESNET18, GSG_STEM_CIFAR, 1, 2, 0, 2, 8, 6, 3};
    struct gsg_net *net = make(&c, 4);
    CHECK(net != NULL);
    if (!net) return;
    struct gsg_net_macs m;
    gsg_net_macs(net, &m);
    CHECK_EQ_I64(m.stem, 288);
    CHECK_EQ_I64(m.backbone, 288 + 2304 + (288 + 1728 + 32) + (288 + 1728 + 32) + (1152 + 6912 + 128));
    CHECK_EQ_I64(m.backbone, 14880);
    CHECK_EQ_I64(m.projector, 176);
    CHECK_EQ_I64(m.predictor, 36);
    CHECK_EQ_I64(gsg_net_view_train_flops(net), 89976);
    gsg_net_destroy(net);
}

/* The same backbone with a 3-layer projector (16 -> 8 -> 8 -> 6) and no predictor. */
TEST(tiny_three_layer_projector_no_predictor)
{
    struct gsg_net_config c = {GSG_ARCH_RESNET18, GSG_STEM_CIFAR, 1, 2, 0, 3, 8, 6, 0};
    struct gsg_net *net = make(&c, 4);
    CHECK(net != NULL);
    if (!net) return;
    struct gsg_net_macs m;
    gsg_net_macs(net, &m);
    CHECK_EQ_I64(m.backbone, 14880);
    CHECK_EQ_I64(m.projector, 16 * 8 + 8 * 8 + 8 * 6);
    CHECK_EQ_I64(m.predictor, 0);
    CHECK_EQ_I64(gsg_net_view_train_flops(net), 2 * (3 * (14880 + 240) - 288));
    gsg_net_destroy(net);
}

/* The recipes: cifar's convolutions are the 555.4 M MACs per 32x32x3 view of docs/performance.md
 * §1 (555417600: stem 32*32*64*3*9 = 1769472 plus the residual stages); fmnist (28x28x1, width
 * 16) is a different, much smaller count, and the stem of 1 input channel is 28*28*16*9. */
TEST(recipes)
{
    struct gsg_net_config c;
    struct gsg_net_macs m;
    CHECK(gsg_net_config_recipe(&c, "cifar") == GSG_OK);
    struct gsg_net *net = make(&c, 32);
    CHECK(net != NULL);
    if (!net) return;
    gsg_net_macs(net, &m);
    CHECK_EQ_I64(m.stem, 32 * 32 * 64 * 3 * 9);
    CHECK_EQ_I64(m.backbone, 555417600);
    CHECK_EQ_I64(m.projector, 512 * 2048 + 2048 * 2048);
    CHECK_EQ_I64(m.predictor, 2048 * 512 + 512 * 2048);
    int64_t cifar = gsg_net_view_train_flops(net);
    CHECK_EQ_I64(cifar, 2 * (3 * (555417600LL + 5242880 + 2097152) - 1769472));
    gsg_net_destroy(net);

    CHECK(gsg_net_config_recipe(&c, "fmnist") == GSG_OK);
    net = make(&c, 28);
    CHECK(net != NULL);
    if (!net) return;
    gsg_net_macs(net, &m);
    CHECK_EQ_I64(m.stem, 28 * 28 * 16 * 1 * 9);
    CHECK_EQ_I64(m.projector, 128 * 512 + 512 * 512);
    CHECK_EQ_I64(m.predictor, 512 * 128 + 128 * 512);
    /* stages at 28x28 (16 ch), 14x14 (32), 7x7 (64), 4x4 (128), with stride-2 first convolutions
     * and 1x1 downsamples: 112896 + 4 * 28*28*16*16*9 + 14*14*32*(16 + 3*32)*9 + 14*14*32*16
     * + 7*7*64*(32 + 3*64)*9 + 7*7*64*32 + 4*4*128*(64 + 3*128)*9 + 4*4*128*64 */
    CHECK_EQ_I64(m.backbone, 112896 + 4 * 28 * 28 * 16 * 16 * 9 + 14 * 14 * 32 * (16 + 3 * 32) * 9 + 14 * 14 * 32 * 16 +
                             7 * 7 * 64 * (32 + 3 * 64) * 9 + 7 * 7 * 64 * 32 + 4 * 4 * 128 * (64 + 3 * 128) * 9 +
                             4 * 4 * 128 * 64);
    int64_t fmnist = gsg_net_view_train_flops(net);
    CHECK(fmnist > 0 && fmnist * 10 < cifar);
    gsg_net_destroy(net);
}

int main(void)
{
    RUN(tiny_resnet18_by_hand);
    RUN(tiny_three_layer_projector_no_predictor);
    RUN(recipes);
    return check_summary();
}
