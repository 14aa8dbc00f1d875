/* t_ctl_create: ipcq-ctl create sets the expiry, key and retry fields of ipcq_config (--ttl, --expiry, --expired-to-side, --keyed, --retry-base, --retry-max, --retry-factor), the queue made has them, and a value ipcq_create refuses prints the library's reason. */
#include "statutil.h"
#include "ipcq_internal.h"

#include <stddef.h>

static struct s_run ctl(const char *a1, const char *a2, const char *a3, const char *a4,
			const char *a5)
{
	return s_tool_run("ipcq-ctl", a1, a2, a3, a4, a5);
}

/* The segment header of queue @name, read from its file. */
static struct ipcq_shm_header header_of(const char *name)
{
	struct ipcq_shm_header h;
	int fd = open(t_shm_path(name), O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h));
	close(fd);
	return h;
}

/* A create that must fail with exit status 1 and @why in its message. */
static void refused(struct s_run r, const char *why)
{
	S_EXPECT(r.status == 1 && r.out[0] == '\0' && strstr(r.err, why), r);
	s_run_free(&r);
}

static int send_opts(struct ipcq *p, uint32_t flags, int64_t ttl_ns, uint64_t key)
{
	struct ipcq_send_opts so = IPCQ_SEND_OPTS_INIT;
	so.flags = flags;
	so.ttl_ns = ttl_ns;
	so.key = key;
	return ipcq_send_ex(p, "m", 1, &so, IPCQ_NOWAIT);
}

static void expiry_and_retry(void)
{
	static char name[96];
	snprintf(name, sizeof(name), "%s", t_qname("ccexp"));
	t_cleanup(name);
	struct s_run r = s_tool_runv("ipcq-ctl", "create", name, "-c", "16", "--side-capacity", "8",
				     "--ttl", "250", "--expired-to-side", "--retry-base", "20ms",
				     "--retry-max=2s", "--retry-factor", "3", NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "time to live 250ms") &&
		 strstr(r.out, "moved to the side ring") &&
		 strstr(r.out, "retry backoff 20000us, x3 per delivery, at most 2000000us"), r);
	s_run_free(&r);

	struct ipcq *q;
	CHECK_OK(ipcq_open(name, &q));
	struct ipcq_info in = t_info(q);
	CHECK(in.flags == (IPCQ_CF_EXPIRY | IPCQ_CF_EXPIRED_TO_SIDE));
	CHECK(in.retry_base_us == 20000 && in.retry_max_us == 2000000);
	struct ipcq_shm_header h = header_of(name);
	CHECK(h.ttl_ms == 250 && h.retry_factor == 3);

	/* a message with a time to live of its own is accepted, and one
	 * past it goes to the side ring instead of being received */
	struct ipcq *p = t_open_attach(name, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *c = t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);
	CHECK_OK(send_opts(p, 0, 1000000, 0));
	struct timespec ts = { 0, 20000000 };
	nanosleep(&ts, NULL);
	char buf[16];
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
	CHECK(t_info(q).side_depth == 1);
	ipcq_close(c);
	ipcq_close(p);
	ipcq_close(q);

	/* --json says the same */
	const char *jn = t_qname("ccjson");
	t_cleanup(jn);
	r = s_tool_runv("ipcq-ctl", "create", jn, "--json", "--expiry", "--keyed",
			"--retry-base", "5000", NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "\"ttl_ms\": 0, \"expiry\": true, "
					       "\"expired_to_side\": false, \"keyed\": true") &&
		 strstr(r.out, "\"retry_base_us\": 5000, \"retry_max_us\": 0, \"retry_factor\": 2"),
		 r);
	s_run_free(&r);
}

static void expiry_keyed(void)
{
	/* --expiry without a queue time to live: a send gives one */
	const char *name = t_qname("ccexp2");
	t_cleanup(name);
	struct s_run r = ctl("create", name, "--expiry", NULL, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "no time to live but the one a send gives") &&
		 strstr(r.out, "then dropped"), r);
	s_run_free(&r);
	struct ipcq *p = t_open_attach(name, IPCQ_ROLE_PRODUCER, NULL);
	CHECK(t_info(p).flags == IPCQ_CF_EXPIRY);
	CHECK(header_of(name).ttl_ms == 0);
	CHECK_OK(send_opts(p, 0, 1000000000, 0));
	CHECK_RC(send_opts(p, IPCQ_SEND_F_KEY, 0, 7), -EINVAL); /* not keyed */
	ipcq_close(p);

	/* --keyed: a send with a key is accepted, and its consumer gets it */
	name = t_qname("cckey");
	t_cleanup(name);
	r = ctl("create", name, "--keyed", NULL, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "keyed"), r);
	s_run_free(&r);
	p = t_open_attach(name, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *c = t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);
	CHECK(t_info(p).flags == IPCQ_CF_KEYED);
	CHECK_OK(send_opts(p, IPCQ_SEND_F_KEY, 0, 42));
	CHECK_RC(send_opts(p, 0, 1000000, 0), -EINVAL); /* no expiry */
	struct ipcq_msginfo mi;
	char buf[16];
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), &mi, IPCQ_NOWAIT), 1);
	CHECK((mi.flags & IPCQ_MSG_KEYED) && mi.key == 42);
	ipcq_close(c);
	ipcq_close(p);
}

static void refusals(void)
{
	const char *bad = t_qname("ccbad");

	/* the library's rule, with its detail */
	refused(ctl("create", bad, "--expired-to-side", "--side-capacity", "0"),
		"needs a side ring");
	refused(ctl("create", bad, "--retry-factor", "17", NULL), "retry_factor 17");
	refused(ctl("create", bad, "--retry-base", "2s", "--retry-max=1s"), "max >= base");
	refused(ctl("create", bad, "--retry-base", "70m", NULL), "at most 3600000000");
	refused(ctl("create", bad, "--ttl", "2147483649", NULL), "ttl_ms 2147483649 is above");
	refused(ctl("create", bad, "--keyed", "--max-groups", "2"), "IPCQ_CF_KEYED");
	CHECK(!t_shm_exists(bad));
	/* the tool's own */
	refused(ctl("create", bad, "--ttl", "soon", NULL), "bad value 'soon' for --ttl");
	refused(ctl("create", bad, "--retry-max", "1y", NULL), "bad value '1y' for --retry-max");
	refused(ctl("create", bad, "--keyed=yes", NULL, NULL), "--keyed takes no value");
	refused(ctl("create", bad, "--retry-factor", NULL, NULL), "--retry-factor needs a value");
	CHECK(!t_shm_exists(bad));

	struct s_run r = ctl("create", "--help", NULL, NULL, NULL);
	S_EXPECT(r.status == 0, r);
	static const char *const opts[] = { "--ttl MS", "--expiry", "--expired-to-side",
					    "--keyed", "--retry-base DURATION",
					    "--retry-max DURATION", "--retry-factor N" };
	for (size_t i = 0; i < T_NELEM(opts); i++)
		S_EXPECT(strstr(r.out, opts[i]), r);
	s_run_free(&r);
}

int main(void)
{
	t_watchdog(t_limit(60), "t_ctl_create", NULL);
	expiry_and_retry();
	expiry_keyed();
	refusals();
	printf("t_ctl_create: ok\n");
	return 0;
}
