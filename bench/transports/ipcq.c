/*
 * ipcq.c - ipcq itself, as bench/transports measures it (--only ipcq).
 *
 * One queue per channel (ipcq_create by the parent, with the case's depth
 * and message size; ipcq_open + ipcq_attach by each process after fork).
 * Run at its best in each of its modes, each a variant of the plan:
 *   fast      ipcq_send/ipcq_recv, or ipcq_send_batch/ipcq_recv_batch
 *             with batch 32, under each wait strategy (busy_poll,
 *             adaptive, yield)
 *   ack       consumers attached with IPCQ_ATTACH_ACK, each message
 *             acknowledged with ipcq_ack after it is checked
 *   late      fast mode, consumers attached with IPCQ_ATTACH_LATE_RELEASE:
 *             each receive releases the slots of the one before, so a
 *             consumer that answers releases while it waits (latency
 *             cases, busy_poll)
 *   zerocopy  ipcq_reserve/ipcq_commit: the producer stamps the check words
 *             in the slot; ipcq_peek/ipcq_release: the consumer checks them
 *             there (nothing is copied)
 * Every blocking call waits WAIT_MS at a time and is retried until the case
 * is aborted.  After a finished run, the queue's own enqueued/dequeued
 * counters must agree with what the processes counted (ipcq_t_check); a
 * case that did not finish prints each participant's counters.
 *
 * As for every transport, the driver pins the latency pair (pinger and
 * ponger) to two CPUs (unless --no-pin) and leaves the throughput
 * processes unpinned.
 *
 * ipcq-group (--only ipcq-group) is the same queue made with max_groups 1
 * and one durable group, BENCH_GROUP, which every consumer joins
 * (opts.group): the slot word then belongs to the producers and the group
 * releases in a word array of its own, so a consumer never writes the
 * slot's line.  Everything else (calls, wait strategy, checks) is as for
 * ipcq; its check compares the group's position and lag with what the
 * processes counted.  Built against a library without consumer groups it
 * reports n/a.
 */
#include "transport.h"

#define BENCH_GROUP "g"

static int is_group(const struct tcase *tc)
{
	return tc->t == &t_ipcq_group;
}

static inline int sent_ok(int rc)
{
	return rc == 0 || rc == IPCQ_SEND_PRESSURE;
}

static int ipcq_t_create(struct tcase *tc)
{
	struct ipcq_config cfg = IPCQ_CONFIG_INIT;
	unsigned ch;
	int rc;

	cfg.capacity = tc->depth;
	cfg.max_msg_size = tc->size;
	cfg.max_participants = 2 * MAX_SIDE + 2;
	if (is_group(tc)) {
#ifdef IPCQ_GROUPS_MAX
		cfg.max_groups = 1;
#else
		set_note(tc, "library without consumer groups");
		return T_NA;
#endif
	}
	for (ch = 0; ch < tc->nch; ch++) {
		object_name(tc, ch, "");
		rc = ipcq_create(tc->name[ch], &cfg, &tc->q[ch]);
		if (rc == -EEXIST) {
			ipcq_unlink(tc->name[ch]);
			rc = ipcq_create(tc->name[ch], &cfg, &tc->q[ch]);
		}
		if (rc < 0) {
			fprintf(stderr, "bench: [%s] ipcq_create: %s\n", tc->label, ipcq_strerror(rc));
			return rc;
		}
		track_shm(ch, "/dev/shm/ipcq.%s", tc->name[ch]);
#ifdef IPCQ_GROUPS_MAX
		if (is_group(tc)) {
			rc = ipcq_group_create(tc->q[ch], BENCH_GROUP, 0);
			if (rc < 0) {
				fprintf(stderr, "bench: [%s] ipcq_group_create: %s\n", tc->label,
					ipcq_strerror(rc));
				return rc;
			}
		}
#endif
	}
	return 0;
}

static void ipcq_t_destroy(struct tcase *tc)
{
	unsigned ch;

	for (ch = 0; ch < 2; ch++) {
		if (!tc->q[ch])
			continue;
		ipcq_close(tc->q[ch]);
		ipcq_unlink(tc->name[ch]);
		tc->q[ch] = NULL;
		untrack_shm(ch);
	}
}

