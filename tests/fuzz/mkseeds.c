/*
 * mkseeds.c - write the seed corpus of the fuzz target (fuzz_segment.c).
 *
 *   mkseeds DIR
 *
 * For every base of fuzz_base.h (each small queue configuration in each
 * state): the segment itself (raw mode, this build's identity stamped
 * over the header), the base with a script of operations and no patch
 * (patch mode), and the base with a burst of bytes written into each of
 * its regions (patch mode).  Plus a few raw segments that opening must
 * refuse: truncated, foreign, too short.  The files are named seed-*;
 * existing seed-* files in DIR are replaced, nothing else is touched.
 */
#include <dirent.h>

#include "fuzz_base.h"

static const char *dir;
static unsigned written;

static void put(const char *name, const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(a, 1, na, f) != na || (nb && fwrite(b, 1, nb, f) != nb) || fclose(f)) {
		fprintf(stderr, "mkseeds: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	written++;
}

static uint32_t rng_state = 12345;
static uint8_t rng(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return (uint8_t)(rng_state >> 16);
}

int main(int argc, char **argv)
{
	char tmp[64], name[128];
	uint8_t head[64];
	struct dirent *d;

	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds DIR\n");
		return 2;
	}
	dir = argv[1];
	DIR *dp = opendir(dir);
	if (!dp) {
		fprintf(stderr, "mkseeds: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	while ((d = readdir(dp)))
		if (strncmp(d->d_name, "seed-", 5) == 0) {
			char path[1024];
			snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
			unlink(path);
		}
	closedir(dp);
	snprintf(tmp, sizeof(tmp), "fuzz-mkseeds.%d", (int)getpid());

	for (unsigned b = 0; b < FZ_NBASES; b++) {
		unsigned c = b / FZ_NSTATES, s = b % FZ_NSTATES;
		uint8_t *img;
		size_t len;
		int rc = fz_make_base(c, s, tmp, &img, &len);
		if (rc) {
			fprintf(stderr, "mkseeds: base %u: %s\n", b, ipcq_strerror(rc));
			return 1;
		}
		/* raw: the segment as it is */
		head[0] = FZ_MODE_STAMP;
		head[1] = 0;
		snprintf(name, sizeof(name), "seed-raw-c%u-%s", c, fz_state_names[s]);
		put(name, head, 2, img, len);

		/* patch mode, no patch, every operation once in an order of its own */
		uint8_t ops[28];
		for (unsigned i = 0; i < 28; i++)
			ops[i] = (uint8_t)(((i * 11 + b) % 28) | (((i + b) % 8) << 5));
		head[0] = FZ_MODE_PATCH;
		head[1] = sizeof(ops);
		memcpy(head + 2, ops, sizeof(ops));
		head[2 + sizeof(ops)] = (uint8_t)b;
		snprintf(name, sizeof(name), "seed-ops-c%u-%s", c, fz_state_names[s]);
		put(name, head, 3 + sizeof(ops), NULL, 0);

		/* patch mode: bytes written over each region (not the header) */
		for (unsigned r = 1; r < FZ_NREGIONS - 1; r++) {
			uint8_t in[64];
			size_t n = 0;
			in[n++] = FZ_MODE_PATCH;
			in[n++] = 4;
			in[n++] = 3, in[n++] = 7, in[n++] = 9, in[n++] = 22;
			in[n++] = (uint8_t)b;
			for (unsigned k = 0; k < 3; k++) {
				in[n++] = (uint8_t)r;
				in[n++] = rng();
				in[n++] = rng() & 0x0f;
				in[n++] = 7;
				for (unsigned j = 0; j < 8; j++)
					in[n++] = rng();
			}
			snprintf(name, sizeof(name), "seed-patch-c%u-%s-r%u", c, fz_state_names[s], r);
			put(name, in, n, NULL, 0);
		}

		if (b == FZ_NSTATES + 1) {
			/* refused by opening: truncated, foreign, no identity at all */
			head[0] = FZ_MODE_STAMP;
			head[1] = 0;
			put("seed-raw-truncated", head, 2, img, 4096);
			head[0] = 0; /* no stamp: the header's own identity counts */
			img[8] ^= 0x7f; /* another layout version */
			put("seed-raw-foreign", head, 2, img, len);
			memset(img, 0, 64);
			put("seed-raw-zero-header", head, 2, img, len);
		}
		free(img);
	}
	printf("mkseeds: %u seeds in %s\n", written, dir);
	return 0;
}
