/* ipcq_attach/ipcq_detach: bad roles and options, -EALREADY, -EUSERS, reuse of a SIGKILLed holder's entry, -EPERM for calls without the role. */
#include "ipcq.h"
#include "testutil.h"

static void expect_bad_opts(struct ipcq *q, const struct ipcq_attach_opts *o, const char *what)
{
	int rc = ipcq_attach(q, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, o);
	if (rc != -EINVAL)
		T_FAIL("attach with %s returned %d (%s), expected -EINVAL", what, rc,
		       ipcq_strerror(rc));
	CHECK(t_info(q).participant_index == -1);
	CHECK(t_info(q).participants == 0);
}

#define BAD_OPT(field, value)                                              \
	do {                                                               \
		struct ipcq_attach_opts o_ = IPCQ_ATTACH_OPTS_INIT;        \
		o_.field = value;                                          \
		expect_bad_opts(q, &o_, #field " = " #value);              \
	} while (0)

static void test_bad_arguments(void)
{
	const char *name = t_qname("att");
	struct ipcq *q = t_create(name, NULL);
	char longname[IPCQ_PARTICIPANT_NAME_MAX + 2];

	CHECK(t_info(q).participant_index == -1);
	CHECK_RC(ipcq_attach(q, 0, NULL), -EINVAL);
	CHECK_RC(ipcq_attach(q, 4, NULL), -EINVAL);
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER | 8, NULL), -EINVAL);
	CHECK_RC(ipcq_attach(q, ~0u, NULL), -EINVAL);
	CHECK_RC(ipcq_detach(q), -EINVAL);

	BAD_OPT(size, 0);
	BAD_OPT(size, 4);
	BAD_OPT(wait_strategy, 4);
	BAD_OPT(wait_strategy, UINT32_MAX);
	BAD_OPT(flags, 2);
	BAD_OPT(flags, 0x80000000u);
	{
		struct ipcq_attach_opts o_ = IPCQ_ATTACH_OPTS_INIT;
		o_.flags = IPCQ_ATTACH_ACK;
		o_.prefetch = 0;
		expect_bad_opts(q, &o_, "ack mode with prefetch 0");
		o_.prefetch = 257; /* above the default lease_capacity of 256 */
		expect_bad_opts(q, &o_, "ack mode with prefetch > lease_capacity");
	}
	for (size_t i = 0; i < T_NELEM(((struct ipcq_attach_opts *)NULL)->reserved); i++) {
		struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
		o.reserved[i] = 1;
		expect_bad_opts(q, &o, "a nonzero reserved field");
	}
	memset(longname, 'n', sizeof(longname));
	longname[IPCQ_PARTICIPANT_NAME_MAX + 1] = '\0';
	BAD_OPT(name, longname);
	BAD_OPT(name, "tab\there");
	BAD_OPT(name, "nl\n");
	BAD_OPT(name, "\x01");

	/* good options */
	longname[IPCQ_PARTICIPANT_NAME_MAX] = '\0';
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.name = longname;
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER, &o), 0);
	CHECK(t_info(q).participant_index >= 0);
	CHECK(t_info(q).participants == 1);
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL), -EALREADY);
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_CONSUMER, NULL), -EALREADY);
	CHECK_RC(ipcq_detach(q), 0);
	CHECK_RC(ipcq_detach(q), -EINVAL);
	CHECK(t_info(q).participant_index == -1);
	CHECK(t_info(q).participants == 0);
	const uint32_t strategies[] = { IPCQ_WAIT_DEFAULT, IPCQ_WAIT_ADAPTIVE,
					IPCQ_WAIT_BUSY_POLL, IPCQ_WAIT_YIELD };
	for (size_t i = 0; i < 4; i++) {
		o = t_opts(strategies[i], i, 1000000);
		o.name = "worker 1";
		CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, &o), 0);
		CHECK_RC(ipcq_detach(q), 0);
	}
	/* ack mode; prefetch is ignored without it */
	o = t_opts(IPCQ_WAIT_DEFAULT, UINT32_MAX, UINT32_MAX);
	o.prefetch = 0;
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_CONSUMER, &o), 0);
	CHECK_RC(ipcq_detach(q), 0);
	o.flags = IPCQ_ATTACH_ACK;
	o.prefetch = 256;
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_CONSUMER, &o), 0);
	CHECK_RC(ipcq_detach(q), 0);
	o.prefetch = 1;
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_CONSUMER | IPCQ_ROLE_PRODUCER, &o), 0);
	CHECK_RC(ipcq_detach(q), 0);

	/* closing an attached handle detaches it */
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_CONSUMER, NULL), 0);
	struct ipcq *q2 = NULL;
	CHECK_RC(ipcq_open(name, &q2), 0);
	CHECK(t_info(q2).participants == 1);
	CHECK_RC(ipcq_close(q), 0);
	CHECK(t_info(q2).participants == 0);
	CHECK_RC(ipcq_close(q2), 0);
	CHECK_RC(ipcq_unlink(name), 0);
}

