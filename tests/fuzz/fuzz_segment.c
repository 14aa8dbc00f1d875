/*
 * fuzz_segment.c - libFuzzer target over everything ipcq reads from a
 * segment.
 *
 * Each input becomes a segment file /dev/shm/ipcq.fuzz-seg.<pid>: either
 * the input's bytes as they are (raw mode), or a valid queue made by the
 * library (fuzz_base.h) with the input's patches written over it (patch
 * mode, which gets past the header checks and reaches the ring, the
 * recovery passes, the lease pool, the side ring and the dedup table).
 * The format is described in fuzz_base.h.
 *
 * Then every reader runs on it, never blocking for long (IPCQ_NOWAIT, and
 * a few waits of FZ_SHORT, which run the recovery of waiting calls and
 * adopt what dead consumers claimed): ipcq_open_readonly,
 * ipcq_open, ipcq_info, ipcq_stats, ipcq_browse, ipcq_poison_list/peek, ipcq_pressure,
 * ipcq_numa_placement, ipcq_recover (unattached and attached), ipcq_attach
 * as producer, consumer, ack-mode consumer and named producer (which takes
 * the name over from its dead holder), ipcq_send/send_batch/send_seq,
 * ipcq_recv with small and large buffers in fast and ack mode,
 * ipcq_recv_batch, ipcq_peek/ipcq_release in both modes, ipcq_ack and
 * ipcq_nack of the tokens handed out (and of forged ones), ipcq_poison_replay
 * and ipcq_poison_purge, ipcq_reserve/ipcq_commit, ipcq_dedup_remove,
 * ipcq_detach, ipcq_close.  After that fixed sequence, each operation byte
 * of the input runs one more call, so that the fuzzer also explores orders.
 *
 * What counts as a failure, besides what the sanitizers report: a return
 * value outside the documented contract (a length above the buffer or the
 * queue's max_msg_size, a count above what was asked, a pointer from
 * ipcq_peek that is not inside the mapping, an unprintable participant
 * name from ipcq_stats), a leaked file descriptor, or a hang (libFuzzer's
 * -timeout).  Such a failure aborts with a message.
 *
 * The name is unlinked right after the handles are opened, so that a crash
 * leaves nothing in /dev/shm; a sanitizer's death callback removes the file
 * if it dies in between.
 *
 * FZ_VERBOSE=1 in the environment prints the result of every call.
 *
 * Built two ways: with clang and -fsanitize=fuzzer (make fuzz), and
 * included by tests/t_fuzz_corpus.c, which calls LLVMFuzzerTestOneInput()
 * on every file of the corpus (make test).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipcq.h"
#include "ipcq_internal.h" /* the layout (region offsets), and the mapping of a handle */
#include "fuzz_base.h"

/*
 * Known bugs to keep out of the fuzzer's way while they are open
 * (FZ_AVOID_KNOWN=0 to see them): none now.  Each fixed one has its
 * input kept in the corpus (crash-drop-oldest-nowait: a drop-oldest send
 * with IPCQ_NOWAIT once waited without a deadline while the oldest slot
 * could not be dropped).
 */
#ifndef FZ_AVOID_KNOWN
#define FZ_AVOID_KNOWN 0
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
/* the sanitizers' hook, where there is a sanitizer (weak: builds without
 * one, for coverage, link too) */
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_IMAGE (4u << 20)
#define FZ_BIG 65536u
#define FZ_SHORT ((int64_t)30000) /* ns: a waiting call that still ends soon */

#define FZ_CHECK(cond, ...)                                                       \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "fuzz_segment.c:%d: check failed: %s: ", __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                             \
			fprintf(stderr, "\n");                                    \
			abort();                                                  \
		}                                                                 \
	} while (0)

struct fz_region {
	uint64_t off, size;
};

static struct {
	int ready;
	uint8_t *img[FZ_NBASES];
	size_t len[FZ_NBASES];
	struct fz_region reg[FZ_NBASES][FZ_NREGIONS];
	uint8_t ident[16]; /* magic, layout version, format signature of this build */
	int have_ident;
	int verbose;       /* FZ_VERBOSE=1: every call's result on stderr */
	char name[64];
	char path[128];
	uint8_t *big;      /* FZ_BIG bytes */
	uint8_t *small[4]; /* 1, 7, 64, 257 bytes, on the heap so overruns show */
} fz;

static const size_t fz_small_len[4] = { 1, 7, 64, 257 };

static void fz_remove_file(void)
{
	if (fz.path[0])
		unlink(fz.path);
}

