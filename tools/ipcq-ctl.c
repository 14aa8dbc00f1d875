/*
 * ipcq-ctl - manage ipcq queues: the poison side ring (list, dump, replay,
 * purge), crash recovery on demand, removing a queue's name, retiring a
 * producer name from the deduplication table.
 *
 * Uses the public API only.  Commands that only read (poison list, poison
 * dump) open the queue read-only; the others open it writable and do not
 * attach (ipcq_recover() attaches for the duration of the call by itself).
 * A queue of another user is opened only with --any-owner.  The read-only
 * commands catch SIGBUS around the library's reads, so that a queue file
 * shrunk under them is reported as damaged instead of killing the tool (a
 * library must not install signal handlers; a tool may).
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ipcq.h"

#define PROG "ipcq-ctl"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ipcq-ctl COMMAND ...\n"
		"Manage ipcq queues.\n"
		"\n"
		"  poison list NAME              list the side ring, oldest first\n"
		"  poison dump NAME ID           an entry's metadata and payload (hex and ASCII)\n"
		"  poison replay NAME ID|all     put entries back into the main ring\n"
		"  poison purge NAME ID|all      delete entries\n"
		"  recover NAME                  take over the unfinished work of dead participants\n"
		"  unlink NAME                   remove the queue's name (attached processes go on)\n"
		"  dedup remove NAME PRODUCER    retire a producer name from the dedup table\n"
		"  sweep                         remove what creators killed inside ipcq_create left\n"
		"\n"
		"  --any-owner                   work on a queue of another user too (refused by\n"
		"                                default: its owner controls that memory)\n"
		"  -h, --help                    this help\n"
		"  -V, --version                 version\n"
		"\n"
		"Exit status: 0 success, 1 error.  ipcq-stat(1) shows a queue.\n");
}

static int bad_usage(const char *why)
{
	fprintf(stderr, PROG ": %s\nTry '" PROG " --help'.\n", why);
	return 1;
}

/* IPCQ_OPEN_ANY_OWNER with --any-owner. */
static uint32_t g_owner_flag;
/* The segment size of the queue being read, once known (for messages). */
static uint64_t g_want_size;

/* What the segment file of @name shows, for a refusal or a damaged queue. */
static void explain(const char *name, int rc)
{
	char path[64 + IPCQ_NAME_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "/dev/shm/ipcq.%s", name);
	if (rc == -EACCES) {
		fprintf(stderr, PROG ": run as the queue's owner (or a member of its group "
				"for a 0640/0660 queue)\n");
	} else if (rc == -EPERM && lstat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode))
			fprintf(stderr, PROG ": %s: not a regular file\n", name);
		else if (st.st_mode & (S_IROTH | S_IWOTH))
			fprintf(stderr, PROG ": %s: mode 0%03o: others may read or write it\n", name,
				(unsigned)(st.st_mode & 0777));
		else if (st.st_uid != geteuid())
			fprintf(stderr, PROG ": %s: owned by uid %u, not by you (uid %u); --any-owner "
					"works on it if you trust that user\n",
				name, (unsigned)st.st_uid, (unsigned)geteuid());
	} else if (rc == -EBADMSG && g_want_size && lstat(path, &st) == 0 &&
		   (uint64_t)st.st_size < g_want_size) {
		fprintf(stderr, PROG ": %s: segment truncated: the file is %lld bytes, the queue "
				"needs %" PRIu64 "; processes attached to it die of SIGBUS\n",
			name, (long long)st.st_size, g_want_size);
	}
}

static int fail(const char *name, const char *what, int rc)
{
	const char *detail = ipcq_errdetail();

	fprintf(stderr, PROG ": %s: %s%s%s%s%s\n", name, what ? what : "", what ? ": " : "",
		ipcq_strerror(rc), detail[0] ? ": " : "", detail);
	explain(name, rc);
	return 1;
}

static int open_queue(const char *name, int readonly, struct ipcq **q)
{
	int rc = ipcq_open_flags(name, (readonly ? IPCQ_OPEN_READONLY : 0) | g_owner_flag, q);
	if (rc < 0) {
		fail(name, NULL, rc);
		return rc;
	}
	return 0;
}

/* ---- SIGBUS: a queue file shrunk under a read through the mapping -------- */

#include "sigbus.h"

/*
 * The read-only calls, with SIGBUS caught: -EBADMSG for a file shrunk
 * under the mapping, as the library's own size checks say it.
 */
static int info_guarded(struct ipcq *q, struct ipcq_info *info)
{
	if (sigsetjmp(g_bus_jmp, 1))
		return -EBADMSG;
	g_bus_armed = 1;
	int rc = ipcq_info(q, info);
	g_bus_armed = 0;
	return rc;
}

