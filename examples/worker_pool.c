/*
 * worker_pool.c - a dispatcher process hands jobs to a pool of worker
 * processes through one queue in ack mode: each job is leased to one
 * worker until that worker acks it (done) or nacks it (give it back).
 *
 *   worker_pool [QUEUE] [JOBS] [WORKERS]   (defaults: example.jobs, 1000, 4)
 *
 * Job n is the message "job n".  The workers show the three outcomes:
 *   n % 100 == 13   malformed, no worker could ever handle it: nack it as
 *                   poison, which quarantines it in the queue's side ring;
 *   n % 10 == 7     fails the first time (a resource is busy): nack it for
 *                   requeue; it comes back, to any worker, flagged
 *                   IPCQ_MSG_REDELIVERED, and is acked then;
 *   any other       processed and acked.
 * A worker leaves at a "stop" message.  The dispatcher then lists the side
 * ring (what an operator would inspect, fix, and replay or purge).
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep, fork ... with -std=c11 */
#include <errno.h>
#include <ipcq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_NS (10 * 1000000000LL)
#define MAX_WORKERS 63 /* with the dispatcher: the default 64 participants */

/* What the dispatcher, which creates the queue, must undo if it fails. */
static const char *created;         /* the queue's name; NULL in a worker */
static struct ipcq *dispatcher_q;
static pid_t pids[MAX_WORKERS];
static int running;                 /* workers forked and not reaped yet */

/* Print why a call failed and exit.  ipcq_errdetail() says what exactly
 * create, open or attach refused (it stays "" after the other calls here);
 * read it first, before anything else can rewrite it.  A failing dispatcher
 * then stops and reaps its workers and removes the queue: nothing is left
 * in /dev/shm. */
static _Noreturn void fail(const char *what, int rc)
{
	const char *detail = ipcq_errdetail();
	fprintf(stderr, "%s: %s%s%s\n", what, ipcq_strerror(rc), *detail ? ": " : "", detail);
	if (created) {
		for (int i = 0; i < running; i++)
			kill(pids[i], SIGKILL); /* or they wait TIMEOUT_NS for jobs */
		while (running > 0 && wait(NULL) > 0)
			running--;
		ipcq_close(dispatcher_q);
		ipcq_unlink(created);
	}
	exit(1);
}

