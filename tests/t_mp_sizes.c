/* Forked producers and consumers with short (0..15 B), maximum-size (64 KiB) and mixed-size messages: every byte, order, none lost or duplicated. */
#include "ipcq.h"
#include "testutil.h"

int main(void)
{
	const unsigned pc[] = { 1, 2, 4, 8 };
	for (size_t i = 0; i < 4; i++) {
		/* short messages, the header truncated or absent */
		struct t_mp m = {
			.label = "mp_sizes short",
			.producers = pc[i],
			.consumers = pc[i],
			.msgs = t_count(1000000, 120000) / pc[i],
			.min_len = 0,
			.max_len = 15,
			.capacity = i % 2 ? 8 : 64,
			.max_msg_size = 16,
		};
		t_mp_run(&m);
	}
	for (size_t i = 0; i < 4; i++) {
		/* every message exactly max_msg_size */
		struct t_mp m = {
			.label = "mp_sizes max",
			.producers = pc[i],
			.consumers = pc[i],
			.msgs = t_count(40000, 6000) / pc[i],
			.min_len = 65536,
			.max_len = 65536,
			.capacity = 8,
			.max_msg_size = 65536,
		};
		t_mp_run(&m);
	}
	/* mixed lengths up to the maximum, with batches of them */
	struct t_mp m = {
		.label = "mp_sizes mixed",
		.producers = 3,
		.consumers = 2,
		.msgs = t_count(20000, 5000),
		.min_len = 0,
		.max_len = 100000,
		.capacity = 16,
		.max_msg_size = 100000,
		.send_batch = 4,
		.recv_batch = 4,
	};
	t_mp_run(&m);
	return 0;
}
