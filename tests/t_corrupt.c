/* ipcq_open on corrupt, truncated, foreign and random segments: -EBADMSG or -EPROTO (an unknown feature bit too; a reserved word not zero or an impossible mode is corruption), never a crash or a hang, also when every word of a segment is mutated in turn. */
#include "ipcq.h"
#define T_INTERNALS 1
#include "testutil.h"

enum { CAP = 8, MAX = 64 };

static const char *name;
static uint8_t *image; /* the good segment, with messages in its ring */
static size_t image_size;

static void write_segment(const void *data, size_t size)
{
	int fd = open(t_shm_path(name), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
	if (fd < 0)
		T_FAIL("open segment: %s", strerror(errno));
	CHECK(fchmod(fd, 0600) == 0);
	if (size > 0)
		CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
	close(fd);
}

static void restore(void)
{
	write_segment(image, image_size);
}

static void patch(size_t off, const void *bytes, size_t n)
{
	int fd = open(t_shm_path(name), O_WRONLY | O_NOFOLLOW);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, bytes, n, (off_t)off) == (ssize_t)n);
	close(fd);
}

static void truncate_to(size_t size)
{
	CHECK(truncate(t_shm_path(name), (off_t)size) == 0);
}

static void expect_open(int want, const char *what)
{
	struct ipcq *q = NULL;
	int rc = ipcq_open(name, &q);
	if (rc != want) {
		if (rc == 0)
			ipcq_close(q);
		T_FAIL("%s: ipcq_open returned %d (%s), expected %d (%s)", what, rc,
		       ipcq_strerror(rc), want, ipcq_strerror(want));
	}
	CHECK(q == NULL);
}

static void build_image(void)
{
	struct ipcq_config cfg = t_config(CAP, MAX);
	cfg.max_participants = 4;
	cfg.side_capacity = 4;   /* small tables: every word gets mutated */
	cfg.lease_capacity = 4;
	struct ipcq *q = t_create(name, &cfg);
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, NULL), 0);
	uint8_t buf[MAX];
	/* a lap and a half, so that the cursors and slot words are not trivial */
	for (uint64_t seq = 1; seq <= CAP + CAP / 2; seq++) {
		t_fill(buf, MAX, 0, seq);
		CHECK_RC(ipcq_send(q, buf, (size_t)(seq % (MAX + 1)), IPCQ_NOWAIT), 0);
		if (seq <= CAP)
			CHECK_OK(ipcq_recv(q, buf, sizeof(buf), NULL, IPCQ_NOWAIT));
	}
	CHECK_RC(ipcq_close(q), 0);

	int fd = open(t_shm_path(name), O_RDONLY);
	struct stat st;
	CHECK(fd >= 0 && fstat(fd, &st) == 0);
	image_size = (size_t)st.st_size;
	image = (uint8_t *)malloc(image_size);
	CHECK(image != NULL);
	CHECK(pread(fd, image, image_size, 0) == (ssize_t)image_size);
	close(fd);
	CHECK(image_size > 4096);
}

