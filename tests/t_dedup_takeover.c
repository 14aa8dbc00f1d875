/* A named producer killed after publishing a message and before recording it as its last sequence (send.published_unrecorded) is resumed exactly after that message by its restart, whether the message is still in the ring, claimed by a consumer that has not finished with it, already received, or the first of a batch whose rest was never written: the replay is refused as duplicates up to it, and a consumer gets every sequence once, in order, intact. */
#include "testutil.h"

#define CAPACITY 16u
#define MINLEN 16u
#define MAXLEN 200u
#define PNAME "np"     /* the producer's name */
#define PID_TAG 7u     /* producer id written into the messages */
#define K 5u           /* the sequence the first holder dies with */
#define BATCH 4u       /* the batch of the batch scenario: K..K+BATCH-1 */
#define MORE 6u        /* the restart sends up to K + MORE */
#define MAXSEQ 32u

enum where {
	IN_RING,  /* published, nobody has touched it */
	CLAIMED,  /* a consumer has claimed it and is frozen right there */
	RECEIVED, /* a consumer has received it */
	BATCHED,  /* the first of a batch; the others claimed, never written */
};

static const char *const where_str[] = {
	"in the ring", "claimed by a frozen consumer", "already received",
	"first of a batch, the rest unwritten",
};

struct shared {
	char qn[96];
	enum where w;
	uint64_t log;         /* highest sequence the producer was told accepted */
	uint64_t attempt;     /* highest sequence it passed to a send */
	uint64_t resumed;     /* ipcq_last_seq of the restart */
	uint64_t last;        /* the consumers' last sequence (order) */
	uint32_t got[MAXSEQ + 1];
	uint32_t stream;      /* msginfo.stream of the name */
};

static struct shared *sh;

static struct ipcq *attach_named(void)
{
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.name = PNAME;
	o.flags = IPCQ_ATTACH_DEDUP;
	return t_open_attach(sh->qn, IPCQ_ROLE_PRODUCER, &o);
}

static uint32_t fill(uint8_t *buf, uint64_t seq)
{
	uint32_t len = t_msg_len(PID_TAG, seq, MINLEN, MAXLEN);
	t_fill(buf, len, PID_TAG, seq);
	return len;
}

/* The first holder of the name: sends 1..K-1, then K (alone, or as the
 * first of a batch), and dies (or freezes) publishing K. */
static int first_holder(void *arg)
{
	uint8_t buf[BATCH][MAXLEN];
	if (arg)
		t_freeze_at("send.published_unrecorded", K);
	else
		t_crash_at("send.published_unrecorded", K);
	struct ipcq *q = attach_named();
	for (uint64_t s = 1; s < K; s++) {
		uint32_t len = fill(buf[0], s);
		sh->attempt = s;
		CHECK_RC(ipcq_send_seq(q, s, buf[0], len, IPCQ_NOWAIT), 0);
		sh->log = s;
	}
	if (sh->w == BATCHED) {
		struct ipcq_buf b[BATCH];
		for (unsigned i = 0; i < BATCH; i++) {
			b[i].data = buf[i];
			b[i].len = fill(buf[i], K + i);
		}
		sh->attempt = K + BATCH - 1;
		CHECK_RC(ipcq_send_batch(q, b, BATCH, IPCQ_NOWAIT), (int)BATCH);
	} else {
		uint32_t len = fill(buf[0], K);
		sh->attempt = K;
		CHECK_RC(ipcq_send_seq(q, K, buf[0], len, IPCQ_NOWAIT), 0);
	}
	fprintf(stderr, "first holder: survived its crash point\n");
	return 3;
}

/* The restart: takes the name over, checks where it resumes, replays the
 * last few sequences of its log and sends up to K + MORE. */
