/* ipcq_errdetail(): every refused name, config field, open flag, segment, attach option or state (already attached, table full, name held, dedup table full), NUMA node and fail-when-full send names the field and its rule; the refused call leaves nothing behind; the detail is per thread, emptied by create/open/unlink/attach, never NULL. */
#include "ipcq.h"
#include "testutil.h"

#include <sys/stat.h>

/* The detail must hold every needle (case-sensitive); NULL ends the list. */
static void detail_has_(const char *file, int line, const char *what, const char *n1,
			const char *n2)
{
	const char *d = ipcq_errdetail();
	if (d == NULL) {
		fprintf(stderr, "%s:%d: %s: ipcq_errdetail() returned NULL\n", file, line, what);
		exit(1);
	}
	if ((n1 && !strstr(d, n1)) || (n2 && !strstr(d, n2))) {
		fprintf(stderr, "%s:%d: %s: detail \"%s\" lacks \"%s\"%s%s%s\n", file, line, what, d,
			n1 && !strstr(d, n1) ? n1 : n2, n2 ? " (or \"" : "", n2 ? n2 : "",
			n2 ? "\")" : "");
		exit(1);
	}
}
#define DETAIL_HAS(what, n1, n2) detail_has_(__FILE__, __LINE__, what, n1, n2)

