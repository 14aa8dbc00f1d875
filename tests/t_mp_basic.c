/* Forked producers and consumers (P/C 1/1, 2/2, 4/4, 8/8) with single send/recv of 16..64-byte messages: every byte, per-producer order, none lost or duplicated. */
#include "ipcq.h"
#include "testutil.h"

int main(void)
{
	const unsigned pc[] = { 1, 2, 4, 8 };
	const uint32_t caps[] = { 64, 8 };
	uint64_t total = t_count(2000000, 300000);
	for (size_t c = 0; c < 2; c++)
		for (size_t i = 0; i < 4; i++) {
			struct t_mp m = {
				.label = "mp_basic",
				.producers = pc[i],
				.consumers = pc[i],
				.msgs = total / pc[i] / 2,
				.min_len = 16,
				.max_len = 64,
				.capacity = caps[c],
				.max_msg_size = 64,
			};
			t_mp_run(&m);
		}
	return 0;
}
