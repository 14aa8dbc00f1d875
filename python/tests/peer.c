/*
 * peer.c - the C side of the Python binding's tests: a producer or a
 * consumer of the test pattern (tests/testutil.h), in a process of its own.
 *
 *   peer produce QUEUE TAG COUNT     send COUNT messages of producer TAG,
 *                                    then an empty end marker
 *   peer consume QUEUE PRODUCERS     receive until PRODUCERS end markers;
 *                                    check every payload and each
 *                                    producer's order (1, 2, 3 ... no gap,
 *                                    no repeat); print "received N from
 *                                    P producers"
 *
 * Message seq of producer TAG is t_fill(len, TAG, seq) with len =
 * peer_len(seq); python/tests/pattern.py writes and checks the same bytes.
 * Exits 0 when everything checked out, 1 otherwise.
 */
#include "testutil.h"

#define PEER_TIMEOUT_NS (30 * 1000000000LL)
#define PEER_MAX_TAGS 64

static size_t peer_len(uint64_t seq)
{
	return 16 + (size_t)(seq * 7 % 200);
}

static int produce(struct ipcq *q, uint32_t tag, uint64_t count)
{
	uint8_t buf[256];
	CHECK_OK(ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL));
	for (uint64_t seq = 1; seq <= count; seq++) {
		size_t len = t_fill(buf, peer_len(seq), tag, seq);
		CHECK_OK(ipcq_send(q, buf, len, PEER_TIMEOUT_NS));
	}
	CHECK_OK(ipcq_send(q, NULL, 0, PEER_TIMEOUT_NS));
	return 0;
}

static int consume(struct ipcq *q, unsigned producers)
{
	static uint64_t last[PEER_MAX_TAGS];
	uint8_t buf[4096];
	uint64_t received = 0;
	unsigned ends = 0;
	CHECK_OK(ipcq_attach(q, IPCQ_ROLE_CONSUMER, NULL));
	while (ends < producers) {
		int len = ipcq_recv(q, buf, sizeof buf, NULL, PEER_TIMEOUT_NS);
		CHECK_OK(len);
		if (len == 0) {
			ends++;
			continue;
		}
		uint32_t tag;
		uint64_t seq;
		CHECK(len >= 16);
		t_header(buf, &tag, &seq);
		if (tag >= PEER_MAX_TAGS)
			T_FAIL("producer tag %u out of range", tag);
		if (seq != last[tag] + 1)
			T_FAIL("producer %u: seq %llu after %llu", tag,
			       (unsigned long long)seq, (unsigned long long)last[tag]);
		if ((size_t)len != peer_len(seq) || t_verify(buf, (size_t)len, tag, seq) != 0)
			T_FAIL("producer %u seq %llu: wrong payload (%d bytes)", tag,
			       (unsigned long long)seq, len);
		last[tag] = seq;
		received++;
	}
	printf("received %llu from %u producers:", (unsigned long long)received, producers);
	for (unsigned t = 0; t < PEER_MAX_TAGS; t++)
		if (last[t])
			printf(" %u=%llu", t, (unsigned long long)last[t]);
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct ipcq *q;
	int rc;
	if (argc < 4) {
		fprintf(stderr, "usage: peer produce QUEUE TAG COUNT | consume QUEUE PRODUCERS\n");
		return 2;
	}
	CHECK_OK(ipcq_open(argv[2], &q));
	if (strcmp(argv[1], "produce") == 0 && argc == 5)
		rc = produce(q, (uint32_t)atoi(argv[3]), strtoull(argv[4], NULL, 10));
	else
		rc = consume(q, (unsigned)atoi(argv[3]));
	ipcq_close(q);
	return rc;
}
