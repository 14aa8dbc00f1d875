/*
 * crashpoint.c - named crash and freeze points for the crash and
 * interleaving tests.
 *
 * In debug builds (IPCQ_DEBUG, which the asan and tsan builds set),
 * IPCQ_CRASHPOINT("name") kills the calling process with SIGKILL when the
 * environment variable IPCQ_CRASH is "name" (at the first pass) or
 * "name:N" (at the N-th pass), and stops it with SIGSTOP when IPCQ_FREEZE
 * is "name" or "name:N": a test sees the stop with waitpid(WUNTRACED),
 * runs other processes while this one is frozen at a known protocol point,
 * then resumes it with SIGCONT (or kills it).  The names are listed in
 * crashpoints.h.  Release builds compile the points away.  Owns no shared
 * state.
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

struct point_arm {
	const char *var; /* environment variable */
	int sig;         /* what a hit raises */
	char want[64];
	long countdown;
};

static struct point_arm arms[] = {
	{ "IPCQ_CRASH", SIGKILL, "", 0 },
	{ "IPCQ_FREEZE", SIGSTOP, "", 0 },
};

/* (Re)read the variables, once per process: a forked child reads them
 * again. */
static void init(struct point_arm *a)
{
	a->want[0] = '\0';
	const char *e = getenv(a->var);
	if (!e || !*e)
		return;
	size_t n = strcspn(e, ":");
	if (n >= sizeof(a->want))
		return;
	memcpy(a->want, e, n);
	a->want[n] = '\0';
	a->countdown = e[n] == ':' ? strtol(e + n + 1, NULL, 10) : 1;
	if (a->countdown < 1)
		a->countdown = 1;
}

void ipcq__crashpoint(const char *name)
{
	pid_t self = getpid();
	int sig = 0;

	pthread_mutex_lock(&lock);
	if (armed_pid != self) {
		armed_pid = self;
		for (size_t i = 0; i < sizeof(arms) / sizeof(arms[0]); i++)
			init(&arms[i]);
	}
	for (size_t i = 0; i < sizeof(arms) / sizeof(arms[0]); i++) {
		struct point_arm *a = &arms[i];
		if (a->want[0] && strcmp(name, a->want) == 0 && --a->countdown == 0) {
			a->want[0] = '\0'; /* once */
			sig = a->sig;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	if (sig)
		kill(self, sig);
}

#endif