static int list_guarded(struct ipcq *q, uint64_t after, struct ipcq_poison *e, unsigned n)
{
	if (sigsetjmp(g_bus_jmp, 1))
		return -EBADMSG;
	g_bus_armed = 1;
	int rc = ipcq_poison_list(q, after, e, n);
	g_bus_armed = 0;
	return rc;
}

static int peek_guarded(struct ipcq *q, uint64_t id, void *buf, size_t cap,
			struct ipcq_poison *e)
{
	if (sigsetjmp(g_bus_jmp, 1))
		return -EBADMSG;
	g_bus_armed = 1;
	int rc = ipcq_poison_peek(q, id, buf, cap, e);
	g_bus_armed = 0;
	return rc;
}

/* ID or "all" (IPCQ_POISON_ALL when @allow_all). */
static int parse_id(const char *s, int allow_all, uint64_t *id)
{
	char *end;
	unsigned long long v;

	if (allow_all && strcmp(s, "all") == 0) {
		*id = IPCQ_POISON_ALL;
		return 0;
	}
	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v == 0 || v == IPCQ_POISON_ALL)
		return -1;
	*id = v;
	return 0;
}

static const char *reason_str(uint32_t r)
{
	switch (r) {
	case IPCQ_REASON_NACKED: return "nacked";
	case IPCQ_REASON_MAX_DELIVERIES: return "max-deliveries";
	case IPCQ_REASON_CONSUMER_CRASHED: return "consumer-crashed";
	default: return "unknown";
	}
}

static uint64_t coarse_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Age of a CLOCK_MONOTONIC_COARSE time stamp, as "12.3s ago". */
static const char *age(char *buf, size_t n, uint64_t ts_ns)
{
	uint64_t now = coarse_now_ns();
	double s;

	if (!ts_ns || ts_ns > now) {
		snprintf(buf, n, "-");
		return buf;
	}
	s = (double)(now - ts_ns) / 1e9;
	if (s < 1.0)
		snprintf(buf, n, "%.0fms", s * 1e3);
	else if (s < 120.0)
		snprintf(buf, n, "%.1fs", s);
	else if (s < 7200.0)
		snprintf(buf, n, "%.0fm", s / 60.0);
	else
		snprintf(buf, n, "%.1fh", s / 3600.0);
	return buf;
}

static int cmd_poison_list(const char *name)
{
	struct ipcq *q;
	struct ipcq_poison e[64];
	struct ipcq_info info;
	uint64_t after = 0;
	unsigned total = 0;
	int rc;

	if (open_queue(name, 1, &q))
		return 1;
	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	rc = info_guarded(q, &info);
	if (rc < 0) {
		ipcq_close(q);
		return fail(name, NULL, rc);
	}
	g_want_size = info.segment_size;
	for (;;) {
		rc = list_guarded(q, after, e, 64);
		if (rc < 0) {
			ipcq_close(q);
			return fail(name, "listing the side ring", rc);
		}
		if (rc == 0)
			break;
		for (int i = 0; i < rc; i++) {
			char a1[32], a2[32];
			if (total++ == 0)
				printf("%8s %-16s %5s %8s %10s %5s %6s %14s %10s %10s\n", "ID", "REASON",
				       "DELIV", "LEN", "SEQ", "PROD", "STREAM", "LAST-CONSUMER",
				       "ENQUEUED", "POISONED");
			char lc[32];
			snprintf(lc, sizeof(lc), "%u (pid %u)", e[i].last_consumer,
				 e[i].last_consumer_pid);
			printf("%8" PRIu64 " %-16s %5u %8" PRIu64 " %10" PRIu64 " %5u %6u %14s %10s %10s\n",
			       e[i].id, reason_str(e[i].reason), e[i].deliveries, e[i].len, e[i].seq,
			       e[i].producer, e[i].stream, lc, age(a1, sizeof(a1), e[i].first_ns),
			       age(a2, sizeof(a2), e[i].last_ns));
			after = e[i].id;
		}
	}
	if (total == 0)
		printf("side ring of %s is empty (capacity %u)\n", name, info.side_capacity);
	else
		printf("%u entr%s (capacity %u); ages are times since enqueue and since poisoning\n",
		       total, total == 1 ? "y" : "ies", info.side_capacity);
	ipcq_close(q);
	return 0;
}

