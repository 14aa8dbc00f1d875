/*
 * out.c - queue -> JetStream.
 *
 * The bridge is an ack-mode consumer of the queue.  Each message it
 * receives becomes a record of a ring of `window` records and is published
 * asynchronously with the header Nats-Msg-Id: <queue>/<producer>/<seq>;
 * its ipcq lease is acked only once its PubAck arrived.  So:
 *
 *  - a bridge killed at any instant leaves the messages it had not acked
 *    leased to a dead consumer; the next bridge gets them again
 *    (redelivered) and publishes them again with the same Msg-Id, which
 *    JetStream drops inside its duplicate window;
 *  - a publish that fails (no responders, stream limits, a PubAck that did
 *    not come back within --pub-timeout) is kept: the bridge takes no new
 *    message until every publish in flight is settled, then sends the
 *    failed ones again, in their order, with a growing pause;
 *  - messages come out of the queue in each producer's order, and those
 *    given again after a crash (in lease-pool order) are sorted back into
 *    it before they are published.
 *
 * Threads: the main thread owns the queue handle (receive, ack) and
 * publishes; the client's thread runs on_puback(), which only marks the
 * record and wakes the main thread.  mu guards the records' states.
 *
 * Producer identity in the Msg-Id: a named producer is n<dedup index>,
 * stable as long as the name stays in the queue's dedup table; an
 * anonymous one is p<participant index>-<enqueue time>: its sequence
 * starts again at 1 when another process takes the entry, and the
 * message's enqueue time (CLOCK_MONOTONIC_COARSE, kept by every
 * redelivery) tells the two apart, unless the second process sends the
 * same sequence number within the same tick of that clock (a few ms) as
 * the first did.  Only named producers give ids that never repeat.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"

/* Messages taken from the queue per wake-up, at most. */
#define RECV_BURST 64

enum { REC_FREE, REC_READY, REC_INFLIGHT, REC_OK, REC_FAILED };

struct rec {
	natsMsg *msg;         /* while REC_INFLIGHT: the library's, compared only */
	natsMsg *owned;       /* handed back by on_puback(): the main thread frees it */
	uint64_t token;       /* the ipcq lease */
	uint64_t t_pub;
	uint64_t seq;
	uint64_t born;        /* enqueue time: an anonymous producer's id */
	uint32_t producer, stream, deliveries, priority;
	unsigned state;
	uint32_t hlen, len;   /* data: the header block, then the payload */
	size_t cap;
	char *data;
};

/* The header block of a message, as the NATS protocol has it:
 *
 *   NATS/1.0\r\n
 *   Nats-Msg-Id: <queue>/<producer>[-<enqueue time>]/<seq>\r\n
 *   Ipcq-Producer: <producer>\r\n
 *   Ipcq-Seq: <seq>\r\n
 *   Ipcq-Deliveries: <deliveries>\r\n
 *   Ipcq-Priority: <priority>\r\n         (a priority above 0 only)
 *   \r\n
 *
 * written once per message when it is received, and handed whole to the
 * client's natsMsg_create() (exported by libnats though nats.h does not
 * declare it), which sends such a block as it is: the headers API would
 * allocate a hash table, and a key and a value per header, for each
 * message, and walk them again to send it. */
/* all but the queue's name, each number at its widest: 10 + 13 + 1 +
 * (11 + 1 + 20) + 1 + 20 + 17 + 11 + 12 + 20 + 19 + 10 + 17 + 10 + 4 = 197 */
#define HDR_FIXED 200
#define HDR_MAX (IPCQ_NAME_MAX + HDR_FIXED)

natsStatus natsMsg_create(natsMsg **newMsg, const char *subject, int subjLen, const char *reply,
			  int replyLen, const char *buf, int bufLen, int hdrLen);

struct out {
	struct bridge *b;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct rec *r;
	unsigned n;           /* records (window) */
	uint64_t head, tail;  /* records [head, tail) are in use */
	unsigned inflight, failed;
	uint64_t hint;        /* where on_puback() looks first: PubAcks come in order */
	uint64_t *done;       /* records whose PubAck came, for settle() */
	unsigned ndone;
	int waiting;          /* the main thread waits on cv */
	unsigned wake_done;   /* ... for this many PubAcks, or for none in flight */
	int hold;             /* the connection broke: connect again */
	natsConnection *nc;   /* the connection whose break counts */
	natsStatus last_err;
	int last_code;
	char dlq[512];
	char hdr_pre[HDR_MAX];  /* "NATS/1.0\r\nNats-Msg-Id: <queue>/" */
	size_t hdr_pre_len;
	int subject_len;
};

