/* Queue names and the segment file: bad names, -EEXIST, -ENOENT, symlinks (-ELOOP), permissions (mode, -EPERM, -EACCES), unlink. */
#include "ipcq.h"
#include "testutil.h"

#include <grp.h>

/* create, open and unlink must all refuse @name with @want. */
static void expect_bad_name(const char *name, int want, const char *what)
{
	struct ipcq *q = NULL;
	int rc = ipcq_create(name, NULL, &q);
	if (rc != want) {
		if (rc == 0)
			ipcq_close(q);
		T_FAIL("%s: ipcq_create returned %d (%s), expected %d", what, rc, ipcq_strerror(rc),
		       want);
	}
	CHECK(q == NULL);
	rc = ipcq_open(name, &q);
	if (rc != want)
		T_FAIL("%s: ipcq_open returned %d (%s), expected %d", what, rc, ipcq_strerror(rc), want);
	CHECK(q == NULL);
	rc = ipcq_unlink(name);
	if (rc != want)
		T_FAIL("%s: ipcq_unlink returned %d (%s), expected %d", what, rc, ipcq_strerror(rc),
		       want);
}

static void test_bad_names(void)
{
	char longname[IPCQ_NAME_MAX + 2];
	memset(longname, 'a', sizeof(longname));
	longname[IPCQ_NAME_MAX + 1] = '\0';

	expect_bad_name(NULL, -EINVAL, "NULL");
	expect_bad_name("", -EINVAL, "empty");
	expect_bad_name(longname, -ENAMETOOLONG, "IPCQ_NAME_MAX + 1 bytes");
	expect_bad_name("a/b", -EINVAL, "slash");
	expect_bad_name("/abc", -EINVAL, "leading slash");
	expect_bad_name("../etc", -EINVAL, "dot-dot");
	expect_bad_name("a b", -EINVAL, "space");
	expect_bad_name(" ab", -EINVAL, "leading space");
	expect_bad_name("ab\t", -EINVAL, "tab");
	expect_bad_name("ab\n", -EINVAL, "newline");
	expect_bad_name(".hidden", -EINVAL, "leading dot");
	expect_bad_name(".", -EINVAL, "dot");
	expect_bad_name("..", -EINVAL, "dot-dot alone");
	expect_bad_name("caf\xc3\xa9", -EINVAL, "non-ASCII (UTF-8)");
	expect_bad_name("\xff", -EINVAL, "non-ASCII byte");
	expect_bad_name("a*b", -EINVAL, "star");
	expect_bad_name("a:b", -EINVAL, "colon");
	expect_bad_name("a\\b", -EINVAL, "backslash");
	expect_bad_name("a\x7f", -EINVAL, "DEL");
}

static void test_good_names(void)
{
	char name[IPCQ_NAME_MAX + 1];
	/* the longest name, and every allowed character */
	int n = snprintf(name, sizeof(name), "t.max.%d.", (int)getpid());
	memset(name + n, 'x', IPCQ_NAME_MAX - (size_t)n);
	name[IPCQ_NAME_MAX] = '\0';
	const char *names[] = { name, "t-A_z.0-9", "T" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct ipcq *q = NULL, *q2 = NULL;
		(void)ipcq_unlink(names[i]);
		CHECK_RC(ipcq_create(names[i], NULL, &q), 0);
		t_cleanup(names[i]);
		CHECK(t_shm_exists(names[i]));
		CHECK_RC(ipcq_open(names[i], &q2), 0);
		CHECK_RC(ipcq_close(q2), 0);
		CHECK_RC(ipcq_close(q), 0);
		CHECK_RC(ipcq_unlink(names[i]), 0);
		CHECK(!t_shm_exists(names[i]));
	}
}

