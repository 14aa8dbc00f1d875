/*
 * crashpoint.c - named crash points for the crash tests.
 *
 * In debug builds (IPCQ_DEBUG, which the asan and tsan builds set),
 * IPCQ_CRASHPOINT("name") kills the calling process with SIGKILL when the
 * environment variable IPCQ_CRASH is "name" (at the first pass) or
 * "name:N" (at the N-th pass).  The names are listed in crashpoints.h.
 * Release builds compile the points away.  Owns no shared state.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipcq_internal.h"

#if defined(IPCQ_DEBUG)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t armed_pid;
static char want[64];
static long countdown;

/* (Re)read IPCQ_CRASH, once per process: a forked child reads it again. */
static void init(void)
{
	want[0] = '\0';
	const char *e = getenv("IPCQ_CRASH");
	if (!e || !*e)
		return;
	size_t n = strcspn(e, ":");
	if (n >= sizeof(want))
		return;
	memcpy(want, e, n);
	want[n] = '\0';
	countdown = e[n] == ':' ? strtol(e + n + 1, NULL, 10) : 1;
	if (countdown < 1)
		countdown = 1;
}

void ipcq__crashpoint(const char *name)
{
	pid_t self = getpid();
	int hit = 0;

	pthread_mutex_lock(&lock);
	if (armed_pid != self) {
		armed_pid = self;
		init();
	}
	if (want[0] && strcmp(name, want) == 0 && --countdown == 0)
		hit = 1;
	pthread_mutex_unlock(&lock);
	if (hit)
		kill(self, SIGKILL);
}

#endif
