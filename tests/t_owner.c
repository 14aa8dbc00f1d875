/* Segments of another user are refused (-EPERM) unless the caller asks (IPCQ_OPEN_ANY_OWNER, the tools' --any-owner); segments others may read are refused whatever the flags, and create refuses a mode that gives others access (-EINVAL). The owner part needs root (chown), and is skipped with a message otherwise. */
#include "statutil.h"

#define OTHER_UID 65534u

static void expect_open(const char *name, uint32_t flags, int want, const char *what)
{
	struct ipcq *q = NULL;
	int rc = ipcq_open_flags(name, flags, &q);
	if (rc != want)
		T_FAIL("%s: ipcq_open_flags(0x%x) returned %d (%s), expected %d (%s)", what, flags,
		       rc, ipcq_strerror(rc), want, ipcq_strerror(want));
	if (rc == 0) {
		CHECK(q != NULL);
		CHECK_RC(ipcq_close(q), 0);
	} else {
		CHECK(q == NULL);
	}
}

/* A tool run that must be refused with a message containing @why. */
static void expect_refused(struct s_run r, const char *why, const char *what)
{
	if (r.status != 1 || !strstr(r.err, why)) {
		s_run_show(what, &r);
		T_FAIL("%s: expected exit status 1 with a message saying '%s'", what, why);
	}
	printf("  %s: %s", what, r.err);
	s_run_free(&r);
}

static void expect_ok(struct s_run r, const char *what)
{
	if (r.status != 0) {
		s_run_show(what, &r);
		T_FAIL("%s: expected exit status 0", what);
	}
	s_run_free(&r);
}

static void test_other_owner(void)
{
	const char *name = t_qname("owner");
	const char *path = t_shm_path(name);
	struct ipcq *q = t_create(name, NULL);
	CHECK_RC(ipcq_close(q), 0);
	expect_open(name, 0, 0, "own segment");

	if (geteuid() != 0) {
		printf("not root: cannot give a segment to another user; owner checks skipped\n");
		CHECK_RC(ipcq_unlink(name), 0);
		return;
	}
	CHECK(chown(path, OTHER_UID, OTHER_UID) == 0);

	/* refused by default, by every way of opening */
	q = NULL;
	CHECK_RC(ipcq_open(name, &q), -EPERM);
	CHECK(q == NULL);
	CHECK_RC(ipcq_open_readonly(name, &q), -EPERM);
	CHECK(q == NULL);
	expect_open(name, 0, -EPERM, "another user's segment");
	expect_open(name, IPCQ_OPEN_READONLY, -EPERM, "another user's segment, read-only");
	/* accepted when asked for */
	expect_open(name, IPCQ_OPEN_READONLY | IPCQ_OPEN_ANY_OWNER, 0,
		    "another user's segment, read-only, any owner");
	CHECK_OK(ipcq_open_flags(name, IPCQ_OPEN_ANY_OWNER, &q));
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, NULL), 0);
	CHECK_RC(ipcq_send(q, "hi", 2, IPCQ_NOWAIT), 0);
	char buf[8];
	CHECK_RC(ipcq_recv(q, buf, sizeof(buf), NULL, IPCQ_NOWAIT), 2);
	CHECK_RC(ipcq_close(q), 0);

	/* the tools: refused with the reason, accepted with --any-owner */
	expect_refused(s_tool_run("ipcq-stat", name, NULL, NULL, NULL, NULL), "owned by uid 65534",
		       "ipcq-stat NAME");
	expect_ok(s_tool_run("ipcq-stat", "--any-owner", name, NULL, NULL, NULL),
		  "ipcq-stat --any-owner NAME");
	expect_ok(s_tool_run("ipcq-stat", "--json", "--any-owner", name, NULL, NULL),
		  "ipcq-stat --json --any-owner NAME");
	expect_refused(s_tool_run("ipcq-ctl", "poison", "list", name, NULL, NULL),
		       "owned by uid 65534", "ipcq-ctl poison list");
	expect_refused(s_tool_run("ipcq-ctl", "recover", name, NULL, NULL, NULL),
		       "owned by uid 65534", "ipcq-ctl recover");
	expect_ok(s_tool_run("ipcq-ctl", "--any-owner", "poison", "list", name, NULL),
		  "ipcq-ctl --any-owner poison list");
	expect_ok(s_tool_run("ipcq-ctl", "poison", "list", name, "--any-owner", NULL),
		  "ipcq-ctl poison list NAME --any-owner");
	expect_ok(s_tool_run("ipcq-ctl", "recover", name, "--any-owner", NULL, NULL),
		  "ipcq-ctl recover NAME --any-owner");
	/* listing every queue shows it refused, and lists it with --any-owner */
	struct s_run r = s_tool_run("ipcq-stat", "--json", NULL, NULL, NULL, NULL);
	const char *at = strstr(r.out, name);
	S_EXPECT(r.status == 0 && at && strstr(at, "\"errno\": 1") &&
		 strstr(at, "\"errno\": 1") - at < 300, r);
	s_run_free(&r);

	CHECK(chown(path, geteuid(), getegid()) == 0);
	expect_open(name, 0, 0, "own segment again");
	CHECK_RC(ipcq_unlink(name), 0);
}