static void fz_regions(unsigned b)
{
	const struct ipcq_shm_header *h = (const struct ipcq_shm_header *)fz.img[b];
	struct fz_region *r = fz.reg[b];
	r[0] = (struct fz_region){ 0, IPCQ_HEADER_SIZE };
	r[1] = (struct fz_region){ h->off_control, h->off_participants - h->off_control };
	r[2] = (struct fz_region){ h->off_participants, h->off_ring - h->off_participants };
	r[3] = (struct fz_region){ h->off_ring, h->off_leases - h->off_ring };
	r[4] = (struct fz_region){ h->off_leases, h->off_side - h->off_leases };
	r[5] = (struct fz_region){ h->off_side, h->off_dedup - h->off_side };
	r[6] = (struct fz_region){ h->off_dedup, h->total_size - h->off_dedup };
	r[7] = (struct fz_region){ 0, h->total_size };
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (fz.ready)
		return 0;
	fz.verbose = getenv("FZ_VERBOSE") && getenv("FZ_VERBOSE")[0] == '1';
	snprintf(fz.name, sizeof(fz.name), "fuzz-seg.%d", (int)getpid());
	snprintf(fz.path, sizeof(fz.path), "/dev/shm/ipcq.%s", fz.name);
	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(fz_remove_file);
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "fuzz-base.%d", (int)getpid());
	for (unsigned b = 0; b < FZ_NBASES; b++) {
		int rc = fz_make_base(b / FZ_NSTATES, b % FZ_NSTATES, tmp, &fz.img[b], &fz.len[b]);
		if (rc) {
			fprintf(stderr, "fuzz_segment: cannot build base %u: %s\n", b, ipcq_strerror(rc));
			exit(1);
		}
		fz_regions(b);
		if (!fz.have_ident) {
			memcpy(fz.ident, fz.img[b], sizeof(fz.ident));
			fz.have_ident = 1;
		}
	}
	fz.big = malloc(FZ_BIG);
	for (unsigned i = 0; i < 4; i++)
		fz.small[i] = malloc(fz_small_len[i]);
	if (!fz.big || !fz.small[0] || !fz.small[1] || !fz.small[2] || !fz.small[3])
		exit(1);
	fz.ready = 1;
	return 0;
}

/* ---- the image ------------------------------------------------------------- */

/* Build the image of an input; NULL for inputs that make none. */
static uint8_t *fz_image(const uint8_t *in, size_t n, unsigned mode, size_t *len)
{
	uint8_t *img;

	if (!(mode & FZ_MODE_PATCH)) {
		if (n > FZ_MAX_IMAGE)
			return NULL;
		img = malloc(n ? n : 1);
		if (!img)
			return NULL;
		memcpy(img, in, n);
		if ((mode & FZ_MODE_STAMP) && n >= sizeof(fz.ident))
			memcpy(img, fz.ident, sizeof(fz.ident));
		*len = n;
	} else {
		if (n < 1)
			return NULL;
		unsigned b = in[0] % FZ_NBASES;
		img = malloc(fz.len[b]);
		if (!img)
			return NULL;
		memcpy(img, fz.img[b], fz.len[b]);
		*len = fz.len[b];
		size_t i = 1;
		while (i + 3 < n) {
			const struct fz_region *r = &fz.reg[b][in[i] % FZ_NREGIONS];
			uint32_t off = (uint32_t)in[i + 1] | (uint32_t)in[i + 2] << 8;
			size_t k = 1 + in[i + 3] % 16;
			i += 4;
			if (r->size == 0)
				continue;
			uint64_t at = r->off + off % r->size;
			for (size_t j = 0; j < k && i < n && at + j < *len; j++, i++)
				img[at + j] = in[i];
		}
	}
	return img;
}

