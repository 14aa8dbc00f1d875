/*
 * ipcq-ctl - manage ipcq queues: list them, create one from the command
 * line, look at the messages of the main ring (each priority lane's)
 * without consuming them (peek, tail), remove abandoned queues (gc), the
 * poison side ring (list, dump, replay, purge), crash recovery on demand,
 * removing a queue's name, retiring a producer name from the
 * deduplication table, consumer groups (create, remove, list).
 *
 * Uses the public API only.  Commands that only read (list, peek, tail,
 * poison list, poison dump, group list) open the queue read-only; the others open it
 * writable and do not attach (ipcq_recover() attaches for the duration of
 * the call by itself).  A queue of another user is opened only with
 * --any-owner.  The read-only commands catch SIGBUS around the library's
 * reads, so that a queue file shrunk under them is reported as damaged
 * instead of killing the tool (a library must not install signal handlers;
 * a tool may).
 */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ipcq.h"
#include "owner.h"

#define PROG "ipcq-ctl"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ipcq-ctl COMMAND ...\n"
		"Manage ipcq queues.\n"
		"\n"
		"  list [--json]                 the queues on this machine, one line each\n"
		"  create NAME [OPTIONS]         create a queue (ipcq-ctl create --help: the options)\n"
		"  peek NAME [-n N] [-b BYTES] [-p N]\n"
		"                                the next N messages waiting (default 10, at least 1),\n"
		"                                not consumed; -n is also --count, -b --bytes (bytes\n"
		"                                of payload shown, default 16, at most 65536); on a\n"
		"                                queue with priority lanes every lane, the highest\n"
		"                                first and N over them all, or with -p (--priority)\n"
		"                                only lane N\n"
		"  tail NAME [-n N] [-b BYTES] [-p N] [-f]\n"
		"                                the newest N messages still in the ring (default 10;\n"
		"                                0 only with -f, for new ones only); -f (--follow)\n"
		"                                follows new ones until interrupted; on\n"
		"                                a queue with priority lanes one lane: -p N, default\n"
		"                                the highest; -n, -b and -p as for peek\n"
		"  gc [--older-than DURATION] [--dry-run] [-v] [PATTERN...]\n"
		"                                remove abandoned queues (those whose names match a\n"
		"                                PATTERN, a shell glob, if given): no live participant,\n"
		"                                nothing queued or leased, side ring empty, no producer\n"
		"                                name remembered, created at least DURATION ago\n"
		"                                (default 1h; 30s, 10m, 2h, 7d, 1h30m; counted from\n"
		"                                creation, not last use); -v (--verbose) also prints\n"
		"                                each queue kept and why\n"
		"  poison list NAME              list the side ring, oldest first\n"
		"  poison dump NAME ID           an entry's metadata and payload (hex and ASCII)\n"
		"  poison replay NAME ID|all     put entries back into the main ring\n"
		"  poison purge NAME ID|all      delete entries\n"
		"  recover NAME                  take over the unfinished work of dead participants\n"
		"  unlink NAME                   remove the queue's name (attached processes go on)\n"
		"  dedup remove NAME PRODUCER    retire a producer name from the dedup table\n"
		"  group create NAME GROUP [--lossy] [--from-oldest]\n"
		"                                add a consumer group to a queue made with\n"
		"                                --max-groups: durable (the default: holds producers\n"
		"                                back) or --lossy (skips what it falls a ring behind\n"
		"                                on); it starts at the next message sent, or with\n"
		"                                --from-oldest at the oldest still in the ring\n"
		"  group remove NAME GROUP       remove a group (refused while a consumer is in it)\n"
		"  group list NAME [--json]      the queue's groups: members, position, lag, dropped\n"
		"  sweep                         remove what creators killed inside ipcq_create left\n"
		"\n"
		"  --any-owner                   work on a queue of another user too (refused by\n"
		"                                default: its owner controls that memory)\n"
		"  -h, --help                    this help\n"
		"  -V, --version                 version\n"
		"\n"
		"Exit status: 0 success, 1 error.  ipcq-stat(1) shows a queue.\n"
		"peek, tail and gc read the ring without consuming; see ipcq-ctl(1).\n");
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
		fprintf(stderr, PROG ": run as the queue's owner, or as a member of its group for a "
				"0640/0660 queue (with --any-owner too: the queue is another "
				"user's)\n");
	} else if (rc == -EPERM && lstat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode))
			fprintf(stderr, PROG ": %s: not a regular file\n", name);
		else if (st.st_mode & (S_IROTH | S_IWOTH))
			fprintf(stderr, PROG ": %s: mode 0%03o: others may read or write it, so anybody "
					"could have changed it and no ipcq program opens it.  If you trust "
					"its contents, its owner can make it private with 'chmod 0600 %s' "
					"(0640 or 0660 to share it with the group); otherwise remove it "
					"with '" PROG " unlink %s'\n",
				name, (unsigned)(st.st_mode & 0777), path, name);
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
	long uid = refused_owner(name, rc);

	if (uid >= 0) {
		fprintf(stderr, PROG ": %s: %s%soperation not permitted: the queue is owned by uid "
				"%ld, not by you (uid %u); --any-owner works on it if you trust that "
				"user\n", name, what ? what : "", what ? ": " : "", uid,
			(unsigned)geteuid());
		return 1;
	}
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
	case IPCQ_REASON_EXPIRED: return "expired";
	case IPCQ_REASON_REFUSED: return "refused";
	case IPCQ_REASON_TOO_LARGE: return "too-large";
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

static int groups_guarded(struct ipcq *q, struct ipcq_group_info *g, unsigned n)
{
	if (sigsetjmp(g_bus_jmp, 1))
		return -EBADMSG;
	g_bus_armed = 1;
	int rc = ipcq_group_list(q, g, n);
	g_bus_armed = 0;
	return rc;
}

/* A queue's groups, read once for naming side-ring entries' groups. */
struct groupset {
	struct ipcq_group_info g[IPCQ_GROUPS_MAX];
	int n;                  /* < 0: could not be read */
};

static void groupset_read(struct ipcq *q, struct groupset *gs)
{
	gs->n = groups_guarded(q, gs->g, IPCQ_GROUPS_MAX);
	if (gs->n > IPCQ_GROUPS_MAX)
		gs->n = IPCQ_GROUPS_MAX;
}

/* The group a side-ring entry was taken from (ipcq_poison.group, index + 1). */
static const char *entry_group(char *buf, size_t n, const struct groupset *gs, uint32_t group)
{
	if (!group) {
		snprintf(buf, n, "-");
		return buf;
	}
	for (int i = 0; i < gs->n; i++)
		if (gs->g[i].index == group - 1) {
			snprintf(buf, n, "%s", gs->g[i].name);
			return buf;
		}
	snprintf(buf, n, "#%u (removed)", group - 1);
	return buf;
}

