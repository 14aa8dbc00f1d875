/*
 * pingpong.c - a gateway and its worker, one order at a time: the round
 * trip a trading pipeline lives by.  Two queues, QUEUE.req and QUEUE.rep,
 * each with one producer and one consumer, attached with IPCQ_ATTACH_SOLE
 * (claims without a locked instruction) and busy-polling.  The gateway
 * times each order's round trip and prints the percentiles.
 *
 *   pingpong [QUEUE [ORDERS]]    (default: example.pingpong 100000)
 *
 * The worker is forked here; in a real pipeline it is a program of its
 * own doing the same calls.  For figures worth reading, give each process
 * a core of its own (taskset, or ipcq_pin_thread() on a machine with a
 * core per process on the queue's node): two busy-polling processes that
 * share a core measure the scheduler.
 */
#include <errno.h>
#include <ipcq.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct order {
	uint64_t seq;      /* 0: the last message, the worker stops */
	uint32_t qty;
	char symbol[12];
};

struct fill {
	uint64_t seq;      /* the order it answers */
	uint32_t qty;
	uint32_t status;   /* 1: filled */
};

static void report(const char *what, int rc)
{
	const char *detail = ipcq_errdetail();
	fprintf(stderr, "pingpong: %s: %s%s%s\n", what, ipcq_strerror(rc), *detail ? ": " : "",
		detail);
}

/* Open queue @name and attach it in @role, sole and busy-polling. */
static struct ipcq *join(const char *name, unsigned role)
{
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	struct ipcq *q;
	int rc = ipcq_open(name, &q);
	if (rc < 0) {
		report(name, rc);
		return NULL;
	}
	o.flags = IPCQ_ATTACH_SOLE;                 /* the only producer, or consumer */
	o.wait_strategy = IPCQ_WAIT_BUSY_POLL;      /* never sleep: latency first */
	rc = ipcq_attach(q, role, &o);
	if (rc < 0) {
		report("attach", rc);
		ipcq_close(q);
		return NULL;
	}
	return q;
}

/* The worker: fill each order, until the last one. */
static int worker(const char *req_name, const char *rep_name)
{
	struct ipcq *req = join(req_name, IPCQ_ROLE_CONSUMER);
	struct ipcq *rep = join(rep_name, IPCQ_ROLE_PRODUCER);
	if (!req || !rep)
		return 1;
	for (;;) {
		struct order o;
		int len = ipcq_recv(req, &o, sizeof(o), NULL, IPCQ_FOREVER);
		if (len != (int)sizeof(o)) {
			report("worker recv", len < 0 ? len : -EBADMSG);
			return 1;
		}
		if (o.seq == 0)
			break;
		struct fill f = { o.seq, o.qty, 1 };
		int rc = ipcq_send(rep, &f, sizeof(f), IPCQ_FOREVER);
		if (rc < 0) {
			report("worker send", rc);
			return 1;
		}
	}
	ipcq_close(req);
	ipcq_close(rep);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "example.pingpong";
	long n = argc > 2 ? atol(argv[2]) : 100000;
	char req_name[128], rep_name[128];
	struct ipcq_config cfg = IPCQ_CONFIG_INIT;
	struct ipcq *c1, *c2, *req = NULL, *rep = NULL, *other = NULL;
	uint64_t *rtt = NULL;
	int rc, ok = 0;

	if (n < 1 || snprintf(req_name, sizeof(req_name), "%s.req", name) >= (int)sizeof(req_name) ||
	    snprintf(rep_name, sizeof(rep_name), "%s.rep", name) >= (int)sizeof(rep_name)) {
		fprintf(stderr, "usage: pingpong [QUEUE [ORDERS]]\n");
		return 2;
	}
	cfg.capacity = 64;
	cfg.max_msg_size = 32;                      /* orders and fills fit one cache line */
	if ((rc = ipcq_create(req_name, &cfg, &c1)) < 0) {
		report(req_name, rc);
		return 1;
	}
	if ((rc = ipcq_create(rep_name, &cfg, &c2)) < 0) {
		report(rep_name, rc);
		goto out;
	}
	pid_t pid = fork();
	if (pid == 0)
		_exit(worker(req_name, rep_name));
	if (pid < 0) {
		perror("pingpong: fork");
		goto out;
	}
	req = join(req_name, IPCQ_ROLE_PRODUCER);
	rep = join(rep_name, IPCQ_ROLE_CONSUMER);
	rtt = malloc((size_t)n * sizeof(*rtt));
	if (!req || !rep || !rtt)
		goto stop;

	/* The seat: while the gateway is the sole producer of QUEUE.req, no
	 * other producer may attach (nor a sole one while others are). */
	if (ipcq_open(req_name, &other) == 0) {
		rc = ipcq_attach(other, IPCQ_ROLE_PRODUCER, NULL);
		printf("a second producer of %s: %s\n", req_name,
		       rc == -EBUSY ? "refused (-EBUSY), the gateway is its sole producer"
				    : "attached?!");
		if (rc != -EBUSY)
			goto stop;
		ipcq_close(other);
	}

	for (long i = 0; i < n; i++) {
		struct order o = { (uint64_t)i + 1, 100, "XAMS:ASML" };
		struct fill f;
		uint64_t t0 = now_ns();
		if ((rc = ipcq_send(req, &o, sizeof(o), IPCQ_FOREVER)) < 0) {
			report("send", rc);
			goto stop;
		}
		int len = ipcq_recv(rep, &f, sizeof(f), NULL, 5000000000ll);
		rtt[i] = now_ns() - t0;
		if (len != (int)sizeof(f) || f.seq != o.seq || f.status != 1) {
			fprintf(stderr, "pingpong: order %ld: %s\n", i + 1,
				len < 0 ? ipcq_strerror(len) : "a fill that does not match");
			goto stop;
		}
	}
	qsort(rtt, (size_t)n, sizeof(*rtt), cmp_u64);
	printf("%ld round trips, every fill matched its order: p50 %llu ns, p99 %llu ns, "
	       "p99.9 %llu ns\n", n, (unsigned long long)rtt[n / 2],
	       (unsigned long long)rtt[(size_t)((double)n * 0.99)],
	       (unsigned long long)rtt[(size_t)((double)n * 0.999)]);
	ok = 1;
stop:
	if (req) {
		struct order last = { 0, 0, "" };
		ipcq_send(req, &last, sizeof(last), IPCQ_FOREVER);
	} else if (pid > 0) {
		kill(pid, SIGKILL); /* nobody will tell it to stop */
	}
	if (pid > 0) {
		int st;
		waitpid(pid, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			ok = 0;
	}
	free(rtt);
	ipcq_close(req);
	ipcq_close(rep);
	ipcq_close(c2);
	ipcq_unlink(rep_name);
out:
	ipcq_close(c1);
	ipcq_unlink(req_name);
	return ok ? 0 : 1;
}
