/*
 * in.c - JetStream -> queue.
 *
 * The bridge is the named producer bridge.<stream>.<consumer> of the
 * queue, and reads the stream through a durable pull consumer of that
 * name, in batches.  Each message goes into the queue with
 * ipcq_send_seq() and the stream sequence as its sequence, and is acked
 * to JetStream (AckAll: the last of each batch) only after the queue took
 * it.  Dedup across the hop is exact: the queue's dedup table holds the
 * last stream sequence it accepted, whichever instruction a bridge died
 * at, so at each start the bridge asks ipcq_last_seq() and makes the
 * consumer again to start right after it (a message accepted but not
 * acked is not fetched again; one fetched and not accepted is).  While
 * running, a message JetStream delivers again (its ack wait ran out while
 * the queue was full) is recognised by its sequence and only acked.
 *
 * A message an out-bridge sent with an Ipcq-Priority header goes into the
 * lane of that priority on a queue with priority lanes (cut to its highest
 * lane), into lane 0 otherwise; ipcq_send_ex() with IPCQ_SEND_F_SEQ keeps
 * the stream sequence as its sequence all the same.
 *
 * Refused messages (larger than the queue's max_msg_size, or delivered
 * --max-deliver times without the queue taking them) go to the queue's
 * side ring with ipcq_poison_put(),
 * as the bridge's producer, with the stream sequence as their sequence
 * and JetStream's delivery count: reason IPCQ_REASON_MAX_DELIVERIES, or
 * IPCQ_REASON_TOO_LARGE (the first max_msg_size bytes; the whole message
 * stays in the stream at that sequence).  With --dlq, a too-large message
 * also goes whole to that subject, with the header Ipcq-Reason, and so
 * does any refused message the side ring has no room for; without it, or
 * when no stream takes that subject any more (no responders), such a
 * message is left in the stream and reported.  At start, a stream must
 * take the --dlq subject.
 *
 * A refused message is not in the queue's dedup table: what says that
 * the bridge is done with it is the consumer's ack floor, for which its
 * ack is sent at once and waited for.  Every message up to the ack floor
 * was taken by the queue or refused.  At a start the bridge resumes after
 * the higher of the queue's last sequence and the old consumer's ack
 * floor, when the consumer was made for this queue: its description names
 * the queue (its creation time), the bridge's stream in it and the last
 * sequence the queue had then (a queue made again, a name removed from
 * its dedup table, falls back to its own last sequence).  A bridge killed
 * after the put and before the ack lands fetches the message again, finds
 * the entry there (same stream and sequence) and does not put it twice;
 * only an entry purged or replayed meanwhile is put again.
 *
 * Delivery counts: JetStream counts the deliveries of a message per
 * consumer (NumDelivered), and the bridge makes its consumer again at each
 * start and resync, which would start that count again.  What the queue
 * has not taken is the first message after the last one it took: so each
 * time the consumer is made again, the old one's count for that message is
 * carried over in the new consumer's description, and added to
 * NumDelivered while that message is the next.  At a start that count is
 * what the old consumer carried, plus 1 when it delivered past the queue's
 * last sequence (to a bridge that is gone); on a resync of a running
 * bridge, the count of the last delivery of that message it got (none
 * when the resync is for deliveries that never reached it).  --max-deliver so
 * holds across restarts and kills of the bridge: a message that kills the
 * bridge, or that it never gets into the queue, is refused on delivery
 * max-deliver + 1 and acked with the others.  The consumer itself has no
 * MaxDeliver: a message JetStream stopped delivering would be acked by a
 * later message's AckAll without ever reaching the queue or its side ring.
 *
 * Backpressure: while the queue is above its high watermark the bridge
 * fetches nothing; it waits on ipcq_wait_pressure().
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"

/* Deliveries of the first message after stream sequence `last` that
 * earlier consumers made (see the top of the file). */
static struct {
	int known;      /* this bridge made the consumer there */
	uint64_t last;
	uint64_t n;     /* carried into the consumer there */
	uint64_t seen;  /* the count of its last delivery the bridge got, or 0 */
} g_carry;

/* The queue as the consumer's description names it: made at
 * g_created (ipcq_info().created_ns), the bridge's name its stream g_stream. */