static int restart(void *arg)
{
	uint8_t buf[MAXLEN];
	uint64_t last = 0;
	(void)arg;
	struct ipcq *q = attach_named();
	CHECK_RC(ipcq_last_seq(q, &last), 0);
	sh->resumed = last;
	/* K was published, so it was accepted, although the dead holder
	 * never recorded it (nor learnt it: its log says K - 1) */
	if (last != K)
		T_FAIL("%s: the restart resumes at last_seq %" PRIu64 ", but the dead holder had"
		       " published %u (told accepted up to %" PRIu64 ", attempted up to %" PRIu64
		       ")%s", where_str[sh->w], last, K, sh->log, sh->attempt,
		       last < K ? ": its replay would deliver it twice" : ": a gap would open");
	for (uint64_t s = sh->log > 2 ? sh->log - 2 : 1; s <= K + MORE; s++) {
		uint32_t len = fill(buf, s);
		if (s > sh->attempt)
			sh->attempt = s;
		int rc = ipcq_send_seq(q, s, buf, len, IPCQ_NOWAIT);
		if (rc != (s <= K ? IPCQ_SEND_DUPLICATE : 0))
			T_FAIL("%s: replayed send_seq(%" PRIu64 ") after resuming at %" PRIu64
			       " returned %d (%s)", where_str[sh->w], s, last, rc,
			       rc < 0 ? ipcq_strerror(rc) : "");
	}
	CHECK_RC(ipcq_last_seq(q, &last), 0);
	CHECK(last == K + MORE);
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

struct cons_arg {
	uint64_t upto;
	int freeze; /* stop right after claiming K */
};

/* A consumer: receives until it has sequence upto, checking each message. */
static int consumer(void *arg)
{
	const struct cons_arg *a = (const struct cons_arg *)arg;
	uint64_t upto = a->upto;
	uint8_t buf[MAXLEN];
	if (a->freeze)
		t_freeze_at("recv.claimed", K);
	struct ipcq *q = t_open_attach(sh->qn, IPCQ_ROLE_CONSUMER, NULL);
	while (sh->last < upto) {
		struct ipcq_msginfo mi;
		uint32_t p;
		uint64_t seq;
		memset(&mi, 0, sizeof(mi));
		int len = ipcq_recv(q, buf, sizeof(buf), &mi, 10ll * 1000000000);
		if (len == -ETIMEDOUT)
			T_FAIL("%s: sequence %" PRIu64 " never arrived (last received %" PRIu64 ")",
			       where_str[sh->w], sh->last + 1, sh->last);
		if (len < 0)
			T_FAIL("ipcq_recv: %d (%s)", len, ipcq_strerror(len));
		CHECK(len >= (int)MINLEN);
		t_header(buf, &p, &seq);
		if (p != PID_TAG || seq < 1 || seq > MAXSEQ || seq > sh->attempt)
			T_FAIL("%s: message (%u, %" PRIu64 ") was never sent", where_str[sh->w], p, seq);
		if ((uint32_t)len != t_msg_len(PID_TAG, seq, MINLEN, MAXLEN) ||
		    t_verify(buf, (size_t)len, PID_TAG, seq) != 0)
			T_FAIL("%s: sequence %" PRIu64 ": content differs from what was sent",
			       where_str[sh->w], seq);
		if (mi.seq != seq || mi.deliveries != 1 || mi.flags != 0 || mi.stream == 0 ||
		    (sh->stream && mi.stream != sh->stream))
			T_FAIL("%s: sequence %" PRIu64 ": info seq %" PRIu64 " deliveries %u flags %#x"
			       " stream %u (the name's: %u)", where_str[sh->w], seq, mi.seq,
			       mi.deliveries, mi.flags, mi.stream, sh->stream);
		sh->stream = mi.stream;
		sh->got[seq]++;
		if (seq <= sh->last)
			T_FAIL("%s: sequence %" PRIu64 " after %" PRIu64 " (%s)", where_str[sh->w], seq,
			       sh->last, seq == sh->last ? "delivered twice" : "order broken");
		sh->last = seq;
	}
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

static pid_t spawn_consumer(uint64_t upto, int freeze)
{
	static struct cons_arg a;
	a = (struct cons_arg){ upto, freeze };
	return t_spawn(consumer, &a);
}

static void run(enum where w)
{
	struct ipcq_config cfg = t_config(CAPACITY, MAXLEN);
	cfg.dedup_capacity = 4;
	cfg.max_participants = 8;
	memset(sh, 0, sizeof(*sh));
	snprintf(sh->qn, sizeof(sh->qn), "%s", t_qname("dtake"));
	sh->w = w;
	struct ipcq *q = t_create(sh->qn, &cfg);
	pid_t frozen = 0;

	if (w == IN_RING) {
		/* frozen at the point first: the name is held, by a live
		 * process, until it is killed there */
		pid_t h = t_spawn(first_holder, (void *)1);
		t_wait_stopped(h, 30, "first holder");
		struct ipcq *o = NULL;
		struct ipcq_attach_opts ao = IPCQ_ATTACH_OPTS_INIT;
		ao.name = PNAME;
		ao.flags = IPCQ_ATTACH_DEDUP;
		CHECK_OK(ipcq_open(sh->qn, &o));
		CHECK_RC(ipcq_attach(o, IPCQ_ROLE_PRODUCER, &ao), -EBUSY);
		CHECK_RC(ipcq_close(o), 0);
		CHECK(kill(h, SIGKILL) == 0);
		t_reap_killed(h, SIGKILL);
	} else {
		t_wait_crashed(t_spawn(first_holder, NULL), 30, "first holder");
	}
	CHECK(sh->log == K - 1);
	CHECK(sh->attempt == (w == BATCHED ? K + BATCH - 1 : K));

	if (w == CLAIMED) {
		/* receives 1..K-1, then stops right after claiming K */
		frozen = spawn_consumer(K + MORE, 1);
		t_wait_stopped(frozen, 30, "consumer claiming K");
		CHECK(sh->last == K - 1);
	} else if (w == RECEIVED) {
		if (t_reap(spawn_consumer(K, 0)) != 0)
			T_FAIL("%s: consumer of 1..%u failed", where_str[w], K);
		CHECK(sh->last == K);
	}
	if (t_reap(t_spawn(restart, NULL)) != 0)
		T_FAIL("%s: the restart failed", where_str[w]);
	if (frozen) {
		t_resume(frozen);
		if (t_reap(frozen) != 0)
			T_FAIL("%s: the resumed consumer failed", where_str[w]);
	} else if (t_reap(spawn_consumer(K + MORE, 0)) != 0) {
		T_FAIL("%s: consumer failed", where_str[w]);
	}

	/* every sequence once; nothing left over */
	for (uint64_t s = 1; s <= MAXSEQ; s++)
		if (sh->got[s] != (s <= K + MORE ? 1u : 0u))
			T_FAIL("%s: sequence %" PRIu64 " delivered %u times", where_str[w], s,
			       sh->got[s]);
	struct ipcq_info in = t_info(q);
	if (in.depth != 0)
		T_FAIL("%s: %" PRIu64 " messages left in the queue", where_str[w], in.depth);
	struct ipcq_stats st;
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	CHECK_OK(ipcq_stats(q, &st, NULL, 0));
	if (st.takeovers != 1)
		T_FAIL("%s: %" PRIu64 " takeovers of the name, expected 1", where_str[w], st.takeovers);
	printf("%-40s resumed at %" PRIu64 ", %u sequences once each\n", where_str[w], sh->resumed,
	       K + MORE);
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_unlink(sh->qn), 0);
}

int main(void)
{
	t_need_points();
	sh = (struct shared *)t_shared(sizeof(*sh));
	t_watchdog(t_limit(60), "t_dedup_takeover", NULL);
	run(IN_RING);
	run(CLAIMED);
	run(RECEIVED);
	run(BATCHED);
	return 0;
}