static void hexdump(const unsigned char *p, size_t n)
{
	for (size_t off = 0; off < n; off += 16) {
		printf("%08zx  ", off);
		for (size_t i = 0; i < 16; i++) {
			if (off + i < n)
				printf("%02x ", p[off + i]);
			else
				printf("   ");
			if (i == 7)
				putchar(' ');
		}
		printf(" |");
		for (size_t i = 0; i < 16 && off + i < n; i++)
			putchar(p[off + i] >= 0x20 && p[off + i] < 0x7f ? p[off + i] : '.');
		printf("|\n");
	}
	printf("%08zx\n", n);
}

static int cmd_poison_dump(const char *name, const char *ids)
{
	struct ipcq *q;
	struct ipcq_info info;
	struct ipcq_poison e;
	uint64_t id;
	int rc;

	if (parse_id(ids, 0, &id))
		return bad_usage("ID must be a side-ring entry id (a number from 'poison list')");
	if (open_queue(name, 1, &q))
		return 1;
	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	rc = info_guarded(q, &info);
	if (rc < 0) {
		ipcq_close(q);
		return fail(name, NULL, rc);
	}
	g_want_size = info.segment_size;
	size_t cap = info.max_msg_size ? info.max_msg_size : 1;
	unsigned char *buf = malloc(cap);
	if (!buf) {
		ipcq_close(q);
		return fail(name, NULL, -ENOMEM);
	}
	memset(&e, 0, sizeof(e));
	rc = peek_guarded(q, id, buf, cap, &e);
	if (rc < 0) {
		free(buf);
		ipcq_close(q);
		if (rc == -ENOENT) {
			fprintf(stderr, PROG ": %s: no side-ring entry with id %" PRIu64
					" (purged or replayed?)\n", name, id);
			return 1;
		}
		return fail(name, "reading the entry", rc);
	}
	char a1[32], a2[32];
	printf("queue          %s\n", name);
	printf("id             %" PRIu64 "\n", e.id);
	printf("reason         %s\n", reason_str(e.reason));
	printf("length         %" PRIu64 " bytes\n", e.len);
	printf("sequence       %" PRIu64 "\n", e.seq);
	printf("producer       participant %u%s", e.producer, e.stream ? "" : "\n");
	if (e.stream)
		printf(", stream %u\n", e.stream);
	printf("deliveries     %u\n", e.deliveries);
	printf("last consumer  participant %u, pid %u\n", e.last_consumer, e.last_consumer_pid);
	printf("enqueued       %s ago\n", age(a1, sizeof(a1), e.first_ns));
	printf("poisoned       %s ago\n", age(a2, sizeof(a2), e.last_ns));
	printf("payload:\n");
	hexdump(buf, (size_t)rc);
	free(buf);
	ipcq_close(q);
	return 0;
}

static int cmd_poison_change(const char *name, const char *ids, int replay)
{
	struct ipcq *q;
	uint64_t id;
	int rc;

	if (parse_id(ids, 1, &id))
		return bad_usage("expected a side-ring entry id or 'all'");
	if (open_queue(name, 0, &q))
		return 1;
	rc = replay ? ipcq_poison_replay(q, id) : ipcq_poison_purge(q, id);
	ipcq_close(q);
	if (rc == -ENOENT) {
		if (id == IPCQ_POISON_ALL) {
			printf("%s: side ring is empty, nothing to %s\n", name, replay ? "replay" : "purge");
			return 0;
		}
		fprintf(stderr, PROG ": %s: no side-ring entry with id %" PRIu64 "\n", name, id);
		return 1;
	}
	if (rc == -EAGAIN && replay) {
		fprintf(stderr, PROG ": %s: the main ring is full, nothing replayed; "
				"try again when consumers have caught up\n", name);
		return 1;
	}
	if (rc < 0)
		return fail(name, replay ? "replay" : "purge", rc);
	printf("%s: %s %d entr%s\n", name, replay ? "replayed" : "purged", rc, rc == 1 ? "y" : "ies");
	if (replay && id == IPCQ_POISON_ALL) {
		/* replay stops at the first entry the main ring has no room for */
		struct ipcq *r;
		struct ipcq_poison e;
		if (ipcq_open_flags(name, IPCQ_OPEN_READONLY | g_owner_flag, &r) == 0) {
			int left = list_guarded(r, 0, &e, 1);
			if (left > 0)
				printf("%s: entries remain in the side ring (the main ring filled up); "
				       "run again later\n", name);
			ipcq_close(r);
		}
	}
	return 0;
}

