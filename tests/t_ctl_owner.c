/* t_ctl_owner: ipcq-ctl and ipcq-stat refuse another user's queue naming their option --any-owner (never the library's IPCQ_OPEN_ANY_OWNER), the ipcq-stat list (text and JSON) shows the owner's uid, and a user the file's mode shuts out is told that a group member also needs --any-owner.  Needs root, to hand a queue to other users. */
#include "statutil.h"

#include <grp.h>

enum { OWNER = 65534, OTHER = 65533 };

static char qname[96];
static char dir[] = "/tmp/ipcq-ctlown.XXXXXX";
static char ctl[PATH_MAX], stat_tool[PATH_MAX]; /* copies uid OTHER can run */

static struct s_run run(char *tool, const char *a, const char *b, const char *c)
{
	char *argv[] = { tool, (char *)a, (char *)b, (char *)c, NULL };
	return s_exec(argv);
}

/* A refusal of another user's queue: exit 1, the owner's uid and the
 * tool's option, not the library's flag. */
static void refused_owner(struct s_run r, const char *tool_says)
{
	char want[160];
	snprintf(want, sizeof(want), "operation not permitted: the queue is owned by uid %d, not "
		 "by you (uid %d); --any-owner %s if you trust that user\n", OWNER, (int)geteuid(),
		 tool_says);
	S_EXPECT(r.status == 1 && strstr(r.err, qname) && strstr(r.err, want) &&
		 !strstr(r.err, "IPCQ_OPEN_ANY_OWNER"), r);
	s_run_free(&r);
}

/* Runs as uid OTHER, in no group of the queue: the mode shuts it out. */
static int shut_out(void *arg)
{
	(void)arg;
	if (setgroups(0, NULL) != 0 || setresgid(OTHER, OTHER, OTHER) != 0 ||
	    setresuid(OTHER, OTHER, OTHER) != 0)
		T_FAIL("cannot become uid %d: %s", OTHER, strerror(errno));
	const char *hint = "member of its group for a 0640/0660 queue, with --any-owner too";
	struct s_run r = run(ctl, "peek", qname, NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "permission denied") &&
		 strstr(r.err, "run as the queue's owner, or as a member of its group for a "
			       "0640/0660 queue (with --any-owner too"), r);
	s_run_free(&r);
	r = run(stat_tool, qname, NULL, NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "permission denied") && strstr(r.err, hint) &&
		 strstr(r.err, "may not read it"), r);
	s_run_free(&r);
	return 0;
}

/* Runs as uid OTHER in the queue's group: the mode lets it read, the
 * owner check refuses it until --any-owner. */
static int in_group(void *arg)
{
	(void)arg;
	gid_t g = OWNER;
	if (setgroups(1, &g) != 0 || setresgid(OTHER, OTHER, OTHER) != 0 ||
	    setresuid(OTHER, OTHER, OTHER) != 0)
		T_FAIL("cannot become uid %d in group %d: %s", OTHER, OWNER, strerror(errno));
	refused_owner(run(ctl, "peek", qname, NULL), "works on it");
	refused_owner(run(stat_tool, qname, NULL, NULL), "opens it");
	struct s_run r = run(ctl, "--any-owner", "peek", qname);
	S_EXPECT(r.status == 0 && strstr(r.out, "|owned|"), r);
	s_run_free(&r);
	r = run(stat_tool, "--any-owner", qname, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, qname), r);
	s_run_free(&r);
	return 0;
}

int main(void)
{
	t_watchdog(t_limit(60), "t_ctl_owner", NULL);
	if (geteuid() != 0) {
		printf("t_ctl_owner: skipped: needs root to hand a queue to another user\n");
		return T_SKIP;
	}
	snprintf(qname, sizeof(qname), "%s", t_qname("ctlown"));
	struct ipcq_config cfg = t_config(8, 64);
	struct ipcq *q = t_create(qname, &cfg);
	struct ipcq *p = t_open_attach(qname, IPCQ_ROLE_PRODUCER, NULL);
	CHECK_OK(ipcq_send(p, "owned", 5, IPCQ_NOWAIT));
	ipcq_close(p);
	ipcq_close(q);
	CHECK(chown(t_shm_path(qname), OWNER, OWNER) == 0);

	/* root, not the owner: refused, naming --any-owner */
	refused_owner(s_tool_run("ipcq-ctl", "peek", qname, NULL, NULL, NULL), "works on it");
	refused_owner(s_tool_run("ipcq-ctl", "poison", "list", qname, NULL, NULL), "works on it");
	refused_owner(s_tool_run("ipcq-stat", qname, NULL, NULL, NULL, NULL), "opens it");
	refused_owner(s_tool_run("ipcq-stat", "--json", qname, NULL, NULL, NULL), "opens it");

	/* the list: the owner's uid, in text and JSON */
	struct s_run r = s_tool_run("ipcq-stat", NULL, NULL, NULL, NULL, NULL);
	{
		const char *at = strstr(r.out, qname);
		const char *eol = at ? strchr(at, '\n') : NULL;
		const char *says = at ? strstr(at, "error: operation not permitted: owned by uid 65534 "
					       "(--any-owner opens it)") : NULL;
		S_EXPECT(r.status == 0 && says && eol && says < eol, r);
	}
	s_run_free(&r);
	r = s_tool_run("ipcq-stat", "--json", NULL, NULL, NULL, NULL);
	{
		const char *at = strstr(r.out, qname);
		const char *uid = at ? strstr(at, "\"owner_uid\": 65534") : NULL;
		const char *end = at ? strchr(at, '}') : NULL;
		S_EXPECT(r.status == 0 && uid && end && uid < end && strstr(at, "\"errno\": 1") < end,
			 r);
	}
	s_run_free(&r);
	r = s_tool_run("ipcq-stat", "--any-owner", NULL, NULL, NULL, NULL);
	{
		const char *at = strstr(r.out, qname);
		const char *eol = at ? strchr(at, '\n') : NULL;
		const char *err = at ? strstr(at, "error") : NULL;
		S_EXPECT(r.status == 0 && at && (!err || err > eol), r);
	}
	s_run_free(&r);

	/* other users, with the tools copied where they can run them */
	if (!mkdtemp(dir) || chmod(dir, 0755) != 0)
		T_FAIL("mkdtemp %s: %s", dir, strerror(errno));
	s_tool_copy("ipcq-ctl", dir, ctl);
	s_tool_copy("ipcq-stat", dir, stat_tool);
	CHECK(t_wait(t_fork(shut_out, NULL)) == 0);
	CHECK(chmod(t_shm_path(qname), 0640) == 0);
	CHECK(t_wait(t_fork(in_group, NULL)) == 0);
	CHECK(unlink(ctl) == 0 && unlink(stat_tool) == 0 && rmdir(dir) == 0);

	CHECK(chown(t_shm_path(qname), 0, 0) == 0);
	printf("t_ctl_owner: ok\n");
	return 0;
}
