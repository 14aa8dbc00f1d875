/* Named producers restarted 100+ times each, killed at random moments and at every producer/dedup crash point, replaying their last 1,000 messages: two consumers see every sequence exactly once, in order, intact. */
#define T_INTERNALS 1
#include "testutil.h"

#define NPROD 2
#define NCONS 2
#define REPLAY 1000     /* sequences re-sent from the producer's own log */
#define QUOTA_MAX 1500  /* new messages per life, at most */
#define FINAL_NEW 500   /* new messages of the last life */
#define MINLEN 16u
#define MAXLEN 200u

/* How a life ends (besides running out of quota). */
static const char *const methods[] = {
	NULL,                  /* SIGKILL from the parent at a random step */
	"send.claimed",
	NULL,
	"send.written",
	"send.published",
	NULL,
	"send.published_unrecorded",
	"send.dedup_recorded",
	"dedup.takeover",
};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

/* One producer's log, in memory shared with the parent (it survives the
 * producer's deaths, like a log file on disk would). */
struct plog {
	uint64_t log;       /* highest sequence known accepted: written after the send returned */
	uint64_t attempt;   /* highest sequence ever passed to a send: written before it */
	uint64_t step;      /* send calls in the current life */
	uint64_t dups;      /* IPCQ_SEND_DUPLICATE returns seen, all lives */
	uint64_t accepted;  /* 0 returns seen, all lives */
	uint64_t final;     /* the last life's last sequence, 0 until it ends */
	uint32_t attached;  /* lives that got through ipcq_attach() */
	uint32_t lives, killed, clean, crashpoint_hits;
	/* the current life (written by the parent before it starts it) */
	uint64_t quota;
	int final_life;
	char crash[64];
};

struct state {
	const char *qn;
	struct plog p[NPROD];
	uint32_t stream[NPROD];        /* msginfo.stream of each producer, learnt by consumers */
	uint64_t received;             /* messages received, every consumer */
	uint64_t words;                /* bitmap words per producer */
	uint64_t maxseq;
	pthread_barrier_t *start;
	uint64_t bits[];               /* NPROD * words: received sequences */
};

static struct state *g_st;

