/*
 * error.c - versions, error strings, the per-thread error detail and the
 * initializers of the public structures.  Owns no shared state.
 *
 * The detail (ipcq_errdetail()) is a fixed thread-local buffer, and each
 * thread sees the detail of its own calls only.  Setting it allocates
 * nothing of ours: the buffer is static TLS, so in a program linked with
 * libipcq (statically or at start-up) it exists before the first call and
 * can be set on any failure path, out-of-memory ones included.  A
 * libipcq.so loaded later with dlopen() is the exception: glibc may then
 * allocate the thread's block of the library's TLS on its first use in
 * each thread (malloc), which can fail or be slow in that one call.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
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

/* Long enough for a whole queue name (IPCQ_NAME_MAX) and the rule it broke. */
static _Thread_local char detail[512];

IPCQ_COLD void ipcq__errdetail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	/* vsnprintf of these formats (%s, %d, %u, %x, %llu, %zu) allocates
	 * nothing; a longer text is cut, always terminated */
	if (vsnprintf(detail, sizeof(detail), fmt, ap) < 0)
		detail[0] = '\0';
	va_end(ap);
}

/* Set the detail and return rc: `return ipcq__refuse(-EINVAL, "...", ...);`. */
IPCQ_COLD int ipcq__refuse(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	/* as in ipcq__errdetail() */
	if (vsnprintf(detail, sizeof(detail), fmt, ap) < 0)
		detail[0] = '\0';
	va_end(ap);
	return rc;
}

const char *ipcq_errdetail(void)
{
	return detail;
}

const char *ipcq_strerror(int err)
{
	if (err < 0)
		err = err == INT_MIN ? 0x7fffffff : -err;
	switch (err) {
	case 0: return "success";
	case EINVAL: return "invalid argument (bad name, configuration, option or handle; "
			    "ipcq_errdetail() says which)";
	case ENAMETOOLONG: return "queue name too long";
	case EEXIST: return "a queue (or consumer group) with that name already exists";
	case ENOENT: return "no such queue (or no such entry: side-ring id, producer name, "
			    "consumer group)";
	case ENOTSUP: return "not supported by this queue (consumer groups on a queue made without "
			     "them, or zero-copy receives in a lossy group)";
	case ENOSYS: return "not supported by this kernel or machine (NUMA binding)";
	case ENODEV: return "the queue is not bound to a NUMA node";
	case EACCES: return "permission denied";
	case EPERM: return "operation not permitted: either the handle is read-only or not attached "
			   "in the role the call needs, or the segment was refused (owned by another "
			   "user: IPCQ_OPEN_ANY_OWNER accepts it; readable or writable by others; "
			   "not a regular file)";
	case ELOOP: return "queue name is a symbolic link: refused";
	case EBADMSG: return "segment is corrupt, truncated (shrunk under its users) or not an "
			     "ipcq queue";
	case EPROTO: return "segment was made by an incompatible ipcq layout or build";
	case ENOSPC: return "no room: /dev/shm cannot hold the whole queue, the side ring is full, "
			    "or the dedup table is full (every producer name in use)";
	case EFBIG: return "queue would be larger than the segment limit";
	case ENOMEM: return "out of memory";
	case EAGAIN: return "queue full (send) or empty (receive), and the call did not wait: "
			    "its timeout was IPCQ_NOWAIT, or the handle's full policy "
			    "(IPCQ_FULL_FAIL) fails a send at once whatever the timeout";
	case ETIMEDOUT: return "timed out";
	case EINTR: return "interrupted by a signal";
	case EMSGSIZE: return "message larger than the queue's maximum message size";
	case ENOBUFS: return "receive buffer too small for the next message (it stays queued)";
	case EALREADY: return "handle already attached";
	case EUSERS: return "participant table full";
	case ENOLCK: return "the kernel refused the liveness lock";
	case EBUSY: return "busy: the producer name is held by a live process, the consumer group "
			   "has live consumers, or (ack mode) the prefetch limit or lease pool is "
			   "exhausted (ack or nack first)";
	case ESTALE: return "not a lease held by this handle (already acked, nacked, or someone else's)";
	case EINPROGRESS: return "a side-ring entry is still being moved in (its mover has not yet "
				 "freed the message's source): try again shortly";
	case EOVERFLOW: return "the producer name's sequence numbers are used up (2^56 - 1)";
	default: return "unknown error";
	}
}

int ipcq_config_init(struct ipcq_config *cfg)
{
	const struct ipcq_config def = IPCQ_CONFIG_INIT;
	if (!cfg) {
		ipcq__errdetail("ipcq_config_init: cfg is NULL");
		return -EINVAL;
	}
	*cfg = def;
	return 0;
}

int ipcq_attach_opts_init(struct ipcq_attach_opts *opts)
{
	const struct ipcq_attach_opts def = IPCQ_ATTACH_OPTS_INIT;
	if (!opts) {
		ipcq__errdetail("ipcq_attach_opts_init: opts is NULL");
		return -EINVAL;
	}
	*opts = def;
	return 0;
}
