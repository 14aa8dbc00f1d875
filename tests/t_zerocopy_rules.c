/* Zero copy and copying calls do not mix on one handle while a reservation or peek is open (a replay from the side ring neither), and detach or close gives both up without wedging the queue. */
#include "testutil.h"

static struct ipcq *attach(const char *name, unsigned roles)
{
	struct ipcq *q;
	CHECK_OK(ipcq_open(name, &q));
	CHECK_OK(ipcq_attach(q, roles, NULL));
	return q;
}

int main(void)
{
	const char *name = t_qname("zcr");
	struct ipcq_config c = IPCQ_CONFIG_INIT;
	struct ipcq *q, *p, *r;
	void *bufs[4];
	char b[64];
	size_t len = 3;

	c.capacity = 4;
	c.max_msg_size = 64;
	CHECK_OK(ipcq_create(name, &c, &q));
	p = attach(name, IPCQ_ROLE_PRODUCER);
	r = attach(name, IPCQ_ROLE_CONSUMER);

	/* a copying send while a reservation is open would break the order
	 * and the crash record: refused, and the reservation still works */
	CHECK_RC(ipcq_reserve(p, 1, bufs, IPCQ_NOWAIT), 1);
	CHECK_RC(ipcq_send(p, "x", 1, IPCQ_NOWAIT), -EALREADY);
	struct ipcq_buf one = { (void *)"y", 1 };
	CHECK_RC(ipcq_send_batch(p, &one, 1, IPCQ_NOWAIT), -EALREADY);
	/* a replay from the side ring too: it claims through the record
	 * that covers the reservation */
	CHECK(ipcq_poison_put(p, "sd", 2, IPCQ_REASON_NACKED, 0, 1) >= 0);
	CHECK_RC(ipcq_poison_replay(p, IPCQ_POISON_ALL), -EALREADY);
	CHECK(t_info(p).side_depth == 1);
	memcpy(bufs[0], "zc1", 3);
	CHECK_RC(ipcq_commit(p, &len, 1), 0);
	CHECK_RC(ipcq_send(p, "cp2", 3, IPCQ_NOWAIT), 0);

	/* a copying receive while messages are peeked: refused */
	struct ipcq_zmsg m[4];
	CHECK_RC(ipcq_peek(r, m, 1, IPCQ_NOWAIT), 1);
	CHECK(m[0].len == 3 && memcmp(m[0].data, "zc1", 3) == 0);
	CHECK_RC(ipcq_recv(r, b, sizeof(b), NULL, IPCQ_NOWAIT), -EALREADY);
	struct ipcq_buf rb = { b, sizeof(b) };
	CHECK_RC(ipcq_recv_batch(r, &rb, NULL, 1, IPCQ_NOWAIT), -EALREADY);
	CHECK_RC(ipcq_release(r), 0);
	CHECK_RC(ipcq_recv(r, b, sizeof(b), NULL, IPCQ_NOWAIT), 3);
	CHECK(memcmp(b, "cp2", 3) == 0);
	/* committed: the replay goes */
	CHECK_RC(ipcq_poison_replay(p, IPCQ_POISON_ALL), 1);
	CHECK_RC(ipcq_recv(r, b, sizeof(b), NULL, IPCQ_NOWAIT), 2);
	CHECK(memcmp(b, "sd", 2) == 0 && t_info(p).side_depth == 0);

	/* close with a reservation open gives it up: consumers pass the
	 * slots, the ring keeps turning for laps */
	CHECK_RC(ipcq_reserve(p, 2, bufs, IPCQ_NOWAIT), 2);
	CHECK_RC(ipcq_close(p), 0);
	p = attach(name, IPCQ_ROLE_PRODUCER);
	for (int lap = 0; lap < 3 * 4; lap++) {
		CHECK_RC(ipcq_send(p, "lap", 3, IPCQ_NOWAIT), 0);
		CHECK_RC(ipcq_recv(r, b, sizeof(b), NULL, 1000000000), 3);
	}

	/* detach with messages peeked releases them: producers go on */
	CHECK_RC(ipcq_send(p, "pk1", 3, IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_send(p, "pk2", 3, IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_peek(r, m, 2, IPCQ_NOWAIT), 2);
	CHECK_RC(ipcq_detach(r), 0);
	for (int i = 0; i < 4; i++)
		CHECK_RC(ipcq_send(p, "new", 3, IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_send(p, "new", 3, IPCQ_NOWAIT), -EAGAIN);

	/* a re-attached handle starts with nothing open */
	CHECK_OK(ipcq_attach(r, IPCQ_ROLE_CONSUMER, NULL));
	CHECK_RC(ipcq_release(r), -EINVAL);
	for (int i = 0; i < 4; i++)
		CHECK_RC(ipcq_recv(r, b, sizeof(b), NULL, IPCQ_NOWAIT), 3);
	CHECK_RC(ipcq_detach(p), 0);
	CHECK_OK(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL));
	CHECK_RC(ipcq_commit(p, &len, 1), -EINVAL);

	ipcq_close(p);
	ipcq_close(r);
	ipcq_close(q);
	CHECK_OK(ipcq_unlink(name));
	printf("ok\n");
	return 0;
}
