/* t_stat_follow: ipcq-stat -w follows a queue by its file: a queue removed and made again under its name is reopened and the frame says so (one queue, text and JSON; all queues, text and JSON), and a queue whose file is gone is shown as gone until one of that name appears again. */
#include "statutil.h"

#include <sys/syscall.h>

/* Start "ipcq-stat ARGS..." (at most 6) with its output in a memfd. */
static pid_t watch_start(int *fo, const char *a1, const char *a2, const char *a3,
			 const char *a4, const char *a5, const char *a6)
{
	*fo = (int)syscall(SYS_memfd_create, "out", 0);
	CHECK(*fo >= 0);
	const char *tool = s_tool("ipcq-stat");
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(*fo, 1);
		dup2(*fo, 2);
		execl(tool, tool, a1, a2, a3, a4, a5, a6, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/*
 * Wait up to 30 s for @want in the output at or after *@at; moves *@at
 * past it.  Fails the test (killing @pid) if it does not come.  A poll of
 * the file, not a settle: the watch writes a frame every few ms.
 */
static void wait_for(pid_t pid, int fo, size_t *at, const char *want)
{
	char *out = NULL;
	for (int i = 0; i < 3000; i++) {
		struct stat st;
		CHECK(fstat(fo, &st) == 0);
		out = realloc(out, (size_t)st.st_size + 1);
		CHECK(out != NULL);
		ssize_t got = pread(fo, out, (size_t)st.st_size, 0);
		out[got > 0 ? got : 0] = '\0';
		const char *hit = (size_t)(got > 0 ? got : 0) > *at ? strstr(out + *at, want) : NULL;
		if (hit) {
			*at = (size_t)(hit - out) + strlen(want);
			free(out);
			return;
		}
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	s_kill_reap(pid);
	size_t len = out ? strlen(out) : 0;
	T_FAIL("no '%s' in the watch's output after offset %zu; its end:\n%s", want, *at,
	       out ? out + (len > 4000 ? len - 4000 : 0) : "");
}

/* Replace queue @name by a new one of @cap slots, at once: a new queue
 * renamed over it, so that the name is never missing from /dev/shm. */
static void remake(const char *name, uint32_t cap)
{
	static char spare[96];
	snprintf(spare, sizeof(spare), "%s", t_qname("spare"));
	struct ipcq_config cfg = t_config(cap, 64);
	ipcq_close(t_create(spare, &cfg));
	CHECK(rename(t_shm_path(spare), t_shm_path(name)) == 0);
}

static void stop(pid_t pid, int fo)
{
	s_kill_reap(pid);
	close(fo);
}

int main(void)
{
	char want[256];
	size_t at = 0;
	int fo;

	t_watchdog(t_limit(120), "t_stat_follow", NULL);
	const char *name = t_qname("follow");
	struct ipcq_config cfg = t_config(16, 64);
	ipcq_close(t_create(name, &cfg));

	/* one queue, as text */
	pid_t pid = watch_start(&fo, "-w", "0.02", "-i", "0.01", name, NULL);
	snprintf(want, sizeof(want), "queue %s\n", name);
	wait_for(pid, fo, &at, want);
	wait_for(pid, fo, &at, "capacity 16 slots");
	remake(name, 32);
	snprintf(want, sizeof(want), "queue %s\n  reopened: the queue was removed and made again; "
		 "this is the new one (its rates start over)\n  capacity 32 slots", name);
	wait_for(pid, fo, &at, want);
	CHECK_OK(ipcq_unlink(name));
	snprintf(want, sizeof(want), "queue %s: gone (removed from /dev/shm); shown again if it "
		 "is made again\n", name);
	wait_for(pid, fo, &at, want);
	cfg = t_config(64, 64);
	ipcq_close(t_create(name, &cfg));
	snprintf(want, sizeof(want), "queue %s\n  reopened: the queue was removed and made again; "
		 "this is the new one (its rates start over)\n  capacity 64 slots", name);
	wait_for(pid, fo, &at, want);
	/* said once: the next frames show the queue as usual */
	snprintf(want, sizeof(want), "queue %s\n  capacity 64 slots", name);
	wait_for(pid, fo, &at, want);
	stop(pid, fo);

	/* one queue, as JSON (a compact document per frame): the frame after
	 * the change says "reopened", a gone queue is {"name":..,"gone":true,..} */
	at = 0;
	pid = watch_start(&fo, "-w", "0.02", "-i", "0.01", "--json", name);
	snprintf(want, sizeof(want), "{\"name\":\"%s\",\"capacity\":64,", name);
	wait_for(pid, fo, &at, want);
	remake(name, 8);
	snprintf(want, sizeof(want), "{\"name\":\"%s\",\"reopened\":true,\"capacity\":8,", name);
	wait_for(pid, fo, &at, want);
	CHECK_OK(ipcq_unlink(name));
	snprintf(want, sizeof(want), "{\"name\":\"%s\",\"gone\":true,\"error\":", name);
	wait_for(pid, fo, &at, want);
	stop(pid, fo);

	/* all queues, JSON: the new queue's figures, not the old one's */
	cfg = t_config(16, 64);
	ipcq_close(t_create(name, &cfg));
	at = 0;
	pid = watch_start(&fo, "-w", "0.02", "-i", "0.01", "--json", NULL);
	snprintf(want, sizeof(want), "{\"name\":\"%s\",\"capacity\":16,", name);
	wait_for(pid, fo, &at, want);
	remake(name, 128);
	snprintf(want, sizeof(want), "{\"name\":\"%s\",\"reopened\":true,\"capacity\":128,", name);
	wait_for(pid, fo, &at, want);
	stop(pid, fo);

	/* all queues, text: the frame says which queue was reopened */
	at = 0;
	pid = watch_start(&fo, "-w", "0.02", "-i", "0.01", NULL, NULL);
	snprintf(want, sizeof(want), "\n%s ", name);
	wait_for(pid, fo, &at, want);
	remake(name, 16);
	snprintf(want, sizeof(want), "\n%s: removed and made again: reopened (its rates start over)\n",
		 name);
	wait_for(pid, fo, &at, want);
	stop(pid, fo);

	CHECK_OK(ipcq_unlink(name));
	printf("t_stat_follow: ok\n");
	return 0;
}
