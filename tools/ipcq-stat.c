/*
 * ipcq-stat - monitor ipcq queues: once, or refreshing in place like top;
 * as a table, as JSON, or in the Prometheus text exposition format.
 *
 * Uses the public API only, and only its read side: every queue is opened
 * read-only (a read-only descriptor and mapping), so the monitor can never
 * change, let alone corrupt, the queue it watches.  A queue of another
 * user is opened only with --any-owner.  A queue whose file is shrunk
 * under the monitor is shown as damaged: the library reads with pread(),
 * and a SIGBUS from any read through the mapping is caught around the
 * library's calls (a library must not install signal handlers; a tool may).
 *
 * Rates are differences of two snapshots divided by the time between
 * them, measured here with CLOCK_MONOTONIC: the ring's enqueue and dequeue
 * positions for msgs/s in and out, the depth for the lag velocity (how
 * fast the backlog grows, positive, or drains, negative), each
 * participant's counters for its own rates, and each consumer group's lag
 * (ipcq_group_list()) for the group's lag velocity.  A snapshot is a set
 * of recent values of words other processes keep changing, not one
 * instant, so a rate over a short interval is an estimate.
 *
 * A queue is followed by its file, not only by its name: before each
 * snapshot the file's identity (st_dev, st_ino) is compared with the one
 * the handle was opened on.  A queue removed and made again under the same
 * name is reopened (and the frame says so; its rates start over), and a
 * queue whose file is gone is shown as gone until one of that name
 * appears again.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ipcq.h"
#include "owner.h"

#define PROG "ipcq-stat"
#define MAX_NODES 64            /* NUMA nodes shown */
#define NUMA_REFRESH_NS (10ull * 1000000000ull)
#define DEFAULT_SAMPLE 0.2      /* seconds between the two samples of a rate */
#define DEFAULT_WATCH 1.0       /* seconds between refreshes */

enum format { FMT_TEXT, FMT_JSON, FMT_PROM };

struct options {
	enum format format;
	int watch;
	double interval;        /* watch refresh, seconds */
	double sample;          /* rate sample interval, seconds */
	long count;             /* watch: frames to show, 0 = until q */
	const char *name;       /* NULL: every queue */
	int any_owner;          /* --any-owner: open other users' queues too */
};

/* ipcq_open_flags() flags for every queue: read-only, and --any-owner. */
static uint32_t g_open_flags = IPCQ_OPEN_READONLY;

/* One participant's application counters (ipcq_app_counters()). */
struct appset {
	int n;
	struct ipcq_app_counter c[IPCQ_APP_COUNTERS];
};

/* One snapshot of a queue. */
struct snap {
	struct ipcq_stats st;
	struct ipcq_participant_stats *parts;
	struct appset *app;     /* beside parts, record for record */
	unsigned cap;           /* room at parts */
	int n;                  /* records in parts */
	struct ipcq_group_info *groups; /* consumer groups (ipcq_group_list()) */
	unsigned gcap;          /* room at groups */
	int ng;                 /* groups in groups; 0 for a queue without groups */
	uint64_t t_ns;          /* CLOCK_MONOTONIC here, when taken */
	int valid;
};

/* A monitored queue. */
struct qmon {
	char name[IPCQ_NAME_MAX + 1];
	struct ipcq *q;
	int err;                /* open or snapshot error, 0 if none */
	struct snap cur, prev;
	/* NUMA placement, refreshed every NUMA_REFRESH_NS (it costs a syscall per 1024 pages) */
	int numa_rc;
	uint64_t numa_pages[MAX_NODES];
	uint64_t numa_total;
	uint64_t numa_at_ns;
	int numa_done;
	int listed;             /* seen in the latest ipcq_list() */
	/* the identity of the file the handle was opened on (id_ok: known) */
	dev_t dev;
	ino_t ino;
	int id_ok;
	int gone;               /* the file is gone: no handle, err -ENOENT */
	int reopened;           /* this frame: reopened on a new file of the name */
};

/* What the two snapshots say together. */
struct derived {
	int have_rates;
	double dt;              /* seconds between the snapshots */
	double in_rate, out_rate, velocity;
	double oldest_s;        /* age of the oldest waiting message, NAN if none */
	double to_full_s;       /* INFINITY when not filling */
	double to_drain_s;      /* INFINITY when not draining, 0 when empty */
	unsigned alive, dead;
	uint32_t in_flight;
};

/* What the two snapshots say of one consumer group. */
struct gderived {
	int have_rates;
	double lag_s;           /* age of its oldest unreceived message, 0 when no lag */
	double velocity;        /* lag growth, messages/s; NAN without rates */
	double out_rate;        /* messages/s it received; NAN without rates */
	double to_full_s;       /* until its lag is a whole ring: INFINITY when not growing */
	double to_drain_s;      /* until its lag is 0: INFINITY when not draining, 0 when none */
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

/* No libm: the tools link without -lm. */
static double dabs(double v)
{
	return v < 0 ? -v : v;
}

/* Is @v a whole number (and small enough to print exactly)? */
static int whole(double v)
{
	return dabs(v) < 9.007199254740992e15 && (double)(int64_t)v == v;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die_oom(void)
{
	fprintf(stderr, PROG ": out of memory\n");
	exit(1);
}

/*
 * A hint for an error of opening or reading queue @name, into @buf: the
 * library's detail of the failed call when it gave one, then what the
 * segment file shows and what to do (for -EACCES, -EPERM and -EBADMSG).
 * @want: the segment size the queue had when it was last read, 0 if
 * unknown.  Another user's queue is said by print_err() in full.
 */
static const char *err_hint(char *buf, size_t n, const char *name, int err, uint64_t want)
{
	char path[64 + IPCQ_NAME_MAX];
	struct stat st;
	const char *detail = ipcq_errdetail();
	size_t l;

	snprintf(path, sizeof(path), "/dev/shm/ipcq.%s", name);
	int have = lstat(path, &st) == 0;

	/* the library's detail of the failed call, when it gave one, says what
	 * was wrong; the hints below say what to do */
	snprintf(buf, n, "%s%s", detail[0] ? ": " : "", detail);
	l = strlen(buf);
	switch (-err) {
	case ENOENT:
		if (!detail[0])
			snprintf(buf, n, " (ipcq-stat with no name lists the queues)");
		break;
	case EACCES:
		snprintf(buf + l, n - l, " (run as the queue's owner, or as a member of its group "
					 "for a 0640/0660 queue, with --any-owner too: the queue "
					 "is another user's)");
		break;
	case EPROTO:
		if (!detail[0])
			snprintf(buf, n, " (made by another ipcq version or build: use that build's "
					 "ipcq-stat)");
		break;
	case EBADMSG:
		if (detail[0])
			break;
		if (have && S_ISREG(st.st_mode) && want && (uint64_t)st.st_size < want)
			snprintf(buf, n, " (segment truncated: the file is %lld bytes, the queue needs "
					 "%" PRIu64 "; processes attached to it die of SIGBUS)",
				 (long long)st.st_size, want);
		else
			snprintf(buf, n, " (not a queue this build can read)");
		break;
	case EPERM:
		if (have && S_ISREG(st.st_mode) && (st.st_mode & (S_IROTH | S_IWOTH)))
			snprintf(buf + l, n - l, " (refused: mode 0%03o, others may read or write it; "
						 "if you trust its contents, its owner can run 'chmod "
						 "0600 %s', else remove it: 'ipcq-ctl unlink %s')",
				 (unsigned)(st.st_mode & 0777), path, name);
		else if (!detail[0])
			snprintf(buf, n, " (refused%s)",
				 have && S_ISREG(st.st_mode) ? "" : ": not a regular file");
		break;
	default:
		break;
	}
	return buf;
}

/* ------------------------------------------------------------------ */
/* SIGBUS: a queue file shrunk under a read through the mapping        */
/* ------------------------------------------------------------------ */

#include "sigbus.h"

#define MIN_SECONDS 0.01
#define MAX_SECONDS 86400.0

/*
 * A number of seconds, MIN_SECONDS..MAX_SECONDS: 0 on success, -1 when @s
 * is not a number at all, -2 when it is a number out of that range.
 * @zero_ok: 0 is accepted and means MIN_SECONDS (a watch as fast as the
 * tool refreshes).
 */
static int parse_seconds(const char *s, double *out, int zero_ok)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || !isfinite(v))
		return -1;
	if (zero_ok && v == 0) {
		*out = MIN_SECONDS;
		return 0;
	}
	if (errno || !(v >= MIN_SECONDS) || v > MAX_SECONDS)
		return -2;
	*out = v;
	return 0;
}

static const char *role_str(uint32_t roles)
{
	switch (roles & (IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER)) {
	case IPCQ_ROLE_PRODUCER: return "producer";
	case IPCQ_ROLE_CONSUMER: return "consumer";
	case IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER: return "both";
	default: return "none";
	}
}

static const char *role_short(uint32_t roles)
{
	switch (roles & (IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER)) {
	case IPCQ_ROLE_PRODUCER: return "prod";
	case IPCQ_ROLE_CONSUMER: return "cons";
	case IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER: return "p+c";
	default: return "-";
	}
}

static const char *wait_str(uint32_t w)
{
	switch (w) {
	case IPCQ_WAIT_ADAPTIVE: return "adaptive";
	case IPCQ_WAIT_BUSY_POLL: return "busy-poll";
	case IPCQ_WAIT_YIELD: return "yield";
	default: return "unknown";
	}
}

/* "1234", "12.3k", "4.56M", ... into buf. */
static const char *fmt_num(char *buf, size_t n, double v)
{
	static const char *const unit[] = { "", "k", "M", "G", "T", "P" };
	double a = dabs(v);
	unsigned u = 0;

	if (!isfinite(v)) {
		snprintf(buf, n, "-");
		return buf;
	}
	if (a < 10000.0) {
		if (whole(v) || a >= 100.0)
			snprintf(buf, n, "%.0f", v);
		else
			snprintf(buf, n, "%.1f", v);
		return buf;
	}
	while (a >= 1000.0 && u < 5) {
		a /= 1000.0;
		v /= 1000.0;
		u++;
	}
	snprintf(buf, n, a < 10.0 ? "%.2f%s" : a < 100.0 ? "%.1f%s" : "%.0f%s", v, unit[u]);
	return buf;
}

static const char *fmt_u64(char *buf, size_t n, uint64_t v)
{
	return fmt_num(buf, n, (double)v);
}

static const char *fmt_bytes(char *buf, size_t n, uint64_t v)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double d = (double)v;
	unsigned u = 0;

	while (d >= 1024.0 && u < 4) {
		d /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%" PRIu64 " B", v);
	else
		snprintf(buf, n, d < 10.0 ? "%.2f %s" : d < 100.0 ? "%.1f %s" : "%.0f %s", d, unit[u]);
	return buf;
}

/* A duration: "0s", "850us", "12.3ms", "1.20s", "2m03s", "1h02m", "3d04h"; "-" if none. */
static const char *fmt_dur(char *buf, size_t n, double s)
{
	if (!isfinite(s) || s < 0) {
		snprintf(buf, n, "-");
	} else if (s == 0) {
		snprintf(buf, n, "0s");
	} else if (s < 1e-3) {
		snprintf(buf, n, "%.0fus", s * 1e6);
	} else if (s < 1.0) {
		snprintf(buf, n, s < 0.1 ? "%.1fms" : "%.0fms", s * 1e3);
	} else if (s < 60.0) {
		snprintf(buf, n, "%.2fs", s);
	} else if (s < 3600.0) {
		snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
	} else if (s < 86400.0) {
		snprintf(buf, n, "%dh%02dm", (int)s / 3600, (int)s / 60 % 60);
	} else if (s < 1e9) {
		snprintf(buf, n, "%dd%02dh", (int)s / 86400, (int)s / 3600 % 24);
	} else {
		snprintf(buf, n, "forever");
	}
	return buf;
}

/* ------------------------------------------------------------------ */
/* Snapshots                                                           */
/* ------------------------------------------------------------------ */

