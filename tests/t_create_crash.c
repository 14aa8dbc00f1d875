/* A creator killed inside ipcq_create (crash point create.reserved: segment reserved in full, not yet named) leaves nothing in /dev/shm, with O_TMPFILE and with the named fallback (whose leftover a sweep removes while a live creator's is kept); the name stays free and a new create succeeds. */
#include <sched.h>
#include <sys/mount.h>

#include "testutil.h"

#define POINT "create.reserved"

/* A /dev/shm of our own (a private mount namespace, root only): then any
 * new entry is ours, and the listings must match exactly. */
static int private_shm;

/* One directory entry of /dev/shm, dot files included. */
struct ent {
	char name[256];
	ino_t ino;
	off_t size;
};

struct listing {
	struct ent *e;
	size_t n;
};

static int ent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ent *)a)->name, ((const struct ent *)b)->name);
}

static struct listing list_shm(void)
{
	struct listing l = { NULL, 0 };
	size_t cap = 0;
	DIR *d = opendir("/dev/shm");
	struct dirent *de;
	CHECK(d != NULL);
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue; /* gone meanwhile */
		if (l.n == cap) {
			cap = cap ? cap * 2 : 64;
			l.e = (struct ent *)realloc(l.e, cap * sizeof(*l.e));
			CHECK(l.e != NULL);
		}
		snprintf(l.e[l.n].name, sizeof(l.e[0].name), "%s", de->d_name);
		l.e[l.n].ino = st.st_ino;
		l.e[l.n].size = st.st_size;
		l.n++;
	}
	closedir(d);
	if (l.n)
		qsort(l.e, l.n, sizeof(*l.e), ent_cmp);
	return l;
}

static int in_listing(const struct listing *l, const struct ent *e)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->e[i].name, e->name) == 0 && l->e[i].ino == e->ino)
			return 1;
	return 0;
}

/*
 * Is a new entry of /dev/shm the work of our creator @pid building @name
 * (a segment of @size bytes)?  In a private /dev/shm every new entry is.
 * In the shared one other programs come and go: an entry is ours when it
 * names the queue, is a temporary file of our creator, or has exactly our
 * segment's size.
 */
static int is_ours(const struct ent *e, const char *name, pid_t pid, off_t size)
{
	char tmp[64];
	if (private_shm)
		return 1;
	snprintf(tmp, sizeof(tmp), ".ipcq-new.%d.", (int)pid);
	return strstr(e->name, name) != NULL || strncmp(e->name, tmp, strlen(tmp)) == 0 ||
	       e->size == size;
}

/* The new entries in @after that are ours; printed, and counted. */
static unsigned new_entries(const struct listing *before, const struct listing *after,
			    const char *name, pid_t pid, off_t size, const char *when)
{
	unsigned n = 0;
	for (size_t i = 0; i < after->n; i++) {
		const struct ent *e = &after->e[i];
		if (in_listing(before, e))
			continue;
		if (!is_ours(e, name, pid, size)) {
			printf("  (%s: ignoring /dev/shm/%s, another program's)\n", when, e->name);
			continue;
		}
		fprintf(stderr, "%s: new in /dev/shm: %s (%lld bytes)\n", when, e->name,
			(long long)e->size);
		n++;
	}
	return n;
}

struct creator {
	const char *name;
	struct ipcq_config cfg;
	int fallback; /* take the named-file fallback (IPCQ_NO_TMPFILE) */
	int freeze;   /* stop at the point instead of dying there */
};

/* Exits 3 if create returned: the crash point never fired. */
static int creator(void *arg)
{
	const struct creator *c = (const struct creator *)arg;
	struct ipcq *q = NULL;
	if (c->fallback && setenv("IPCQ_NO_TMPFILE", "1", 1) != 0)
		return 2;
	if (c->freeze)
		t_freeze_at(POINT, 1);
	else
		t_crash_at(POINT, 1);
	int rc = ipcq_create(c->name, &c->cfg, &q);
	fprintf(stderr, "creator: ipcq_create returned %d (%s): the crash point %s never fired\n",
		rc, ipcq_strerror(rc), POINT);
	return 3;
}

/* The name is free, and a new create of it succeeds. */
static void name_free_and_usable(const char *name, const struct ipcq_config *cfg)
{
	struct ipcq *q = NULL;
	CHECK(!t_shm_exists(name));
	CHECK_RC(ipcq_open(name, &q), -ENOENT);
	q = t_create(name, cfg);
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, NULL), 0);
	CHECK_RC(ipcq_send(q, "after", 5, IPCQ_NOWAIT), 0);
	char buf[16];
	CHECK_RC(ipcq_recv(q, buf, sizeof(buf), NULL, IPCQ_NOWAIT), 5);
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_unlink(name), 0);
}

/* The size of a segment of @cfg (a probe queue, created and removed). */
static off_t segment_size(const struct ipcq_config *cfg)
{
	const char *probe = t_qname("ccprobe");
	struct ipcq *q = t_create(probe, cfg);
	off_t size = (off_t)t_info(q).segment_size;
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_unlink(probe), 0);
	return size;
}