static uint64_t g_created;
static uint32_t g_stream;

#define CARRY_FMT "ipcq-bridge: the first message after stream sequence %" PRIu64 \
	" was delivered %" PRIu64 " times before"
#define CARRY_SCAN "ipcq-bridge: the first message after stream sequence %" SCNu64 \
	" was delivered %" SCNu64 " times before"
#define QUEUE_FMT "; queue made at %" PRIu64 ", stream %" PRIu32 ", accepted up to %" PRIu64
#define QUEUE_SCAN "; queue made at %" SCNu64 ", stream %" SCNu32 ", accepted up to %" SCNu64

/*
 * The first time: where the consumer made before stopped, and the
 * deliveries of the first message after it that it carries and made.
 * @last comes in as the queue's last sequence, and is raised to the
 * consumer's ack floor (and its start) when the consumer was made for this
 * queue (made at the same time, the name the same stream, its last
 * sequence not below the one then): every message up to the ack floor was
 * taken by the queue or refused, and those after the queue's last were
 * refused.  Afterwards (this bridge made the consumer): what it noted.
 * 0 on success, -1 when the consumer could not be read.
 */
static int carried(struct bridge *b, uint64_t *last, uint64_t *n)
{
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	natsStatus s;
	uint64_t l, k, made, acc;
	uint32_t stream;

	if (g_carry.known) {
		*n = g_carry.last != *last ? 0 : g_carry.seen > g_carry.n ? g_carry.seen : g_carry.n;
		return 0;
	}
	s = js_GetConsumerInfo(&ci, b->js, b->o.stream, b->o.consumer, NULL, &jerr);
	if (s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr || jerr == JSStreamNotFoundErr) {
		*n = 0;
		return 0;
	}
	if (s != NATS_OK)
		return -1;
	*n = 0;
	const char *d = ci->Config ? ci->Config->Description : NULL;
	int at = 0;
	int said = d && sscanf(d, CARRY_SCAN "%n", &l, &k, &at) == 2 && at > 0;
	if (said && sscanf(d + at, QUEUE_SCAN, &made, &stream, &acc) == 3 && made == g_created &&
	    g_stream && stream == g_stream && *last >= acc) {
		uint64_t done = ci->AckFloor.Stream > l ? ci->AckFloor.Stream : l;
		if (done > *last) {
			bridge_log(b, "stream sequences %" PRIu64 " to %" PRIu64 " were refused before",
				   *last + 1, done);
			*last = done;
		}
	}
	if (said && l == *last)
		*n = k;
	/* it delivered past the queue's last: the first message after it too */
	if (ci->Delivered.Stream > *last)
		(*n)++;
	jsConsumerInfo_Destroy(ci);
	return 0;
}

/* The consumer again, starting right after @last: what the queue took or
 * refused (raised, the first time, by what the consumer made before
 * refused). */
