/* Threads of one process, each with its own handle on the same queue (P/C 1/1, 2/2, 4/4), single and batch calls, every wait strategy, a queue with 4 priority lanes: every byte, order (per producer, and per lane), none lost or duplicated (run under TSan too). */
#include "ipcq.h"
#include "testutil.h"

int main(void)
{
	const unsigned pc[] = { 1, 2, 4 };
	for (size_t i = 0; i < 3; i++)
		for (int batch = 0; batch < 2; batch++) {
			struct t_mp m = {
				.label = batch ? "thr_mpmc batch" : "thr_mpmc",
				.producers = pc[i],
				.consumers = pc[i],
				.msgs = t_count(400000, 20000) / pc[i],
				.min_len = 0,
				.max_len = 64,
				.capacity = i == 1 ? 4 : 32,
				.max_msg_size = 64,
				.send_batch = batch ? 8 : 0,
				.recv_batch = batch ? 3 : 0,
				.threads = 1,
			};
			t_mp_run(&m);
		}
	const struct { const char *label; uint32_t s, spin, yield; } w[] = {
		{ "thr_mpmc adaptive spin0 yield0", IPCQ_WAIT_ADAPTIVE, 0, 0 },
		{ "thr_mpmc busy-poll", IPCQ_WAIT_BUSY_POLL, 10, 0 },
		{ "thr_mpmc yield", IPCQ_WAIT_YIELD, 0, 0 },
	};
	for (size_t i = 0; i < 3; i++) {
		struct t_mp m = {
			.label = w[i].label,
			.producers = 2,
			.consumers = 2,
			.msgs = t_count(200000, 10000),
			.min_len = 16,
			.max_len = 32,
			.capacity = 4,
			.max_msg_size = 32,
			.strategy = w[i].s,
			.set_counts = 1,
			.spin_count = w[i].spin,
			.yield_count = w[i].yield,
			.threads = 1,
		};
		t_mp_run(&m);
	}
	/* priority lanes: each message at priority seq % 4 */
	for (unsigned i = 1; i < 3; i++) {
		struct t_mp m = {
			.label = "thr_mpmc priorities",
			.producers = pc[i],
			.consumers = pc[i],
			.msgs = t_count(200000, 10000) / pc[i],
			.min_len = 8,
			.max_len = 48,
			.capacity = 8,
			.max_msg_size = 64,
			.threads = 1,
			.priorities = 4,
		};
		t_mp_run(&m);
	}
	/* large messages: the payload copies race with nothing */
	struct t_mp m = {
		.label = "thr_mpmc large",
		.producers = 2,
		.consumers = 2,
		.msgs = t_count(20000, 1000),
		.min_len = 1000,
		.max_len = 8192,
		.capacity = 8,
		.max_msg_size = 8192,
		.threads = 1,
	};
	t_mp_run(&m);
	return 0;
}