/* The documented cases, checked for their exact error. */
static void test_known_cases(void)
{
	const size_t sizes[] = { 0, 1, 8, 12, 64, 4095, 4096, 4097, image_size / 2,
				 image_size - 4096, image_size - 1 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char what[64];
		restore();
		truncate_to(sizes[i]);
		snprintf(what, sizeof(what), "truncated to %zu bytes", sizes[i]);
		expect_open(-EBADMSG, what);
	}

	const uint64_t magics[] = { 0, ~0ull, 0x0102030405060708ull };
	for (size_t i = 0; i < 3; i++) {
		restore();
		patch(0, &magics[i], 8);
		expect_open(-EBADMSG, "magic overwritten");
	}
	for (int byte = 0; byte < 8; byte++) {
		uint8_t b = image[byte] ^ 0x20;
		restore();
		patch((size_t)byte, &b, 1);
		expect_open(-EBADMSG, "one bit of the magic flipped");
	}

	uint32_t version;
	memcpy(&version, image + 8, 4);
	const uint32_t versions[] = { version + 1, version - 1, 0, ~0u, version ^ 0x10000 };
	for (size_t i = 0; i < 5; i++) {
		restore();
		patch(8, &versions[i], 4);
		expect_open(-EPROTO, "foreign layout version");
	}

	/* fields this build must see zero, or one of the modes it makes: a
	 * feature bit it does not know is a newer layout (-EPROTO, with the
	 * reason), a reserved word or an impossible mode is corruption */
	const uint64_t feat = 1;
	restore();
	patch(offsetof(struct ipcq_shm_header, features), &feat, 8);
	expect_open(-EPROTO, "an unknown feature bit");
	CHECK(strstr(ipcq_errdetail(), "feature bits 0x1") != NULL);
	for (size_t i = 0; i < 6; i++) {
		const uint64_t one = 1ull << (7 * i);
		restore();
		patch(offsetof(struct ipcq_shm_header, reserved) + 8 * i, &one, 8);
		expect_open(-EBADMSG, "a reserved word not zero");
	}
	const uint32_t modes[] = { 0, 0777, 04600, 0644 };
	for (size_t i = 0; i < 4; i++) {
		restore();
		patch(offsetof(struct ipcq_shm_header, mode), &modes[i], 4);
		expect_open(-EBADMSG, "an impossible mode");
	}

	/* a segment that is the header only, the rest zeros or garbage */
	restore();
	uint8_t *junk = (uint8_t *)malloc(image_size);
	CHECK(junk != NULL);
	memset(junk, 0, image_size);
	patch(4096, junk, image_size - 4096);
	struct ipcq *q = NULL;
	int rc = ipcq_open(name, &q);
	CHECK(rc == 0 || rc == -EBADMSG);
	if (rc == 0)
		CHECK_RC(ipcq_close(q), 0);

	/* empty and random files */
	write_segment(NULL, 0);
	expect_open(-EBADMSG, "an empty file");
	srand(12345);
	const size_t rsizes[] = { 1, 100, 4096, 5000, image_size, 65536 };
	for (size_t i = 0; i < sizeof(rsizes) / sizeof(rsizes[0]); i++) {
		uint8_t *r = (uint8_t *)malloc(rsizes[i]);
		CHECK(r != NULL);
		for (size_t k = 0; k < rsizes[i]; k++)
			r[k] = (uint8_t)rand();
		write_segment(r, rsizes[i]);
		expect_open(-EBADMSG, "a file of random bytes");
		free(r);
	}
	/* random bytes behind a good magic and version */
	for (int round = 0; round < 50; round++) {
		for (size_t k = 0; k < image_size; k++)
			junk[k] = (uint8_t)rand();
		memcpy(junk, image, 12);
		write_segment(junk, image_size);
		rc = ipcq_open(name, &q);
		if (rc != -EBADMSG && rc != -EPROTO)
			T_FAIL("good magic, random rest: ipcq_open returned %d (%s)", rc,
			       ipcq_strerror(rc));
	}
	free(junk);
	restore();
}

/* ---- mutation of every word, in a child that reports where it died ---- */

struct progress {
	char step[160];
	uint64_t opened, refused;
};

static struct progress *prog;

static int acceptable(int rc)
{
	return rc >= 0 || (rc < 0 && rc > -4096);
}