static int cmd_poison_list(const char *name)
{
	struct ipcq *q;
	struct ipcq_poison e[64];
	struct ipcq_info info;
	struct groupset gs;
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
	/* a queue with groups: a GROUP column, the group each entry was taken from */
	groupset_read(q, &gs);
	int gw = 0;
	for (int i = 0; i < gs.n; i++)
		if ((int)strlen(gs.g[i].name) > gw)
			gw = (int)strlen(gs.g[i].name);
	if (gw && gw < 5)
		gw = 5;
	/* a queue with priority lanes: a PRIO column, the lane each came from
	 * (and goes back to on replay) */
	int lanes = info.priorities > 1;
	for (;;) {
		rc = list_guarded(q, after, e, 64);
		if (rc < 0) {
			ipcq_close(q);
			return fail(name, "listing the side ring", rc);
		}
		if (rc == 0)
			break;
		for (int i = 0; i < rc; i++) {
			char a1[32], a2[32], grp[48];
			if (total++ == 0)
				printf("%8s %-16s %5s %8s %10s %5s %6s %14s %10s %10s%s%-*s%s\n", "ID",
				       "REASON", "DELIV", "LEN", "SEQ", "PROD", "STREAM", "LAST-CONSUMER",
				       "ENQUEUED", "POISONED", gw ? " " : "", gw, gw ? "GROUP" : "",
				       lanes ? " PRIO" : "");
			char lc[32];
			snprintf(lc, sizeof(lc), "%u (pid %u)", e[i].last_consumer,
				 e[i].last_consumer_pid);
			char prio[16] = "";
			if (lanes)
				snprintf(prio, sizeof(prio), " %4u", e[i].priority);
			printf("%8" PRIu64 " %-16s %5u %8" PRIu64 " %10" PRIu64 " %5u %6u %14s %10s %10s"
			       "%s%s%s\n",
			       e[i].id, reason_str(e[i].reason), e[i].deliveries, e[i].len, e[i].seq,
			       e[i].producer, e[i].stream, lc, age(a1, sizeof(a1), e[i].first_ns),
			       age(a2, sizeof(a2), e[i].last_ns), gw || e[i].group ? " " : "",
			       gw || e[i].group ? entry_group(grp, sizeof(grp), &gs, e[i].group) : "",
			       prio);
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
	{
		struct groupset gs;
		char grp[48];
		groupset_read(q, &gs);
		if (e.group)
			printf("group          %s (index %u; the other groups received it)\n",
			       entry_group(grp, sizeof(grp), &gs, e.group), e.group - 1);
		else if (gs.n > 0)
			printf("group          - (put there by its producer)\n");
	}
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
	if (id == IPCQ_POISON_ALL) {
		/*
		 * Replay stops at the first entry the main ring has no room
		 * for, and passes over the entries cut to max_msg_size
		 * (too-large), which no replay takes; both pass over an entry
		 * a consumer is still moving in: say which remain.
		 */
		struct ipcq *r;
		struct ipcq_poison e[64];
		uint64_t after = 0, waiting = 0, too_large = 0;
		if (ipcq_open_flags(name, IPCQ_OPEN_READONLY | g_owner_flag, &r) == 0) {
			int n;
			while ((n = list_guarded(r, after, e, 64)) > 0) {
				uint64_t was = after;
				for (int i = 0; i < n && i < 64; i++) {
					if (replay && e[i].reason == IPCQ_REASON_TOO_LARGE)
						too_large++;
					else
						waiting++;
					if (e[i].id > after)
						after = e[i].id;
				}
				if (n < 64 || after == was)
					break;
			}
			ipcq_close(r);
		}
		if (waiting)
			printf("%s: %" PRIu64 " entr%s remain%s in the side ring (%s a consumer "
			       "is still moving it in); run again later\n", name, waiting,
			       waiting == 1 ? "y" : "ies", waiting == 1 ? "s" : "",
			       replay ? "the main ring filled up, or" : "added meanwhile, or");
		if (too_large)
			printf("%s: %" PRIu64 " entr%s never replayed: too large (cut to the "
			       "queue's max message size when %s put in the side ring); '" PROG
			       " poison dump' shows, '" PROG " poison purge' removes %s\n",
			       name, too_large, too_large == 1 ? "y is" : "ies are",
			       too_large == 1 ? "it was" : "they were", too_large == 1 ? "it" : "them");
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

/*
 * A refused ipcq_unlink(): -EACCES is another user's file (or a /dev/shm
 * not writable), and the library's detail says which; no option of this
 * tool changes who may remove a file, so none is suggested.
 */
static int unlink_fail(const char *name, const char *what, int rc)
{
	const char *detail = ipcq_errdetail();

	if (rc != -EACCES)
		return fail(name, what, rc);
	fprintf(stderr, PROG ": %s: %s%s%s%s%s\n", name, what ? what : "", what ? ": " : "",
		ipcq_strerror(rc), detail[0] ? ": " : "", detail);
	return 1;
}

static int cmd_unlink(const char *name)
{
	int rc = ipcq_unlink(name);
	if (rc < 0)
		return unlink_fail(name, NULL, rc);
	printf("%s: unlinked (processes that have it open keep using it)\n", name);
	return 0;
}

static int cmd_dedup_remove(const char *name, const char *producer)
{
	struct ipcq *q;
	int rc;

	/* a name no producer can have: said before the queue is opened */
	if (!producer[0]) {
		fprintf(stderr, PROG ": %s: dedup remove: the producer name is empty (a producer "
				"name is 1..%d bytes)\n", name, IPCQ_PARTICIPANT_NAME_MAX);
		return 1;
	}
	if (strlen(producer) > IPCQ_PARTICIPANT_NAME_MAX) {
		fprintf(stderr, PROG ": %s: dedup remove: producer name too long: %zu bytes, at "
				"most %d\n", name, strlen(producer), IPCQ_PARTICIPANT_NAME_MAX);
		return 1;
	}
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

/* ---- durations ------------------------------------------------------------- */

/*
 * A duration as people write it: "90", "90s", "10m", "2h", "7d", "1h30m",
 * "1.5h"; a bare number is seconds.  Returns 0 and *out in seconds, -1 for
 * anything else (negative, empty, an unknown unit, above 100 years).
 */
static int parse_duration(const char *s, double *out)
{
	double total = 0;
	const char *p = s;

	if (!s || !*s)
		return -1;
	while (*p) {
		char *end;
		if (!(*p >= '0' && *p <= '9') && *p != '.')
			return -1;
		errno = 0;
		double v = strtod(p, &end);
		if (errno || end == p || !(v >= 0))
			return -1;
		p = end;
		double unit = 1;
		switch (*p) {
		case '\0': unit = 1; break;
		case 's': unit = 1; p++; break;
		case 'm': unit = 60; p++; break;
		case 'h': unit = 3600; p++; break;
		case 'd': unit = 86400; p++; break;
		default: return -1;
		}
		total += v * unit;
	}
	if (total > 100.0 * 365 * 86400)
		return -1;
	*out = total;
	return 0;
}

/* A duration in seconds as "0s", "45s", "12m05s", "3h04m", "2d03h". */
static const char *fmt_secs(char *buf, size_t n, double s)
{
	if (!(s >= 0)) {
		snprintf(buf, n, "-");
	} else if (s < 60) {
		snprintf(buf, n, "%.0fs", s < 1 ? 0 : s);
	} else if (s < 3600) {
		snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
	} else if (s < 86400) {
		snprintf(buf, n, "%dh%02dm", (int)s / 3600, (int)s / 60 % 60);
	} else if (s < 1e9) {
		snprintf(buf, n, "%dd%02dh", (int)(s / 86400), (int)(s / 3600) % 24);
	} else {
		snprintf(buf, n, "-");
	}
	return buf;
}

/* Seconds since a CLOCK_REALTIME time stamp (created_ns); -1 if in the future. */
static double since_realtime(uint64_t ns)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return ns > now ? -1 : (double)(now - ns) / 1e9;
}

/* A JSON string (the names are checked by the library, but escape anyway). */
static void json_str(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

/* ---- list -------------------------------------------------------------------- */

/* Queue names, collected by ipcq_list() and sorted. */
struct names {
	char **v;
	size_t n, cap;
};

static int names_cb(const char *name, void *arg)
{
	struct names *ns = arg;
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 16;
		void *p = realloc(ns->v, cap * sizeof(*ns->v));
		if (!p)
			return -ENOMEM;
		ns->v = p;
		ns->cap = cap;
	}
	if (!(ns->v[ns->n] = strdup(name)))
		return -ENOMEM;
	ns->n++;
	return 0;
}

static int names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
}

static int names_get(struct names *ns)
{
	memset(ns, 0, sizeof(*ns));
	int rc = ipcq_list(names_cb, ns);
	if (rc < 0) {
		fprintf(stderr, PROG ": reading /dev/shm: %s\n", ipcq_strerror(rc));
		names_free(ns);
		return -1;
	}
	qsort(ns->v, ns->n, sizeof(*ns->v), names_cmp);
	return 0;
}

/* What list and gc know of one queue. */
struct qrow {
	const char *name;
	int have_stat;          /* st is the segment file's lstat */
	struct stat st;
	int err;                /* opening or reading it, 0 if none */
	struct ipcq_info info;
};

static void qrow_read(struct qrow *r, const char *name)
{
	char path[64 + IPCQ_NAME_MAX];
	struct ipcq *q;

	memset(r, 0, sizeof(*r));
	r->name = name;
	snprintf(path, sizeof(path), "/dev/shm/ipcq.%s", name);
	r->have_stat = lstat(path, &r->st) == 0;
	r->err = ipcq_open_flags(name, IPCQ_OPEN_READONLY | g_owner_flag, &q);
	if (r->err < 0)
		return;
	r->info.size = sizeof(r->info);
	r->err = info_guarded(q, &r->info);
	ipcq_close(q);
}

/* Priority lanes of a queue (1 for one without; info.size as returned
 * says whether the library filled the field). */
static uint32_t lanes_of(const struct ipcq_info *in)
{
	if (in->size < offsetof(struct ipcq_info, priorities) + sizeof(in->priorities) ||
	    in->priorities < 2)
		return 1;
	return in->priorities;
}

static const char *owner_name(char *buf, size_t n, uid_t uid)
{
	struct passwd *pw = getpwuid(uid);
	if (pw && pw->pw_name)
		snprintf(buf, n, "%s", pw->pw_name);
	else
		snprintf(buf, n, "%u", (unsigned)uid);
	return buf;
}

/* Why a queue could not be read, in a few words, for a table cell. */
static const char *short_err(const struct qrow *r)
{
	if (r->err == -EPERM && r->have_stat) {
		/* the type first: a link's or a directory's mode says nothing */
		if (!S_ISREG(r->st.st_mode))
			return "not a regular file";
		if (r->st.st_mode & (S_IROTH | S_IWOTH))
			return "refused: others may read or write it";
		if (r->st.st_uid != geteuid())
			return "another user's (--any-owner)";
	}
	return ipcq_strerror(r->err);
}

static int cmd_list(int json)
{
	struct names ns;

	if (names_get(&ns))
		return 1;
	struct qrow *rows = calloc(ns.n ? ns.n : 1, sizeof(*rows));
	if (!rows) {
		names_free(&ns);
		return fail("list", NULL, -ENOMEM);
	}
	int namew = 4;
	for (size_t i = 0; i < ns.n; i++) {
		qrow_read(&rows[i], ns.v[i]);
		if ((int)strlen(ns.v[i]) > namew)
			namew = (int)strlen(ns.v[i]);
	}
	if (json) {
		printf("[");
		for (size_t i = 0; i < ns.n; i++) {
			const struct qrow *r = &rows[i];
			const struct ipcq_info *in = &r->info;
			char own[64];
			printf("%s\n  { \"name\": ", i ? "," : "");
			json_str(r->name);
			if (r->have_stat) {
				printf(", \"owner_uid\": %u, \"owner\": ", (unsigned)r->st.st_uid);
				json_str(owner_name(own, sizeof(own), r->st.st_uid));
				printf(", \"mode\": \"0%03o\"", (unsigned)(r->st.st_mode & 0777));
			}
			if (r->err) {
				printf(", \"error\": ");
				json_str(short_err(r));
				printf(" }");
				continue;
			}
			printf(", \"capacity\": %u, \"priorities\": %u, \"depth\": %" PRIu64
			       ", \"max_msg_size_bytes\": %u"
			       ", \"participants_alive\": %u, \"side_depth\": %u, \"side_capacity\": %u"
			       ", \"leased\": %u, \"segment_size_bytes\": %" PRIu64,
			       in->capacity, lanes_of(in), in->depth, in->max_msg_size, in->participants,
			       in->side_depth, in->side_capacity, in->leased, in->segment_size);
			double a = since_realtime(in->created_ns);
			if (a >= 0)
				printf(", \"age_seconds\": %.3f", a);
			else
				printf(", \"age_seconds\": null");
			printf(", \"error\": null }");
		}
		printf("%s]\n", ns.n ? "\n" : "");
	} else if (ns.n == 0) {
		printf("(no queues in /dev/shm)\n");
	} else {
		printf("%-*s %15s %5s %9s %9s %-10s %4s\n", namew, "NAME", "DEPTH/CAP", "ALIVE",
		       "SIDE", "AGE", "OWNER", "MODE");
		for (size_t i = 0; i < ns.n; i++) {
			const struct qrow *r = &rows[i];
			const struct ipcq_info *in = &r->info;
			char own[64] = "?", mode[8] = "?", dc[48], side[32], a[32];
			if (r->have_stat) {
				owner_name(own, sizeof(own), r->st.st_uid);
				snprintf(mode, sizeof(mode), "0%03o", (unsigned)(r->st.st_mode & 0777));
			}
			if (r->err) {
				printf("%-*s %-41s %-10s %4s\n", namew, r->name, short_err(r), own, mode);
				continue;
			}
			/* every lane's slots on a queue with priorities */
			snprintf(dc, sizeof(dc), "%" PRIu64 "/%" PRIu64, in->depth,
				 (uint64_t)in->capacity * lanes_of(in));
			snprintf(side, sizeof(side), "%u/%u", in->side_depth, in->side_capacity);
			printf("%-*s %15s %5u %9s %9s %-10s %4s\n", namew, r->name, dc,
			       in->participants, side, fmt_secs(a, sizeof(a), since_realtime(in->created_ns)),
			       own, mode);
		}
	}
	free(rows);
	names_free(&ns);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- consumer groups ---------------------------------------------------------- */

/* What a refused group change means, beside the library's detail. */
static const char *group_hint(int rc)
{
	switch (-rc) {
	case ENOTSUP: return " (create the queue with --max-groups N to have groups)";
	case EBUSY: return " (its consumers must detach first)";
	case ENOENT: return " ('" PROG " group list' shows the groups)";
	case ENOSPC: return " (remove one first: the queue has room for no more)";
	default: return "";
	}
}

/*
 * A refused group change: the library's detail names the group and the
 * reason (ipcq_strerror()'s sentences are about queues: -EEXIST "a queue
 * with that name already exists"), so it stands alone when there is one.
 */
static int group_fail(const char *name, const char *what, int rc)
{
	const char *detail = ipcq_errdetail();

	fprintf(stderr, PROG ": %s: %s: %s%s\n", name, what, detail[0] ? detail : ipcq_strerror(rc),
		group_hint(rc));
	explain(name, rc);
	return 1;
}

static int cmd_group_create(int argc, char **argv)
{
	const char *name = NULL, *group = NULL;
	uint32_t flags = 0;
	struct ipcq *q;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--lossy")) {
			flags |= IPCQ_GROUP_LOSSY;
		} else if (!strcmp(a, "--from-oldest")) {
			flags |= IPCQ_GROUP_FROM_OLDEST;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, PROG ": group create: unknown option '%s'\n", a);
			return bad_usage("usage: group create NAME GROUP [--lossy] [--from-oldest]");
		} else if (!name) {
			name = a;
		} else if (!group) {
			group = a;
		} else {
			return bad_usage("usage: group create NAME GROUP [--lossy] [--from-oldest]");
		}
	}
	if (!group)
		return bad_usage("usage: group create NAME GROUP [--lossy] [--from-oldest]");
	if (open_queue(name, 0, &q))
		return 1;
	int rc = ipcq_group_create(q, group, flags);
	ipcq_close(q);
	if (rc < 0)
		return group_fail(name, "group create", rc);
	printf("%s: group '%s' created (index %d), %s, starting at the %s\n", name, group, rc,
	       (flags & IPCQ_GROUP_LOSSY) ? "lossy" : "durable",
	       (flags & IPCQ_GROUP_FROM_OLDEST) ? "oldest message still in the ring"
						: "next message sent");
	return 0;
}

static int cmd_group_remove(const char *name, const char *group)
{
	struct ipcq *q;

	if (open_queue(name, 0, &q))
		return 1;
	int rc = ipcq_group_remove(q, group);
	ipcq_close(q);
	if (rc < 0)
		return group_fail(name, "group remove", rc);
	printf("%s: group '%s' removed\n", name, group);
	return 0;
}

static int cmd_group_list(const char *name, int json)
{
	struct ipcq *q;
	struct ipcq_info info;
	struct groupset gs;

	if (open_queue(name, 1, &q))
		return 1;
	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	int rc = info_guarded(q, &info);
	if (rc < 0) {
		ipcq_close(q);
		return fail(name, NULL, rc);
	}
	g_want_size = info.segment_size;
	groupset_read(q, &gs);
	ipcq_close(q);
	if (gs.n < 0)
		return fail(name, "listing the groups", gs.n);
	if (json) {
		printf("[");
		for (int i = 0; i < gs.n; i++) {
			const struct ipcq_group_info *g = &gs.g[i];
			printf("%s\n  { \"name\": ", i ? "," : "");
			json_str(g->name);
			printf(", \"index\": %u, \"kind\": \"%s\", \"from_oldest\": %s"
			       ", \"members\": %u, \"dead\": %u, \"position\": %" PRIu64
			       ", \"start\": %" PRIu64 ", \"lag_messages\": %" PRIu64
			       ", \"lag_seconds\": %.3f, \"dropped\": %" PRIu64 ", \"holding\": %s"
			       ", \"created_ns\": %" PRIu64 " }",
			       g->index, (g->flags & IPCQ_GROUP_LOSSY) ? "lossy" : "durable",
			       (g->flags & IPCQ_GROUP_FROM_OLDEST) ? "true" : "false", g->members,
			       g->dead, g->position, g->start, g->lag,
			       g->lag ? (double)g->oldest_ns / 1e9 : 0.0, g->dropped,
			       g->holding ? "true" : "false", g->created_ns);
		}
		printf("%s]\n", gs.n ? "\n" : "");
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (gs.n == 0) {
		printf("%s: no consumer groups\n", name);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	int namew = 5;
	for (int i = 0; i < gs.n; i++)
		if ((int)strlen(gs.g[i].name) > namew)
			namew = (int)strlen(gs.g[i].name);
	printf("%-*s %-7s %5s %4s %10s %8s %8s %8s %-7s %9s\n", namew, "GROUP", "KIND", "ALIVE",
	       "DEAD", "POSITION", "LAG", "LAG-AGE", "DROPPED", "HOLDING", "AGE");
	for (int i = 0; i < gs.n; i++) {
		const struct ipcq_group_info *g = &gs.g[i];
		char lagt[32], a[32], drop[32];
		fmt_secs(a, sizeof(a), since_realtime(g->created_ns));
		if (!g->lag)
			snprintf(lagt, sizeof(lagt), "0s");
		else if (g->oldest_ns < 1000000000ull)
			snprintf(lagt, sizeof(lagt), "%.0fms", (double)g->oldest_ns / 1e6);
		else
			fmt_secs(lagt, sizeof(lagt), (double)g->oldest_ns / 1e9);
		if (g->flags & IPCQ_GROUP_LOSSY)
			snprintf(drop, sizeof(drop), "%" PRIu64, g->dropped);
		else
			snprintf(drop, sizeof(drop), "-");
		printf("%-*s %-7s %5u %4u %10" PRIu64 " %8" PRIu64 " %8s %8s %-7s %9s\n", namew,
		       g->name, (g->flags & IPCQ_GROUP_LOSSY) ? "lossy" : "durable", g->members,
		       g->dead, g->position, g->lag, lagt, drop, g->holding ? "yes" : "-", a);
	}
	printf("%d group%s of %s; lag is messages sent and not yet received by the group\n",
	       gs.n, gs.n == 1 ? "" : "s", name);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- create ------------------------------------------------------------------ */

static void create_usage(FILE *f)
{
	fprintf(f,
		"usage: ipcq-ctl create NAME [OPTIONS]\n"
		"Create a queue (struct ipcq_config; every option has the library's default).\n"
		"\n"
		"  -c, --capacity N          slots, a power of two, 2..16777216 (default 1024)\n"
		"  -s, --max-msg-size BYTES  largest message, 1..16M; K and M suffixes (default 1024)\n"
		"  -m, --mode MODE           0600 (default), 0640 or 0660\n"
		"      --numa NODE           NUMA node to bind the memory to: a number, 'local'\n"
		"                            (the creator's node) or 'any' (default: not bound)\n"
		"      --wait STRATEGY       default wait of handles: adaptive (default), busy-poll, yield\n"
		"      --spin N              polls before yielding, or between yields with\n"
		"                            busy-poll (default 200)\n"
		"      --yield N             sched_yield() calls before sleeping (default 20)\n"
		"      --max-participants N  participant table size, 1..4096 (default 64)\n"
		"      --side-capacity N     poison side ring: 0 (none), a power of two, or 'auto'\n"
		"      --max-deliveries N    deliveries before a message is quarantined, 1..255 (default 5)\n"
		"      --lease-capacity N    ack-mode lease pool: 0 (no ack mode), N, or 'auto'\n"
		"      --high-watermark N    backpressure on at this depth (with --low-watermark)\n"
		"      --low-watermark N     backpressure off below this depth\n"
		"      --grace DURATION      how long a stuck slot waits before its owner is checked\n"
		"                            (100us..60s; default 10ms; us, ms, s and m (minutes)\n"
		"                            suffixes, a bare number is microseconds)\n"
		"      --dedup-capacity N    producer names remembered, 0..4096 (default 64)\n"
		"      --max-groups N        room for N consumer groups, 0..64 (default 0: no\n"
		"                            groups, every message goes to one consumer); add\n"
		"                            groups with 'ipcq-ctl group create'\n"
		"      --priorities N        priority lanes, 0..8 (default 0: one lane); N > 1:\n"
		"                            N rings of capacity slots, a receive takes the highest\n"
		"                            lane first (not with --max-groups or watermarks)\n"
		"      --priority-share PCT  starvation guard: percent of receives, 0..50, that\n"
		"                            serve the lower lanes first (default 10; 0: strict)\n"
		"      --ttl MS              time to live of every message, milliseconds,\n"
		"                            0..2147483648 (default 0: none); turns on --expiry\n"
		"      --expiry              messages can expire (a time to live per message,\n"
		"                            given by its send); receives then read the clock\n"
		"      --expired-to-side     an expired message goes to the side ring instead of\n"
		"                            being dropped (needs a side ring)\n"
		"      --keyed               per-key order: the messages of a key are delivered in\n"
		"                            order and, in ack mode, one at a time (not with\n"
		"                            --max-groups or --priorities)\n"
		"      --retry-base DURATION ack-mode retry backoff: a requeued message waits\n"
		"                            this long after its first delivery (default 0: at\n"
		"                            once; at most 1h; suffixes as for --grace)\n"
		"      --retry-max DURATION  the longest backoff (default 0: --retry-base, unscaled)\n"
		"      --retry-factor N      the backoff grows N times per delivery, 1..16 (default 2)\n"
		"      --json                print the new queue's figures as JSON\n"
		"\n"
		"What a producer does when the ring is full is chosen by each producer when it\n"
		"attaches (struct ipcq_attach_opts full_policy), not by the queue.\n");
}

/* An unsigned 32-bit number, with K/M/G (x1024) suffixes when @suffixes. */
static int parse_u32(const char *s, int suffixes, uint32_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !(*s >= '0' && *s <= '9'))
		return -1;
	errno = 0;
	v = strtoull(s, &end, s[0] == '0' && s[1] == 'x' ? 16 : 10);
	if (errno || end == s)
		return -1;
	if (suffixes && *end) {
		unsigned shift = *end == 'K' || *end == 'k' ? 10 : *end == 'M' || *end == 'm' ? 20
				 : *end == 'G' || *end == 'g' ? 30 : 0;
		if (!shift || v > (UINT32_MAX >> shift))
			return -1;
		v <<= shift;
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
	}
	if (*end || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* A duration in microseconds (grace, retry backoff): "250us", "10ms", "1s",
 * "2m", a bare number of microseconds. */
static int parse_duration_us(const char *s, uint32_t *out)
{
	char *end;
	double v;

	if (!s || !(*s >= '0' && *s <= '9'))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !(v >= 0))
		return -1;
	if (strcmp(end, "us") == 0 || *end == '\0')
		;
	else if (strcmp(end, "ms") == 0)
		v *= 1e3;
	else if (strcmp(end, "s") == 0)
		v *= 1e6;
	else if (strcmp(end, "m") == 0)
		v *= 60e6;
	else
		return -1;
	if (v > UINT32_MAX)
		return -1;
	*out = (uint32_t)(v + 0.5);
	return 0;
}

static const char *wait_name(uint32_t w)
{
	switch (w) {
	case IPCQ_WAIT_ADAPTIVE: return "adaptive";
	case IPCQ_WAIT_BUSY_POLL: return "busy-poll";
	case IPCQ_WAIT_YIELD: return "yield";
	default: return "unknown";
	}
}

/* The options of create that set one uint32_t field of struct ipcq_config. */
enum { OPT_NUM, OPT_SUFFIX, OPT_AUTO, OPT_DURATION };

struct create_opt {
	const char *shrt, *name;
	size_t off;
	int kind;               /* a number, with K/M/G suffixes, also 'auto', a duration */
	const char *rule;       /* for a value the tool cannot read */
};

#define CF(f) offsetof(struct ipcq_config, f)

static const struct create_opt create_opts[] = {
	{ "-c", "--capacity", CF(capacity), OPT_SUFFIX, "a power of two, 2..16777216" },
	{ "-s", "--max-msg-size", CF(max_msg_size), OPT_SUFFIX, "bytes, 1..16M, K and M suffixes" },
	{ NULL, "--spin", CF(spin_count), OPT_NUM, "0..1000000" },
	{ NULL, "--yield", CF(yield_count), OPT_NUM, "0..1000000" },
	{ NULL, "--max-participants", CF(max_participants), OPT_NUM, "1..4096" },
	{ NULL, "--side-capacity", CF(side_capacity), OPT_AUTO, "0, a power of two or 'auto'" },
	{ NULL, "--max-deliveries", CF(max_deliveries), OPT_NUM, "1..255" },
	{ NULL, "--lease-capacity", CF(lease_capacity), OPT_AUTO,
	  "0, a number of entries or 'auto'" },
	{ NULL, "--high-watermark", CF(high_watermark), OPT_NUM,
	  "messages; 1 <= low < high <= capacity" },
	{ NULL, "--low-watermark", CF(low_watermark), OPT_NUM,
	  "messages; 1 <= low < high <= capacity" },
	{ NULL, "--grace", CF(grace_us), OPT_DURATION, "a duration, 100us..60s" },
	{ NULL, "--dedup-capacity", CF(dedup_capacity), OPT_NUM, "0..4096" },
	{ NULL, "--max-groups", CF(max_groups), OPT_NUM, "0..64" },
	{ NULL, "--priorities", CF(priorities), OPT_NUM, "0..8" },
	{ NULL, "--priority-share", CF(priority_share), OPT_NUM, "percent, 0..50" },
	{ NULL, "--ttl", CF(ttl_ms), OPT_NUM, "milliseconds, 0..2147483648" },
	{ NULL, "--retry-base", CF(retry_base_us), OPT_DURATION, "a duration, 0..1h" },
	{ NULL, "--retry-max", CF(retry_max_us), OPT_DURATION,
	  "a duration, 0..1h, at least --retry-base" },
	{ NULL, "--retry-factor", CF(retry_factor), OPT_NUM, "1..16" },
};

#undef CF

static const struct create_opt *create_opt_find(const char *a)
{
	for (size_t i = 0; i < sizeof(create_opts) / sizeof(create_opts[0]); i++)
		if ((create_opts[i].shrt && !strcmp(a, create_opts[i].shrt)) ||
		    !strcmp(a, create_opts[i].name))
			return &create_opts[i];
	return NULL;
}

static int cmd_create(int argc, char **argv)
{
	struct ipcq_config cfg = IPCQ_CONFIG_INIT;
	const char *name = NULL;
	int json = 0;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		char opt[40];
		if (a[0] != '-') {
			if (name)
				return bad_usage("create: one queue name only");
			name = a;
			continue;
		}
		if (a[1] == '-' && strchr(a, '=')) {
			size_t l = (size_t)(strchr(a, '=') - a);
			if (l >= sizeof(opt))
				return bad_usage("create: unknown option");
			memcpy(opt, a, l);
			opt[l] = '\0';
			val = a + l + 1;
			a = opt;
		}
		if (strcmp(a, "--json") == 0 && !val) {
			json = 1;
			continue;
		}
		uint32_t flag = !strcmp(a, "--expiry") ? IPCQ_CF_EXPIRY
				: !strcmp(a, "--expired-to-side") ? IPCQ_CF_EXPIRED_TO_SIDE
				: !strcmp(a, "--keyed") ? IPCQ_CF_KEYED : 0;
		if (flag && val) {
			fprintf(stderr, PROG ": create: %s takes no value\n", a);
			return bad_usage("see 'ipcq-ctl create --help'");
		}
		if (flag) {
			cfg.flags |= flag;
			continue;
		}
		if (!val) {
			if (i + 1 >= argc) {
				fprintf(stderr, PROG ": create: %s needs a value\n", a);
				return bad_usage("see 'ipcq-ctl create --help'");
			}
			val = argv[++i];
		}
		int bad = 0;
		const char *rule = NULL;
		const struct create_opt *co = create_opt_find(a);
		if (co) {
			uint32_t *field = (uint32_t *)((char *)&cfg + co->off);
			rule = co->rule;
			if (co->kind == OPT_DURATION)
				bad = parse_duration_us(val, field);
			else if (co->kind == OPT_AUTO && !strcmp(val, "auto"))
				*field = IPCQ_AUTO;
			else
				bad = parse_u32(val, co->kind != OPT_NUM, field);
		} else if (!strcmp(a, "-m") || !strcmp(a, "--mode")) {
			char *end;
			errno = 0;
			unsigned long m = strtoul(val, &end, 8);
			bad = errno || end == val || *end || m > 07777;
			cfg.mode = (uint32_t)m;
			rule = "octal permission bits: 0600, 0640 or 0660";
		} else if (!strcmp(a, "--numa")) {
			rule = "a node number, 'local' or 'any'";
			if (!strcmp(val, "any"))
				cfg.numa_node = IPCQ_NUMA_ANY;
			else if (!strcmp(val, "local"))
				cfg.numa_node = IPCQ_NUMA_LOCAL;
			else {
				uint32_t n;
				bad = parse_u32(val, 0, &n) || n > INT32_MAX;
				cfg.numa_node = (int32_t)n;
			}
		} else if (!strcmp(a, "--wait")) {
			rule = "adaptive, busy-poll or yield";
			if (!strcmp(val, "adaptive"))
				cfg.wait_strategy = IPCQ_WAIT_ADAPTIVE;
			else if (!strcmp(val, "busy-poll") || !strcmp(val, "busy"))
				cfg.wait_strategy = IPCQ_WAIT_BUSY_POLL;
			else if (!strcmp(val, "yield"))
				cfg.wait_strategy = IPCQ_WAIT_YIELD;
			else
				bad = 1;
		} else {
			fprintf(stderr, PROG ": create: unknown option '%s'\n", a);
			return bad_usage("see 'ipcq-ctl create --help'");
		}
		if (bad) {
			fprintf(stderr, PROG ": create: bad value '%s' for %s (%s)\n", val, a, rule);
			return 1;
		}
	}
	if (!name)
		return bad_usage("usage: create NAME [OPTIONS] (ipcq-ctl create --help)");
	if (!!cfg.high_watermark != !!cfg.low_watermark)
		return bad_usage("create: --high-watermark and --low-watermark go together");

	struct ipcq *q;
	int rc = ipcq_create(name, &cfg, &q);
	if (rc < 0) {
		const char *detail = ipcq_errdetail();
		fprintf(stderr, PROG ": %s: cannot create: %s%s%s\n", name, ipcq_strerror(rc),
			detail[0] ? ": " : "", detail);
		return 1;
	}
	struct ipcq_info in;
	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	rc = ipcq_info(q, &in);
	int node = ipcq_numa_node(q);
	ipcq_close(q);
	if (rc < 0)
		return fail(name, "created, but reading it back", rc);
	/* ipcq_info() has no ttl_ms or retry_factor: what was asked, the
	 * library's default for a factor of 0 */
	uint32_t retry_factor = cfg.retry_factor ? cfg.retry_factor : 2;
	if (json) {
		printf("{ \"name\": ");
		json_str(name);
		printf(", \"capacity\": %u, \"max_msg_size_bytes\": %u, \"slot_size_bytes\": %u"
		       ", \"segment_size_bytes\": %" PRIu64 ", \"mode\": \"0%03o\""
		       ", \"wait_strategy\": \"%s\", \"max_participants\": %u, \"side_capacity\": %u"
		       ", \"lease_capacity\": %u, \"max_deliveries\": %u, \"high_watermark\": %u"
		       ", \"low_watermark\": %u, \"grace_us\": %u, \"dedup_capacity\": %u"
		       ", \"max_groups\": %u, \"priorities\": %u, \"priority_share\": %u"
		       ", \"ttl_ms\": %u, \"expiry\": %s, \"expired_to_side\": %s, \"keyed\": %s"
		       ", \"retry_base_us\": %u, \"retry_max_us\": %u, \"retry_factor\": %u"
		       ", \"numa_node\": ",
		       in.capacity, in.max_msg_size, in.slot_size, in.segment_size, in.mode & 0777,
		       wait_name(in.wait_strategy), in.max_participants, in.side_capacity,
		       in.lease_capacity, in.max_deliveries, in.high_watermark, in.low_watermark,
		       in.grace_us, in.dedup_capacity, cfg.max_groups, in.priorities > 1 ? in.priorities : 1,
		       in.priority_share, cfg.ttl_ms, in.flags & IPCQ_CF_EXPIRY ? "true" : "false",
		       in.flags & IPCQ_CF_EXPIRED_TO_SIDE ? "true" : "false",
		       in.flags & IPCQ_CF_KEYED ? "true" : "false", in.retry_base_us, in.retry_max_us,
		       retry_factor);
		if (node >= 0)
			printf("%d }\n", node);
		else
			printf("null }\n");
		return 0;
	}
	printf("%s: created, %u slots of max %u bytes, segment %" PRIu64 " bytes, mode 0%03o, "
	       "wait %s\n", name, in.capacity, in.max_msg_size, in.segment_size, in.mode & 0777,
	       wait_name(in.wait_strategy));
	printf("  participants %u, side ring %u, leases %u, max deliveries %u, dedup %u, "
	       "grace %uus\n", in.max_participants, in.side_capacity, in.lease_capacity,
	       in.max_deliveries, in.dedup_capacity, in.grace_us);
	if (in.high_watermark)
		printf("  watermarks high %u, low %u\n", in.high_watermark, in.low_watermark);
	if (in.flags & IPCQ_CF_EXPIRY) {
		printf("  messages expire: ");
		if (cfg.ttl_ms)
			printf("time to live %ums", cfg.ttl_ms);
		else
			printf("no time to live but the one a send gives");
		printf(", then %s\n", in.flags & IPCQ_CF_EXPIRED_TO_SIDE ? "moved to the side ring"
									 : "dropped");
	}
	if (in.flags & IPCQ_CF_KEYED)
		printf("  keyed: the messages of a key are delivered in order\n");
	if (in.retry_base_us) {
		if (in.retry_max_us)
			printf("  retry backoff %uus, x%u per delivery, at most %uus\n",
			       in.retry_base_us, retry_factor, in.retry_max_us);
		else
			printf("  retry backoff %uus every time (no --retry-max: the base is the "
			       "cap)\n", in.retry_base_us);
	}
	if (cfg.max_groups)
		printf("  room for %u consumer groups (none yet: '" PROG " group create %s GROUP')\n",
		       cfg.max_groups, name);
	if (in.priorities > 1) {
		printf("  %u priority lanes of %u slots (0 lowest, %u highest), ", in.priorities,
		       in.capacity, in.priorities - 1);
		if (in.priority_share)
			printf("starvation guard %u%%\n", in.priority_share);
		else
			printf("strict priority (no starvation guard)\n");
	}
	if (node >= 0)
		printf("  memory bound to NUMA node %d\n", node);
	else
		printf("  memory not bound to a NUMA node\n");
	return 0;
}

/* ---- peek and tail ------------------------------------------------------------ */

static int browse_guarded(struct ipcq *q, uint32_t lane, uint64_t pos, void *buf, size_t cap,
			  struct ipcq_slot_view *v)
{
	if (sigsetjmp(g_bus_jmp, 1))
		return -EBADMSG;
	g_bus_armed = 1;
	int rc = ipcq_browse_lane(q, lane, pos, buf, cap, v);
	g_bus_armed = 0;
	return rc;
}

/* ipcq_browse_lane(), again while the slot changes under it (a few times). */
static int browse_settled(struct ipcq *q, uint32_t lane, uint64_t pos, void *buf, size_t cap,
			  struct ipcq_slot_view *v)
{
	int rc;
	for (int tries = 0;; tries++) {
		memset(v, 0, sizeof(*v));
		v->size = sizeof(*v);
		rc = browse_guarded(q, lane, pos, buf, cap, v);
		if (rc != -EAGAIN || tries == 8)
			return rc;
	}
}

static const char *slot_state_name(uint32_t s)
{
	switch (s) {
	case IPCQ_SLOT_EMPTY: return "empty";
	case IPCQ_SLOT_WRITING: return "writing";
	case IPCQ_SLOT_READY: return "ready";
	case IPCQ_SLOT_TAKEN: return "taken";
	case IPCQ_SLOT_SKIP: return "skip";
	case IPCQ_SLOT_GONE: return "gone";
	default: return "?";
	}
}

struct browse_opts {
	long n;           /* messages */
	size_t bytes;     /* payload bytes shown */
	int follow;
	long prio;        /* -p: the one lane looked at; -1 without -p */
};

#define PEEK_USAGE "usage: peek NAME [-n N] [-b BYTES] [-p N]"
#define TAIL_USAGE "usage: tail NAME [-n N] [-b BYTES] [-p N] [-f]"

static int parse_browse_opts(const char *cmd, int argc, char **argv, const char **name,
			     struct browse_opts *o)
{
	o->n = 10;
	o->bytes = 16;
	o->follow = 0;
	o->prio = -1;
	*name = NULL;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-f") || !strcmp(a, "--follow")) {
			if (strcmp(cmd, "tail") != 0)
				return bad_usage("-f goes with tail");
			o->follow = 1;
		} else if (!strcmp(a, "-p") || !strcmp(a, "--priority")) {
			uint32_t v;
			if (i + 1 >= argc || parse_u32(argv[i + 1], 0, &v))
				return bad_usage("-p needs a priority lane (0 lowest; below the "
						 "queue's priorities)");
			i++;
			o->prio = v;
		} else if (!strcmp(a, "-n") || !strcmp(a, "-b") || !strcmp(a, "--count") ||
			   !strcmp(a, "--bytes")) {
			uint32_t v;
			if (i + 1 >= argc || parse_u32(argv[i + 1], 0, &v))
				return bad_usage(a[1] != 'n' && a[2] != 'c'
							 ? "-b needs a number of bytes (0..65536)"
						 : strcmp(cmd, "tail") != 0
							 ? "-n needs a number of messages (1 or more)"
							 : "-n needs a number of messages (1 or more; 0 "
							   "with -f: only new ones)");
			i++;
			if ((a[1] == 'n' || a[2] == 'c') && v == 0 && strcmp(cmd, "tail") != 0)
				return bad_usage("peek: -n 0 shows nothing; -n needs 1 or more messages");
			if (a[1] == 'n' || a[2] == 'c')
				o->n = v;
			else if (v > 65536)
				return bad_usage("-b: 65536 bytes at most");
			else
				o->bytes = v;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, PROG ": %s: unknown option '%s'\n", cmd, a);
			return bad_usage(!strcmp(cmd, "tail") ? TAIL_USAGE : PEEK_USAGE);
		} else if (*name) {
			return bad_usage("one queue name only");
		} else {
			*name = a;
		}
	}
	if (!*name)
		return bad_usage(!strcmp(cmd, "tail") ? TAIL_USAGE : PEEK_USAGE);
	if (o->n == 0 && !o->follow)
		return bad_usage("tail: -n 0 without -f shows nothing; -n needs 1 or more "
				 "messages, or -f to follow only new ones");
	return 0;
}

