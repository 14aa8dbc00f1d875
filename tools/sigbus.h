/*
 * sigbus.h - the tools' guard against a queue file shrunk under a read
 * through its mapping (a library must not install signal handlers; a tool
 * may).  A read is guarded by
 *
 *	if (sigsetjmp(g_bus_jmp, 1))
 *		return -EBADMSG;   (SIGBUS came: the file is shorter)
 *	g_bus_armed = 1;
 *	... the library call ...
 *	g_bus_armed = 0;
 *
 * and install_sigbus() at start-up.  A SIGBUS outside a guarded read keeps
 * its default action.  Included once, by each tool's .c file.
 */
#ifndef IPCQ_TOOLS_SIGBUS_H
#define IPCQ_TOOLS_SIGBUS_H

#include <setjmp.h>
#include <signal.h>
#include <string.h>

static sigjmp_buf g_bus_jmp;
static volatile sig_atomic_t g_bus_armed;

static void on_sigbus(int sig)
{
	if (g_bus_armed) {
		g_bus_armed = 0;
		siglongjmp(g_bus_jmp, 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_sigbus(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigbus;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

#endif
