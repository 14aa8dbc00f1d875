/* ipcq_send_batch/ipcq_recv_batch in one process: argument errors, partial batches on a nearly full or nearly empty ring, buffers too small. */
#include "ipcq.h"
#include "testutil.h"

enum { CAP = 8, MAX = 64 };

static uint8_t mem[2 * CAP][MAX + 1];

/* Fill bufs[0..n) with messages (1, seq0 + i) of length len(i). */
static void fill(struct ipcq_buf *b, unsigned n, uint64_t seq0)
{
	for (unsigned i = 0; i < n; i++) {
		b[i].data = mem[i];
		b[i].len = t_msg_len(1, seq0 + i, 0, MAX);
		t_fill(mem[i], b[i].len, 1, seq0 + i);
	}
}

static void rooms(struct ipcq_buf *b, unsigned n, size_t room)
{
	for (unsigned i = 0; i < n; i++) {
		b[i].data = mem[i];
		b[i].len = room;
	}
}

static void test_errors(struct ipcq *q)
{
	struct ipcq_buf b[2 * CAP];
	struct ipcq_msginfo infos[2 * CAP];

	fill(b, 2 * CAP, 1);
	CHECK_RC(ipcq_send_batch(q, b, 0, IPCQ_NOWAIT), -EINVAL);
	CHECK_RC(ipcq_send_batch(q, NULL, 1, IPCQ_NOWAIT), -EINVAL);
	/* one message too long: nothing sent */
	b[2].len = MAX + 1;
	CHECK_RC(ipcq_send_batch(q, b, 4, IPCQ_NOWAIT), -EMSGSIZE);
	CHECK_RC(ipcq_send_batch(q, b, 4, IPCQ_FOREVER), -EMSGSIZE);
	b[2].len = SIZE_MAX;
	CHECK_RC(ipcq_send_batch(q, b, 4, IPCQ_NOWAIT), -EMSGSIZE);
	/* NULL data with a length: nothing sent */
	fill(b, 4, 1);
	b[3].data = NULL;
	CHECK_RC(ipcq_send_batch(q, b, 4, IPCQ_NOWAIT), -EINVAL);
	CHECK(t_info(q).enqueued == 0);

	rooms(b, 2 * CAP, MAX);
	CHECK_RC(ipcq_recv_batch(q, b, infos, 0, IPCQ_NOWAIT), -EINVAL);
	CHECK_RC(ipcq_recv_batch(q, NULL, infos, 1, IPCQ_NOWAIT), -EINVAL);
	CHECK_RC(ipcq_recv_batch(q, b, infos, CAP, IPCQ_NOWAIT), -EAGAIN);
	CHECK_RC(ipcq_recv_batch(q, b, infos, 2 * CAP, IPCQ_NOWAIT), -EAGAIN);
	CHECK_RC(ipcq_recv_batch(q, b, NULL, 1, IPCQ_NOWAIT), -EAGAIN);
}

/* n above the capacity: at most capacity messages are taken (and checked). */
static void test_more_than_capacity(struct ipcq *q)
{
	struct ipcq_buf b[2 * CAP];
	struct ipcq_msginfo infos[2 * CAP];
	uint64_t seq0 = t_info(q).enqueued + 1;

	fill(b, 2 * CAP, seq0);
	b[CAP].len = MAX + 1; /* beyond what one call takes: not looked at */
	CHECK_RC(ipcq_send_batch(q, b, 2 * CAP, IPCQ_NOWAIT), CAP);
	CHECK(t_info(q).depth == CAP);
	rooms(b, 2 * CAP, MAX);
	CHECK_RC(ipcq_recv_batch(q, b, infos, 2 * CAP, IPCQ_NOWAIT), CAP);
	for (unsigned i = 0; i < CAP; i++) {
		CHECK(infos[i].seq == seq0 + i);
		CHECK(t_verify(b[i].data, b[i].len, 1, seq0 + i) == 0);
	}
	CHECK(t_info(q).depth == 0);
}

static void test_partial_send(struct ipcq *q)
{
	struct ipcq_buf b[CAP];
	struct ipcq_msginfo infos[CAP];

	/* 5 of 8 slots taken: a batch of 8 sends 3 */
	fill(b, 5, 1);
	CHECK_RC(ipcq_send_batch(q, b, 5, IPCQ_NOWAIT), 5);
	fill(b, CAP, 6);
	CHECK_RC(ipcq_send_batch(q, b, CAP, IPCQ_NOWAIT), 3);
	CHECK(t_info(q).depth == CAP);
	CHECK_RC(ipcq_send_batch(q, b, 1, IPCQ_NOWAIT), -EAGAIN);
	CHECK_RC(ipcq_send_batch(q, b, CAP, 1000000), -ETIMEDOUT);

	/* a batch of 8 receives all, in order, with their info */
	rooms(b, CAP, MAX);
	memset(infos, 0, sizeof(infos));
	CHECK_RC(ipcq_recv_batch(q, b, infos, CAP, IPCQ_NOWAIT), CAP);
	for (unsigned i = 0; i < CAP; i++) {
		uint64_t seq = i + 1;
		CHECK(b[i].len == t_msg_len(1, seq, 0, MAX));
		CHECK(t_verify(b[i].data, b[i].len, 1, seq) == 0);
		CHECK(infos[i].len == b[i].len);
		CHECK(infos[i].seq == seq);
		CHECK(infos[i].deliveries == 1);
		CHECK(infos[i].producer == (uint32_t)t_info(q).participant_index);
	}
	CHECK(t_info(q).depth == 0);
}

