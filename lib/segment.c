/*
 * segment.c - the shared-memory segment: create, validate, map, unlink.
 *
 * Owns: the segment file /dev/shm/ipcq.<name>, its header, and the
 * process-wide table of mappings (one mapping per segment per process, so
 * that every handle of a process on one queue sees the same addresses:
 * cheaper, and ThreadSanitizer can then follow threads that use different
 * handles).
 *
 * Writes to shared memory: the whole segment while it is being built in a
 * file that has no name yet (nobody else can see it); nothing afterwards.
 *
 * Invariants:
 *  - a segment is visible under its name only once it is complete: it is
 *    built in an unnamed file (O_TMPFILE), reserved in full, initialized,
 *    and then linked to its name with linkat(), which fails rather than
 *    replaces anything already there;
 *  - nothing outlives a creator killed before that link: the unnamed file
 *    goes with its last descriptor.  Where O_TMPFILE is missing, the file
 *    is built under a hidden temporary name (".ipcq-new.", which no queue
 *    name can take) that its creator holds an OFD lock on while it builds;
 *    ipcq_sweep(), which every create runs first, removes those that no
 *    live creator holds;
 *  - nothing is ever opened through a symbolic link (O_NOFOLLOW);
 *  - ipcq_open() trusts no byte of the segment, and by default no segment
 *    it does not own: the file must belong to the caller's effective uid
 *    (IPCQ_OPEN_ANY_OWNER lifts this) and be neither readable nor writable
 *    by others; the header is read with pread() into private memory, every
 *    field is checked against the layout this build computes and against
 *    the real file size, and only the private copy is used afterwards.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ipcq_internal.h"

struct ipcq_map {
	dev_t dev;
	ino_t ino;
	uint8_t *base;
	uint64_t size;
	int prot;
	unsigned refs;
	struct ipcq_map *next;
};

static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ipcq_map *maps;

struct layout {
	uint32_t slot_size;
	uint32_t lease_size;
	uint32_t side_size;
	uint64_t off_control;
	uint64_t off_participants;
	uint64_t off_ring;
	uint64_t off_leases;
	uint64_t off_side;
	uint64_t off_dedup;
	uint64_t off_groups;
	uint64_t off_gwords;
	uint64_t off_lanes;
	uint64_t total;
};

uint64_t ipcq__now_ns(int clock)
{
	return ipcq__clock_ns(clock);
}

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/*
 * The format signature: the sizes and key offsets of every shared struct
 * and the line size, hashed (FNV-1a).  Two builds that would lay out a
 * segment differently disagree here.
 */
uint32_t ipcq__format_signature(void)
{
	const uint64_t v[] = {
		sizeof(struct ipcq_shm_header),
		sizeof(struct ipcq_shm_control),
		offsetof(struct ipcq_shm_control, deq),
		offsetof(struct ipcq_shm_control, data_waiters),
		offsetof(struct ipcq_shm_control, space_waiters),
		sizeof(struct ipcq_shm_participant),
		offsetof(struct ipcq_shm_participant, prod_pos),
		offsetof(struct ipcq_shm_participant, ctr),
		sizeof(struct ipcq_shm_slot),
		offsetof(struct ipcq_shm_slot, len),
		sizeof(struct ipcq_shm_slot_tail),
		sizeof(struct ipcq_shm_lease),
		sizeof(struct ipcq_shm_side),
		offsetof(struct ipcq_shm_participant, move_side),
		offsetof(struct ipcq_shm_control, redeliverable),
		offsetof(struct ipcq_shm_control, pressure),
		sizeof(struct ipcq_shm_dedup),
		offsetof(struct ipcq_shm_dedup, consumed_max),
		offsetof(struct ipcq_shm_participant, dedup),
		sizeof(struct ipcq_shm_group),
		offsetof(struct ipcq_shm_group, tail),
		offsetof(struct ipcq_shm_control, floor),
		offsetof(struct ipcq_shm_participant, group),
		offsetof(struct ipcq_shm_lease, group),
		sizeof(struct ipcq_shm_lane),
		offsetof(struct ipcq_shm_lease, lane),
		IPCQ_LINE,
		IPCQ_HEADER_SIZE,
		_Alignof(uint64_t),
	};
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		for (int b = 0; b < 8; b++) {
			h ^= (uint8_t)(v[i] >> (8 * b));
			h *= 16777619u;
		}
	return h;
}

static int is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

/* The layout of a queue with these parameters; -EFBIG if too large. */
static int layout_compute(uint32_t capacity, uint32_t max_msg, uint32_t max_parts,
			  uint32_t leases, uint32_t side, uint32_t dedup, uint32_t groups,
			  uint32_t flags, uint32_t lanes, struct layout *l)
{
	/* a keyed queue's slots have a key word before the tail */
	uint32_t key = (flags & IPCQ_CF_KEYED) ? 8 : 0;
	l->slot_size = (uint32_t)round_up((uint64_t)IPCQ_SLOT_HDR + max_msg + key + IPCQ_SLOT_TAIL, IPCQ_CL);
	l->lease_size = (uint32_t)round_up((uint64_t)IPCQ_LEASE_HDR + max_msg, IPCQ_CL);
	l->side_size = (uint32_t)round_up((uint64_t)IPCQ_SIDE_HDR + max_msg, IPCQ_CL);
	l->off_control = IPCQ_HEADER_SIZE;
	l->off_participants = l->off_control + sizeof(struct ipcq_shm_control);
	l->off_ring = round_up(l->off_participants +
				       (uint64_t)max_parts * sizeof(struct ipcq_shm_participant),
			       IPCQ_LINE);
	/* lane l's slots are the l-th run of capacity slots */
	l->off_leases = round_up(l->off_ring + (uint64_t)lanes * capacity * l->slot_size, IPCQ_LINE);
	l->off_side = round_up(l->off_leases + (uint64_t)leases * l->lease_size, IPCQ_LINE);
	l->off_dedup = round_up(l->off_side + (uint64_t)side * l->side_size, IPCQ_LINE);
	l->off_groups = round_up(l->off_dedup + (uint64_t)dedup * sizeof(struct ipcq_shm_dedup),
				 IPCQ_LINE);
	l->off_gwords = l->off_groups + (uint64_t)groups * sizeof(struct ipcq_shm_group);
	l->off_lanes = round_up(l->off_gwords + (uint64_t)groups * capacity * sizeof(uint64_t),
				IPCQ_LINE);
	l->total = round_up(l->off_lanes + (uint64_t)(lanes - 1) * sizeof(struct ipcq_shm_lane), 4096);
	return l->total > IPCQ_SEGMENT_MAX ? -EFBIG : 0;
}

