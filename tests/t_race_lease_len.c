/* An ack-mode lease waiting for redelivery whose length was corrupted (above max_msg_size) is never copied or handed out: ipcq_recv gives -EBADMSG or a bounded length and never writes past its buffer or reads past the entry, ipcq_peek never hands out more than max_msg_size, and the next message still arrives. */
#define T_INTERNALS 1
#include "testutil.h"

enum { CAP = 8, MAX = 64, LEN = 40 };

struct probe {
	const char *label;
	uint32_t bad_len; /* written into the lease entry's len */
	size_t cap;       /* receive buffer (heap, exactly this size); 0: ipcq_peek */
};

static const char *qname;

static const char *rc_str(int rc)
{
	return rc < 0 ? ipcq_strerror(rc) : "a length";
}

static int bounded(int rc, uint64_t info_len, size_t cap)
{
	if (rc == -EBADMSG)
		return 1;
	if (rc == -ENOBUFS)
		return info_len <= MAX && info_len > cap;
	return rc >= 0 && (uint64_t)rc <= MAX && (size_t)rc <= cap && info_len == (uint64_t)rc;
}

/* The consumer: receive message 1, nack it (its lease waits for
 * redelivery), corrupt the lease's length, then receive again. */
static int consumer(void *arg)
{
	const struct probe *pr = (const struct probe *)arg;
	int bad = 0;
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = IPCQ_ATTACH_ACK;
	struct ipcq *c = t_open_attach(qname, IPCQ_ROLE_CONSUMER, &o);
	uint8_t m[MAX];
	struct ipcq_msginfo mi;
	CHECK_RC(ipcq_recv(c, m, sizeof(m), &mi, 1000000000ll), LEN);
	CHECK(t_verify(m, LEN, 0, 1) == 0);
	uint32_t e = (uint32_t)(mi.token >> 32) - 1;
	CHECK_RC(ipcq_nack(c, mi.token, IPCQ_NACK_REQUEUE), 0);
	CHECK(t_info(c).redeliverable == 1);

	struct t_peek pk;
	t_peek_open(&pk, qname);
	CHECK(e < pk.h.lease_capacity);
	uint64_t off = pk.h.off_leases + (uint64_t)e * pk.h.lease_size +
		       offsetof(struct ipcq_shm_lease, len);
	t_peek_close(&pk);
	t_poke(qname, off, &pr->bad_len, sizeof(pr->bad_len));

	memset(&mi, 0, sizeof(mi));
	if (pr->cap) {
		uint8_t *buf = (uint8_t *)malloc(pr->cap); /* ASan sees a write past it */
		CHECK(buf != NULL);
		int rc = ipcq_recv(c, buf, pr->cap, &mi, 100 * 1000000ll);
		if (!bounded(rc, mi.len, pr->cap)) {
			fprintf(stderr, "%s: ipcq_recv(buffer %zu) returned %d (%s) with info.len %" PRIu64
				" (max_msg_size %u): expected -EBADMSG or a bounded length\n", pr->label,
				pr->cap, rc, rc_str(rc), mi.len, MAX);
			bad = 1;
		}
		if (rc >= 0)
			CHECK_RC(ipcq_ack(c, mi.token), 0);
		free(buf);
	} else {
		struct ipcq_zmsg z;
		memset(&z, 0, sizeof(z));
		int rc = ipcq_peek(c, &z, 1, 100 * 1000000ll);
		if (rc != -EBADMSG && (rc != 1 || z.len > MAX || z.info.len > MAX)) {
			fprintf(stderr, "%s: ipcq_peek returned %d (%s) with len %zu, info.len %" PRIu64
				" (max_msg_size %u): expected -EBADMSG or a bounded length\n", pr->label,
				rc, rc < 0 ? ipcq_strerror(rc) : "messages", z.len, z.info.len, MAX);
			bad = 1;
		}
		if (rc == 1) {
			CHECK_RC(ipcq_release(c), 0);
			CHECK_RC(ipcq_ack(c, z.info.token), 0);
		}
	}

	/* message 2 must still arrive (the corrupt entry may cost errors,
	 * not the queue) */
	uint64_t dl = t_now_ns() + 2000000000ull;
	int rc, last = 0;
	unsigned errors = 0, round = 0;
	for (;;) {
		memset(&mi, 0, sizeof(mi));
		rc = ipcq_recv(c, m, sizeof(m), &mi, 20 * 1000000ll);
		if (rc >= 0)
			break;
		if (rc != -ETIMEDOUT && rc != -EBADMSG && rc != -ENOBUFS)
			T_FAIL("%s: ipcq_recv for message 2: %d (%s)", pr->label, rc, ipcq_strerror(rc));
		last = rc;
		errors++;
		if (rc != -ETIMEDOUT)
			t_poll_pause(&round); /* an error at once: do not spin */
		if (t_now_ns() > dl) {
			fprintf(stderr, "%s: message 2 never arrived: %u receives in 2 s all failed, the"
				" last with %d (%s), info.len %" PRIu64 ": the corrupt lease blocks the"
				" consumer\n", pr->label, errors, last, ipcq_strerror(last), mi.len);
			bad = 1;
			break;
		}
	}
	if (rc >= 0) {
		uint32_t p;
		uint64_t seq;
		t_header(m, &p, &seq);
		if (rc != LEN || p != 0 || seq != 2 || t_verify(m, LEN, 0, 2) != 0 ||
		    mi.deliveries != 1) {
			fprintf(stderr, "%s: after the corrupt lease: %d bytes, message %" PRIu64
				", deliveries %u: expected message 2 intact\n", pr->label, rc, seq,
				mi.deliveries);
			bad = 1;
		}
		CHECK_RC(ipcq_ack(c, mi.token), 0);
	}
	CHECK_RC(ipcq_close(c), 0);
	return bad;
}