static void print_msg_header(void)
{
	printf("%10s %-5s %5s %10s %7s %5s %-6s %7s  %s\n", "POS", "STATE", "PROD", "SEQ", "LEN",
	       "DELIV", "FLAGS", "AGE", "DATA");
}

/* One message: a line with its metadata and the first bytes (hex |printable|);
 * a longer dump follows on lines of 16 bytes when more than 16 were asked for. */
static void print_msg(const struct ipcq_slot_view *v, const unsigned char *buf, size_t got,
		      size_t want)
{
	char a[32], fl[8], seq[24];
	size_t i;

	snprintf(fl, sizeof(fl), "%s%s%s", v->flags & IPCQ_MSG_REDELIVERED ? "R" : "",
		 v->flags & IPCQ_MSG_REPLAYED ? "P" : "", v->adopter ? "A" : "");
	if (!fl[0])
		snprintf(fl, sizeof(fl), "-");
	if (v->stream)
		snprintf(seq, sizeof(seq), "%u:%" PRIu64, v->stream, v->seq);
	else
		snprintf(seq, sizeof(seq), "%" PRIu64, v->seq);
	printf("%10" PRIu64 " %-5s %5u %10s %7" PRIu64 " %5u %-6s %7s  ", v->pos,
	       slot_state_name(v->state), v->producer, seq, v->len, v->deliveries, fl,
	       age(a, sizeof(a), v->enqueue_ns));
	size_t line = got < 16 ? got : 16;
	for (i = 0; i < line; i++)
		printf("%02x ", buf[i]);
	printf("|");
	for (i = 0; i < line; i++)
		putchar(buf[i] >= 0x20 && buf[i] < 0x7f ? buf[i] : '.');
	printf("|%s\n", v->len > line ? " ..." : "");
	if (want > 16 && got > 16)
		hexdump(buf, got);
}

