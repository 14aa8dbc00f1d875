/* t_oldest_lanes: on a queue with priority lanes, ipcq_stats() gives as oldest_ns the enqueue time of the oldest waiting message over every lane (a message waiting in a higher lane only, or older in any lane, counts), and ipcq-stat shows its age. */
#include "statutil.h"
#include "ipcq_internal.h"

#include <stddef.h>

enum { CAP = 8, LANES = 3 };

static const char *name;

/* The file offset of the enqueue time of position @pos of lane @l. */
static off_t stamp_at(uint32_t l, uint64_t pos)
{
	struct ipcq_shm_header h;
	int fd = open(t_shm_path(name), O_RDONLY | O_NOFOLLOW);
	CHECK(fd >= 0);
	CHECK(pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h));
	close(fd);
	CHECK(h.capacity == CAP);
	return (off_t)(h.off_ring + ((uint64_t)l * h.capacity + (pos & (h.capacity - 1))) * h.slot_size +
		       h.slot_size - IPCQ_SLOT_TAIL + offsetof(struct ipcq_shm_slot_tail, enqueue_ns));
}

static uint64_t stamp_get(uint32_t l, uint64_t pos)
{
	uint64_t v;
	int fd = open(t_shm_path(name), O_RDONLY | O_NOFOLLOW);
	CHECK(fd >= 0);
	CHECK(pread(fd, &v, sizeof(v), stamp_at(l, pos)) == (ssize_t)sizeof(v));
	close(fd);
	return v;
}

/* Give the message at position @pos of lane @l the enqueue time @v. */
static void stamp_set(uint32_t l, uint64_t pos, uint64_t v)
{
	int fd = open(t_shm_path(name), O_RDWR | O_NOFOLLOW);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, &v, sizeof(v), stamp_at(l, pos)) == (ssize_t)sizeof(v));
	close(fd);
}

static void send_at(struct ipcq *p, uint32_t prio)
{
	struct ipcq_send_opts o = IPCQ_SEND_OPTS_INIT;
	o.priority = prio;
	CHECK_OK(ipcq_send_ex(p, "m", 1, &o, IPCQ_NOWAIT));
}

int main(void)
{
	t_watchdog(t_limit(60), "t_oldest_lanes", NULL);
	name = t_qname("oldlanes");
	struct ipcq_config cfg = t_config(CAP, 64);
	cfg.priorities = LANES;
	struct ipcq *q = t_create(name, &cfg);
	struct ipcq *p = t_open_attach(name, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *r;
	CHECK_OK(ipcq_open_flags(name, IPCQ_OPEN_READONLY, &r));

	/* empty: no age */
	CHECK(t_stats(r).oldest_ns == 0);

	/* one message, in the highest lane only: its time */
	send_at(p, 2);
	uint64_t t2 = stamp_get(2, 0);
	CHECK(t2 != 0);
	CHECK(t_stats(r).oldest_ns == t2);
	{
		/* ipcq-stat shows its age, not "none" */
		struct s_run run = s_tool_runv("ipcq-stat", "-i", "0.01", "--json", name, NULL);
		S_EXPECT(run.status == 0 && strstr(run.out, "\"oldest_age_seconds\": ") &&
			 !strstr(run.out, "\"oldest_age_seconds\": null"), run);
		s_run_free(&run);
		run = s_tool_runv("ipcq-stat", "-i", "0.01", name, NULL);
		S_EXPECT(run.status == 0 && strstr(run.out, "oldest waiting ") &&
			 !strstr(run.out, "oldest waiting -"), run);
		s_run_free(&run);
	}

	/* a message in each lane, times set apart: the oldest wins, in
	 * whichever lane it waits */
	send_at(p, 0);
	send_at(p, 1);
	stamp_set(2, 0, 5000);
	stamp_set(0, 0, 9000);
	stamp_set(1, 0, 7000);
	CHECK(t_stats(r).oldest_ns == 5000);
	stamp_set(0, 0, 3000);
	CHECK(t_stats(r).oldest_ns == 3000);
	stamp_set(0, 0, 9000);
	stamp_set(1, 0, 1000);
	CHECK(t_stats(r).oldest_ns == 1000);

	/* the lane-1 message received (the highest lane goes first: take
	 * two), the next oldest is lane 0's */
	struct ipcq *c = t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);
	char buf[8];
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), 1); /* lane 2 */
	CHECK(t_stats(r).oldest_ns == 1000);
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), 1); /* lane 1 */
	CHECK(t_stats(r).oldest_ns == 9000);
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), 1); /* lane 0 */
	CHECK(t_stats(r).oldest_ns == 0);

	ipcq_close(c);
	ipcq_close(r);
	ipcq_close(p);
	ipcq_close(q);
	CHECK_OK(ipcq_unlink(name));
	printf("t_oldest_lanes: ok\n");
	return 0;
}