static int run(const struct probe *pr)
{
	qname = t_qname("leaselen");
	struct ipcq_config cfg = t_config(CAP, MAX);
	cfg.grace_us = 1000;
	cfg.lease_capacity = 8;
	struct ipcq *p = t_create(qname, &cfg);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	uint8_t m[LEN];
	for (uint64_t s = 1; s <= 2; s++) {
		t_fill(m, LEN, 0, s);
		CHECK_RC(ipcq_send(p, m, LEN, IPCQ_NOWAIT), 0);
	}
	/* the consumer runs in a child: a copy that runs past the segment
	 * must fail this case, not end the test */
	pid_t pid = t_spawn(consumer, (void *)(uintptr_t)pr);
	int st = t_wait_end(pid, 10, pr->label);
	int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	if (!ok && !(WIFEXITED(st) && WEXITSTATUS(st) == 1))
		fprintf(stderr, "%s: the consumer %s\n", pr->label, t_status_str(st));
	else if (!ok)
		fprintf(stderr, "%s: the consumer failed (exit 1)\n", pr->label);
	printf("%-58s %s\n", pr->label, ok ? "ok" : "FAILED");
	fflush(stdout);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_unlink(qname), 0);
	return ok;
}

int main(void)
{
	static const struct probe probes[] = {
		{ "recv, buffer 16, lease len 0x7fffffff", 0x7fffffffu, 16 },
		{ "recv, buffer 4096, lease len 2048 (> max_msg_size)", 2048, 4096 },
		{ "recv, buffer 16 MiB, lease len 16 MiB - 1", (16u << 20) - 1, 16u << 20 },
		{ "peek, lease len 2048 (> max_msg_size)", 2048, 0 },
		{ "peek, lease len 0x7fffffff", 0x7fffffffu, 0 },
	};
	int all = 1;
	t_watchdog(t_limit(60), "t_race_lease_len", NULL);
	for (unsigned i = 0; i < T_NELEM(probes); i++)
		all &= run(&probes[i]);
	return all ? 0 : 1;
}
