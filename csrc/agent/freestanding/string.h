/* The whole libc the agent needs, for the freestanding compile check (csrc/Makefile
 * `freestanding`). A firmware port uses its own libc's string.h instead (TF-A: lib/libc). */
#ifndef FWA_FREESTANDING_STRING_H
#define FWA_FREESTANDING_STRING_H
#include <stddef.h>
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
#endif
