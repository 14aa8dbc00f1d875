/* Odds and ends of the API: a fast-mode message whose consumers keep dying is quarantined after max_deliveries; ipcq_list; creates racing opens of one name; the library never writes to stdout or stderr; no system call on the uncontended hot path (seccomp). */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>

#include "testutil.h"

#define MS 1000000ll
#define GRACE_US 2000u

/* ---- quarantine in fast mode ------------------------------------------------ */

#define QMAX 3u /* max_deliveries */

struct qstate {
	const char *name;
	uint32_t deliveries; /* what the last victim was given */
	uint32_t flags;
	uint64_t seq;
	int holding;
};

static struct qstate *qs;

/* A fast zero-copy consumer: peeks one message and holds it until the
 * parent kills it. */
static int q_holder(void *arg)
{
	(void)arg;
	struct ipcq *q = t_open_attach(qs->name, IPCQ_ROLE_CONSUMER, NULL);
	struct ipcq_zmsg z;
	CHECK_RC(ipcq_peek(q, &z, 1, 10000 * MS), 1);
	uint32_t p;
	t_header(z.data, &p, &qs->seq);
	qs->deliveries = z.info.deliveries;
	qs->flags = z.info.flags;
	__atomic_store_n(&qs->holding, 1, __ATOMIC_SEQ_CST);
	for (;;)
		pause();
}

/* A fast copying consumer that dies at a crash point (debug builds). */
static int q_crasher(void *arg)
{
	t_crash_at((const char *)arg, 1);
	struct ipcq *q = t_open_attach(qs->name, IPCQ_ROLE_CONSUMER, NULL);
	uint8_t buf[64];
	struct ipcq_msginfo mi;
	int rc = ipcq_recv(q, buf, sizeof(buf), &mi, 10000 * MS);
	fprintf(stderr, "crasher: ipcq_recv returned %d (%s) without dying at %s\n", rc,
		ipcq_strerror(rc), (const char *)arg);
	return 3;
}

static void send_msg(struct ipcq *p, uint64_t seq)
{
	uint8_t buf[64];
	size_t len = t_msg_len(0, seq, 16, sizeof(buf));
	t_fill(buf, len, 0, seq);
	CHECK_RC(ipcq_send(p, buf, len, IPCQ_NOWAIT), 0);
}

/*
 * Message 1 alone in the queue; each consumer that gets it dies holding
 * it (killed holding its peek, or at a crash point inside ipcq_recv);
 * the next one adopts it with the count raised.  After max_deliveries
 * deliveries it is quarantined (CONSUMER_CRASHED) instead of delivered,
 * and message 2 behind it flows.
 */