/* Everything a user would do with a handle that opened: no crash, no hang. */
static void exercise(struct ipcq *q)
{
	static uint8_t big[1 << 20];
	struct ipcq_info info;
	struct ipcq_msginfo mi[4];
	struct ipcq_buf b[4];
	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	CHECK(acceptable(ipcq_info(q, &info)));
	int rc = ipcq_attach(q, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, NULL);
	CHECK(acceptable(rc));
	if (rc < 0)
		return;
	for (int i = 0; i < 3; i++) {
		CHECK(acceptable(ipcq_recv(q, big, sizeof(big), mi, IPCQ_NOWAIT)));
		CHECK(acceptable(ipcq_send(q, big, MAX, IPCQ_NOWAIT)));
	}
	for (int i = 0; i < 4; i++) {
		b[i].data = big + (size_t)i * (sizeof(big) / 4);
		b[i].len = sizeof(big) / 4;
	}
	CHECK(acceptable(ipcq_recv_batch(q, b, mi, 4, IPCQ_NOWAIT)));
	for (int i = 0; i < 4; i++)
		b[i].len = MAX;
	CHECK(acceptable(ipcq_send_batch(q, b, 4, IPCQ_NOWAIT)));
	CHECK(acceptable(ipcq_recv(q, big, sizeof(big), mi, 1000)));
	CHECK(acceptable(ipcq_info(q, &info)));
	CHECK(acceptable(ipcq_detach(q)));
}

static void probe(size_t off, const void *val, size_t n)
{
	struct ipcq *q = NULL;
	snprintf(prog->step, sizeof(prog->step), "%zu-byte value 0x%" PRIx64 " at offset %zu", n,
		 n == 8 ? *(const uint64_t *)val : *(const uint32_t *)val, off);
	restore();
	patch(off, val, n);
	alarm(10);
	int rc = ipcq_open(name, &q);
	if (rc == 0) {
		prog->opened++;
		exercise(q);
		CHECK_RC(ipcq_close(q), 0);
	} else {
		prog->refused++;
		if (rc != -EBADMSG && rc != -EPROTO)
			T_FAIL("%s: ipcq_open returned %d (%s), expected success, -EBADMSG or -EPROTO",
			       prog->step, rc, ipcq_strerror(rc));
		CHECK(q == NULL);
	}
	alarm(0);
}

/*
 * Every word of the header and the control block gets several values;
 * every word of the tables and the ring behind them gets fewer, to keep
 * the test fast under ASan.
 */
#define DENSE 8192

static int mutate_all(void *arg)
{
	(void)arg;
	for (size_t off = 12; off + 4 <= image_size; off += 4) {
		uint32_t orig;
		memcpy(&orig, image + off, 4);
		const uint32_t vals[] = { 0, ~0u, orig + 1, 0x7fffffffu, orig ^ 0x80u };
		size_t nv = off < DENSE ? T_NELEM(vals) : 2;
		for (size_t i = 0; i < nv; i++)
			if (vals[i] != orig)
				probe(off, &vals[i], 4);
	}
	for (size_t off = 16; off + 8 <= image_size; off += 8) {
		uint64_t orig;
		memcpy(&orig, image + off, 8);
		const uint64_t vals[] = { orig + (1ull << 32), ~0ull, 1ull << 40 };
		size_t nv = off < DENSE ? T_NELEM(vals) : 1;
		for (size_t i = 0; i < nv; i++)
			if (vals[i] != orig)
				probe(off, &vals[i], 8);
	}
	return 0;
}

static void test_mutations(void)
{
	prog = (struct progress *)t_shared(sizeof(*prog));
	pid_t pid = t_spawn(mutate_all, NULL);
	if (t_reap(pid) != 0)
		T_FAIL("mutation child died (signal 14 is a hang) at: %s", prog->step);
	printf("segment of %zu bytes, mutations: %" PRIu64 " opened and used, %" PRIu64
	       " refused\n", image_size, prog->opened, prog->refused);
	restore();
}

int main(void)
{
	t_watchdog(t_limit(240), "t_corrupt", NULL);
	name = t_qname("corrupt");
	build_image();
	test_known_cases();
	test_mutations();
	/* the restored segment is a working queue again */
	struct ipcq *q = t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);
	CHECK_OK(ipcq_recv(q, image, image_size, NULL, IPCQ_NOWAIT));
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_unlink(name), 0);
	free(image);
	return 0;
}