static int snap_take(struct qmon *m, struct snap *s)
{
	int tries = 0;

	for (;;) {
		memset(&s->st, 0, sizeof(s->st));
		s->st.size = sizeof(s->st);
		int rc = ipcq_stats(m->q, &s->st, s->parts, s->cap);
		if (rc < 0) {
			s->valid = 0;
			return rc;
		}
		s->t_ns = mono_ns();
		s->n = rc;
		/*
		 * On a busy queue the head message may be taken between the
		 * library's read of the dequeue cursor and its read of the slot,
		 * and the age of the oldest message comes back unknown (0): look
		 * again a few times.
		 */
		if (s->st.info.depth && !s->st.oldest_ns && ++tries < 4)
			continue;
		if (s->st.participants <= s->cap || s->cap >= IPCQ_PARTICIPANTS_MAX)
			break;
		/* the table holds more than we have room for: grow, take again */
		unsigned cap = s->st.participants > s->st.info.max_participants
				       ? s->st.participants : s->st.info.max_participants;
		if (cap > IPCQ_PARTICIPANTS_MAX)
			cap = IPCQ_PARTICIPANTS_MAX;
		void *p = realloc(s->parts, cap * sizeof(*s->parts));
		if (!p)
			die_oom();
		s->parts = p;
		p = realloc(s->app, cap * sizeof(*s->app));
		if (!p)
			die_oom();
		s->app = p;
		s->cap = cap;
	}
	for (int i = 0; i < s->n; i++) {
		int rc = ipcq_app_counters(m->q, s->parts[i].index, s->app[i].c, IPCQ_APP_COUNTERS);
		s->app[i].n = rc > 0 ? rc : 0;
	}
	for (;;) {
		int rc = ipcq_group_list(m->q, s->groups, s->gcap);
		if (rc < 0) {
			s->valid = 0;
			return rc;
		}
		if ((unsigned)rc <= s->gcap || s->gcap >= IPCQ_GROUPS_MAX) {
			s->ng = (unsigned)rc <= s->gcap ? rc : (int)s->gcap;
			break;
		}
		/* more groups than room: grow, list again */
		unsigned cap = (unsigned)rc > IPCQ_GROUPS_MAX ? IPCQ_GROUPS_MAX : (unsigned)rc;
		void *p = realloc(s->groups, cap * sizeof(*s->groups));
		if (!p)
			die_oom();
		s->groups = p;
		s->gcap = cap;
	}
	s->valid = 1;
	return 0;
}

static void numa_refresh(struct qmon *m, int force)
{
	uint64_t now = mono_ns();

	if (!force && m->numa_done && now - m->numa_at_ns < NUMA_REFRESH_NS)
		return;
	m->numa_rc = ipcq_numa_placement(m->q, m->numa_pages, MAX_NODES, &m->numa_total);
	m->numa_at_ns = now;
	m->numa_done = 1;
}

/*
 * A snapshot and (@want_numa) the NUMA placement, with SIGBUS caught: a
 * file shrunk under the mapping is -EBADMSG, like the library's own reads
 * say it.  Nothing is written between sigsetjmp() and a longjmp but the
 * snapshot, which is marked invalid.
 */
static int sample_guarded(struct qmon *m, struct snap *s, int want_numa)
{
	if (sigsetjmp(g_bus_jmp, 1)) {
		s->valid = 0;
		return -EBADMSG;
	}
	g_bus_armed = 1;
	int rc = snap_take(m, s);
	if (want_numa && !rc)
		numa_refresh(m, 0);
	g_bus_armed = 0;
	return rc;
}

static void qmon_follow(struct qmon *m);

/* Take a new snapshot; the current one becomes the previous one. */
static void qmon_sample(struct qmon *m, int want_numa)
{
	struct snap t;

	qmon_follow(m);
	if (!m->q)
		return;
	t = m->prev;
	m->prev = m->cur;
	m->cur = t;
	int rc = sample_guarded(m, &m->cur, want_numa);
	if (rc < 0)
		m->err = rc;
	else
		m->err = 0;
}

/* The identity of the file of queue @name: 0, or -errno of lstat(). */
static int file_id(const char *name, struct stat *st)
{
	char path[64 + IPCQ_NAME_MAX];

	snprintf(path, sizeof(path), "/dev/shm/ipcq.%s", name);
	return lstat(path, st) == 0 ? 0 : -errno;
}

/*
 * Open m->name (m->q is NULL) and learn which file the handle is on: the
 * file is looked at before and after the open, and a file replaced in
 * between is opened again.  A file replaced at every try is followed by
 * its name only (id_ok 0).
 */
static int qmon_attach(struct qmon *m)
{
	struct stat a, b;

	m->id_ok = 0;
	for (int tries = 0;; tries++) {
		int ra = file_id(m->name, &a);
		m->err = ipcq_open_flags(m->name, g_open_flags, &m->q);
		if (m->err < 0) {
			m->q = NULL;
			return m->err;
		}
		int rb = file_id(m->name, &b);
		if (!ra && !rb && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
			m->dev = b.st_dev;
			m->ino = b.st_ino;
			m->id_ok = 1;
			return 0;
		}
		if (tries == 3)
			return 0;
		ipcq_close(m->q);
		m->q = NULL;
	}
}

static int qmon_open(struct qmon *m, const char *name)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	return qmon_attach(m);
}

/* Close the handle; the snapshots (their buffers kept) describe nothing. */
static void qmon_detach(struct qmon *m)
{
	ipcq_close(m->q);
	m->q = NULL;
	m->cur.valid = 0;
	m->prev.valid = 0;
	m->numa_done = 0;
	m->id_ok = 0;
}

/*
 * Before a snapshot: is the handle still on the file of its name?  A file
 * that is gone closes the handle (the queue is shown as gone); a file of
 * another identity, a queue made again, is opened in its place and
 * m->reopened says so for the next frame.  A queue that could not be
 * opened is tried again.
 */
static void qmon_follow(struct qmon *m)
{
	struct stat st;
	int rc = file_id(m->name, &st);

	if (rc == -ENOENT) {
		if (m->q)
			qmon_detach(m);
		m->gone = 1;
		m->err = -ENOENT;
		return;
	}
	if (m->q && (rc || !m->id_ok || (st.st_dev == m->dev && st.st_ino == m->ino)))
		return; /* the same file (or one that cannot be told apart) */
	int had = m->q != NULL || m->gone;
	if (m->q)
		qmon_detach(m);
	if (qmon_attach(m) == -ENOENT) {
		m->gone = 1; /* gone again between the look and the open */
		return;
	}
	m->gone = 0;
	if (had && m->q)
		m->reopened = 1;
}

static void qmon_close(struct qmon *m)
{
	ipcq_close(m->q);
	free(m->cur.parts);
	free(m->prev.parts);
	free(m->cur.app);
	free(m->prev.app);
	free(m->cur.groups);
	free(m->prev.groups);
	memset(m, 0, sizeof(*m));
}

static const struct ipcq_participant_stats *prev_part(const struct snap *prev,
						      const struct ipcq_participant_stats *p)
{
	if (!prev->valid)
		return NULL;
	for (int i = 0; i < prev->n; i++) {
		const struct ipcq_participant_stats *o = &prev->parts[i];
		/* the same entry and the same attachment (entries are reused) */
		if (o->index == p->index && o->attach_ns == p->attach_ns && o->pid == p->pid)
			return o;
	}
	return NULL;
}

/* Per-second rate of a counter between the previous snapshot and now; NAN if unknown. */
static double part_rate(const struct qmon *m, const struct ipcq_participant_stats *p,
			size_t off)
{
	const struct ipcq_participant_stats *o = prev_part(&m->prev, p);
	double dt = (double)(m->cur.t_ns - m->prev.t_ns) / 1e9;
	uint64_t a, b;

	if (!o || dt <= 0)
		return NAN;
	memcpy(&a, (const char *)o + off, sizeof(a));
	memcpy(&b, (const char *)p + off, sizeof(b));
	return b >= a ? (double)(b - a) / dt : NAN;
}

/*
 * The priority lanes of a queue that has them (ipcq_info.priorities > 1),
 * 0 for one without: also 0 when the library filled less of struct
 * ipcq_info than the lane arrays (info.size, as it returns it).
 */
static unsigned lanes_of(const struct ipcq_info *in)
{
	if (in->size < offsetof(struct ipcq_info, lane_dequeued) + sizeof(in->lane_dequeued) ||
	    in->priorities < 2)
		return 0;
	return in->priorities > IPCQ_PRIORITIES_MAX ? IPCQ_PRIORITIES_MAX : in->priorities;
}

/* Messages waiting or being written in lane @p (its two positions are read
 * a little apart: never below 0). */
static uint64_t lane_depth(const struct ipcq_info *in, unsigned p)
{
	return in->lane_enqueued[p] > in->lane_dequeued[p]
		       ? in->lane_enqueued[p] - in->lane_dequeued[p] : 0;
}

/* Slots of the whole queue: capacity per lane times the lanes. */
static uint64_t slots_of(const struct ipcq_info *in)
{
	unsigned lanes = lanes_of(in);
	return (uint64_t)in->capacity * (lanes ? lanes : 1);
}

static void derive(const struct qmon *m, struct derived *d)
{
	const struct ipcq_stats *c = &m->cur.st;
	const struct ipcq_stats *p = &m->prev.st;

	memset(d, 0, sizeof(*d));
	d->oldest_s = NAN;
	d->to_full_s = INFINITY;
	d->to_drain_s = c->info.depth ? INFINITY : 0.0;
	d->in_rate = d->out_rate = d->velocity = NAN;
	d->in_flight = c->info.leased;
	if (c->oldest_ns && c->now_ns >= c->oldest_ns)
		d->oldest_s = (double)(c->now_ns - c->oldest_ns) / 1e9;
	else if (c->oldest_ns)
		d->oldest_s = 0.0;
	for (int i = 0; i < m->cur.n; i++) {
		if (m->cur.parts[i].alive)
			d->alive++;
		else
			d->dead++;
	}
	if (!m->prev.valid || m->cur.t_ns <= m->prev.t_ns)
		return;
	d->dt = (double)(m->cur.t_ns - m->prev.t_ns) / 1e9;
	if (c->info.enqueued < p->info.enqueued || c->info.dequeued < p->info.dequeued)
		return; /* positions never go back: not the same queue */
	d->have_rates = 1;
	d->in_rate = (double)(c->info.enqueued - p->info.enqueued) / d->dt;
	d->out_rate = (double)(c->info.dequeued - p->info.dequeued) / d->dt;
	d->velocity = ((double)c->info.depth - (double)p->info.depth) / d->dt;
	/* at the current rates: the net flow fills or drains the backlog */
	double net = d->in_rate - d->out_rate;
	if (net > 0 && slots_of(&c->info) >= c->info.depth)
		d->to_full_s = (double)(slots_of(&c->info) - c->info.depth) / net;
	if (net < 0 && c->info.depth)
		d->to_drain_s = (double)c->info.depth / -net;
}

/* Group @g of the previous snapshot: the same table entry, name and creation. */
static const struct ipcq_group_info *prev_group(const struct snap *prev,
						const struct ipcq_group_info *g)
{
	if (!prev->valid)
		return NULL;
	for (int i = 0; i < prev->ng; i++) {
		const struct ipcq_group_info *o = &prev->groups[i];
		if (o->index == g->index && o->created_ns == g->created_ns &&
		    strcmp(o->name, g->name) == 0)
			return o;
	}
	return NULL;
}

/*
 * Group @g's lag in time, and from two snapshots its lag velocity and the
 * times to full and to drain at that velocity: "full" is a lag of a whole
 * ring (a durable group then holds producers back, a lossy one starts to
 * drop).
 */
static void gderive(const struct qmon *m, const struct ipcq_group_info *g, struct gderived *d)
{
	const struct ipcq_group_info *o = prev_group(&m->prev, g);
	uint32_t cap = m->cur.st.info.capacity;

	memset(d, 0, sizeof(*d));
	d->lag_s = g->lag ? (double)g->oldest_ns / 1e9 : 0.0;
	d->velocity = d->out_rate = NAN;
	d->to_full_s = INFINITY;
	d->to_drain_s = g->lag ? INFINITY : 0.0;
	if (!o || m->cur.t_ns <= m->prev.t_ns || g->position < o->position)
		return;
	double dt = (double)(m->cur.t_ns - m->prev.t_ns) / 1e9;
	d->have_rates = 1;
	d->velocity = ((double)g->lag - (double)o->lag) / dt;
	d->out_rate = (double)(g->position - o->position) / dt;
	if (d->velocity > 0)
		d->to_full_s = g->lag >= cap ? 0.0 : (double)(cap - g->lag) / d->velocity;
	if (d->velocity < 0 && g->lag)
		d->to_drain_s = (double)g->lag / -d->velocity;
}

static const char *group_kind(const struct ipcq_group_info *g)
{
	return (g->flags & IPCQ_GROUP_LOSSY) ? "lossy" : "durable";
}

