/* t_bridge_maxdeliver: a message the in-bridge never gets into B (B is full and has no consumer) is delivered by JetStream to a bridge killed each time before it could take it, --max-deliver times; on the next delivery the bridge puts it into B's side ring (reason max_deliveries, the stream sequence as its sequence, the whole delivery count) and acks it, once, and every other message reaches B exactly once, in order.  The count holds across the kills: JetStream's own count of each consumer, carried over from one consumer to the next in its description. */
#include "bridgetest.h"

#define N 12          /* messages in the stream */
#define CAP 4         /* B's capacity: the bridge blocks on message CAP + 1 */
#define MAXD 3        /* --max-deliver */
#define STUCK (CAP + 1)

static uint32_t len_of(uint64_t seq)
{
	return 16 + (uint32_t)(seq * 7 % 50);
}

/* The consumer as JetStream has it: how many deliveries of the first
 * message after the queue's last its description carries, and the stream
 * sequence of its last delivery; -1 while there is no consumer. */
static int consumer_state(jsCtx *js, uint64_t *carry, uint64_t *delivered, uint64_t *ack_floor,
			  int64_t *ack_pending)
{
	jsConsumerInfo *ci = NULL;
	uint64_t l;
	if (js_GetConsumerInfo(&ci, js, "MD", "ipcq", NULL, NULL) != NATS_OK)
		return -1;
	*carry = UINT64_MAX;
	if (ci->Config && ci->Config->Description &&
	    sscanf(ci->Config->Description,
		   "ipcq-bridge: the first message after stream sequence %" SCNu64
		   " was delivered %" SCNu64 " times before", &l, carry) != 2)
		*carry = UINT64_MAX;
	*delivered = ci->Delivered.Stream;
	*ack_floor = ci->AckFloor.Stream;
	*ack_pending = ci->NumAckPending;
	jsConsumerInfo_Destroy(ci);
	return 0;
}

/* Has the consumer that carries @carry deliveries delivered message STUCK? */
static int stuck_delivered(jsCtx *js, uint64_t carry)
{
	uint64_t c, d, a;
	int64_t p;
	return consumer_state(js, &c, &d, &a, &p) == 0 && c == carry && d >= STUCK;
}

static void publish(jsCtx *js, uint64_t seq)
{
	char buf[128];
	jsPubAck *pa = NULL;
	uint32_t len = len_of(seq);
	t_fill(buf, len, 0, seq);
	natsStatus s = js_Publish(&pa, js, "md.a", buf, (int)len, NULL, NULL);
	if (s != NATS_OK || pa->Sequence != seq)
		T_FAIL("publish %" PRIu64 ": %s", seq, natsStatus_GetText(s));
	jsPubAck_Destroy(pa);
}

/* Receive message @seq from B (the stream sequence is B's sequence). */
static void expect(struct ipcq *b, uint64_t seq, const char *log)
{
	struct ipcq_msginfo mi;
	char buf[256];
	uint32_t p;
	uint64_t got;
	int len = ipcq_recv(b, buf, sizeof(buf), &mi, 30000000000ll);
	if (len < 0) {
		bt_show_log(log);
		T_FAIL("B: message %" PRIu64 ": %s", seq, ipcq_strerror(len));
	}
	t_header(buf, &p, &got);
	if (p != 0 || got != seq || mi.seq != seq || (uint32_t)len != len_of(seq) ||
	    t_verify(buf, (size_t)len, 0, seq))
		T_FAIL("B: expected message %" PRIu64 ", got producer %u sequence %" PRIu64
		       " (B's sequence %" PRIu64 ", %d bytes)", seq, p, got, mi.seq, len);
}