static int cmd_recover(const char *name)
{
	struct ipcq *q;
	struct ipcq_recovery r;
	int rc;

	if (open_queue(name, 0, &q))
		return 1;
	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	rc = ipcq_recover(q, &r);
	ipcq_close(q);
	if (rc < 0)
		return fail(name, "recovery", rc);
	printf("%s: recovery took %d action%s\n", name, rc, rc == 1 ? "" : "s");
	printf("  dead participants with work  %u\n", r.dead);
	printf("  skipped (dead producers)     %" PRIu64 "\n", r.skipped);
	printf("  redelivered                  %" PRIu64 "\n", r.redelivered);
	printf("  completed                    %" PRIu64 "\n", r.completed);
	printf("  poisoned                     %" PRIu64 "\n", r.poisoned);
	printf("  freed                        %" PRIu64 "\n", r.freed);
	printf("  pending                      %" PRIu64 "%s\n", r.pending,
	       r.pending ? "  (waits for a consumer to adopt it, or for room in the side ring)"
			 : "");
	return 0;
}

static int cmd_sweep(void)
{
	int rc = ipcq_sweep();
	if (rc < 0) {
		fprintf(stderr, PROG ": reading /dev/shm: %s\n", ipcq_strerror(rc));
		return 1;
	}
	printf("removed %d file%s left by creators that died inside ipcq_create\n", rc,
	       rc == 1 ? "" : "s");
	return 0;
}

static int cmd_unlink(const char *name)
{
	int rc = ipcq_unlink(name);
	if (rc < 0)
		return fail(name, NULL, rc);
	printf("%s: unlinked (processes that have it open keep using it)\n", name);
	return 0;
}

static int cmd_dedup_remove(const char *name, const char *producer)
{
	struct ipcq *q;
	int rc;

	if (open_queue(name, 0, &q))
		return 1;
	rc = ipcq_dedup_remove(q, producer);
	ipcq_close(q);
	if (rc == -ENOENT) {
		fprintf(stderr, PROG ": %s: no producer name '%s' in the dedup table\n", name, producer);
		return 1;
	}
	if (rc == -EBUSY) {
		fprintf(stderr, PROG ": %s: producer name '%s' is held by a live process\n", name,
			producer);
		return 1;
	}
	if (rc < 0)
		return fail(name, "dedup remove", rc);
	printf("%s: producer name '%s' retired\n", name, producer);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd, *sub;
	int w = 1;

	/* --any-owner may stand anywhere; take it out of the arguments */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--any-owner") == 0)
			g_owner_flag = IPCQ_OPEN_ANY_OWNER;
		else
			argv[w++] = argv[i];
	}
	argc = w;
	argv[argc] = NULL;
	install_sigbus();
	if (argc < 2)
		return bad_usage("a command is needed");
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
		printf(PROG " %d.%d.%d (library %s)\n", IPCQ_VERSION_MAJOR, IPCQ_VERSION_MINOR,
		       IPCQ_VERSION_PATCH, ipcq_version_string());
		return 0;
	}
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
	if (strcmp(cmd, "poison") == 0) {
		if (argc < 4)
			return bad_usage("usage: poison list|dump|replay|purge NAME [ID|all]");
		sub = argv[2];
		if (strcmp(sub, "list") == 0 && argc == 4)
			return cmd_poison_list(argv[3]);
		if (strcmp(sub, "dump") == 0 && argc == 5)
			return cmd_poison_dump(argv[3], argv[4]);
		if (strcmp(sub, "replay") == 0 && argc == 5)
			return cmd_poison_change(argv[3], argv[4], 1);
		if (strcmp(sub, "purge") == 0 && argc == 5)
			return cmd_poison_change(argv[3], argv[4], 0);
		return bad_usage("usage: poison list NAME | poison dump NAME ID | "
				 "poison replay|purge NAME ID|all");
	}
	if (strcmp(cmd, "recover") == 0) {
		if (argc != 3)
			return bad_usage("usage: recover NAME");
		return cmd_recover(argv[2]);
	}
	if (strcmp(cmd, "sweep") == 0) {
		if (argc != 2)
			return bad_usage("usage: sweep");
		return cmd_sweep();
	}
	if (strcmp(cmd, "unlink") == 0) {
		if (argc != 3)
			return bad_usage("usage: unlink NAME");
		return cmd_unlink(argv[2]);
	}
	if (strcmp(cmd, "dedup") == 0) {
		if (argc != 5 || strcmp(argv[2], "remove") != 0)
			return bad_usage("usage: dedup remove NAME PRODUCER");
		return cmd_dedup_remove(argv[3], argv[4]);
	}
	fprintf(stderr, PROG ": unknown command '%s'\nTry '" PROG " --help'.\n", cmd);
	return 1;
}