/* Open @name read-only and read its info; refuse a -p the queue has no
 * lane for. */
static int open_browse(const char *cmd, const char *name, const struct browse_opts *o,
		       struct ipcq **q, struct ipcq_info *info)
{
	if (open_queue(name, 1, q))
		return -1;
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	int rc = info_guarded(*q, info);
	if (rc < 0) {
		ipcq_close(*q);
		fail(name, NULL, rc);
		return -1;
	}
	g_want_size = info->segment_size;
	uint32_t lanes = lanes_of(info);
	if (o->prio >= (long)lanes) {
		char why[128 + IPCQ_NAME_MAX];
		if (lanes == 1)
			snprintf(why, sizeof(why), "%s: -p %ld: %s has no priority lanes (only -p 0)",
				 cmd, o->prio, name);
		else
			snprintf(why, sizeof(why), "%s: -p %ld: %s has %u priority lanes: -p 0..%u",
				 cmd, o->prio, name, lanes, lanes - 1);
		ipcq_close(*q);
		bad_usage(why);
		return -1;
	}
	return 0;
}

/* The positions of lane @lane: its messages waiting are at *deq .. *end - 1
 * (the queue's positions on a queue without lanes). */
static void lane_window(const struct ipcq_info *in, uint32_t lane, uint64_t *deq, uint64_t *end)
{
	if (lanes_of(in) == 1) {
		*deq = in->dequeued;
		*end = in->enqueued;
	} else {
		*deq = in->lane_dequeued[lane];
		*end = in->lane_enqueued[lane];
	}
}