static int ipcq_t_open(struct ep *ep)
{
	struct tcase *tc = ep->tc;
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	int rc;

	rc = ipcq_open(tc->name[ep->ch], &ep->q);
	if (rc < 0)
		return rc;
	o.wait_strategy = tc->wait;
	o.name = ep->role == ROLE_SEND ? "bench-producer" : "bench-consumer";
	if (ep->role == ROLE_RECV && (tc->flags & T_ACK))
		o.flags = IPCQ_ATTACH_ACK;
#ifdef IPCQ_ATTACH_LATE_RELEASE
	if (ep->role == ROLE_RECV && (tc->flags & T_LATE))
		o.flags = IPCQ_ATTACH_LATE_RELEASE;
#endif
#ifdef IPCQ_ATTACH_SOLE
	/* the channel's only producer and only consumer: claims by store */
	if (tc->flags & T_SOLE)
		o.flags |= IPCQ_ATTACH_SOLE;
#endif
#ifdef IPCQ_GROUPS_MAX
	if (ep->role == ROLE_RECV && is_group(tc))
		o.group = BENCH_GROUP;
#endif
	rc = ipcq_attach(ep->q, ep->role == ROLE_SEND ? IPCQ_ROLE_PRODUCER : IPCQ_ROLE_CONSUMER, &o);
	if (rc < 0) {
		ipcq_close(ep->q);
		ep->q = NULL;
	}
	return rc;
}

static void ipcq_t_close(struct ep *ep)
{
	ipcq_close(ep->q);
	ep->q = NULL;
}

#define IPCQ_WAIT_NS ((int64_t)WAIT_MS * 1000000)

static int ipcq_t_send(struct ep *ep, uint64_t id, uint64_t seq, unsigned n)
{
	struct tcase *tc = ep->tc;
	int rc;

	if (tc->flags & T_ZC) {
		void *slots[MAX_BATCH];
		size_t lens[MAX_BATCH];
		int k, i;

		do
			k = ipcq_reserve(ep->q, n, slots, IPCQ_WAIT_NS);
		while (k == -ETIMEDOUT && !aborted());
		if (k <= 0)
			return k == -ETIMEDOUT ? 0 : k < 0 ? k : -EPROTO;
		for (i = 0; i < k; i++) {
			stamp(slots[i], tc->size, id, seq + (uint64_t)i);
			lens[i] = tc->size;
		}
		rc = ipcq_commit(ep->q, lens, (unsigned)k);
		return sent_ok(rc) ? k : rc < 0 ? rc : -EPROTO;
	}
	stamp_msgs(ep, id, seq, n);
	if (n == 1) {
		do
			rc = ipcq_send(ep->q, ep->msg[0], tc->size, IPCQ_WAIT_NS);
		while (rc == -ETIMEDOUT && !aborted());
		if (sent_ok(rc))
			return 1;
		return rc == -ETIMEDOUT ? 0 : rc < 0 ? rc : -EPROTO;
	} else {
		struct ipcq_buf bufs[MAX_BATCH];
		unsigned i;

		for (i = 0; i < n; i++) {
			bufs[i].data = ep->msg[i];
			bufs[i].len = tc->size;
		}
		do
			rc = ipcq_send_batch(ep->q, bufs, n, IPCQ_WAIT_NS);
		while (rc == -ETIMEDOUT && !aborted());
		if (rc == -ETIMEDOUT)
			return 0;
		return rc > 0 && (unsigned)rc <= n ? rc : rc < 0 ? rc : -EPROTO;
	}
}

static int ipcq_t_recv(struct ep *ep, unsigned n)
{
	struct tcase *tc = ep->tc;
	struct ipcq_msginfo infos[MAX_BATCH];
	int rc, i;

	if (tc->flags & T_ZC) {
		struct ipcq_zmsg z[MAX_BATCH];

		do
			rc = ipcq_peek(ep->q, z, n, IPCQ_WAIT_NS);
		while (rc == -ETIMEDOUT && !aborted());
		if (rc <= 0)
			return rc == -ETIMEDOUT ? 0 : rc < 0 ? rc : -EPROTO;
		for (i = 0; i < rc; i++)
			ep->deliver(ep, z[i].data, z[i].len, z[i].info.seq);
		i = ipcq_release(ep->q);
		return i < 0 ? i : rc;
	}
	if (n == 1) {
		/* the info only where it is needed (the ack token), as a
		 * user who needs only the payload calls it: asking for it
		 * reads the slot's tail line too */
		struct ipcq_msginfo *info = (tc->flags & T_ACK) ? &infos[0] : NULL;

		do
			rc = ipcq_recv(ep->q, ep->msg[0], tc->size, info, IPCQ_WAIT_NS);
		while (rc == -ETIMEDOUT && !aborted());
		if (rc < 0)
			return rc == -ETIMEDOUT ? 0 : rc;
		if (info && info->len != (uint64_t)rc)
			return -EPROTO;
		ep->deliver(ep, ep->msg[0], (size_t)rc, info ? info->seq : 0);
		if (tc->flags & T_ACK) {
			rc = ipcq_ack(ep->q, infos[0].token);
			if (rc < 0)
				return rc;
		}
		return 1;
	} else {
		struct ipcq_buf bufs[MAX_BATCH];
		unsigned j;

		for (j = 0; j < n; j++) {
			bufs[j].data = ep->msg[j];
			bufs[j].len = tc->size;
		}
		do
			rc = ipcq_recv_batch(ep->q, bufs, infos, n, IPCQ_WAIT_NS);
		while (rc == -ETIMEDOUT && !aborted());
		if (rc <= 0)
			return rc == -ETIMEDOUT ? 0 : rc < 0 ? rc : -EPROTO;
		if ((unsigned)rc > n)
			return -EPROTO;
		for (i = 0; i < rc; i++) {
			if (infos[i].len != bufs[i].len)
				return -EPROTO;
			ep->deliver(ep, bufs[i].data, bufs[i].len, infos[i].seq);
			if (tc->flags & T_ACK) {
				int a = ipcq_ack(ep->q, infos[i].token);

				if (a < 0)
					return a;
			}
		}
		return rc;
	}
}

