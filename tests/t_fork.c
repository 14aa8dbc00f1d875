/* A forked child neither uses nor keeps alive its parent's attachment: its copy is unattached, and the parent's death is seen while the child lives. */
#include <sys/prctl.h>

#include "testutil.h"

struct shared {
	volatile int grandchild_pid;
	volatile int child_rc_eperm;
	volatile int grandchild_ready; /* it has run (and dropped its copy of the lock) */
};

static const char *qname;
static struct shared *sh;
static int pipefd[2];

static int grandchild(void *arg)
{
	(void)arg;
	char c;
	close(pipefd[1]);
	/* holds every inherited descriptor until the pipe closes */
	while (read(pipefd[0], &c, 1) < 0 && errno == EINTR)
		;
	return 0;
}

static int child(void *arg)
{
	(void)arg;
	struct ipcq *q;
	CHECK_OK(ipcq_open(qname, &q));
	CHECK_OK(ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL));
	CHECK_RC(ipcq_send(q, "x", 1, IPCQ_NOWAIT), 0);
	pid_t g = fork();
	if (g == 0) {
		/* the copy of the handle is not attached here */
		sh->child_rc_eperm = ipcq_send(q, "y", 1, IPCQ_NOWAIT) == -EPERM;
		__atomic_store_n(&sh->grandchild_ready, 1, __ATOMIC_SEQ_CST);
		_exit(grandchild(NULL));
	}
	sh->grandchild_pid = g;
	for (;;)
		pause(); /* killed by the test */
}

int main(void)
{
	struct ipcq *q;
	struct ipcq_info info = { .size = sizeof(info) };

	qname = t_qname("fork");
	sh = t_shared(sizeof(*sh));
	CHECK(pipe(pipefd) == 0);
	/* the grandchild is reparented to us when the child dies */
	CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	CHECK_OK(ipcq_create(qname, NULL, &q));
	pid_t c = t_fork(child, NULL);
	/* wait until the child attached and forked, and the grandchild runs:
	 * until then the grandchild's copy of the descriptor table still
	 * refers to the child's lock (the fork handler drops it when the
	 * grandchild first runs) */
	while (!sh->grandchild_pid || !__atomic_load_n(&sh->grandchild_ready, __ATOMIC_SEQ_CST))
		sched_yield();
	CHECK_OK(ipcq_info(q, &info));
	CHECK(info.participants == 1);
	CHECK(info.depth == 1);

	kill(c, SIGKILL);
	CHECK(waitpid(c, NULL, 0) == c);
	/* the grandchild still runs with all inherited descriptors, yet the
	 * child's entry is dead */
	CHECK(kill(sh->grandchild_pid, 0) == 0);
	CHECK_OK(ipcq_info(q, &info));
	CHECK(info.participants == 0);

	close(pipefd[1]);
	CHECK(waitpid(sh->grandchild_pid, NULL, 0) == sh->grandchild_pid);
	CHECK(sh->child_rc_eperm == 1);

	/* the parent's own handle, attached before a fork, stays attached */
	CHECK_OK(ipcq_attach(q, IPCQ_ROLE_CONSUMER, NULL));
	pid_t k = fork();
	if (k == 0) {
		char b[8];
		_exit(ipcq_recv(q, b, sizeof(b), NULL, IPCQ_NOWAIT) == -EPERM ? 0 : 1);
	}
	CHECK(t_wait(k) == 0);
	char b[8];
	CHECK_RC(ipcq_recv(q, b, sizeof(b), NULL, IPCQ_NOWAIT), 1);
	CHECK(b[0] == 'x');
	ipcq_close(q);
	CHECK_OK(ipcq_unlink(qname));
	printf("ok\n");
	return 0;
}
