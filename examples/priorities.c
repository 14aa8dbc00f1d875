/*
 * priorities.c - priority lanes: cancels ahead of new orders.  The parent
 * process creates a queue with two priorities (cfg.priorities = 2) and
 * forks a gateway that sends new orders with ipcq_send() (priority 0, the
 * lowest) and then cancels with ipcq_send_ex() at priority 1.  Once the
 * gateway has exited, the parent receives everything: the cancels come
 * out first, although they were sent last, but for the starvation guard
 * (cfg.priority_share, 10% by default), which lets one receive in ten
 * take a new order while cancels wait, so that new orders never stall.
 * It counts the new orders that went before the last cancel and fails if
 * they are more than the guard allows, or if a message is lost, repeated
 * or out of order within its lane.
 *
 *   priorities [QUEUE] [ORDERS] [CANCELS]   (defaults: example.priorities, 1000, 50)
 */
#include <errno.h>
#include <ipcq.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NEW_ORDER 0u /* its priority too */
#define CANCEL 1u
#define TIMEOUT_NS (10 * 1000000000LL)

struct order {
	uint32_t kind;   /* NEW_ORDER or CANCEL */
	uint32_t number; /* 1, 2, ... within its kind */
	uint32_t target; /* a cancel: the new order it cancels */
};

static const char *created;
static pid_t gateway_pid;

static _Noreturn void fail(const char *what, int rc)
{
	const char *detail = ipcq_errdetail();
	fprintf(stderr, "priorities: %s: %s%s%s\n", what, ipcq_strerror(rc), *detail ? ": " : "",
		detail);
	if (created) {
		if (gateway_pid > 0) {
			kill(gateway_pid, SIGKILL);
			waitpid(gateway_pid, NULL, 0);
		}
		ipcq_unlink(created);
	}
	exit(1);
}

/* The gateway: every new order at priority 0, then every cancel at 1. */
static _Noreturn void gateway(const char *name, uint32_t orders, uint32_t cancels)
{
	struct ipcq_send_opts urgent = IPCQ_SEND_OPTS_INIT;
	struct ipcq *q;
	int rc;

	if ((rc = ipcq_open(name, &q)) < 0 || (rc = ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL)) < 0)
		fail("gateway open/attach", rc);
	for (uint32_t i = 1; i <= orders; i++) {
		struct order o = { NEW_ORDER, i, 0 };
		if ((rc = ipcq_send(q, &o, sizeof o, TIMEOUT_NS)) < 0) /* priority 0 */
			fail("send new order", rc);
	}
	urgent.priority = CANCEL;
	for (uint32_t i = 1; i <= cancels; i++) {
		struct order o = { CANCEL, i, 1 + (i - 1) * orders / cancels };
		if ((rc = ipcq_send_ex(q, &o, sizeof o, &urgent, TIMEOUT_NS)) < 0)
			fail("send cancel", rc);
	}
	printf("gateway sent %u new orders at priority 0, then %u cancels at priority %u\n", orders,
	       cancels, CANCEL);
	ipcq_close(q);
	exit(0);
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "example.priorities";
	long orders = argc > 2 ? atol(argv[2]) : 1000;
	long cancels = argc > 3 ? atol(argv[3]) : 50;
	struct ipcq_config cfg = IPCQ_CONFIG_INIT;
	struct ipcq_info info;
	struct ipcq *q;
	int rc, st;

	if (orders < 1 || cancels < 1 || orders > IPCQ_CAPACITY_MAX || cancels > orders) {
		fprintf(stderr, "usage: priorities [QUEUE] [ORDERS 1..%u] [CANCELS 1..ORDERS]\n",
			IPCQ_CAPACITY_MAX);
		return 2;
	}
	/* each lane has capacity slots: room for every new order, so that the
	 * gateway can send them all before anyone receives */
	cfg.capacity = 2;
	while (cfg.capacity < orders)
		cfg.capacity *= 2;
	cfg.max_msg_size = sizeof(struct order);
	cfg.priorities = 2; /* 0: new orders, 1: cancels */
	if ((rc = ipcq_create(name, &cfg, &q)) < 0)
		fail("create", rc);
	created = name;

	fflush(stdout);
	if ((gateway_pid = fork()) == 0)
		gateway(name, (uint32_t)orders, (uint32_t)cancels);
	if (gateway_pid < 0)
		fail("fork", -1);
	if (waitpid(gateway_pid, &st, 0) != gateway_pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		gateway_pid = 0;
		fail("gateway", -1);
	}
	gateway_pid = 0;

	memset(&info, 0, sizeof info);
	info.size = sizeof info;
	if ((rc = ipcq_info(q, &info)) < 0)
		fail("info", rc);
	printf("waiting: %llu new orders, %llu cancels (guard %u%%)\n",
	       (unsigned long long)(info.lane_enqueued[NEW_ORDER] - info.lane_dequeued[NEW_ORDER]),
	       (unsigned long long)(info.lane_enqueued[CANCEL] - info.lane_dequeued[CANCEL]),
	       info.priority_share);

	/* everything is in the queue: receive it all, without waiting */
	if ((rc = ipcq_attach(q, IPCQ_ROLE_CONSUMER, NULL)) < 0)
		fail("attach", rc);
	uint32_t next[2] = { 1, 1 };             /* the number expected next, per kind */
	long total = orders + cancels, at = 0;   /* messages received */
	long last_cancel_at = 0, orders_before = 0;
	int bad = 0;
	for (at = 1; at <= total; at++) {
		struct ipcq_msginfo mi;
		struct order o;
		if ((rc = ipcq_recv(q, &o, sizeof o, &mi, IPCQ_NOWAIT)) < 0) {
			fprintf(stderr, "priorities: message %ld of %ld: %s\n", at, total,
				ipcq_strerror(rc));
			bad = 1;
			break;
		}
		if (rc != (int)sizeof o || o.kind > CANCEL || IPCQ_MSG_PRIORITY(mi.flags) != o.kind ||
		    o.number != next[o.kind]) {
			fprintf(stderr, "priorities: message %ld: kind %u number %u priority %u, "
				"expected number %u: lost, repeated or out of order\n", at, o.kind,
				o.number, IPCQ_MSG_PRIORITY(mi.flags), next[o.kind < 2 ? o.kind : 0]);
			bad = 1;
			break;
		}
		next[o.kind]++;
		if (o.kind == CANCEL)
			last_cancel_at = at;
		else if (next[CANCEL] <= cancels)
			orders_before++; /* a cancel was still waiting */
	}
	if (!bad && ipcq_recv(q, NULL, 0, NULL, IPCQ_NOWAIT) != -EAGAIN) {
		fprintf(stderr, "priorities: more messages than were sent\n");
		bad = 1;
	}
	/* the guard serves the lower lane once in 100 / share receives */
	long every = info.priority_share ? 100 / info.priority_share : 0;
	long allowed = every ? (last_cancel_at + every - 1) / every : 0;
	if (!bad) {
		printf("all %ld cancels within the first %ld messages, %ld new orders before the "
		       "last of them (the guard allows %ld), then %ld new orders\n",
		       cancels, last_cancel_at, orders_before, allowed, orders - orders_before);
		if (orders_before > allowed) {
			fprintf(stderr, "priorities: %ld new orders went before a cancel, the guard "
				"allows %ld\n", orders_before, allowed);
			bad = 1;
		} else {
			printf("each lane in order, none lost or repeated\n");
		}
	}
	ipcq_close(q);
	ipcq_unlink(name);
	return bad;
}
