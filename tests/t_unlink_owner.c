/* t_unlink_owner: ipcq_unlink() of another user's queue in sticky /dev/shm is -EACCES with a detail that names the owner and says only its owner or root can remove it, and removes nothing; ipcq-ctl unlink says the same and suggests no option (--any-owner changes nothing here). Needs root, to hand a queue to another user. */
#include "statutil.h"

#include <grp.h>

enum { OWNER = 65534, OTHER = 65533 };

static const char *name;
static char ctl[PATH_MAX]; /* ipcq-ctl, copied where uid OTHER can run it */

/* The tool, copied into a fresh directory that every user can enter. */
static void copy_tool(char *dir)
{
	if (!mkdtemp(dir) || chmod(dir, 0755) != 0)
		T_FAIL("mkdtemp %s: %s", dir, strerror(errno));
	s_tool_copy("ipcq-ctl", dir, ctl);
}

static struct s_run run_ctl(const char *a, const char *b, const char *c)
{
	char *argv[] = { ctl, (char *)a, (char *)b, (char *)c, NULL };
	return s_exec(argv);
}

/* Runs as uid OTHER. */
static int other_user(void *arg)
{
	char want[512];
	struct s_run r;

	(void)arg;
	if (setgroups(0, NULL) != 0 || setresgid(OTHER, OTHER, OTHER) != 0 ||
	    setresuid(OTHER, OTHER, OTHER) != 0)
		T_FAIL("cannot become uid %d: %s", OTHER, strerror(errno));
	snprintf(want, sizeof(want), "%s belongs to another user (uid %d; this process runs as "
		 "uid %d): only its owner or root can remove it", t_shm_path(name), OWNER, OTHER);
	CHECK_RC(ipcq_unlink(name), -EACCES);
	if (strcmp(ipcq_errdetail(), want) != 0)
		T_FAIL("detail '%s', want '%s'", ipcq_errdetail(), want);
	CHECK(t_shm_exists(name));

	char line[1024];
	snprintf(line, sizeof(line), "ipcq-ctl: %s: %s: %s\n", name, ipcq_strerror(-EACCES), want);
	r = run_ctl("unlink", name, NULL);
	S_EXPECT(r.status == 1 && r.out[0] == '\0' && strcmp(r.err, line) == 0, r);
	s_run_free(&r);
	r = run_ctl("unlink", "--any-owner", name);
	S_EXPECT(r.status == 1 && strcmp(r.err, line) == 0, r);
	s_run_free(&r);
	CHECK(t_shm_exists(name));
	return 0;
}

int main(void)
{
	t_watchdog(t_limit(60), "t_unlink_owner", NULL);
	if (geteuid() != 0) {
		printf("t_unlink_owner: skipped: needs root to hand a queue to another user\n");
		return T_SKIP;
	}
	name = t_qname("unown");
	struct ipcq_config cfg = t_config(8, 64);
	ipcq_close(t_create(name, &cfg));
	CHECK(chown(t_shm_path(name), OWNER, OWNER) == 0);

	char dir[] = "/tmp/ipcq-unown.XXXXXX";
	copy_tool(dir);
	pid_t pid = t_fork(other_user, NULL);
	CHECK(t_wait(pid) == 0);
	CHECK(unlink(ctl) == 0 && rmdir(dir) == 0);

	/* its owner (root here) removes it */
	CHECK(chown(t_shm_path(name), 0, 0) == 0);
	CHECK_OK(ipcq_unlink(name));
	CHECK(!t_shm_exists(name));
	printf("t_unlink_owner: ok\n");
	return 0;
}