static void quarantine(int crash_points)
{
	const char *label = crash_points ? "quarantine, ipcq_recv dying at crash points"
					 : "quarantine, ipcq_peek holders killed";
	qs->name = t_qname("quar");
	struct ipcq_config cfg = t_config(8, 64);
	cfg.grace_us = GRACE_US;
	cfg.max_deliveries = QMAX;
	cfg.side_capacity = 4;
	cfg.max_participants = 8;
	struct ipcq *pq = t_create(qs->name, &cfg);
	CHECK_RC(ipcq_attach(pq, IPCQ_ROLE_PRODUCER, NULL), 0);
	send_msg(pq, 1);
	for (uint32_t d = 1; d <= QMAX; d++) {
		if (crash_points) {
			/* the first dies after its claim, the others after the
			 * copy of what they adopted (the count raised) */
			const char *pt = d == 1 ? "recv.claimed" : "recv.adopted_copied";
			t_wait_crashed(t_spawn(q_crasher, (void *)(uintptr_t)pt), 20, pt);
			continue;
		}
		qs->holding = 0;
		pid_t v = t_spawn(q_holder, NULL);
		T_AWAIT_KIDS(__atomic_load_n(&qs->holding, __ATOMIC_SEQ_CST), 20);
		uint32_t want_flags = d > 1 ? IPCQ_MSG_REDELIVERED : 0;
		if (qs->seq != 1 || qs->deliveries != d || qs->flags != want_flags)
			T_FAIL("[%s] consumer %u got message %" PRIu64 " with deliveries %u flags 0x%x,"
			       " expected message 1, deliveries %u, flags 0x%x", label, d, qs->seq,
			       qs->deliveries, qs->flags, d, want_flags);
		kill(v, SIGKILL);
		t_wait_crashed(v, 20, "holder");
	}
	/* the next consumer quarantines it and receives message 2 */
	struct ipcq *c = t_open_attach(qs->name, IPCQ_ROLE_CONSUMER, NULL);
	uint8_t buf[64];
	struct ipcq_msginfo mi;
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), &mi, 50 * MS), -ETIMEDOUT);
	if (t_info(pq).side_depth != 1)
		T_FAIL("[%s] after %u deaths the message is not in the side ring (side depth %u)",
		       label, QMAX, t_info(pq).side_depth);
	send_msg(pq, 2);
	int rc = ipcq_recv(c, buf, sizeof(buf), &mi, 1000 * MS);
	CHECK(rc > 0);
	uint32_t p;
	uint64_t seq;
	t_header(buf, &p, &seq);
	if (seq != 2 || mi.deliveries != 1 || mi.flags != 0)
		T_FAIL("[%s] after the quarantine: message %" PRIu64 " deliveries %u flags 0x%x", label,
		       seq, mi.deliveries, mi.flags);
	struct ipcq_poison e;
	CHECK_RC(ipcq_poison_list(pq, 0, &e, 1), 1);
	if (e.reason != IPCQ_REASON_CONSUMER_CRASHED || e.deliveries != QMAX || e.seq != 1 ||
	    (int32_t)e.producer != t_info(pq).participant_index)
		T_FAIL("[%s] side-ring entry: reason %u deliveries %u seq %" PRIu64 " producer %u",
		       label, e.reason, e.deliveries, e.seq, e.producer);
	CHECK_RC(ipcq_poison_peek(pq, e.id, buf, sizeof(buf), NULL), (int)t_msg_len(0, 1, 16, 64));
	CHECK(t_verify(buf, t_msg_len(0, 1, 16, 64), 0, 1) == 0);
	struct ipcq_stats s;
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	CHECK_OK(ipcq_stats(pq, &s, NULL, 0));
	/* one adoption per death, the last one's adopter quarantined it */
	if (s.side_by_reason[IPCQ_REASON_CONSUMER_CRASHED] != 1 || s.redelivered != QMAX)
		T_FAIL("[%s] stats: side_by_reason[CRASHED] %u, redelivered %" PRIu64 " (expected 1,"
		       " %u)", label, s.side_by_reason[IPCQ_REASON_CONSUMER_CRASHED], s.redelivered,
		       QMAX);
	struct ipcq_info in = t_info(pq);
	CHECK(in.depth == 0);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(pq), 0);
	CHECK_RC(ipcq_unlink(qs->name), 0);
	printf("%s: quarantined after %u deliveries ok\n", label, QMAX);
}

/* ---- ipcq_list ------------------------------------------------------------- */

struct seen {
	const char *names[3];
	unsigned count[3];
	unsigned calls;
	int stop_after;
};

static int list_cb(const char *n, void *arg)
{
	struct seen *s = (struct seen *)arg;
	s->calls++;
	for (unsigned i = 0; i < 3; i++)
		if (s->names[i] && strcmp(n, s->names[i]) == 0)
			s->count[i]++;
	if (strchr(n, ' ') || strchr(n, '/'))
		T_FAIL("ipcq_list reported an invalid name \"%s\"", n);
	return s->stop_after && s->calls == (unsigned)s->stop_after ? 42 : 0;
}