static int fz_write(const uint8_t *img, size_t len)
{
	unlink(fz.path);
	int fd = open(fz.path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	size_t done = 0;
	while (done < len) {
		ssize_t w = pwrite(fd, img + done, len - done, (off_t)done);
		if (w <= 0) {
			close(fd);
			unlink(fz.path);
			return -EIO;
		}
		done += (size_t)w;
	}
	close(fd);
	return 0;
}

/* ---- checks ---------------------------------------------------------------- */

struct fz_run {
	struct ipcq *ro;
	struct ipcq *prod;   /* producer */
	struct ipcq *cons;   /* fast-mode consumer */
	struct ipcq *ack;    /* ack-mode consumer */
	struct ipcq *named;  /* named producer */
	struct ipcq *mgmt;   /* never attached by us: management calls attach it for their duration */
	uint32_t max_msg;
	uint32_t capacity;
	uint32_t lease_capacity;
	uint32_t side_capacity;
	uint32_t max_participants;
	uint64_t tokens[16];
	unsigned ntokens;
	uint64_t next_seq;
	unsigned sink;
};

static void fz_check_rc(int rc, const char *what)
{
	if (fz.verbose)
		fprintf(stderr, "  %s: %d\n", what, rc);
	FZ_CHECK(rc >= -4095, "%s returned %d", what, rc);
}

/* A received length: within the buffer and the queue's maximum. */
static void fz_check_len(const struct fz_run *r, int rc, size_t cap, const struct ipcq_msginfo *mi,
			 const char *what)
{
	fz_check_rc(rc, what);
	if (rc < 0)
		return;
	FZ_CHECK((size_t)rc <= cap, "%s: length %d, buffer %zu", what, rc, cap);
	FZ_CHECK((uint32_t)rc <= r->max_msg, "%s: length %d above max_msg_size %u", what, rc,
		 r->max_msg);
	if (mi)
		FZ_CHECK(mi->len == (uint64_t)rc, "%s: info.len %llu, returned %d", what,
			 (unsigned long long)mi->len, rc);
}

/* A pointer handed out into the queue: inside the mapping, and the
 * payload of one entry of a table (the ring: slots; ack mode: the lease
 * pool), and read. */
static void fz_check_span(struct fz_run *r, struct ipcq *q, const void *data, size_t len,
			  int lease, const char *what)
{
	const uint8_t *p = data, *base = q->base;
	/* the ring: every priority lane's slots, lane 0's first */
	const uint8_t *tab = lease ? q->leases : q->ring0;
	uint64_t esize = lease ? q->lease_size : q->slot_size;
	uint64_t n = lease ? q->lease_capacity : (uint64_t)q->capacity * q->lanes;
	uint64_t hdr = lease ? IPCQ_LEASE_HDR : IPCQ_SLOT_HDR;
	FZ_CHECK(len <= r->max_msg, "%s: length %zu above max_msg_size %u", what, len, r->max_msg);
	FZ_CHECK(p >= base && p <= base + q->size && len <= (size_t)(base + q->size - p),
		 "%s: [%p, +%zu) outside the mapping [%p, +%llu)", what, data, len, (void *)base,
		 (unsigned long long)q->size);
	FZ_CHECK(p >= tab && (uint64_t)(p - tab) < n * esize, "%s: %p outside its table", what,
		 data);
	uint64_t in = (uint64_t)(p - tab) % esize;
	FZ_CHECK(in == hdr && hdr + len <= esize, "%s: payload at %llu of an entry, %zu bytes", what,
		 (unsigned long long)in, len);
	for (size_t i = 0; i < len; i++)
		r->sink += p[i];
}

static void fz_keep_token(struct fz_run *r, uint64_t token)
{
	r->tokens[r->ntokens % 16] = token;
	r->ntokens++;
}

static uint64_t fz_token(const struct fz_run *r, unsigned i)
{
	static const uint64_t forged[4] = { 0, 1ull << 32, UINT64_MAX, (5000ull << 32) | 1 };
	unsigned have = r->ntokens < 16 ? r->ntokens : 16;
	if (have == 0 || (i & 8))
		return forged[i % 4];
	return r->tokens[i % have];
}

/* ---- the readers ----------------------------------------------------------- */

static void fz_info(struct fz_run *r, struct ipcq *q)
{
	struct ipcq_info info;
	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	int rc = ipcq_info(q, &info);
	fz_check_rc(rc, "ipcq_info");
	if (rc < 0)
		return;
	/* each priority lane holds capacity at most; the totals are sums */
	FZ_CHECK(info.priorities >= 1 && info.priorities <= IPCQ_PRIORITIES_MAX, "priorities %u",
		 info.priorities);
	FZ_CHECK(info.depth <= (uint64_t)info.capacity * info.priorities, "depth %llu",
		 (unsigned long long)info.depth);
	for (uint32_t l = 0; l < info.priorities && l < IPCQ_PRIORITIES_MAX; l++)
		FZ_CHECK(info.lane_enqueued[l] - info.lane_dequeued[l] <= info.capacity,
			 "lane %u depth %llu", l,
			 (unsigned long long)(info.lane_enqueued[l] - info.lane_dequeued[l]));
	FZ_CHECK(info.side_depth <= info.side_capacity, "side depth %u of %u", info.side_depth,
		 info.side_capacity);
	FZ_CHECK(info.leased + info.redeliverable <= info.lease_capacity, "leases %u+%u of %u",
		 info.leased, info.redeliverable, info.lease_capacity);
	FZ_CHECK(info.participants <= info.max_participants, "participants %u of %u",
		 info.participants, info.max_participants);
	FZ_CHECK(info.dedup_names <= info.dedup_capacity, "names %u of %u", info.dedup_names,
		 info.dedup_capacity);
	r->max_msg = info.max_msg_size;
	r->capacity = info.capacity;
	r->lease_capacity = info.lease_capacity;
	r->side_capacity = info.side_capacity;
	r->max_participants = info.max_participants;
}

static void fz_stats(struct fz_run *r, struct ipcq *q, unsigned nparts)
{
	struct ipcq_participant_stats parts[8];
	struct ipcq_stats st;
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	if (nparts > 8)
		nparts = 8;
	int rc = ipcq_stats(q, &st, nparts ? parts : NULL, nparts);
	fz_check_rc(rc, "ipcq_stats");
	if (rc < 0)
		return;
	FZ_CHECK((unsigned)rc <= nparts, "ipcq_stats wrote %d of %u", rc, nparts);
	FZ_CHECK(st.participants <= r->max_participants, "participants %u", st.participants);
	for (int i = 0; i < rc; i++) {
		FZ_CHECK(parts[i].index < r->max_participants, "participant index %u", parts[i].index);
		FZ_CHECK(memchr(parts[i].name, 0, sizeof(parts[i].name)) != NULL, "name not terminated");
		for (size_t k = 0; parts[i].name[k]; k++)
			FZ_CHECK(parts[i].name[k] >= 0x20 && parts[i].name[k] <= 0x7e,
				 "unprintable name byte %d", parts[i].name[k]);
	}
	uint32_t sum = 0;
	for (unsigned k = 0; k < 4; k++)
		sum += st.side_by_reason[k];
	FZ_CHECK(sum <= r->side_capacity, "side entries by reason %u", sum);
}

static void fz_poison_read(struct fz_run *r, struct ipcq *q, unsigned n)
{
	struct ipcq_poison p[8];
	uint64_t after = 0;
	if (n == 0 || n > 8)
		n = 8;
	for (unsigned round = 0; round < 4; round++) {
		int rc = ipcq_poison_list(q, after, p, n);
		fz_check_rc(rc, "ipcq_poison_list");
		if (rc <= 0)
			return;
		FZ_CHECK((unsigned)rc <= n, "ipcq_poison_list: %d of %u", rc, n);
		for (int i = 0; i < rc; i++) {
			FZ_CHECK(p[i].id > after, "id %llu after %llu", (unsigned long long)p[i].id,
				 (unsigned long long)after);
			FZ_CHECK(i == 0 || p[i].id > p[i - 1].id, "ids out of order");
			FZ_CHECK(p[i].len <= r->max_msg, "poison len %llu", (unsigned long long)p[i].len);
			struct ipcq_poison pi;
			int k = (int)(p[i].id % 4);
			int got = ipcq_poison_peek(q, p[i].id, fz.small[k], fz_small_len[k], &pi);
			fz_check_len(r, got, fz_small_len[k], NULL, "ipcq_poison_peek small");
			got = ipcq_poison_peek(q, p[i].id, fz.big, FZ_BIG, &pi);
			fz_check_len(r, got, FZ_BIG, NULL, "ipcq_poison_peek big");
			if (got >= 0)
				FZ_CHECK(pi.len == (uint64_t)got, "poison peek len");
		}
		after = p[rc - 1].id;
	}
	/* ids nobody has */
	(void)ipcq_poison_peek(q, 0, fz.big, FZ_BIG, NULL);
	(void)ipcq_poison_peek(q, UINT64_MAX, NULL, 0, NULL);
}

/* ipcq_browse over positions around both cursors and some far away, with
 * buffers of several sizes: a view is within the contract whatever the
 * slot holds. */
static void fz_browse(struct fz_run *r, struct ipcq *q, unsigned param)
{
	struct ipcq_info info;
	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	if (ipcq_info(q, &info) < 0)
		return;
	uint64_t base[4] = { info.dequeued, info.enqueued, (uint64_t)param << 32, UINT64_MAX - 3 };
	for (unsigned b = 0; b < 4; b++)
		for (uint64_t k = 0; k < 3; k++) {
			struct ipcq_slot_view v;
			memset(&v, 0, sizeof(v));
			v.size = sizeof(v);
			size_t cap = (k & 1) ? FZ_BIG : fz_small_len[(param + k) % 4];
			void *buf = (k & 1) ? (void *)fz.big : (void *)fz.small[(param + k) % 4];
			int rc = ipcq_browse(q, base[b] + k, (k == 2) ? NULL : buf, (k == 2) ? 0 : cap, &v);
			fz_check_rc(rc, "ipcq_browse");
			if (rc < 0)
				continue;
			FZ_CHECK((size_t)rc <= cap, "ipcq_browse: copied %d, buffer %zu", rc, cap);
			FZ_CHECK(v.len <= r->max_msg || !r->max_msg, "ipcq_browse: len %llu above %u",
				 (unsigned long long)v.len, r->max_msg);
			FZ_CHECK(v.state <= IPCQ_SLOT_GONE, "ipcq_browse: state %u", v.state);
		}
	FZ_CHECK(ipcq_browse(q, 0, NULL, 0, NULL) == -EINVAL, "ipcq_browse without a view");
}

static void fz_numa(struct ipcq *q)
{
	uint64_t nodes[4], total = 0;
	int rc = ipcq_numa_placement(q, nodes, 4, &total);
	fz_check_rc(rc, "ipcq_numa_placement");
	(void)ipcq_numa_node(q);
	(void)ipcq_pressure(q);
	(void)ipcq_wait_pressure(q, IPCQ_NOWAIT);
}

static void fz_recover(struct ipcq *q)
{
	struct ipcq_recovery rep;
	memset(&rep, 0, sizeof(rep));
	rep.size = sizeof(rep);
	fz_check_rc(ipcq_recover(q, &rep), "ipcq_recover");
}

/* Groups: the list (bounded figures), and now and then a group made and
 * removed through the management handle. */
static void fz_groups(struct fz_run *r, struct ipcq *q, unsigned p)
{
	struct ipcq_group_info gi[4];
	int rc = ipcq_group_list(q, gi, 4);
	fz_check_rc(rc, "ipcq_group_list");
	for (int i = 0; i < rc && i < 4; i++) {
		FZ_CHECK(gi[i].index < IPCQ_GROUPS_MAX, "group index %u", gi[i].index);
		FZ_CHECK(gi[i].name[sizeof(gi[i].name) - 1] == '\0', "group name unterminated");
	}
	if (rc > 0 && (p & 8)) {
		fz_check_rc(ipcq_group_create(r->mgmt, "fz-n", p & 16 ? IPCQ_GROUP_LOSSY : 0),
			    "ipcq_group_create");
		fz_check_rc(ipcq_group_remove(r->mgmt, "fz-n"), "ipcq_group_remove");
	}
}

/* ---- the calls of the consumers and producers ------------------------------- */

static int fz_attach(struct ipcq *q, unsigned roles, uint32_t flags, const char *pname,
		     uint32_t policy, uint32_t prefetch)
{
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	if (!q)
		return -EINVAL;
	o.flags = flags;
	o.name = pname;
	o.full_policy = policy;
	o.prefetch = prefetch;
	o.group = (roles & IPCQ_ROLE_CONSUMER) ? fz_group_of(q) : NULL;
	/* yield: a waiting call looks for the work of the dead at its first
	 * round (busy-poll only every 64 rounds) */
	o.wait_strategy = IPCQ_WAIT_YIELD;
	int rc = ipcq_attach(q, roles, &o);
	fz_check_rc(rc, "ipcq_attach");
	return rc;
}

static void fz_send(struct fz_run *r, struct ipcq *q, unsigned param, int64_t timeout)
{
	static const uint32_t pick[4] = { 0, 1, 2, 3 };
	size_t len;
	switch (pick[param % 4]) {
	case 0: len = 0; break;
	case 1: len = 1; break;
	case 2: len = r->max_msg; break;
	default: len = (size_t)r->max_msg + 1; break; /* -EMSGSIZE */
	}
	if (len > FZ_BIG)
		len = FZ_BIG;
	fz_check_rc(ipcq_send(q, fz.big, len, timeout), "ipcq_send");
}

static void fz_send_batch(struct fz_run *r, struct ipcq *q, unsigned n)
{
	struct ipcq_buf m[8];
	if (n == 0 || n > 8)
		n = 8;
	for (unsigned i = 0; i < n; i++) {
		m[i].data = fz.big;
		m[i].len = r->max_msg ? (i * 5) % (r->max_msg + 1) : 0;
	}
	int rc = ipcq_send_batch(q, m, n, IPCQ_NOWAIT);
	fz_check_rc(rc, "ipcq_send_batch");
	FZ_CHECK(rc <= (int)n, "ipcq_send_batch sent %d of %u", rc, n);
}

static void fz_send_seq(struct fz_run *r, unsigned param)
{
	uint64_t seq = param & 4 ? (uint64_t)param : ++r->next_seq + 100;
	fz_check_rc(ipcq_send_seq(r->named, seq, fz.big, param % 2, IPCQ_NOWAIT), "ipcq_send_seq");
	uint64_t last;
	(void)ipcq_last_seq(r->named, &last);
}

static void fz_recv(struct fz_run *r, struct ipcq *q, int big, unsigned param, int is_ack,
		    int64_t timeout)
{
	struct ipcq_msginfo mi;
	uint8_t *buf = big ? fz.big : fz.small[param % 4];
	size_t cap = big ? FZ_BIG : fz_small_len[param % 4];
	memset(&mi, 0, sizeof(mi));
	int rc = ipcq_recv(q, buf, cap, &mi, timeout);
	fz_check_len(r, rc, cap, &mi, is_ack ? "ipcq_recv ack" : "ipcq_recv");
	if (rc >= 0 && is_ack)
		fz_keep_token(r, mi.token);
}

static void fz_recv_batch(struct fz_run *r, struct ipcq *q, unsigned n, int is_ack)
{
	struct ipcq_buf m[4];
	struct ipcq_msginfo mi[4];
	size_t caps[4] = { FZ_BIG, fz_small_len[2], fz_small_len[3], fz_small_len[1] };
	uint8_t *bufs[4] = { fz.big, fz.small[2], fz.small[3], fz.small[1] };
	if (n == 0 || n > 4)
		n = 4;
	for (unsigned i = 0; i < n; i++) {
		m[i].data = bufs[i];
		m[i].len = caps[i];
	}
	int rc = ipcq_recv_batch(q, m, mi, n, IPCQ_NOWAIT);
	fz_check_rc(rc, "ipcq_recv_batch");
	if (rc < 0)
		return;
	FZ_CHECK(rc >= 1 && rc <= (int)n, "ipcq_recv_batch got %d of %u", rc, n);
	for (int i = 0; i < rc; i++) {
		FZ_CHECK(m[i].len <= caps[i] && m[i].len <= r->max_msg, "batch message %d: %zu bytes", i,
			 m[i].len);
		if (is_ack)
			fz_keep_token(r, mi[i].token);
	}
}

static void fz_peek(struct fz_run *r, struct ipcq *q, unsigned n, int is_ack, unsigned param,
		    int64_t timeout)
{
	struct ipcq_zmsg zm[4];
	if (n == 0 || n > 4)
		n = 4;
	int rc = ipcq_peek(q, zm, n, timeout);
	fz_check_rc(rc, "ipcq_peek");
	if (rc > 0) {
		FZ_CHECK(rc <= (int)n, "ipcq_peek got %d of %u", rc, n);
		for (int i = 0; i < rc; i++) {
			fz_check_span(r, q, zm[i].data, zm[i].len, is_ack, "ipcq_peek");
			if (is_ack)
				fz_keep_token(r, zm[i].info.token);
		}
	}
	/* a second peek while one is open is refused */
	if (rc > 0)
		FZ_CHECK(ipcq_peek(q, zm, 1, IPCQ_NOWAIT) == -EALREADY, "double peek");
	if (param == 7)
		return; /* left open: detach or close gives it up */
	fz_check_rc(ipcq_release(q), "ipcq_release");
	if (is_ack && rc > 0) {
		uint64_t t = zm[0].info.token;
		if (param & 1)
			fz_check_rc(ipcq_ack(q, t), "ipcq_ack");
		else
			fz_check_rc(ipcq_nack(q, t, param & 2 ? IPCQ_NACK_POISON : IPCQ_NACK_REQUEUE),
				    "ipcq_nack");
	}
}

static void fz_reserve(struct fz_run *r, struct ipcq *q, unsigned n, unsigned used,
		       int64_t timeout)
{
	void *bufs[4];
	size_t lens[4];
	if (n == 0 || n > 4)
		n = 4;
	int k = ipcq_reserve(q, n, bufs, timeout);
	fz_check_rc(k, "ipcq_reserve");
	if (k <= 0)
		return;
	FZ_CHECK(k <= (int)n, "ipcq_reserve got %d of %u", k, n);
	for (int i = 0; i < k; i++) {
		lens[i] = r->max_msg < 3 ? r->max_msg : 3;
		fz_check_span(r, q, bufs[i], r->max_msg, 0, "ipcq_reserve");
		memset(bufs[i], 0x5a, lens[i]);
	}
	if (used == 3)
		return; /* left open: detach or close gives it up */
	if (used > (unsigned)k)
		used = (unsigned)k;
	fz_check_rc(ipcq_commit(q, lens, used), "ipcq_commit");
}

/* One more call, chosen by an operation byte: low 5 bits the call, high 3
 * bits its parameter. */
static void fz_op(struct fz_run *r, uint8_t op)
{
	unsigned p = op >> 5;
	switch (op & 31) {
	case 0: fz_send(r, r->prod, p, IPCQ_NOWAIT); break;
	case 1: fz_send_batch(r, r->prod, p + 1); break;
	case 2: if (r->named) fz_send_seq(r, p); break;
	case 3: fz_recv(r, r->cons, 0, p, 0, IPCQ_NOWAIT); break;
	case 4: fz_recv(r, r->cons, 1, p, 0, IPCQ_NOWAIT); break;
	case 5: fz_recv_batch(r, r->cons, p + 1, 0); break;
	case 6: fz_peek(r, r->cons, p + 1, 0, p, IPCQ_NOWAIT); break;
	case 7: fz_recv(r, r->ack, 1, p, 1, IPCQ_NOWAIT); break;
	case 8: fz_recv(r, r->ack, 0, p, 1, IPCQ_NOWAIT); break;
	case 9: fz_check_rc(ipcq_ack(r->ack, fz_token(r, p)), "ipcq_ack"); break;
	case 10:
		fz_check_rc(ipcq_nack(r->ack, fz_token(r, p), IPCQ_NACK_REQUEUE), "ipcq_nack");
		break;
	case 11:
		fz_check_rc(ipcq_nack(r->ack, fz_token(r, p), IPCQ_NACK_POISON), "ipcq_nack");
		break;
	case 12: fz_peek(r, r->ack, 1, 1, p, IPCQ_NOWAIT); break;
	case 13: fz_check_rc(ipcq_ack(r->ack, fz_token(r, p | 8)), "ipcq_ack forged"); break;
	case 14: fz_poison_read(r, p & 1 ? r->ro : r->mgmt, p + 1); break;
	case 15: fz_check_rc(ipcq_poison_replay(r->mgmt, IPCQ_POISON_ALL), "ipcq_poison_replay"); break;
	case 16: {
		struct ipcq_poison pz;
		if (ipcq_poison_list(r->ro, 0, &pz, 1) == 1)
			fz_check_rc(ipcq_poison_replay(p & 1 ? r->cons : r->mgmt, pz.id),
				    "ipcq_poison_replay");
		break;
	}
	case 17: {
		struct ipcq_poison pz;
		if (p & 1)
			fz_check_rc(ipcq_poison_purge(r->mgmt, IPCQ_POISON_ALL), "ipcq_poison_purge");
		else if (ipcq_poison_list(r->ro, 0, &pz, 1) == 1)
			fz_check_rc(ipcq_poison_purge(r->mgmt, pz.id), "ipcq_poison_purge");
		break;
	}
	case 18: fz_recover(p & 1 ? r->cons : r->mgmt); break;
	case 19:
		fz_groups(r, p & 1 ? r->ro : r->mgmt, p);
		fz_stats(r, p & 1 ? r->ro : r->cons, p);
		fz_info(r, r->mgmt);
		fz_browse(r, p & 1 ? r->ro : r->mgmt, p);
		if (p & 2)
			fz_numa(p & 4 ? r->ro : r->prod);
		break;
	case 20:
		(void)ipcq_detach(r->cons);
		fz_attach(r->cons, p & 1 ? IPCQ_ROLE_CONSUMER | IPCQ_ROLE_PRODUCER : IPCQ_ROLE_CONSUMER,
			  0, NULL, IPCQ_FULL_FAIL, IPCQ_AUTO);
		break;
	case 21:
		(void)ipcq_detach(r->ack);
		r->ntokens = 0;
		fz_attach(r->ack, IPCQ_ROLE_CONSUMER, IPCQ_ATTACH_ACK, "fz-ack", IPCQ_FULL_BLOCK,
			  p & 1 ? 1 : IPCQ_AUTO);
		break;
	case 22: fz_reserve(r, r->prod, p % 4 + 1, p / 2, p & 4 ? FZ_SHORT : IPCQ_NOWAIT); break;
	case 23:
		if (FZ_AVOID_KNOWN)
			break; /* see the top */
		/* the producer again, now dropping the oldest when full */
		(void)ipcq_detach(r->prod);
		if (fz_attach(r->prod, IPCQ_ROLE_PRODUCER, 0, NULL, IPCQ_FULL_DROP_OLDEST,
			      IPCQ_AUTO) == 0)
			fz_send(r, r->prod, p % 3, IPCQ_NOWAIT);
		break;
	case 24:
		(void)ipcq_detach(r->named);
		fz_attach(r->named, IPCQ_ROLE_PRODUCER, IPCQ_ATTACH_DEDUP,
			  p & 1 ? "fz-other" : FZ_PRODUCER_NAME, IPCQ_FULL_FAIL, IPCQ_AUTO);
		break;
	case 25:
		fz_check_rc(ipcq_dedup_remove(r->mgmt, p & 1 ? "other" : FZ_PRODUCER_NAME),
			    "ipcq_dedup_remove");
		break;
	case 26: fz_send(r, r->prod, p, FZ_SHORT); break;
	case 27: fz_recv_batch(r, r->ack, 1, 1); break;
	/* a short wait: the waiting calls run recovery and adopt what dead
	 * consumers claimed */
	case 28: fz_recv(r, r->cons, p & 1, p, 0, FZ_SHORT); break;
	case 29: fz_recv(r, r->ack, p & 1, p, 1, FZ_SHORT); break;
	case 30: fz_peek(r, r->cons, p + 1, 0, p, FZ_SHORT); break;
	case 31: fz_peek(r, r->ack, 1, 1, p, FZ_SHORT); break;
	default: break;
	}
}

static void fz_exercise(const uint8_t *ops, size_t nops)
{
	struct fz_run r;
	struct ipcq **w[5];
	int rc_ro, rc;

	memset(&r, 0, sizeof(r));
	w[0] = &r.prod, w[1] = &r.cons, w[2] = &r.ack, w[3] = &r.named, w[4] = &r.mgmt;
	rc_ro = ipcq_open_readonly(fz.name, &r.ro);
	fz_check_rc(rc_ro, "ipcq_open_readonly");
	for (unsigned i = 0; i < 5; i++) {
		rc = ipcq_open(fz.name, w[i]);
		fz_check_rc(rc, "ipcq_open");
		/* the verdict is the file's, whoever asks */
		FZ_CHECK(rc == rc_ro, "ipcq_open %d, ipcq_open_readonly %d", rc, rc_ro);
	}
	/* from here on a crash leaves nothing behind */
	FZ_CHECK(ipcq_unlink(fz.name) == 0, "ipcq_unlink");
	if (rc_ro)
		return;

	/* monitors first: they read everything and write nothing */
	fz_info(&r, r.ro);
	fz_stats(&r, r.ro, 8);
	fz_poison_read(&r, r.ro, 8);
	fz_numa(r.ro);
	FZ_CHECK(ipcq_attach(r.ro, IPCQ_ROLE_CONSUMER, NULL) == -EPERM, "attach read-only");
	FZ_CHECK(ipcq_recover(r.ro, NULL) == -EPERM, "recover read-only");

	/* recovery by an unattached handle (it attaches for the call) */
	fz_recover(r.mgmt);
	fz_info(&r, r.mgmt);

	fz_attach(r.prod, IPCQ_ROLE_PRODUCER, 0, "fz-prod", IPCQ_FULL_BLOCK, IPCQ_AUTO);
	fz_attach(r.cons, IPCQ_ROLE_CONSUMER, 0, "fz-cons", IPCQ_FULL_FAIL, IPCQ_AUTO);
	fz_attach(r.ack, IPCQ_ROLE_CONSUMER, IPCQ_ATTACH_ACK, "fz-ack", IPCQ_FULL_BLOCK, IPCQ_AUTO);
	fz_attach(r.named, IPCQ_ROLE_PRODUCER, IPCQ_ATTACH_DEDUP, FZ_PRODUCER_NAME, IPCQ_FULL_FAIL,
		  IPCQ_AUTO);

	/* fast mode: too small a buffer, then a large one, then batches and peeks */
	fz_recv(&r, r.cons, 0, 0, 0, IPCQ_NOWAIT);
	fz_recv(&r, r.cons, 1, 0, 0, IPCQ_NOWAIT);
	fz_recv(&r, r.cons, 0, 2, 0, IPCQ_NOWAIT);
	fz_recv_batch(&r, r.cons, 4, 0);
	fz_peek(&r, r.cons, 4, 0, 0, IPCQ_NOWAIT);
	fz_recv(&r, r.cons, 1, 0, 0, FZ_SHORT);

	/* ack mode: leases, acks and nacks of what was handed out */
	fz_recv(&r, r.ack, 0, 1, 1, IPCQ_NOWAIT);
	fz_recv(&r, r.ack, 1, 0, 1, IPCQ_NOWAIT);
	fz_recv(&r, r.ack, 1, 0, 1, IPCQ_NOWAIT);
	fz_recv_batch(&r, r.ack, 1, 1);
	fz_check_rc(ipcq_ack(r.ack, fz_token(&r, 0)), "ipcq_ack");
	fz_check_rc(ipcq_nack(r.ack, fz_token(&r, 1), IPCQ_NACK_REQUEUE), "ipcq_nack");
	fz_check_rc(ipcq_nack(r.ack, fz_token(&r, 2), IPCQ_NACK_POISON), "ipcq_nack");
	fz_check_rc(ipcq_ack(r.ack, fz_token(&r, 8)), "ipcq_ack forged");
	fz_peek(&r, r.ack, 1, 1, 1, IPCQ_NOWAIT);
	fz_recv(&r, r.ack, 1, 0, 1, FZ_SHORT);

	/* producers: a few sends of each kind */
	fz_send(&r, r.prod, 1, IPCQ_NOWAIT);
	fz_send(&r, r.prod, 2, IPCQ_NOWAIT);
	fz_send(&r, r.prod, 3, IPCQ_NOWAIT);
	fz_send(&r, r.prod, 1, FZ_SHORT);
	fz_send_batch(&r, r.prod, 3);
	if (r.named)
		fz_send_seq(&r, 0);
	fz_reserve(&r, r.prod, 2, 1, IPCQ_NOWAIT);

	/* the side ring through a writable handle, then recovery by attached handles */
	fz_poison_read(&r, r.mgmt, 2);
	{
		struct ipcq_poison pz;
		if (ipcq_poison_list(r.mgmt, 0, &pz, 1) == 1)
			fz_check_rc(ipcq_poison_replay(r.mgmt, pz.id), "ipcq_poison_replay");
	}
	fz_recover(r.cons);
	fz_stats(&r, r.cons, 3);
	fz_info(&r, r.prod);

	for (size_t i = 0; i < nops; i++) {
		if (fz.verbose) {
			struct ipcq_info vi;
			memset(&vi, 0, sizeof(vi));
			vi.size = sizeof(vi);
			ipcq_info(r.ro, &vi);
			fprintf(stderr, "op %u/%u: enq %llu deq %llu\n", ops[i] & 31, ops[i] >> 5,
				(unsigned long long)vi.enqueued, (unsigned long long)vi.dequeued);
		}
		fz_op(&r, ops[i]);
	}

	/* drain what is left, so that every slot is read once more */
	for (unsigned i = 0; i < r.capacity + 2 && i < 64; i++)
		fz_recv(&r, r.cons, 1, 0, 0, IPCQ_NOWAIT);
	fz_check_rc(ipcq_poison_replay(r.mgmt, IPCQ_POISON_ALL), "ipcq_poison_replay");
	fz_check_rc(ipcq_poison_purge(r.mgmt, IPCQ_POISON_ALL), "ipcq_poison_purge");
	fz_stats(&r, r.ro, 8);

	for (unsigned i = 0; i < 5; i++)
		if (*w[i] && (*w[i])->index >= 0)
			fz_check_rc(ipcq_detach(*w[i]), "ipcq_detach");
	ipcq_close(r.ro);
	r.ro = NULL;
	for (unsigned i = 0; i < 5; i++) {
		ipcq_close(*w[i]);
		*w[i] = NULL;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len = 0;

	if (!fz.ready)
		LLVMFuzzerInitialize(NULL, NULL);
	if (size < 2)
		return 0;
	unsigned mode = data[0];
	size_t nops = data[1];
	if (nops > size - 2)
		nops = size - 2;
	const uint8_t *ops = data + 2;
	uint8_t *img = fz_image(data + 2 + nops, size - 2 - nops, mode, &len);
	if (!img)
		return 0;
	/* descriptors leaked by the library would end every run in -EMFILE */
	int fd_before = dup(2);
	close(fd_before);
	if (fz_write(img, len) == 0) {
		fz_exercise(ops, nops);
		unlink(fz.path);
	}
	free(img);
	int fd_after = dup(2);
	close(fd_after);
	FZ_CHECK(fd_after == fd_before, "file descriptor leaked (%d then %d)", fd_before, fd_after);
	return 0;
}
