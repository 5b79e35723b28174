/* cper-generate in the validation modes its own CLI does not offer (it only sets random
 * validation bits): libcper's generator library in ALL_VALID mode (default: every optional
 * field valid, so libcper's JSON of a section holds every byte) or, after --some-valid,
 * SOME_VALID (the generator's fixed alternating pattern of bits).
 * Usage: libcper-all-valid [--some-valid] OUT SECTION... (the generator's section names). */
#include <stdio.h>
#include <string.h>
#include <libcper/generator/cper-generate.h>

int main(int argc, char **argv)
{
	GEN_VALID_BITS_TEST_TYPE mode = ALL_VALID;

	if (argc > 1 && strcmp(argv[1], "--some-valid") == 0) {
		mode = SOME_VALID;
		argv++;
		argc--;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: %s [--some-valid] OUT SECTION...\n", argv[0]);
		return 2;
	}
	FILE *out = fopen(argv[1], "wb");
	if (out == NULL) {
		perror(argv[1]);
		return 1;
	}
	generate_cper_record(argv + 2, (UINT16)(argc - 2), out, mode);
	return fclose(out) == 0 ? 0 : 1;
}