static void test_lifecycle(void)
{
	const char *name = t_qname("life");
	struct ipcq *q = NULL, *q2 = NULL, *q3 = NULL;
	char buf[16];

	CHECK_RC(ipcq_open(name, &q), -ENOENT);
	CHECK(q == NULL);
	CHECK_RC(ipcq_unlink(name), -ENOENT);
	q = t_create(name, NULL);

	/* exclusive create: the queue is left as it was */
	CHECK_RC(ipcq_create(name, NULL, &q2), -EEXIST);
	CHECK(q2 == NULL);
	struct ipcq_config other = t_config(8, 8);
	CHECK_RC(ipcq_create(name, &other, &q2), -EEXIST);
	CHECK(t_info(q).capacity == 1024);

	/* default mode is 0600, the segment is fully reserved */
	struct stat st;
	CHECK(stat(t_shm_path(name), &st) == 0);
	CHECK(S_ISREG(st.st_mode));
	if ((st.st_mode & 07777) != 0600)
		T_FAIL("default mode is 0%o, expected 0600", st.st_mode & 07777);
	CHECK(st.st_uid == geteuid());
	CHECK((uint64_t)st.st_size == t_info(q).segment_size);
	CHECK((uint64_t)st.st_blocks * 512 >= t_info(q).segment_size);

	/* a message survives close and reopen */
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL), 0);
	CHECK_RC(ipcq_send(q, "hello", 5, IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_close(q), 0);
	q = NULL;
	q2 = t_open_attach(name, IPCQ_ROLE_CONSUMER | IPCQ_ROLE_PRODUCER, NULL);
	CHECK_RC(ipcq_recv(q2, buf, sizeof(buf), NULL, IPCQ_NOWAIT), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);

	/* unlink removes the name only: open handles keep working */
	CHECK_RC(ipcq_unlink(name), 0);
	CHECK(!t_shm_exists(name));
	CHECK_RC(ipcq_open(name, &q3), -ENOENT);
	CHECK_RC(ipcq_unlink(name), -ENOENT);
	CHECK_RC(ipcq_send(q2, "again", 5, IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_recv(q2, buf, sizeof(buf), NULL, IPCQ_NOWAIT), 5);
	CHECK(memcmp(buf, "again", 5) == 0);

	/* the name is free for a new, empty queue */
	q3 = t_create(name, NULL);
	CHECK(t_info(q3).enqueued == 0);
	CHECK_RC(ipcq_close(q3), 0);
	CHECK_RC(ipcq_close(q2), 0);
	CHECK_RC(ipcq_unlink(name), 0);
	CHECK_RC(ipcq_close(NULL), 0);
}

static void test_modes(void)
{
	const uint32_t modes[] = { 0640, 0660 };
	mode_t old = umask(022);
	for (size_t i = 0; i < 2; i++) {
		struct ipcq_config c = IPCQ_CONFIG_INIT;
		const char *name = t_qname("mode");
		struct stat st;
		c.mode = modes[i];
		struct ipcq *q = t_create(name, &c);
		CHECK(stat(t_shm_path(name), &st) == 0);
		if ((st.st_mode & 07777) != modes[i])
			T_FAIL("mode 0%o asked (umask 022), segment has 0%o", modes[i],
			       st.st_mode & 07777);
		CHECK(t_info(q).mode == modes[i]);
		/* ipcq_info() tells the file's mode, a later chmod included */
		CHECK(chmod(t_shm_path(name), 0600) == 0);
		CHECK(t_info(q).mode == 0600);
		CHECK(chmod(t_shm_path(name), modes[i]) == 0);
		struct ipcq *q2 = NULL;
		CHECK_RC(ipcq_open(name, &q2), 0);
		CHECK_RC(ipcq_close(q2), 0);
		CHECK_RC(ipcq_close(q), 0);
		CHECK_RC(ipcq_unlink(name), 0);
	}
	umask(old);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	if (fd < 0)
		T_FAIL("open %s: %s", path, strerror(errno));
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	CHECK(fchmod(fd, mode) == 0);
	close(fd);
}

static void check_file(const char *path, const char *text, mode_t mode)
{
	char buf[256];
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW);
	if (fd < 0)
		T_FAIL("open %s: %s", path, strerror(errno));
	ssize_t n = read(fd, buf, sizeof(buf));
	CHECK(fstat(fd, &st) == 0);
	close(fd);
	if (n != (ssize_t)strlen(text) || memcmp(buf, text, (size_t)n) != 0)
		T_FAIL("%s: content changed", path);
	if ((st.st_mode & 07777) != mode)
		T_FAIL("%s: mode changed to 0%o", path, st.st_mode & 07777);
}