int ipcq__check_name(const char *name)
{
	size_t n;

	if (!name || !name[0] || name[0] == '.')
		return -EINVAL;
	for (n = 0; name[n]; n++) {
		char c = name[n];
		if (n >= IPCQ_NAME_MAX)
			return -ENAMETOOLONG;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return -EINVAL;
	}
	return 0;
}

/*
 * A name as a detail shows it: printable ASCII as it is, anything else as
 * \xNN, cut with "..." beyond 64 bytes (a name in a detail can be anything
 * a caller passed, and the tools print it on a terminal).
 */
static const char *name_show(char *buf, size_t cap, const char *name)
{
	size_t o = 0;

	for (size_t i = 0; name[i] && o + 8 < cap; i++) {
		unsigned char c = (unsigned char)name[i];
		if (i == 64) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
	}
	buf[o] = '\0';
	return buf;
}

#define NAME_RULE "1..200 bytes of letters, digits, '.', '_' and '-', not starting with '.'"

/* ipcq__check_name() for the calls that take a name from their caller:
 * the same answer, and the detail of a refusal. */
IPCQ_COLD static int check_name_detail(const char *name)
{
	char show[300];
	int rc = ipcq__check_name(name);

	if (rc == 0)
		return 0;
	if (!name) {
		ipcq__errdetail("name is NULL: " NAME_RULE);
	} else if (!name[0]) {
		ipcq__errdetail("name is empty: " NAME_RULE);
	} else if (rc == -ENAMETOOLONG) {
		ipcq__errdetail("name '%s' is longer than %u bytes", name_show(show, sizeof(show), name),
				IPCQ_NAME_MAX);
	} else if (name[0] == '.') {
		ipcq__errdetail("name '%s': may not start with '.' (hidden files in /dev/shm are not "
				"queues)", name_show(show, sizeof(show), name));
	} else {
		size_t i = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					"0123456789._-");
		unsigned char c = (unsigned char)name[i];
		char what[8];
		if (c >= 0x20 && c < 0x7f)
			snprintf(what, sizeof(what), "'%c'", c);
		else
			snprintf(what, sizeof(what), "\\x%02x", c);
		ipcq__errdetail("name '%s': only letters, digits, '.', '_' and '-' (%s at byte %zu)",
				name_show(show, sizeof(show), name), what, i);
	}
	return rc;
}

static void make_path(char *buf, size_t cap, const char *name)
{
	size_t p = strlen(IPCQ_PATH_PREFIX);
	memcpy(buf, IPCQ_PATH_PREFIX, p);
	size_t n = strlen(name);
	if (p + n + 1 > cap)
		n = cap - p - 1;
	memcpy(buf + p, name, n);
	buf[p + n] = '\0';
}

static int check_strategy(uint32_t s)
{
	return s == IPCQ_WAIT_ADAPTIVE || s == IPCQ_WAIT_BUSY_POLL || s == IPCQ_WAIT_YIELD;
}

/* The detail of a cfg->size that no version of the structure has. */
IPCQ_COLD static int bad_config_size(uint32_t size)
{
	ipcq__errdetail("config size %u: not the size of a struct ipcq_config (%zu..%zu bytes); "
			"start from IPCQ_CONFIG_INIT or ipcq_config_init()",
			size, offsetof(struct ipcq_config, max_groups), sizeof(struct ipcq_config));
	return -EINVAL;
}

/* The mode rule, said for the mode given. */
IPCQ_COLD static void bad_mode(uint32_t mode)
{
	const char *why;

	if (mode & ~0777u)
		why = "only permission bits (0777) may be set";
	else if (mode & 0007u)
		why = "others may not read or write a queue";
	else if ((mode & 0700u) != 0600u)
		why = "the owner reads and writes it, nothing more or less";
	else
		why = "the group gets no access, read (r) or read and write (rw), nothing else";
	ipcq__errdetail("mode 0%03o: %s; use 0600, 0640 or 0660", mode, why);
}

