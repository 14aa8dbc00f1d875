/* A ring slot whose length is impossible (above max_msg_size, up to 0xffffffff) is refused with -EBADMSG and released, in fast and ack mode: the receive after it gets the next message intact, and the ring keeps moving. */
#define T_INTERNALS 1
#include "testutil.h"

enum { CAP = 8, MAX = 64, LEN = 40 };

static int failed;

static const char *rc_str(int rc)
{
	return rc < 0 ? ipcq_strerror(rc) : "a length";
}

static void send_one(struct ipcq *p, uint64_t seq)
{
	uint8_t m[LEN];
	t_fill(m, LEN, 0, seq);
	CHECK_RC(ipcq_send(p, m, LEN, IPCQ_NOWAIT), 0);
}

/* One receive with a bounded wait into a heap buffer of exactly @cap bytes
 * (so that ASan sees any write past it). */
static int recv_one(struct ipcq *c, size_t cap, struct ipcq_msginfo *mi, uint64_t *seq, int ack)
{
	uint8_t *buf = (uint8_t *)malloc(cap);
	CHECK(buf != NULL);
	memset(mi, 0, sizeof(*mi));
	int rc = ipcq_recv(c, buf, cap, mi, 100 * 1000000ll);
	*seq = 0;
	if (rc >= 16) {
		uint32_t p;
		t_header(buf, &p, seq);
		if (p != 0 || rc != LEN || mi->len != LEN || t_verify(buf, LEN, 0, *seq) != 0)
			*seq = UINT64_MAX; /* not intact */
		if (ack && mi->token)
			CHECK_RC(ipcq_ack(c, mi->token), 0);
	}
	free(buf);
	return rc;
}

static void run(uint32_t bad_len, size_t cap, int ack)
{
	char label[96];
	snprintf(label, sizeof(label), "%s, slot len %#x, buffer %zu", ack ? "ack" : "fast", bad_len,
		 cap);
	const char *name = t_qname("slotlen");
	struct ipcq_config cfg = t_config(CAP, MAX);
	cfg.grace_us = 1000;
	struct ipcq *p = t_create(name, &cfg);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = ack ? IPCQ_ATTACH_ACK : 0;
	struct ipcq *c = t_open_attach(name, IPCQ_ROLE_CONSUMER, &o);

	for (uint64_t s = 1; s <= 3; s++)
		send_one(p, s);
	/* message 1's slot (position 0) gets the impossible length */
	struct t_peek pk;
	t_peek_open(&pk, name);
	uint64_t off = pk.h.off_ring + offsetof(struct ipcq_shm_slot, len);
	t_peek_close(&pk);
	t_poke(name, off, &bad_len, sizeof(bad_len));

	struct ipcq_msginfo mi;
	uint64_t seq;
	int rc = recv_one(c, cap, &mi, &seq, ack);
	if (rc != -EBADMSG) {
		SOFT_FAIL("first receive returned %d (%s), info.len %" PRIu64 " (max_msg_size %u):"
			  " expected -EBADMSG for the corrupt slot", rc, rc_str(rc), mi.len, MAX);
		if (rc == -ENOBUFS || rc >= 0) {
			/* show what the corrupt slot does to everything behind it */
			unsigned again = 0;
			int rc2 = 0;
			for (unsigned i = 0; i < 5; i++) {
				rc2 = recv_one(c, cap, &mi, &seq, ack);
				if (rc2 != rc)
					break;
				again++;
			}
			if (again == 5)
				SOFT_FAIL("5 more receives returned %d (%s) again, info.len %" PRIu64
					  ": messages 2 and 3 are unreachable behind the slot",
					  rc, rc_str(rc), mi.len);
		}
	}
	/* then messages 2 and 3, intact, in order */
	for (uint64_t want = 2; want <= 3 && !failed; want++) {
		rc = recv_one(c, cap, &mi, &seq, ack);
		if (rc != LEN || seq != want)
			SOFT_FAIL("receive after the corrupt slot returned %d (%s), message %" PRIu64
				  " (info.len %" PRIu64 "): expected message %" PRIu64 " intact", rc,
				  rc_str(rc), seq == UINT64_MAX ? 0 : seq, mi.len, want);
		else if (mi.deliveries != 1 || mi.flags != 0)
			SOFT_FAIL("message %" PRIu64 ": deliveries %u flags %#x", want, mi.deliveries,
				  mi.flags);
	}
	/* the ring keeps moving: 2 * capacity more through the same slots */
	for (uint64_t s = 4; s < 4 + 2 * CAP && !failed; s++) {
		send_one(p, s);
		rc = recv_one(c, cap, &mi, &seq, ack);
		if (rc != LEN || seq != s)
			SOFT_FAIL("ring stuck: message %" PRIu64 " sent, receive returned %d (%s),"
				  " message %" PRIu64, s, rc, rc_str(rc),
				  seq == UINT64_MAX ? 0 : seq);
	}
	if (!failed) {
		struct ipcq_info in = t_info(p);
		if (in.depth != 0 || in.leased != 0)
			SOFT_FAIL("queue not clean: depth %" PRIu64 " leased %u", in.depth, in.leased);
	}
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_unlink(name), 0);
	printf("%-50s %s\n", label, failed ? "FAILED" : "ok");
	fflush(stdout);
}

int main(void)
{
	t_watchdog(t_limit(30), "t_race_slot_len", NULL);
	int any = 0;
	const struct {
		uint32_t len;
		size_t cap;
		int ack;
	} runs[] = {
		{ MAX + 1000, MAX, 0 },
		{ 0xffffffffu, MAX, 0 },
		{ MAX + 1000, 2 * MAX + 2000, 0 },
		{ MAX + 1000, MAX, 1 },
		{ 0xffffffffu, MAX, 1 },
	};
	for (unsigned i = 0; i < T_NELEM(runs); i++) {
		failed = 0;
		run(runs[i].len, runs[i].cap, runs[i].ack);
		any |= failed;
	}
	return any ? 1 : 0;
}