static void test_list(void)
{
	struct seen s;
	memset(&s, 0, sizeof(s));
	CHECK_RC(ipcq_list(NULL, NULL), -EINVAL);
	for (unsigned i = 0; i < 3; i++) {
		s.names[i] = t_qname("list");
		struct ipcq *q = t_create(s.names[i], NULL);
		CHECK_RC(ipcq_close(q), 0);
	}
	/* a file with a name that is not a queue name is skipped */
	char bad[128];
	snprintf(bad, sizeof(bad), "/dev/shm/ipcq.bad name %d", (int)getpid());
	int fd = open(bad, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK_RC(ipcq_list(list_cb, &s), 0);
	for (unsigned i = 0; i < 3; i++)
		if (s.count[i] != 1)
			T_FAIL("ipcq_list: %s listed %u times", s.names[i], s.count[i]);
	/* a callback's non-zero return stops the listing and is returned */
	unsigned all = s.calls;
	memset(s.count, 0, sizeof(s.count));
	s.calls = 0;
	s.stop_after = 2;
	CHECK_RC(ipcq_list(list_cb, &s), 42);
	CHECK(s.calls == 2 && all >= 3);
	/* an unlinked queue is no longer listed */
	CHECK_RC(ipcq_unlink(s.names[1]), 0);
	memset(s.count, 0, sizeof(s.count));
	s.calls = 0;
	s.stop_after = 0;
	CHECK_RC(ipcq_list(list_cb, &s), 0);
	CHECK(s.count[0] == 1 && s.count[1] == 0 && s.count[2] == 1);
	unlink(bad);
	printf("ipcq_list ok (%u queues on this machine)\n", all);
}

/* ---- create racing open ---------------------------------------------------- */

#define RACERS 8u
#define ROUNDS 40u

struct race {
	pthread_barrier_t *go;
	char name[ROUNDS][96];
	unsigned created[ROUNDS], exists[ROUNDS], opened[ROUNDS], absent[ROUNDS];
};

static struct race *rc_;

/* A complete queue: the shape it was created with, and it works. */
static void check_complete(struct ipcq *q, unsigned id)
{
	struct ipcq_info in = t_info(q);
	if (in.capacity != 32 || in.max_msg_size != 128 || in.side_capacity != 8 ||
	    in.max_participants != RACERS + 2)
		T_FAIL("racer %u: opened a queue of capacity %u max %u side %u participants %u", id,
		       in.capacity, in.max_msg_size, in.side_capacity, in.max_participants);
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, NULL), 0);
	uint8_t buf[128];
	t_fill(buf, 40, id, 1);
	CHECK_RC(ipcq_send(q, buf, 40, IPCQ_NOWAIT), 0);
	int rc = ipcq_recv(q, buf, sizeof(buf), NULL, 10000 * MS);
	CHECK(rc == 40);
	CHECK_RC(ipcq_detach(q), 0);
}

static int racer(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	struct ipcq_config cfg = t_config(32, 128);
	cfg.side_capacity = 8;
	cfg.max_participants = RACERS + 2;
	for (unsigned r = 0; r < ROUNDS; r++) {
		struct ipcq *q = NULL;
		pthread_barrier_wait(rc_->go);
		/* half create, half open, alternating who does what */
		if ((id + r) % 2 == 0) {
			int rc = ipcq_create(rc_->name[r], &cfg, &q);
			if (rc == 0) {
				__atomic_add_fetch(&rc_->created[r], 1, __ATOMIC_SEQ_CST);
			} else if (rc == -EEXIST) {
				__atomic_add_fetch(&rc_->exists[r], 1, __ATOMIC_SEQ_CST);
				/* the name exists: it is a complete queue */
				CHECK_RC(ipcq_open(rc_->name[r], &q), 0);
			} else {
				T_FAIL("racer %u round %u: ipcq_create: %d (%s)", id, r, rc,
				       ipcq_strerror(rc));
			}
		} else {
			int rc = ipcq_open(rc_->name[r], &q);
			if (rc == -ENOENT) {
				__atomic_add_fetch(&rc_->absent[r], 1, __ATOMIC_SEQ_CST);
				q = NULL;
			} else if (rc == 0) {
				__atomic_add_fetch(&rc_->opened[r], 1, __ATOMIC_SEQ_CST);
			} else {
				T_FAIL("racer %u round %u: ipcq_open: %d (%s), expected 0 or -ENOENT", id,
				       r, rc, ipcq_strerror(rc));
			}
		}
		if (q) {
			check_complete(q, id);
			CHECK_RC(ipcq_close(q), 0);
		}
	}
	return 0;
}

static void test_create_race(void)
{
	rc_ = (struct race *)t_shared(sizeof(*rc_));
	rc_->go = t_barrier(RACERS);
	for (unsigned r = 0; r < ROUNDS; r++) {
		snprintf(rc_->name[r], sizeof(rc_->name[r]), "%s", t_qname("race"));
		t_cleanup(rc_->name[r]);
	}
	pid_t pids[RACERS];
	for (unsigned i = 0; i < RACERS; i++)
		pids[i] = t_spawn(racer, (void *)(uintptr_t)i);
	for (unsigned i = 0; i < RACERS; i++)
		if (t_reap_watch(pids[i], 60, "racer") != 0)
			T_FAIL("racer %u failed", i);
	unsigned opened = 0, absent = 0;
	for (unsigned r = 0; r < ROUNDS; r++) {
		if (rc_->created[r] != 1 || rc_->exists[r] != RACERS / 2 - 1)
			T_FAIL("round %u: %u creates succeeded, %u got -EEXIST (expected 1 and %u)", r,
			       rc_->created[r], rc_->exists[r], RACERS / 2 - 1);
		opened += rc_->opened[r];
		absent += rc_->absent[r];
		CHECK_RC(ipcq_unlink(rc_->name[r]), 0);
	}
	printf("create racing open: %u rounds of %u processes, one create each; %u opens saw a"
	       " complete queue, %u found no name\n", ROUNDS, RACERS, opened, absent);
}

