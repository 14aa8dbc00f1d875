/*
 * sideutil.h - helpers of the side-ring tests (t_side_move, t_side_settle):
 * one producer's messages (0, seq) of the test pattern, receiving them and
 * checking that nothing more comes, what the side ring holds, a recovery
 * pass, the end of a scenario, an ack-mode queue config, and a consumer
 * that must stop (frozen or killed) at a point inside ipcq_recv().  The
 * queue of the running scenario is qn.
 */
#ifndef IPCQ_SIDEUTIL_H
#define IPCQ_SIDEUTIL_H

#include "testutil.h"

enum { MAXLEN = 64 };

static const char *qn;

/* Send message (0, seq) of the test pattern, with a time to live (0: none). */
static inline void put_ttl(struct ipcq *p, uint64_t seq, int64_t ttl_ns)
{
	uint8_t buf[MAXLEN];
	size_t len = t_msg_len(0, seq, 16, MAXLEN);
	t_fill(buf, len, 0, seq);
	struct ipcq_send_opts o = IPCQ_SEND_OPTS_INIT;
	o.ttl_ns = ttl_ns;
	CHECK_RC(ipcq_send_ex(p, buf, len, ttl_ns ? &o : NULL, IPCQ_NOWAIT), 0);
}

/* Send message (0, seq) of the test pattern. */
static inline void put(struct ipcq *p, uint64_t seq)
{
	put_ttl(p, seq, 0);
}

/* Put the 6-byte "filler" entry straight into the side ring. */
static inline void put_filler(struct ipcq *p)
{
	CHECK_RC(ipcq_poison_put(p, "filler", 6, IPCQ_REASON_REFUSED, 0, 0), 0);
}

/* Is buf[0..rc) message (0, seq)? */
static inline int is_msg(const void *buf, int rc, uint64_t seq)
{
	return rc == (int)t_msg_len(0, seq, 16, MAXLEN) && t_verify(buf, (size_t)rc, 0, seq) == 0;
}

/* Receive the next message within wait_ns, which must be (0, seq); its info. */
static inline struct ipcq_msginfo get(struct ipcq *c, uint64_t seq, int64_t wait_ns)
{
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo mi;
	memset(&mi, 0, sizeof(mi));
	int rc = ipcq_recv(c, buf, sizeof(buf), &mi, wait_ns);
	if (rc < 0)
		T_FAIL("expected message %" PRIu64 ", got %d (%s): the message is lost", seq, rc,
		       ipcq_strerror(rc));
	if (!is_msg(buf, rc, seq))
		T_FAIL("expected message %" PRIu64 ", got another (len %d)", seq, rc);
	return mi;
}

/* Nothing comes within wait_ns (-EAGAIN for IPCQ_NOWAIT, else -ETIMEDOUT);
 * what (NULL: none) names the moment in the failure. */
static inline void expect_empty(struct ipcq *c, int64_t wait_ns, const char *what)
{
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo mi;
	memset(&mi, 0, sizeof(mi));
	int rc = ipcq_recv(c, buf, sizeof(buf), &mi, wait_ns);
	if (rc >= 0)
		T_FAIL("%s%sa message came (len %d, deliveries %u, flags 0x%x)", what ? what : "",
		       what ? ": " : "", rc, mi.deliveries, mi.flags);
	CHECK_RC(rc, wait_ns == IPCQ_NOWAIT ? -EAGAIN : -ETIMEDOUT);
}

/* The side ring holds exactly the messages seqs[0..n) of the pattern (a
 * seq of 0 stands for the entry of put_filler()), in that order. */
static inline void expect_side(struct ipcq *q, const uint64_t *seqs, unsigned n)
{
	struct ipcq_poison e[8];
	int got = ipcq_poison_list(q, 0, e, T_NELEM(e));
	CHECK_OK(got);
	if ((unsigned)got != n)
		T_FAIL("side ring holds %d entries, expected %u", got, n);
	for (unsigned i = 0; i < n; i++) {
		uint8_t buf[MAXLEN];
		int rc = ipcq_poison_peek(q, e[i].id, buf, sizeof(buf), NULL);
		CHECK_OK(rc);
		if (seqs[i] == 0 ? rc != 6 || memcmp(buf, "filler", 6) != 0 : !is_msg(buf, rc, seqs[i]))
			T_FAIL("side entry %u is not message %" PRIu64, i, seqs[i]);
	}
}

/* One ipcq_recover() pass through q, which must not fail; its report. */
static inline struct ipcq_recovery recover(struct ipcq *q)
{
	struct ipcq_recovery rep;
	memset(&rep, 0, sizeof(rep));
	rep.size = sizeof(rep);
	CHECK(ipcq_recover(q, &rep) >= 0);
	return rep;
}

/* Close c (NULL: none), p and q, in that order, and remove queue qn. */
static inline void finish(struct ipcq *c, struct ipcq *p, struct ipcq *q)
{
	if (c)
		CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(q));
	ipcq_unlink(qn);
}

/* A config for ack consumers: 8 slots and leases, side_capacity entries. */
static inline struct ipcq_config ack_config(uint32_t side_capacity)
{
	struct ipcq_config cfg = t_config(8, MAXLEN);
	cfg.side_capacity = side_capacity;
	cfg.lease_capacity = 8;
	return cfg;
}

/* A fast consumer of qn receives (waiting wait_ns) and is frozen (crash 0)
 * or killed (crash 1) at point on the way: the receive must not return. */
_Noreturn static inline void recv_stops_at(const char *point, int crash, int64_t wait_ns)
{
	if (crash)
		t_crash_at(point, 1);
	else
		t_freeze_at(point, 1);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	uint8_t buf[MAXLEN];
	int rc = ipcq_recv(c, buf, sizeof(buf), NULL, wait_ns);
	T_FAIL("recv returned %d: not %s at %s", rc, crash ? "killed" : "frozen", point);
}

#endif
