/* fuzz_jpeg.c: a JPEG entry of a JPEG folder data set (see fuzz_image.h). */
#define FUZZ_IMAGE_NAME "a.jpg"
#include "fuzz_image.h"
