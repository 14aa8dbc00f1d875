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

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char want[64];
static long countdown;

static void init(void)
{
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
	pthread_once(&once, init);
	if (!want[0] || strcmp(name, want) != 0)
		return;
	if (__atomic_sub_fetch(&countdown, 1, __ATOMIC_RELAXED) == 0)
		kill(getpid(), SIGKILL);
}

#endif