static int make_consumer(struct bridge *b, uint64_t *last, natsSubscription **sub)
{
	jsConsumerConfig cc;
	jsConsumerInfo *ci = NULL;
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsStatus s;
	char desc[256];
	uint64_t carry = 0, acc = 0;

	for (unsigned tries = 0; !bridge_stop; tries++) {
		jerr = 0;
		if (carried(b, last, &carry) < 0)
			s = NATS_TIMEOUT;
		else
			s = js_DeleteConsumer(b->js, b->o.stream, b->o.consumer, NULL, &jerr);
		if (s == NATS_OK || s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr ||
		    jerr == JSStreamNotFoundErr)
			break;
		if (tries % 100 == 0)
			bridge_log(b, "stream %s: %s; trying again", b->o.stream, natsStatus_GetText(s));
		bridge_sleep_ms(100);
		if (bridge_reconnect_if_closed(b) < 0)
			return -1;
	}
	g_carry.known = 1;
	g_carry.last = *last;
	g_carry.n = carry;
	g_carry.seen = 0;
	if (carry)
		bridge_log(b, "the first message after stream sequence %" PRIu64
			   " was delivered %" PRIu64 " times before", *last, carry);
	if (ipcq_last_seq(b->q, &acc) < 0)
		acc = 0;
	snprintf(desc, sizeof(desc), CARRY_FMT QUEUE_FMT, *last, carry, g_created, g_stream, acc);
	jsConsumerConfig_Init(&cc);
	cc.Durable = b->o.consumer;
	cc.Description = desc;
	cc.AckPolicy = js_AckAll;
	cc.FilterSubject = b->o.subject;
	cc.MaxAckPending = (int64_t)b->o.batch * 4;
	if (*last) {
		cc.DeliverPolicy = js_DeliverByStartSequence;
		cc.OptStartSeq = *last + 1;
	}
	/* The stream may not be there yet (its out-bridge makes it): wait. */
	for (unsigned tries = 0; !bridge_stop; tries++) {
		s = js_AddConsumer(&ci, b->js, b->o.stream, &cc, NULL, &jerr);
		jsConsumerInfo_Destroy(ci);
		ci = NULL;
		if (s == NATS_OK)
			break;
		if (tries == 0 || tries % 100 == 0)
			fprintf(stderr, "ipcq-bridge: consumer %s of %s: %s (%d); trying again\n",
				b->o.consumer, b->o.stream, natsStatus_GetText(s), (int)jerr);
		bridge_sleep_ms(100);
		if (bridge_reconnect_if_closed(b) < 0)
			return -1;
	}
	if (bridge_stop)
		return -1;
	jsSubOptions_Init(&so);
	so.Stream = b->o.stream;
	so.Consumer = b->o.consumer;
	s = js_PullSubscribe(sub, b->js, b->o.subject, b->o.consumer, NULL, &so, &jerr);
	if (s != NATS_OK) {
		fprintf(stderr, "ipcq-bridge: subscribe %s: %s (%d)\n", b->o.consumer,
			natsStatus_GetText(s), (int)jerr);
		return -1;
	}
	return 0;
}

/* Drop the subscription, make the consumer again after @last. */
static int restart_consumer(struct bridge *b, uint64_t *last, natsSubscription **sub)
{
	natsSubscription_Destroy(*sub);
	*sub = NULL;
	bridge_count(b, BC_RETRIED, 1);
	return make_consumer(b, last, sub);
}

/* The bridge's stream in the queue (its name's dedup index + 1), as side
 * entries record it; 0 when not found. */
static uint32_t own_stream(struct bridge *b, const struct ipcq_info *info)
{
	struct ipcq_stats st = { .size = sizeof(st) };
	struct ipcq_participant_stats *ps = calloc(info->max_participants, sizeof(*ps));
	uint32_t stream = 0;
	int n = ps ? ipcq_stats(b->q, &st, ps, info->max_participants) : -ENOMEM;

	for (int i = 0; i < n; i++)
		if ((int32_t)ps[i].index == info->participant_index)
			stream = ps[i].stream;
	free(ps);
	return stream;
}

/* Is stream sequence seq in the side ring already (put by a bridge killed
 * before its ack)? */
static int in_side(struct bridge *b, uint64_t seq)
{
	struct ipcq_poison p[32];
	uint64_t after = 0;
	int n;

	while (g_stream && (n = ipcq_poison_list(b->q, after, p, 32)) > 0) {
		for (int i = 0; i < n; i++)
			if (p[i].stream == g_stream && p[i].seq == seq)
				return 1;
		after = p[n - 1].id;
	}
	return 0;
}

/* A message the queue cannot take: to its side ring, and to --dlq when
 * the side ring cannot keep all of it; else reported.  1 when done with
 * it, -1 to stop.  A --dlq subject that no stream takes (no responders)
 * leaves the message as without --dlq: in the side ring, or reported. */
