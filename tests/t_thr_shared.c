/* One handle attached as producer and consumer, shared by a sender thread and a receiver thread (while a third thread calls ipcq_info): every byte, order, none lost (run under TSan too). */
#include "ipcq.h"
#include "testutil.h"

struct watch {
	struct ipcq *q;
	uint32_t capacity;
	int stop;
	uint64_t calls;
};

/* ipcq_info may run at any time: its figures stay coherent. */
static void *watcher(void *arg)
{
	struct watch *w = (struct watch *)arg;
	uint64_t last_enq = 0, last_deq = 0;
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		struct ipcq_info info = t_info(w->q);
		if (info.enqueued < last_enq || info.dequeued < last_deq)
			T_FAIL("info went back: enqueued %" PRIu64 " after %" PRIu64
			       ", dequeued %" PRIu64 " after %" PRIu64, info.enqueued, last_enq,
			       info.dequeued, last_deq);
		if (info.depth != info.enqueued - info.dequeued || info.depth > w->capacity)
			T_FAIL("info: depth %" PRIu64 " with enqueued %" PRIu64 ", dequeued %" PRIu64
			       ", capacity %u", info.depth, info.enqueued, info.dequeued, w->capacity);
		last_enq = info.enqueued;
		last_deq = info.dequeued;
		w->calls++;
		sched_yield();
	}
	return NULL;
}

struct pair {
	struct ipcq *q;
	uint64_t n;
	int strategy_sleeps;
};

static void *sender(void *arg)
{
	struct pair *p = (struct pair *)arg;
	uint8_t buf[48];
	for (uint64_t seq = 1; seq <= p->n; seq++) {
		size_t len = t_msg_len(0, seq, 0, sizeof(buf));
		t_fill(buf, len, 0, seq);
		CHECK_RC(ipcq_send(p->q, buf, len, IPCQ_FOREVER), 0);
	}
	return NULL;
}

static void *receiver(void *arg)
{
	struct pair *p = (struct pair *)arg;
	uint8_t buf[48];
	struct ipcq_msginfo info;
	for (uint64_t seq = 1; seq <= p->n; seq++) {
		int rc = ipcq_recv(p->q, buf, sizeof(buf), &info, IPCQ_FOREVER);
		CHECK(rc >= 0 && (uint64_t)rc == t_msg_len(0, seq, 0, sizeof(buf)));
		CHECK(info.seq == seq);
		CHECK(t_verify(buf, (size_t)rc, 0, seq) == 0);
	}
	return NULL;
}

/* The shared handle with a watcher thread, under one wait strategy. */
static void run_with_watcher(uint32_t strategy, uint32_t spin, uint32_t yield)
{
	const char *name = t_qname("thrsh");
	struct ipcq_config cfg = t_config(4, 48);
	struct ipcq *ctl = t_create(name, &cfg);
	struct ipcq_attach_opts o = t_opts(strategy, spin, yield);
	struct ipcq *q = t_open_attach(name, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, &o);
	struct pair p = { q, t_count(200000, 10000), 0 };
	struct watch w = { q, 4, 0, 0 };
	pthread_t ts, tr, tw;
	CHECK(pthread_create(&tw, NULL, watcher, &w) == 0);
	CHECK(pthread_create(&tr, NULL, receiver, &p) == 0);
	CHECK(pthread_create(&ts, NULL, sender, &p) == 0);
	pthread_join(ts, NULL);
	pthread_join(tr, NULL);
	__atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
	pthread_join(tw, NULL);
	struct ipcq_info info = t_info(q);
	CHECK(info.depth == 0 && info.enqueued == p.n && info.dequeued == p.n);
	printf("shared handle, %s: %" PRIu64 " messages, %" PRIu64 " info calls\n",
	       t_strategy_name(strategy), p.n, w.calls);
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_close(ctl), 0);
	CHECK_RC(ipcq_unlink(name), 0);
}

int main(void)
{
	t_watchdog(t_limit(200), "t_thr_shared", NULL);
	run_with_watcher(IPCQ_WAIT_ADAPTIVE, 0, 0);
	run_with_watcher(IPCQ_WAIT_ADAPTIVE, UINT32_MAX, UINT32_MAX);
	run_with_watcher(IPCQ_WAIT_BUSY_POLL, 16, 0);
	run_with_watcher(IPCQ_WAIT_YIELD, 0, 0);
	t_watchdog(0, NULL, NULL);

	/* the harness's shared-handle mode: batches on one handle */
	const unsigned batch[] = { 0, 5 };
	for (int i = 0; i < 2; i++) {
		struct t_mp m = {
			.label = "thr_shared harness",
			.producers = 1,
			.consumers = 1,
			.msgs = t_count(300000, 20000),
			.min_len = 0,
			.max_len = 100,
			.capacity = 8,
			.max_msg_size = 100,
			.send_batch = batch[i],
			.recv_batch = batch[i],
			.threads = 1,
			.shared_handle = 1,
		};
		t_mp_run(&m);
	}
	return 0;
}
