/*
 * Times OpenBMC libcper's own generator (generator/cper-generate.c from the PyPI `cper`
 * sdist): n calls of generate_cper_record() for one section type, each record written to
 * an in-memory stream (fmemopen, rewound per record) so no file I/O is timed.
 *
 *     gen_bench TYPE N    ->  "TYPE N SECONDS BYTES" (BYTES: the last record's length)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <libcper/generator/cper-generate.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: gen_bench TYPE N\n");
        return 2;
    }
    static char buf[1 << 20];
    long n = atol(argv[2]);
    FILE *f = fmemopen(buf, sizeof buf, "w");
    if (!f || n <= 0) return 2;
    char *types[1] = {argv[1]};
    struct timespec t0, t1;
    long len = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
        rewind(f);
        generate_cper_record(types, 1, f, RANDOM_VALID);
        len = ftell(f);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fclose(f);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%s %ld %.9f %ld\n", argv[1], n, s, len);
    return 0;
}
