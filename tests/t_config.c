/* ipcq_create() config checks: every bad field gives -EINVAL and leaves nothing in /dev/shm; good edge values work. */
#include "ipcq.h"
#include "testutil.h"

#include <sys/statvfs.h>

/* /dev/shm entries before the test, to spot anything a failed create leaves. */
static char **before;
static size_t n_before;

static char **list_shm(size_t *n)
{
	DIR *d = opendir("/dev/shm");
	char **v = NULL;
	size_t cap = 0;
	struct dirent *e;
	*n = 0;
	if (d == NULL)
		T_FAIL("opendir /dev/shm: %s", strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 64;
			v = (char **)realloc(v, cap * sizeof(*v));
			CHECK(v != NULL);
		}
		v[(*n)++] = strdup(e->d_name);
	}
	closedir(d);
	return v;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * Fail if /dev/shm holds an entry that was not there at the start and that
 * could be ours: one that names the queue or carries our pid (a temporary
 * name).  Other processes may use /dev/shm at the same time, so unrelated
 * names are not blamed.
 */
static void check_nothing_left(const char *name, const char *what)
{
	size_t n;
	char **now = list_shm(&n);
	char pid[16];
	snprintf(pid, sizeof(pid), ".%d.", (int)getpid());
	for (size_t i = 0; i < n; i++) {
		int known = 0;
		for (size_t j = 0; j < n_before && !known; j++)
			known = strcmp(now[i], before[j]) == 0;
		if (known)
			continue;
		if (strstr(now[i], name) != NULL || strstr(now[i], pid) != NULL)
			T_FAIL("%s: /dev/shm/%s left behind by a failed ipcq_create", what, now[i]);
	}
	free_list(now, n);
}

static void expect_create(const struct ipcq_config *cfg, int want, const char *what)
{
	const char *name = t_qname("cfg");
	struct ipcq *q = (struct ipcq *)(uintptr_t)1; /* must stay untouched */
	int rc = ipcq_create(name, cfg, &q);
	if (rc != want) {
		if (rc == 0)
			t_cleanup(name);
		T_FAIL("%s: ipcq_create returned %d (%s), expected %d (%s)", what, rc,
		       ipcq_strerror(rc), want, ipcq_strerror(want));
	}
	if (rc < 0) {
		CHECK(q == (struct ipcq *)(uintptr_t)1);
		CHECK(!t_shm_exists(name));
		check_nothing_left(name, what);
	} else {
		t_cleanup(name);
		struct ipcq_info info = t_info(q);
		CHECK(info.capacity == cfg->capacity);
		CHECK(info.max_msg_size == cfg->max_msg_size);
		CHECK(info.max_participants == cfg->max_participants);
		CHECK(info.wait_strategy == cfg->wait_strategy);
		CHECK(info.mode == cfg->mode);
		/* IPCQ_AUTO tables: 64 side entries and 256 leases, or the
		 * ring's capacity if smaller */
		uint32_t side = cfg->side_capacity == IPCQ_AUTO
					? (cfg->capacity < 64 ? cfg->capacity : 64)
					: cfg->side_capacity;
		uint32_t lease = cfg->lease_capacity == IPCQ_AUTO
					 ? (cfg->capacity < 256 ? cfg->capacity : 256)
					 : cfg->lease_capacity;
		CHECK(info.side_capacity == side);
		CHECK(info.max_deliveries == cfg->max_deliveries);
		CHECK(info.lease_capacity == lease);
		CHECK(info.grace_us == cfg->grace_us);
		CHECK_RC(ipcq_close(q), 0);
		CHECK_RC(ipcq_unlink(name), 0);
	}
}