/* The name is never followed through a symbolic link. */
static void test_symlinks(void)
{
	char target[128], missing[128];
	const char *name = t_qname("link");
	const char *path = t_shm_path(name);
	struct ipcq *q = NULL;
	snprintf(target, sizeof(target), "/dev/shm/t.target.%d", (int)getpid());
	snprintf(missing, sizeof(missing), "/dev/shm/t.missing.%d", (int)getpid());
	unlink(target);
	unlink(missing);
	write_file(target, "precious", 0600);

	CHECK(symlink(target, path) == 0);
	CHECK_RC(ipcq_create(name, NULL, &q), -EEXIST);
	CHECK(q == NULL);
	CHECK_RC(ipcq_open(name, &q), -ELOOP);
	CHECK(q == NULL);
	check_file(target, "precious", 0600);
	/* only a regular file is removed */
	CHECK(ipcq_unlink(name) < 0);
	struct stat st;
	CHECK(lstat(path, &st) == 0 && S_ISLNK(st.st_mode));
	check_file(target, "precious", 0600);
	CHECK(unlink(path) == 0);

	/* a dangling link: create must not create its target */
	CHECK(symlink(missing, path) == 0);
	CHECK_RC(ipcq_create(name, NULL, &q), -EEXIST);
	CHECK_RC(ipcq_open(name, &q), -ELOOP);
	CHECK(q == NULL);
	CHECK(lstat(missing, &st) < 0 && errno == ENOENT);
	CHECK(unlink(path) == 0);

	/* a link to a real queue's segment is refused as well */
	const char *real = t_qname("real");
	struct ipcq *rq = t_create(real, NULL);
	CHECK(symlink(t_shm_path(real), path) == 0);
	CHECK_RC(ipcq_open(name, &q), -ELOOP);
	CHECK(unlink(path) == 0);
	CHECK_RC(ipcq_close(rq), 0);
	CHECK_RC(ipcq_unlink(real), 0);
	CHECK(unlink(target) == 0);
}

/* Segments others can write, and things that are not regular files. */
static void test_not_trusted(void)
{
	const char *name = t_qname("perm");
	const char *path = t_shm_path(name);
	t_cleanup(name);
	struct ipcq *q = t_create(name, NULL), *q2 = NULL;
	const mode_t bad[] = { 0666, 0602, 0622, 0606 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(chmod(path, bad[i]) == 0);
		int rc = ipcq_open(name, &q2);
		if (rc != -EPERM)
			T_FAIL("segment mode 0%o: ipcq_open returned %d (%s), expected -EPERM",
			       bad[i], rc, ipcq_strerror(rc));
		CHECK(q2 == NULL);
	}
	CHECK(chmod(path, 0600) == 0);
	CHECK_RC(ipcq_open(name, &q2), 0);
	CHECK_RC(ipcq_close(q2), 0);
	q2 = NULL;
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_unlink(name), 0);

	/* a directory and a FIFO under the name */
	CHECK(mkdir(path, 0700) == 0);
	CHECK_RC(ipcq_open(name, &q2), -EPERM);
	CHECK(q2 == NULL);
	CHECK(ipcq_unlink(name) < 0);
	CHECK(rmdir(path) == 0);
	CHECK(mkfifo(path, 0600) == 0);
	t_watchdog(30, "open of a FIFO", NULL); /* must not block */
	CHECK_RC(ipcq_open(name, &q2), -EPERM);
	t_watchdog(0, NULL, NULL);
	CHECK(q2 == NULL);
	CHECK(unlink(path) == 0);
}

/* A user without access to the segment gets -EACCES. */
static int open_as_other(void *arg)
{
	const char *name = (const char *)arg;
	struct ipcq *q = NULL;
	if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
			       setresuid(65534, 65534, 65534) != 0))
		T_FAIL("cannot drop privileges: %s", strerror(errno));
	CHECK_RC(ipcq_open(name, &q), -EACCES);
	CHECK(q == NULL);
	return 0;
}

static void test_access(void)
{
	const char *name = t_qname("acc");
	struct ipcq *q = t_create(name, NULL);
	if (geteuid() != 0)
		CHECK(chmod(t_shm_path(name), 0400) == 0); /* the owner may not write */
	CHECK(t_reap(t_spawn(open_as_other, (void *)(uintptr_t)name)) == 0);
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_unlink(name), 0);
}

int main(void)
{
	test_bad_names();
	test_good_names();
	test_lifecycle();
	test_modes();
	test_symlinks();
	test_not_trusted();
	test_access();
	return 0;
}