/* ------------------------------------------------------------------ */
/* Output buffer: a frame is built in memory, then written at once     */
/* ------------------------------------------------------------------ */

struct buf {
	char *p;
	size_t len, cap;
};

static void bputc(struct buf *b, char c)
{
	if (b->len + 2 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4096;
		char *p = realloc(b->p, cap);
		if (!p)
			die_oom();
		b->p = p;
		b->cap = cap;
	}
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

static void bput(struct buf *b, const char *s)
{
	while (*s)
		bputc(b, *s++);
}

__attribute__((format(printf, 2, 3))) static void bprintf(struct buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		bput(b, tmp);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (!big)
		die_oom();
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	bput(b, big);
	free(big);
}

/* ------------------------------------------------------------------ */
/* Text                                                                */
/* ------------------------------------------------------------------ */

/* Columns of a table, dropped from the highest prio number down when the screen is narrow. */
struct col {
	const char *hdr;
	int width;
	int prio;               /* 0: always shown */
	int left;               /* left-aligned */
	int on;
};

static void cols_fit(struct col *c, size_t n, int width)
{
	int total = 0;
	for (size_t i = 0; i < n; i++) {
		c[i].on = 1;
		total += c[i].width + 1;
	}
	while (width > 0 && total - 1 > width) {
		size_t worst = n;
		for (size_t i = 0; i < n; i++)
			if (c[i].on && c[i].prio > 0 && (worst == n || c[i].prio > c[worst].prio))
				worst = i;
		if (worst == n)
			break;
		c[worst].on = 0;
		total -= c[worst].width + 1;
	}
}

static void cols_cell(struct buf *b, const struct col *c, int *first, const char *s)
{
	if (!c->on)
		return;
	if (!*first)
		bputc(b, ' ');
	*first = 0;
	if (c->left)
		bprintf(b, "%-*.*s", c->width, c->width, s);
	else
		bprintf(b, "%*s", c->width, s);
}

static void cols_header(struct buf *b, const struct col *c, size_t n, const char *indent)
{
	int first = 1;
	bput(b, indent);
	for (size_t i = 0; i < n; i++)
		cols_cell(b, &c[i], &first, c[i].hdr);
	bputc(b, '\n');
}

/* One row of a table indented by two spaces: cell k is t[k]. */
static void cols_row(struct buf *b, const struct col *c, size_t n, const char (*t)[64])
{
	int first = 1;
	bput(b, "  ");
	for (size_t k = 0; k < n; k++)
		cols_cell(b, &c[k], &first, t[k]);
	bputc(b, '\n');
}

static const char *reason_name(unsigned r)
{
	switch (r) {
	case IPCQ_REASON_NACKED: return "nacked";
	case IPCQ_REASON_MAX_DELIVERIES: return "max_deliveries";
	case IPCQ_REASON_CONSUMER_CRASHED: return "consumer_crashed";
	case IPCQ_REASON_EXPIRED: return "expired";
	case IPCQ_REASON_REFUSED: return "refused";
	case IPCQ_REASON_TOO_LARGE: return "too_large";
	default: return "unknown";
	}
}

/* Side-ring entries of reason r (1..IPCQ_REASON_TOO_LARGE). */
static uint32_t side_count(const struct ipcq_stats *st, unsigned r)
{
	switch (r) {
	case IPCQ_REASON_EXPIRED: return st->side_expired;
	case IPCQ_REASON_REFUSED: return st->side_refused;
	case IPCQ_REASON_TOO_LARGE: return st->side_too_large;
	default: return r < 4 ? st->side_by_reason[r] : 0;
	}
}

static void text_participants(struct buf *b, const struct qmon *m, int width)
{
	enum { C_IDX, C_ROLE, C_NAME, C_PID, C_STATE, C_SENT, C_SENTR, C_RECV, C_RECVR,
	       C_ACKS, C_NACKS, C_REDEL, C_POISON, C_FULL, C_EMPTY, C_BLOCKED, C_DUP,
	       C_DROP, C_RECOV, C_N };
	struct col c[C_N] = {
		[C_IDX] = { "IDX", 4, 0, 0, 0 },     [C_ROLE] = { "ROLE", 4, 0, 1, 0 },
		[C_NAME] = { "NAME", 16, 3, 1, 0 },  [C_PID] = { "PID", 7, 6, 0, 0 },
		[C_STATE] = { "STATE", 5, 0, 1, 0 }, [C_SENT] = { "SENT", 7, 1, 0, 0 },
		[C_SENTR] = { "SENT/S", 7, 2, 0, 0 }, [C_RECV] = { "RECV", 7, 1, 0, 0 },
		[C_RECVR] = { "RECV/S", 7, 2, 0, 0 }, [C_ACKS] = { "ACKS", 6, 8, 0, 0 },
		[C_NACKS] = { "NACKS", 5, 9, 0, 0 }, [C_REDEL] = { "REDLV", 5, 10, 0, 0 },
		[C_POISON] = { "POISN", 5, 11, 0, 0 }, [C_FULL] = { "FULL", 6, 7, 0, 0 },
		[C_EMPTY] = { "EMPTY", 6, 14, 0, 0 }, [C_BLOCKED] = { "BLOCKED", 7, 5, 0, 0 },
		[C_DUP] = { "DUPS", 5, 12, 0, 0 },   [C_DROP] = { "DROP", 5, 13, 0, 0 },
		[C_RECOV] = { "RECOV", 5, 15, 0, 0 },
	};
	int namew = 4;
	for (int i = 0; i < m->cur.n; i++) {
		int l = (int)strlen(m->cur.parts[i].name);
		if (l > namew)
			namew = l;
	}
	c[C_NAME].width = namew > 24 ? 24 : namew;
	cols_fit(c, C_N, width > 2 ? width - 2 : width);
	cols_header(b, c, C_N, "  ");
	for (int i = 0; i < m->cur.n; i++) {
		const struct ipcq_participant_stats *p = &m->cur.parts[i];
		char t[C_N][64];

		snprintf(t[C_IDX], 64, "%u", p->index);
		snprintf(t[C_ROLE], 64, "%s", role_short(p->roles));
		snprintf(t[C_NAME], 64, "%s", p->name[0] ? p->name : "-");
		snprintf(t[C_PID], 64, "%u", p->pid);
		snprintf(t[C_STATE], 64, "%s", p->alive ? "alive" : "DEAD");
		fmt_u64(t[C_SENT], 64, p->sent);
		fmt_num(t[C_SENTR], 64, part_rate(m, p, offsetof(struct ipcq_participant_stats, sent)));
		fmt_u64(t[C_RECV], 64, p->received);
		fmt_num(t[C_RECVR], 64,
			part_rate(m, p, offsetof(struct ipcq_participant_stats, received)));
		fmt_u64(t[C_ACKS], 64, p->acks);
		fmt_u64(t[C_NACKS], 64, p->nacks);
		fmt_u64(t[C_REDEL], 64, p->redeliveries);
		fmt_u64(t[C_POISON], 64, p->poisoned);
		fmt_u64(t[C_FULL], 64, p->full);
		fmt_u64(t[C_EMPTY], 64, p->empty);
		fmt_dur(t[C_BLOCKED], 64, (double)p->blocked_ns / 1e9);
		fmt_u64(t[C_DUP], 64, p->duplicates);
		fmt_u64(t[C_DROP], 64, p->dropped);
		fmt_u64(t[C_RECOV], 64, p->recoveries);
		cols_row(b, c, C_N, (const char (*)[64])t);
		if (m->cur.app[i].n) {
			bput(b, "        app");
			for (int k = 0; k < m->cur.app[i].n; k++)
				bprintf(b, " %s=%" PRIu64, m->cur.app[i].c[k].name,
					m->cur.app[i].c[k].value);
			bputc(b, '\n');
		}
	}
}

/* A signed rate, "+12", "-3.5k", "0"; "-" when unknown. */
static const char *fmt_signed(char *buf, size_t n, double v)
{
	char t[32];

	if (!isfinite(v)) {
		snprintf(buf, n, "-");
		return buf;
	}
	fmt_num(t, sizeof(t), dabs(v));
	snprintf(buf, n, "%s%s", v > 0 ? "+" : v < 0 ? "-" : "", t);
	return buf;
}

/* The consumer groups of a queue that has them: a summary line and a table. */
static void text_groups(struct buf *b, const struct qmon *m, int width)
{
	enum { G_NAME, G_KIND, G_ALIVE, G_DEAD, G_POS, G_LAG, G_LAGT, G_VEL, G_OUT, G_FULL,
	       G_DRAIN, G_DROP, G_HOLD, G_N };
	struct col c[G_N] = {
		[G_NAME] = { "GROUP", 5, 0, 1, 0 },     [G_KIND] = { "KIND", 7, 0, 1, 0 },
		[G_ALIVE] = { "ALIVE", 5, 0, 0, 0 },    [G_DEAD] = { "DEAD", 4, 4, 0, 0 },
		[G_POS] = { "POSITION", 10, 7, 0, 0 },  [G_LAG] = { "LAG", 7, 0, 0, 0 },
		[G_LAGT] = { "LAG-AGE", 7, 1, 0, 0 },   [G_VEL] = { "LAG/S", 7, 2, 0, 0 },
		[G_OUT] = { "OUT/S", 7, 5, 0, 0 },      [G_FULL] = { "TO-FULL", 7, 3, 0, 0 },
		[G_DRAIN] = { "TO-DRAIN", 8, 6, 0, 0 }, [G_DROP] = { "DROPPED", 7, 2, 0, 0 },
		[G_HOLD] = { "HOLDING", 7, 0, 1, 0 },
	};
	const struct snap *s = &m->cur;
	int namew = 5, durable = 0, holding = 0;

	for (int i = 0; i < s->ng; i++) {
		int l = (int)strlen(s->groups[i].name);
		if (l > namew)
			namew = l;
		durable += !(s->groups[i].flags & IPCQ_GROUP_LOSSY);
		holding += s->groups[i].holding != 0;
	}
	c[G_NAME].width = namew;
	bprintf(b, "groups     %d (%d durable, %d lossy)", s->ng, durable, s->ng - durable);
	for (int i = 0, any = 0; i < s->ng; i++) {
		if (!s->groups[i].holding)
			continue;
		bprintf(b, "%s%s", any++ ? ", " : "   holding producers back: ", s->groups[i].name);
	}
	if (!holding)
		bput(b, "   none holding producers back");
	bputc(b, '\n');
	cols_fit(c, G_N, width > 2 ? width - 2 : width);
	cols_header(b, c, G_N, "  ");
	for (int i = 0; i < s->ng; i++) {
		const struct ipcq_group_info *g = &s->groups[i];
		struct gderived d;
		char t[G_N][64];

		gderive(m, g, &d);
		snprintf(t[G_NAME], 64, "%s", g->name);
		snprintf(t[G_KIND], 64, "%s", group_kind(g));
		snprintf(t[G_ALIVE], 64, "%u", g->members);
		snprintf(t[G_DEAD], 64, "%u", g->dead);
		snprintf(t[G_POS], 64, "%" PRIu64, g->position);
		fmt_u64(t[G_LAG], 64, g->lag);
		fmt_dur(t[G_LAGT], 64, d.lag_s);
		fmt_signed(t[G_VEL], 64, d.velocity);
		fmt_num(t[G_OUT], 64, d.out_rate);
		fmt_dur(t[G_FULL], 64, d.have_rates ? d.to_full_s : NAN);
		fmt_dur(t[G_DRAIN], 64, d.have_rates || !g->lag ? d.to_drain_s : NAN);
		if (g->flags & IPCQ_GROUP_LOSSY)
			fmt_u64(t[G_DROP], 64, g->dropped);
		else
			snprintf(t[G_DROP], 64, "-");
		snprintf(t[G_HOLD], 64, "%s", g->holding ? "yes" : "-");
		cols_row(b, c, G_N, (const char (*)[64])t);
	}
}

static void text_queue(struct buf *b, const struct qmon *m, int width)
{
	const struct ipcq_stats *st = &m->cur.st;
	const struct ipcq_info *in = &st->info;
	struct derived d;
	char a[32], c[32], e[32], f[32];

	if (m->gone) {
		bprintf(b, "queue %s: gone (removed from /dev/shm); shown again if it is made again\n",
			m->name);
		return;
	}
	derive(m, &d);
	bprintf(b, "queue %s\n", m->name);
	if (m->reopened)
		bput(b, "  reopened: the queue was removed and made again; this is the new one "
			"(its rates start over)\n");
	bprintf(b, "  capacity %u slots of %s (max message %s), segment %s, mode %04o, wait %s\n",
		in->capacity, fmt_bytes(a, sizeof(a), in->slot_size),
		fmt_bytes(c, sizeof(c), in->max_msg_size), fmt_bytes(e, sizeof(e), in->segment_size),
		in->mode, wait_str(in->wait_strategy));
	{
		time_t t = (time_t)(in->created_ns / 1000000000ull);
		struct tm tm;
		char when[64] = "?";
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		if (localtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		double up = (double)now.tv_sec - (double)t;
		bprintf(b, "  created %s (up %s)\n", when, fmt_dur(a, sizeof(a), up));
	}
	unsigned lanes = lanes_of(in);
	uint64_t slots = slots_of(in);
	double fill = slots ? 100.0 * (double)in->depth / (double)slots : 0;
	bprintf(b, "depth      %" PRIu64 " / %" PRIu64 " (%.1f%%)   in flight %u of %u leases   "
		   "redeliverable %u (%u waiting for a retry delay",
		in->depth, slots, fill, in->leased, in->lease_capacity, in->redeliverable,
		in->delayed);
	if (in->flags & IPCQ_CF_KEYED)
		bprintf(b, ", %u for their key", in->key_waiting);
	bput(b, ")\n");
	if (lanes) {
		/* highest priority first, as a receive takes them */
		bput(b, "lanes     ");
		for (unsigned p = lanes; p-- > 0;)
			bprintf(b, " %u:%" PRIu64, p, lane_depth(in, p));
		bprintf(b, " (depth by priority, %u slots each, ", in->capacity);
		if (in->priority_share)
			bprintf(b, "guard %u%%)\n", in->priority_share);
		else
			bput(b, "no guard: strict)\n");
		bput(b, "           enqueued");
		for (unsigned p = lanes; p-- > 0;)
			bprintf(b, " %u:%s", p, fmt_u64(a, sizeof(a), in->lane_enqueued[p]));
		bputc(b, '\n');
	}
	bprintf(b, "rates      in %s/s   out %s/s", fmt_num(a, sizeof(a), d.in_rate),
		fmt_num(c, sizeof(c), d.out_rate));
	if (d.have_rates)
		bprintf(b, "   (over %s)\n", fmt_dur(e, sizeof(e), d.dt));
	else
		bput(b, "\n");
	const char *trend = !d.have_rates ? "" : d.velocity > 0 ? " (growing)"
					     : d.velocity < 0 ? " (draining)" : " (steady)";
	if (d.have_rates)
		snprintf(f, sizeof(f), "%+.0f", d.velocity);
	else
		snprintf(f, sizeof(f), "-");
	bprintf(b, "lag        velocity %s msgs/s%s   oldest waiting %s\n", f, trend,
		fmt_dur(a, sizeof(a), d.oldest_s));
	bprintf(b, "           time to full %s   time to drain %s\n",
		d.have_rates ? fmt_dur(a, sizeof(a), d.to_full_s) : "-",
		d.have_rates || !in->depth ? fmt_dur(c, sizeof(c), d.to_drain_s) : "-");
	if (in->high_watermark)
		bprintf(b, "pressure   %s (high %u, low %u)\n", in->pressure ? "ON" : "off",
			in->high_watermark, in->low_watermark);
	else
		bput(b, "pressure   off (no watermarks)\n");
	bprintf(b, "side ring  %u / %u", in->side_depth, in->side_capacity);
	for (unsigned r = 1; r <= IPCQ_REASON_TOO_LARGE; r++)
		bprintf(b, "   %s %u", reason_name(r), side_count(st, r));
	bprintf(b, "   (max deliveries %u)\n", in->max_deliveries);
	if (st->expired)
		bprintf(b, "expired    %" PRIu64 " messages past their time to live\n", st->expired);
	bprintf(b, "recovery   actions %" PRIu64 ", skipped %" PRIu64 ", redelivered %" PRIu64
		   ", completed %" PRIu64 ", poisoned %" PRIu64 ", freed %" PRIu64
		   ", side full %" PRIu64 ", takeovers %" PRIu64 " (grace %s)\n",
		st->recoveries, st->skipped, st->redelivered, st->completed, st->poisoned,
		st->freed, st->side_full, st->takeovers,
		fmt_dur(a, sizeof(a), (double)in->grace_us / 1e6));
	bprintf(b, "dedup      %u / %u names", in->dedup_names, in->dedup_capacity);
	{
		int any = 0;
		for (int i = 0; i < m->cur.n; i++) {
			const struct ipcq_participant_stats *p = &m->cur.parts[i];
			if (!p->stream)
				continue;
			bprintf(b, "%s%s (stream %u, %s)", any ? ", " : ": ", p->name, p->stream,
				p->alive ? "held" : "holder dead");
			any = 1;
		}
		bputc(b, '\n');
	}
	bput(b, "numa       ");
	if (st->numa_node == IPCQ_NUMA_ANY)
		bput(b, "not bound (kernel policy)");
	else
		bprintf(b, "bound to node %d", st->numa_node);
	if (m->numa_done && m->numa_rc >= 0) {
		uint64_t on = 0;
		bput(b, ", pages:");
		for (unsigned i = 0; i < MAX_NODES; i++) {
			if (!m->numa_pages[i])
				continue;
			bprintf(b, " node%u %" PRIu64, i, m->numa_pages[i]);
			on += m->numa_pages[i];
		}
		if (m->numa_total > on)
			bprintf(b, "%s not resident in this mapping %" PRIu64, on ? "," : "",
				m->numa_total - on);
		bprintf(b, " (of %" PRIu64 ")", m->numa_total);
	} else if (m->numa_done) {
		bprintf(b, ", placement unknown: %s", m->numa_rc == -ENOSYS
			? "no NUMA support in the kernel" : ipcq_strerror(m->numa_rc));
	}
	bputc(b, '\n');
	if (m->cur.ng)
		text_groups(b, m, width);
	bprintf(b, "participants %u (%u alive, %u dead) of %u\n", st->participants, d.alive,
		d.dead, in->max_participants);
	if (m->cur.n)
		text_participants(b, m, width);
}

static void text_list(struct buf *b, struct qmon *ms, size_t n, int width)
{
	enum { L_NAME, L_CAP, L_DEPTH, L_FILL, L_FLIGHT, L_SIDE, L_IN, L_OUT, L_LAG,
	       L_OLDEST, L_PRESS, L_PARTS, L_N };
	struct col c[L_N] = {
		[L_NAME] = { "NAME", 4, 0, 1, 0 },     [L_CAP] = { "CAP", 7, 5, 0, 0 },
		[L_DEPTH] = { "DEPTH", 7, 0, 0, 0 },   [L_FILL] = { "FILL%", 5, 6, 0, 0 },
		[L_FLIGHT] = { "INFLT", 5, 3, 0, 0 },  [L_SIDE] = { "SIDE", 5, 4, 0, 0 },
		[L_IN] = { "IN/S", 7, 1, 0, 0 },       [L_OUT] = { "OUT/S", 7, 1, 0, 0 },
		[L_LAG] = { "LAG/S", 7, 2, 0, 0 },     [L_OLDEST] = { "OLDEST", 7, 2, 0, 0 },
		[L_PRESS] = { "PRESS", 5, 7, 1, 0 },   [L_PARTS] = { "ALIVE/DEAD", 10, 0, 0, 0 },
	};
	int namew = 4, rest = 0;
	for (size_t i = 0; i < n; i++) {
		int l = (int)strlen(ms[i].name);
		if (l > namew)
			namew = l;
	}
	for (int k = 1; k < L_N; k++)
		rest += c[k].width + 1;
	if (width > 0 && namew + rest > width)
		namew = width - rest < 12 ? 12 : width - rest;
	c[L_NAME].width = namew;
	cols_fit(c, L_N, width);
	cols_header(b, c, L_N, "");
	for (size_t i = 0; i < n; i++) {
		const struct qmon *m = &ms[i];
		char t[L_N][48];
		int first = 1;

		if (m->gone) {
			cols_cell(b, &c[L_NAME], &first, m->name);
			bput(b, " gone (removed from /dev/shm)\n");
			continue;
		}
		if (!m->q || m->err || !m->cur.valid) {
			long uid = refused_owner(m->name, m->err);
			cols_cell(b, &c[L_NAME], &first, m->name);
			if (uid >= 0)
				bprintf(b, " error: operation not permitted: owned by uid %ld "
					   "(--any-owner opens it)\n", uid);
			else
				bprintf(b, " error: %s\n", ipcq_strerror(m->err));
			continue;
		}
		const struct ipcq_info *in = &m->cur.st.info;
		struct derived d;
		derive(m, &d);
		t[L_NAME][0] = '\0'; /* the name is printed from m->name: it may be long */
		fmt_u64(t[L_CAP], 48, slots_of(in)); /* every lane's slots */
		fmt_u64(t[L_DEPTH], 48, in->depth);
		snprintf(t[L_FILL], 48, "%.1f",
			 slots_of(in) ? 100.0 * (double)in->depth / (double)slots_of(in) : 0.0);
		fmt_u64(t[L_FLIGHT], 48, in->leased);
		fmt_u64(t[L_SIDE], 48, in->side_depth);
		fmt_num(t[L_IN], 48, d.in_rate);
		fmt_num(t[L_OUT], 48, d.out_rate);
		if (d.have_rates) {
			char v[32];
			fmt_num(v, sizeof(v), dabs(d.velocity));
			snprintf(t[L_LAG], 48, "%s%s", d.velocity > 0 ? "+" : d.velocity < 0 ? "-" : "",
				 v);
		} else {
			snprintf(t[L_LAG], 48, "-");
		}
		fmt_dur(t[L_OLDEST], 48, d.oldest_s);
		snprintf(t[L_PRESS], 48, "%s", !in->high_watermark ? "-" : in->pressure ? "ON" : "off");
		snprintf(t[L_PARTS], 48, "%u/%u", d.alive, d.dead);
		for (int k = 0; k < L_N; k++)
			cols_cell(b, &c[k], &first, k == L_NAME ? m->name : t[k]);
		bputc(b, '\n');
	}
	if (n == 0)
		bput(b, "(no queues in /dev/shm)\n");
	for (size_t i = 0; i < n; i++)
		if (ms[i].reopened)
			bprintf(b, "%s: removed and made again: reopened (its rates start over)\n",
				ms[i].name);
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */
/* ------------------------------------------------------------------ */

struct jw {
	struct buf *b;
	int pretty;
	int depth;
	int first[16];
};

static void jw_str_raw(struct buf *b, const char *s)
{
	bputc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': bput(b, "\\\""); break;
		case '\\': bput(b, "\\\\"); break;
		case '\n': bput(b, "\\n"); break;
		case '\r': bput(b, "\\r"); break;
		case '\t': bput(b, "\\t"); break;
		default:
			if (*p < 0x20 || *p >= 0x7f)
				bprintf(b, "\\u%04x", *p);
			else
				bputc(b, (char)*p);
		}
	}
	bputc(b, '"');
}

static void jw_sep(struct jw *j, const char *key)
{
	if (j->depth > 0) {
		if (!j->first[j->depth])
			bputc(j->b, ',');
		j->first[j->depth] = 0;
		if (j->pretty) {
			bputc(j->b, '\n');
			for (int i = 0; i < j->depth; i++)
				bput(j->b, "  ");
		}
	}
	if (key) {
		jw_str_raw(j->b, key);
		bput(j->b, j->pretty ? ": " : ":");
	}
}

static void jw_open(struct jw *j, const char *key, char c)
{
	jw_sep(j, key);
	bputc(j->b, c);
	if (j->depth < 15)
		j->depth++;
	j->first[j->depth] = 1;
}

static void jw_close(struct jw *j, char c)
{
	int empty = j->first[j->depth];
	j->depth--;
	if (j->pretty && !empty) {
		bputc(j->b, '\n');
		for (int i = 0; i < j->depth; i++)
			bput(j->b, "  ");
	}
	bputc(j->b, c);
}

static void jw_u64(struct jw *j, const char *key, uint64_t v)
{
	jw_sep(j, key);
	bprintf(j->b, "%" PRIu64, v);
}

static void jw_i64(struct jw *j, const char *key, int64_t v)
{
	jw_sep(j, key);
	bprintf(j->b, "%" PRId64, v);
}

static void jw_dbl(struct jw *j, const char *key, double v)
{
	jw_sep(j, key);
	if (isfinite(v) && whole(v))
		bprintf(j->b, "%.0f", v);
	else if (isfinite(v) && dabs(v) >= 1e5)
		bprintf(j->b, "%.1f", v);
	else if (isfinite(v))
		bprintf(j->b, "%.6g", v);
	else
		bput(j->b, "null");
}

static void jw_bool(struct jw *j, const char *key, int v)
{
	jw_sep(j, key);
	bput(j->b, v ? "true" : "false");
}

static void jw_str(struct jw *j, const char *key, const char *s)
{
	jw_sep(j, key);
	jw_str_raw(j->b, s);
}

/* "groups": the consumer groups of a queue that has them. */
static void json_groups(struct jw *j, const struct qmon *m)
{
	jw_open(j, "groups", '[');
	for (int i = 0; i < m->cur.ng; i++) {
		const struct ipcq_group_info *g = &m->cur.groups[i];
		struct gderived d;

		gderive(m, g, &d);
		jw_open(j, NULL, '{');
		jw_str(j, "name", g->name);
		jw_u64(j, "index", g->index);
		jw_str(j, "kind", group_kind(g));
		jw_bool(j, "from_oldest", (g->flags & IPCQ_GROUP_FROM_OLDEST) != 0);
		jw_u64(j, "members", g->members);
		jw_u64(j, "dead", g->dead);
		jw_u64(j, "position", g->position);
		jw_u64(j, "start", g->start);
		jw_u64(j, "lag_messages", g->lag);
		jw_dbl(j, "lag_seconds", d.lag_s);
		jw_dbl(j, "velocity_per_second", d.velocity);
		jw_dbl(j, "out_per_second", d.out_rate);
		jw_dbl(j, "time_to_full_seconds", d.have_rates ? d.to_full_s : NAN);
		jw_dbl(j, "time_to_drain_seconds", d.have_rates || !g->lag ? d.to_drain_s : NAN);
		jw_u64(j, "dropped", g->dropped);
		jw_bool(j, "holding", g->holding != 0);
		jw_u64(j, "created_ns", g->created_ns);
		jw_close(j, '}');
	}
	jw_close(j, ']');
}

/* "priority_share" and "lanes" of a queue with priorities: one object per
 * lane, the index of the array its priority. */
static void json_lanes(struct jw *j, const struct ipcq_info *in)
{
	jw_u64(j, "priority_share", in->priority_share);
	jw_open(j, "lanes", '[');
	for (unsigned p = 0; p < lanes_of(in); p++) {
		jw_open(j, NULL, '{');
		jw_u64(j, "priority", p);
		jw_u64(j, "enqueued", in->lane_enqueued[p]);
		jw_u64(j, "dequeued", in->lane_dequeued[p]);
		jw_u64(j, "depth", lane_depth(in, p));
		jw_close(j, '}');
	}
	jw_close(j, ']');
}

static void json_queue(struct jw *j, const struct qmon *m)
{
	const struct ipcq_stats *st = &m->cur.st;
	const struct ipcq_info *in = &st->info;
	struct derived d;
	char mode[8];

	jw_open(j, NULL, '{');
	jw_str(j, "name", m->name);
	if (m->gone) {
		jw_bool(j, "gone", 1);
		jw_str(j, "error", ipcq_strerror(m->err));
		jw_i64(j, "errno", -m->err);
		jw_close(j, '}');
		return;
	}
	if (!m->q || m->err || !m->cur.valid) {
		struct stat fst;
		jw_str(j, "error", ipcq_strerror(m->err));
		jw_i64(j, "errno", -m->err);
		if (file_id(m->name, &fst) == 0)
			jw_u64(j, "owner_uid", fst.st_uid);
		jw_close(j, '}');
		return;
	}
	derive(m, &d);
	if (m->reopened)
		jw_bool(j, "reopened", 1);
	jw_u64(j, "capacity", in->capacity);
	jw_u64(j, "max_msg_size_bytes", in->max_msg_size);
	jw_u64(j, "slot_size_bytes", in->slot_size);
	jw_u64(j, "segment_size_bytes", in->segment_size);
	snprintf(mode, sizeof(mode), "%04o", in->mode);
	jw_str(j, "mode", mode);
	jw_str(j, "wait_strategy", wait_str(in->wait_strategy));
	jw_u64(j, "created_ns", in->created_ns);
	jw_u64(j, "depth", in->depth);
	jw_u64(j, "enqueued", in->enqueued);
	jw_u64(j, "dequeued", in->dequeued);
	jw_u64(j, "in_flight", in->leased);
	jw_u64(j, "lease_capacity", in->lease_capacity);
	jw_u64(j, "redeliverable", in->redeliverable);
	jw_u64(j, "retry_delayed", in->delayed);
	jw_u64(j, "key_waiting", in->key_waiting);
	jw_u64(j, "max_deliveries", in->max_deliveries);
	jw_u64(j, "grace_us", in->grace_us);
	jw_u64(j, "priorities", lanes_of(in) ? lanes_of(in) : 1);
	if (lanes_of(in))
		json_lanes(j, in);

	jw_open(j, "rates", '{');
	jw_dbl(j, "interval_seconds", d.have_rates ? d.dt : NAN);
	jw_dbl(j, "in_per_second", d.in_rate);
	jw_dbl(j, "out_per_second", d.out_rate);
	jw_close(j, '}');

	jw_open(j, "lag", '{');
	jw_dbl(j, "velocity_per_second", d.velocity);
	jw_dbl(j, "oldest_age_seconds", in->depth && isfinite(d.oldest_s) ? d.oldest_s : NAN);
	jw_dbl(j, "time_to_full_seconds", d.have_rates ? d.to_full_s : NAN);
	jw_dbl(j, "time_to_drain_seconds", d.have_rates || !in->depth ? d.to_drain_s : NAN);
	jw_close(j, '}');

	jw_open(j, "pressure", '{');
	jw_bool(j, "on", in->pressure != 0);
	jw_u64(j, "high_watermark", in->high_watermark);
	jw_u64(j, "low_watermark", in->low_watermark);
	jw_close(j, '}');

	jw_open(j, "side_ring", '{');
	jw_u64(j, "depth", in->side_depth);
	jw_u64(j, "capacity", in->side_capacity);
	jw_open(j, "by_reason", '{');
	for (unsigned r = 1; r <= IPCQ_REASON_TOO_LARGE; r++)
		jw_u64(j, reason_name(r), side_count(st, r));
	jw_close(j, '}');
	jw_close(j, '}');

	jw_open(j, "recovery", '{');
	jw_u64(j, "actions", st->recoveries);
	jw_u64(j, "skipped", st->skipped);
	jw_u64(j, "redelivered", st->redelivered);
	jw_u64(j, "completed", st->completed);
	jw_u64(j, "poisoned", st->poisoned);
	jw_u64(j, "freed", st->freed);
	jw_u64(j, "side_full", st->side_full);
	jw_u64(j, "takeovers", st->takeovers);
	jw_close(j, '}');
	jw_u64(j, "expired", st->expired);

	jw_open(j, "dedup", '{');
	jw_u64(j, "capacity", in->dedup_capacity);
	jw_u64(j, "names", in->dedup_names);
	jw_open(j, "held", '[');
	for (int i = 0; i < m->cur.n; i++) {
		const struct ipcq_participant_stats *p = &m->cur.parts[i];
		if (!p->stream)
			continue;
		jw_open(j, NULL, '{');
		jw_str(j, "name", p->name);
		jw_u64(j, "stream", p->stream);
		jw_u64(j, "participant", p->index);
		jw_bool(j, "alive", p->alive);
		jw_close(j, '}');
	}
	jw_close(j, ']');
	jw_close(j, '}');

	jw_open(j, "numa", '{');
	if (st->numa_node == IPCQ_NUMA_ANY) {
		jw_sep(j, "node");
		bput(j->b, "null");
	} else {
		jw_i64(j, "node", st->numa_node);
	}
	if (m->numa_done && m->numa_rc >= 0) {
		jw_u64(j, "pages", m->numa_total);
		jw_open(j, "pages_by_node", '{');
		uint64_t on = 0;
		for (unsigned i = 0; i < MAX_NODES; i++) {
			char k[16];
			if (!m->numa_pages[i])
				continue;
			snprintf(k, sizeof(k), "%u", i);
			jw_u64(j, k, m->numa_pages[i]);
			on += m->numa_pages[i];
		}
		jw_close(j, '}');
		jw_u64(j, "pages_not_resident", m->numa_total > on ? m->numa_total - on : 0);
	} else if (m->numa_done) {
		jw_str(j, "error", ipcq_strerror(m->numa_rc));
	}
	jw_close(j, '}');

	if (m->cur.ng)
		json_groups(j, m);
	jw_u64(j, "max_participants", in->max_participants);
	jw_u64(j, "participants_alive", d.alive);
	jw_u64(j, "participants_dead", d.dead);
	jw_open(j, "participants", '[');
	for (int i = 0; i < m->cur.n; i++) {
		const struct ipcq_participant_stats *p = &m->cur.parts[i];
		jw_open(j, NULL, '{');
		jw_u64(j, "index", p->index);
		jw_str(j, "role", role_str(p->roles));
		jw_str(j, "name", p->name);
		jw_u64(j, "pid", p->pid);
		jw_bool(j, "alive", p->alive);
		jw_bool(j, "ack_mode", (p->flags & IPCQ_ATTACH_ACK) != 0);
		jw_bool(j, "dedup", (p->flags & IPCQ_ATTACH_DEDUP) != 0);
		jw_bool(j, "sole", (p->flags & IPCQ_ATTACH_SOLE) != 0);
		/* a sole handle's claims: by store, or by CAS where it fell back */
		if (p->flags & IPCQ_ATTACH_SOLE) {
			jw_bool(j, "sole_store_enq", (p->flags & IPCQ_PART_SOLE_STORE_ENQ) != 0);
			jw_bool(j, "sole_store_deq", (p->flags & IPCQ_PART_SOLE_STORE_DEQ) != 0);
		}
		jw_u64(j, "stream", p->stream);
		jw_u64(j, "attach_ns", p->attach_ns);
		jw_u64(j, "sent", p->sent);
		jw_u64(j, "sent_bytes", p->sent_bytes);
		jw_u64(j, "send_calls", p->send_calls);
		jw_u64(j, "received", p->received);
		jw_u64(j, "received_bytes", p->received_bytes);
		jw_u64(j, "recv_calls", p->recv_calls);
		jw_u64(j, "full", p->full);
		jw_u64(j, "empty", p->empty);
		jw_dbl(j, "blocked_seconds", (double)p->blocked_ns / 1e9);
		jw_u64(j, "sleeps", p->sleeps);
		jw_u64(j, "wakes", p->wakes);
		jw_u64(j, "acks", p->acks);
		jw_u64(j, "nacks", p->nacks);
		jw_u64(j, "redeliveries", p->redeliveries);
		jw_u64(j, "poisoned", p->poisoned);
		jw_u64(j, "recoveries", p->recoveries);
		jw_u64(j, "side_full", p->side_full);
		jw_u64(j, "duplicates", p->duplicates);
		jw_u64(j, "dropped", p->dropped);
		jw_u64(j, "pressure_on", p->pressure_on);
		jw_u64(j, "pressure_off", p->pressure_off);
		jw_dbl(j, "sent_per_second",
		       part_rate(m, p, offsetof(struct ipcq_participant_stats, sent)));
		jw_dbl(j, "received_per_second",
		       part_rate(m, p, offsetof(struct ipcq_participant_stats, received)));
		jw_open(j, "app", '{');
		for (int k = 0; k < m->cur.app[i].n; k++)
			jw_u64(j, m->cur.app[i].c[k].name, m->cur.app[i].c[k].value);
		jw_close(j, '}');
		jw_close(j, '}');
	}
	jw_close(j, ']');
	jw_close(j, '}');
}

/* ------------------------------------------------------------------ */
/* Prometheus text exposition format 0.0.4                             */
/* ------------------------------------------------------------------ */

static void prom_label(struct buf *b, const char *name, const char *v, int first)
{
	if (!first)
		bputc(b, ',');
	bprintf(b, "%s=\"", name);
	for (; *v; v++) {
		if (*v == '\\')
			bput(b, "\\\\");
		else if (*v == '"')
			bput(b, "\\\"");
		else if (*v == '\n')
			bput(b, "\\n");
		else
			bputc(b, *v);
	}
	bputc(b, '"');
}

static void prom_value(struct buf *b, double v)
{
	if (isnan(v))
		bput(b, "NaN");
	else if (isinf(v))
		bput(b, v > 0 ? "+Inf" : "-Inf");
	else if (whole(v))
		bprintf(b, "%.0f", v);
	else
		bprintf(b, "%.15g", v); /* a Unix time to the microsecond */
}

static void prom_head(struct buf *b, const char *name, const char *type, const char *help)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * Queue-level metrics, and those of each consumer group (named
 * ipcq_group_*, with a group label too): a getter per metric, of the queue
 * and (group metrics) of one of its groups.
 */
typedef double (*qget_fn)(const struct qmon *m, const struct ipcq_group_info *g);

#define QGET(fname, expr)                                                       \
	static double fname(const struct qmon *m, const struct ipcq_group_info *g) \
	{                                                                       \
		const struct ipcq_stats *st = &m->cur.st;                       \
		(void)st;                                                       \
		(void)g;                                                        \
		return (double)(expr);                                          \
	}

QGET(q_capacity, st->info.capacity)
QGET(q_max_msg, st->info.max_msg_size)
QGET(q_segment, st->info.segment_size)
QGET(q_depth, st->info.depth)
QGET(q_inflight, st->info.leased)
QGET(q_lease_cap, st->info.lease_capacity)
QGET(q_redeliverable, st->info.redeliverable)
QGET(q_delayed, st->info.delayed)
QGET(q_key_waiting, st->info.key_waiting)
QGET(q_priorities, lanes_of(&st->info) ? lanes_of(&st->info) : 1)
QGET(q_side_depth, st->info.side_depth)
QGET(q_side_cap, st->info.side_capacity)
QGET(q_enq, st->info.enqueued)
QGET(q_deq, st->info.dequeued)
QGET(q_pressure, st->info.pressure)
QGET(q_high, st->info.high_watermark)
QGET(q_low, st->info.low_watermark)
QGET(q_created, (double)st->info.created_ns / 1e9)
QGET(q_oldest, st->oldest_ns && st->now_ns >= st->oldest_ns
		       ? (double)(st->now_ns - st->oldest_ns) / 1e9 : 0.0)
QGET(q_max_parts, st->info.max_participants)
QGET(q_dedup_names, st->info.dedup_names)
QGET(q_dedup_cap, st->info.dedup_capacity)
QGET(q_numa_node, st->numa_node)
QGET(q_recoveries, st->recoveries)
QGET(q_skipped, st->skipped)
QGET(q_redelivered, st->redelivered)
QGET(q_completed, st->completed)
QGET(q_poisoned, st->poisoned)
QGET(q_freed, st->freed)
QGET(q_side_full, st->side_full)
QGET(q_takeovers, st->takeovers)
QGET(q_expired, st->expired)
QGET(g_lossy, (g->flags & IPCQ_GROUP_LOSSY) != 0)
QGET(g_members, g->members)
QGET(g_dead, g->dead)
QGET(g_position, g->position)
QGET(g_lag, g->lag)
QGET(g_lag_s, g->lag ? (double)g->oldest_ns / 1e9 : 0.0)
QGET(g_dropped, g->dropped)
QGET(g_holding, g->holding != 0)
QGET(g_created, (double)g->created_ns / 1e9)

struct qmetric {
	const char *name, *type, *help;
	qget_fn get;
};

static const struct qmetric qmetrics[] = {
	{ "ipcq_queue_capacity", "gauge", "Slots in the ring (of each lane on a queue with priorities).", q_capacity },
	{ "ipcq_queue_max_message_size_bytes", "gauge", "Largest message the queue accepts.", q_max_msg },
	{ "ipcq_queue_segment_size_bytes", "gauge", "Size of the shared-memory segment.", q_segment },
	{ "ipcq_queue_depth", "gauge", "Messages waiting or being written (enqueued - dequeued).", q_depth },
	{ "ipcq_queue_in_flight", "gauge", "Messages leased to ack-mode consumers, not yet acknowledged.", q_inflight },
	{ "ipcq_queue_lease_capacity", "gauge", "Entries of the lease pool.", q_lease_cap },
	{ "ipcq_queue_redeliverable", "gauge", "Messages waiting to be delivered again.", q_redeliverable },
	{ "ipcq_queue_retry_delayed", "gauge", "Of those, messages waiting for their retry delay.", q_delayed },
	{ "ipcq_queue_key_waiting", "gauge", "Of those, messages waiting for the one before them of their key (per-key order).", q_key_waiting },
	{ "ipcq_queue_priorities", "gauge", "Priority lanes (1: a queue without priorities).", q_priorities },
	{ "ipcq_queue_side_depth", "gauge", "Entries in the poison side ring.", q_side_depth },
	{ "ipcq_queue_side_capacity", "gauge", "Capacity of the poison side ring.", q_side_cap },
	{ "ipcq_queue_enqueued_total", "counter", "Ring positions claimed by producers.", q_enq },
	{ "ipcq_queue_dequeued_total", "counter", "Ring positions claimed by consumers.", q_deq },
	{ "ipcq_queue_pressure", "gauge", "1 while the queue is above its high watermark.", q_pressure },
	{ "ipcq_queue_high_watermark", "gauge", "Depth that turns pressure on (0: no watermarks).", q_high },
	{ "ipcq_queue_low_watermark", "gauge", "Depth under which pressure turns off.", q_low },
	{ "ipcq_queue_oldest_message_age_seconds", "gauge", "Age of the oldest waiting message (0 when none).", q_oldest },
	{ "ipcq_queue_created_timestamp_seconds", "gauge", "Creation time of the queue, Unix time.", q_created },
	{ "ipcq_queue_max_participants", "gauge", "Size of the participant table.", q_max_parts },
	{ "ipcq_queue_dedup_names", "gauge", "Producer names in the deduplication table.", q_dedup_names },
	{ "ipcq_queue_dedup_capacity", "gauge", "Size of the deduplication table.", q_dedup_cap },
	{ "ipcq_queue_numa_node", "gauge", "NUMA node the queue is bound to (-1: not bound).", q_numa_node },
	{ "ipcq_queue_recovery_actions_total", "counter", "Recovery actions taken on the work of dead participants.", q_recoveries },
	{ "ipcq_queue_recovery_skipped_total", "counter", "Slots of dead producers passed over.", q_skipped },
	{ "ipcq_queue_recovery_redelivered_total", "counter", "Messages of dead consumers made deliverable again.", q_redelivered },
	{ "ipcq_queue_recovery_completed_total", "counter", "Half-done moves of dead participants finished.", q_completed },
	{ "ipcq_queue_recovery_poisoned_total", "counter", "Messages recovery moved to the side ring.", q_poisoned },
	{ "ipcq_queue_recovery_freed_total", "counter", "Half-written entries of dead participants freed.", q_freed },
	{ "ipcq_queue_side_full_total", "counter", "Moves to the side ring refused because it was full.", q_side_full },
	{ "ipcq_queue_takeovers_total", "counter", "Producer names taken over from dead holders.", q_takeovers },
	{ "ipcq_queue_expired_total", "counter", "Messages past their time to live (dropped or moved to the side ring).", q_expired },
	{ "ipcq_group_lossy", "gauge", "1 for a lossy consumer group, 0 for a durable one.", g_lossy },
	{ "ipcq_group_members", "gauge", "Live consumers attached to the group.", g_members },
	{ "ipcq_group_dead_members", "gauge", "Entries of the group's consumers that died, not yet reused.", g_dead },
	{ "ipcq_group_position", "gauge", "Next ring position the group will receive.", g_position },
	{ "ipcq_group_lag_messages", "gauge", "Messages sent and not yet received by the group.", g_lag },
	{ "ipcq_group_lag_seconds", "gauge", "Age of the group's oldest unreceived message (0 when none).", g_lag_s },
	{ "ipcq_group_dropped_total", "counter", "Messages a lossy group missed, overwritten before it read them.", g_dropped },
	{ "ipcq_group_holding", "gauge", "1 while the group is the slowest durable one and holds producers back (the ring is full for it).", g_holding },
	{ "ipcq_group_created_timestamp_seconds", "gauge", "Creation time of the group, Unix time.", g_created },
};

/* One sample of queue metric @k, or of group @g's (@g not NULL). */
static void prom_sample(struct buf *b, size_t k, const struct qmon *m,
			const struct ipcq_group_info *g)
{
	bprintf(b, "%s{", qmetrics[k].name);
	prom_label(b, "queue", m->name, 1);
	if (g)
		prom_label(b, "group", g->name, 0);
	bput(b, "} ");
	prom_value(b, qmetrics[k].get(m, g));
	bputc(b, '\n');
}

struct pmetric {
	const char *name, *type, *help;
	size_t off;             /* uint64_t field of struct ipcq_participant_stats */
	double scale;
};

#define POFF(f) offsetof(struct ipcq_participant_stats, f)
static const struct pmetric pmetrics[] = {
	{ "ipcq_messages_sent_total", "counter", "Messages sent.", POFF(sent), 1 },
	{ "ipcq_sent_bytes_total", "counter", "Payload bytes sent.", POFF(sent_bytes), 1 },
	{ "ipcq_send_calls_total", "counter", "Send calls.", POFF(send_calls), 1 },
	{ "ipcq_messages_received_total", "counter", "Messages received.", POFF(received), 1 },
	{ "ipcq_received_bytes_total", "counter", "Payload bytes received.", POFF(received_bytes), 1 },
	{ "ipcq_recv_calls_total", "counter", "Receive calls.", POFF(recv_calls), 1 },
	{ "ipcq_full_events_total", "counter", "Sends that found the ring full.", POFF(full), 1 },
	{ "ipcq_empty_events_total", "counter", "Receives that found the ring empty.", POFF(empty), 1 },
	{ "ipcq_blocked_seconds_total", "counter", "Time spent waiting in blocking calls.", POFF(blocked_ns), 1e-9 },
	{ "ipcq_futex_sleeps_total", "counter", "Futex sleeps.", POFF(sleeps), 1 },
	{ "ipcq_futex_wakes_total", "counter", "Futex wakes.", POFF(wakes), 1 },
	{ "ipcq_acks_total", "counter", "Messages acknowledged.", POFF(acks), 1 },
	{ "ipcq_nacks_total", "counter", "Messages given back unprocessed.", POFF(nacks), 1 },
	{ "ipcq_redeliveries_total", "counter", "Messages received again.", POFF(redeliveries), 1 },
	{ "ipcq_messages_poisoned_total", "counter", "Messages moved to the side ring.", POFF(poisoned), 1 },
	{ "ipcq_recovery_actions_total", "counter", "Recovery actions performed.", POFF(recoveries), 1 },
	{ "ipcq_side_full_events_total", "counter", "Moves to the side ring refused.", POFF(side_full), 1 },
	{ "ipcq_duplicates_total", "counter", "Sends dropped as duplicates.", POFF(duplicates), 1 },
	{ "ipcq_messages_dropped_total", "counter", "Messages discarded by the drop-oldest policy.", POFF(dropped), 1 },
	{ "ipcq_pressure_on_total", "counter", "Transitions to pressure made by this participant.", POFF(pressure_on), 1 },
	{ "ipcq_pressure_off_total", "counter", "Transitions out of pressure made by this participant.", POFF(pressure_off), 1 },
};

static void prom_part_labels(struct buf *b, const struct qmon *m,
			     const struct ipcq_participant_stats *p)
{
	char idx[16], pid[16];
	snprintf(idx, sizeof(idx), "%u", p->index);
	snprintf(pid, sizeof(pid), "%u", p->pid);
	prom_label(b, "queue", m->name, 1);
	prom_label(b, "participant", idx, 0);
	prom_label(b, "name", p->name, 0);
	prom_label(b, "role", role_str(p->roles), 0);
	prom_label(b, "pid", pid, 0);
}

/* The metrics of priority lanes, only when some queue has them: the guard
 * per queue, and per lane (label priority) its depth and positions. */
static void prom_lanes(struct buf *b, const struct qmon *ms, size_t n)
{
	static const struct {
		const char *name, *type, *help;
	} fams[] = {
		{ "ipcq_queue_lane_depth", "gauge",
		  "Messages waiting or being written in one priority lane." },
		{ "ipcq_queue_lane_enqueued_total", "counter",
		  "Positions of one priority lane claimed by producers." },
		{ "ipcq_queue_lane_dequeued_total", "counter",
		  "Positions of one priority lane claimed by consumers." },
	};
	int any = 0;

	for (size_t i = 0; i < n; i++)
		any |= ms[i].q && !ms[i].err && ms[i].cur.valid && lanes_of(&ms[i].cur.st.info);
	if (!any)
		return;
	prom_head(b, "ipcq_queue_priority_share", "gauge",
		  "Starvation guard of a queue with priorities: percent of receives that serve the lower lanes first.");
	for (size_t i = 0; i < n; i++) {
		if (!ms[i].q || ms[i].err || !ms[i].cur.valid || !lanes_of(&ms[i].cur.st.info))
			continue;
		bput(b, "ipcq_queue_priority_share{");
		prom_label(b, "queue", ms[i].name, 1);
		bprintf(b, "} %u\n", ms[i].cur.st.info.priority_share);
	}
	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		prom_head(b, fams[f].name, fams[f].type, fams[f].help);
		for (size_t i = 0; i < n; i++) {
			const struct ipcq_info *in = &ms[i].cur.st.info;
			if (!ms[i].q || ms[i].err || !ms[i].cur.valid)
				continue;
			for (unsigned p = 0; p < lanes_of(in); p++) {
				char prio[16];
				uint64_t v = f == 0 ? lane_depth(in, p)
					   : f == 1 ? in->lane_enqueued[p] : in->lane_dequeued[p];
				snprintf(prio, sizeof(prio), "%u", p);
				bprintf(b, "%s{", fams[f].name);
				prom_label(b, "queue", ms[i].name, 1);
				prom_label(b, "priority", prio, 0);
				bprintf(b, "} %" PRIu64 "\n", v);
			}
		}
	}
}