/* A creator dies at the point; nothing of it may remain, with O_TMPFILE. */
static void killed_unnamed(const struct ipcq_config *cfg, off_t size)
{
	struct creator c = { t_qname("ccrash"), *cfg, 0, 0 };
	t_cleanup(c.name);
	struct listing before = list_shm();
	pid_t pid = t_spawn(creator, &c);
	t_reap_killed(pid, SIGKILL);
	struct listing after = list_shm();
	if (new_entries(&before, &after, c.name, pid, size, "O_TMPFILE, creator killed"))
		T_FAIL("a creator killed at %s left files in /dev/shm", POINT);
	name_free_and_usable(c.name, cfg);
	free(before.e);
	free(after.e);
	printf("O_TMPFILE: killed creator left nothing\n");
}

/* While the creator sits at the point (frozen), nothing is visible yet. */
static void frozen_unnamed(const struct ipcq_config *cfg, off_t size)
{
	struct creator c = { t_qname("ccfrz"), *cfg, 0, 1 };
	t_cleanup(c.name);
	struct listing before = list_shm();
	pid_t pid = t_spawn(creator, &c);
	t_wait_stopped(pid, t_limit(60), "frozen creator");
	struct listing during = list_shm();
	unsigned n = new_entries(&before, &during, c.name, pid, size, "O_TMPFILE, frozen creator");
	CHECK(!t_shm_exists(c.name));
	CHECK_OK(ipcq_sweep());
	CHECK(kill(pid, SIGKILL) == 0);
	t_reap_killed(pid, SIGKILL);
	if (n)
		T_FAIL("a creator building a segment shows it in /dev/shm before it is named");
	struct listing after = list_shm();
	if (new_entries(&before, &after, c.name, pid, size, "O_TMPFILE, frozen then killed"))
		T_FAIL("a creator killed while frozen at %s left files in /dev/shm", POINT);
	name_free_and_usable(c.name, cfg);
	free(before.e);
	free(during.e);
	free(after.e);
}

/* The fallback: the leftover exists, a live creator's is never swept, a
 * dead one's is, by ipcq_sweep() and by the next create. */
static void fallback(const struct ipcq_config *cfg, off_t size)
{
	/* a live (frozen) creator's file stays; once it is dead, a sweep removes it */
	struct creator c = { t_qname("ccfb"), *cfg, 1, 1 };
	t_cleanup(c.name);
	struct listing before = list_shm();
	pid_t pid = t_spawn(creator, &c);
	t_wait_stopped(pid, t_limit(60), "frozen fallback creator");
	struct listing during = list_shm();
	if (new_entries(&before, &during, c.name, pid, size, "fallback, frozen creator") != 1)
		T_FAIL("the fallback creator should build in one visible temporary file");
	CHECK(!t_shm_exists(c.name));
	int swept = ipcq_sweep();
	CHECK_OK(swept);
	struct listing held = list_shm();
	if (new_entries(&before, &held, c.name, pid, size, "fallback, after a sweep") != 1)
		T_FAIL("ipcq_sweep removed the temporary file of a live creator");
	CHECK(kill(pid, SIGKILL) == 0);
	t_reap_killed(pid, SIGKILL);
	swept = ipcq_sweep();
	if (swept < 1)
		T_FAIL("ipcq_sweep returned %d after the creator died, expected >= 1", swept);
	struct listing after = list_shm();
	if (new_entries(&before, &after, c.name, pid, size, "fallback, dead creator swept"))
		T_FAIL("ipcq_sweep left a dead creator's temporary file");
	name_free_and_usable(c.name, cfg);
	free(during.e);
	free(held.e);
	free(after.e);

	/* killed at the point: the next create (of any name) sweeps first */
	struct creator k = { t_qname("ccfbk"), *cfg, 1, 0 };
	t_cleanup(k.name);
	pid = t_spawn(creator, &k);
	t_reap_killed(pid, SIGKILL);
	struct listing left = list_shm();
	if (new_entries(&before, &left, k.name, pid, size, "fallback, creator killed") != 1)
		T_FAIL("the fallback's killed creator should have left one temporary file");
	name_free_and_usable(k.name, cfg); /* its create sweeps */
	struct listing end = list_shm();
	if (new_entries(&before, &end, k.name, pid, size, "fallback, after the next create"))
		T_FAIL("the next ipcq_create did not sweep a dead creator's temporary file");
	free(before.e);
	free(left.e);
	free(end.e);
	printf("fallback: live creator's file kept, dead ones swept\n");
}

/* A private /dev/shm (root, where mount namespaces are allowed). */
static void try_private_shm(void)
{
	if (unshare(CLONE_NEWNS) != 0)
		return;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777") != 0) {
		printf("no private /dev/shm (%s): comparing in the shared one\n", strerror(errno));
		return;
	}
	private_shm = 1;
}

int main(void)
{
	t_need_points();
	unsetenv("IPCQ_NO_TMPFILE");
	try_private_shm();
	printf("%s /dev/shm\n", private_shm ? "private" : "shared");
	t_watchdog(t_limit(120), "t_create_crash", NULL);
	/* an unusual size, so that a leftover is recognized in a shared /dev/shm */
	struct ipcq_config cfg = t_config(64, 3000);
	cfg.max_participants = 7;
	off_t size = segment_size(&cfg);
	killed_unnamed(&cfg, size);
	frozen_unnamed(&cfg, size);
	fallback(&cfg, size);
	t_watchdog(0, NULL, NULL);
	return 0;
}