static int refuse(struct bridge *b, natsMsg *msg, uint64_t seq, uint64_t ndeliv, unsigned why,
		  const char *reason)
{
	char id[300], num[24];
	int rc = 0;

	bridge_count(b, BC_REFUSED, 1);
	if (!in_side(b, seq))
		rc = ipcq_poison_put(b->q, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg),
				     why, seq, ndeliv > UINT32_MAX ? UINT32_MAX : (uint32_t)ndeliv);
	if (rc < 0)
		fprintf(stderr, "ipcq-bridge: stream %s sequence %" PRIu64 " refused (%s); side ring: %s\n",
			b->o.stream, seq, reason, ipcq_strerror(rc));
	if (!b->o.dlq || (rc == 0 && why != IPCQ_REASON_TOO_LARGE)) {
		if (rc < 0)
			fprintf(stderr, "ipcq-bridge: stream %s sequence %" PRIu64 " left in the stream\n",
				b->o.stream, seq);
		return 1;
	}
	snprintf(id, sizeof(id), "%s/%s/%" PRIu64, b->o.stream, b->o.consumer, seq);
	snprintf(num, sizeof(num), "%" PRIu64, seq);
	while (!bridge_stop) {
		natsMsg *m = NULL;
		jsPubAck *pa = NULL;
		natsStatus s = natsMsg_Create(&m, b->o.dlq, NULL, natsMsg_GetData(msg),
					      natsMsg_GetDataLength(msg));
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, "Ipcq-Reason", reason);
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, "Ipcq-Stream-Seq", num);
		if (s == NATS_OK)
			s = js_PublishMsg(&pa, b->js, m, NULL, NULL);
		natsMsg_Destroy(m);
		jsPubAck_Destroy(pa);
		if (s == NATS_OK)
			return 1;
		if (s == NATS_NO_RESPONDERS) {
			fprintf(stderr, "ipcq-bridge: dlq %s: no stream takes it (no responders); "
					"stream %s sequence %" PRIu64 " %s\n", b->o.dlq, b->o.stream, seq,
				rc == 0 ? "stays in the side ring" : "left in the stream");
			return 1;
		}
		bridge_log(b, "dlq %s: %s; again", b->o.dlq, natsStatus_GetText(s));
		bridge_count(b, BC_RETRIED, 1);
		bridge_sleep_ms(100);
		if (bridge_reconnect_if_closed(b) < 0)
			return -1;
	}
	return -1;
}

/* The lane of a message on a queue of @lanes priority lanes: its
 * Ipcq-Priority header (an out-bridge's), cut to the highest lane; 0
 * without the header, on a queue without lanes, or for a value that is
 * not a number: digits only (strtoul() alone would take a sign, white
 * space, and "-1" as the highest lane). */
static uint32_t priority_of(natsMsg *msg, uint32_t lanes)
{
	const char *v = NULL;
	if (lanes < 2 || natsMsgHeader_Get(msg, "Ipcq-Priority", &v) != NATS_OK || !v)
		return 0;
	if (*v < '0' || *v > '9')
		return 0;
	char *end;
	unsigned long p = strtoul(v, &end, 10);
	if (end == v || *end)
		return 0;
	return p >= lanes ? lanes - 1 : (uint32_t)p;
}

/* Put one message into the queue; 0 when the queue has it, 1 when it was
 * refused (refuse()), -1 to stop. */
static int deliver(struct bridge *b, natsMsg *msg, uint64_t seq, uint64_t ndeliv,
		   uint32_t max_msg_size, uint32_t lanes)
{
	const void *data = natsMsg_GetData(msg);
	int len = natsMsg_GetDataLength(msg);
	struct ipcq_send_opts so = IPCQ_SEND_OPTS_INIT;
	so.flags = IPCQ_SEND_F_SEQ;
	so.seq = seq;
	so.priority = priority_of(msg, lanes);

	if ((uint32_t)len > max_msg_size)
		return refuse(b, msg, seq, ndeliv, IPCQ_REASON_TOO_LARGE, "too-large");
	if (b->o.max_deliver && ndeliv > b->o.max_deliver)
		return refuse(b, msg, seq, ndeliv, IPCQ_REASON_MAX_DELIVERIES, "max-deliver");
	while (!bridge_stop) {
		int rc = ipcq_send_ex(b->q, data, (size_t)len, &so, 100000000ll);
		if (rc == IPCQ_SEND_DUPLICATE) {
			bridge_count(b, BC_DUPLICATES, 1);
			return 0;
		}
		if (rc >= 0) {
			bridge_count(b, BC_FORWARDED, 1);
			return 0;
		}
		if (rc == -EMSGSIZE)
			return refuse(b, msg, seq, ndeliv, IPCQ_REASON_TOO_LARGE, "too-large");
		if (rc != -ETIMEDOUT && rc != -EAGAIN && rc != -EINTR) {
			fprintf(stderr, "ipcq-bridge: send: %s\n", ipcq_strerror(rc));
			return -1;
		}
	}
	return -1;
}

