/* Forked producers and consumers under every wait strategy (adaptive, adaptive that always sleeps, busy-poll, yield, queue default) on small rings: every byte, order, none lost or duplicated. */
#include "ipcq.h"
#include "testutil.h"

int main(void)
{
	struct {
		const char *label;
		uint32_t queue, handle;
		int set_counts;
		uint32_t spin, yield;
	} s[] = {
		{ "mp_wait adaptive", 0, IPCQ_WAIT_ADAPTIVE, 0, 0, 0 },
		{ "mp_wait adaptive spin0 yield0", 0, IPCQ_WAIT_ADAPTIVE, 1, 0, 0 },
		{ "mp_wait adaptive spin5 yield1", 0, IPCQ_WAIT_ADAPTIVE, 1, 5, 1 },
		{ "mp_wait busy-poll", 0, IPCQ_WAIT_BUSY_POLL, 0, 0, 0 },
		{ "mp_wait busy-poll spin1", 0, IPCQ_WAIT_BUSY_POLL, 1, 1, 0 },
		{ "mp_wait yield", 0, IPCQ_WAIT_YIELD, 0, 0, 0 },
		{ "mp_wait queue busy-poll", IPCQ_WAIT_BUSY_POLL, IPCQ_WAIT_DEFAULT, 0, 0, 0 },
		{ "mp_wait queue yield", IPCQ_WAIT_YIELD, IPCQ_WAIT_DEFAULT, 0, 0, 0 },
	};
	const unsigned pc[][2] = { { 1, 1 }, { 2, 2 }, { 4, 1 }, { 1, 4 } };
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		for (size_t j = 0; j < 4; j++) {
			struct t_mp m = {
				.label = s[i].label,
				.producers = pc[j][0],
				.consumers = pc[j][1],
				.msgs = t_count(400000, 40000) / pc[j][0],
				.min_len = 8,
				.max_len = 64,
				.capacity = j % 2 ? 4 : 16,
				.max_msg_size = 64,
				.send_batch = j == 3 ? 4 : 0,
				.recv_batch = j == 2 ? 4 : 0,
				.queue_strategy = s[i].queue,
				.strategy = s[i].handle,
				.set_counts = s[i].set_counts,
				.spin_count = s[i].spin,
				.yield_count = s[i].yield,
			};
			t_mp_run(&m);
		}
	return 0;
}