/* Calls that need a role fail with -EPERM, and change nothing. */
static void test_roles(void)
{
	const char *name = t_qname("roles");
	struct ipcq *q = t_create(name, NULL);
	char buf[8] = "abc";
	struct ipcq_buf b = { buf, 3 };

	/* not attached */
	CHECK_RC(ipcq_send(q, buf, 3, IPCQ_NOWAIT), -EPERM);
	CHECK_RC(ipcq_send_batch(q, &b, 1, IPCQ_NOWAIT), -EPERM);
	CHECK_RC(ipcq_recv(q, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EPERM);
	CHECK_RC(ipcq_recv_batch(q, &b, NULL, 1, IPCQ_NOWAIT), -EPERM);

	/* consumer only: cannot send */
	struct ipcq *c = t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);
	CHECK_RC(ipcq_send(c, buf, 3, IPCQ_NOWAIT), -EPERM);
	CHECK_RC(ipcq_send(c, buf, 3, 1000000), -EPERM);
	CHECK_RC(ipcq_send_batch(c, &b, 1, IPCQ_FOREVER), -EPERM);
	CHECK(t_info(c).enqueued == 0);

	/* producer only: cannot receive, even with a message waiting */
	struct ipcq *p = t_open_attach(name, IPCQ_ROLE_PRODUCER, NULL);
	CHECK_RC(ipcq_send(p, "xyz", 3, IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_recv(p, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EPERM);
	CHECK_RC(ipcq_recv(p, buf, sizeof(buf), NULL, IPCQ_FOREVER), -EPERM);
	b.len = sizeof(buf);
	CHECK_RC(ipcq_recv_batch(p, &b, NULL, 1, IPCQ_FOREVER), -EPERM);
	CHECK(t_info(p).depth == 1);
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), 3);
	CHECK(memcmp(buf, "xyz", 3) == 0);

	/* after detach the roles are gone */
	CHECK_RC(ipcq_detach(p), 0);
	CHECK_RC(ipcq_send(p, buf, 3, IPCQ_NOWAIT), -EPERM);
	CHECK_RC(ipcq_detach(c), 0);
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EPERM);
	/* and may be taken again, the other way round */
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_CONSUMER, NULL), 0);
	CHECK_RC(ipcq_attach(c, IPCQ_ROLE_PRODUCER, NULL), 0);
	CHECK_RC(ipcq_send(c, "q", 1, IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_recv(p, buf, sizeof(buf), NULL, IPCQ_NOWAIT), 1);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_unlink(name), 0);
}

struct holder {
	const char *name;
	uint32_t attached; /* set by the child once attached */
	int32_t index;
};

/* Attach, say so, then wait to be killed. */
static int hold_entry(void *arg)
{
	struct holder *h = (struct holder *)arg;
	struct ipcq *q = t_open_attach(h->name, IPCQ_ROLE_CONSUMER, NULL);
	h->index = t_info(q).participant_index;
	__atomic_store_n(&h->attached, 1, __ATOMIC_RELEASE);
	for (;;)
		pause();
	return 0;
}

