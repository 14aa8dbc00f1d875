/*
 * error.c - versions, error strings and the initializers of the public
 * structures.  Owns no shared state.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "ipcq_internal.h"

#define STR_(x) #x
#define STR(x) STR_(x)

int ipcq_version(void)
{
	return IPCQ_VERSION;
}

const char *ipcq_version_string(void)
{
	return STR(IPCQ_VERSION_MAJOR) "." STR(IPCQ_VERSION_MINOR) "." STR(IPCQ_VERSION_PATCH);
}

const char *ipcq_strerror(int err)
{
	if (err < 0)
		err = err == INT_MIN ? 0x7fffffff : -err;
	switch (err) {
	case 0: return "success";
	case EINVAL: return "invalid argument (bad name, configuration, option or handle)";
	case ENAMETOOLONG: return "queue name too long";
	case EEXIST: return "a queue with that name already exists";
	case ENOENT: return "no such queue (or no such entry: side-ring id, producer name)";
	case ENOSYS: return "not supported by this kernel or machine (NUMA binding)";
	case ENODEV: return "the queue is not bound to a NUMA node";
	case EACCES: return "permission denied";
	case EPERM: return "operation not permitted (handle not attached in that role; or the "
			   "segment is owned by another user (IPCQ_OPEN_ANY_OWNER to accept), "
			   "readable or writable by others, or not a regular file)";
	case ELOOP: return "queue name is a symbolic link: refused";
	case EBADMSG: return "segment is corrupt, truncated (shrunk under its users) or not an "
			     "ipcq queue";
	case EPROTO: return "segment was made by an incompatible ipcq layout or build";
	case ENOSPC: return "no room: /dev/shm cannot hold the whole queue, or the side ring is full";
	case EFBIG: return "queue would be larger than the segment limit";
	case ENOMEM: return "out of memory";
	case EAGAIN: return "queue full (send) or empty (receive), and the call was not to wait";
	case ETIMEDOUT: return "timed out";
	case EINTR: return "interrupted by a signal";
	case EMSGSIZE: return "message larger than the queue's maximum message size";
	case ENOBUFS: return "receive buffer too small for the next message (it stays queued)";
	case EALREADY: return "handle already attached";
	case EUSERS: return "participant table full";
	case ENOLCK: return "the kernel refused the liveness lock";
	case EBUSY: return "busy: the producer name is held by a live process, or (ack mode) the "
			   "prefetch limit or lease pool is exhausted (ack or nack first)";
	case ESTALE: return "not a lease held by this handle (already acked, nacked, or someone else's)";
	default: return "unknown error";
	}
}

int ipcq_config_init(struct ipcq_config *cfg)
{
	const struct ipcq_config def = IPCQ_CONFIG_INIT;
	if (!cfg)
		return -EINVAL;
	*cfg = def;
	return 0;
}

int ipcq_attach_opts_init(struct ipcq_attach_opts *opts)
{
	const struct ipcq_attach_opts def = IPCQ_ATTACH_OPTS_INIT;
	if (!opts)
		return -EINVAL;
	*opts = def;
	return 0;
}
