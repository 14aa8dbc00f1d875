/* Read-only handles: every call that would change a queue fails with -EPERM on one; ipcq_stats, ipcq_info, ipcq_list, the side-ring readers and ipcq-stat leave every byte of the segment as it was (a dead participant's work included); read permission alone is enough. */
#include <grp.h>
#include <libgen.h>
#include <limits.h>

#include "testutil.h"

#define CAP 16u
#define MAXLEN 64u
#define NOBODY 65534u /* uid and gid the read-permission check drops to, as root */

static const char *name;
static char stat_tool[PATH_MAX];

/* The whole segment file. */
static uint8_t *file_bytes(size_t *size)
{
	struct stat st;
	int fd = open(t_shm_path(name), O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0)
		T_FAIL("open %s: %s", t_shm_path(name), strerror(errno));
	uint8_t *b = (uint8_t *)malloc((size_t)st.st_size);
	CHECK(b != NULL);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, b + got, (size_t)st.st_size - got, (off_t)got);
		if (n <= 0)
			T_FAIL("read %s: %s", t_shm_path(name), n < 0 ? strerror(errno) : "short");
		got += (size_t)n;
	}
	close(fd);
	*size = got;
	return b;
}

/* The segment must still be exactly @before. */
static void same_bytes(const uint8_t *before, size_t size, const char *after_what)
{
	size_t n;
	uint8_t *now = file_bytes(&n);
	if (n != size)
		T_FAIL("after %s: the segment is %zu bytes, was %zu", after_what, n, size);
	for (size_t i = 0; i < n; i++)
		if (now[i] != before[i])
			T_FAIL("after %s: byte %zu of the segment changed (%#x -> %#x)", after_what, i,
			       before[i], now[i]);
	free(now);
}

static int list_cb(const char *n, void *arg)
{
	if (strcmp(n, name) == 0)
		(*(unsigned *)arg)++;
	return 0;
}

/* Run ipcq-stat with @args on the queue; it must exit 0. */
static void run_stat(const char *args)
{
	char cmd[PATH_MAX + 256];
	snprintf(cmd, sizeof(cmd), "'%s' %s >/dev/null 2>/tmp/t_readonly.%d.err", stat_tool, args,
		 (int)getpid());
	int rc = system(cmd);
	if (rc != 0) {
		fprintf(stderr, "ipcq-stat %s failed (status %#x); its errors:\n", args, rc);
		snprintf(cmd, sizeof(cmd), "cat /tmp/t_readonly.%d.err >&2", (int)getpid());
		if (system(cmd) != 0)
			fprintf(stderr, "(none)\n");
		T_FAIL("ipcq-stat %s", args);
	}
	snprintf(cmd, sizeof(cmd), "/tmp/t_readonly.%d.err", (int)getpid());
	unlink(cmd);
}

/* Every reader on handle @q, checked against what the setup left. */
static void read_all(struct ipcq *q, const char *who)
{
	struct ipcq_info in = t_info(q);
	if (in.side_depth != 2 || in.leased != 1 || in.capacity != CAP)
		T_FAIL("%s: ipcq_info: side %u leased %u capacity %u", who, in.side_depth, in.leased,
		       in.capacity);
	struct ipcq_stats s;
	struct ipcq_participant_stats ps[16];
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	int n = ipcq_stats(q, &s, ps, 16);
	if (n < 1)
		T_FAIL("%s: ipcq_stats returned %d (%s)", who, n, ipcq_strerror(n));
	unsigned dead = 0;
	for (int i = 0; i < n; i++)
		dead += !ps[i].alive;
	if (dead != 1)
		T_FAIL("%s: ipcq_stats lists %u dead participants, expected the one killed", who, dead);
	struct ipcq_poison p[4];
	int np = ipcq_poison_list(q, 0, p, 4);
	if (np != 2)
		T_FAIL("%s: ipcq_poison_list returned %d (%s)", who, np, ipcq_strerror(np));
	for (int i = 0; i < np; i++) {
		uint8_t buf[MAXLEN];
		struct ipcq_poison info;
		int len = ipcq_poison_peek(q, p[i].id, buf, sizeof(buf), &info);
		uint32_t prod;
		uint64_t seq;
		if (len < 16)
			T_FAIL("%s: ipcq_poison_peek returned %d (%s)", who, len, ipcq_strerror(len));
		t_header(buf, &prod, &seq);
		if (t_verify(buf, (size_t)len, 0, seq) != 0 || info.id != p[i].id)
			T_FAIL("%s: side-ring entry %" PRIu64 " differs from what was sent", who,
			       p[i].id);
	}
	unsigned found = 0;
	CHECK_RC(ipcq_list(list_cb, &found), 0);
	if (found != 1)
		T_FAIL("%s: ipcq_list saw the queue %u times", who, found);
	CHECK(ipcq_pressure(q) >= 0);
	CHECK(ipcq_numa_node(q) == IPCQ_NUMA_ANY);
}

