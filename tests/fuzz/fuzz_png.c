/* fuzz_png.c: a PNG entry (or anything else named .png) of a JPEG folder data set (see fuzz_image.h). */
#define FUZZ_IMAGE_NAME "a.png"
#include "fuzz_image.h"