/* peek: the messages waiting at positions @deq .. @end - 1 of @lane, while
 * fewer than -n are shown; the column header before the first.  0, or the
 * error of a read. */
static int peek_lane(struct ipcq *q, uint32_t lane, uint64_t deq, uint64_t end,
		     const struct browse_opts *o, unsigned char *buf, unsigned *shown,
		     unsigned *changed)
{
	struct ipcq_slot_view v;
	unsigned here = 0;

	for (uint64_t pos = deq; pos < end && *shown < (unsigned long)o->n; pos++) {
		int rc = browse_settled(q, lane, pos, buf, o->bytes, &v);
		if (rc == -EAGAIN || rc == -ENOENT) {
			*changed += rc == -EAGAIN || v.state == IPCQ_SLOT_GONE;
			continue; /* received meanwhile, a skip, or still being written */
		}
		if (rc < 0)
			return rc;
		if (here++ == 0)
			print_msg_header();
		print_msg(&v, buf, (size_t)rc, o->bytes);
		(*shown)++;
	}
	return 0;
}

static int cmd_peek(int argc, char **argv)
{
	struct browse_opts o;
	const char *name;
	struct ipcq *q;
	struct ipcq_info info;
	unsigned shown = 0, changed = 0;
	int rc = 0;

	if (parse_browse_opts("peek", argc, argv, &name, &o))
		return 1;
	if (open_browse("peek", name, &o, &q, &info))
		return 1;
	unsigned char *buf = malloc(o.bytes ? o.bytes : 1);
	if (!buf) {
		ipcq_close(q);
		return fail(name, NULL, -ENOMEM);
	}
	uint32_t lanes = lanes_of(&info);
	if (lanes == 1) {
		uint64_t deq, end;
		lane_window(&info, 0, &deq, &end);
		rc = peek_lane(q, 0, deq, end, &o, buf, &shown, &changed);
		if (rc == 0 && shown == 0)
			printf("%s: no message waiting (depth %" PRIu64 ")\n", name, info.depth);
		else if (rc == 0)
			printf("%u of %" PRIu64 " waiting shown (positions %" PRIu64 "..%" PRIu64
			       "); nothing was consumed\n", shown, info.depth, deq, end - 1);
	} else {
		/* highest lane first, as a receive takes them (the starvation
		 * guard aside); -n counts over the lanes */
		uint32_t hi = o.prio >= 0 ? (uint32_t)o.prio : lanes - 1;
		uint32_t lo = o.prio >= 0 ? (uint32_t)o.prio : 0;
		uint64_t waiting = 0;
		for (uint32_t l = hi + 1; l-- > lo && rc == 0;) {
			uint64_t deq, end;
			lane_window(&info, l, &deq, &end);
			uint64_t w = end > deq ? end - deq : 0;
			waiting += w;
			if (!w) {
				printf("priority %u: 0 waiting\n", l);
				continue;
			}
			printf("priority %u: %" PRIu64 " waiting (positions %" PRIu64 "..%" PRIu64 ")",
			       l, w, deq, end - 1);
			if (shown >= (unsigned long)o.n) {
				printf(", not shown (-n %ld)\n", o.n);
				continue;
			}
			printf("\n");
			rc = peek_lane(q, l, deq, end, &o, buf, &shown, &changed);
		}
		if (rc == 0 && shown == 0 && o.prio >= 0)
			printf("%s: no message waiting at priority %ld (queue depth %" PRIu64 ")\n",
			       name, o.prio, info.depth);
		else if (rc == 0 && shown == 0)
			printf("%s: no message waiting (depth %" PRIu64 ")\n", name, info.depth);
		else if (rc == 0 && o.prio >= 0)
			printf("%u of %" PRIu64 " waiting at priority %ld shown; nothing was consumed\n",
			       shown, waiting, o.prio);
		else if (rc == 0)
			printf("%u of %" PRIu64 " waiting shown, %u priority lanes; nothing was "
			       "consumed\n", shown, waiting, lanes);
	}
	if (rc < 0) {
		free(buf);
		ipcq_close(q);
		return fail(name, "reading the ring", rc);
	}
	if (changed)
		printf("%u received while being read\n", changed);
	free(buf);
	ipcq_close(q);
	return fflush(stdout) == 0 ? 0 : 1;
}

