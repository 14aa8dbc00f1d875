/*
 * accounts.c - per-key order: each account's orders in order, accounts in
 * parallel.  The parent process creates a queue with IPCQ_CF_KEYED and
 * forks workers (ack-mode consumers); it then sends orders for a few
 * accounts, each with the account as its key (ipcq_send_ex(),
 * IPCQ_SEND_F_KEY).  A worker gets an account's next order only after the
 * one before it was acked, whichever worker had it, so the workers can
 * keep each account's state without locks: here, the last order number
 * applied, in memory shared by the workers, which each worker checks and
 * moves on with a plain load and store.  Every tenth order is nacked once
 * (requeued): it comes back before the next order of its account.
 *
 *   accounts [QUEUE] [ORDERS] [WORKERS]    (defaults: example.accounts, 20000, 3)
 *
 * The stream ends with one message without a key per worker.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS with -std=c11 */
#include <ipcq.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define ACCOUNTS 4
#define MAX_WORKERS 16
#define TIMEOUT_NS (10 * 1000000000LL)

struct order {
	uint32_t account; /* also the message's key */
	uint32_t number;  /* 1, 2, ... within its account */
};

static const char *created;
static pid_t kids[MAX_WORKERS];

static _Noreturn void fail(const char *what, int rc)
{
	const char *detail = ipcq_errdetail();
	fprintf(stderr, "accounts: %s: %s%s%s\n", what, ipcq_strerror(rc), *detail ? ": " : "",
		detail);
	if (created) {
		for (int i = 0; i < MAX_WORKERS; i++)
			if (kids[i] > 0) {
				kill(kids[i], SIGKILL);
				waitpid(kids[i], NULL, 0);
			}
		ipcq_unlink(created);
	}
	exit(1);
}

/* A worker: applies orders; applied[a] is account a's last order number. */
static _Noreturn void work(const char *name, int id, uint32_t *applied)
{
	struct ipcq_attach_opts opts = IPCQ_ATTACH_OPTS_INIT;
	struct ipcq_msginfo mi;
	struct order o;
	unsigned done = 0, again = 0;
	struct ipcq *q;
	int rc;

	opts.flags = IPCQ_ATTACH_ACK;
	opts.prefetch = 1;
	if ((rc = ipcq_open(name, &q)) < 0 || (rc = ipcq_attach(q, IPCQ_ROLE_CONSUMER, &opts)) < 0)
		fail("worker open/attach", rc);
	for (;;) {
		if ((rc = ipcq_recv(q, &o, sizeof o, &mi, TIMEOUT_NS)) < 0)
			fail("recv", rc);
		if (!(mi.flags & IPCQ_MSG_KEYED)) { /* the end */
			ipcq_ack(q, mi.token);
			break;
		}
		/* no other worker holds an order of this account now */
		if (mi.key != o.account || applied[o.account] + 1 != o.number) {
			fprintf(stderr, "worker %d: account %u order %u after %u: out of order\n", id,
				o.account, o.number, applied[o.account]);
			exit(1);
		}
		if (o.number % 10 == 0 && !(mi.flags & IPCQ_MSG_REDELIVERED)) {
			/* not now: requeued, it keeps its place in its account */
			if ((rc = ipcq_nack(q, mi.token, IPCQ_NACK_REQUEUE)) < 0)
				fail("nack", rc);
			again++;
			continue;
		}
		applied[o.account] = o.number;
		if ((rc = ipcq_ack(q, mi.token)) < 0)
			fail("ack", rc);
		done++;
	}
	printf("worker %d applied %u orders (%u requeued once)\n", id, done, again);
	ipcq_close(q);
	exit(0);
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "example.accounts";
	long orders = argc > 2 ? atol(argv[2]) : 20000;
	int workers = argc > 3 ? atoi(argv[3]) : 3;
	struct ipcq_config cfg = IPCQ_CONFIG_INIT;
	struct ipcq *q;
	int rc;

	if (orders < 1 || workers < 1 || workers > MAX_WORKERS) {
		fprintf(stderr, "usage: accounts [QUEUE] [ORDERS >= 1] [WORKERS 1..%d]\n",
			MAX_WORKERS);
		return 2;
	}
	uint32_t *applied = mmap(NULL, ACCOUNTS * sizeof(uint32_t), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (applied == MAP_FAILED) {
		perror("accounts: mmap");
		return 1;
	}
	cfg.capacity = 256;
	cfg.max_msg_size = sizeof(struct order);
	cfg.flags = IPCQ_CF_KEYED;
	if ((rc = ipcq_create(name, &cfg, &q)) < 0)
		fail("create", rc);
	created = name;
	if ((rc = ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL)) < 0)
		fail("attach", rc);
	for (int i = 0; i < workers; i++) {
		fflush(stdout);
		if ((kids[i] = fork()) == 0)
			work(name, i + 1, applied);
		if (kids[i] < 0)
			fail("fork", -1);
	}
	uint32_t next[ACCOUNTS] = { 0 };
	struct ipcq_send_opts so = IPCQ_SEND_OPTS_INIT;
	so.flags = IPCQ_SEND_F_KEY;
	for (long i = 0; i < orders; i++) {
		struct order o = { (uint32_t)(i % ACCOUNTS), 0 };
		o.number = ++next[o.account];
		so.key = o.account;
		if ((rc = ipcq_send_ex(q, &o, sizeof o, &so, TIMEOUT_NS)) < 0)
			fail("send", rc);
	}
	for (int i = 0; i < workers; i++) { /* the end: no key, any worker */
		struct order end = { 0, 0 };
		if ((rc = ipcq_send(q, &end, sizeof end, TIMEOUT_NS)) < 0)
			fail("send end", rc);
	}
	int bad = 0;
	for (int i = 0; i < workers; i++) {
		int st;
		waitpid(kids[i], &st, 0);
		kids[i] = 0;
		bad |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	}
	for (int a = 0; a < ACCOUNTS; a++)
		if (applied[a] != next[a])
			bad = 1;
	printf("sent %ld orders for %d accounts; each account's orders applied in order: %s\n",
	       orders, ACCOUNTS, bad ? "NO" : "yes");
	ipcq_close(q);
	ipcq_unlink(name);
	return bad;
}