/* ---- a silent library -------------------------------------------------------- */

static int dying_peeker(void *arg)
{
	struct ipcq *q = t_open_attach((const char *)arg, IPCQ_ROLE_CONSUMER, NULL);
	struct ipcq_zmsg z;
	CHECK_RC(ipcq_peek(q, &z, 1, IPCQ_NOWAIT), 1);
	raise(SIGKILL);
	return 1;
}

/* Much of the API, its error paths and a crash recovery included. */
static int workload(void *arg)
{
	(void)arg;
	const char *name = t_qname("silent");
	struct ipcq *q = NULL, *x = NULL;
	uint8_t buf[256];
	struct ipcq_msginfo mi;
	struct ipcq_config cfg = t_config(3, 64);
	CHECK_RC(ipcq_create(name, &cfg, &q), -EINVAL); /* not a power of two */
	CHECK_RC(ipcq_create("", NULL, &q), -EINVAL);
	CHECK_RC(ipcq_create("a/b", NULL, &q), -EINVAL);
	CHECK_RC(ipcq_open(name, &q), -ENOENT);
	CHECK_RC(ipcq_unlink(name), -ENOENT);
	/* a file that is not a segment */
	{
		char path[256];
		snprintf(path, sizeof(path), "%s", t_shm_path(name));
		int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		CHECK(fd >= 0);
		memset(buf, 0x5a, sizeof(buf));
		CHECK(write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
		close(fd);
		int rc = ipcq_open(name, &q);
		CHECK(rc == -EBADMSG || rc == -EPROTO);
		CHECK_RC(ipcq_open_readonly(name, &q), rc);
		unlink(path);
	}
	cfg = t_config(16, 128);
	cfg.grace_us = GRACE_US;
	cfg.high_watermark = 12;
	cfg.low_watermark = 4;
	cfg.side_capacity = 4;
	q = t_create(name, &cfg);
	CHECK_RC(ipcq_create(name, &cfg, &x), -EEXIST);
	CHECK_RC(ipcq_send(q, buf, 1, IPCQ_NOWAIT), -EPERM);
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, NULL), 0);
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL), -EALREADY);
	CHECK_RC(ipcq_send(q, buf, 129, IPCQ_NOWAIT), -EMSGSIZE);
	CHECK_RC(ipcq_recv(q, buf, sizeof(buf), &mi, IPCQ_NOWAIT), -EAGAIN);
	CHECK_RC(ipcq_recv(q, buf, sizeof(buf), &mi, MS), -ETIMEDOUT);
	for (unsigned i = 0; i < 2000; i++) {
		int rc = ipcq_send(q, buf, 1 + i % 128, IPCQ_NOWAIT);
		CHECK(rc == 0 || rc == IPCQ_SEND_PRESSURE);
		CHECK_RC(ipcq_recv(q, buf, sizeof(buf), &mi, IPCQ_NOWAIT), (int)(1 + i % 128));
	}
	for (unsigned i = 0; i < 16; i++)
		CHECK_OK(ipcq_send(q, buf, 100, IPCQ_NOWAIT));
	CHECK_RC(ipcq_send(q, buf, 100, MS), -ETIMEDOUT);
	CHECK_RC(ipcq_pressure(q), 1);
	CHECK_RC(ipcq_recv(q, buf, 10, &mi, IPCQ_NOWAIT), -ENOBUFS);
	{
		struct ipcq_buf b[16];
		struct ipcq_msginfo m[16];
		uint8_t mem[16][128];
		for (unsigned i = 0; i < 16; i++)
			b[i] = (struct ipcq_buf){ mem[i], 128 };
		CHECK_RC(ipcq_recv_batch(q, b, m, 16, IPCQ_NOWAIT), 16);
		CHECK_RC(ipcq_send_batch(q, b, 8, IPCQ_NOWAIT), 8);
		CHECK_RC(ipcq_recv_batch(q, b, m, 16, IPCQ_NOWAIT), 8);
	}
	{
		void *rb[4];
		size_t lens[4] = { 10, 20, 30, 40 };
		struct ipcq_zmsg z[4];
		CHECK_RC(ipcq_reserve(q, 4, rb, IPCQ_NOWAIT), 4);
		CHECK_RC(ipcq_commit(q, lens, 3), 0);
		CHECK_RC(ipcq_peek(q, z, 4, IPCQ_NOWAIT), 3);
		CHECK_RC(ipcq_release(q), 0);
	}
	/* a consumer dies holding a message: recovered and delivered again */
	CHECK_OK(ipcq_send(q, buf, 50, IPCQ_NOWAIT));
	t_wait_crashed(t_spawn(dying_peeker, (void *)(uintptr_t)name), 20, "dying peeker");
	CHECK_RC(ipcq_recv(q, buf, sizeof(buf), &mi, 10000 * MS), 50);
	CHECK(mi.deliveries == 2);
	struct ipcq_recovery rep = { .size = sizeof(rep) };
	CHECK_OK(ipcq_recover(q, &rep));
	/* ack mode, the side ring, a named producer */
	{
		struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
		o.flags = IPCQ_ATTACH_ACK;
		struct ipcq *a = t_open_attach(name, IPCQ_ROLE_CONSUMER, &o);
		o = (struct ipcq_attach_opts)IPCQ_ATTACH_OPTS_INIT;
		o.flags = IPCQ_ATTACH_DEDUP;
		o.name = "silent-producer";
		struct ipcq *n = t_open_attach(name, IPCQ_ROLE_PRODUCER, &o);
		for (uint64_t s = 1; s <= 3; s++)
			CHECK_OK(ipcq_send_seq(n, s, buf, 30, IPCQ_NOWAIT));
		CHECK_RC(ipcq_send_seq(n, 2, buf, 30, IPCQ_NOWAIT), IPCQ_SEND_DUPLICATE);
		uint64_t last = 0;
		CHECK_RC(ipcq_last_seq(n, &last), 0);
		CHECK(last == 3);
		CHECK_OK(ipcq_recv(a, buf, sizeof(buf), &mi, IPCQ_NOWAIT));
		CHECK_RC(ipcq_nack(a, mi.token, IPCQ_NACK_REQUEUE), 0);
		CHECK_OK(ipcq_recv(a, buf, sizeof(buf), &mi, IPCQ_NOWAIT));
		CHECK_RC(ipcq_nack(a, mi.token, IPCQ_NACK_POISON), 1);
		CHECK_RC(ipcq_ack(a, mi.token), -ESTALE);
		CHECK_OK(ipcq_recv(a, buf, sizeof(buf), &mi, IPCQ_NOWAIT));
		CHECK_RC(ipcq_ack(a, mi.token), 0);
		CHECK_OK(ipcq_recv(a, buf, sizeof(buf), &mi, IPCQ_NOWAIT));
		CHECK_RC(ipcq_ack(a, mi.token), 0);
		struct ipcq_poison p;
		CHECK_RC(ipcq_poison_list(q, 0, &p, 1), 1);
		CHECK_OK(ipcq_poison_peek(q, p.id, buf, sizeof(buf), NULL));
		CHECK_RC(ipcq_poison_peek(q, p.id + 100, buf, sizeof(buf), NULL), -ENOENT);
		CHECK_RC(ipcq_poison_replay(q, p.id), 1);
		CHECK_OK(ipcq_recv(a, buf, sizeof(buf), &mi, IPCQ_NOWAIT));
		CHECK_RC(ipcq_nack(a, mi.token, IPCQ_NACK_POISON), 1);
		CHECK_RC(ipcq_poison_purge(q, IPCQ_POISON_ALL), 1);
		CHECK_RC(ipcq_close(n), 0);
		CHECK_RC(ipcq_dedup_remove(q, "silent-producer"), 0);
		CHECK_RC(ipcq_close(a), 0);
	}
	/* monitoring */
	{
		struct ipcq *r = NULL;
		struct ipcq_stats s;
		struct ipcq_participant_stats ps[8];
		memset(&s, 0, sizeof(s));
		s.size = sizeof(s);
		CHECK_RC(ipcq_open_readonly(name, &r), 0);
		CHECK_OK(ipcq_stats(r, &s, ps, 8));
		CHECK_RC(ipcq_recv(r, buf, sizeof(buf), &mi, IPCQ_NOWAIT), -EPERM);
		CHECK_RC(ipcq_close(r), 0);
		unsigned seen = 0;
		struct seen sn;
		memset(&sn, 0, sizeof(sn));
		sn.names[0] = name;
		CHECK_RC(ipcq_list(list_cb, &sn), 0);
		seen = sn.count[0];
		CHECK(seen == 1);
		CHECK(ipcq_numa_node(q) == IPCQ_NUMA_ANY);
		CHECK_RC(ipcq_pin_thread(q), -ENODEV);
		uint64_t on[4], total = 0;
		CHECK(ipcq_numa_placement(q, on, 4, &total) >= 0 || total == 0);
	}
	for (int e = 0; e < 140; e++)
		CHECK(ipcq_strerror(-e) != NULL);
	CHECK(ipcq_version() == IPCQ_VERSION && ipcq_version_string() != NULL);
	CHECK_RC(ipcq_detach(q), 0);
	CHECK_RC(ipcq_detach(q), -EINVAL);
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_unlink(name), 0);
	return 0;
}

