/*
 * zerocopy.c - write and read messages in place, inside the queue's shared
 * memory, with no copy on either side.  The parent process is the producer,
 * a forked child the consumer.
 *
 *   zerocopy [QUEUE] [COUNT]          (defaults: example.ticks, 100000)
 *
 * Producer: ipcq_reserve() claims up to 32 slots with one atomic operation
 * and returns pointers into them; the ticks are built right there, and
 * ipcq_commit() publishes them.  Consumer: ipcq_peek() claims up to 64
 * messages and returns pointers to them; ipcq_release() frees the slots.
 * Nothing is visible before the commit, and a process that dies holding a
 * reservation or a peek is recovered like any other (see README.md).
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep, fork ... with -std=c11 */
#include <errno.h>
#include <ipcq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define TIMEOUT_NS (10 * 1000000000LL)

/* What the producer, which creates the queue, must undo if it fails. */
static const char *created; /* the queue's name; NULL in the consumer */
static struct ipcq *producer_q;
static pid_t consumer_pid;  /* 0 until forked */

/* Print why a call failed and exit.  ipcq_errdetail() says what exactly
 * create, open or attach refused (it stays "" after the other calls here);
 * read it first, before anything else can rewrite it.  A failing producer
 * then stops and reaps its consumer and removes the queue: nothing is left
 * in /dev/shm. */
static _Noreturn void fail(const char *what, int rc)
{
	const char *detail = ipcq_errdetail();
	fprintf(stderr, "zerocopy: %s: %s%s%s\n", what, ipcq_strerror(rc),
		*detail ? ": " : "", detail);
	if (created) {
		if (consumer_pid > 0) { /* or it waits TIMEOUT_NS for ticks */
			kill(consumer_pid, SIGKILL);
			waitpid(consumer_pid, NULL, 0);
		}
		ipcq_close(producer_q);
		ipcq_unlink(created);
	}
	exit(1);
}

struct tick {
	uint64_t seq;
	uint64_t price; /* in 1/10000 of a unit */
	uint64_t check; /* seq ^ price: the consumer verifies it */
};

static void consume(const char *name, uint64_t count)
{
	struct ipcq_zmsg msgs[64];
	uint64_t next = 1, peeks = 0;
	struct ipcq *q;
	int rc, n;

	if ((rc = ipcq_open(name, &q)) < 0 || (rc = ipcq_attach(q, IPCQ_ROLE_CONSUMER, NULL)) < 0)
		fail("consumer open/attach", rc);
	while (next <= count) {
		if ((n = ipcq_peek(q, msgs, 64, TIMEOUT_NS)) < 0)
			fail("peek", n);
		peeks++;
		for (int i = 0; i < n; i++) { /* data points into the queue */
			const struct tick *t = msgs[i].data;
			if (msgs[i].len != sizeof *t || t->seq != next || t->check != (t->seq ^ t->price)) {
				fprintf(stderr, "zerocopy: bad tick at %llu\n", (unsigned long long)next);
				exit(1);
			}
			next++;
		}
		if ((rc = ipcq_release(q)) < 0) /* the pointers are invalid from here */
			fail("release", rc);
	}
	printf("zerocopy: consumer read %llu ticks in place in %llu peeks, all in order\n",
	       (unsigned long long)count, (unsigned long long)peeks);
	ipcq_close(q);
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "example.ticks";
	uint64_t count = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000, seq = 1, res = 0;
	struct ipcq_config cfg = IPCQ_CONFIG_INIT;
	struct ipcq *q;
	int rc, st;

	cfg.max_msg_size = sizeof(struct tick);
	if ((rc = ipcq_create(name, &cfg, &q)) < 0)
		fail("create", rc);
	created = name; /* from here on, a failure removes the queue */
	producer_q = q;
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		fail("fork", -errno);
	if (pid == 0) { /* the child opens a handle of its own */
		created = NULL;
		ipcq_close(q);
		consume(name, count);
		exit(0);
	}
	consumer_pid = pid;
	if ((rc = ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL)) < 0)
		fail("attach", rc);
	while (seq <= count) {
		void *bufs[32];
		size_t lens[32];
		unsigned want = count - seq + 1 < 32 ? (unsigned)(count - seq + 1) : 32;
		int n = ipcq_reserve(q, want, bufs, TIMEOUT_NS); /* may give fewer */
		if (n < 0)
			fail("reserve", n);
		for (int i = 0; i < n; i++, seq++) { /* build each tick in its slot */
			struct tick *t = bufs[i];
			t->seq = seq;
			t->price = 1000000 + seq % 977;
			t->check = t->seq ^ t->price;
			lens[i] = sizeof *t;
		}
		if ((rc = ipcq_commit(q, lens, (unsigned)n)) < 0) /* now visible */
			fail("commit", rc);
		res++;
	}
	printf("zerocopy: producer wrote %llu ticks in place in %llu reservations\n",
	       (unsigned long long)count, (unsigned long long)res);
	ipcq_close(q);
	created = NULL; /* closed: fail() has nothing left to undo */
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "zerocopy: the consumer failed\n");
		rc = -1;
	}
	int urc = ipcq_unlink(name);
	if (urc < 0)
		fail("unlink", urc);
	return rc < 0 ? 1 : 0;
}
