/* libgrove-preload.so: LD_PRELOAD it into a program that uses Grove (linked with
 * libgrove.so) to turn the patch layer on for every group at start-up, without changing
 * the program. The interposed libc functions themselves live in libgrove.so. */
#include <grove/patch.h>

__attribute__((constructor)) static void grove_preload_init(void) { grove_patch(GROVE_PATCH_ALL); }