/* Run the workload with stdout and stderr going to a file that must stay
 * empty: the library reports through return codes only. */
static void test_silent(void)
{
	char path[64];
	snprintf(path, sizeof(path), "/tmp/t_api_misc.%d.out", (int)getpid());
	int fd = open(path, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	fflush(NULL);
	int save1 = dup(1), save2 = dup(2);
	CHECK(save1 >= 0 && save2 >= 0);
	CHECK(dup2(fd, 1) == 1 && dup2(fd, 2) == 2);
	pid_t pid = t_spawn(workload, NULL);
	int st = t_wait_end_watch(pid, 60, "workload");
	fflush(NULL);
	CHECK(dup2(save1, 1) == 1 && dup2(save2, 2) == 2);
	close(save1);
	close(save2);
	struct stat sb;
	CHECK(fstat(fd, &sb) == 0);
	if (!t_status_ok(pid, st) || sb.st_size != 0) {
		char out[4096];
		ssize_t n = pread(fd, out, sizeof(out) - 1, 0);
		out[n > 0 ? n : 0] = '\0';
		fprintf(stderr, "what the workload wrote to stdout/stderr (%lld bytes):\n%s\n",
			(long long)sb.st_size, out);
		T_FAIL(t_status_ok(pid, st) ? "the library wrote to stdout or stderr"
					    : "the workload failed");
	}
	close(fd);
	unlink(path);
	printf("silent: a workload of the whole API, errors and a crash recovery included, wrote"
	       " nothing to stdout or stderr\n");
}

/* ---- no system call on the hot path ------------------------------------------- */

#if defined(__x86_64__)
#define T_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define T_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#define HOT_PAIRS 100000u

struct hot {
	int trapped;
	int syscall_nr;
	int failed_step;
	int failed_rc;
	unsigned done;
};

static struct hot *hot;

/* Leave with exit_group(2) itself, through a call the compiler does not
 * know to be noreturn: _exit() runs the sanitizers' exit checks, and
 * ASan prefixes every call of a noreturn function with a look at the
 * signal stack (sigaltstack(2)). */
static void hot_exit(int status)
{
	syscall(SYS_exit_group, status);
}

static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	hot->syscall_nr = si->si_syscall;
	hot->trapped = 1;
	hot_exit(3);
}

