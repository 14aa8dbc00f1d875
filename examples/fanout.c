/*
 * fanout.c - one stream, two consumer groups: every group receives every
 * message, and the consumers of one group share its messages.  The parent
 * process is the producer; it forks three consumers.
 *
 *   fanout [QUEUE] [COUNT]            (defaults: example.prices, 100000)
 *
 *   "billing"    durable, two consumers: each message goes to one of them,
 *                exactly once; a durable group holds space, so a slow
 *                billing consumer would hold the producer back.
 *   "dashboard"  lossy, one deliberately slow consumer: it never holds the
 *                producer back; when it falls a whole ring behind, its next
 *                receive jumps ahead and says how many messages it missed
 *                (IPCQ_MSG_GAP, msginfo.gap).
 *
 * The groups are made with ipcq_group_create() on a queue created with
 * max_groups > 0, before the first send (a group receives what is sent
 * after it was made); each consumer names its group in
 * ipcq_attach_opts.group.  The stream ends with one empty message per
 * billing consumer.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep, fork ... with -std=c11 */
#include <errno.h>
#include <ipcq.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_NS (10 * 1000000000LL)
#define BILLING 2 /* consumers of the durable group */

static const char *created; /* the queue's name, in the producer only */
static struct ipcq *producer_q;
static pid_t kids[BILLING + 1];

/* Print why a call failed and exit; ipcq_errdetail() says what exactly
 * create, open or attach refused.  A failing producer stops and reaps its
 * consumers and removes the queue. */
static _Noreturn void fail(const char *what, int rc)
{
	const char *detail = ipcq_errdetail();
	fprintf(stderr, "fanout: %s: %s%s%s\n", what, ipcq_strerror(rc),
		*detail ? ": " : "", detail);
	if (created) {
		for (int i = 0; i <= BILLING; i++)
			if (kids[i] > 0) {
				kill(kids[i], SIGKILL);
				waitpid(kids[i], NULL, 0);
			}
		ipcq_close(producer_q);
		ipcq_unlink(created);
	}
	exit(1);
}

/* A consumer: its own handle, attached to @group; until an empty message. */
static _Noreturn void consume(const char *name, const char *group, bool lossy,
			      const char *who, uint64_t count)
{
	struct ipcq_attach_opts opts = IPCQ_ATTACH_OPTS_INIT;
	struct timespec slow = { 0, 50000 }; /* the dashboard: 50 us a message */
	uint64_t seq, last = 0, got = 0, missed = 0, gaps = 0;
	struct ipcq_msginfo mi;
	struct ipcq *q;
	int rc;

	opts.group = group;
	if ((rc = ipcq_open(name, &q)) < 0 || (rc = ipcq_attach(q, IPCQ_ROLE_CONSUMER, &opts)) < 0)
		fail("consumer open/attach", rc);
	for (;;) {
		if ((rc = ipcq_recv(q, &seq, sizeof seq, &mi, TIMEOUT_NS)) < 0)
			fail("recv", rc);
		if (mi.flags & IPCQ_MSG_GAP) { /* lossy: these never reached us */
			missed += mi.gap;
			gaps++;
		}
		if (rc == 0)
			break; /* the end marker */
		if (seq <= last) {
			fprintf(stderr, "fanout: %s: %llu after %llu\n", who,
				(unsigned long long)seq, (unsigned long long)last);
			exit(1);
		}
		last = seq;
		got++;
		if (lossy)
			nanosleep(&slow, NULL);
	}
	if (!lossy)
		printf("fanout: %s received %llu messages, in order\n", who, (unsigned long long)got);
	else
		printf("fanout: %s received %llu messages, missed %llu in %llu gaps: %llu in all\n",
		       who, (unsigned long long)got, (unsigned long long)missed,
		       (unsigned long long)gaps, (unsigned long long)(got + missed));
	ipcq_close(q);
	exit(!lossy || got + missed == count ? 0 : 1); /* lossy: nothing unaccounted for */
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "example.prices";
	uint64_t count = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000;
	static const char *const who[BILLING + 1] = { "billing-1", "billing-2", "dashboard" };
	struct ipcq_config cfg = IPCQ_CONFIG_INIT;
	struct ipcq_group_info gi[2];
	struct ipcq *q;
	int rc, st, failed = 0;

	cfg.capacity = 256;
	cfg.max_msg_size = sizeof(uint64_t);
	cfg.max_groups = 2; /* room for two groups */
	if ((rc = ipcq_create(name, &cfg, &q)) < 0)
		fail("create", rc);
	created = name;
	producer_q = q;
	if ((rc = ipcq_group_create(q, "billing", 0)) < 0 ||
	    (rc = ipcq_group_create(q, "dashboard", IPCQ_GROUP_LOSSY)) < 0)
		fail("group create", rc);
	fflush(stdout);
	for (int i = 0; i <= BILLING; i++) {
		if ((kids[i] = fork()) < 0)
			fail("fork", -errno);
		if (kids[i] == 0) { /* the child opens a handle of its own */
			created = NULL;
			ipcq_close(q);
			consume(name, i < BILLING ? "billing" : "dashboard", i == BILLING, who[i],
				count);
		}
	}
	if ((rc = ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL)) < 0)
		fail("attach", rc);
	for (uint64_t seq = 1; seq <= count; seq++)
		if ((rc = ipcq_send(q, &seq, sizeof seq, TIMEOUT_NS)) < 0)
			fail("send", rc);
	for (int i = 0; i < BILLING; i++) /* one end marker per billing consumer */
		if ((rc = ipcq_send(q, NULL, 0, TIMEOUT_NS)) < 0)
			fail("send", rc);
	printf("fanout: sent %llu messages to 2 groups\n", (unsigned long long)count);
	for (int i = 0; i <= BILLING; i++)
		if (waitpid(kids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "fanout: %s failed\n", who[i]);
			failed = 1;
		}
	/* Each group's figures: how far it got, what the lossy one dropped. */
	if ((rc = ipcq_group_list(q, gi, 2)) < 0)
		fail("group list", rc);
	for (int i = 0; i < rc && i < 2; i++)
		printf("fanout: group %s (%s): position %llu, lag %llu, dropped %llu\n", gi[i].name,
		       gi[i].flags & IPCQ_GROUP_LOSSY ? "lossy" : "durable",
		       (unsigned long long)gi[i].position, (unsigned long long)gi[i].lag,
		       (unsigned long long)gi[i].dropped);
	ipcq_close(q);
	created = NULL;
	if ((rc = ipcq_unlink(name)) < 0)
		fail("unlink", rc);
	return failed;
}