static struct out g_out = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static struct rec *rec_at(struct out *o, uint64_t i)
{
	return &o->r[i % o->n];
}

/* The client's thread: a PubAck, or a failure, for one publish. */
static void on_puback(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	struct out *o = closure;
	(void)js;
	pthread_mutex_lock(&o->mu);
	uint64_t from = o->hint >= o->head && o->hint < o->tail ? o->hint : o->head;
	for (uint64_t k = 0; k < o->tail - o->head; k++) {
		uint64_t i = from + k < o->tail ? from + k : o->head + (from + k - o->tail);
		struct rec *r = rec_at(o, i);
		if (r->state != REC_INFLIGHT || r->msg != msg)
			continue;
		r->msg = NULL;
		r->owned = msg;
		msg = NULL;
		o->inflight--;
		o->hint = i + 1;
		if (pa) {
			r->state = REC_OK;
			o->done[o->ndone++] = i;
			if (pa->Duplicate)
				bridge_count(o->b, BC_DUPLICATES, 1);
			bridge_set(o->b, BC_LATENCY_NS, bridge_now_ns() - r->t_pub);
		} else {
			r->state = REC_FAILED;
			o->failed++;
			if (pae) {
				o->last_err = pae->Err;
				o->last_code = (int)pae->ErrCode;
			}
		}
		break;
	}
	/* Wake the main thread for a failure, for nothing left in flight, or
	 * once enough records are done to take a burst of new messages: not
	 * for each PubAck, which costs a context switch each. */
	if (o->waiting && (o->failed || !o->inflight || o->ndone >= o->wake_done))
		pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
	/* With an AckHandler the message is ours to destroy, failed or not.
	 * A record's goes to the main thread, which made it: its allocator
	 * cache gets the memory back instead of this thread's.  One of no
	 * record (in flight when the connection broke) is destroyed here. */
	natsMsg_Destroy(msg);
}