/* --dlq: a stream must take the subject, else refused messages would wait
 * for one for ever.  0 when one does, -1 when none does (or stopped). */
static int check_dlq(struct bridge *b)
{
	for (unsigned tries = 0; !bridge_stop; tries++) {
		jsStreamNamesList *list = NULL;
		jsOptions jo;
		jsErrCode jerr = 0;
		jsOptions_Init(&jo);
		jo.Stream.Info.SubjectsFilter = b->o.dlq;
		natsStatus s = js_StreamNames(&list, b->js, &jo, &jerr);
		int n = list ? list->Count : 0;
		jsStreamNamesList_Destroy(list);
		if (s == NATS_OK && n > 0)
			return 0;
		if (s == NATS_OK || s == NATS_NOT_FOUND) {
			fprintf(stderr, "ipcq-bridge: --dlq=%s: no stream takes that subject\n", b->o.dlq);
			return -1;
		}
		if (tries % 100 == 0)
			bridge_log(b, "streams of %s: %s; trying again", b->o.dlq, natsStatus_GetText(s));
		bridge_sleep_ms(100);
		if (bridge_reconnect_if_closed(b) < 0)
			return -1;
	}
	return -1;
}

int bridge_in(struct bridge *b)
{
	struct ipcq_attach_opts ao = IPCQ_ATTACH_OPTS_INIT;
	struct ipcq_info info = { .size = sizeof(info) };
	natsSubscription *sub = NULL;
	char name[IPCQ_PARTICIPANT_NAME_MAX + 2];
	uint64_t last = 0, total = 0;
	int rc, failed = 0;

	if ((size_t)snprintf(name, sizeof(name), "bridge.%s.%s", b->o.stream, b->o.consumer) >
	    IPCQ_PARTICIPANT_NAME_MAX) {
		fprintf(stderr, "ipcq-bridge: producer name bridge.%s.%s is longer than %d bytes\n",
			b->o.stream, b->o.consumer, IPCQ_PARTICIPANT_NAME_MAX);
		return -1;
	}
	rc = ipcq_info(b->q, &info);
	if (rc < 0)
		return -1;
	ao.flags = IPCQ_ATTACH_DEDUP;
	ao.name = name;
	rc = ipcq_attach(b->q, IPCQ_ROLE_PRODUCER, &ao);
	if (rc >= 0)
		rc = ipcq_last_seq(b->q, &last);
	if (rc < 0) {
		fprintf(stderr, "ipcq-bridge: attach %s as %s: %s %s\n", b->o.queue, name,
			ipcq_strerror(rc), ipcq_errdetail());
		return -1;
	}
	bridge_attached(b);
	rc = ipcq_info(b->q, &info);
	if (rc < 0)
		return -1;
	g_stream = own_stream(b, &info);
	g_created = info.created_ns;
	bridge_log(b, "the queue accepted up to stream sequence %" PRIu64, last);
	if (make_consumer(b, &last, &sub) < 0)
		return bridge_stop ? 0 : -1;
	bridge_log(b, "resuming after stream sequence %" PRIu64, last);
	if (b->o.dlq && check_dlq(b) < 0) {
		natsSubscription_Destroy(sub);
		return bridge_stop ? 0 : -1;
	}

	for (uint64_t next_cons = 1; !bridge_stop && !(b->o.count && total >= (uint64_t)b->o.count);) {
		natsMsgList list = { 0 };
		jsErrCode jerr = 0;
		natsMsg *ack = NULL, *acked = NULL;
		int resync = 0;
		uint64_t t0;
		natsStatus s;

		if (ipcq_pressure(b->q) == 1) {
			ipcq_wait_pressure(b->q, 100000000ll);
			continue;
		}
		/* Deliveries of an earlier fetch that ended before they came
		 * wait in the subscription.  natsSubscription_Fetch() of the C
		 * client 3.4 overruns its array when they are more than half a
		 * batch; and they are taken care of exactly anyway by making the
		 * consumer again after the last sequence the queue accepted. */
		int pending = 0;
		if (natsSubscription_GetPending(sub, &pending, NULL) == NATS_OK && pending > 0) {
			bridge_log(b, "%d deliveries of an ended fetch: starting again after stream sequence %" PRIu64,
				   pending, last);
			if (restart_consumer(b, &last, &sub) < 0) {
				failed = 1;
				break;
			}
			next_cons = 1;
			continue;
		}
		t0 = bridge_now_ns();
		s = natsSubscription_Fetch(&list, sub, (int)b->o.batch, 500, &jerr);
		if (s == NATS_TIMEOUT)
			continue;
		if (s != NATS_OK) {
			bridge_count(b, BC_RETRIED, 1);
			bridge_log(b, "fetch: %s (%d)", natsStatus_GetText(s), (int)jerr);
			if (natsConnection_IsClosed(b->nc)) {
				/* connect again; the consumer starts again after last */
				natsSubscription_Destroy(sub);
				sub = NULL;
				if (bridge_reconnect_if_closed(b) < 0 || make_consumer(b, &last, &sub) < 0) {
					failed = 1;
					break;
				}
				next_cons = 1;
			} else {
				bridge_sleep_ms(50);
			}
			continue;
		}
		bridge_set(b, BC_LATENCY_NS, bridge_now_ns() - t0);
		bridge_set(b, BC_INFLIGHT, (uint64_t)list.Count);
		for (int i = 0; i < list.Count && !bridge_stop; i++) {
			jsMsgMetaData *meta = NULL;
			natsMsg *m = list.Msgs[i];
			/* (nothing after a message the bridge cannot place is acked:
			 * the ack floor says what the queue took or refused) */
			if (natsMsg_GetMetaData(&meta, m) != NATS_OK) {
				bridge_log(b, "a delivery without its metadata: starting again after stream sequence %" PRIu64,
					   last);
				resync = 1;
				break;
			}
			uint64_t seq = meta->Sequence.Stream, nd = meta->NumDelivered;
			uint64_t cseq = meta->Sequence.Consumer;
			jsMsgMetaData_Destroy(meta);
			/* Every delivery, a first one or not, takes the consumer's next
			 * sequence: a jump means deliveries that never reached us (a
			 * fetch cut by a server restart), which JetStream would give
			 * again only after the ack wait, behind later messages. */
			if (cseq != next_cons) {
				bridge_log(b, "consumer sequence %" PRIu64 ", expected %" PRIu64
					   ": starting again after stream sequence %" PRIu64,
					   cseq, next_cons, last);
				resync = 1;
				break;
			}
			next_cons++;
			/* the first message after what the queue took when the
			 * consumer was made: what earlier consumers delivered too */
			if (last == g_carry.last) {
				nd += g_carry.n;
				if (seq > last)
					g_carry.seen = nd;
			}
			int d = 0;
			if (seq <= last) {
				bridge_count(b, BC_DUPLICATES, 1);
			} else if ((d = deliver(b, m, seq, nd, info.max_msg_size, info.priorities)) < 0) {
				failed = !bridge_stop;
				break;
			} else {
				last = seq;
				total++;
			}
			ack = m;
			/* A refused message is acked at once and waited for: the
			 * consumer's ack floor is what a restarted bridge resumes
			 * after, beyond the queue's last sequence (see the top). */
			if (d == 1 && natsMsg_AckSync(m, NULL, NULL) == NATS_OK) {
				bridge_count(b, BC_ACKED, 1);
				acked = m;
			}
		}
		/* AckAll: the last message the queue has settles the batch */
		if (ack && ack != acked && natsMsg_Ack(ack, NULL) == NATS_OK)
			bridge_count(b, BC_ACKED, 1);
		bridge_set(b, BC_INFLIGHT, 0);
		natsMsgList_Destroy(&list);
		if (failed)
			break;
		if (resync) {
			if (restart_consumer(b, &last, &sub) < 0) {
				failed = 1;
				break;
			}
			next_cons = 1;
		}
	}
	natsSubscription_Destroy(sub);
	/* an error, not a stop: exit status 1, for a supervisor to restart it */
	return failed && !bridge_stop ? -1 : 0;
}