IPCQ_COLD static int check_config(const struct ipcq_config *c)
{
	if (c->size < offsetof(struct ipcq_config, max_groups) || c->size > sizeof(*c))
		return bad_config_size(c->size);
	if (!is_pow2(c->capacity) || c->capacity < IPCQ_CAPACITY_MIN ||
	    c->capacity > IPCQ_CAPACITY_MAX) {
		ipcq__errdetail("capacity %u is not a power of two in [%u, %u]", c->capacity,
				IPCQ_CAPACITY_MIN, IPCQ_CAPACITY_MAX);
		return -EINVAL;
	}
	if (c->max_msg_size < 1 || c->max_msg_size > IPCQ_MSG_SIZE_MAX) {
		ipcq__errdetail("max_msg_size %u is not in [1, %u] bytes", c->max_msg_size,
				IPCQ_MSG_SIZE_MAX);
		return -EINVAL;
	}
	/* owner rw always; group none, r or rw; others nothing */
	if (c->mode != 0600 && c->mode != 0640 && c->mode != 0660) {
		bad_mode(c->mode);
		return -EINVAL;
	}
	if (!check_strategy(c->wait_strategy)) {
		ipcq__errdetail("wait_strategy %u: a queue's default is IPCQ_WAIT_ADAPTIVE (1), "
				"IPCQ_WAIT_BUSY_POLL (2) or IPCQ_WAIT_YIELD (3)%s", c->wait_strategy,
				c->wait_strategy == IPCQ_WAIT_DEFAULT
					? "; IPCQ_WAIT_DEFAULT is for attach options only" : "");
		return -EINVAL;
	}
	if (c->spin_count > 1000000 || c->yield_count > 1000000) {
		ipcq__errdetail("%s %u is above 1000000",
				c->spin_count > 1000000 ? "spin_count" : "yield_count",
				c->spin_count > 1000000 ? c->spin_count : c->yield_count);
		return -EINVAL;
	}
	if (c->max_participants < 1 || c->max_participants > IPCQ_PARTICIPANTS_MAX) {
		ipcq__errdetail("max_participants %u is not in [1, %u]", c->max_participants,
				IPCQ_PARTICIPANTS_MAX);
		return -EINVAL;
	}
	if (c->side_capacity && (!is_pow2(c->side_capacity) || c->side_capacity > IPCQ_CAPACITY_MAX)) {
		ipcq__errdetail("side_capacity %u: 0 (no side ring), IPCQ_AUTO or a power of two up "
				"to %u", c->side_capacity, IPCQ_CAPACITY_MAX);
		return -EINVAL;
	}
	if (c->max_deliveries < 1 || c->max_deliveries > 255) {
		ipcq__errdetail("max_deliveries %u is not in [1, 255]", c->max_deliveries);
		return -EINVAL;
	}
	if (c->lease_capacity > IPCQ_CAPACITY_MAX) {
		ipcq__errdetail("lease_capacity %u: 0 (no ack mode), IPCQ_AUTO or at most %u",
				c->lease_capacity, IPCQ_CAPACITY_MAX);
		return -EINVAL;
	}
	if (c->grace_us < 100 || c->grace_us > 60000000) {
		ipcq__errdetail("grace_us %u is not in [100, 60000000] microseconds", c->grace_us);
		return -EINVAL;
	}
	if (c->dedup_capacity > IPCQ_PARTICIPANTS_MAX) {
		ipcq__errdetail("dedup_capacity %u is above %u", c->dedup_capacity,
				IPCQ_PARTICIPANTS_MAX);
		return -EINVAL;
	}
	if ((c->high_watermark || c->low_watermark) &&
	    (c->low_watermark < 1 || c->low_watermark >= c->high_watermark ||
	     c->high_watermark > c->capacity)) {
		ipcq__errdetail("watermarks high %u, low %u: both 0 (none), or 1 <= low_watermark < "
				"high_watermark <= capacity (%u)", c->high_watermark,
				c->low_watermark, c->capacity);
		return -EINVAL;
	}
	if (c->numa_node < IPCQ_NUMA_LOCAL || c->numa_node > 1023) {
		ipcq__errdetail("numa_node %d: a node number 0..1023, IPCQ_NUMA_ANY (-1) or "
				"IPCQ_NUMA_LOCAL (-2)", (int)c->numa_node);
		return -EINVAL;
	}
	if (c->flags & ~IPCQ_CF_KNOWN) {
		ipcq__errdetail("flags 0x%x: unknown IPCQ_CF_* bits 0x%x", c->flags,
				c->flags & ~IPCQ_CF_KNOWN);
		return -EINVAL;
	}
	if (c->ttl_ms > IPCQ_TTL_MAX_MS) {
		ipcq__errdetail("ttl_ms %u is above %u", c->ttl_ms, IPCQ_TTL_MAX_MS);
		return -EINVAL;
	}
	if ((c->flags & IPCQ_CF_EXPIRED_TO_SIDE) && !c->side_capacity) {
		ipcq__errdetail("IPCQ_CF_EXPIRED_TO_SIDE needs a side ring (side_capacity is 0)");
		return -EINVAL;
	}
	if (c->retry_base_us > IPCQ_RETRY_MAX_US || c->retry_max_us > IPCQ_RETRY_MAX_US ||
	    (c->retry_base_us && c->retry_max_us && c->retry_max_us < c->retry_base_us)) {
		ipcq__errdetail("retry backoff base %u us, max %u us: each at most %u (an hour), "
				"and max >= base (or 0)", c->retry_base_us, c->retry_max_us,
				IPCQ_RETRY_MAX_US);
		return -EINVAL;
	}
	if (c->retry_factor > 16) {
		ipcq__errdetail("retry_factor %u is not in [1, 16] (0: the default, 2)",
				c->retry_factor);
		return -EINVAL;
	}
	if (c->size > offsetof(struct ipcq_config, max_groups) && c->max_groups &&
	    (c->flags & IPCQ_CF_KEYED)) {
		ipcq__errdetail("IPCQ_CF_KEYED on a queue with consumer groups is not supported");
		return -ENOTSUP;
	}
	if (c->size > offsetof(struct ipcq_config, max_groups) && c->max_groups > IPCQ_GROUPS_MAX) {
		ipcq__errdetail("max_groups %u is above %u", c->max_groups, IPCQ_GROUPS_MAX);
		return -EINVAL;
	}
	if (c->priorities > IPCQ_PRIORITIES_MAX) {
		ipcq__errdetail("priorities %u is above %u", c->priorities, IPCQ_PRIORITIES_MAX);
		return -EINVAL;
	}
	if (c->priority_share > 50) {
		ipcq__errdetail("priority_share %u%% is above 50%% (0: strict priority)",
				c->priority_share);
		return -EINVAL;
	}
	if (c->priorities > 1 && (c->max_groups || (c->flags & IPCQ_CF_KEYED) ||
				  c->high_watermark)) {
		ipcq__errdetail("priorities with %s are not supported",
				c->max_groups ? "consumer groups (max_groups)"
				: (c->flags & IPCQ_CF_KEYED) ? "IPCQ_CF_KEYED" : "watermarks");
		return -ENOTSUP;
	}
	return 0;
}

/* ---- per-process mapping table ------------------------------------------ */

static int map_get(int fd, const struct stat *st, uint64_t size, int readonly,
		   struct ipcq_map **out)
{
	struct ipcq_map *m;
	int prot = readonly ? PROT_READ : PROT_READ | PROT_WRITE;
	int rc = 0;

	pthread_mutex_lock(&map_lock);
	for (m = maps; m; m = m->next)
		if (m->dev == st->st_dev && m->ino == st->st_ino && m->size == size &&
		    m->prot == prot) {
			m->refs++;
			goto out;
		}
	m = calloc(1, sizeof(*m));
	if (!m) {
		rc = -ENOMEM;
		goto out;
	}
	void *p = mmap(NULL, size, prot, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		rc = -errno;
		free(m);
		m = NULL;
		goto out;
	}
	m->dev = st->st_dev;
	m->ino = st->st_ino;
	m->base = p;
	m->size = size;
	m->prot = prot;
	m->refs = 1;
	m->next = maps;
	maps = m;
out:
	pthread_mutex_unlock(&map_lock);
	*out = m;
	return rc;
}

