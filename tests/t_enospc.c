/* A queue larger than the free space of /dev/shm fails at create with -ENOSPC (not SIGBUS later); one that fits works. */
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "testutil.h"

int main(void)
{
	/* A private mount namespace with a 64 MiB /dev/shm, as containers
	 * often have: needs root (CAP_SYS_ADMIN); skip otherwise. */
	if (unshare(CLONE_NEWNS) < 0) {
		printf("skip: unshare(CLONE_NEWNS): %s\n", strerror(errno));
		return T_SKIP;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=64m,mode=1777") < 0) {
		printf("skip: mount tmpfs: %s\n", strerror(errno));
		return T_SKIP;
	}

	struct ipcq_config c = IPCQ_CONFIG_INIT;
	struct ipcq *q = NULL;
	struct stat st;
	char path[256];

	/* 96 MiB of slots: more than /dev/shm holds */
	c.capacity = 1024;
	c.max_msg_size = 96 * 1024;
	const char *big = t_qname("big");
	CHECK_RC(ipcq_create(big, &c, &q), -ENOSPC);
	CHECK(q == NULL);
	snprintf(path, sizeof(path), "/dev/shm/ipcq.%s", big);
	CHECK(stat(path, &st) < 0 && errno == ENOENT);
	/* nothing left behind, not even the temporary file */
	CHECK(system("test -z \"$(ls -A /dev/shm)\"") == 0);

	/* 32 MiB fits, and every slot can be written without SIGBUS */
	c.max_msg_size = 32 * 1024 - 64;
	const char *ok = t_qname("ok");
	CHECK_OK(ipcq_create(ok, &c, &q));
	CHECK_OK(ipcq_attach(q, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, NULL));
	static char buf[32 * 1024];
	for (unsigned i = 0; i < c.capacity; i++) {
		t_fill(buf, c.max_msg_size, 1, i + 1);
		CHECK_RC(ipcq_send(q, buf, c.max_msg_size, IPCQ_NOWAIT), 0);
	}
	CHECK_RC(ipcq_send(q, buf, 1, IPCQ_NOWAIT), -EAGAIN);
	/* the second one does not fit beside it */
	struct ipcq *q2 = NULL;
	CHECK_RC(ipcq_create(t_qname("second"), &c, &q2), -ENOSPC);
	for (unsigned i = 0; i < c.capacity; i++) {
		CHECK_RC(ipcq_recv(q, buf, sizeof(buf), NULL, IPCQ_NOWAIT), (int)c.max_msg_size);
		CHECK(t_verify(buf, c.max_msg_size, 1, i + 1) == 0);
	}
	ipcq_close(q);
	CHECK_OK(ipcq_unlink(ok));
	printf("ok\n");
	return 0;
}