/* ipcq_queue_up: 1 for each queue that could be read, 0 for the others. */
static void prom_up(struct buf *b, const struct qmon *ms, size_t n)
{
	prom_head(b, "ipcq_queue_up", "gauge", "1 when the queue could be read, 0 otherwise.");
	for (size_t i = 0; i < n; i++) {
		bput(b, "ipcq_queue_up{");
		prom_label(b, "queue", ms[i].name, 1);
		bprintf(b, "} %d\n", ms[i].q && !ms[i].err && ms[i].cur.valid);
	}
}

static void prom_all(struct buf *b, struct qmon *ms, size_t n)
{
	static const char *const states[2] = { "dead", "alive" };

	prom_up(b, ms, n);
	/* the group metrics only when some queue has groups */
	int groups = 0;
	for (size_t i = 0; i < n; i++)
		groups |= ms[i].q && !ms[i].err && ms[i].cur.valid && ms[i].cur.ng > 0;
	for (size_t k = 0; k < sizeof(qmetrics) / sizeof(qmetrics[0]); k++) {
		int per_group = strncmp(qmetrics[k].name, "ipcq_group_", 11) == 0;
		if (per_group && !groups)
			continue;
		prom_head(b, qmetrics[k].name, qmetrics[k].type, qmetrics[k].help);
		for (size_t i = 0; i < n; i++) {
			if (!ms[i].q || ms[i].err || !ms[i].cur.valid)
				continue;
			if (!per_group)
				prom_sample(b, k, &ms[i], NULL);
			for (int g = 0; per_group && g < ms[i].cur.ng; g++)
				prom_sample(b, k, &ms[i], &ms[i].cur.groups[g]);
		}
	}
	prom_lanes(b, ms, n);
	prom_head(b, "ipcq_queue_side_entries", "gauge", "Side-ring entries by reason.");
	for (size_t i = 0; i < n; i++) {
		if (!ms[i].q || ms[i].err || !ms[i].cur.valid)
			continue;
		for (unsigned r = 1; r <= IPCQ_REASON_TOO_LARGE; r++) {
			bput(b, "ipcq_queue_side_entries{");
			prom_label(b, "queue", ms[i].name, 1);
			prom_label(b, "reason", reason_name(r), 0);
			bprintf(b, "} %u\n", side_count(&ms[i].cur.st, r));
		}
	}
	prom_head(b, "ipcq_queue_participants", "gauge", "Participants in the table, by liveness.");
	for (size_t i = 0; i < n; i++) {
		if (!ms[i].q || ms[i].err || !ms[i].cur.valid)
			continue;
		struct derived d;
		derive(&ms[i], &d);
		for (int s = 1; s >= 0; s--) {
			bput(b, "ipcq_queue_participants{");
			prom_label(b, "queue", ms[i].name, 1);
			prom_label(b, "state", states[s], 0);
			bprintf(b, "} %u\n", s ? d.alive : d.dead);
		}
	}
	prom_head(b, "ipcq_queue_numa_pages", "gauge",
		  "Pages of the segment on each NUMA node, as seen through this process's mapping.");
	for (size_t i = 0; i < n; i++) {
		if (!ms[i].q || ms[i].err || !ms[i].cur.valid || !ms[i].numa_done || ms[i].numa_rc < 0)
			continue;
		for (unsigned nd = 0; nd < MAX_NODES; nd++) {
			char node[16];
			if (!ms[i].numa_pages[nd])
				continue;
			snprintf(node, sizeof(node), "%u", nd);
			bput(b, "ipcq_queue_numa_pages{");
			prom_label(b, "queue", ms[i].name, 1);
			prom_label(b, "node", node, 0);
			bprintf(b, "} %" PRIu64 "\n", ms[i].numa_pages[nd]);
		}
	}
	prom_head(b, "ipcq_participant_up", "gauge",
		  "1 while the participant's process holds its liveness lock, 0 once it died.");
	for (size_t i = 0; i < n; i++) {
		if (!ms[i].q || ms[i].err || !ms[i].cur.valid)
			continue;
		for (int k = 0; k < ms[i].cur.n; k++) {
			bput(b, "ipcq_participant_up{");
			prom_part_labels(b, &ms[i], &ms[i].cur.parts[k]);
			bprintf(b, "} %u\n", ms[i].cur.parts[k].alive ? 1u : 0u);
		}
	}
	prom_head(b, "ipcq_participant_attach_timestamp_seconds", "gauge",
		  "When the participant attached, Unix time.");
	for (size_t i = 0; i < n; i++) {
		if (!ms[i].q || ms[i].err || !ms[i].cur.valid)
			continue;
		for (int k = 0; k < ms[i].cur.n; k++) {
			bput(b, "ipcq_participant_attach_timestamp_seconds{");
			prom_part_labels(b, &ms[i], &ms[i].cur.parts[k]);
			bput(b, "} ");
			prom_value(b, (double)ms[i].cur.parts[k].attach_ns / 1e9);
			bputc(b, '\n');
		}
	}
	for (size_t k = 0; k < sizeof(pmetrics) / sizeof(pmetrics[0]); k++) {
		prom_head(b, pmetrics[k].name, pmetrics[k].type, pmetrics[k].help);
		for (size_t i = 0; i < n; i++) {
			if (!ms[i].q || ms[i].err || !ms[i].cur.valid)
				continue;
			for (int p = 0; p < ms[i].cur.n; p++) {
				uint64_t v;
				memcpy(&v, (const char *)&ms[i].cur.parts[p] + pmetrics[k].off, sizeof(v));
				bprintf(b, "%s{", pmetrics[k].name);
				prom_part_labels(b, &ms[i], &ms[i].cur.parts[p]);
				bput(b, "} ");
				prom_value(b, (double)v * pmetrics[k].scale);
				bputc(b, '\n');
			}
		}
	}
	prom_head(b, "ipcq_app_counter", "untyped",
		  "Application counters a participant sets (ipcq_app_counter_set), by name.");
	for (size_t i = 0; i < n; i++) {
		if (!ms[i].q || ms[i].err || !ms[i].cur.valid)
			continue;
		for (int p = 0; p < ms[i].cur.n; p++) {
			for (int k = 0; k < ms[i].cur.app[p].n; k++) {
				bput(b, "ipcq_app_counter{");
				prom_part_labels(b, &ms[i], &ms[i].cur.parts[p]);
				prom_label(b, "counter", ms[i].cur.app[p].c[k].name, 0);
				bprintf(b, "} %" PRIu64 "\n", ms[i].cur.app[p].c[k].value);
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* Queue sets                                                          */
/* ------------------------------------------------------------------ */

struct qset {
	struct qmon *m;
	size_t n, cap;
};

static int list_cb(const char *name, void *arg)
{
	struct qset *s = arg;
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->m[i].name, name) == 0) {
			s->m[i].listed = 1;
			return 0;
		}
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		void *p = realloc(s->m, cap * sizeof(*s->m));
		if (!p)
			die_oom();
		s->m = p;
		s->cap = cap;
	}
	struct qmon *m = &s->m[s->n];
	int rc = qmon_open(m, name);
	if (rc == -ENOENT) {
		/* removed between the listing and the open */
		memset(m, 0, sizeof(*m));
		return 0;
	}
	m->listed = 1;
	s->n++;
	return 0;
}

static int qmon_cmp(const void *a, const void *b)
{
	return strcmp(((const struct qmon *)a)->name, ((const struct qmon *)b)->name);
}

/* Bring the set up to date with /dev/shm: open new queues, drop vanished ones. */
static int qset_refresh(struct qset *s)
{
	for (size_t i = 0; i < s->n; i++)
		s->m[i].listed = 0;
	int rc = ipcq_list(list_cb, s);
	if (rc < 0)
		return rc;
	size_t w = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (s->m[i].listed)
			s->m[w++] = s->m[i];
		else
			qmon_close(&s->m[i]);
	}
	s->n = w;
	qsort(s->m, s->n, sizeof(*s->m), qmon_cmp);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Terminal                                                            */
/* ------------------------------------------------------------------ */

static volatile sig_atomic_t g_quit_sig;
static volatile sig_atomic_t g_winch;
static volatile sig_atomic_t g_tstp;

static struct termios g_saved_tio;
static int g_tio_saved;
static int g_screen_on;

static void on_signal(int sig)
{
	if (sig == SIGWINCH)
		g_winch = 1;
	else if (sig == SIGTSTP)
		g_tstp = 1;
	else
		g_quit_sig = sig;
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: a signal interrupts poll() and the loop sees the flag at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	sigaction(SIGTSTP, &sa, NULL);
}

static void write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		s += w;
		n -= (size_t)w;
	}
}