int main(void)
{
	static struct bt_server srv;
	struct ipcq_config cb = t_config(CAP, 256);
	const char *qb = t_qname("bmaxd");
	struct ipcq *b;
	struct ipcq_poison pe[4];
	struct ipcq_msginfo mi;
	char log[128], buf[256];
	uint64_t carry, delivered, ack_floor;
	int64_t ack_pending;
	pid_t in;

	t_watchdog(t_limit(90), "t_bridge_maxdeliver", NULL);
	cb.side_capacity = 8;
	b = t_create(qb, &cb);
	bt_server_start(&srv);
	snprintf(log, sizeof(log), "%s/bridges.log", srv.dir);

	struct bt_js c = bt_connect(&srv);
	{
		jsStreamConfig sc;
		jsStreamInfo *si = NULL;
		const char *subjects[] = { "md.a" };
		jsStreamConfig_Init(&sc);
		sc.Name = "MD";
		sc.Subjects = subjects;
		sc.SubjectsLen = 1;
		sc.Storage = js_FileStorage;
		CHECK(js_AddStream(&si, c.js, &sc, NULL, NULL) == NATS_OK);
		jsStreamInfo_Destroy(si);
	}
	for (uint64_t seq = 1; seq <= N; seq++)
		publish(c.js, seq);

	char maxd[16];
	snprintf(maxd, sizeof(maxd), "%d", MAXD);
	const char *in_argv[] = { "ipcq-bridge", "in", qb, "-s", srv.url, "--stream", "MD",
				  "--subject", "md.a", "--max-deliver", maxd, "-v", NULL };

	/* MAXD bridges, each killed once JetStream has delivered it message
	 * STUCK, which it cannot put into the full B: the consumer of the k-th
	 * carries the k deliveries the ones before it made. */
	for (uint64_t k = 0; k < MAXD; k++) {
		in = bt_bridge(in_argv, log);
		T_AWAIT(stuck_delivered(c.js, k) && t_info(b).depth == CAP, 30);
		bt_kill(in);
	}
	CHECK(t_info(b).side_depth == 0);

	/* The next delivery is one too many: into B's side ring, acked. */
	in = bt_bridge(in_argv, log);
	T_AWAIT(t_info(b).side_depth == 1, 30);
	CHECK_RC(ipcq_poison_list(b, 0, pe, 4), 1);
	CHECK(pe[0].reason == IPCQ_REASON_MAX_DELIVERIES);
	CHECK(pe[0].seq == STUCK);
	CHECK(pe[0].deliveries == MAXD + 1);
	CHECK(pe[0].len == len_of(STUCK));
	CHECK(pe[0].stream != 0 && bt_put_by(b, &pe[0], "bridge.MD.ipcq"));
	CHECK_RC(ipcq_poison_peek(b, pe[0].id, buf, sizeof(buf), NULL), (int)len_of(STUCK));
	CHECK(!t_verify(buf, len_of(STUCK), 0, STUCK));

	/* B drained: every other message once, in order. */
	CHECK_OK(ipcq_attach(b, IPCQ_ROLE_CONSUMER, NULL));
	for (uint64_t seq = 1; seq <= N; seq++)
		if (seq != STUCK)
			expect(b, seq, log);
	/* JetStream has them all acked, none waiting to be delivered again */
	T_AWAIT(consumer_state(c.js, &carry, &delivered, &ack_floor, &ack_pending) == 0 &&
		ack_floor == N && ack_pending == 0, 30);
	CHECK(ipcq_recv(b, buf, sizeof(buf), &mi, IPCQ_NOWAIT) == -EAGAIN);

	/* A bridge started again goes on after N: the refused message is not
	 * delivered again, and the side ring keeps one entry of it. */
	bt_stop(in);
	in = bt_bridge(in_argv, log);
	publish(c.js, N + 1);
	expect(b, N + 1, log);
	T_AWAIT(consumer_state(c.js, &carry, &delivered, &ack_floor, &ack_pending) == 0 &&
		ack_floor == N + 1 && ack_pending == 0, 30);
	CHECK(carry == 0);
	CHECK(ipcq_recv(b, buf, sizeof(buf), &mi, IPCQ_NOWAIT) == -EAGAIN);
	CHECK_RC(ipcq_poison_list(b, 0, pe, 4), 1);
	CHECK(pe[0].seq == STUCK && pe[0].reason == IPCQ_REASON_MAX_DELIVERIES);

	bt_stop(in);
	bt_disconnect(&c);
	bt_server_stop(&srv, SIGTERM);
	ipcq_close(b);
	printf("message %d delivered to %d killed bridges, then to B's side ring (max_deliveries, %d deliveries), once; the %d others, and one sent after a restart, into B once, in order\n",
	       STUCK, MAXD, MAXD + 1, N - 1);
	return 0;
}