/* @v in decimal at @p; returns the end. */
static char *put_u64(char *p, uint64_t v)
{
	char tmp[20];
	int n = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put_str(char *p, const char *s, size_t len)
{
	memcpy(p, s, len);
	return p + len;
}

#define PUT_LIT(p, lit) put_str(p, lit, sizeof(lit) - 1)

/* The header block of @r at @p (HDR_MAX bytes at most); returns its length. */
static uint32_t put_header(const struct out *o, const struct rec *r, char *p)
{
	char prod[16], *pe = prod;
	char *start = p;

	*pe++ = r->stream ? 'n' : 'p';
	pe = put_u64(pe, r->stream ? r->stream - 1 : r->producer);
	p = put_str(p, o->hdr_pre, o->hdr_pre_len);
	p = put_str(p, prod, (size_t)(pe - prod));
	if (!r->stream) {
		*p++ = '-';
		p = put_u64(p, r->born);
	}
	*p++ = '/';
	p = put_u64(p, r->seq);
	p = PUT_LIT(p, "\r\nIpcq-Producer: ");
	p = put_str(p, prod, (size_t)(pe - prod));
	p = PUT_LIT(p, "\r\nIpcq-Seq: ");
	p = put_u64(p, r->seq);
	p = PUT_LIT(p, "\r\nIpcq-Deliveries: ");
	p = put_u64(p, r->deliveries);
	if (r->priority) {
		p = PUT_LIT(p, "\r\nIpcq-Priority: ");
		p = put_u64(p, r->priority);
	}
	p = PUT_LIT(p, "\r\n\r\n");
	return (uint32_t)(p - start);
}

static natsStatus make_msg(struct out *o, const struct rec *r, natsMsg **m)
{
	return natsMsg_create(m, o->b->o.subject, o->subject_len, NULL, 0, r->data,
			      (int)(r->hlen + r->len), (int)r->hlen);
}

/* Publish record i (REC_READY or REC_FAILED); with @fresh, i is the tail,
 * the record take() just filled, which this adds to those in use.  The
 * caller updates BC_INFLIGHT.  The main thread only. */
static void publish(struct out *o, uint64_t i, int fresh)
{
	struct rec *r = rec_at(o, i);
	natsMsg *m = NULL;
	natsStatus s;

	natsMsg_Destroy(r->owned); /* a failed publish's message */
	r->owned = NULL;
	s = make_msg(o, r, &m);
	pthread_mutex_lock(&o->mu);
	if (fresh)
		o->tail++;
	if (r->state == REC_FAILED)
		o->failed--;
	r->state = REC_INFLIGHT;
	r->msg = m;
	r->t_pub = bridge_now_ns();
	o->inflight++;
	pthread_mutex_unlock(&o->mu);
	if (s == NATS_OK)
		s = js_PublishMsgAsync(o->b->js, &m, NULL);
	if (s != NATS_OK) {
		/* not taken by the library: on_puback() will not see it */
		pthread_mutex_lock(&o->mu);
		if (r->state == REC_INFLIGHT) {
			r->state = REC_FAILED;
			r->msg = NULL;
			o->inflight--;
			o->failed++;
			o->last_err = s;
			o->last_code = 0;
		}
		pthread_mutex_unlock(&o->mu);
	}
	natsMsg_Destroy(m);
}

static void show_inflight(struct out *o)
{
	bridge_set(o->b, BC_INFLIGHT, __atomic_load_n(&o->inflight, __ATOMIC_RELAXED));
}

/*
 * --pub-timeout: a publish whose PubAck has not come by then failed.  The
 * bridge keeps this clock itself rather than passing jsPubOptions.MaxWait,
 * with which the client allocates, sorts and frees on its timer thread a
 * record per message.  The library still holds the message: should its
 * PubAck come after all, on_puback() finds no record in flight with it and
 * only destroys it (the record's new publish has a new message).  The main
 * thread only.
 */
static void expire_inflight(struct out *o)
{
	uint64_t now = bridge_now_ns(), limit = (uint64_t)o->b->o.pub_timeout_ms * 1000000ull;

	pthread_mutex_lock(&o->mu);
	for (uint64_t i = o->head; i < o->tail && o->inflight; i++) {
		struct rec *r = rec_at(o, i);
		if (r->state != REC_INFLIGHT || now - r->t_pub < limit)
			continue;
		r->state = REC_FAILED;
		r->msg = NULL;
		o->inflight--;
		o->failed++;
		o->last_err = NATS_TIMEOUT;
		o->last_code = 0;
	}
	pthread_mutex_unlock(&o->mu);
}

/* Ack the leases of every record whose PubAck came; free them. */
static uint64_t settle(struct out *o)
{
	uint64_t tokens[256];
	natsMsg *msgs[256];
	unsigned nt = 0;
	uint64_t done = 0;

	for (;;) {
		pthread_mutex_lock(&o->mu);
		while (o->ndone && nt < 256) {
			struct rec *r = rec_at(o, o->done[--o->ndone]);
			tokens[nt] = r->token;
			msgs[nt++] = r->owned;
			r->owned = NULL;
			r->state = REC_FREE;
		}
		while (o->head < o->tail && rec_at(o, o->head)->state == REC_FREE)
			o->head++;
		pthread_mutex_unlock(&o->mu);
		if (!nt)
			return done;
		for (unsigned k = 0; k < nt; k++) {
			natsMsg_Destroy(msgs[k]);
			int rc = ipcq_ack(o->b->q, tokens[k]);
			if (rc < 0)
				fprintf(stderr, "ipcq-bridge: ack: %s\n", ipcq_strerror(rc));
		}
		bridge_count(o->b, BC_ACKED, nt);
		done += nt;
		nt = 0;
	}
}

/* Put a received message in the record at the tail (READY, not yet
 * published); with @add, add it to those in use (else publish() does). */
static int take(struct out *o, const void *buf, int len, const struct ipcq_msginfo *mi, int add)
{
	struct rec *r = rec_at(o, o->tail);
	if ((size_t)len + HDR_MAX > r->cap) {
		char *d = realloc(r->data, (size_t)len + HDR_MAX);
		if (!d)
			return -ENOMEM;
		r->data = d;
		r->cap = (size_t)len + HDR_MAX;
	}
	r->token = mi->token;
	r->seq = mi->seq;
	r->producer = mi->producer;
	r->born = mi->enqueue_ns;
	r->stream = mi->stream;
	r->deliveries = mi->deliveries;
	r->priority = IPCQ_MSG_PRIORITY(mi->flags);
	r->hlen = put_header(o, r, r->data);
	memcpy(r->data + r->hlen, buf, (size_t)len);
	r->len = (uint32_t)len;
	r->state = REC_READY;
	if (add) {
		pthread_mutex_lock(&o->mu);
		o->tail++;
		pthread_mutex_unlock(&o->mu);
	}
	return 0;
}

static int rec_cmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	uint64_t kx = x->stream ? x->stream : 0x100000000ull + x->producer;
	uint64_t ky = y->stream ? y->stream : 0x100000000ull + y->producer;
	if (kx != ky)
		return kx < ky ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static const char *reason_name(uint32_t reason)
{
	switch (reason) {
	case IPCQ_REASON_NACKED: return "nacked";
	case IPCQ_REASON_MAX_DELIVERIES: return "max-deliveries";
	case IPCQ_REASON_CONSUMER_CRASHED: return "consumer-crashed";
	case IPCQ_REASON_EXPIRED: return "expired";
	case IPCQ_REASON_REFUSED: return "refused";
	case IPCQ_REASON_TOO_LARGE: return "too-large";
	default: return "unknown";
	}
}

/* --dlq: publish the side ring's entries to <subject>.dlq, purge each
 * once JetStream has it.  A crash between the two sends it again with the
 * same Msg-Id. */
static void forward_side(struct out *o, char **buf, size_t *cap)
{
	struct ipcq_poison p[16];
	int n = ipcq_poison_list(o->b->q, 0, p, 16);

	for (int i = 0; i < n && !bridge_stop; i++) {
		char id[IPCQ_NAME_MAX + 64], num[24];
		natsMsg *m = NULL;
		jsPubAck *pa = NULL;
		struct ipcq_poison info;
		int len;

		if (p[i].len > *cap) {
			char *nb = realloc(*buf, p[i].len);
			if (!nb)
				return;
			*buf = nb;
			*cap = p[i].len;
		}
		len = ipcq_poison_peek(o->b->q, p[i].id, *buf, *cap, &info);
		if (len < 0)
			continue;
		snprintf(id, sizeof(id), "%s/poison/%" PRIu64, o->b->o.queue, p[i].id);
		natsStatus s = natsMsg_Create(&m, o->dlq, NULL, *buf, len);
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, "Ipcq-Reason", reason_name(info.reason));
		snprintf(num, sizeof(num), info.stream ? "n%" PRIu32 : "p%" PRIu32,
			 info.stream ? info.stream - 1 : info.producer);
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, "Ipcq-Producer", num);
		snprintf(num, sizeof(num), "%" PRIu64, info.seq);
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, "Ipcq-Seq", num);
		snprintf(num, sizeof(num), "%" PRIu32, info.deliveries);
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, "Ipcq-Deliveries", num);
		if (s == NATS_OK)
			s = js_PublishMsg(&pa, o->b->js, m, NULL, NULL);
		natsMsg_Destroy(m);
		jsPubAck_Destroy(pa);
		if (s != NATS_OK) {
			bridge_log(o->b, "dlq publish: %s", natsStatus_GetText(s));
			return;
		}
		if (ipcq_poison_purge(o->b->q, p[i].id) >= 0)
			bridge_count(o->b, BC_REFUSED, 1);
	}
}

