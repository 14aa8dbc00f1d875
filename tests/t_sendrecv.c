/* ipcq_send/ipcq_recv in one process: FIFO, message info, empty and maximum messages, -EMSGSIZE, -ENOBUFS (message kept), -EAGAIN on empty and full, argument errors. */
#include "ipcq.h"
#include "testutil.h"

enum { CAP = 8, MAX = 256 };

static struct ipcq *make_queue(const char **name_out)
{
	const char *name = t_qname("sr");
	struct ipcq_config cfg = t_config(CAP, MAX);
	struct ipcq *q = t_create(name, &cfg);
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, NULL), 0);
	*name_out = name;
	return q;
}

static void finish(struct ipcq *q, const char *name)
{
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_unlink(name), 0);
}

static uint64_t coarse_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void test_fifo_and_info(void)
{
	const char *name;
	struct ipcq *q = make_queue(&name);
	uint8_t buf[MAX], out[MAX];
	int32_t me = t_info(q).participant_index;
	uint64_t t0 = coarse_now();

	/* several laps around the ring, with every length class */
	uint64_t seq = 0;
	for (int lap = 0; lap < 5; lap++) {
		for (uint32_t i = 0; i < CAP; i++) {
			uint32_t len = t_msg_len(0, seq + i + 1, 0, MAX);
			t_fill(buf, len, 7, seq + i + 1);
			CHECK_RC(ipcq_send(q, buf, len, IPCQ_NOWAIT), 0);
			CHECK(t_info(q).depth == i + 1);
		}
		for (uint32_t i = 0; i < CAP; i++) {
			struct ipcq_msginfo info;
			memset(&info, 0xa5, sizeof(info));
			uint32_t len = t_msg_len(0, seq + 1, 0, MAX);
			CHECK_RC(ipcq_recv(q, out, sizeof(out), &info, IPCQ_NOWAIT), len);
			seq++;
			CHECK(t_verify(out, len, 7, seq) == 0);
			CHECK(info.len == len);
			if (info.seq != seq)
				T_FAIL("info.seq %" PRIu64 ", expected %" PRIu64, info.seq, seq);
			CHECK(info.producer == (uint32_t)me);
			CHECK(info.deliveries == 1);
			CHECK(info.flags == 0);
			CHECK(info.token == 0); /* not ack mode */
			/* coarse clock: a few ms resolution */
			CHECK(info.enqueue_ns + 50000000ull >= t0);
			CHECK(info.enqueue_ns <= coarse_now() + 50000000ull);
		}
		CHECK(t_info(q).depth == 0);
	}
	struct ipcq_info qi = t_info(q);
	CHECK(qi.enqueued == 5 * CAP && qi.dequeued == 5 * CAP);
	finish(q, name);
}