static void write_str(int fd, const char *s)
{
	write_all(fd, s, strlen(s));
}

/* Non-canonical, no echo: a key press arrives at once and is not shown. */
static void term_enter(int use_stdin)
{
	if (use_stdin && tcgetattr(STDIN_FILENO, &g_saved_tio) == 0) {
		struct termios t = g_saved_tio;
		t.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
		t.c_cc[VMIN] = 0;
		t.c_cc[VTIME] = 0;
		if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
			g_tio_saved = 1;
	}
	/* alternate screen, cursor hidden, screen cleared */
	write_str(STDOUT_FILENO, "\033[?1049h\033[?25l\033[H\033[2J");
	g_screen_on = 1;
}

static void term_leave(void)
{
	if (g_screen_on) {
		write_str(STDOUT_FILENO, "\033[?25h\033[?1049l");
		g_screen_on = 0;
	}
	if (g_tio_saved) {
		tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_tio);
		g_tio_saved = 0;
	}
}

static void term_size(int *cols, int *rows)
{
	struct winsize ws;
	*cols = 0;
	*rows = 0;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
		*cols = ws.ws_col;
		*rows = ws.ws_row;
		return;
	}
	const char *c = getenv("COLUMNS");
	if (c)
		*cols = atoi(c);
}

/* Draw a frame: each line cut to the width, the rest of the screen cleared. */
static void screen_draw(const struct buf *b, int cols, int rows)
{
	struct buf o = { 0 };
	const char *p = b->p ? b->p : "";
	int row = 0;

	bput(&o, "\033[H");
	while (*p && (rows <= 0 || row < rows)) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		size_t show = cols > 0 && len > (size_t)cols ? (size_t)cols : len;
		if (rows > 0 && row == rows - 1 && nl && nl[1]) {
			/* last line of the screen and more to come: say so */
			bprintf(&o, "%.*s", cols > 0 ? cols : 80, "... (window too small for the rest)");
			bput(&o, "\033[K");
			row++;
			break;
		}
		for (size_t i = 0; i < show; i++)
			bputc(&o, p[i]);
		bput(&o, "\033[K");
		row++;
		p += len;
		if (*p == '\n')
			p++;
		if (*p && (rows <= 0 || row < rows))
			bput(&o, "\r\n");
	}
	bput(&o, "\033[J");
	write_all(STDOUT_FILENO, o.p, o.len);
	free(o.p);
}

