/* fixture-img: test fixtures without Python imaging libraries. Writes one u8 image from a
 * .npy array [H,W] (grey) or [H,W,3] (RGB, interleaved) as PNG (libpng) or JPEG (TurboJPEG),
 * the format from the output name, through libgsg's own image writer.
 *   fixture-img OUT.{png,jpg,jpeg} IN.npy [QUALITY]     (QUALITY: JPEG 1..100, default 95)
 * Built by `make` into $(BUILD)/tests/ for the bats files; not installed. */
#include <stdlib.h>
#include <string.h>
#include "core/tool.h"
#include "io/imgwrite.h"
#include "io/npy.h"

int main(int argc, char **argv)
{
    gsg_tool_init(argc, argv, "fixture-img");
    if (argc < 3 || argc > 4) return gsg_tool_usage_error("usage: fixture-img OUT.{png,jpg} IN.npy [QUALITY]");
    enum gsg_img_format fmt = gsg_img_format_from_path(argv[1]);
    if (!fmt) return gsg_tool_usage_error("%s: expected a .png, .jpg or .jpeg name", argv[1]);
    int quality = argc == 4 ? atoi(argv[3]) : 95;
    struct gsg_tensor t;
    gsg_status st = gsg_npy_load(argv[2], &t);
    if (st < 0) return gsg_tool_finish(gsg_tool_report(st));
    int ok = t.dtype == GSG_DTYPE_U8 && (t.ndim == 2 || (t.ndim == 3 && t.dims[2] == 3));
    if (!ok) {
        gsg_tensor_free(&t);
        return gsg_tool_finish(gsg_tool_fail("%s: expected u8 [H,W] or [H,W,3]", argv[2]));
    }
    struct gsg_image img = { .pix = t.data, .w = (int)t.dims[1], .h = (int)t.dims[0], .channels = t.ndim == 2 ? 1 : 3 };
    st = gsg_img_save(argv[1], &img, fmt, quality);
    gsg_tensor_free(&t);
    return gsg_tool_finish(gsg_tool_report(st));
}
