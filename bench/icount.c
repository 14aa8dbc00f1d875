/*
 * icount.c - the work of one message, in instructions: a producer and a
 * consumer handle in one process send and receive ITERS messages of 64
 * bytes, busy-polling, with nothing to wait for.  Run under callgrind by
 * bench/icount.sh (make icount), which subtracts a run with no message
 * from a run with ITERS and divides: what is left is the library's hot
 * path, per message, with no cache misses or waits to blur it.
 *
 *   icount MODE ITERS      MODE: single | batch | ack | zerocopy | group1 | group4
 *                                | keyed | ack-keyed | prio | ack-prio | late
 *
 * groupN: a queue with consumer groups, N durable groups of one consumer
 * handle each; a message is one send and N receives.  keyed, ack-keyed: a
 * queue with per-key order (IPCQ_CF_KEYED), each message sent with a key
 * (one of 8 in turn) and received in fast or ack mode.  prio, ack-prio: a
 * queue with 4 priority lanes, each message sent at priority i % 4 and
 * received in fast or ack mode.
 */
#include <ipcq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MSG 64
#define BATCH 32

static int fail(const char *what, int rc)
{
	fprintf(stderr, "icount: %s: %s\n", what, ipcq_strerror(rc));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: icount single|batch|ack|zerocopy|group1|group4|keyed|ack-keyed|prio|ack-prio|late|sole ITERS\n");
		return 2;
	}
	const char *modes[] = { "single", "ack", "batch", "zerocopy", "group1", "group4", "keyed",
				"ack-keyed", "prio", "ack-prio", "late", "sole" };
	int mode = -1;
	for (int i = 0; i < (int)(sizeof(modes) / sizeof(modes[0])); i++)
		if (strcmp(argv[1], modes[i]) == 0)
			mode = i;
	if (mode < 0) {
		fprintf(stderr, "icount: unknown mode %s\n", argv[1]);
		return 2;
	}
	long iters = atol(argv[2]);
	char name[64];
	snprintf(name, sizeof(name), "icount.%d", (int)getpid());
	struct ipcq_config cfg = IPCQ_CONFIG_INIT;
	cfg.capacity = 1024;
	cfg.max_msg_size = MSG;
	int ngroups = mode == 4 ? 1 : mode == 5 ? 4 : 0;
	cfg.max_groups = (uint32_t)ngroups;
	int keyed = mode == 6 || mode == 7, prio = mode == 8 || mode == 9, late = mode == 10, sole = mode == 11;
	int plain = mode <= 1 || late || sole; /* one ipcq_send and one ipcq_recv */
	if (keyed)
		cfg.flags = IPCQ_CF_KEYED;
	if (prio)
		cfg.priorities = 4;
	struct ipcq_send_opts so = IPCQ_SEND_OPTS_INIT;
	so.flags = keyed ? IPCQ_SEND_F_KEY : 0;
	struct ipcq *p, *c, *gc[4];
	int rc = ipcq_create(name, &cfg, &p);
	if (rc < 0)
		return fail("create", rc);
	rc = ipcq_open(name, &c);
	if (rc < 0)
		return fail("open", rc);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	static const char *const gname[4] = { "g0", "g1", "g2", "g3" };
	for (int g = 0; g < ngroups; g++) {
		if ((rc = ipcq_group_create(p, gname[g], 0)) < 0)
			return fail("group_create", rc);
		if ((rc = ipcq_open(name, &gc[g])) < 0)
			return fail("open", rc);
		o.wait_strategy = IPCQ_WAIT_BUSY_POLL;
		o.group = gname[g];
		if ((rc = ipcq_attach(gc[g], IPCQ_ROLE_CONSUMER, &o)) < 0)
			return fail("attach group consumer", rc);
	}
	o.group = NULL;
	o.wait_strategy = IPCQ_WAIT_BUSY_POLL;
	if (sole)
		o.flags = IPCQ_ATTACH_SOLE; /* both handles: claims by store */
	if ((rc = ipcq_attach(p, IPCQ_ROLE_PRODUCER, &o)) < 0)
		return fail("attach producer", rc);
	if (mode == 1 || mode == 7 || mode == 9)
		o.flags = IPCQ_ATTACH_ACK;
	if (late)
		o.flags = IPCQ_ATTACH_LATE_RELEASE;
	if (!ngroups && (rc = ipcq_attach(c, IPCQ_ROLE_CONSUMER, &o)) < 0)
		return fail("attach consumer", rc);
	static char in[BATCH][MSG], out[BATCH][MSG];
	memset(in, 7, sizeof(in));
	struct ipcq_buf sb[BATCH], rb[BATCH];
	struct ipcq_msginfo info;
	for (long i = 0; i < iters; i++) {
		if (ngroups) {
			if ((rc = ipcq_send(p, in[0], MSG, IPCQ_FOREVER)) < 0)
				return fail("send", rc);
			for (int g = 0; g < ngroups; g++)
				if ((rc = ipcq_recv(gc[g], out[0], MSG, &info, IPCQ_FOREVER)) != MSG)
					return fail("group recv", rc);
		} else if (plain) {
			if ((rc = ipcq_send(p, in[0], MSG, IPCQ_FOREVER)) < 0)
				return fail("send", rc);
			if ((rc = ipcq_recv(c, out[0], MSG, &info, IPCQ_FOREVER)) != MSG)
				return fail("recv", rc);
			if (info.token && (rc = ipcq_ack(c, info.token)) < 0)
				return fail("ack", rc);
		} else if (keyed || prio) {
			if (keyed)
				so.key = (uint64_t)(i & 7);
			else
				so.priority = (uint32_t)(i & 3);
			if ((rc = ipcq_send_ex(p, in[0], MSG, &so, IPCQ_FOREVER)) < 0)
				return fail("send_ex", rc);
			if ((rc = ipcq_recv(c, out[0], MSG, &info, IPCQ_FOREVER)) != MSG)
				return fail("recv", rc);
			if (info.token && (rc = ipcq_ack(c, info.token)) < 0)
				return fail("ack", rc);
		} else if (mode == 2) {
			for (int k = 0; k < BATCH; k++) {
				sb[k].data = in[k];
				sb[k].len = MSG;
				rb[k].data = out[k];
				rb[k].len = MSG;
			}
			if ((rc = ipcq_send_batch(p, sb, BATCH, IPCQ_FOREVER)) != BATCH)
				return fail("send_batch", rc);
			if ((rc = ipcq_recv_batch(c, rb, NULL, BATCH, IPCQ_FOREVER)) != BATCH)
				return fail("recv_batch", rc);
		} else {
			void *slot;
			struct ipcq_zmsg m;
			size_t len = MSG;
			if ((rc = ipcq_reserve(p, 1, &slot, IPCQ_FOREVER)) != 1)
				return fail("reserve", rc);
			memcpy(slot, in[0], MSG);
			if ((rc = ipcq_commit(p, &len, 1)) < 0)
				return fail("commit", rc);
			if ((rc = ipcq_peek(c, &m, 1, IPCQ_FOREVER)) != 1)
				return fail("peek", rc);
			memcpy(out[0], m.data, m.len);
			if ((rc = ipcq_release(c)) < 0)
				return fail("release", rc);
		}
	}
	for (int g = 0; g < ngroups; g++)
		ipcq_close(gc[g]);
	ipcq_close(c);
	ipcq_close(p);
	ipcq_unlink(name);
	return 0;
}