/*
 * Wait up to @secs, returning early on 'q' (1), a signal, or a window
 * change (0).  Reads keys only when stdin is the terminal in raw mode.
 */
static int wait_key(double secs, int keys)
{
	uint64_t end = mono_ns() + (uint64_t)(secs * 1e9);
	for (;;) {
		if (g_quit_sig || g_winch || g_tstp)
			return 0;
		uint64_t now = mono_ns();
		if (now >= end)
			return 0;
		int ms = (int)((end - now + 999999) / 1000000);
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN, .revents = 0 };
		int rc = poll(keys ? &pfd : NULL, keys ? 1 : 0, ms);
		if (rc > 0 && (pfd.revents & POLLIN)) {
			char k[64];
			ssize_t n = read(STDIN_FILENO, k, sizeof(k));
			if (n == 0)
				keys = 0; /* end of input: only the timer and signals now */
			for (ssize_t i = 0; i < n; i++)
				if (k[i] == 'q' || k[i] == 'Q')
					return 1;
			if (n > 0 && memchr(k, ' ', (size_t)n))
				return 0; /* space: refresh now */
		} else if (rc > 0) {
			keys = 0; /* hangup or error on stdin */
		}
	}
}

/* ------------------------------------------------------------------ */
/* Main                                                                */
/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ipcq-stat [OPTIONS] [NAME]\n"
		"Show ipcq queues: every queue on this machine, or the queue NAME in detail.\n"
		"Queues are opened read-only: ipcq-stat never changes a queue.\n"
		"\n"
		"  -w, --watch [SECS]  refresh in place every SECS seconds (default 1; 0.01..86400,\n"
		"                      0 for the fastest, 0.01) until q\n"
		"  -i, --interval SECS time between the two samples of a rate (default 0.2)\n"
		"  -n, --count N       with --watch: stop after N refreshes (refused without it)\n"
		"  -j, --json          JSON: one object per queue, an array without NAME\n"
		"                      (with --watch: one compact document per line and refresh)\n"
		"  -p, --prometheus    Prometheus text exposition format 0.0.4 (not with --json);\n"
		"                      a NAME that cannot be read still gives ipcq_queue_up 0\n"
		"      --any-owner     open queues of other users too (refused by default:\n"
		"                      their owner controls what this program reads)\n"
		"  -h, --help          this help\n"
		"  -V, --version       version of ipcq-stat and of the library\n"
		"\n"
		"Keys in watch mode: q quits, space refreshes now.\n"
		"Exit status: 0 success, 1 error (no such queue, permission, another user's\n"
		"queue, corrupt, truncated or foreign segment, bad usage).\n");
}