/* Failed publishes: once nothing is in flight, send them again in order,
 * before anything new. */
static void retry_failed(struct out *o, unsigned *backoff_ms)
{
	uint64_t head, tail;

	pthread_mutex_lock(&o->mu);
	if (o->b->nc && natsConnection_IsClosed(o->b->nc))
		o->hold = 1;
	while (o->inflight && !bridge_stop && !o->hold) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50000000l;
		if (ts.tv_nsec >= 1000000000l) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000l;
		}
		o->waiting = 1;
		pthread_cond_timedwait(&o->cv, &o->mu, &ts);
		o->waiting = 0;
		pthread_mutex_unlock(&o->mu);
		expire_inflight(o);
		pthread_mutex_lock(&o->mu);
	}
	if (o->hold) {
		pthread_mutex_unlock(&o->mu);
		return;
	}
	head = o->head;
	tail = o->tail;
	bridge_log(o->b, "%u publishes failed (%s, code %d); again in %u ms", o->failed,
		   natsStatus_GetText(o->last_err), o->last_code, *backoff_ms);
	pthread_mutex_unlock(&o->mu);
	settle(o);
	for (unsigned slept = 0; slept < *backoff_ms && !bridge_stop; slept += 10)
		bridge_sleep_ms(10);
	if (*backoff_ms < 2000)
		*backoff_ms *= 2;
	for (uint64_t i = head; i < tail && !bridge_stop && !o->hold; i++) {
		if (rec_at(o, i)->state == REC_FAILED) {
			bridge_count(o->b, BC_RETRIED, 1);
			publish(o, i, 0);
		}
	}
	show_inflight(o);
}