static volatile sig_atomic_t g_stop;

static void on_stop(int sig)
{
	(void)sig;
	g_stop = 1;
}

static int cmd_tail(int argc, char **argv)
{
	struct browse_opts o;
	const char *name;
	struct ipcq *q;
	struct ipcq_info info;
	struct ipcq_slot_view v;
	uint64_t missed = 0, shown = 0, unpublished = 0;
	int rc = 0;

	if (parse_browse_opts("tail", argc, argv, &name, &o))
		return 1;
	if (open_browse("tail", name, &o, &q, &info))
		return 1;
	unsigned char *buf = malloc(o.bytes ? o.bytes : 1);
	if (!buf) {
		ipcq_close(q);
		return fail(name, NULL, -ENOMEM);
	}
	/* one lane of a queue with lanes: -p, or the highest */
	uint32_t lanes = lanes_of(&info);
	uint32_t lane = o.prio >= 0 ? (uint32_t)o.prio : lanes - 1;
	/*
	 * The newest n positions of the lane, those still in its ring: none
	 * below its dequeued (received, or being received, before tail
	 * looked) nor below end - capacity (their slots hold later laps;
	 * capacity is per lane).  A position of this window found gone was
	 * still waiting when tail looked: a message missed.
	 */
	uint64_t deq, end;
	lane_window(&info, lane, &deq, &end);
	uint64_t pos = end > (uint64_t)o.n ? end - (uint64_t)o.n : 0;
	if (pos < deq)
		pos = deq;
	if (end > info.capacity && pos < end - info.capacity)
		pos = end - info.capacity;
	if (pos > end)
		pos = end;
	/* -f: the position waited at while it stays WRITING, and since when */
	uint64_t stuck_pos = UINT64_MAX, stuck_since = 0;
	uint64_t grace_ns = (uint64_t)info.grace_us * 1000;
	if (o.follow) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_stop;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGPIPE, &sa, NULL);
		setvbuf(stdout, NULL, _IOLBF, 0);
	}
	if (lanes > 1)
		printf("priority %u of %u%s\n", lane, lanes, o.prio >= 0 ? "" : " (use -p to choose)");
	print_msg_header();
	for (;;) {
		for (; pos < end && !g_stop; pos++) {
			rc = browse_settled(q, lane, pos, buf, o.bytes, &v);
			if (rc >= 0) {
				print_msg(&v, buf, (size_t)rc, o.bytes);
				shown++;
				continue;
			}
			if (rc == -ENOENT && o.follow && v.state == IPCQ_SLOT_WRITING) {
				/*
				 * Claimed (the enqueue cursor is past it) and not
				 * published.  A producer that died between claim
				 * and publish leaves it so until recovery runs,
				 * which nothing may do on a queue without
				 * consumers: after a grace period, go on past it.
				 */
				uint64_t now = coarse_now_ns();
				if (stuck_pos != pos) {
					stuck_pos = pos;
					stuck_since = now;
					break;
				}
				if (now - stuck_since <= grace_ns)
					break; /* being written: wait for it */
				char a[32];
				printf("%10" PRIu64 " unpublished for %s, longer than the grace period "
				       "(its producer may have died between claim and publish; '" PROG
				       " recover %s' takes over its work); going on\n", pos,
				       age(a, sizeof(a), stuck_since), name);
				unpublished++;
				continue;
			}
			if (rc == -ENOENT && o.follow && v.state == IPCQ_SLOT_EMPTY)
				break; /* not claimed yet: wait for it */
			if (rc == -ENOENT && v.state == IPCQ_SLOT_SKIP)
				continue;
			if (rc == -ENOENT || rc == -EAGAIN) {
				missed++; /* received (and released) before it could be read */
				continue;
			}
			free(buf);
			ipcq_close(q);
			return fail(name, "reading the ring", rc);
		}
		rc = 0;
		if (!o.follow || g_stop)
			break;
		struct timespec ts = { 0, 10 * 1000000 };
		nanosleep(&ts, NULL);
		if (g_stop)
			break;
		memset(&info, 0, sizeof(info));
		info.size = sizeof(info);
		if ((rc = info_guarded(q, &info)) < 0) {
			free(buf);
			ipcq_close(q);
			return fail(name, "reading the queue", rc);
		}
		lane_window(&info, lane, &deq, &end);
		/*
		 * More than a lap arrived since the last look: the positions
		 * below end - capacity are in no slot any more (their slots
		 * hold later laps).  Go on at the oldest one a slot may still
		 * hold, and say how many were passed.
		 */
		if (end > info.capacity && pos < end - info.capacity) {
			uint64_t skip = end - info.capacity - pos;
			pos = end - info.capacity;
			missed += skip;
			printf("%10" PRIu64 " skipped to here: %" PRIu64 " message%s passed before "
			       "tail could read %s (more than the ring holds arrived since its last "
			       "look)\n", pos, skip, skip == 1 ? "" : "s", skip == 1 ? "it" : "them");
		}
	}
	if (missed)
		printf("%" PRIu64 " message%s received before %s could be read (tail never "
		       "consumes: it reads what is still in the ring)\n", missed,
		       missed == 1 ? "" : "s", missed == 1 ? "it" : "they");
	else if (!shown && !o.follow && lanes > 1)
		printf("%s: no message in the ring of priority %u\n", name, lane);
	else if (!shown && !o.follow)
		printf("%s: no message in the ring\n", name);
	if (unpublished)
		printf("%" PRIu64 " position%s passed over unpublished\n", unpublished,
		       unpublished == 1 ? "" : "s");
	free(buf);
	ipcq_close(q);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- gc ------------------------------------------------------------------------ */

