/*
 * fuzz_base.h - the valid segments the fuzz target starts from, and the
 * format of its inputs.  Shared by the target (fuzz_segment.c), the seed
 * generator (mkseeds.c) and, through the target, the corpus replay test
 * (tests/t_fuzz_corpus.c).
 *
 * A base is a real queue, made by the library in a given state (empty,
 * with messages, a full or wrapped ring, leases held, side-ring entries, a
 * named producer, claims in the middle of a zero-copy operation) and
 * copied byte for byte while its handles are still attached.  In the copy
 * every participant looks like a process that died attached, so opening
 * it runs the recovery paths too.
 *
 * Input format (every input is valid; short or odd ones do less):
 *
 *   byte 0        mode: bit 0 set: patch mode, clear: raw mode;
 *                 bit 1 set (raw mode): stamp this build's magic, layout
 *                 version and format signature over the image's, so that
 *                 raw seeds outlive a change of layout version
 *   byte 1        n, then n operation bytes (see fuzz_segment.c: after the
 *                 fixed sequence of readers, each byte runs one more call)
 *   raw mode      the rest is the whole segment file
 *   patch mode    one byte selects a base (modulo FZ_NBASES), then
 *                 patches until the input ends, each
 *                     region (u8, modulo FZ_NREGIONS), offset (u16 LE,
 *                     modulo the region's size), n (u8: 1 + n % 16),
 *                     n bytes written there
 *                 regions: header, control block, participant table, ring,
 *                 lease pool, side ring, dedup table, whole file.  A patch
 *                 cut short by the end of the input writes what it has.
 */
#ifndef IPCQ_FUZZ_BASE_H
#define IPCQ_FUZZ_BASE_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipcq.h"

#define FZ_MODE_PATCH 0x1u
#define FZ_MODE_STAMP 0x2u
/* The name a named producer takes in the bases, and the one the target
 * attaches under: the target then takes it over from its dead holder. */
#define FZ_PRODUCER_NAME "fz-named"

enum { FZ_NCONFIGS = 6, FZ_NSTATES = 8, FZ_NBASES = FZ_NCONFIGS * FZ_NSTATES };
enum { FZ_NREGIONS = 8 };

static const char *const fz_state_names[FZ_NSTATES] = {
	"empty", "msgs", "full", "wrapped", "leases", "side", "named", "midop",
};

/* Small queues: every table has a handful of entries, so that a patch
 * lands on something that matters and a run takes microseconds. */
static struct ipcq_config fz_config(unsigned c)
{
	struct ipcq_config cfg = IPCQ_CONFIG_INIT;
	cfg.spin_count = 1;
	cfg.yield_count = 1;
	cfg.grace_us = 100;
	switch (c) {
	case 0:
		cfg.capacity = 4, cfg.max_msg_size = 32, cfg.max_participants = 4;
		cfg.lease_capacity = 4, cfg.side_capacity = 4, cfg.dedup_capacity = 2;
		cfg.max_deliveries = 2;
		break;
	case 1:
		cfg.capacity = 8, cfg.max_msg_size = 100, cfg.max_participants = 6;
		cfg.lease_capacity = 8, cfg.side_capacity = 2, cfg.dedup_capacity = 4;
		cfg.max_deliveries = 3, cfg.high_watermark = 6, cfg.low_watermark = 2;
		break;
	case 2: /* the smallest queue there is: no lease pool, side ring or names */
		cfg.capacity = 2, cfg.max_msg_size = 1, cfg.max_participants = 2;
		cfg.lease_capacity = 0, cfg.side_capacity = 0, cfg.dedup_capacity = 0;
		cfg.max_deliveries = 1;
		break;
	case 4: /* consumer groups: a durable one the consumers join, a lossy one */
		cfg.capacity = 4, cfg.max_msg_size = 32, cfg.max_participants = 5;
		cfg.lease_capacity = 4, cfg.side_capacity = 4, cfg.dedup_capacity = 2;
		cfg.max_deliveries = 2, cfg.max_groups = 3;
		break;
	case 5: /* three priority lanes, messages in each (fz_send_some()) */
		cfg.capacity = 4, cfg.max_msg_size = 32, cfg.max_participants = 5;
		cfg.lease_capacity = 4, cfg.side_capacity = 4, cfg.dedup_capacity = 2;
		cfg.max_deliveries = 2, cfg.priorities = 3, cfg.priority_share = 25;
		break;
	default: /* few, large slots */
		cfg.capacity = 4, cfg.max_msg_size = 3000, cfg.max_participants = 3;
		cfg.lease_capacity = 2, cfg.side_capacity = 2, cfg.dedup_capacity = 1;
		cfg.max_deliveries = 255, cfg.wait_strategy = IPCQ_WAIT_BUSY_POLL;
		break;
	}
	return cfg;
}