static void test_modes(void)
{
	const char *name = t_qname("omode");
	const char *path = t_shm_path(name);
	struct ipcq *q = t_create(name, NULL);
	CHECK_RC(ipcq_close(q), 0);
	const mode_t readable[] = { 0604, 0644, 0664, 0640 | 0004 };
	for (size_t i = 0; i < T_NELEM(readable); i++) {
		char what[64];
		snprintf(what, sizeof(what), "segment mode 0%o", (unsigned)readable[i]);
		CHECK(chmod(path, readable[i]) == 0);
		expect_open(name, 0, -EPERM, what);
		expect_open(name, IPCQ_OPEN_READONLY, -EPERM, what);
		/* whatever the flags */
		expect_open(name, IPCQ_OPEN_READONLY | IPCQ_OPEN_ANY_OWNER, -EPERM, what);
		expect_open(name, IPCQ_OPEN_ANY_OWNER, -EPERM, what);
	}
	expect_refused(s_tool_run("ipcq-stat", name, NULL, NULL, NULL, NULL),
		       "others may read or write", "ipcq-stat NAME (mode 0644)");
	expect_refused(s_tool_run("ipcq-ctl", "--any-owner", "poison", "list", name, NULL),
		       "others may read or write", "ipcq-ctl poison list (mode 0644)");
	CHECK(chmod(path, 0640) == 0);
	expect_open(name, 0, 0, "segment mode 0640");
	CHECK(chmod(path, 0600) == 0);
	expect_open(name, 0, 0, "segment mode 0600");
	/* unknown flags */
	expect_open(name, 0x4, -EINVAL, "unknown flag");
	expect_open(name, 0x80000000u, -EINVAL, "unknown flag");
	CHECK_RC(ipcq_open_flags(name, 0, NULL), -EINVAL);
	CHECK_RC(ipcq_unlink(name), 0);

	/* create refuses a mode that gives others any access */
	const uint32_t bad[] = { 0644, 0604, 0606, 0666, 0602, 0601, 0664 };
	for (size_t i = 0; i < T_NELEM(bad); i++) {
		struct ipcq_config c = IPCQ_CONFIG_INIT;
		const char *n = t_qname("obad");
		c.mode = bad[i];
		q = NULL;
		int rc = ipcq_create(n, &c, &q);
		if (rc != -EINVAL)
			T_FAIL("ipcq_create with mode 0%o returned %d (%s), expected -EINVAL", bad[i], rc,
			       ipcq_strerror(rc));
		CHECK(q == NULL);
		CHECK(!t_shm_exists(n));
	}
}

int main(void)
{
	test_other_owner();
	test_modes();
	return 0;
}