static int worker(const char *name, int id)
{
	struct ipcq_attach_opts opts = IPCQ_ATTACH_OPTS_INIT;
	unsigned acked = 0, requeued = 0, poisoned = 0;
	struct timespec work = { 0, 20000 };
	char buf[64], me[32];
	struct ipcq *q;
	int rc;

	snprintf(me, sizeof me, "worker-%d", id);
	opts.name = me;
	opts.flags = IPCQ_ATTACH_ACK; /* lease every message until acked */
	if ((rc = ipcq_open(name, &q)) < 0 || (rc = ipcq_attach(q, IPCQ_ROLE_CONSUMER, &opts)) < 0)
		fail("worker: open/attach", rc);
	for (;;) {
		struct ipcq_msginfo info;
		int len = ipcq_recv(q, buf, sizeof buf - 1, &info, TIMEOUT_NS);
		if (len < 0)
			fail("worker: recv", len);
		buf[len] = '\0';
		if (strcmp(buf, "stop") == 0) {
			if ((rc = ipcq_ack(q, info.token)) < 0)
				fail("worker: ack", rc);
			break;
		}
		unsigned long n = strtoul(buf + 4, NULL, 10);
		int again = (info.flags & IPCQ_MSG_REDELIVERED) != 0;
		if (again && (n % 10 != 7 || info.deliveries != 2)) {
			fprintf(stderr, "%s: job %lu delivered again unasked\n", me, n);
			exit(1);
		}
		if (n % 100 == 13) {
			rc = ipcq_nack(q, info.token, IPCQ_NACK_POISON); /* 1: side ring */
			poisoned++;
		} else if (n % 10 == 7 && !again) {
			rc = ipcq_nack(q, info.token, IPCQ_NACK_REQUEUE); /* try again later */
			requeued++;
		} else {
			nanosleep(&work, NULL); /* stands for the real work */
			rc = ipcq_ack(q, info.token); /* done: the lease is freed */
			acked++;
		}
		if (rc < 0)
			fail("worker: ack/nack", rc);
	}
	printf("%s: acked %u, requeued %u, poisoned %u\n", me, acked, requeued, poisoned);
	ipcq_close(q);
	return 0;
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "example.jobs";
	unsigned jobs = argc > 2 ? (unsigned)atoi(argv[2]) : 1000;
	int workers = argc > 3 ? atoi(argv[3]) : 4, failed = 0, rc, st;
	struct ipcq_config cfg = IPCQ_CONFIG_INIT;
	struct ipcq_poison list[256];
	struct ipcq *q;
	char buf[64];

	if (workers < 1 || workers > MAX_WORKERS) {
		fprintf(stderr, "dispatcher: WORKERS must be 1 to %d\n", MAX_WORKERS);
		return 1;
	}
	cfg.side_capacity = 256; /* room for the malformed jobs of 25,600 */
	if ((rc = ipcq_create(name, &cfg, &q)) < 0)
		fail("dispatcher: create", rc);
	created = name; /* from here on, a failure removes the queue */
	dispatcher_q = q;
	for (int i = 0; i < workers; i++) {
		pid_t pid = fork();
		if (pid < 0)
			fail("dispatcher: fork", -errno);
		if (pid == 0) { /* a child opens its own handle: close the copy */
			created = NULL;
			ipcq_close(q);
			exit(worker(name, i));
		}
		pids[running++] = pid;
	}
	if ((rc = ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL)) < 0)
		fail("dispatcher: attach", rc);
	for (unsigned i = 1; i <= jobs + (unsigned)workers; i++) {
		int len = i <= jobs ? snprintf(buf, sizeof buf, "job %u", i)
				    : snprintf(buf, sizeof buf, "stop");
		if ((rc = ipcq_send(q, buf, (size_t)len, TIMEOUT_NS)) < 0)
			fail("dispatcher: send", rc);
	}
	for (; running > 0 && wait(&st) > 0; running--) /* each must finish cleanly */
		failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;

	/* The side ring: each entry keeps the message and why it is there. */
	int n = ipcq_poison_list(q, 0, list, 256);
	if (n < 0)
		fail("dispatcher: poison list", n);
	for (int i = 0; i < n; i++) {
		int len = ipcq_poison_peek(q, list[i].id, buf, sizeof buf - 1, NULL);
		if (len < 0)
			fail("dispatcher: poison peek", len);
		printf("side ring: \"%.*s\" reason %s, deliveries %u, last consumer pid %u\n",
		       len, buf, list[i].reason == IPCQ_REASON_NACKED ? "nacked" : "other",
		       list[i].deliveries, list[i].last_consumer_pid);
	}
	struct ipcq_info info = { .size = sizeof info };
	if ((rc = ipcq_info(q, &info)) < 0)
		fail("dispatcher: info", rc);
	printf("dispatcher: %u jobs, %d of %d workers failed, depth %llu, leased %u, "
	       "quarantined %u\n", jobs, failed, workers, (unsigned long long)info.depth,
	       info.leased, info.side_depth);
	if ((rc = ipcq_poison_purge(q, IPCQ_POISON_ALL)) < 0) /* or ipcq_poison_replay */
		fail("dispatcher: purge", rc);
	ipcq_close(q);
	created = NULL; /* closed: fail() has nothing left to undo */
	if ((rc = ipcq_unlink(name)) < 0)
		fail("dispatcher: unlink", rc);
	return failed || info.depth || info.leased ? 1 : 0;
}