#define HOT_CHECK(step, expr, want)                                          \
	do {                                                                 \
		int r_ = (int)(expr);                                        \
		if (r_ != (want)) {                                          \
			hot->failed_step = (step);                           \
			hot->failed_rc = r_;                                 \
			hot_exit(2);                                         \
		}                                                            \
	} while (0)

/* One round of every non-blocking call of the hot path. */
static void hot_round(struct ipcq *q, struct ipcq *a, struct ipcq_buf *b, struct ipcq_msginfo *m)
{
	uint8_t buf[64] = { 0 };
	struct ipcq_msginfo mi;
	void *rb[4];
	size_t lens[4] = { 8, 16, 24, 32 };
	struct ipcq_zmsg z[4];
	HOT_CHECK(1, ipcq_send(q, buf, 32, IPCQ_NOWAIT), 0);
	HOT_CHECK(2, ipcq_recv(q, buf, sizeof(buf), &mi, IPCQ_NOWAIT), 32);
	HOT_CHECK(3, ipcq_send_batch(q, b, 4, IPCQ_NOWAIT), 4);
	HOT_CHECK(4, ipcq_recv_batch(q, b, m, 4, IPCQ_NOWAIT), 4);
	HOT_CHECK(5, ipcq_reserve(q, 4, rb, IPCQ_NOWAIT), 4);
	HOT_CHECK(6, ipcq_commit(q, lens, 4), 0);
	HOT_CHECK(7, ipcq_peek(q, z, 4, IPCQ_NOWAIT), 4);
	HOT_CHECK(8, ipcq_release(q), 0);
	HOT_CHECK(9, ipcq_send(q, buf, 32, IPCQ_NOWAIT), 0);
	HOT_CHECK(10, ipcq_recv(a, buf, sizeof(buf), &mi, IPCQ_NOWAIT), 32);
	HOT_CHECK(11, ipcq_ack(a, mi.token), 0);
	for (unsigned i = 0; i < 4; i++)
		b[i].len = 64;
}