static void map_put(struct ipcq_map *m)
{
	struct ipcq_map **pp;

	pthread_mutex_lock(&map_lock);
	if (--m->refs == 0) {
		for (pp = &maps; *pp; pp = &(*pp)->next)
			if (*pp == m) {
				*pp = m->next;
				break;
			}
		munmap(m->base, m->size);
		free(m);
	}
	pthread_mutex_unlock(&map_lock);
}

/* ---- handles -------------------------------------------------------------- */

static struct ipcq *handle_new(const char *name)
{
	struct ipcq *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->fd = -1;
	q->lock_fd = -1;
	q->index = -1;
	snprintf(q->name, sizeof(q->name), "%s", name);
	return q;
}

/* Point the handle at the mapped segment, using validated header copy @h. */
static void handle_bind(struct ipcq *q, struct ipcq_map *m, const struct ipcq_shm_header *h)
{
	q->map = m;
	q->base = m->base;
	q->size = h->total_size;
	q->hdr = (struct ipcq_shm_header *)m->base;
	q->ctl = (struct ipcq_shm_control *)(m->base + h->off_control);
	q->parts = (struct ipcq_shm_participant *)(m->base + h->off_participants);
	q->ring0 = m->base + h->off_ring;
	q->leases = m->base + h->off_leases;
	q->side = m->base + h->off_side;
	q->dedup_tab = m->base + h->off_dedup;
	q->dedup_capacity = h->dedup_capacity;
	q->deqp = &q->ctl->deq;
	q->group = -1;
	q->max_groups = h->max_groups;
	if (h->max_groups) {
		q->groups = (struct ipcq_shm_group *)(m->base + h->off_groups);
		q->gwords = (uint64_t *)(void *)(m->base + h->off_gwords);
	}
	q->high_watermark = h->high_watermark;
	q->low_watermark = h->low_watermark;
	q->dedup = -1;
	q->lease_capacity = h->lease_capacity;
	q->lease_size = h->lease_size;
	q->side_capacity = h->side_capacity;
	q->side_size = h->side_size;
	q->max_deliveries = h->max_deliveries;
	q->numa_node = h->numa_node;
	q->grace_ns = (uint64_t)h->grace_us * 1000;
	q->retry_base_ns = (uint64_t)h->retry_base_us * 1000;
	q->retry_max_ns = (uint64_t)h->retry_max_us * 1000;
	q->retry_factor = h->retry_factor;
	q->expiry = (h->flags & IPCQ_CF_EXPIRY) != 0;
	q->take_odd = q->expiry || h->max_groups;
	q->expire_side = (h->flags & IPCQ_CF_EXPIRED_TO_SIDE) != 0 && h->side_capacity;
	q->keyed = (h->flags & IPCQ_CF_KEYED) != 0;
	ipcq__recv_odd_set(q);
	q->ttl_ns = (uint64_t)h->ttl_ms * 1000000u;
	q->adopted = -1;
	q->capacity = h->capacity;
	q->mask = h->capacity - 1;
	q->slot_size = h->slot_size;
	q->max_msg_size = h->max_msg_size;
	q->max_participants = h->max_participants;
	q->wait_strategy = h->wait_strategy;
	q->spin_count = h->spin_count;
	q->yield_count = h->yield_count;
	q->default_wait.strategy = h->wait_strategy;
	q->default_wait.spin = h->spin_count;
	q->default_wait.yield = h->yield_count;
	/* priority lanes: lane 0's view (the whole ring without them) */
	q->lanes = h->priorities;
	q->priority_share = h->priority_share;
	if (h->priorities > 1)
		q->lane_ctl = (struct ipcq_shm_lane *)(void *)(m->base + h->off_lanes);
	q->guard_every = h->priority_share ? (100u + h->priority_share / 2) / h->priority_share : 0;
	q->guard_lane = q->lanes > 1 ? q->lanes - 2 : 0;
	ipcq__lane_set(q, 0);
	ipcq__recv_odd_set(q);
}

static void handle_free(struct ipcq *q)
{
	if (q->map)
		map_put(q->map);
	if (q->fd >= 0)
		close(q->fd);
	free(q);
}

static void header_fill(struct ipcq_shm_header *h, const struct ipcq_config *c,
			const struct layout *l)
{
	memset(h, 0, sizeof(*h));
	h->magic = IPCQ_MAGIC;
	h->layout_version = IPCQ_LAYOUT_VERSION;
	h->format_sig = ipcq__format_signature();
	h->header_size = IPCQ_HEADER_SIZE;
	h->line_size = IPCQ_LINE;
	h->page_size = (uint32_t)sysconf(_SC_PAGESIZE);
	h->capacity = c->capacity;
	h->slot_size = l->slot_size;
	h->max_msg_size = c->max_msg_size;
	h->max_participants = c->max_participants;
	h->participant_size = sizeof(struct ipcq_shm_participant);
	h->wait_strategy = c->wait_strategy;
	h->spin_count = c->spin_count;
	h->yield_count = c->yield_count;
	h->mode = c->mode;
	h->numa_node = c->numa_node;
	h->created_ns = ipcq__now_ns(CLOCK_REALTIME);
	h->total_size = l->total;
	h->off_control = l->off_control;
	h->off_participants = l->off_participants;
	h->off_ring = l->off_ring;
	h->off_leases = l->off_leases;
	h->off_side = l->off_side;
	h->lease_capacity = c->lease_capacity;
	h->lease_size = l->lease_size;
	h->side_size = l->side_size;
	h->side_capacity = c->side_capacity;
	h->max_deliveries = c->max_deliveries;
	h->grace_us = c->grace_us;
	h->retry_base_us = c->retry_base_us;
	h->retry_max_us = c->retry_max_us;
	h->retry_factor = c->retry_factor ? c->retry_factor : 2;
	h->ttl_ms = c->ttl_ms;
	/* a time to live, or keeping expired messages, implies expiry */
	h->flags = c->flags;
	if (c->ttl_ms || (c->flags & IPCQ_CF_EXPIRED_TO_SIDE))
		h->flags |= IPCQ_CF_EXPIRY;
	h->off_dedup = l->off_dedup;
	h->dedup_capacity = c->dedup_capacity;
	h->max_groups = c->max_groups;
	if (c->max_groups) {
		h->off_groups = l->off_groups;
		h->off_gwords = l->off_gwords;
	}
	h->high_watermark = c->high_watermark;
	h->low_watermark = c->low_watermark;
	h->priorities = c->priorities;
	h->priority_share = c->priorities > 1 ? c->priority_share : 0;
	if (c->priorities > 1)
		h->off_lanes = l->off_lanes;
}