/* Every call that would change the queue, on a read-only handle. */
static void refused_all(struct ipcq *r, uint64_t some_id)
{
	uint8_t buf[MAXLEN] = { 0 };
	struct ipcq_buf b = { buf, sizeof(buf) };
	struct ipcq_msginfo mi;
	struct ipcq_zmsg z;
	struct ipcq_recovery rep = { .size = sizeof(rep) };
	void *rb[1];
	uint64_t token = (1ull << 32) | 1; /* entry 0, generation 1: looks like a token */
	struct ipcq_attach_opts ack = IPCQ_ATTACH_OPTS_INIT;
	ack.flags = IPCQ_ATTACH_ACK;

	CHECK_RC(ipcq_attach(r, IPCQ_ROLE_PRODUCER, NULL), -EPERM);
	CHECK_RC(ipcq_attach(r, IPCQ_ROLE_CONSUMER, NULL), -EPERM);
	CHECK_RC(ipcq_attach(r, IPCQ_ROLE_CONSUMER, &ack), -EPERM);
	CHECK_RC(ipcq_send(r, buf, 16, IPCQ_NOWAIT), -EPERM);
	CHECK_RC(ipcq_send_seq(r, 1, buf, 16, IPCQ_NOWAIT), -EPERM);
	CHECK_RC(ipcq_send_batch(r, &b, 1, IPCQ_NOWAIT), -EPERM);
	CHECK_RC(ipcq_recv(r, buf, sizeof(buf), &mi, IPCQ_NOWAIT), -EPERM);
	CHECK_RC(ipcq_recv_batch(r, &b, &mi, 1, IPCQ_NOWAIT), -EPERM);
	CHECK_RC(ipcq_reserve(r, 1, rb, IPCQ_NOWAIT), -EPERM);
	CHECK_RC(ipcq_peek(r, &z, 1, IPCQ_NOWAIT), -EPERM);
	CHECK_RC(ipcq_ack(r, token), -EPERM);
	CHECK_RC(ipcq_nack(r, token, IPCQ_NACK_REQUEUE), -EPERM);
	CHECK_RC(ipcq_nack(r, token, IPCQ_NACK_POISON), -EPERM);
	CHECK_RC(ipcq_recover(r, &rep), -EPERM);
	CHECK_RC(ipcq_recover(r, NULL), -EPERM);
	CHECK_RC(ipcq_poison_replay(r, IPCQ_POISON_ALL), -EPERM);
	CHECK_RC(ipcq_poison_replay(r, some_id), -EPERM);
	CHECK_RC(ipcq_poison_purge(r, IPCQ_POISON_ALL), -EPERM);
	CHECK_RC(ipcq_poison_purge(r, some_id), -EPERM);
	CHECK_RC(ipcq_dedup_remove(r, "ro-producer"), -EPERM);
	/* nothing can be reserved, peeked or attached on it: nothing to
	 * commit, release or detach */
	CHECK_RC(ipcq_commit(r, NULL, 0), -EINVAL);
	CHECK_RC(ipcq_release(r), -EINVAL);
	CHECK_RC(ipcq_detach(r), -EINVAL);
}

/* The setup: messages, two side-ring entries, a named producer, and a
 * consumer that died holding a lease (work a writable attach would take
 * over at once). */
static int lease_and_die(void *arg)
{
	(void)arg;
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = IPCQ_ATTACH_ACK;
	struct ipcq *q = t_open_attach(name, IPCQ_ROLE_CONSUMER, &o);
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo mi;
	CHECK_OK(ipcq_recv(q, buf, sizeof(buf), &mi, IPCQ_NOWAIT));
	raise(SIGKILL);
	return 1;
}