#define BAD(field, value)                                                  \
	do {                                                               \
		struct ipcq_config c_ = IPCQ_CONFIG_INIT;                  \
		c_.field = value;                                          \
		expect_create(&c_, -EINVAL, #field " = " #value);          \
	} while (0)

#define BAD2(f1, v1, f2, v2)                                               \
	do {                                                               \
		struct ipcq_config c_ = IPCQ_CONFIG_INIT;                  \
		c_.f1 = v1;                                                \
		c_.f2 = v2;                                                \
		expect_create(&c_, -EINVAL, #f1 " = " #v1 ", " #f2 " = " #v2); \
	} while (0)

#define GOOD2(f1, v1, f2, v2)                                              \
	do {                                                               \
		struct ipcq_config c_ = IPCQ_CONFIG_INIT;                  \
		c_.f1 = v1;                                                \
		c_.f2 = v2;                                                \
		expect_create(&c_, 0, #f1 " = " #v1 ", " #f2 " = " #v2);   \
	} while (0)

#define GOOD(field, value)                                                 \
	do {                                                               \
		struct ipcq_config c_ = IPCQ_CONFIG_INIT;                  \
		c_.field = value;                                          \
		expect_create(&c_, 0, #field " = " #value);                \
	} while (0)

static void test_bad_fields(void)
{
	BAD(size, 0);
	BAD(size, 4);
	BAD(size, offsetof(struct ipcq_config, flags)); /* a caller without flags */

	BAD(capacity, 0);
	BAD(capacity, 1);
	BAD(capacity, 3);
	BAD(capacity, 1000);
	BAD(capacity, 1025);
	BAD(capacity, IPCQ_CAPACITY_MAX * 2);
	BAD(capacity, IPCQ_CAPACITY_MAX + 1);
	BAD(capacity, UINT32_MAX);
	BAD(capacity, 0x80000000u);

	BAD(max_msg_size, 0);
	BAD(max_msg_size, IPCQ_MSG_SIZE_MAX + 1);
	BAD(max_msg_size, UINT32_MAX);

	BAD(mode, 0666);
	BAD(mode, 0604);
	BAD(mode, 0602);
	BAD(mode, 0601);
	BAD(mode, 0607);
	BAD(mode, 0620);   /* group write without read */
	BAD(mode, 01600);  /* outside 0777 */
	BAD(mode, 04600);
	BAD(mode, 0100600);
	BAD(mode, UINT32_MAX);

	BAD(wait_strategy, IPCQ_WAIT_DEFAULT);
	BAD(wait_strategy, 4);
	BAD(wait_strategy, UINT32_MAX);
	BAD(spin_count, 1000001);
	BAD(spin_count, UINT32_MAX);
	BAD(yield_count, 1000001);
	BAD(yield_count, UINT32_MAX);

	BAD(max_participants, 0);
	BAD(max_participants, IPCQ_PARTICIPANTS_MAX + 1);
	BAD(max_participants, UINT32_MAX);

	BAD(side_capacity, 3);
	BAD(side_capacity, 100);
	BAD(side_capacity, IPCQ_CAPACITY_MAX * 2);
	BAD(side_capacity, UINT32_MAX - 1); /* UINT32_MAX is IPCQ_AUTO */
	BAD(max_deliveries, 0);
	BAD(max_deliveries, 256);
	BAD(max_deliveries, UINT32_MAX);
	BAD(lease_capacity, IPCQ_CAPACITY_MAX + 1);
	BAD(lease_capacity, UINT32_MAX - 1); /* UINT32_MAX is IPCQ_AUTO */
	BAD(grace_us, 0);
	BAD(grace_us, 99);
	BAD(grace_us, 60000001);
	BAD(grace_us, UINT32_MAX);
	BAD(numa_node, -3);
	BAD(numa_node, 100000);
	BAD(numa_node, INT32_MIN);
	BAD(numa_node, INT32_MAX);
	BAD(high_watermark, 1);  /* low 0 */
	BAD(high_watermark, 2);
	BAD(low_watermark, 1);   /* high 0 */
	BAD2(low_watermark, 5, high_watermark, 5);
	BAD2(low_watermark, 6, high_watermark, 5);
	BAD2(low_watermark, 1, high_watermark, 1025); /* above the capacity */
	BAD(dedup_capacity, IPCQ_PARTICIPANTS_MAX + 1);
	BAD(dedup_capacity, UINT32_MAX);
	BAD(flags, 0x8);
	BAD(flags, 0x80000000u);
	BAD(max_groups, IPCQ_GROUPS_MAX + 1);
	BAD(max_groups, UINT32_MAX);
	/* a bad name and a bad config: still nothing created */
	struct ipcq *q = NULL;
	struct ipcq_config c = IPCQ_CONFIG_INIT;
	c.capacity = 3;
	CHECK(ipcq_create("", &c, &q) < 0 && q == NULL);
}

static void test_good_edges(void)
{
	GOOD(capacity, IPCQ_CAPACITY_MIN);
	GOOD(capacity, 4);
	GOOD(capacity, 65536);
	GOOD(max_msg_size, 1);
	GOOD(max_msg_size, 7);      /* need not be a power of two */
	GOOD(max_msg_size, 100000);
	GOOD(mode, 0600);
	GOOD(mode, 0640);
	GOOD(mode, 0660);
	GOOD(wait_strategy, IPCQ_WAIT_ADAPTIVE);
	GOOD(wait_strategy, IPCQ_WAIT_BUSY_POLL);
	GOOD(wait_strategy, IPCQ_WAIT_YIELD);
	GOOD(spin_count, 0);
	GOOD(spin_count, 1000000);
	GOOD(yield_count, 0);
	GOOD(yield_count, 1000000);
	GOOD(max_participants, 1);
	GOOD(max_participants, IPCQ_PARTICIPANTS_MAX);
	GOOD(side_capacity, 0);
	GOOD(side_capacity, 2);
	GOOD(side_capacity, 4096);
	GOOD(max_deliveries, 1);
	GOOD(max_deliveries, 255);
	GOOD(lease_capacity, 0);
	GOOD(lease_capacity, 1);
	GOOD(lease_capacity, 5000);
	GOOD(grace_us, 100);
	GOOD(grace_us, 60000000);
	GOOD(numa_node, IPCQ_NUMA_LOCAL);
	GOOD(numa_node, 0);
	GOOD2(low_watermark, 1, high_watermark, 2);
	GOOD2(low_watermark, 10, high_watermark, 1024);
	GOOD(dedup_capacity, 0);
	GOOD(dedup_capacity, IPCQ_PARTICIPANTS_MAX);

	/*
	 * The largest message at the smallest capacity.  Side-ring and lease
	 * entries hold whole messages too, so without them: the segment stays
	 * at a few slots (with the defaults it is over 5 GiB).
	 */
	struct ipcq_config c = t_config(IPCQ_CAPACITY_MIN, IPCQ_MSG_SIZE_MAX);
	c.side_capacity = c.lease_capacity = 0;
	expect_create(&c, 0, "max_msg_size = IPCQ_MSG_SIZE_MAX, capacity 2");
	/* the largest capacity with small messages: 1 GiB, all reserved */
	c = t_config(IPCQ_CAPACITY_MAX, 1);
	c.side_capacity = c.lease_capacity = 0;
	struct statvfs vfs;
	if (statvfs("/dev/shm", &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize > (4ull << 30))
		expect_create(&c, 0, "capacity = IPCQ_CAPACITY_MAX, max_msg_size 1");

	/* NULL config: every default */
	const char *name = t_qname("cfgnull");
	struct ipcq *q = NULL;
	CHECK_RC(ipcq_create(name, NULL, &q), 0);
	t_cleanup(name);
	struct ipcq_info info = t_info(q);
	CHECK(info.capacity == 1024 && info.max_msg_size == 1024 && info.mode == 0600);
	CHECK(info.max_participants == 64 && info.wait_strategy == IPCQ_WAIT_ADAPTIVE);
	CHECK(info.side_capacity == 64 && info.max_deliveries == 5);
	CHECK(info.lease_capacity == 256 && info.grace_us == 10000);
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_unlink(name), 0);
}

/* capacity x slot size above IPCQ_SEGMENT_MAX: -EFBIG, nothing created. */
static void test_too_big(void)
{
	struct ipcq_config c = t_config(IPCQ_CAPACITY_MAX, IPCQ_MSG_SIZE_MAX);
	expect_create(&c, -EFBIG, "capacity max x max_msg_size max");
	c = t_config(1u << 13, 8u << 20); /* 64 GiB of payload plus headers */
	expect_create(&c, -EFBIG, "8192 x 8 MiB");
}

/*
 * A segment larger than the whole of /dev/shm: posix_fallocate refuses it
 * up front, so create must say -ENOSPC (and not die of SIGBUS later).
 */
static void test_no_space(void)
{
	struct statvfs vfs;
	CHECK(statvfs("/dev/shm", &vfs) == 0);
	uint64_t fs_size = (uint64_t)vfs.f_blocks * vfs.f_frsize;
	/* the smallest power-of-two capacity of 64 KiB messages larger than the filesystem */
	uint32_t cap = 2;
	while ((uint64_t)cap * 65536 <= fs_size + (1ull << 30) && cap < (1u << 20))
		cap *= 2;
	if ((uint64_t)cap * 65536 * 2 > IPCQ_SEGMENT_MAX) {
		printf("skip -ENOSPC: /dev/shm is too large (%" PRIu64 " bytes)\n", fs_size);
		return;
	}
	struct ipcq_config c = t_config(cap, 65536);
	expect_create(&c, -ENOSPC, "segment larger than /dev/shm");
}

int main(void)
{
	before = list_shm(&n_before);
	test_bad_fields();
	test_good_edges();
	test_too_big();
	test_no_space();
	free_list(before, n_before);
	return 0;
}
