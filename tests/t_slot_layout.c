/* A message of up to 48 bytes starts 16 bytes into a 64-byte line and ends in it; the slot's tail still carries sequence, time and stream to every reader (receive, peek, browse, ack, the side ring), for anonymous and named producers. */
#include "testutil.h"

#include <stdint.h>

#define HEAD 16u /* the slot head: what every receive reads */
#define LINE 64u

static struct ipcq *attach(const char *name, unsigned roles, const char *pname)
{
	struct ipcq *q;
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	CHECK_OK(ipcq_open(name, &q));
	if (pname) {
		o.name = pname;
		o.flags = IPCQ_ATTACH_DEDUP;
	}
	CHECK_OK(ipcq_attach(q, roles, pname ? &o : NULL));
	return q;
}

static void fill(char *b, size_t len, unsigned tag)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (char)('a' + (tag + i) % 26);
}

/* Peek one message in place: the payload starts HEAD bytes into its line,
 * so up to LINE - HEAD bytes share the line with the head; the info (read
 * from the tail) names the sequence and stream. */
static void peek_check(struct ipcq *r, size_t len, unsigned tag, uint64_t seq, uint32_t stream)
{
	struct ipcq_zmsg m;
	char want[256];
	fill(want, len, tag);
	CHECK_RC(ipcq_peek(r, &m, 1, IPCQ_NOWAIT), 1);
	uintptr_t at = (uintptr_t)m.data;
	if (at % LINE != HEAD)
		T_FAIL("payload at %zu bytes into its line, want %u", (size_t)(at % LINE), HEAD);
	if (len <= LINE - HEAD && (at + len - 1) / LINE != at / LINE)
		T_FAIL("a %zu-byte message leaves its first line", len);
	CHECK(m.len == len && memcmp(m.data, want, len) == 0);
	CHECK(m.info.seq == seq && m.info.stream == stream && m.info.enqueue_ns != 0);
	CHECK(m.info.deliveries == 1 && m.info.flags == 0);
	CHECK_OK(ipcq_release(r));
}

int main(void)
{
	const char *name = t_qname("slot");
	struct ipcq_config c = IPCQ_CONFIG_INIT;
	struct ipcq *q, *p, *n, *r;
	char b[256];

	c.capacity = 8;
	c.max_msg_size = 200;
	c.side_capacity = 4;
	CHECK_OK(ipcq_create(name, &c, &q));
	p = attach(name, IPCQ_ROLE_PRODUCER, NULL);
	n = attach(name, IPCQ_ROLE_PRODUCER, "slot-named");
	r = attach(name, IPCQ_ROLE_CONSUMER, NULL);

	struct ipcq_info in;
	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	CHECK_OK(ipcq_info(q, &in));
	/* head + 200 + tail (32) rounded up to 64 */
	CHECK(in.slot_size == 256);

	/* anonymous: sizes around the line's end, the full size */
	const size_t lens[] = { 0, 1, 47, 48, 49, 200 };
	for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		fill(b, lens[i], i);
		CHECK_RC(ipcq_send(p, b, lens[i], IPCQ_NOWAIT), 0);
		peek_check(r, lens[i], i, i + 1, 0);
	}

	/* named: the stream and the name's sequence come from the tail, and a
	 * consumed message moves the name's consumed mark */
	fill(b, 48, 7);
	CHECK_RC(ipcq_send_seq(n, 1000, b, 48, IPCQ_NOWAIT), 0);
	struct ipcq_zmsg m;
	CHECK_RC(ipcq_peek(r, &m, 1, IPCQ_NOWAIT), 1);
	uint32_t stream = m.info.stream;
	CHECK(stream != 0 && m.info.seq == 1000);
	CHECK_OK(ipcq_release(r));
	fill(b, 20, 8);
	CHECK_RC(ipcq_send_seq(n, 1001, b, 20, IPCQ_NOWAIT), 0);
	peek_check(r, 20, 8, 1001, stream);
	uint64_t last = 0;
	CHECK_OK(ipcq_last_seq(n, &last));
	CHECK(last == 1001);

	/* a copying receive with and without info */
	struct ipcq_msginfo mi;
	fill(b, 33, 9);
	CHECK_RC(ipcq_send_seq(n, 1002, b, 33, IPCQ_NOWAIT), 0);
	char got[256];
	CHECK_RC(ipcq_recv(r, got, sizeof(got), &mi, IPCQ_NOWAIT), 33);
	CHECK(memcmp(got, b, 33) == 0 && mi.seq == 1002 && mi.stream == stream && mi.len == 33);
	fill(b, 40, 10);
	CHECK_RC(ipcq_send(p, b, 40, IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_recv(r, got, sizeof(got), NULL, IPCQ_NOWAIT), 40);
	CHECK(memcmp(got, b, 40) == 0);

	/* browse reads the tail too */
	fill(b, 48, 11);
	CHECK_RC(ipcq_send_seq(n, 1003, b, 48, IPCQ_NOWAIT), 0);
	struct ipcq_info in2;
	memset(&in2, 0, sizeof(in2));
	in2.size = sizeof(in2);
	CHECK_OK(ipcq_info(q, &in2));
	struct ipcq_slot_view v;
	memset(&v, 0, sizeof(v));
	v.size = sizeof(v);
	CHECK_RC(ipcq_browse(q, in2.dequeued, got, sizeof(got), &v), 48);
	CHECK(v.seq == 1003 && v.stream == stream && v.enqueue_ns != 0 && memcmp(got, b, 48) == 0);

	/* ack mode and the side ring keep them: nack to the side ring */
	struct ipcq *a = NULL;
	struct ipcq_attach_opts ao = IPCQ_ATTACH_OPTS_INIT;
	CHECK_OK(ipcq_open(name, &a));
	ao.flags = IPCQ_ATTACH_ACK;
	CHECK_OK(ipcq_attach(a, IPCQ_ROLE_CONSUMER, &ao));
	CHECK_RC(ipcq_recv(a, got, sizeof(got), &mi, IPCQ_NOWAIT), 48);
	CHECK(mi.seq == 1003 && mi.stream == stream && mi.enqueue_ns == v.enqueue_ns);
	CHECK_OK(ipcq_nack(a, mi.token, IPCQ_NACK_POISON));
	struct ipcq_poison pz;
	CHECK_RC(ipcq_poison_list(q, 0, &pz, 1), 1);
	CHECK_RC(ipcq_poison_peek(q, pz.id, got, sizeof(got), &pz), 48);
	CHECK(pz.seq == 1003 && pz.stream == stream && memcmp(got, b, 48) == 0);

	ipcq_close(a);
	ipcq_close(r);
	ipcq_close(n);
	ipcq_close(p);
	CHECK_OK(ipcq_unlink(name));
	ipcq_close(q);
	printf("ok\n");
	return 0;
}
