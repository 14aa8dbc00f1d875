/* A ring slot whose length is impossible (above max_msg_size, up to 0xffffffff) is refused with -EBADMSG and released, in fast and ack mode: the receive after it gets the next message intact, and the ring keeps moving; a peek over a length that turns impossible after its claim returns -EBADMSG holding nothing, and the next peek gets the message after its claim. */
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

/* A peek of three whose middle message's length turns impossible after
 * the claim (the consumer frozen right after its claim CAS): -EBADMSG, and
 * the handle holds nothing afterwards (the claim's messages are dropped
 * with it), so that the next peek gets the message after them. */
static const char *peek_name;

static int peeker(void *arg)
{
	(void)arg;
	t_freeze_at("recv.claimed", 1);
	struct ipcq *c = t_open_attach(peek_name, IPCQ_ROLE_CONSUMER, NULL);
	struct ipcq_zmsg z[3];
	int rc = ipcq_peek(c, z, 3, IPCQ_NOWAIT);
	if (rc != -EBADMSG) {
		fprintf(stderr, "peek over the changed length returned %d (%s)\n", rc, rc_str(rc));
		return 1;
	}
	rc = ipcq_release(c);
	if (rc != -EINVAL) {
		fprintf(stderr, "after -EBADMSG the handle still holds its claim (release %d)\n", rc);
		return 1;
	}
	rc = ipcq_peek(c, z, 3, IPCQ_NOWAIT);
	uint32_t p;
	uint64_t seq = 0;
	if (rc == 1 && z[0].len == LEN)
		t_header(z[0].data, &p, &seq);
	if (rc != 1 || seq != 4 || t_verify(z[0].data, LEN, 0, 4) != 0) {
		fprintf(stderr, "the next peek returned %d (%s), message %" PRIu64
				": expected message 4 alone, intact\n", rc, rc_str(rc), seq);
		return 1;
	}
	CHECK_RC(ipcq_release(c), 0);
	CHECK_RC(ipcq_close(c), 0);
	return 0;
}

static void run_peek_changed(void)
{
	const char *label = "peek, a length changed after the claim";
	peek_name = t_qname("slotlenpk");
	struct ipcq_config cfg = t_config(CAP, MAX);
	struct ipcq *p = t_create(peek_name, &cfg);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	for (uint64_t s = 1; s <= 4; s++)
		send_one(p, s);
	pid_t pid = t_spawn(peeker, NULL);
	/* it claimed 1 to 3 (not 4: a peek of three) and sits after its CAS */
	t_wait_stopped(pid, 20, "peeker");
	struct t_peek pk;
	t_peek_open(&pk, peek_name);
	uint64_t off = pk.h.off_ring + pk.h.slot_size + offsetof(struct ipcq_shm_slot, len);
	t_peek_close(&pk);
	uint32_t bad_len = MAX + 1000;
	t_poke(peek_name, off, &bad_len, sizeof(bad_len));
	t_resume(pid);
	if (t_reap(pid) != 0)
		SOFT_FAIL("a peek over a length changed after its claim: see above");
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_unlink(peek_name), 0);
	printf("%-50s %s\n", label, failed ? "FAILED" : "ok");
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
	if (T_HAVE_POINTS) { /* freeze points: debug builds */
		failed = 0;
		unsetenv("IPCQ_CRASH");
		unsetenv("IPCQ_FREEZE");
		run_peek_changed();
		any |= failed;
	}
	return any ? 1 : 0;
}