static int hot_child(void *arg)
{
	const char *name = (const char *)arg;
	struct ipcq *q = t_open_attach(name, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, NULL);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = IPCQ_ATTACH_ACK;
	struct ipcq *a = t_open_attach(name, IPCQ_ROLE_CONSUMER, &o);
	uint8_t mem[4][64];
	struct ipcq_buf b[4];
	struct ipcq_msginfo m[4];
	for (unsigned i = 0; i < 4; i++)
		b[i] = (struct ipcq_buf){ mem[i], 64 };
	/* warm up: lazy bindings resolved, pages touched */
	for (unsigned i = 0; i < 1000; i++)
		hot_round(q, a, b, m);

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	CHECK(sigaction(SIGSYS, &sa, NULL) == 0);
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, T_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit_group, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		/* debug builds only: every crash point asks getpid() whether
		 * it was armed in this process (lib/crashpoint.c); release
		 * builds have no crash points and allow nothing else */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getpid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, T_HAVE_POINTS ? SECCOMP_RET_ALLOW : SECCOMP_RET_TRAP),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
	};
	struct sock_fprog prog = { (unsigned short)T_NELEM(f), f };
	CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
	CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0);
	for (unsigned i = 0; i < HOT_PAIRS; i++) {
		hot_round(q, a, b, m);
		hot->done = i + 1;
	}
	hot_exit(0); /* no exit handlers: they make system calls */
	return 0;
}

static void test_hot_path(void)
{
#ifndef T_AUDIT_ARCH
	T_FAIL("no seccomp architecture value for this machine: teach test_hot_path about it");
#else
	hot = (struct hot *)t_shared(sizeof(*hot));
	const char *name = t_qname("hot");
	struct ipcq_config cfg = t_config(64, 64);
	cfg.lease_capacity = 8;
	struct ipcq *x = t_create(name, &cfg);
	pid_t pid = t_spawn(hot_child, (void *)(uintptr_t)name);
	int st = t_wait_end_watch(pid, 120, "hot path");
	if (hot->trapped)
		T_FAIL("system call %d on the uncontended hot path (after %u rounds; see"
		       " /usr/include/asm/unistd_64.h)", hot->syscall_nr, hot->done);
	if (hot->failed_step)
		T_FAIL("hot path step %d returned %d (%s) after %u rounds", hot->failed_step,
		       hot->failed_rc, ipcq_strerror(hot->failed_rc), hot->done);
	if (!t_status_ok(pid, st) || hot->done != HOT_PAIRS)
		T_FAIL("the hot-path child ended after %u of %u rounds", hot->done, HOT_PAIRS);
	CHECK_RC(ipcq_close(x), 0);
	printf("hot path: %u rounds of send, recv, batches, reserve/commit, peek/release and an"
	       " ack-mode recv/ack, no system call%s\n", HOT_PAIRS,
	       T_HAVE_POINTS ? " but the debug build's crash points' getpid()" : "");
#endif
}

int main(void)
{
	unsetenv("IPCQ_CRASH");
	unsetenv("IPCQ_FREEZE");
	t_watchdog(t_limit(120), "t_api_misc", NULL);
	qs = (struct qstate *)t_shared(sizeof(*qs));
	quarantine(0);
	if (T_HAVE_POINTS)
		quarantine(1);
	test_list();
	test_create_race();
	test_silent();
	test_hot_path();
	return 0;
}
