/* The CHECK macro the C unit tests share: counts checks, reports each failure with its
 * place, and main() prints "N passed, M failed" (the line tests/unit/test_c_*.py read). */
#ifndef FWEMU_TESTS_CHECK_H
#define FWEMU_TESTS_CHECK_H

#include <stdio.h>

static int failures, checks;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        checks++;                                                                    \
        if (!(cond)) {                                                               \
            failures++;                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

#endif
