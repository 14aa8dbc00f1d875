/* t_bridge_refused: a message the in-bridge refused (too large for the queue) is put into the side ring once, and not again after a restart even when the side ring was purged meanwhile (the consumer's ack floor says the bridge was done with it); --dlq naming a subject that no stream takes is refused at start with exit status 1 and nothing put, and once a stream takes it the refused message goes there whole and the flow goes on. */
#include "bridgetest.h"

static uint64_t pub(jsCtx *js, const char *subj, size_t len, int tag)
{
	char buf[512];
	memset(buf, 'a' + tag, sizeof(buf));
	jsPubAck *pa = NULL;
	if (js_Publish(&pa, js, subj, buf, (int)len, NULL, NULL) != NATS_OK)
		T_FAIL("publish");
	uint64_t seq = pa->Sequence;
	jsPubAck_Destroy(pa);
	return seq;
}

static void add_stream(jsCtx *js, const char *name, const char *subject)
{
	jsStreamConfig sc;
	const char *subjects[] = { subject };
	jsStreamConfig_Init(&sc);
	sc.Name = name;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	if (js_AddStream(NULL, js, &sc, NULL, NULL) != NATS_OK)
		T_FAIL("add stream %s", name);
}

/* A queue of 64-byte messages (named @tag, its name in @qname) and a
 * stream @stream of @subject. */
static struct ipcq *make_pair(jsCtx *js, const char *tag, const char *stream,
			      const char *subject, const char **qname)
{
	struct ipcq_config cb = t_config(64, 64);
	cb.side_capacity = 16;
	*qname = t_qname(tag);
	struct ipcq *b = t_create(*qname, &cb);
	add_stream(js, stream, subject);
	return b;
}

/* Receive one message of @len bytes from @b; its sequence. */
static uint64_t recv_len(struct ipcq *b, int len)
{
	struct ipcq_msginfo mi;
	char buf[64];
	CHECK_RC(ipcq_recv(b, buf, sizeof(buf), &mi, 30000000000ll), len);
	return mi.seq;
}

/* Refused, purged, restarted twice: never put again. */
static void restart_after_refusal(const struct bt_server *srv, jsCtx *js, const char *log)
{
	const char *qb;
	struct ipcq *b = make_pair(js, "brefuse", "RS", "r.a", &qb);
	CHECK(pub(js, "r.a", 16, 1) == 1);
	CHECK(pub(js, "r.a", 300, 2) == 2); /* too large for the queue */

	const char *in_argv[] = { "ipcq-bridge", "in", qb, "-s", srv->url, "--stream", "RS",
				  "--subject", "r.a", "-v", NULL };
	CHECK_OK(ipcq_attach(b, IPCQ_ROLE_CONSUMER, NULL));
	pid_t in = bt_bridge(in_argv, log);
	CHECK(recv_len(b, 16) == 1);
	T_AWAIT(t_info(b).side_depth == 1, 30);
	struct ipcq_poison pe[4];
	CHECK_RC(ipcq_poison_list(b, 0, pe, 4), 1);
	CHECK(pe[0].seq == 2 && pe[0].reason == IPCQ_REASON_TOO_LARGE);
	bt_stop(in);
	/* the operator has looked at it: the whole message is in the stream */
	CHECK_RC(ipcq_poison_purge(b, IPCQ_POISON_ALL), 1);

	for (int round = 0; round < 2; round++) {
		in = bt_bridge(in_argv, log);
		/* one more message: the bridge went past sequence 2 when it has it */
		uint64_t seq = pub(js, "r.a", 16, 3 + round);
		CHECK(recv_len(b, 16) == seq);
		CHECK(t_info(b).side_depth == 0);
		bt_stop(in);
	}
	CHECK(t_info(b).depth == 0);
	ipcq_close(b);
	ipcq_unlink(qb);
}

/* Run the bridge with @argv to its end: its exit status. */
static int run_to_end(const char *const *argv, const char *log)
{
	pid_t pid = bt_bridge(argv, log);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			T_FAIL("waitpid: %s", strerror(errno));
	t_kids_forget_(pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int log_has(const char *log, const char *what)
{
	char line[1024];
	int found = 0;
	FILE *f = fopen(log, "r");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}

/* How many messages stream @name holds (0 when it cannot be read). */
static uint64_t stream_msgs(jsCtx *js, const char *name)
{
	jsStreamInfo *si = NULL;
	uint64_t n = 0;
	if (js_GetStreamInfo(&si, js, name, NULL, NULL) == NATS_OK)
		n = si->State.Msgs;
	jsStreamInfo_Destroy(si);
	return n;
}

/* --dlq to a subject no stream takes: refused at start; then taken. */
static void dlq_without_stream(const struct bt_server *srv, jsCtx *js, const char *log)
{
	const char *qb;
	struct ipcq *b = make_pair(js, "bdlq", "RD", "d.a", &qb);
	CHECK(pub(js, "d.a", 300, 1) == 1); /* too large */
	CHECK(pub(js, "d.a", 4, 2) == 2);

	const char *in_argv[] = { "ipcq-bridge", "in", qb, "-s", srv->url, "--stream", "RD",
				  "--subject", "d.a", "--dlq=d.dead", NULL };
	CHECK_OK(ipcq_attach(b, IPCQ_ROLE_CONSUMER, NULL));
	int rc = run_to_end(in_argv, log);
	if (rc != 1 || !log_has(log, "--dlq=d.dead: no stream takes that subject")) {
		bt_show_log(log);
		T_FAIL("--dlq without a stream: exit status %d", rc);
	}
	struct ipcq_info info = t_info(b);
	CHECK(info.depth == 0 && info.side_depth == 0);

	add_stream(js, "DEAD", "d.dead");
	pid_t in = bt_bridge(in_argv, log);
	CHECK(recv_len(b, 4) == 2);
	T_AWAIT(t_info(b).side_depth == 1, 30);
	/* the refused message, whole, on the --dlq subject */
	T_AWAIT(stream_msgs(js, "DEAD") == 1, 30);
	bt_stop(in);
	ipcq_close(b);
	ipcq_unlink(qb);
}

int main(void)
{
	static struct bt_server srv;
	char log[128];

	t_watchdog(t_limit(120), "t_bridge_refused", NULL);
	bt_server_start(&srv);
	snprintf(log, sizeof(log), "%s/bridges.log", srv.dir);
	struct bt_js c = bt_connect(&srv);
	restart_after_refusal(&srv, c.js, log);
	dlq_without_stream(&srv, c.js, log);
	bt_disconnect(&c);
	bt_server_stop(&srv, SIGTERM);
	printf("t_bridge_refused: ok\n");
	return 0;
}
