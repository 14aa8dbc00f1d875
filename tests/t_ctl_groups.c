/* t_ctl_groups: ipcq-ctl creates a queue with room for groups, creates, lists and removes consumer groups, names the group of side-ring entries, and refuses with exit status 1 and a clear message: a group with a live member, an existing or unknown group, a full group table, a bad name, a queue without groups, a missing queue, bad usage. */
#include "statutil.h"

static struct s_run ctl(const char *a1, const char *a2, const char *a3, const char *a4,
			const char *a5)
{
	return s_tool_run("ipcq-ctl", a1, a2, a3, a4, a5);
}

/* A refusal: status 1, and every one of @want (NULL-terminated) on standard error. */
static void refused(struct s_run r, const char *const *want)
{
	S_EXPECT(r.status == 1 && r.out[0] == '\0', r);
	for (; *want; want++)
		S_EXPECT(strstr(r.err, *want) != NULL, r);
	s_run_free(&r);
}

#define REFUSED(run, ...) refused(run, (const char *const[]){ __VA_ARGS__, NULL })

/* The row of group @group in 'group list' output, as its fields. */
static void list_row(const struct s_run *r, const char *group, char f[10][32])
{
	for (const char *l = r->out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		char name[32];
		if (sscanf(l, "%31s", name) != 1 || strcmp(name, group))
			continue;
		if (sscanf(l, "%31s %31s %31s %31s %31s %31s %31s %31s %31s %31s", f[0], f[1], f[2],
			   f[3], f[4], f[5], f[6], f[7], f[8], f[9]) == 10)
			return;
	}
	s_run_show("group list", r);
	T_FAIL("no row for group %s", group);
}