/*
 * Is the queue abandoned: readable, no live participant, nothing waiting,
 * leased or waiting for redelivery, side ring empty, no producer name in
 * the dedup table, created at least @older ago?  NULL if so, else why not.
 * The age is the time since creation: the queue keeps no time of last use.
 */
static const char *gc_keep_reason(const struct qrow *r, double older, char *buf, size_t n)
{
	const struct ipcq_info *in = &r->info;
	char a[32];

	if (r->err) {
		snprintf(buf, n, "not readable: %s", short_err(r));
		return buf;
	}
	if (in->participants) {
		snprintf(buf, n, "%u live participant%s", in->participants,
			 in->participants == 1 ? "" : "s");
		return buf;
	}
	if (in->depth || in->leased || in->redeliverable) {
		snprintf(buf, n, "%" PRIu64 " message%s queued, %u leased, %u redeliverable",
			 in->depth, in->depth == 1 ? "" : "s", in->leased, in->redeliverable);
		return buf;
	}
	if (in->side_depth) {
		snprintf(buf, n, "%u in the side ring", in->side_depth);
		return buf;
	}
	/* A named producer that starts again after the queue is gone would
	 * create a fresh one, find its last sequence number 0 there and send
	 * from the start again: its consumers would get duplicates. */
	if (in->dedup_names) {
		snprintf(buf, n, "%u producer name%s remembered (" PROG " dedup remove first)",
			 in->dedup_names, in->dedup_names == 1 ? "" : "s");
		return buf;
	}
	double age_s = since_realtime(in->created_ns);
	if (age_s < older) {
		snprintf(buf, n, "created %s ago", fmt_secs(a, sizeof(a), age_s));
		return buf;
	}
	return NULL;
}