static void fz_pattern(uint8_t *buf, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 31 + i * 7);
}

/* The group a consumer of @q joins: "fz-a" on a queue with groups
 * (made by fz_make_base()), none otherwise. */
static const char *fz_group_of(struct ipcq *q)
{
	struct ipcq_info info;
	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	return ipcq_info(q, &info) == 0 && info.max_groups ? "fz-a" : NULL;
}

static int fz_open_attach(const char *name, unsigned roles, uint32_t flags, const char *pname,
			  struct ipcq **out)
{
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	struct ipcq *q = NULL;
	int rc = ipcq_open(name, &q);

	*out = NULL;
	if (rc)
		return rc;
	o.flags = flags;
	o.name = pname;
	o.full_policy = IPCQ_FULL_FAIL;
	o.group = (roles & IPCQ_ROLE_CONSUMER) ? fz_group_of(q) : NULL;
	rc = ipcq_attach(q, roles, &o);
	if (rc) {
		ipcq_close(q);
		return rc;
	}
	*out = q;
	return 0;
}

static void fz_send_some(struct ipcq *p, const struct ipcq_config *cfg, unsigned n, uint64_t seed)
{
	uint8_t buf[4096];
	for (unsigned i = 0; i < n; i++) {
		size_t len = (size_t)((seed + i) * 13 % (cfg->max_msg_size + 1));
		fz_pattern(buf, len, seed + i);
		struct ipcq_send_opts o = IPCQ_SEND_OPTS_INIT;
		o.priority = cfg->priorities > 1 ? (uint32_t)((seed + i) % cfg->priorities) : 0;
		(void)ipcq_send_ex(p, buf, len, &o, IPCQ_NOWAIT);
	}
}

/*
 * Build base (config c, state s) and copy its segment into *img (malloc'd,
 * *len bytes) while its handles are still attached.  Returns 0 or -errno.
 * The queue is created under @tmpname and removed before returning.
 */