int main(void)
{
	struct s_run r;
	char f[10][32];
	struct ipcq_group_info gi[4];

	t_watchdog(t_limit(60), "t_ctl_groups", NULL);
	const char *name = t_qname("cg");
	t_cleanup(name);

	/* usage */
	r = ctl("--help", NULL, NULL, NULL, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "group create NAME GROUP") &&
		 strstr(r.out, "group remove NAME GROUP") && strstr(r.out, "group list NAME"), r);
	s_run_free(&r);
	r = ctl("create", "--help", NULL, NULL, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "--max-groups"), r);
	s_run_free(&r);
	REFUSED(ctl("group", NULL, NULL, NULL, NULL), "usage: group create");
	REFUSED(ctl("group", "create", name, NULL, NULL), "usage: group create");
	REFUSED(ctl("group", "rename", name, "a", NULL), "usage: group create");
	REFUSED(ctl("group", "create", name, "a", "--durable"), "unknown option '--durable'");

	/* a queue with room for two groups, made by the tool */
	r = ctl("create", name, "--capacity", "16", "--max-groups=2");
	S_EXPECT(r.status == 0 && strstr(r.out, "room for 2 consumer groups"), r);
	s_run_free(&r);
	REFUSED(ctl("create", t_qname("cg-bad"), "--max-groups", "x", NULL), "--max-groups");
	struct ipcq *q = NULL;
	CHECK_OK(ipcq_open(name, &q));
	CHECK_RC(ipcq_group_list(q, NULL, 0), 0);

	r = ctl("group", "list", name, NULL, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "no consumer groups"), r);
	s_run_free(&r);
	r = ctl("group", "list", name, "--json", NULL);
	S_EXPECT(r.status == 0 && !strcmp(r.out, "[]\n"), r);
	s_run_free(&r);

	/* create: a durable group, a lossy one from the oldest message */
	r = ctl("group", "create", name, "work", NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "group 'work' created (index 0), durable"), r);
	s_run_free(&r);
	r = ctl("group", "create", name, "tap", "--lossy");
	S_EXPECT(r.status == 0, r);
	s_run_free(&r);
	CHECK_RC(ipcq_group_list(q, gi, 4), 2);
	CHECK(!strcmp(gi[0].name, "work") && gi[0].flags == 0);
	CHECK(!strcmp(gi[1].name, "tap") && gi[1].flags == IPCQ_GROUP_LOSSY);

	/* the refusals of create */
	REFUSED(ctl("group", "create", name, "work", NULL), "group create", "group work exists");
	REFUSED(ctl("group", "create", name, "third", NULL), "group create", "all 2 groups exist");
	REFUSED(ctl("group", "create", name, "no/slash", NULL), "group create", "group name");
	CHECK_RC(ipcq_group_list(q, NULL, 0), 2);

	/* a member in "work" (ack mode), four messages, one of them nacked as
	 * poison: the side ring names the group it was taken from */
	struct ipcq *p = t_open_attach(name, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *c = t_group_consumer(name, "work", IPCQ_ATTACH_ACK);
	char buf[64];
	struct ipcq_msginfo mi;
	for (int i = 0; i < 4; i++)
		CHECK_OK(ipcq_send(p, "poison-me", 9, IPCQ_NOWAIT));
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), &mi, IPCQ_NOWAIT), 9);
	CHECK_RC(ipcq_nack(c, mi.token, IPCQ_NACK_POISON), 1);
	struct ipcq_poison e;
	CHECK_RC(ipcq_poison_list(q, 0, &e, 1), 1);
	CHECK(e.group == 1);
	char id[32];
	snprintf(id, sizeof(id), "%" PRIu64, e.id);

	r = ctl("poison", "list", name, NULL, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "POISONED GROUP\n"), r);
	{
		/* the entry's row ends with its group */
		const char *row = strstr(r.out, "\n");
		S_EXPECT(row && !strncmp(row + 1 + strspn(row + 1, " "), id, strlen(id)), r);
		size_t len = strcspn(row + 1, "\n");
		S_EXPECT(len > 5 && !strncmp(row + 1 + len - 5, " work", 5), r);
	}
	s_run_free(&r);
	r = ctl("poison", "dump", name, id, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "\ngroup          work (index 0;"), r);
	s_run_free(&r);

	/* list: the lag of each group, its member */
	r = ctl("group", "list", name, NULL, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "2 groups of"), r);
	list_row(&r, "work", f);
	/* GROUP KIND ALIVE DEAD POSITION LAG LAG-AGE DROPPED HOLDING AGE */
	S_EXPECT(!strcmp(f[1], "durable") && !strcmp(f[2], "1") && !strcmp(f[3], "0") &&
		 !strcmp(f[4], "1") && !strcmp(f[5], "3") && !strcmp(f[7], "-") &&
		 !strcmp(f[8], "-"), r);
	list_row(&r, "tap", f);
	S_EXPECT(!strcmp(f[1], "lossy") && !strcmp(f[2], "0") && !strcmp(f[4], "0") &&
		 !strcmp(f[5], "4") && !strcmp(f[7], "0") && !strcmp(f[8], "-"), r);
	s_run_free(&r);
	r = ctl("group", "list", name, "--json", NULL);
	S_EXPECT(r.status == 0, r);
	S_EXPECT(strstr(r.out, "{ \"name\": \"work\", \"index\": 0, \"kind\": \"durable\", "
			       "\"from_oldest\": false, \"members\": 1, \"dead\": 0, \"position\": 1, "
			       "\"start\": 0, \"lag_messages\": 3, "), r);
	S_EXPECT(strstr(r.out, "{ \"name\": \"tap\", \"index\": 1, \"kind\": \"lossy\", "
			       "\"from_oldest\": false, \"members\": 0, \"dead\": 0, \"position\": 0, "
			       "\"start\": 0, \"lag_messages\": 4, "), r);
	s_run_free(&r);

	/* remove: refused while "work" has a live consumer; an unknown group */
	REFUSED(ctl("group", "remove", name, "work", NULL), "group remove",
		"group work has 1 live consumer", "detach first");
	REFUSED(ctl("group", "remove", name, "nope", NULL), "group remove", "no group nope");
	CHECK_RC(ipcq_group_list(q, NULL, 0), 2);
	CHECK_OK(ipcq_close(c));
	r = ctl("group", "remove", name, "work", NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "group 'work' removed"), r);
	s_run_free(&r);
	REFUSED(ctl("group", "remove", name, "work", NULL), "no group work");
	CHECK_RC(ipcq_group_list(q, gi, 4), 1);
	CHECK(!strcmp(gi[0].name, "tap"));

	/* the side entry outlives its group: shown by the index it had */
	if (ipcq_poison_list(q, 0, &e, 1) == 1) {
		r = ctl("poison", "list", name, NULL, NULL);
		S_EXPECT(r.status == 0 && strstr(r.out, " #0 (removed)\n"), r);
		s_run_free(&r);
	}

	/* room again: a group made from the oldest message still in the ring */
	r = ctl("group", "create", name, "late", "--from-oldest");
	S_EXPECT(r.status == 0 && strstr(r.out, "oldest message still in the ring"), r);
	s_run_free(&r);
	CHECK_RC(ipcq_group_list(q, gi, 4), 2);
	CHECK(!strcmp(gi[0].name, "late") && gi[0].flags == IPCQ_GROUP_FROM_OLDEST);

	/* a queue without groups: none to make or remove, none to list */
	const char *plain = t_qname("cg-plain");
	t_cleanup(plain);
	r = ctl("create", plain, NULL, NULL, NULL);
	S_EXPECT(r.status == 0 && !strstr(r.out, "groups"), r);
	s_run_free(&r);
	REFUSED(ctl("group", "create", plain, "work", NULL), "group create",
		"no consumer groups", "--max-groups");
	REFUSED(ctl("group", "remove", plain, "work", NULL), "group remove", "no consumer groups");
	r = ctl("group", "list", plain, NULL, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "no consumer groups"), r);
	s_run_free(&r);
	r = ctl("poison", "list", plain, NULL, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "empty"), r);
	s_run_free(&r);

	/* a missing queue */
	const char *missing = t_qname("cg-missing");
	REFUSED(ctl("group", "list", missing, NULL, NULL), "no such queue", missing);
	REFUSED(ctl("group", "create", missing, "work", NULL), "no such queue", missing);

	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(q));
	printf("t_ctl_groups: ok\n");
	return 0;
}