__attribute__((format(printf, 1, 2))) static int bad_usage(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '" PROG " --help'.\n");
	return 1;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	int names = 0;
	int end_opts = 0;

	o->format = FMT_TEXT;
	o->watch = 0;
	o->interval = DEFAULT_WATCH;
	o->sample = DEFAULT_SAMPLE;
	o->count = 0;
	o->name = NULL;
	o->any_owner = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		char opt[32];

		if (end_opts || a[0] != '-' || a[1] == '\0') {
			if (names++)
				return bad_usage("one queue name at most (got '%s' too)", a);
			o->name = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			end_opts = 1;
			continue;
		}
		/* --opt=value */
		if (a[1] == '-' && strchr(a, '=')) {
			size_t l = (size_t)(strchr(a, '=') - a);
			if (l >= sizeof(opt))
				return bad_usage("unknown option '%s'", a);
			memcpy(opt, a, l);
			opt[l] = '\0';
			val = a + l + 1;
			a = opt;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			printf(PROG " %d.%d.%d (library %s)\n", IPCQ_VERSION_MAJOR, IPCQ_VERSION_MINOR,
			       IPCQ_VERSION_PATCH, ipcq_version_string());
			exit(0);
		} else if (strcmp(a, "-j") == 0 || strcmp(a, "--json") == 0 ||
			   strcmp(a, "-p") == 0 || strcmp(a, "--prometheus") == 0) {
			enum format f = a[1] == 'j' || a[2] == 'j' ? FMT_JSON : FMT_PROM;
			if (o->format != FMT_TEXT && o->format != f)
				return bad_usage("%s", "--json and --prometheus: one format at a time");
			o->format = f;
		} else if (strcmp(a, "--any-owner") == 0 && !val) {
			o->any_owner = 1;
		} else if (strcmp(a, "-w") == 0 || strcmp(a, "--watch") == 0) {
			o->watch = 1;
			/* an optional number right after -w is the interval: a
			 * number out of range is an error, not a queue name (a
			 * queue named like a number goes after the interval or
			 * after --) */
			if (!val && i + 1 < argc && parse_seconds(argv[i + 1], &o->interval, 1) != -1)
				val = argv[++i];
			if (val && parse_seconds(val, &o->interval, 1))
				return bad_usage("bad watch interval '%s' (seconds: 0.01..86400, or 0 for "
						 "the fastest refresh, 0.01)", val);
		} else if (strcmp(a, "-i") == 0 || strcmp(a, "--interval") == 0) {
			if (!val && i + 1 < argc)
				val = argv[++i];
			if (parse_seconds(val, &o->sample, 0))
				return bad_usage("bad sample interval '%s' (seconds, 0.01..86400)",
						 val ? val : "");
		} else if (strcmp(a, "-n") == 0 || strcmp(a, "--count") == 0) {
			char *end;
			if (!val && i + 1 < argc)
				val = argv[++i];
			errno = 0;
			o->count = val ? strtol(val, &end, 10) : -1;
			if (!val || errno || *end || end == val || o->count < 1)
				return bad_usage("bad count '%s' (1 or more)", val ? val : "");
		} else {
			return bad_usage("unknown option '%s'", a);
		}
	}
	if (o->format == FMT_PROM && o->watch)
		return bad_usage("%s", "--prometheus is a one-shot format; scrape it instead of --watch");
	if (o->count && !o->watch)
		return bad_usage("%s", "-n (--count) counts the refreshes of --watch: give -w too");
	return 0;
}