static int fz_make_base(unsigned c, unsigned s, const char *tmpname, uint8_t **img, size_t *len)
{
	struct ipcq_config cfg = fz_config(c);
	struct ipcq *q = NULL, *h[4] = { NULL, NULL, NULL, NULL };
	uint8_t buf[4096];
	struct ipcq_msginfo mi;
	int rc;

	*img = NULL;
	*len = 0;
	(void)ipcq_unlink(tmpname);
	rc = ipcq_create(tmpname, &cfg, &q);
	if (rc)
		return rc;
	if (cfg.max_groups) {
		(void)ipcq_group_create(q, "fz-a", 0);
		(void)ipcq_group_create(q, "fz-l", IPCQ_GROUP_LOSSY);
	}
	switch (s) {
	case 0: /* empty */
		break;
	case 1: /* messages waiting, their producer attached */
		if (fz_open_attach(tmpname, IPCQ_ROLE_PRODUCER, 0, "prod", &h[0]) == 0)
			fz_send_some(h[0], &cfg, cfg.capacity - 1, 1);
		break;
	case 2: /* a full ring */
		if (fz_open_attach(tmpname, IPCQ_ROLE_PRODUCER, 0, NULL, &h[0]) == 0)
			fz_send_some(h[0], &cfg, cfg.capacity, 2);
		break;
	case 3: /* two and a half laps, so that positions and slot words are not trivial */
		if (fz_open_attach(tmpname, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, 0, "both",
				   &h[0]) == 0) {
			for (unsigned i = 0; i < cfg.capacity * 2 + cfg.capacity / 2; i++) {
				fz_send_some(h[0], &cfg, 1, 3 + i);
				if (i + 2 < cfg.capacity * 2 + cfg.capacity / 2)
					(void)ipcq_recv(h[0], buf, sizeof(buf), &mi, IPCQ_NOWAIT);
			}
		}
		break;
	case 4: /* ack mode: one acked, one given back for redelivery, two held */
		if (fz_open_attach(tmpname, IPCQ_ROLE_PRODUCER, 0, "prod", &h[0]) == 0)
			fz_send_some(h[0], &cfg, cfg.capacity, 4);
		if (fz_open_attach(tmpname, IPCQ_ROLE_CONSUMER, IPCQ_ATTACH_ACK, "acker", &h[1]) == 0) {
			uint64_t tok[4] = { 0, 0, 0, 0 };
			for (unsigned i = 0; i < 4; i++)
				if (ipcq_recv(h[1], buf, sizeof(buf), &mi, IPCQ_NOWAIT) >= 0)
					tok[i] = mi.token;
			(void)ipcq_ack(h[1], tok[0]);
			(void)ipcq_nack(h[1], tok[1], IPCQ_NACK_REQUEUE);
		}
		break;
	case 5: /* side-ring entries, and a lease still held */
		if (fz_open_attach(tmpname, IPCQ_ROLE_PRODUCER, 0, "prod", &h[0]) == 0)
			fz_send_some(h[0], &cfg, cfg.capacity, 5);
		if (fz_open_attach(tmpname, IPCQ_ROLE_CONSUMER, IPCQ_ATTACH_ACK, "poisoner", &h[1]) == 0) {
			for (unsigned i = 0; i < 3; i++)
				if (ipcq_recv(h[1], buf, sizeof(buf), &mi, IPCQ_NOWAIT) >= 0 && i < 2)
					(void)ipcq_nack(h[1], mi.token, IPCQ_NACK_POISON);
		}
		break;
	case 6: /* a named producer and the consumer of some of its messages */
		if (fz_open_attach(tmpname, IPCQ_ROLE_PRODUCER, IPCQ_ATTACH_DEDUP, FZ_PRODUCER_NAME,
				   &h[0]) == 0) {
			for (uint64_t seq = 5; seq < 5 + 2 * cfg.capacity && seq < 12; seq += 2) {
				fz_pattern(buf, 1, seq);
				(void)ipcq_send_seq(h[0], seq, buf, 1, IPCQ_NOWAIT);
			}
		}
		if (fz_open_attach(tmpname, IPCQ_ROLE_PRODUCER, IPCQ_ATTACH_DEDUP, "other", &h[2]) == 0)
			(void)ipcq_send_seq(h[2], 77, "x", 1, IPCQ_NOWAIT);
		if (fz_open_attach(tmpname, IPCQ_ROLE_CONSUMER, 0, "cons", &h[1]) == 0)
			(void)ipcq_recv(h[1], buf, sizeof(buf), &mi, IPCQ_NOWAIT);
		break;
	default: /* claims in flight: an open reservation and an open peek */
		if (fz_open_attach(tmpname, IPCQ_ROLE_PRODUCER, 0, "prod", &h[0]) == 0) {
			void *bufs[2];
			fz_send_some(h[0], &cfg, 2, 7);
			(void)ipcq_reserve(h[0], 1, bufs, IPCQ_NOWAIT);
		}
		if (fz_open_attach(tmpname, IPCQ_ROLE_CONSUMER, 0, "peeker", &h[1]) == 0) {
			struct ipcq_zmsg zm[2];
			(void)ipcq_peek(h[1], zm, 1, IPCQ_NOWAIT);
		}
		if (fz_open_attach(tmpname, IPCQ_ROLE_CONSUMER, IPCQ_ATTACH_ACK, "ackpeek", &h[2]) == 0) {
			struct ipcq_zmsg zm[1];
			(void)ipcq_peek(h[2], zm, 1, IPCQ_NOWAIT);
		}
		break;
	}

	/* the copy, taken while every handle above is attached */
	char path[256];
	struct stat st;
	snprintf(path, sizeof(path), "/dev/shm/ipcq.%s", tmpname);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	rc = fd < 0 || fstat(fd, &st) < 0 ? -errno : 0;
	if (rc == 0) {
		*img = malloc((size_t)st.st_size);
		if (!*img)
			rc = -ENOMEM;
		else if (pread(fd, *img, (size_t)st.st_size, 0) != (ssize_t)st.st_size)
			rc = -EIO;
		else
			*len = (size_t)st.st_size;
	}
	if (fd >= 0)
		close(fd);
	for (unsigned i = 0; i < 4; i++)
		ipcq_close(h[i]);
	ipcq_close(q);
	(void)ipcq_unlink(tmpname);
	if (rc) {
		free(*img);
		*img = NULL;
	}
	return rc;
}

#endif