static int cmd_gc(int argc, char **argv)
{
	double older = 3600;
	int dry = 0, verbose = 0, errors = 0, nglobs = 0;
	const char **globs = calloc((size_t)argc + 1, sizeof(*globs));
	unsigned removed = 0, kept = 0;
	struct names ns;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--dry-run")) {
			dry = 1;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			verbose = 1;
		} else if (!strcmp(a, "--older-than") || !strncmp(a, "--older-than=", 13)) {
			const char *val = a[12] == '=' ? a + 13 : i + 1 < argc ? argv[++i] : NULL;
			if (parse_duration(val, &older)) {
				fprintf(stderr, PROG ": gc: bad duration '%s' (seconds, or with a unit: "
						"30s, 10m, 2h, 7d, 1h30m)\n", val ? val : "");
				free(globs);
				return 1;
			}
		} else if (a[0] == '-') {
			fprintf(stderr, PROG ": gc: unknown option '%s'\n", a);
			free(globs);
			return bad_usage("usage: gc [--older-than DURATION] [--dry-run] [-v] [PATTERN...]");
		} else if (globs) {
			globs[nglobs++] = a;
		}
	}
	if (!globs) {
		fprintf(stderr, PROG ": gc: out of memory\n");
		return 1;
	}
	if (names_get(&ns)) {
		free(globs);
		return 1;
	}
	for (size_t i = 0; i < ns.n; i++) {
		struct qrow r;
		char why[128], a[32];
		int match = nglobs == 0;
		for (int g = 0; g < nglobs && !match; g++)
			match = fnmatch(globs[g], ns.v[i], 0) == 0;
		if (!match)
			continue;
		qrow_read(&r, ns.v[i]);
		const char *keep = gc_keep_reason(&r, older, why, sizeof(why));
		if (keep) {
			kept++;
			if (verbose)
				printf("kept %s: %s\n", r.name, keep);
			continue;
		}
		fmt_secs(a, sizeof(a), since_realtime(r.info.created_ns));
		if (dry) {
			printf("would remove %s (idle, created %s ago)\n", r.name, a);
			removed++;
			continue;
		}
		/* the name must still be the file that was checked */
		char path[64 + IPCQ_NAME_MAX];
		struct stat now;
		snprintf(path, sizeof(path), "/dev/shm/ipcq.%s", r.name);
		if (!r.have_stat || lstat(path, &now) != 0 || now.st_ino != r.st.st_ino ||
		    now.st_dev != r.st.st_dev) {
			kept++;
			if (verbose)
				printf("kept %s: replaced while being checked\n", r.name);
			continue;
		}
		int rc = ipcq_unlink(r.name);
		if (rc == -ENOENT)
			continue; /* removed by someone else meanwhile */
		if (rc < 0) {
			unlink_fail(r.name, "cannot remove", rc);
			errors++;
			continue;
		}
		printf("removed %s (idle, created %s ago)\n", r.name, a);
		removed++;
	}
	names_free(&ns);
	free(globs);
	printf("gc: %s %u queue%s, kept %u\n", dry ? "would remove" : "removed", removed,
	       removed == 1 ? "" : "s", kept);
	if (fflush(stdout) != 0)
		return 1;
	return errors ? 1 : 0;
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
			if (strcmp(cmd, "create") == 0)
				create_usage(stdout);
			else
				usage(stdout);
			return 0;
		}
	if (strcmp(cmd, "list") == 0) {
		if (argc == 2 || (argc == 3 && strcmp(argv[2], "--json") == 0))
			return cmd_list(argc == 3);
		return bad_usage("usage: list [--json]");
	}
	if (strcmp(cmd, "create") == 0)
		return cmd_create(argc - 2, argv + 2);
	if (strcmp(cmd, "peek") == 0)
		return cmd_peek(argc - 2, argv + 2);
	if (strcmp(cmd, "tail") == 0)
		return cmd_tail(argc - 2, argv + 2);
	if (strcmp(cmd, "gc") == 0)
		return cmd_gc(argc - 2, argv + 2);
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
	if (strcmp(cmd, "group") == 0) {
		sub = argc > 2 ? argv[2] : "";
		if (strcmp(sub, "create") == 0 && argc >= 5)
			return cmd_group_create(argc - 3, argv + 3);
		if (strcmp(sub, "remove") == 0 && argc == 5)
			return cmd_group_remove(argv[3], argv[4]);
		if (strcmp(sub, "list") == 0 &&
		    (argc == 4 || (argc == 5 && strcmp(argv[4], "--json") == 0)))
			return cmd_group_list(argv[3], argc == 5);
		return bad_usage("usage: group create NAME GROUP [--lossy] [--from-oldest] | "
				 "group remove NAME GROUP | group list NAME [--json]");
	}
	fprintf(stderr, PROG ": unknown command '%s'\nTry '" PROG " --help'.\n", cmd);
	return 1;
}
