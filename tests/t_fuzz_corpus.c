/* The fuzz target (tests/fuzz/fuzz_segment.c) on every file of its corpus, tests/fuzz/corpus: seeds (seed-*), inputs fuzzing found that reach new code (cov-*) and the regression inputs of every crash found (crash-*), without libFuzzer. */
#include <dirent.h>
#include <limits.h>
#include <time.h>

#include "fuzz/fuzz_segment.c"

/* The corpus: $IPCQ_FUZZ_CORPUS, or tests/fuzz/corpus from the current
 * directory (the runner's: the repository root), or from the repository
 * this program was built in (build/VARIANT/tests/t_fuzz_corpus). */
static int find_corpus(char *out, size_t cap)
{
	const char *env = getenv("IPCQ_FUZZ_CORPUS");
	struct stat st;

	if (env && env[0]) {
		snprintf(out, cap, "%s", env);
		return stat(out, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -ENOENT;
	}
	snprintf(out, cap, "tests/fuzz/corpus");
	if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -ENOENT;
	exe[n] = '\0';
	for (int up = 0; up < 4; up++) {
		char *slash = strrchr(exe, '/');
		if (!slash)
			return -ENOENT;
		*slash = '\0';
	}
	if (strlen(exe) + sizeof("/tests/fuzz/corpus") > cap)
		return -ENAMETOOLONG;
	memcpy(out, exe, strlen(exe));
	memcpy(out + strlen(exe), "/tests/fuzz/corpus", sizeof("/tests/fuzz/corpus"));
	return stat(out, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -ENOENT;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	char *names[4096];
	size_t n = 0, seeds = 0, crashes = 0; /* crashes: crash-* regression inputs */
	double slowest = 0;
	char slowest_name[256] = "";
	struct dirent *d;

	if (find_corpus(dir, sizeof(dir)) < 0) {
		fprintf(stderr, "t_fuzz_corpus: no corpus directory (tests/fuzz/corpus)\n");
		return 1;
	}
	DIR *dp = opendir(dir);
	if (!dp) {
		fprintf(stderr, "t_fuzz_corpus: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	while ((d = readdir(dp)) && n < sizeof(names) / sizeof(names[0]))
		if (d->d_name[0] != '.')
			names[n++] = strdup(d->d_name);
	closedir(dp);
	qsort(names, n, sizeof(names[0]), by_name);
	if (n == 0) {
		fprintf(stderr, "t_fuzz_corpus: %s is empty\n", dir);
		return 1;
	}

	LLVMFuzzerInitialize(NULL, NULL);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			if (fd >= 0)
				close(fd);
			free(names[i]);
			continue;
		}
		uint8_t *buf = malloc((size_t)st.st_size + 1);
		if (!buf || pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
			fprintf(stderr, "t_fuzz_corpus: cannot read %s\n", path);
			return 1;
		}
		close(fd);
		/* a crash here names the file it came from */
		fprintf(stderr, "%s\n", names[i]);
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		LLVMFuzzerTestOneInput(buf, (size_t)st.st_size);
		clock_gettime(CLOCK_MONOTONIC, &b);
		double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
		if (secs > slowest) {
			slowest = secs;
			snprintf(slowest_name, sizeof(slowest_name), "%s", names[i]);
		}
		free(buf);
		if (strncmp(names[i], "crash-", 6) == 0)
			crashes++;
		else
			seeds++;
		free(names[i]);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%zu inputs (%zu regression inputs) in %.2fs, slowest %s (%.3fs)\n", seeds + crashes,
	       crashes, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       slowest_name, slowest);
	/* nothing left behind */
	struct stat st;
	if (stat(fz.path, &st) == 0) {
		fprintf(stderr, "t_fuzz_corpus: %s left behind\n", fz.path);
		return 1;
	}
	return 0;
}
