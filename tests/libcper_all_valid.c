/* cper-generate with every optional field valid: libcper's generator library in its
 * ALL_VALID mode (its own CLI only offers random validation bits), so each generated
 * section carries all its fields and libcper's JSON of it holds every byte.
 * Usage: libcper-all-valid OUT SECTION... (the generator's section names). */
#include <stdio.h>
#include <libcper/generator/cper-generate.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s OUT SECTION...\n", argv[0]);
		return 2;
	}
	FILE *out = fopen(argv[1], "wb");
	if (out == NULL) {
		perror(argv[1]);
		return 1;
	}
	generate_cper_record(argv + 2, (UINT16)(argc - 2), out, ALL_VALID);
	return fclose(out) == 0 ? 0 : 1;
}