/* Wait a little for PubAcks when nothing else can be done. */
static void wait_pubacks(struct out *o, long ns)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += ns;
	if (ts.tv_nsec >= 1000000000l) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000l;
	}
	pthread_mutex_lock(&o->mu);
	if (o->inflight && !o->failed && o->ndone < o->wake_done) {
		o->waiting = 1;
		pthread_cond_timedwait(&o->cv, &o->mu, &ts);
		o->waiting = 0;
	}
	pthread_mutex_unlock(&o->mu);
}

/* The client's thread: the connection broke (or was closed). */
void bridge_out_disconnected(natsConnection *nc)
{
	pthread_mutex_lock(&g_out.mu);
	if (nc == g_out.nc)
		g_out.hold = 1;
	pthread_mutex_unlock(&g_out.mu);
}

void bridge_out_connected(natsConnection *nc)
{
	pthread_mutex_lock(&g_out.mu);
	g_out.nc = nc;
	g_out.hold = natsConnection_IsClosed(nc);
	pthread_mutex_unlock(&g_out.mu);
}

/* The connection broke: what was in flight may or may not be stored, so
 * all of it failed (JetStream drops what it has by Msg-Id); connect
 * again.  The main thread only. */
static void reconnect(struct out *o)
{
	pthread_mutex_lock(&o->mu);
	o->nc = NULL;
	for (uint64_t i = o->head; i < o->tail; i++) {
		struct rec *r = rec_at(o, i);
		if (r->state == REC_INFLIGHT) {
			r->state = REC_FAILED;
			r->msg = NULL;
			o->failed++;
		}
	}
	o->inflight = 0;
	o->hold = 0;
	o->last_err = NATS_CONNECTION_CLOSED;
	o->last_code = 0;
	pthread_mutex_unlock(&o->mu);
	bridge_log(o->b, "connection lost; connecting again");
	natsConnection_Close(o->b->nc);
	bridge_reconnect_if_closed(o->b);
}

void bridge_out_setup(struct bridge *b, jsOptions *jo)
{
	g_out.b = b;
	jo->PublishAsync.AckHandler = on_puback;
	jo->PublishAsync.AckHandlerClosure = &g_out;
}

