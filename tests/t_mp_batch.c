/* Forked producers and consumers using ipcq_send_batch/ipcq_recv_batch (partial batches included), also mixed with single calls: every byte, order, none lost or duplicated. */
#include "ipcq.h"
#include "testutil.h"

int main(void)
{
	const unsigned pc[] = { 1, 2, 4, 8 };
	const uint32_t caps[] = { 8, 64 };
	for (size_t c = 0; c < 2; c++)
		for (size_t i = 0; i < 4; i++) {
			struct t_mp m = {
				.label = "mp_batch",
				.producers = pc[i],
				.consumers = pc[i],
				.msgs = t_count(2000000, 300000) / 2 / pc[i],
				.min_len = 16,
				.max_len = 64,
				.capacity = caps[c],
				.max_msg_size = 64,
				.send_batch = caps[c],
				.recv_batch = caps[c] / 2,
			};
			t_mp_run(&m);
		}
	/* batch producers, single consumers, and the reverse */
	for (int rev = 0; rev < 2; rev++) {
		struct t_mp m = {
			.label = rev ? "mp_batch single->batch" : "mp_batch batch->single",
			.producers = 3,
			.consumers = 3,
			.msgs = t_count(300000, 60000),
			.min_len = 0,
			.max_len = 48,
			.capacity = 16,
			.max_msg_size = 48,
			.send_batch = rev ? 0 : 16,
			.recv_batch = rev ? 7 : 0,
		};
		t_mp_run(&m);
	}
	return 0;
}