/* Render the frame for the queue set into @b. */
static void render(struct buf *b, const struct options *o, struct qset *s, int single,
		   int cols, int pretty)
{
	if (o->format == FMT_PROM) {
		prom_all(b, s->m, s->n);
		return;
	}
	if (o->format == FMT_JSON) {
		struct jw j = { b, pretty, 0, { 0 } };
		if (single) {
			json_queue(&j, &s->m[0]);
		} else {
			jw_open(&j, NULL, '[');
			for (size_t i = 0; i < s->n; i++)
				json_queue(&j, &s->m[i]);
			jw_close(&j, ']');
		}
		bputc(b, '\n');
		return;
	}
	if (single)
		text_queue(b, &s->m[0], cols);
	else
		text_list(b, s->m, s->n, cols);
}

static void sample_all(struct qset *s, int want_numa)
{
	for (size_t i = 0; i < s->n; i++)
		qmon_sample(&s->m[i], want_numa);
}

/* Why queue @name could not be opened or read, on stderr. */
static void print_err(const char *name, int err, uint64_t want)
{
	char hint[1400];
	long uid = refused_owner(name, err);

	if (uid >= 0) {
		fprintf(stderr, PROG ": %s: operation not permitted: the queue is owned by uid %ld, "
				"not by you (uid %u); --any-owner opens it if you trust that user\n",
			name, uid, (unsigned)geteuid());
		return;
	}
	fprintf(stderr, PROG ": %s: %s%s\n", name, ipcq_strerror(err),
		err_hint(hint, sizeof(hint), name, err, want));
}

/*
 * A named queue that cannot be read: the error on stderr and, with
 * --prometheus, its ipcq_queue_up 0 on stdout (as the list gives it), so
 * that a textfile collector keeps the series.  Returns 1, the exit status.
 */
static int queue_failed(const struct options *o, struct qmon *m, int err, uint64_t want)
{
	print_err(m->name, err, want);
	if (o->format == FMT_PROM) {
		struct buf b = { 0 };
		prom_up(&b, m, 1);
		if (b.p)
			fputs(b.p, stdout);
		free(b.p);
		fflush(stdout);
	}
	return 1;
}

static int run_once(const struct options *o, struct qset *s, int single)
{
	struct buf b = { 0 };
	int cols = 0, rows = 0;

	sample_all(s, o->format != FMT_TEXT || single);
	if (o->format != FMT_PROM) {
		struct timespec ts = { (time_t)o->sample,
				       (long)((o->sample - (double)(time_t)o->sample) * 1e9) };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		sample_all(s, 0);
	}
	if (single && s->m[0].err)
		return queue_failed(o, &s->m[0], s->m[0].err, s->m[0].prev.st.info.segment_size);
	if (isatty(STDOUT_FILENO))
		term_size(&cols, &rows);
	render(&b, o, s, single, cols, 1);
	if (b.p)
		fputs(b.p, stdout);
	free(b.p);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int run_watch(const struct options *o, struct qset *s, int single)
{
	int tty = isatty(STDOUT_FILENO) && o->format == FMT_TEXT;
	int keys = tty && isatty(STDIN_FILENO);
	int cols = 0, rows = 0, rc = 0;
	long frames = 0;

	install_signals();
	if (tty) {
		term_enter(keys);
		term_size(&cols, &rows);
	}
	sample_all(s, 1);
	int quit = wait_key(o->sample < o->interval ? o->sample : o->interval, keys);
	while (!quit && !g_quit_sig) {
		if (g_tstp) {
			/* Ctrl-Z: give the terminal back, stop, take it again on SIGCONT */
			g_tstp = 0;
			if (tty)
				term_leave();
			signal(SIGTSTP, SIG_DFL);
			raise(SIGTSTP);
			install_signals();
			if (tty)
				term_enter(keys);
			g_winch = 1;
		}
		if (g_winch) {
			g_winch = 0;
			if (tty) {
				term_size(&cols, &rows);
				write_str(STDOUT_FILENO, "\033[2J");
			}
		}
		if (!single && qset_refresh(s) < 0) {
			rc = 1;
			break;
		}
		sample_all(s, 1);
		if (single && s->m[0].err && !s->m[0].gone) {
			rc = s->m[0].err;
			break;
		}
		struct buf b = { 0 };
		if (tty) {
			char when[32];
			time_t t = time(NULL);
			struct tm tm;
			strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&t, &tm));
			bprintf(&b, PROG " %s - every %gs - %s - q quits\n", ipcq_version_string(),
				o->interval, when);
			if (!single)
				bprintf(&b, "%zu queue%s\n", s->n, s->n == 1 ? "" : "s");
			bputc(&b, '\n');
		}
		render(&b, o, s, single, cols, 0);
		if (tty) {
			screen_draw(&b, cols, rows);
		} else {
			if (b.p)
				fputs(b.p, stdout);
			if (o->format == FMT_TEXT)
				fputc('\n', stdout);
			if (fflush(stdout) != 0)
				quit = 1;
		}
		free(b.p);
		for (size_t i = 0; i < s->n; i++)
			s->m[i].reopened = 0; /* said once */
		if (o->count && ++frames >= o->count)
			break;
		if (!quit)
			quit = wait_key(o->interval, keys);
	}
	if (tty)
		term_leave();
	if (rc < 0) {
		print_err(s->m[0].name, rc, s->m[0].prev.st.info.segment_size);
		rc = 1;
	}
	if (g_quit_sig) {
		/* die of the signal, as the shell expects, now that the terminal is back */
		int sig = g_quit_sig;
		signal(sig, SIG_DFL);
		raise(sig);
	}
	return rc;
}

int main(int argc, char **argv)
{
	struct options o;
	struct qset s = { 0 };
	int rc;

	if (parse_args(argc, argv, &o))
		return 1;
	if (o.any_owner)
		g_open_flags |= IPCQ_OPEN_ANY_OWNER;
	install_sigbus();
	if (o.name) {
		s.m = calloc(1, sizeof(*s.m));
		if (!s.m)
			die_oom();
		rc = qmon_open(&s.m[0], o.name);
		if (rc < 0) {
			queue_failed(&o, &s.m[0], rc, 0);
			free(s.m);
			return 1;
		}
		s.n = 1;
	} else {
		rc = qset_refresh(&s);
		if (rc < 0) {
			fprintf(stderr, PROG ": cannot list /dev/shm: %s\n", ipcq_strerror(rc));
			return 1;
		}
	}
	rc = o.watch ? run_watch(&o, &s, o.name != NULL) : run_once(&o, &s, o.name != NULL);
	for (size_t i = 0; i < s.n; i++)
		qmon_close(&s.m[i]);
	free(s.m);
	return rc;
}
