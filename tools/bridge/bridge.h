/*
 * bridge.h - ipcq-bridge: a local queue joined to a NATS JetStream stream.
 *
 * main.c   options, the NATS connection, the stream, signals, counters
 * out.c    queue -> JetStream: an ack-mode consumer that publishes
 *          asynchronously and acks each lease once its PubAck arrived
 * in.c     JetStream -> queue: a durable pull consumer whose messages go
 *          into the queue as the named producer bridge.<stream>.<consumer>
 *          with the stream sequence as their sequence
 *
 * One direction per process.  The guarantees rest on two facts: a lease
 * of the local queue outlives the bridge (a killed out-bridge's leases are
 * delivered again), and the queue's dedup table outlives it too (a
 * restarted in-bridge asks ipcq_last_seq() where it stopped).
 */
#ifndef IPCQ_BRIDGE_H
#define IPCQ_BRIDGE_H

#include <signal.h>
#include <stdint.h>
#include <nats/nats.h>

#include "ipcq.h"

enum bridge_dir { BRIDGE_OUT = 1, BRIDGE_IN = 2 };

struct bridge_opts {
	enum bridge_dir dir;
	const char *queue;
	const char *server;      /* URL, or comma-separated URLs */
	const char *subject;     /* out: where to publish; in: filter */
	const char *stream;
	const char *consumer;    /* in: durable name */
	const char *group;       /* out: the consumer group on a queue with groups */
	const char *dlq;         /* in: where refused messages go */
	int dlq_fwd;             /* out: forward the side ring to <subject>.dlq */
	int create;              /* create the stream when it is missing */
	int64_t dup_window_s;    /* duplicate window of a created stream */
	int64_t max_msgs;        /* MaxMsgs of a created stream (0: none) */
	int64_t replicas;        /* Replicas of a created stream */
	unsigned window;         /* out: PubAcks awaited at most */
	unsigned batch;          /* in: messages per fetch */
	unsigned max_deliver;    /* in: deliveries before a message is refused */
	int64_t pub_timeout_ms;  /* out: a PubAck not back by then is retried */
	int64_t count;           /* stop after this many messages (0: never) */
	int verbose;
};

/* The bridge's counters, written by its own threads; ipcq-stat shows them
 * as the application counters of the bridge's participant entry. */
enum {
	BC_INFLIGHT,    /* out: published, PubAck awaited; in: fetched, not acked */
	BC_FORWARDED,   /* messages handed to the other side */
	BC_ACKED,       /* out: leases acked after their PubAck; in: JetStream acks */
	BC_RETRIED,     /* out: publishes sent again; in: fetches that failed */
	BC_RECONNECTS,
	BC_LATENCY_NS,  /* out: last PubAck latency; in: last fetch round trip */
	BC_DUPLICATES,  /* out: PubAcks flagged duplicate; in: already accepted */
	BC_REFUSED,     /* out: side-ring entries forwarded; in: dead-lettered */
	BC_COUNT_
};

struct bridge {
	struct bridge_opts o;
	struct ipcq *q;
	natsConnection *nc;
	jsCtx *js;
	uint64_t ctr[BC_COUNT_];
};

extern volatile sig_atomic_t bridge_stop;

void bridge_count(struct bridge *b, unsigned c, uint64_t v);
void bridge_set(struct bridge *b, unsigned c, uint64_t v);
void bridge_attached(struct bridge *b);
void bridge_log(const struct bridge *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
uint64_t bridge_now_ns(void);
void bridge_sleep_ms(unsigned ms);

int bridge_connect(struct bridge *b);
void bridge_disconnect(struct bridge *b);
int bridge_reconnect_if_closed(struct bridge *b);
void bridge_out_setup(struct bridge *b, jsOptions *jo);
void bridge_out_connected(natsConnection *nc);
void bridge_out_disconnected(natsConnection *nc);
int bridge_out(struct bridge *b);
int bridge_in(struct bridge *b);

#endif