static void report(void)
{
	struct state *st = g_st;
	if (st == NULL)
		return;
	for (unsigned p = 0; p < NPROD; p++) {
		t_say("  producer ");
		t_say_u64(p);
		t_say(": life ");
		t_say_u64(st->p[p].lives);
		t_say(", log ");
		t_say_u64(st->p[p].log);
		t_say(", step ");
		t_say_u64(st->p[p].step);
		t_say("\n");
	}
	t_say("  received ");
	t_say_u64(__atomic_load_n(&st->received, __ATOMIC_RELAXED));
	t_say("\n");
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* [0, n) */
static uint64_t rnd(uint64_t *s, uint64_t n)
{
	return n ? rng_next(s) % n : 0;
}

/* ---- a producer life ---------------------------------------------------------- */

struct life_arg {
	struct state *st;
	unsigned id;
};

/* Print who the queue thinks holds the name of producer @id (after an
 * unexpected -EBUSY: its previous life is dead and reaped). */
static void diagnose(struct state *st, unsigned id)
{
	uint32_t stream = __atomic_load_n(&st->stream[id], __ATOMIC_SEQ_CST);
	struct t_peek pk;
	if (stream == 0)
		return;
	t_peek_open(&pk, st->qn);
	const struct ipcq_shm_dedup *d = t_peek_dedup(&pk, stream);
	uint64_t w = __atomic_load_n(&d->state, __ATOMIC_SEQ_CST);
	uint32_t h = IPCQ_ENT_OWNER(w);
	fprintf(stderr, "name prod%u: holder entry %u generation %u\n", id, h, IPCQ_ENT_GEN(w));
	if (h < pk.h.max_participants) {
		const struct ipcq_shm_participant *e = t_peek_part(&pk, (int32_t)h);
		uint32_t pid = __atomic_load_n(&e->pid, __ATOMIC_SEQ_CST);
		fprintf(stderr, "entry %u now: pid %u (%s), generation %u, state %u, dedup %u\n", h, pid,
			kill((pid_t)pid, 0) == 0 ? "alive" : "gone",
			__atomic_load_n(&e->generation, __ATOMIC_SEQ_CST),
			__atomic_load_n(&e->state, __ATOMIC_SEQ_CST),
			__atomic_load_n(&e->dedup, __ATOMIC_SEQ_CST));
	}
	t_peek_close(&pk);
}

static int producer_life(void *arg)
{
	const struct life_arg *a = (const struct life_arg *)arg;
	struct state *st = a->st;
	struct plog *pl = &st->p[a->id];
	char pname[16];
	uint8_t buf[MAXLEN];
	struct ipcq *q = NULL;
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;

	if (pl->crash[0] != '\0' && setenv("IPCQ_CRASH", pl->crash, 1) != 0)
		return 2;
	snprintf(pname, sizeof(pname), "prod%u", a->id);
	o.name = pname;
	o.flags = IPCQ_ATTACH_DEDUP;
	CHECK_OK(ipcq_open(st->qn, &q));
	int arc = ipcq_attach(q, IPCQ_ROLE_PRODUCER, &o);
	if (arc != 0) {
		diagnose(st, a->id);
		T_FAIL("producer %u: life %u: attach as %s returned %d (%s), its previous life"
		       " is dead and reaped", a->id, pl->lives, pname, arc, ipcq_strerror(arc));
	}
	__atomic_add_fetch(&pl->attached, 1, __ATOMIC_SEQ_CST);

	uint64_t last = 0;
	CHECK_RC(ipcq_last_seq(q, &last), 0);
	uint64_t log = __atomic_load_n(&pl->log, __ATOMIC_SEQ_CST);
	uint64_t att = __atomic_load_n(&pl->attempt, __ATOMIC_SEQ_CST);
	/* Everything the producer was told was accepted is accepted; nothing
	 * it never sent is; the one send in flight when it died may be. */
	if (last < log)
		T_FAIL("producer %u: resumed at last_seq %" PRIu64 " but %" PRIu64
		       " was acknowledged before: an accepted message was forgotten"
		       " (its replay would be delivered twice)", a->id, last, log);
	if (last > att)
		T_FAIL("producer %u: resumed at last_seq %" PRIu64 " but only %" PRIu64
		       " was ever sent: a gap would open", a->id, last, att);

	/* Replay the 1,000 sequences up to the last one we know was accepted,
	 * then continue. */
	uint64_t from = log >= REPLAY ? log - REPLAY + 1 : 1;
	uint64_t to = pl->final_life ? log + FINAL_NEW : log + pl->quota;
	uint64_t dups = 0;
	int32_t me = t_info(q).participant_index;
	if (to > st->maxseq)
		T_FAIL("producer %u: sequence %" PRIu64 " beyond the ledger", a->id, to);
	for (uint64_t seq = from; seq <= to; seq++) {
		uint32_t len = t_msg_len(a->id, seq, MINLEN, MAXLEN);
		t_fill(buf, len, a->id, seq);
		if (seq > att) {
			__atomic_store_n(&pl->attempt, seq, __ATOMIC_SEQ_CST);
			att = seq;
		}
		__atomic_add_fetch(&pl->step, 1, __ATOMIC_SEQ_CST);
		int rc = ipcq_send_seq(q, seq, buf, len, IPCQ_FOREVER);
		int want = seq <= last ? IPCQ_SEND_DUPLICATE : 0;
		if (rc != want)
			T_FAIL("producer %u: send_seq(%" PRIu64 ") after resuming at %" PRIu64
			       " returned %d (%s), expected %d", a->id, seq, last, rc,
			       rc < 0 ? ipcq_strerror(rc) : "", want);
		if (rc == IPCQ_SEND_DUPLICATE) {
			dups++;
			__atomic_add_fetch(&pl->dups, 1, __ATOMIC_SEQ_CST);
		} else {
			__atomic_add_fetch(&pl->accepted, 1, __ATOMIC_SEQ_CST);
			uint64_t now = 0;
			CHECK_RC(ipcq_last_seq(q, &now), 0);
			if (now != seq)
				T_FAIL("producer %u: last_seq %" PRIu64 " after sending %" PRIu64, a->id,
				       now, seq);
		}
		if (seq > log) {
			__atomic_store_n(&pl->log, seq, __ATOMIC_SEQ_CST);
			log = seq;
		}
		if (seq == last || (seq == from && last < from)) {
			/* the replay is over: every duplicate counted, exactly */
			uint64_t c = t_ctr(st->qn, me, IPCQ_CTR_DUPLICATES);
			if (c != dups)
				T_FAIL("producer %u: duplicates counter %" PRIu64 " after %" PRIu64
				       " duplicates", a->id, c, dups);
		}
	}
	if (pl->final_life)
		__atomic_store_n(&pl->final, to, __ATOMIC_SEQ_CST);
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

/* ---- consumers -------------------------------------------------------------------- */

static int consumer(void *arg)
{
	struct state *st = (struct state *)arg;
	struct ipcq *q = t_open_attach(st->qn, IPCQ_ROLE_CONSUMER, NULL);
	uint64_t last[NPROD] = { 0 };
	uint8_t buf[MAXLEN];
	uint64_t got = 0;
	pthread_barrier_wait(st->start);
	for (;;) {
		struct ipcq_msginfo mi;
		uint32_t p;
		uint64_t seq;
		memset(&mi, 0, sizeof(mi));
		int len = ipcq_recv(q, buf, sizeof(buf), &mi, IPCQ_FOREVER);
		if (len < 0)
			T_FAIL("consumer: ipcq_recv: %d (%s)", len, ipcq_strerror(len));
		if (len == 0 && mi.stream == 0)
			break; /* the parent's pill */
		if (len < 16)
			T_FAIL("consumer: %d-byte message of stream %u", len, mi.stream);
		t_header(buf, &p, &seq);
		if (p >= NPROD || seq < 1 || seq > __atomic_load_n(&st->p[p].attempt, __ATOMIC_SEQ_CST))
			T_FAIL("consumer: message (%u, %" PRIu64 ") was never sent", p, seq);
		if ((uint32_t)len != t_msg_len(p, seq, MINLEN, MAXLEN) ||
		    t_verify(buf, (size_t)len, p, seq) != 0)
			T_FAIL("consumer: message (%u, %" PRIu64 "): content differs from what was sent",
			       p, seq);
		if (mi.seq != seq || mi.len != (uint64_t)len || mi.deliveries != 1 || mi.flags != 0)
			T_FAIL("consumer: message (%u, %" PRIu64 "): info seq %" PRIu64 " len %" PRIu64
			       " deliveries %u flags %#x", p, seq, mi.seq, mi.len, mi.deliveries,
			       mi.flags);
		uint32_t want = 0;
		if (mi.stream == 0 ||
		    (!__atomic_compare_exchange_n(&st->stream[p], &want, mi.stream, 0,
						  __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) &&
		     want != mi.stream))
			T_FAIL("consumer: message (%u, %" PRIu64 ") of stream %u, the producer's stream"
			       " is %u", p, seq, mi.stream, want);
		if (seq <= last[p])
			T_FAIL("consumer: producer %u: sequence %" PRIu64 " after %" PRIu64 " (%s)", p,
			       seq, last[p], seq == last[p] ? "a duplicate" : "order broken");
		last[p] = seq;
		uint64_t bit = 1ull << (seq % 64);
		uint64_t old = __atomic_fetch_or(&st->bits[p * st->words + seq / 64], bit,
						 __ATOMIC_SEQ_CST);
		if (old & bit)
			T_FAIL("consumer: producer %u sequence %" PRIu64 " delivered twice", p, seq);
		got++;
		__atomic_add_fetch(&st->received, 1, __ATOMIC_RELAXED);
	}
	(void)got;
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

/* ---- the parent --------------------------------------------------------------------- */

struct slot {
	pid_t pid;          /* 0: none running */
	uint64_t kill_at;   /* step at which the parent kills it, UINT64_MAX none */
	unsigned life;
};

/* A life ended with status @status: account for it. */
static void life_ended(struct plog *pl, unsigned id, pid_t pid, int status, int by_parent)
{
	t_kids_forget_(pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		pl->clean++;
		return;
	}
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
		pl->killed++;
		if (!by_parent)
			pl->crashpoint_hits++;
		return;
	}
	t_status_ok(pid, status);
	T_FAIL("producer %u: life %u failed", id, pl->lives);
}

int main(void)
{
	uint64_t restarts = t_count(100, 100);
	uint64_t seed = t_now_ns() ^ ((uint64_t)getpid() << 32);
	const char *e = getenv("IPCQ_SEED");
	if (e != NULL && *e)
		seed = strtoull(e, NULL, 0);
	if (seed == 0)
		seed = 1;
	printf("seed %" PRIu64 " (IPCQ_SEED=%" PRIu64 " to reuse), %" PRIu64
	       " restarts per producer\n", seed, seed, restarts);
	uint64_t rs = seed;
	/* widen the race windows of the protocol (debug builds) */
	if (getenv("IPCQ_DEBUG_YIELD") == NULL)
		setenv("IPCQ_DEBUG_YIELD", "1", 1);

	const char *qn = t_qname("drestart");
	struct ipcq_config cfg = t_config(256, MAXLEN);
	cfg.max_participants = 16;
	cfg.dedup_capacity = 4;
	struct ipcq *ctl = t_create(qn, &cfg);
	CHECK_RC(ipcq_attach(ctl, IPCQ_ROLE_PRODUCER, NULL), 0);

	uint64_t maxseq = (restarts + 1) * QUOTA_MAX + FINAL_NEW + 64;
	uint64_t words = maxseq / 64 + 1;
	size_t size = sizeof(struct state) + NPROD * words * sizeof(uint64_t);
	struct state *st = (struct state *)t_shared(size);
	st->qn = qn;
	st->words = words;
	st->maxseq = maxseq;
	st->start = t_barrier(NCONS + 1);
	g_st = st;
	t_watchdog(t_limit(240), "t_dedup_restart", report);

	pid_t cons[NCONS];
	for (unsigned i = 0; i < NCONS; i++)
		cons[i] = t_spawn(consumer, st);
	pthread_barrier_wait(st->start);
	uint64_t t0 = t_now_ns();

	struct slot slots[NPROD];
	struct life_arg args[NPROD];
	memset(slots, 0, sizeof(slots));
	unsigned running = 0, finished = 0;
	unsigned round = 0;
	while (finished < NPROD) {
		int progress = 0;
		for (unsigned p = 0; p < NPROD; p++) {
			struct slot *sl = &slots[p];
			struct plog *pl = &st->p[p];
			if (sl->pid == 0) {
				if (sl->life > restarts)
					continue; /* done */
				/* start the next life */
				unsigned m = (unsigned)((sl->life + p * 3) % NMETHODS);
				pl->final_life = sl->life == restarts;
				pl->quota = 1 + rnd(&rs, QUOTA_MAX);
				pl->crash[0] = '\0';
				sl->kill_at = UINT64_MAX;
				if (!pl->final_life) {
					uint64_t replay = pl->log < REPLAY ? pl->log : REPLAY;
					/* mostly among the new messages, sometimes
					 * during the replay or the attach */
					if (methods[m] == NULL && rnd(&rs, 4) == 0)
						sl->kill_at = rnd(&rs, replay + 1);
					else if (methods[m] == NULL)
						sl->kill_at = replay + rnd(&rs, pl->quota + 16);
					else if (strcmp(methods[m], "dedup.takeover") == 0)
						snprintf(pl->crash, sizeof(pl->crash), "%s", methods[m]);
					else
						snprintf(pl->crash, sizeof(pl->crash), "%s:%" PRIu64,
							 methods[m], 1 + rnd(&rs, pl->quota));
				}
				__atomic_store_n(&pl->step, 0, __ATOMIC_SEQ_CST);
				pl->lives = sl->life;
				args[p] = (struct life_arg){ st, p };
				sl->pid = t_spawn(producer_life, &args[p]);
				running++;
				progress = 1;
				continue;
			}
			int status;
			pid_t r = waitpid(sl->pid, &status, WNOHANG);
			if (r < 0)
				T_FAIL("waitpid: %s", strerror(errno));
			int by_parent = 0;
			if (r == 0 && sl->kill_at != UINT64_MAX &&
			    __atomic_load_n(&pl->step, __ATOMIC_SEQ_CST) >= sl->kill_at) {
				/* a random moment: wherever the producer is now */
				kill(sl->pid, SIGKILL);
				while ((r = waitpid(sl->pid, &status, 0)) < 0)
					if (errno != EINTR)
						T_FAIL("waitpid: %s", strerror(errno));
				by_parent = 1;
			}
			if (r == 0)
				continue;
			life_ended(pl, p, sl->pid, status, by_parent);
			if (pl->final_life) {
				if (!WIFEXITED(status) || pl->final == 0)
					T_FAIL("producer %u: the last life did not finish", p);
				finished++;
			}
			sl->pid = 0;
			sl->life++;
			running--;
			progress = 1;
		}
		if (progress)
			round = 0;
		else
			t_poll_pause(&round);
	}
	double prod_secs = (double)(t_now_ns() - t0) / 1e9;

	/* every producer is done: one pill per consumer, behind everything */
	for (unsigned i = 0; i < NCONS; i++)
		CHECK_RC(ipcq_send(ctl, NULL, 0, IPCQ_FOREVER), 0);
	for (unsigned i = 0; i < NCONS; i++)
		if (t_reap(cons[i]) != 0)
			T_FAIL("consumer %u failed", i);

	/* no gap, nothing beyond the end, every duplicate counted */
	uint64_t total = 0;
	struct t_peek pk;
	t_peek_open(&pk, qn);
	for (unsigned p = 0; p < NPROD; p++) {
		const struct plog *pl = &st->p[p];
		const uint64_t *bits = &st->bits[p * words];
		uint64_t missing = 0, first_missing = 0;
		for (uint64_t seq = 1; seq <= pl->final; seq++)
			if (!(bits[seq / 64] & (1ull << (seq % 64))) && missing++ == 0)
				first_missing = seq;
		if (missing)
			T_FAIL("producer %u: %" PRIu64 " of 1..%" PRIu64 " never delivered (first: %"
			       PRIu64 "): a gap", p, missing, pl->final, first_missing);
		for (uint64_t seq = pl->final + 1; seq <= maxseq; seq++)
			if (bits[seq / 64] & (1ull << (seq % 64)))
				T_FAIL("producer %u: %" PRIu64 " delivered, beyond the last sequence %"
				       PRIu64, p, seq, pl->final);
		total += pl->final;
		CHECK(st->stream[p] != 0);
		const struct ipcq_shm_dedup *d = t_peek_dedup(&pk, st->stream[p]);
		uint64_t dd = __atomic_load_n(&d->duplicates, __ATOMIC_SEQ_CST);
		uint64_t tk = __atomic_load_n(&d->takeovers, __ATOMIC_SEQ_CST);
		uint64_t dl = __atomic_load_n(&d->last, __ATOMIC_SEQ_CST);
		/* a kill may land between the count and the return */
		if (dd < pl->dups || dd > pl->dups + pl->killed)
			T_FAIL("producer %u: the name counted %" PRIu64 " duplicates; its lives saw %"
			       PRIu64 " and %u died", p, dd, pl->dups, pl->killed);
		if (tk + 1 < pl->attached || tk > restarts)
			T_FAIL("producer %u: %" PRIu64 " takeovers for %u attaches in %" PRIu64
			       " restarts", p, tk, pl->attached, restarts);
		CHECK(dl == pl->final);
		/* sanity of the bookkeeping: each accepted sequence seen once, but
		 * for a death between the send and its return */
		CHECK(pl->accepted <= pl->final && pl->accepted + pl->killed >= pl->final);
		printf("producer %u: %" PRIu64 " restarts (%u killed: %u at crash points, %u by the"
		       " parent; %u clean), %" PRIu64 " sequences, %" PRIu64 " duplicates dropped,"
		       " %" PRIu64 " takeovers\n", p, restarts, pl->killed, pl->crashpoint_hits,
		       pl->killed - pl->crashpoint_hits, pl->clean, pl->final, pl->dups, tk);
	}
	t_peek_close(&pk);
	if (st->received != total)
		T_FAIL("%" PRIu64 " messages received, %" PRIu64 " sent", st->received, total);
	CHECK(t_info(ctl).depth == 0);
	printf("%" PRIu64 " messages delivered exactly once, in order, to %d consumers in %.2f s\n",
	       total, NCONS, prod_secs);
	(void)running;
	t_watchdog(0, NULL, NULL);
	g_st = NULL;
	CHECK_RC(ipcq_close(ctl), 0);
	pthread_barrier_destroy(st->start);
	munmap(st->start, sizeof(*st->start));
	munmap(st, size);
	return 0;
}