/* Sequences count per producer handle, from 1. */
static void test_seq_per_producer(void)
{
	const char *name;
	struct ipcq *q = make_queue(&name);
	struct ipcq *p2 = t_open_attach(name, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq_msginfo info;
	char buf[4];
	CHECK_RC(ipcq_send(q, "a", 1, IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_send(p2, "b", 1, IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_send(p2, "c", 1, IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_send(q, "d", 1, IPCQ_NOWAIT), 0);
	const struct { char c; uint64_t seq; struct ipcq *from; } want[] = {
		{ 'a', 1, q }, { 'b', 1, p2 }, { 'c', 2, p2 }, { 'd', 2, q },
	};
	for (int i = 0; i < 4; i++) {
		CHECK_RC(ipcq_recv(q, buf, sizeof(buf), &info, IPCQ_NOWAIT), 1);
		CHECK(buf[0] == want[i].c);
		CHECK(info.seq == want[i].seq);
		CHECK(info.producer == (uint32_t)t_info(want[i].from).participant_index);
	}
	CHECK_RC(ipcq_close(p2), 0);
	finish(q, name);
}

static void test_sizes(void)
{
	const char *name;
	struct ipcq *q = make_queue(&name);
	uint8_t buf[MAX + 1], out[MAX + 1];
	struct ipcq_msginfo info;

	/* zero-length messages, with and without a buffer */
	CHECK_RC(ipcq_send(q, NULL, 0, IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_send(q, buf, 0, IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_recv(q, NULL, 0, &info, IPCQ_NOWAIT), 0);
	CHECK(info.len == 0);
	CHECK_RC(ipcq_recv(q, out, sizeof(out), &info, IPCQ_NOWAIT), 0);
	CHECK(info.len == 0);

	/* the maximum, into a buffer of exactly that size */
	t_fill(buf, MAX, 3, 1);
	CHECK_RC(ipcq_send(q, buf, MAX, IPCQ_NOWAIT), 0);
	memset(out, 0xee, sizeof(out));
	CHECK_RC(ipcq_recv(q, out, MAX, NULL, IPCQ_NOWAIT), MAX);
	CHECK(t_verify(out, MAX, 3, 1) == 0);
	CHECK(out[MAX] == 0xee); /* nothing written past the payload */

	/* too long: nothing enqueued, whatever the timeout */
	uint64_t before = t_info(q).enqueued;
	CHECK_RC(ipcq_send(q, buf, MAX + 1, IPCQ_NOWAIT), -EMSGSIZE);
	CHECK_RC(ipcq_send(q, buf, MAX + 1, IPCQ_FOREVER), -EMSGSIZE);
	CHECK_RC(ipcq_send(q, buf, SIZE_MAX, IPCQ_NOWAIT), -EMSGSIZE);
	CHECK_RC(ipcq_send(q, buf, (size_t)UINT32_MAX + 1 + 5, IPCQ_NOWAIT), -EMSGSIZE);
	CHECK(t_info(q).enqueued == before);
	CHECK(t_info(q).depth == 0);

	/* NULL data with a length */
	CHECK_RC(ipcq_send(q, NULL, 1, IPCQ_NOWAIT), -EINVAL);
	CHECK(t_info(q).depth == 0);

	/* every length from 0 to the maximum, each byte its own value,
	 * into a buffer one byte longer whose last byte must stay as it
	 * was: short copies are made by moves that overlap each other */
	for (size_t len = 0; len <= MAX; len++) {
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)(i * 7 + len);
		CHECK_RC(ipcq_send(q, buf, len, IPCQ_NOWAIT), 0);
		memset(out, 0xee, sizeof(out));
		CHECK_RC(ipcq_recv(q, out, len + 1 > MAX ? MAX : len + 1, NULL, IPCQ_NOWAIT), (int)len);
		for (size_t i = 0; i < len; i++)
			CHECK(out[i] == (uint8_t)(i * 7 + len));
		CHECK(out[len] == 0xee);
	}
	finish(q, name);
}

/* The same lengths through ack mode, whose lease keeps a copy of its own. */
static void test_sizes_ack(void)
{
	const char *name = t_qname("sra");
	struct ipcq_config cfg = t_config(CAP, MAX);
	struct ipcq *q = t_create(name, &cfg);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	uint8_t buf[MAX + 1], out[MAX + 1];
	struct ipcq_msginfo info;

	o.flags = IPCQ_ATTACH_ACK;
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, &o), 0);
	for (size_t len = 0; len <= MAX; len++) {
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)(i * 5 + len);
		CHECK_RC(ipcq_send(q, buf, len, IPCQ_NOWAIT), 0);
		memset(out, 0xee, sizeof(out));
		CHECK_RC(ipcq_recv(q, out, len + 1 > MAX ? MAX : len + 1, &info, IPCQ_NOWAIT), (int)len);
		for (size_t i = 0; i < len; i++)
			CHECK(out[i] == (uint8_t)(i * 5 + len));
		CHECK(out[len] == 0xee);
		CHECK_RC(ipcq_ack(q, info.token), 0);
	}
	finish(q, name);
}

/* -ENOBUFS leaves the message queued, untouched, and says how much room it needs. */
static void test_nobufs(void)
{
	const char *name;
	struct ipcq *q = make_queue(&name);
	uint8_t buf[MAX], out[MAX];
	struct ipcq_msginfo info;

	t_fill(buf, 100, 1, 1);
	CHECK_RC(ipcq_send(q, buf, 100, IPCQ_NOWAIT), 0);
	t_fill(buf, 10, 1, 2);
	CHECK_RC(ipcq_send(q, buf, 10, IPCQ_NOWAIT), 0);

	memset(out, 0xee, sizeof(out));
	memset(&info, 0, sizeof(info));
	CHECK_RC(ipcq_recv(q, out, 99, &info, IPCQ_NOWAIT), -ENOBUFS);
	CHECK(info.len == 100);
	for (int i = 0; i < MAX; i++)
		CHECK(out[i] == 0xee);
	CHECK_RC(ipcq_recv(q, out, 0, &info, IPCQ_NOWAIT), -ENOBUFS);
	CHECK_RC(ipcq_recv(q, NULL, 0, &info, IPCQ_NOWAIT), -ENOBUFS);
	CHECK(info.len == 100);
	CHECK_RC(ipcq_recv(q, out, 1, NULL, IPCQ_FOREVER), -ENOBUFS);
	CHECK(t_info(q).depth == 2);

	/* the same message comes next, intact, as a first delivery */
	memset(&info, 0, sizeof(info));
	CHECK_RC(ipcq_recv(q, out, 100, &info, IPCQ_NOWAIT), 100);
	CHECK(t_verify(out, 100, 1, 1) == 0);
	CHECK(info.seq == 1 && info.len == 100 && info.deliveries == 1);
	CHECK_RC(ipcq_recv(q, out, sizeof(out), &info, IPCQ_NOWAIT), 10);
	CHECK(t_verify(out, 10, 1, 2) == 0);
	CHECK(info.seq == 2);

	/* NULL buffer with room */
	CHECK_RC(ipcq_send(q, buf, 10, IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_recv(q, NULL, 10, &info, IPCQ_NOWAIT), -EINVAL);
	CHECK(t_info(q).depth == 1);
	CHECK_RC(ipcq_recv(q, out, sizeof(out), &info, IPCQ_NOWAIT), 10);
	finish(q, name);
}

static void test_nowait(void)
{
	const char *name;
	struct ipcq *q = make_queue(&name);
	char buf[MAX];

	CHECK_RC(ipcq_recv(q, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
	for (uint32_t i = 0; i < CAP; i++)
		CHECK_RC(ipcq_send(q, &i, sizeof(i), IPCQ_NOWAIT), 0);
	/* full: exactly capacity messages fit */
	CHECK_RC(ipcq_send(q, "x", 1, IPCQ_NOWAIT), -EAGAIN);
	CHECK_RC(ipcq_send(q, NULL, 0, IPCQ_NOWAIT), -EAGAIN);
	CHECK(t_info(q).depth == CAP);
	CHECK(t_info(q).enqueued == CAP);
	/* one out, one in */
	uint32_t v;
	CHECK_RC(ipcq_recv(q, &v, sizeof(v), NULL, IPCQ_NOWAIT), sizeof(v));
	CHECK(v == 0);
	CHECK_RC(ipcq_send(q, "y", 1, IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_send(q, "z", 1, IPCQ_NOWAIT), -EAGAIN);
	for (uint32_t i = 1; i < CAP; i++) {
		CHECK_RC(ipcq_recv(q, &v, sizeof(v), NULL, IPCQ_NOWAIT), sizeof(v));
		CHECK(v == i);
	}
	CHECK_RC(ipcq_recv(q, buf, sizeof(buf), NULL, IPCQ_NOWAIT), 1);
	CHECK(buf[0] == 'y');
	CHECK_RC(ipcq_recv(q, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
	CHECK(t_info(q).depth == 0);
	finish(q, name);
}

static void test_info(void)
{
	const char *name;
	struct ipcq *q = make_queue(&name);
	struct ipcq_info info;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t real_now = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;

	CHECK_RC(ipcq_info(q, NULL), -EINVAL);
	CHECK_RC(ipcq_info(NULL, &info), -EINVAL);
	info.size = 0;
	CHECK_RC(ipcq_info(q, &info), -EINVAL);
	info.size = offsetof(struct ipcq_info, depth);
	CHECK_RC(ipcq_info(q, &info), -EINVAL);

	info = t_info(q);
	CHECK(info.capacity == CAP);
	CHECK(info.max_msg_size == MAX);
	CHECK(info.slot_size >= MAX);
	CHECK(info.max_participants == 64);
	CHECK(info.participants == 1);
	CHECK(info.wait_strategy == IPCQ_WAIT_ADAPTIVE);
	CHECK(info.mode == 0600);
	CHECK(info.segment_size >= (uint64_t)CAP * info.slot_size);
	CHECK(info.enqueued == 0 && info.dequeued == 0 && info.depth == 0);
	CHECK(info.created_ns <= real_now + 1000000000ull);
	CHECK(info.created_ns + 60 * 1000000000ull >= real_now);
	CHECK(info.participant_index >= 0 && info.participant_index < 64);
	struct stat st;
	CHECK(stat(t_shm_path(name), &st) == 0);
	CHECK((uint64_t)st.st_size == info.segment_size);

	/* info is read-only: the same figures from another handle */
	struct ipcq *q2 = NULL;
	CHECK_RC(ipcq_open(name, &q2), 0);
	struct ipcq_info other = t_info(q2);
	CHECK(other.participant_index == -1);
	CHECK(other.created_ns == info.created_ns && other.segment_size == info.segment_size);
	CHECK_RC(ipcq_send(q, "m", 1, IPCQ_NOWAIT), 0);
	CHECK(t_info(q2).depth == 1 && t_info(q2).enqueued == 1);
	CHECK_RC(ipcq_close(q2), 0);
	finish(q, name);
}

int main(void)
{
	test_fifo_and_info();
	test_seq_per_producer();
	test_sizes_ack();
	test_sizes();
	test_nobufs();
	test_nowait();
	test_info();
	return 0;
}