static void test_partial_recv(struct ipcq *q)
{
	struct ipcq_buf b[CAP];
	struct ipcq_msginfo infos[CAP];
	uint64_t seq0 = t_info(q).enqueued + 1;

	/* 3 waiting, ask for 8: get 3 */
	fill(b, 3, seq0);
	CHECK_RC(ipcq_send_batch(q, b, 3, IPCQ_NOWAIT), 3);
	rooms(b, CAP, MAX);
	CHECK_RC(ipcq_recv_batch(q, b, infos, CAP, IPCQ_NOWAIT), 3);
	for (unsigned i = 0; i < 3; i++)
		CHECK(t_verify(b[i].data, b[i].len, 1, seq0 + i) == 0);
	/* info NULL is fine */
	fill(b, 2, seq0 + 3);
	CHECK_RC(ipcq_send_batch(q, b, 2, IPCQ_NOWAIT), 2);
	rooms(b, CAP, MAX);
	CHECK_RC(ipcq_recv_batch(q, b, NULL, CAP, IPCQ_NOWAIT), 2);
	CHECK(t_verify(b[1].data, b[1].len, 1, seq0 + 4) == 0);
}

/* The longest run of messages that fit their buffers; the rest stay queued. */
static void test_small_buffers(struct ipcq *q)
{
	struct ipcq_buf b[4];
	struct ipcq_msginfo infos[4];
	const size_t lens[4] = { 10, 20, 30, 40 };
	uint64_t seq0 = t_info(q).enqueued + 1;

	for (unsigned i = 0; i < 4; i++) {
		b[i].data = mem[i];
		b[i].len = lens[i];
		t_fill(mem[i], lens[i], 1, seq0 + i);
	}
	CHECK_RC(ipcq_send_batch(q, b, 4, IPCQ_NOWAIT), 4);

	/* first does not fit: -ENOBUFS, infos[0].len is the room needed */
	rooms(b, 4, MAX);
	b[0].len = 9;
	memset(infos, 0, sizeof(infos));
	CHECK_RC(ipcq_recv_batch(q, b, infos, 4, IPCQ_NOWAIT), -ENOBUFS);
	CHECK(infos[0].len == 10);
	CHECK(t_info(q).depth == 4);

	/* the third does not fit its buffer: two received */
	rooms(b, 4, MAX);
	b[2].len = 29;
	CHECK_RC(ipcq_recv_batch(q, b, infos, 4, IPCQ_NOWAIT), 2);
	CHECK(b[0].len == 10 && b[1].len == 20);
	CHECK(t_verify(b[0].data, 10, 1, seq0) == 0 && t_verify(b[1].data, 20, 1, seq0 + 1) == 0);
	CHECK(t_info(q).depth == 2);

	/* the third is still there, intact, for a buffer that fits */
	rooms(b, 4, MAX);
	b[0].len = 30;
	b[1].len = 39;
	CHECK_RC(ipcq_recv_batch(q, b, infos, 4, IPCQ_NOWAIT), 1);
	CHECK(b[0].len == 30 && t_verify(b[0].data, 30, 1, seq0 + 2) == 0);
	CHECK(infos[0].seq == seq0 + 2 && infos[0].deliveries == 1);
	char one[40];
	CHECK_RC(ipcq_recv(q, one, sizeof(one), NULL, IPCQ_NOWAIT), 40);
	CHECK(t_verify(one, 40, 1, seq0 + 3) == 0);
	CHECK(t_info(q).depth == 0);
}

/* Batches and single calls interleave in one FIFO, across ring laps. */
static void test_mixed(struct ipcq *q)
{
	struct ipcq_buf b[CAP];
	struct ipcq_msginfo infos[CAP];
	uint8_t one[MAX];
	uint64_t next_send = t_info(q).enqueued + 1, next_recv = next_send;
	for (unsigned round = 0; round < 200; round++) {
		unsigned n = 1 + round % CAP;
		unsigned room = CAP - (unsigned)t_info(q).depth;
		if (room > 0) {
			if (n > room)
				n = room;
			fill(b, n, next_send);
			int rc = round % 3 == 0 ? ipcq_send(q, b[0].data, b[0].len, IPCQ_NOWAIT) == 0
					      : ipcq_send_batch(q, b, n, IPCQ_NOWAIT);
			CHECK(rc >= 1);
			next_send += (unsigned)rc;
		}
		if (round % 2 == 0) {
			CHECK_OK(ipcq_recv(q, one, sizeof(one), infos, IPCQ_NOWAIT));
			CHECK(infos[0].seq == next_recv);
			CHECK(t_verify(one, infos[0].len, 1, next_recv) == 0);
			next_recv++;
		} else {
			unsigned want = 1 + (round / 2) % CAP;
			rooms(b, want, MAX);
			int rc = ipcq_recv_batch(q, b, infos, want, IPCQ_NOWAIT);
			CHECK(rc >= 1 && rc <= (int)want);
			for (int i = 0; i < rc; i++, next_recv++) {
				CHECK(infos[i].seq == next_recv);
				CHECK(t_verify(b[i].data, b[i].len, 1, next_recv) == 0);
			}
		}
	}
}

int main(void)
{
	const char *name = t_qname("batch");
	struct ipcq_config cfg = t_config(CAP, MAX);
	struct ipcq *q = t_create(name, &cfg);
	struct ipcq_buf b = { mem[0], 1 };

	CHECK_RC(ipcq_send_batch(q, &b, 1, IPCQ_NOWAIT), -EPERM);
	CHECK_RC(ipcq_recv_batch(q, &b, NULL, 1, IPCQ_NOWAIT), -EPERM);
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, NULL), 0);
	test_errors(q);
	test_partial_send(q);
	test_partial_recv(q);
	test_more_than_capacity(q);
	test_small_buffers(q);
	test_mixed(q);
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_unlink(name), 0);
	return 0;
}