/* A full table gives -EUSERS; the entry of a SIGKILLed holder is reused. */
static void test_table_full(void)
{
	const char *name = t_qname("full");
	struct ipcq_config cfg = IPCQ_CONFIG_INIT;
	cfg.max_participants = 2;
	struct ipcq *q = t_create(name, &cfg);
	struct ipcq *a = t_open_attach(name, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *b = NULL, *third = NULL;
	struct holder *h = (struct holder *)t_shared(sizeof(*h));
	h->name = name;
	t_watchdog(60, "t_attach table full", NULL);

	pid_t pid = t_spawn(hold_entry, h);
	T_AWAIT_KIDS(__atomic_load_n(&h->attached, __ATOMIC_ACQUIRE), 30);
	CHECK(t_info(q).participants == 2);
	CHECK(h->index >= 0 && h->index < 2 && h->index != t_info(a).participant_index);

	/* a third handle, in this process, finds no room */
	CHECK_RC(ipcq_open(name, &third), 0);
	CHECK_RC(ipcq_attach(third, IPCQ_ROLE_CONSUMER, NULL), -EUSERS);
	CHECK(t_info(third).participant_index == -1);
	CHECK_RC(ipcq_attach(third, IPCQ_ROLE_PRODUCER, NULL), -EUSERS);

	/* the holder dies without detaching: its entry is free again */
	CHECK(kill(pid, SIGKILL) == 0);
	t_reap_killed(pid, SIGKILL);
	CHECK(t_info(q).participants == 1);
	CHECK_RC(ipcq_attach(third, IPCQ_ROLE_CONSUMER, NULL), 0);
	CHECK(t_info(third).participant_index == h->index);
	CHECK(t_info(q).participants == 2);
	CHECK_RC(ipcq_open(name, &b), 0);
	CHECK_RC(ipcq_attach(b, IPCQ_ROLE_CONSUMER, NULL), -EUSERS);

	/* the new holder works */
	CHECK_RC(ipcq_send(a, "ok", 2, IPCQ_NOWAIT), 0);
	char buf[4];
	CHECK_RC(ipcq_recv(third, buf, sizeof(buf), NULL, IPCQ_NOWAIT), 2);

	/* a detach frees an entry too */
	CHECK_RC(ipcq_detach(a), 0);
	CHECK_RC(ipcq_attach(b, IPCQ_ROLE_CONSUMER, NULL), 0);
	CHECK_RC(ipcq_attach(a, IPCQ_ROLE_PRODUCER, NULL), -EUSERS);
	t_watchdog(0, NULL, NULL);
	CHECK_RC(ipcq_close(a), 0);
	CHECK_RC(ipcq_close(b), 0);
	CHECK_RC(ipcq_close(third), 0);
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_unlink(name), 0);
	munmap(h, sizeof(*h));
}

/* One entry per handle: many handles of one process fill the table. */
static void test_many_handles(void)
{
	const char *name = t_qname("many");
	struct ipcq_config cfg = IPCQ_CONFIG_INIT;
	enum { N = 5 };
	struct ipcq *h[N + 1];
	cfg.max_participants = N;
	struct ipcq *q = t_create(name, &cfg);
	for (int i = 0; i <= N; i++)
		CHECK_RC(ipcq_open(name, &h[i]), 0);
	for (int i = 0; i < N; i++) {
		CHECK_RC(ipcq_attach(h[i], IPCQ_ROLE_PRODUCER, NULL), 0);
		for (int j = 0; j < i; j++)
			CHECK(t_info(h[i]).participant_index != t_info(h[j]).participant_index);
	}
	CHECK(t_info(q).participants == N);
	CHECK_RC(ipcq_attach(h[N], IPCQ_ROLE_PRODUCER, NULL), -EUSERS);
	for (int i = 0; i <= N; i++)
		CHECK_RC(ipcq_close(h[i]), 0);
	CHECK(t_info(q).participants == 0);
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_unlink(name), 0);
}

int main(void)
{
	test_bad_arguments();
	test_roles();
	test_table_full();
	test_many_handles();
	return 0;
}