/* expr must return want, and the detail must name n1 and n2. */
#define REFUSED(expr, want, n1, n2)                                              \
	do {                                                                    \
		CHECK_RC(expr, want);                                            \
		DETAIL_HAS(#expr, n1, n2);                                       \
	} while (0)

static int path_exists(const char *name)
{
	char path[300];
	struct stat st;
	snprintf(path, sizeof(path), "/dev/shm/ipcq.%s", name);
	return lstat(path, &st) == 0;
}

/* Files of this process's fallback creates (.ipcq-new.<pid>.*): none may stay. */
static int tmp_files_of_mine(void)
{
	char prefix[64];
	struct dirent *e;
	int n = 0;
	DIR *d = opendir("/dev/shm");
	CHECK(d != NULL);
	snprintf(prefix, sizeof(prefix), ".ipcq-new.%d.", (int)getpid());
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

/* ipcq_create(name, cfg) must fail with want, name n1/n2, and leave nothing. */
static void create_refused(const char *label, const struct ipcq_config *cfg, int want,
			   const char *n1, const char *n2)
{
	const char *name = t_qname("cfg");
	struct ipcq *q = NULL;
	int rc = ipcq_create(name, cfg, &q);
	if (rc != want)
		T_FAIL("%s: ipcq_create returned %d (%s), expected %d (%s)", label, rc,
		       ipcq_strerror(rc), want, ipcq_strerror(want));
	DETAIL_HAS(label, n1, n2);
	CHECK(q == NULL);
	if (path_exists(name))
		T_FAIL("%s: the refused create left /dev/shm/ipcq.%s", label, name);
	if (tmp_files_of_mine())
		T_FAIL("%s: the refused create left a temporary file", label);
}

static void config_fields(void)
{
	struct ipcq_config c;
#define BAD(field, value, n1, n2)                                                \
	do {                                                                     \
		c = (struct ipcq_config)IPCQ_CONFIG_INIT;                        \
		c.field = value;                                                 \
		create_refused(#field " = " #value, &c, -EINVAL, n1, n2);        \
	} while (0)
	BAD(capacity, 1000, "capacity 1000 is not a power of two", "[2, 16777216]");
	BAD(capacity, 1, "capacity 1 ", "power of two");
	BAD(capacity, 1u << 25, "capacity 33554432", "power of two");
	BAD(max_msg_size, 0, "max_msg_size 0", "[1, 16777216]");
	BAD(max_msg_size, (16u << 20) + 1, "max_msg_size 16777217", NULL);
	BAD(mode, 0666, "mode 0666: others may not read or write a queue", "0600, 0640 or 0660");
	BAD(mode, 0604, "mode 0604", "others");
	BAD(mode, 01600, "mode 01600", "permission bits");
	BAD(mode, 0400, "mode 0400", "owner");
	BAD(mode, 0620, "mode 0620", "group");
	BAD(wait_strategy, 0, "wait_strategy 0", "IPCQ_WAIT_DEFAULT is for attach options");
	BAD(wait_strategy, 9, "wait_strategy 9", "IPCQ_WAIT_ADAPTIVE");
	BAD(spin_count, 1000001, "spin_count 1000001", "1000000");
	BAD(yield_count, 2000000, "yield_count 2000000", "1000000");
	BAD(max_participants, 0, "max_participants 0", "[1, 4096]");
	BAD(max_participants, 4097, "max_participants 4097", NULL);
	BAD(side_capacity, 3, "side_capacity 3", "power of two");
	BAD(max_deliveries, 0, "max_deliveries 0", "[1, 255]");
	BAD(max_deliveries, 256, "max_deliveries 256", NULL);
	BAD(lease_capacity, (1u << 24) + 1, "lease_capacity 16777217", "IPCQ_AUTO");
	BAD(grace_us, 99, "grace_us 99", "[100, 60000000]");
	BAD(dedup_capacity, 4097, "dedup_capacity 4097", "4096");
	BAD(high_watermark, 2000, "watermarks high 2000, low 0", "capacity (1024)");
	BAD(numa_node, -3, "numa_node -3", "IPCQ_NUMA_LOCAL");
	BAD(numa_node, 1024, "numa_node 1024", "0..1023");
	/* a node number in range that this machine does not have */
	BAD(numa_node, 1000, "NUMA node 1000 does not exist", "nodes with memory:");
	BAD(max_groups, 65, "max_groups 65", "above 64");
	BAD(ttl_ms, 2147483649u, "ttl_ms 2147483649", "above");
	BAD(flags, 8, "unknown IPCQ_CF_* bits 0x8", "flags");
	BAD(retry_factor, 17, "retry_factor 17", "[1, 16]");
	BAD(retry_base_us, 3600000001u, "retry backoff base 3600000001 us", "an hour");
	BAD(size, 8, "config size 8", "IPCQ_CONFIG_INIT");
	BAD(size, sizeof(struct ipcq_config) + 4, "config size", "struct ipcq_config");
#undef BAD
	c = (struct ipcq_config)IPCQ_CONFIG_INIT;
	c.high_watermark = 10;
	c.low_watermark = 10;
	create_refused("low == high watermark", &c, -EINVAL, "watermarks high 10, low 10",
		       "low_watermark < high_watermark");
	/* too large for IPCQ_SEGMENT_MAX: not an -EINVAL, still explained */
	c = (struct ipcq_config)IPCQ_CONFIG_INIT;
	c.capacity = 1u << 24;
	c.max_msg_size = 16u << 20;
	create_refused("huge", &c, -EFBIG, "IPCQ_SEGMENT_MAX", "capacity");
}

static void names(void)
{
	struct ipcq_config c = IPCQ_CONFIG_INIT;
	struct ipcq *q = NULL;
	char longname[IPCQ_NAME_MAX + 2];

	REFUSED(ipcq_create("orders/1", &c, &q), -EINVAL,
		"name 'orders/1': only letters, digits, '.', '_' and '-'", "'/' at byte 6");
	REFUSED(ipcq_create("", &c, &q), -EINVAL, "name is empty", "letters");
	REFUSED(ipcq_create(NULL, &c, &q), -EINVAL, "name is NULL", NULL);
	REFUSED(ipcq_create(".hidden", &c, &q), -EINVAL, "name '.hidden'", "may not start with '.'");
	REFUSED(ipcq_create("a b", &c, &q), -EINVAL, "name 'a b'", "' ' at byte 1");
	/* a control byte is shown escaped, never raw */
	REFUSED(ipcq_create("bad\033[2Jname", &c, &q), -EINVAL, "\\x1b at byte 3", NULL);
	CHECK(strchr(ipcq_errdetail(), '\033') == NULL);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	REFUSED(ipcq_create(longname, &c, &q), -ENAMETOOLONG, "is longer than 200 bytes", "...");
	CHECK(q == NULL);
	REFUSED(ipcq_open("orders/1", &q), -EINVAL, "name 'orders/1'", NULL);
	REFUSED(ipcq_open_readonly("x/y", &q), -EINVAL, "name 'x/y'", NULL);
	REFUSED(ipcq_unlink("orders/1"), -EINVAL, "name 'orders/1'", NULL);
	REFUSED(ipcq_create(t_qname("out"), &c, NULL), -EINVAL, "out is NULL", NULL);
	REFUSED(ipcq_open(t_qname("out"), NULL), -EINVAL, "out is NULL", NULL);
	REFUSED(ipcq_config_init(NULL), -EINVAL, "cfg is NULL", NULL);
	REFUSED(ipcq_attach_opts_init(NULL), -EINVAL, "opts is NULL", NULL);
}

/* Write @len bytes of @data as the segment file of @name, mode 0600. */
static void plant(const char *name, const void *data, size_t len)
{
	char path[300];
	snprintf(path, sizeof(path), "/dev/shm/ipcq.%s", name);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK(fchmod(fd, 0600) == 0);
	CHECK(write(fd, data, len) == (ssize_t)len);
	close(fd);
}

static void *read_segment(const char *name, size_t *len)
{
	char path[300];
	struct stat st;
	snprintf(path, sizeof(path), "/dev/shm/ipcq.%s", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0 && fstat(fd, &st) == 0);
	void *p = malloc((size_t)st.st_size);
	CHECK(p != NULL);
	CHECK(pread(fd, p, (size_t)st.st_size, 0) == st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

static void opening(void)
{
	struct ipcq *q = NULL, *r = NULL;
	char path[300];
	const char *name = t_qname("open");

	REFUSED(ipcq_open(name, &q), -ENOENT, "does not exist", name);
	REFUSED(ipcq_unlink(name), -ENOENT, "does not exist", name);
	REFUSED(ipcq_open_flags(name, 0x100, &q), -EINVAL, "flags 0x100", "IPCQ_OPEN_ANY_OWNER");

	CHECK_OK(ipcq_create(name, NULL, &q));
	CHECK_RC(ipcq_create(name, NULL, &r), -EEXIST);
	DETAIL_HAS("create of an existing name", "already exists", name);
	CHECK(r == NULL);

	/* a segment others may read */
	snprintf(path, sizeof(path), "/dev/shm/ipcq.%s", name);
	CHECK(chmod(path, 0644) == 0);
	REFUSED(ipcq_open(name, &r), -EPERM, "segment mode 0644", "others may read or write");
	REFUSED(ipcq_open_flags(name, IPCQ_OPEN_ANY_OWNER, &r), -EPERM, "segment mode 0644", NULL);
	CHECK(chmod(path, 0600) == 0);

	/* another user's: needs root to hand it over */
	if (geteuid() == 0) {
		CHECK(chown(path, 1000, 1000) == 0);
		REFUSED(ipcq_open(name, &r), -EPERM, "segment owned by uid 1000, not by this user",
			"IPCQ_OPEN_ANY_OWNER");
		CHECK_OK(ipcq_open_flags(name, IPCQ_OPEN_ANY_OWNER, &r));
		CHECK(ipcq_errdetail()[0] == '\0');
		ipcq_close(r);
		CHECK(chown(path, 0, 0) == 0);
	} else {
		printf("owner case not run: needs root to chown\n");
	}

	/* foreign and corrupt segments, built from a real one */
	size_t len;
	unsigned char *seg = read_segment(name, &len);
	const char *bad = t_qname("bad");
	uint32_t v;

	memcpy(&v, seg + 8, 4); /* layout_version */
	v += 1;
	memcpy(seg + 8, &v, 4);
	plant(bad, seg, len);
	REFUSED(ipcq_open(bad, &r), -EPROTO, "layout version", "this build reads version");
	CHECK_OK(ipcq_unlink(bad));
	v -= 1;
	memcpy(seg + 8, &v, 4);

	memcpy(&v, seg + 12, 4); /* format signature */
	v ^= 1;
	memcpy(seg + 12, &v, 4);
	plant(bad, seg, len);
	REFUSED(ipcq_open(bad, &r), -EPROTO, "format signature", "this build's");
	CHECK_OK(ipcq_unlink(bad));
	v ^= 1;
	memcpy(seg + 12, &v, 4);

	seg[0] ^= 0xff; /* magic */
	plant(bad, seg, len);
	REFUSED(ipcq_open(bad, &r), -EBADMSG, "not an ipcq queue", "magic");
	CHECK_OK(ipcq_unlink(bad));
	seg[0] ^= 0xff;

	memcpy(&v, seg + 28, 4); /* capacity */
	memcpy(seg + 28, &(uint32_t){ 1000 }, 4);
	plant(bad, seg, len);
	REFUSED(ipcq_open(bad, &r), -EBADMSG, "capacity = 1000", "corrupt");
	CHECK_OK(ipcq_unlink(bad));
	memcpy(seg + 28, &v, 4);

	plant(bad, seg, len - 4096);
	REFUSED(ipcq_open(bad, &r), -EBADMSG, "header says", "truncated");
	CHECK_OK(ipcq_unlink(bad));
	plant(bad, seg, 100);
	REFUSED(ipcq_open(bad, &r), -EBADMSG, "100 bytes", "smaller than an ipcq header");
	CHECK_OK(ipcq_unlink(bad));
	free(seg);

	/* names that are not queues */
	snprintf(path, sizeof(path), "/dev/shm/ipcq.%s", bad);
	CHECK(mkdir(path, 0700) == 0);
	REFUSED(ipcq_open(bad, &r), -EPERM, "is a directory", NULL);
	REFUSED(ipcq_unlink(bad), -EPERM, "a directory", "never removed");
	CHECK(rmdir(path) == 0);
	CHECK(symlink("/dev/null", path) == 0);
	REFUSED(ipcq_open(bad, &r), -ELOOP, "symbolic link", NULL);
	REFUSED(ipcq_unlink(bad), -EPERM, "a symbolic link", "never removed");
	CHECK(unlink(path) == 0);

	/* a successful open empties the detail */
	CHECK_OK(ipcq_open(name, &r));
	CHECK(ipcq_errdetail()[0] == '\0');
	ipcq_close(r);
	ipcq_close(q);
	CHECK_OK(ipcq_unlink(name));
}

static void attaching(void)
{
	const char *name = t_qname("att");
	struct ipcq_config c = IPCQ_CONFIG_INIT;
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	struct ipcq *q, *ro;

	c.capacity = 2;
	c.lease_capacity = 0;
	c.dedup_capacity = 0;
	CHECK_OK(ipcq_create(name, &c, &q));

	REFUSED(ipcq_attach(q, 0, NULL), -EINVAL, "roles 0x0", "IPCQ_ROLE_PRODUCER");
	REFUSED(ipcq_attach(q, 4, NULL), -EINVAL, "roles 0x4", NULL);
	o.full_policy = IPCQ_FULL_DROP_OLDEST;
	REFUSED(ipcq_attach(q, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, &o), -EINVAL,
		"IPCQ_FULL_DROP_OLDEST needs a handle attached as producer only", "not IPCQ_ROLE_CONSUMER");
	REFUSED(ipcq_attach(q, IPCQ_ROLE_CONSUMER, &o), -EINVAL, "producer only", NULL);
	o.full_policy = 7;
	REFUSED(ipcq_attach(q, IPCQ_ROLE_PRODUCER, &o), -EINVAL, "full_policy 7", "IPCQ_FULL_FAIL");
	o = (struct ipcq_attach_opts)IPCQ_ATTACH_OPTS_INIT;
	o.flags = IPCQ_ATTACH_ACK;
	REFUSED(ipcq_attach(q, IPCQ_ROLE_PRODUCER, &o), -EINVAL, "IPCQ_ATTACH_ACK needs the consumer role", NULL);
	REFUSED(ipcq_attach(q, IPCQ_ROLE_CONSUMER, &o), -EINVAL, "no lease pool", NULL);
	o.flags = IPCQ_ATTACH_DEDUP;
	o.name = "gw";
	REFUSED(ipcq_attach(q, IPCQ_ROLE_PRODUCER, &o), -EINVAL, "no dedup table", NULL);
	o = (struct ipcq_attach_opts)IPCQ_ATTACH_OPTS_INIT;
	o.name = "bad\nname";
	REFUSED(ipcq_attach(q, IPCQ_ROLE_PRODUCER, &o), -EINVAL, "participant name", "byte 3");
	o = (struct ipcq_attach_opts)IPCQ_ATTACH_OPTS_INIT;
	o.wait_strategy = 9;
	REFUSED(ipcq_attach(q, IPCQ_ROLE_PRODUCER, &o), -EINVAL, "wait_strategy 9", NULL);
	o = (struct ipcq_attach_opts)IPCQ_ATTACH_OPTS_INIT;
	o.reserved[1] = 3;
	REFUSED(ipcq_attach(q, IPCQ_ROLE_PRODUCER, &o), -EINVAL, "reserved[1] is 3", NULL);
	o = (struct ipcq_attach_opts)IPCQ_ATTACH_OPTS_INIT;
	o.size = 4;
	REFUSED(ipcq_attach(q, IPCQ_ROLE_PRODUCER, &o), -EINVAL, "attach opts size 4", NULL);
	/* nothing of the refused attaches holds an entry */
	struct ipcq_info info = { .size = sizeof(info) };
	CHECK_OK(ipcq_info(q, &info));
	CHECK(info.participants == 0 && info.participant_index == -1);

	CHECK_OK(ipcq_open_readonly(name, &ro));
	REFUSED(ipcq_attach(ro, IPCQ_ROLE_CONSUMER, NULL), -EPERM, "read-only handle", NULL);
	ipcq_close(ro);

	/* fail-when-full: a send that may wait forever is refused by the policy */
	o = (struct ipcq_attach_opts)IPCQ_ATTACH_OPTS_INIT;
	o.full_policy = IPCQ_FULL_FAIL;
	CHECK_OK(ipcq_attach(q, IPCQ_ROLE_PRODUCER, &o));
	CHECK_OK(ipcq_send(q, "a", 1, IPCQ_FOREVER));
	CHECK_OK(ipcq_send(q, "b", 1, IPCQ_FOREVER));
	REFUSED(ipcq_send(q, "c", 1, IPCQ_FOREVER), -EAGAIN, "IPCQ_FULL_FAIL",
		"whatever its timeout");
	REFUSED(ipcq_send(q, "c", 1, 1000000), -EAGAIN, "IPCQ_FULL_FAIL", NULL);
	CHECK(strstr(ipcq_strerror(-EAGAIN), "IPCQ_FULL_FAIL") != NULL);
	ipcq_close(q);
	CHECK_OK(ipcq_unlink(name));
}

/* What attach says beyond bad options: a second attach, a full participant
 * table, a held name, a full dedup table; and that a successful attach
 * empties what a failed one left. */
static void attach_states(void)
{
	const char *name = t_qname("ats");
	struct ipcq_config c = IPCQ_CONFIG_INIT;
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	struct ipcq *q1, *q2, *q3;

	c.max_participants = 2;
	c.dedup_capacity = 1;
	CHECK_OK(ipcq_create(name, &c, &q1));
	CHECK_OK(ipcq_open(name, &q2));
	CHECK_OK(ipcq_open(name, &q3));

	o.flags = IPCQ_ATTACH_DEDUP;
	o.name = "n1";
	CHECK_OK(ipcq_attach(q1, IPCQ_ROLE_PRODUCER, &o));
	CHECK(ipcq_errdetail()[0] == '\0');
	REFUSED(ipcq_attach(q1, IPCQ_ROLE_PRODUCER, NULL), -EALREADY, "already attached",
		"ipcq_detach()");

	/* the name is held by a live holder (this process, another handle) */
	REFUSED(ipcq_attach(q2, IPCQ_ROLE_PRODUCER, &o), -EBUSY,
		"producer name 'n1' is held by a live process", NULL);
	/* the one entry of the table is n1's */
	o.name = "n2";
	REFUSED(ipcq_attach(q2, IPCQ_ROLE_PRODUCER, &o), -ENOSPC,
		"the dedup table is full: all 1 names in use", "ipcq_dedup_remove()");
	CHECK(strstr(ipcq_strerror(-ENOSPC), "dedup table") != NULL);

	/* both entries held: a third handle finds none */
	CHECK_OK(ipcq_attach(q2, IPCQ_ROLE_CONSUMER, NULL));
	REFUSED(ipcq_attach(q3, IPCQ_ROLE_CONSUMER, NULL), -EUSERS,
		"all 2 participant entries are held by live processes", NULL);
	/* an entry freed: the same call now succeeds and leaves no detail */
	CHECK_OK(ipcq_detach(q2));
	CHECK_OK(ipcq_attach(q3, IPCQ_ROLE_CONSUMER, NULL));
	CHECK(ipcq_errdetail()[0] == '\0');

	/* a refused option, then a good attach: nothing stale either */
	CHECK_OK(ipcq_detach(q3));
	o = (struct ipcq_attach_opts)IPCQ_ATTACH_OPTS_INIT;
	o.wait_strategy = 9;
	REFUSED(ipcq_attach(q3, IPCQ_ROLE_CONSUMER, &o), -EINVAL, "wait_strategy 9", NULL);
	CHECK_OK(ipcq_attach(q3, IPCQ_ROLE_CONSUMER, NULL));
	CHECK(ipcq_errdetail()[0] == '\0');

	ipcq_close(q3);
	ipcq_close(q2);
	ipcq_close(q1);
	CHECK_OK(ipcq_unlink(name));
}

static void numa_pin(void)
{
	const char *name = t_qname("pin");
	struct ipcq *q;
	CHECK_OK(ipcq_create(name, NULL, &q));
	REFUSED(ipcq_pin_thread(q), -ENODEV, "IPCQ_NUMA_ANY", "no node to pin to");
	ipcq_close(q);
	CHECK_OK(ipcq_unlink(name));
}

static void *other_thread(void *arg)
{
	(void)arg;
	struct ipcq *q = NULL;
	int rc = ipcq_open("other/thread", &q);
	if (rc != -EINVAL || !strstr(ipcq_errdetail(), "other/thread"))
		return (void *)1;
	return NULL;
}

/* Each thread its own detail; strerror names both causes of -EPERM. */
static void per_thread(void)
{
	struct ipcq *q = NULL;
	pthread_t th;
	void *res;

	REFUSED(ipcq_open("mine/only", &q), -EINVAL, "mine/only", NULL);
	CHECK(pthread_create(&th, NULL, other_thread, NULL) == 0);
	CHECK(pthread_join(th, &res) == 0);
	CHECK(res == NULL);
	DETAIL_HAS("after another thread failed", "mine/only", NULL);

	const char *eperm = ipcq_strerror(-EPERM);
	CHECK(strstr(eperm, "attached") != NULL);
	CHECK(strstr(eperm, "another user") != NULL);
	CHECK(strstr(ipcq_strerror(-EINVAL), "ipcq_errdetail") != NULL);
}

int main(void)
{
	/* a thread that never failed has an empty detail, not NULL */
	CHECK(ipcq_errdetail() != NULL && ipcq_errdetail()[0] == '\0');
	config_fields();
	names();
	opening();
	attaching();
	attach_states();
	numa_pin();
	per_thread();
	return 0;
}
