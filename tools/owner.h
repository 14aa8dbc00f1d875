/*
 * owner.h - the tools' reading of a refusal to open another user's queue:
 * the library's detail names the flag IPCQ_OPEN_ANY_OWNER, a tool names
 * its option --any-owner and the owner's uid.  Included once, by each
 * tool's .c file.
 */
#ifndef IPCQ_TOOLS_OWNER_H
#define IPCQ_TOOLS_OWNER_H

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipcq.h"

/*
 * The owner of queue @name's segment when opening it was refused (@err)
 * because another user owns it, a private regular file; -1 otherwise.
 */
static long refused_owner(const char *name, int err)
{
	char path[64 + IPCQ_NAME_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "/dev/shm/ipcq.%s", name);
	if (err != -EPERM || lstat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & (S_IROTH | S_IWOTH)) || st.st_uid == geteuid())
		return -1;
	return (long)st.st_uid;
}

#endif