/*
 * The queue's own counters agree with what the processes counted; with a
 * group, the group's position (from its start) and lag stand for dequeued.
 */
static int ipcq_t_check(struct tcase *tc, uint64_t data, uint64_t ends_sent,
			uint64_t ends_taken, char *why)
{
	struct ipcq_info info;
	int rc;

	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	rc = ipcq_info(tc->q[0], &info);
#ifdef IPCQ_GROUPS_MAX
	if (rc >= 0 && is_group(tc)) {
		struct ipcq_group_info gi;
		int n;

		memset(&gi, 0, sizeof(gi));
		n = ipcq_group_list(tc->q[0], &gi, 1);
		if (n != 1 || gi.position - gi.start != data + ends_taken ||
		    gi.lag != ends_sent - ends_taken) {
			snprintf(why, WHY_LEN, "ipcq_group_list: %d groups, position %llu from %llu, "
				 "lag %llu; expected 1 group, %llu received and a lag of %llu", n,
				 (unsigned long long)gi.position, (unsigned long long)gi.start,
				 (unsigned long long)gi.lag, (unsigned long long)(data + ends_taken),
				 (unsigned long long)(ends_sent - ends_taken));
			return -1;
		}
		info.dequeued = info.enqueued - gi.lag;
	}
#endif
	if (rc < 0 || info.enqueued != data + ends_sent || info.dequeued != data + ends_taken) {
		snprintf(why, WHY_LEN, "ipcq_info: rc %d, enqueued %llu dequeued %llu; expected "
			 "%llu and %llu", rc, (unsigned long long)info.enqueued,
			 (unsigned long long)info.dequeued, (unsigned long long)(data + ends_sent),
			 (unsigned long long)(data + ends_taken));
		return -1;
	}
	return 0;
}

/* For a case that did not finish: where the queue stands. */
static void ipcq_t_state(struct tcase *tc)
{
	struct ipcq_stats st;
	struct ipcq_participant_stats ps[2 * MAX_SIDE + 2];
	int n, i;

	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	n = ipcq_stats(tc->q[0], &st, ps, 2 * MAX_SIDE + 2);
	if (n < 0)
		return;
	fprintf(stderr, "bench: [%s] queue: enqueued %llu dequeued %llu depth %llu, "
		"%u participants\n", tc->label, (unsigned long long)st.info.enqueued,
		(unsigned long long)st.info.dequeued, (unsigned long long)st.info.depth,
		st.info.participants);
	for (i = 0; i < n; i++)
		fprintf(stderr, "bench: [%s]   %s alive %u sent %llu received %llu full %llu "
			"empty %llu sleeps %llu wakes %llu blocked %.3f s\n", tc->label,
			ps[i].name[0] ? ps[i].name : "-", ps[i].alive,
			(unsigned long long)ps[i].sent, (unsigned long long)ps[i].received,
			(unsigned long long)ps[i].full, (unsigned long long)ps[i].empty,
			(unsigned long long)ps[i].sleeps, (unsigned long long)ps[i].wakes,
			ps[i].blocked_ns / 1e9);
}

/* Both transports: the same calls, the queue made and joined as tc->t says. */
#define IPCQ_T_CALLS \
	.create = ipcq_t_create, .destroy = ipcq_t_destroy, .open = ipcq_t_open, \
	.close = ipcq_t_close, .send = ipcq_t_send, .recv = ipcq_t_recv, \
	.check = ipcq_t_check, .state = ipcq_t_state

const struct transport t_ipcq = { .name = "ipcq", IPCQ_T_CALLS };
const struct transport t_ipcq_group = { .name = "ipcq-group", IPCQ_T_CALLS };