int bridge_out(struct bridge *b)
{
	struct out *o = &g_out;
	struct ipcq_attach_opts ao = IPCQ_ATTACH_OPTS_INIT;
	struct ipcq_info info = { .size = sizeof(info) };
	struct ipcq_msginfo mi;
	char *buf = NULL, *side = NULL;
	size_t side_cap = 0;
	unsigned backoff_ms = 100;
	uint64_t acked = 0, next_side = 0, next_expiry = 0;
	int rc;

	snprintf(o->dlq, sizeof(o->dlq), "%s.dlq", b->o.subject);
	o->subject_len = (int)strlen(b->o.subject);
	o->hdr_pre_len = (size_t)snprintf(o->hdr_pre, sizeof(o->hdr_pre), "NATS/1.0\r\nNats-Msg-Id: %s/",
					  b->o.queue);
	if (o->hdr_pre_len + 150 > HDR_MAX) { /* the rest of a header takes 143 at most */
		rc = -ENAMETOOLONG;
		goto fail;
	}
	rc = ipcq_info(b->q, &info);
	if (rc < 0)
		goto fail;
	o->n = b->o.window;
	if (info.lease_capacity && o->n > info.lease_capacity)
		o->n = info.lease_capacity;
	o->wake_done = o->n / 8 ? o->n / 8 : 1;
	if (o->wake_done > RECV_BURST)
		o->wake_done = RECV_BURST;
	o->r = calloc(o->n, sizeof(*o->r));
	o->done = calloc(o->n, sizeof(*o->done));
	buf = malloc(info.max_msg_size ? info.max_msg_size : 1);
	if (!o->r || !o->done || !buf) {
		rc = -ENOMEM;
		goto fail;
	}
	ao.flags = IPCQ_ATTACH_ACK;
	ao.prefetch = o->n;
	ao.name = "bridge.out";
	if (info.max_groups) {
		/* a queue with consumer groups: the bridge reads in a group of
		 * its own, made durable (from the oldest message still in the
		 * ring) the first time, so that it holds what it has not
		 * forwarded, across its restarts */
		ao.group = b->o.group ? b->o.group : "bridge";
		rc = ipcq_group_create(b->q, ao.group, IPCQ_GROUP_FROM_OLDEST);
		if (rc < 0 && rc != -EEXIST) {
			fprintf(stderr, "ipcq-bridge: group %s of %s: %s %s\n", ao.group, b->o.queue,
				ipcq_strerror(rc), ipcq_errdetail());
			goto fail;
		}
	}
	rc = ipcq_attach(b->q, IPCQ_ROLE_CONSUMER, &ao);
	if (rc < 0) {
		fprintf(stderr, "ipcq-bridge: attach %s: %s %s\n", b->o.queue, ipcq_strerror(rc),
			ipcq_errdetail());
		goto fail;
	}
	bridge_attached(b);

	/* What a dead bridge held comes back first, in lease-pool order: sort
	 * it into each producer's order before publishing any of it. */
	rc = ipcq_info(b->q, &info);
	if (rc < 0)
		goto fail;
	while (o->tail < o->n && info.redeliverable) {
		rc = ipcq_recv(b->q, buf, info.max_msg_size, &mi, IPCQ_NOWAIT);
		if (rc < 0)
			break;
		if (take(o, buf, rc, &mi, 1) < 0)
			goto fail;
		if (!(mi.flags & IPCQ_MSG_REDELIVERED))
			break;
	}
	if (o->tail) {
		bridge_count(b, BC_FORWARDED, o->tail);
		qsort(o->r, (size_t)o->tail, sizeof(*o->r), rec_cmp);
		bridge_log(b, "%" PRIu64 " messages given again after a restart (redeliverable %u, first %" PRIu32 "/%" PRIu64 " last %" PRIu32 "/%" PRIu64 ")", o->tail, info.redeliverable,
			   o->r[0].stream, o->r[0].seq, o->r[o->tail - 1].stream, o->r[o->tail - 1].seq);
		for (uint64_t i = 0; i < o->tail; i++)
			publish(o, i, 0);
		show_inflight(o);
	}

	while (!bridge_stop) {
		acked += settle(o);
		if (bridge_now_ns() >= next_expiry) {
			expire_inflight(o);
			next_expiry = bridge_now_ns() + 50000000ull;
		}
		if (b->o.count && acked >= (uint64_t)b->o.count)
			break;
		if (o->hold || !o->b->nc) {
			if (bridge_stop)
				break;
			reconnect(o);
			continue;
		}
		if (o->failed) {
			retry_failed(o, &backoff_ms);
			continue;
		}
		if (b->o.dlq_fwd && bridge_now_ns() >= next_side) {
			forward_side(o, &side, &side_cap);
			next_side = bridge_now_ns() + 100000000ull;
		}
		if (o->tail - o->head >= o->n) {
			wait_pubacks(o, 20000000l);
			continue;
		}
		rc = ipcq_recv(b->q, buf, info.max_msg_size, &mi,
			       o->inflight ? 1000000ll : 50000000ll);
		if (rc == -EAGAIN || rc == -ETIMEDOUT || rc == -EINTR)
			continue;
		if (rc == -EBUSY) {
			wait_pubacks(o, 20000000l);
			continue;
		}
		if (rc < 0) {
			fprintf(stderr, "ipcq-bridge: recv: %s\n", ipcq_strerror(rc));
			goto fail;
		}
		backoff_ms = 100;
		if (take(o, buf, rc, &mi, 0) < 0)
			goto fail;
		publish(o, o->tail, 1);
		/* What else the queue has now, without waiting, before the
		 * PubAcks are settled: one wake-up, many messages.  An error
		 * other than an empty queue shows again at the receive above. */
		unsigned k = 1;
		for (; k < RECV_BURST && o->tail - o->head < o->n && !o->failed && !o->hold; k++) {
			rc = ipcq_recv(b->q, buf, info.max_msg_size, &mi, IPCQ_NOWAIT);
			if (rc < 0)
				break;
			if (take(o, buf, rc, &mi, 0) < 0)
				goto fail;
			publish(o, o->tail, 1);
		}
		bridge_count(b, BC_FORWARDED, k);
		show_inflight(o);
	}
	/* Stopping: let the PubAcks in flight come back, ack their leases;
	 * what stays leased is delivered again to the next bridge. */
	for (uint64_t end = bridge_now_ns() + (uint64_t)b->o.pub_timeout_ms * 1000000ull;
	     o->inflight && bridge_now_ns() < end;)
		wait_pubacks(o, 20000000l);
	settle(o);
	rc = 0;
fail:
	free(buf);
	free(side);
	return rc < 0 ? -1 : 0;
}