/* ---- building a segment before it has a name ----------------------------- */

#define SHM_DIR "/dev/shm"
#define TMP_PREFIX ".ipcq-new."

/*
 * The lock a creator holds on its named temporary file (the fallback
 * without O_TMPFILE) from just after it made the file until the file is
 * linked to its queue name or removed: an OFD write lock on byte 0, which
 * the kernel drops when the creator dies.  A temporary file that nobody
 * holds belongs to a dead creator.  (OFD locks, not POSIX ones, so that a
 * sweep in the creator's own process still sees the creator's lock.)
 */
static int tmp_lock(int fd, short type)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 1;
	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

int ipcq_sweep(void)
{
	const size_t plen = strlen(TMP_PREFIX);
	struct dirent *d;
	DIR *dir;
	int n = 0;

	dir = opendir(SHM_DIR);
	if (!dir)
		return -errno;
	int dfd = dirfd(dir);
	while ((d = readdir(dir))) {
		struct stat a, b;
		if (strncmp(d->d_name, TMP_PREFIX, plen) != 0)
			continue;
		/* a regular file only: never open a FIFO or a device planted there */
		if (fstatat(dfd, d->d_name, &a, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(a.st_mode))
			continue;
		/* not ours to judge (another user's) or already gone: skip */
		int fd = openat(dfd, d->d_name, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			continue;
		/*
		 * Remove it while holding its lock ourselves: a creator that made
		 * the file a moment ago and has not locked it yet either fails to
		 * lock it or, once it has, finds it unlinked (build_named()), and
		 * starts over under a new name.
		 */
		if (fstat(fd, &b) == 0 && b.st_dev == a.st_dev && b.st_ino == a.st_ino &&
		    tmp_lock(fd, F_WRLCK) == 0 &&
		    fstatat(dfd, d->d_name, &a, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino && unlinkat(dfd, d->d_name, 0) == 0)
			n++;
		close(fd);
	}
	closedir(dir);
	return n;
}

/* Debug builds can be told to take the fallback path, for its tests. */
static int tmpfile_disabled(void)
{
#if defined(IPCQ_DEBUG)
	const char *e = getenv("IPCQ_NO_TMPFILE");
	return e && *e && strcmp(e, "0") != 0;
#else
	return 0;
#endif
}

/*
 * The fallback: a file under a hidden temporary name, locked by us.  @tmp
 * receives the name.  Returns the descriptor or -errno.
 */
static int build_named(char *tmp, size_t cap, const char *name)
{
	static unsigned tmp_counter;

	for (int tries = 0;; tries++) {
		struct stat st;
		/* seq_cst, as the shim's fetch-add is: more than the uniqueness
		 * of the number among our threads needs; pairs with nothing */
		unsigned k = ipcq__fetch_add(&tmp_counter, 1u) + 1u;
		snprintf(tmp, cap, SHM_DIR "/" TMP_PREFIX "%d.%u.%s", (int)getpid(), k, name);
		int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		int rc = tmp_lock(fd, F_WRLCK);
		if (rc == 0) {
			rc = fstat(fd, &st) < 0 ? -errno : 0;
			if (rc == 0 && st.st_nlink > 0)
				return fd;
		}
		if (rc != 0 && rc != -EAGAIN && rc != -EACCES) {
			/* no lock to be had at all: take our file back out */
			unlink(tmp);
			close(fd);
			return rc;
		}
		/* a sweep that found it unlocked holds it (and removes it) or
		 * removed it already: start over under a new name */
		close(fd);
		if (tries == 8)
			return -EAGAIN;
	}
}

/*
 * The file a segment is built in: unnamed (O_TMPFILE, *named = 0) where
 * the kernel and /dev/shm support it and the link at the end can be made,
 * else the named fallback (*named = 1, its name in @tmp).
 */
static int build_file(char *tmp, size_t cap, const char *name, int *named)
{
#ifdef O_TMPFILE
	if (!tmpfile_disabled()) {
		int fd = open(SHM_DIR, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd >= 0) {
			char proc[64];
			/* without CAP_DAC_READ_SEARCH the link goes through /proc */
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
			if (access(proc, F_OK) == 0) {
				*named = 0;
				return fd;
			}
			close(fd);
		} else if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
			/* EISDIR: a kernel without O_TMPFILE opened the directory */
			return -errno;
		}
	}
#endif
	*named = 1;
	return build_named(tmp, cap, name);
}

/* Give the unnamed file @fd the name @path; never replaces (-EEXIST). */
static int link_unnamed(int fd, const char *path)
{
	char proc[64];

	/* needs CAP_DAC_READ_SEARCH; -ENOENT without it */
	if (linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != ENOENT && errno != EPERM)
		return -errno;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	return -errno;
}

int ipcq_create(const char *name, const struct ipcq_config *cfg, struct ipcq **out)
{
	struct ipcq_config c = IPCQ_CONFIG_INIT;
	struct ipcq_shm_header h;
	struct layout l;
	char path[sizeof(IPCQ_PATH_PREFIX) + IPCQ_NAME_MAX + 1];
	char tmp[sizeof(path) + 64];
	struct stat st;
	struct ipcq *q = NULL;
	struct ipcq_map *m = NULL;
	int rc, fd = -1, named = 0;

	ipcq__errdetail("%s", "");
	if (!out) {
		ipcq__errdetail("ipcq_create: out is NULL");
		return -EINVAL;
	}
	rc = check_name_detail(name);
	if (rc)
		return rc;
	if (cfg) {
		if (cfg->size < offsetof(struct ipcq_config, max_groups) || cfg->size > sizeof(c))
			return bad_config_size(cfg->size);
		memcpy(&c, cfg, cfg->size);
	}
	/* automatic table sizes scale with the ring, so that a queue of a few
	 * huge messages does not reserve hundreds of them for leases */
	if (c.lease_capacity == IPCQ_AUTO)
		c.lease_capacity = c.capacity < 256 ? c.capacity : 256;
	if (c.side_capacity == IPCQ_AUTO)
		c.side_capacity = c.capacity < 64 ? c.capacity : 64;
	rc = check_config(&c);
	if (rc)
		return rc;
	/* an unknown or memory-less node is refused before anything exists */
	rc = ipcq__numa_resolve(c.numa_node, &c.numa_node);
	if (rc)
		return rc;
	if (c.priorities == 0)
		c.priorities = 1;
	rc = layout_compute(c.capacity, c.max_msg_size, c.max_participants, c.lease_capacity,
			    c.side_capacity, c.dedup_capacity, c.max_groups, c.flags, c.priorities,
			    &l);
	if (rc) {
		ipcq__errdetail("the segment would be %llu bytes, above IPCQ_SEGMENT_MAX (%llu): "
				"lower capacity, max_msg_size, lease_capacity or side_capacity",
				(unsigned long long)l.total, (unsigned long long)IPCQ_SEGMENT_MAX);
		return rc;
	}

	make_path(path, sizeof(path), name);
	tmp[0] = '\0';
	q = handle_new(name);
	if (!q)
		return -ENOMEM;
	/* what dead creators of the fallback left behind (best effort) */
	(void)ipcq_sweep();
	fd = build_file(tmp, sizeof(tmp), name, &named);
	if (fd < 0) {
		rc = fd;
		fd = -1;
		goto fail;
	}
	/* the umask must not strip the group bits asked for */
	if (fchmod(fd, c.mode) < 0 || ftruncate(fd, (off_t)l.total) < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		goto fail_unlink;
	}
	rc = map_get(fd, &st, l.total, 0, &m);
	if (rc)
		goto fail_unlink;
	/* bind to the NUMA node before any page is touched */
	rc = ipcq__numa_bind(m->base, l.total, c.numa_node);
	if (rc)
		goto fail_unlink;
	/* tmpfs allocates on first touch: reserve everything now, so that a
	 * queue that does not fit fails here and not with SIGBUS later */
	rc = posix_fallocate(fd, 0, (off_t)l.total);
	if (rc) {
		rc = rc == EFBIG ? -ENOSPC : -rc;
		if (rc == -ENOSPC)
			ipcq__errdetail("/dev/shm has no room for the segment's %llu bytes",
					(unsigned long long)l.total);
		goto fail_unlink;
	}
	IPCQ_CRASHPOINT("create.reserved");
#ifdef MADV_POPULATE_WRITE
	/* prefault: map every page now rather than on the hot path */
	(void)madvise(m->base, l.total, MADV_POPULATE_WRITE);
#endif

	header_fill(&h, &c, &l);
	memcpy(m->base, &h, sizeof(h));
	handle_bind(q, m, &h);
	/* every slot free for the producer of its first lap: seq == index */
	for (uint32_t ln = 0; ln < c.priorities; ln++) {
		ipcq__lane_set(q, ln);
		for (uint64_t i = 0; i < c.capacity; i++)
			ipcq__slot(q, i)->seq = i;
	}
	ipcq__lane_use(q, 0);
	/* (group words are written by each group's creation) */
	/* The segment gets its name only now; a link never replaces. */
	if (named) {
		if (link(tmp, path) < 0) {
			rc = -errno;
			if (rc == -EEXIST)
				ipcq__errdetail("%s already exists", path);
			goto fail_unlink;
		}
		unlink(tmp);
		/* the queue's descriptor must not keep a byte of it locked */
		(void)tmp_lock(fd, F_UNLCK);
	} else {
		rc = link_unnamed(fd, path);
		if (rc == -EEXIST)
			ipcq__errdetail("%s already exists", path);
		if (rc)
			goto fail;
	}
	q->fd = fd;
	*out = q;
	return 0;

fail_unlink:
	if (named)
		unlink(tmp);
fail:
	if (fd >= 0)
		close(fd);
	if (m) {
		q->map = NULL;
		map_put(m);
	}
	free(q);
	return rc;
}

/* A header field that no queue of this layout can have. */
IPCQ_COLD static int bad_field(const char *field, unsigned long long v)
{
	ipcq__errdetail("segment header: %s = %llu is impossible (corrupt segment)", field, v);
	return -EBADMSG;
}

/* Validate a header copy against the file it came from. */
IPCQ_COLD static int header_check(const struct ipcq_shm_header *h, uint64_t file_size)
{
	struct layout l;

	if (h->magic != IPCQ_MAGIC) {
		ipcq__errdetail("not an ipcq queue: magic 0x%016llx, an ipcq segment starts with "
				"0x%016llx", (unsigned long long)h->magic,
				(unsigned long long)IPCQ_MAGIC);
		return -EBADMSG;
	}
	if (h->layout_version != IPCQ_LAYOUT_VERSION) {
		ipcq__errdetail("layout version %u, this build reads version %u: made by another "
				"ipcq version (use that version's library and tools)",
				h->layout_version, IPCQ_LAYOUT_VERSION);
		return -EPROTO;
	}
	if (h->format_sig != ipcq__format_signature()) {
		ipcq__errdetail("format signature 0x%08x, this build's is 0x%08x: made by a build "
				"that lays out the shared structures differently (another "
				"architecture, compiler or line size)", h->format_sig,
				ipcq__format_signature());
		return -EPROTO;
	}
	if (h->header_size != IPCQ_HEADER_SIZE)
		return bad_field("header_size", h->header_size);
	if (h->line_size != IPCQ_LINE)
		return bad_field("line_size", h->line_size);
	if (h->participant_size != sizeof(struct ipcq_shm_participant))
		return bad_field("participant_size", h->participant_size);
	if (!is_pow2(h->capacity) || h->capacity < IPCQ_CAPACITY_MIN ||
	    h->capacity > IPCQ_CAPACITY_MAX)
		return bad_field("capacity", h->capacity);
	if (h->max_msg_size < 1 || h->max_msg_size > IPCQ_MSG_SIZE_MAX)
		return bad_field("max_msg_size", h->max_msg_size);
	if (h->max_participants < 1 || h->max_participants > IPCQ_PARTICIPANTS_MAX)
		return bad_field("max_participants", h->max_participants);
	if (!check_strategy(h->wait_strategy))
		return bad_field("wait_strategy", h->wait_strategy);
	if (h->spin_count > 1000000)
		return bad_field("spin_count", h->spin_count);
	if (h->yield_count > 1000000)
		return bad_field("yield_count", h->yield_count);
	if ((h->side_capacity && !is_pow2(h->side_capacity)) || h->side_capacity > IPCQ_CAPACITY_MAX)
		return bad_field("side_capacity", h->side_capacity);
	if (h->lease_capacity > IPCQ_CAPACITY_MAX)
		return bad_field("lease_capacity", h->lease_capacity);
	if (h->max_deliveries < 1 || h->max_deliveries > 255)
		return bad_field("max_deliveries", h->max_deliveries);
	if (h->grace_us < 100 || h->grace_us > 60000000)
		return bad_field("grace_us", h->grace_us);
	if (h->dedup_capacity > IPCQ_PARTICIPANTS_MAX)
		return bad_field("dedup_capacity", h->dedup_capacity);
	if (h->retry_base_us > IPCQ_RETRY_MAX_US)
		return bad_field("retry_base_us", h->retry_base_us);
	if (h->retry_max_us > IPCQ_RETRY_MAX_US)
		return bad_field("retry_max_us", h->retry_max_us);
	if (h->retry_factor < 1 || h->retry_factor > 16)
		return bad_field("retry_factor", h->retry_factor);
	if (h->flags & ~IPCQ_CF_KNOWN)
		return bad_field("flags", h->flags);
	if (h->features) {
		ipcq__errdetail("feature bits 0x%llx, which this build does not know: made by a "
				"newer ipcq (use that version's library and tools)",
				(unsigned long long)h->features);
		return -EPROTO;
	}
	for (unsigned i = 0; i < sizeof(h->reserved) / sizeof(h->reserved[0]); i++)
		if (h->reserved[i]) {
			ipcq__errdetail("segment header: reserved[%u] = 0x%llx is not zero "
					"(corrupt segment)", i, (unsigned long long)h->reserved[i]);
			return -EBADMSG;
		}
	if (h->mode != 0600 && h->mode != 0640 && h->mode != 0660)
		return bad_field("mode", h->mode);
	if (h->ttl_ms > IPCQ_TTL_MAX_MS)
		return bad_field("ttl_ms", h->ttl_ms);
	if (h->numa_node != IPCQ_NUMA_ANY && (h->numa_node < 0 || h->numa_node > 1023)) {
		ipcq__errdetail("segment header: numa_node = %d is impossible (corrupt segment)",
				(int)h->numa_node);
		return -EBADMSG;
	}
	if ((h->high_watermark || h->low_watermark) &&
	    (h->low_watermark < 1 || h->low_watermark >= h->high_watermark ||
	     h->high_watermark > h->capacity)) {
		ipcq__errdetail("segment header: watermarks high %u, low %u with capacity %u are "
				"impossible (corrupt segment)", h->high_watermark,
				h->low_watermark, h->capacity);
		return -EBADMSG;
	}
	if (h->max_groups > IPCQ_GROUPS_MAX)
		return bad_field("max_groups", h->max_groups);
	if (h->max_groups && (h->flags & IPCQ_CF_KEYED))
		return bad_field("flags", h->flags);
	if (h->priorities < 1 || h->priorities > IPCQ_PRIORITIES_MAX)
		return bad_field("priorities", h->priorities);
	if (h->priority_share > 50)
		return bad_field("priority_share", h->priority_share);
	if (h->priorities > 1 && (h->max_groups || (h->flags & IPCQ_CF_KEYED) || h->high_watermark))
		return bad_field("priorities", h->priorities);
	if (layout_compute(h->capacity, h->max_msg_size, h->max_participants, h->lease_capacity,
			   h->side_capacity, h->dedup_capacity, h->max_groups, h->flags,
			   h->priorities, &l)) {
		ipcq__errdetail("segment header: its tables would be %llu bytes, above "
				"IPCQ_SEGMENT_MAX (corrupt segment)", (unsigned long long)l.total);
		return -EBADMSG;
	}
	if (h->slot_size != l.slot_size || h->lease_size != l.lease_size ||
	    h->side_size != l.side_size || h->off_control != l.off_control ||
	    h->off_participants != l.off_participants || h->off_ring != l.off_ring ||
	    h->off_leases != l.off_leases || h->off_side != l.off_side ||
	    h->off_dedup != l.off_dedup ||
	    (h->max_groups && (h->off_groups != l.off_groups || h->off_gwords != l.off_gwords)) ||
	    (h->priorities > 1 && h->off_lanes != l.off_lanes) ||
	    h->total_size != l.total) {
		ipcq__errdetail("segment header: sizes and offsets do not match its capacity, "
				"message size and table sizes (corrupt segment)");
		return -EBADMSG;
	}
	if (file_size < h->total_size) {
		ipcq__errdetail("the segment file is %llu bytes, its header says %llu: truncated or "
				"corrupt", (unsigned long long)file_size,
				(unsigned long long)h->total_size);
		return -EBADMSG;
	}
	if (file_size > h->total_size) {
		ipcq__errdetail("the segment file is %llu bytes, larger than the %llu its header "
				"says: grown or corrupt", (unsigned long long)file_size,
				(unsigned long long)h->total_size);
		return -EBADMSG;
	}
	return 0;
}

/* The detail of an open(2) of the segment at @path that failed with @rc;
 * @isdir: open() said EISDIR (returned as -EPERM, like any refused file). */
IPCQ_COLD static void open_failed(const char *path, int rc, int isdir, int readonly)
{
	if (isdir) {
		ipcq__errdetail("%s is a directory, not a queue: refused", path);
		return;
	}
	switch (-rc) {
	case ENOENT:
		ipcq__errdetail("no queue by that name: %s does not exist", path);
		break;
	case ELOOP:
		ipcq__errdetail("%s is a symbolic link: never followed", path);
		break;
	case EPERM:
		ipcq__errdetail("%s: open() returned EPERM (an immutable file, or a security "
				"module refused it)", path);
		break;
	case EACCES:
		ipcq__errdetail("%s: this user may not %s it (mode and owner of the file)", path,
				readonly ? "read" : "read and write");
		break;
	default:
		break;
	}
}

int ipcq_open_flags(const char *name, uint32_t flags, struct ipcq **out)
{
	char path[sizeof(IPCQ_PATH_PREFIX) + IPCQ_NAME_MAX + 1];
	struct ipcq_shm_header h;
	struct ipcq_map *m = NULL;
	struct stat st;
	struct ipcq *q;
	ssize_t got;
	int rc, readonly = (flags & IPCQ_OPEN_READONLY) != 0;

	ipcq__errdetail("%s", "");
	if (!out) {
		ipcq__errdetail("ipcq_open: out is NULL");
		return -EINVAL;
	}
	if (flags & ~(uint32_t)(IPCQ_OPEN_READONLY | IPCQ_OPEN_ANY_OWNER)) {
		ipcq__errdetail("flags 0x%x: unknown bits 0x%x (known: IPCQ_OPEN_READONLY 0x%x, "
				"IPCQ_OPEN_ANY_OWNER 0x%x)", flags,
				flags & ~(uint32_t)(IPCQ_OPEN_READONLY | IPCQ_OPEN_ANY_OWNER),
				IPCQ_OPEN_READONLY, IPCQ_OPEN_ANY_OWNER);
		return -EINVAL;
	}
	rc = check_name_detail(name);
	if (rc)
		return rc;
	make_path(path, sizeof(path), name);
	q = handle_new(name);
	if (!q)
		return -ENOMEM;
	q->readonly = readonly;
	/* O_NONBLOCK: a FIFO planted under the name must not block us */
	q->fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (q->fd < 0) {
		int isdir = errno == EISDIR;
		rc = isdir ? -EPERM : -errno;
		open_failed(path, rc, isdir, readonly);
		goto fail;
	}
	if (fstat(q->fd, &st) < 0) {
		rc = -errno;
		goto fail;
	}
	/* anybody who can write the segment can corrupt every participant,
	 * anybody who can read it sees every message */
	if (!S_ISREG(st.st_mode)) {
		ipcq__errdetail("%s is not a regular file (a queue is one): refused", path);
		rc = -EPERM;
		goto fail;
	}
	if (st.st_mode & (S_IWOTH | S_IROTH)) {
		ipcq__errdetail("segment mode 0%03o: others may read or write it (anybody could read "
				"or corrupt its messages): refused whatever the flags; a queue is "
				"0600, 0640 or 0660", (unsigned)(st.st_mode & 07777));
		rc = -EPERM;
		goto fail;
	}
	/* another user's segment is memory that user controls: a process of
	 * ours (root's tools above all) works on it only when asked to */
	if (st.st_uid != geteuid() && !(flags & IPCQ_OPEN_ANY_OWNER)) {
		ipcq__errdetail("segment owned by uid %u, not by this user (uid %u): open with "
				"IPCQ_OPEN_ANY_OWNER to accept it", (unsigned)st.st_uid,
				(unsigned)geteuid());
		rc = -EPERM;
		goto fail;
	}
	if ((uint64_t)st.st_size < sizeof(h)) {
		ipcq__errdetail("the segment file is %lld bytes, smaller than an ipcq header (%zu): "
				"truncated, or not a queue", (long long)st.st_size, sizeof(h));
		rc = -EBADMSG;
		goto fail;
	}
	got = pread(q->fd, &h, sizeof(h), 0);
	if (got != (ssize_t)sizeof(h)) {
		rc = got < 0 ? -errno : -EBADMSG;
		if (got >= 0)
			ipcq__errdetail("read %zd bytes of the segment's %zu-byte header: truncated "
					"under us", got, sizeof(h));
		goto fail;
	}
	rc = header_check(&h, (uint64_t)st.st_size);
	if (rc)
		goto fail;
	rc = map_get(q->fd, &st, h.total_size, readonly, &m);
	if (rc)
		goto fail;
	handle_bind(q, m, &h);
	*out = q;
	return 0;
fail:
	handle_free(q);
	return rc;
}

int ipcq__open_segment(const char *name, int readonly, struct ipcq **out)
{
	return ipcq_open_flags(name, readonly ? IPCQ_OPEN_READONLY : 0, out);
}

int ipcq_open(const char *name, struct ipcq **out)
{
	return ipcq_open_flags(name, 0, out);
}

void ipcq__handle_free(struct ipcq *q)
{
	handle_free(q);
}

int ipcq_unlink(const char *name)
{
	char path[sizeof(IPCQ_PATH_PREFIX) + IPCQ_NAME_MAX + 1];
	struct stat st;
	int rc;

	ipcq__errdetail("%s", "");
	rc = check_name_detail(name);
	if (rc)
		return rc;
	make_path(path, sizeof(path), name);
	if (lstat(path, &st) < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			ipcq__errdetail("no queue by that name: %s does not exist", path);
		return rc;
	}
	/* only ever remove a queue, never what a symlink points to or a
	 * directory someone put there */
	if (!S_ISREG(st.st_mode)) {
		ipcq__errdetail("%s is %s, not a queue: never removed", path,
				S_ISLNK(st.st_mode) ? "a symbolic link"
				: S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
		return -EPERM;
	}
	if (unlink(path) < 0) {
		rc = -errno;
		/* /dev/shm is sticky: only the file's owner (or root) may
		 * remove it, and the kernel says EPERM */
		if (rc == -EPERM && st.st_uid != geteuid()) {
			ipcq__errdetail("%s belongs to another user (uid %u; this process runs as "
					"uid %u): only its owner or root can remove it",
					path, (unsigned)st.st_uid, (unsigned)geteuid());
			return -EACCES;
		}
		if (rc == -EACCES)
			ipcq__errdetail("no write permission on %s: %s cannot be removed", SHM_DIR,
					path);
		return rc;
	}
	return 0;
}