static void setup(void)
{
	struct ipcq_config cfg = t_config(CAP, MAXLEN);
	cfg.side_capacity = 8;
	cfg.lease_capacity = 16;
	cfg.max_participants = 8;
	struct ipcq *c = t_create(name, &cfg);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = IPCQ_ATTACH_DEDUP;
	o.name = "ro-producer";
	struct ipcq *p = t_open_attach(name, IPCQ_ROLE_PRODUCER, &o);
	uint8_t buf[MAXLEN];
	for (uint64_t seq = 1; seq <= 10; seq++) {
		size_t len = t_msg_len(0, seq, 16, MAXLEN);
		t_fill(buf, len, 0, seq);
		CHECK_RC(ipcq_send_seq(p, seq, buf, len, IPCQ_NOWAIT), 0);
	}
	o = (struct ipcq_attach_opts)IPCQ_ATTACH_OPTS_INIT;
	o.flags = IPCQ_ATTACH_ACK;
	struct ipcq *a = t_open_attach(name, IPCQ_ROLE_CONSUMER, &o);
	struct ipcq_msginfo mi;
	for (unsigned i = 0; i < 3; i++) {
		CHECK_OK(ipcq_recv(a, buf, sizeof(buf), &mi, IPCQ_NOWAIT));
		if (i < 2)
			CHECK_RC(ipcq_nack(a, mi.token, IPCQ_NACK_POISON), 1);
		else
			CHECK_RC(ipcq_ack(a, mi.token), 0);
	}
	CHECK_OK(ipcq_recv(a, buf, sizeof(buf), &mi, IPCQ_NOWAIT));
	CHECK_RC(ipcq_ack(a, mi.token), 0);
	CHECK_RC(ipcq_close(a), 0);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_close(c), 0);
	t_wait_crashed(t_spawn(lease_and_die, NULL), 20, "consumer dying with a lease");
}

/* Read permission only: as a user that may read the segment and not
 * write it.  Runs in a child (which drops root first, when root). */
static int read_only_user(void *arg)
{
	(void)arg;
	struct ipcq *q = NULL;
	if (geteuid() == 0) {
		if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
			T_FAIL("dropping root: %s", strerror(errno));
		CHECK(geteuid() == NOBODY);
	}
	if (access(t_shm_path(name), W_OK) == 0 || access(t_shm_path(name), R_OK) != 0)
		T_FAIL("the segment should be readable and not writable here");
	CHECK_RC(ipcq_open(name, &q), -EACCES);
	CHECK_RC(ipcq_open_readonly(name, &q), 0);
	refused_all(q, 1);
	read_all(q, "read-only handle, read permission only");
	CHECK_RC(ipcq_close(q), 0);
	run_stat(name);
	run_stat("--json");
	return 0;
}

int main(int argc, char **argv)
{
	(void)argc;
	char self[PATH_MAX];
	snprintf(self, sizeof(self), "%s", argv[0]);
	snprintf(stat_tool, sizeof(stat_tool), "%s/../ipcq-stat", dirname(self));
	if (access(stat_tool, X_OK) != 0)
		T_FAIL("%s: %s (make build-tests builds the tools)", stat_tool, strerror(errno));
	t_watchdog(t_limit(60), "t_readonly", NULL);
	name = t_qname("ro");
	setup();

	size_t size;
	uint8_t *before = file_bytes(&size);

	/* a read-only handle: refused, reads, and the bytes stay */
	struct ipcq *r = NULL;
	CHECK_RC(ipcq_open_readonly(name, &r), 0);
	struct ipcq_poison p;
	CHECK_RC(ipcq_poison_list(r, 0, &p, 1), 1);
	refused_all(r, p.id);
	same_bytes(before, size, "the refused calls on a read-only handle");
	read_all(r, "read-only handle");
	same_bytes(before, size, "ipcq_info, ipcq_stats, ipcq_poison_list/peek, ipcq_list");
	CHECK_RC(ipcq_close(r), 0);
	same_bytes(before, size, "ipcq_close of a read-only handle");

	/* the readers write nothing through a writable handle either */
	struct ipcq *w = NULL;
	CHECK_RC(ipcq_open(name, &w), 0);
	read_all(w, "writable handle, not attached");
	CHECK_RC(ipcq_close(w), 0);
	same_bytes(before, size, "the readers on a writable handle that never attached");

	/* the monitoring tool, every output */
	char args[256];
	snprintf(args, sizeof(args), "'%s'", name);
	run_stat(args);
	snprintf(args, sizeof(args), "--json '%s'", name);
	run_stat(args);
	snprintf(args, sizeof(args), "--prometheus '%s'", name);
	run_stat(args);
	run_stat("");
	run_stat("--json");
	same_bytes(before, size, "ipcq-stat");

	/* read permission alone: the file readable by its owner only (and,
	 * as root, that owner an unprivileged user the check runs as) */
	if (chmod(t_shm_path(name), 0400) != 0)
		T_FAIL("chmod 0400 %s: %s", t_shm_path(name), strerror(errno));
	if (geteuid() == 0 && chown(t_shm_path(name), NOBODY, NOBODY) != 0)
		T_FAIL("chown %s: %s", t_shm_path(name), strerror(errno));
	if (t_reap(t_spawn(read_only_user, NULL)) != 0)
		T_FAIL("reading with read permission only failed");
	same_bytes(before, size, "a read-only user's calls and ipcq-stat");
	printf("read-only handles: every mutating call -EPERM, %zu segment bytes unchanged by the"
	       " readers and ipcq-stat, read permission enough (%s)\n", size,
	       geteuid() == 0 ? "as uid 65534" : "file mode 0400");
	free(before);
	return 0;
}
