/*
 * bridgetest.h - helpers of the ipcq-bridge tests: a real nats-server -js
 * on a free loopback port with a temporary store (started and stopped by
 * its pid), the real bridge binary forked with its arguments, a NATS
 * client for what the tests look at in the stream, and the producers and
 * the checking consumer of a flow A -> JetStream -> B.
 */
#ifndef IPCQ_BRIDGETEST_H
#define IPCQ_BRIDGETEST_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <nats/nats.h>

#include "statutil.h"

/* ---- nats-server ------------------------------------------------------ */

struct bt_server {
	pid_t pid;
	int port;
	char dir[64];   /* store and log */
	char url[64];
};

static inline int bt_free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		T_FAIL("free port: %s", strerror(errno));
	close(fd);
	return ntohs(a.sin_port);
}

static inline int bt_port_open(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static inline const char *bt_server_path(void)
{
	static const char *const cand[] = { "/usr/sbin/nats-server", "/usr/bin/nats-server",
					    "/usr/local/bin/nats-server" };
	const char *env = getenv("NATS_SERVER");
	if (env && *env)
		return env;
	for (unsigned i = 0; i < T_NELEM(cand); i++)
		if (access(cand[i], X_OK) == 0)
			return cand[i];
	T_FAIL("nats-server not found (make deps installs it; NATS_SERVER=path names another)");
}

static inline void bt_track(pid_t pid)
{
	struct t_kids_ *k = t_kids_();
	if (k->n == T_MAX_KIDS)
		T_FAIL("too many children");
	k->pid[k->n++] = pid;
}

/* Fork and exec @path with @argv (argv[0] is replaced): stdin from
 * /dev/null, stdout and stderr appended to @log, killed when we die. */
static inline pid_t bt_exec(const char *path, const char *const *argv, const char *log)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		T_FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		int null = open("/dev/null", O_RDONLY);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (null >= 0)
			dup2(null, 0);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(path, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static inline void bt_server_rm(void);
static struct bt_server *bt_server_last_;

/* Start (or start again, same port and store) a nats-server -js.  @s
 * must outlive main() (static): the store is removed at exit. */
static inline void bt_server_start(struct bt_server *s)
{
	char port[16], log[96];
	if (!s->port) {
		s->port = bt_free_port();
		snprintf(s->dir, sizeof(s->dir), "/tmp/ipcq-bridge-test.XXXXXX");
		if (!mkdtemp(s->dir))
			T_FAIL("mkdtemp: %s", strerror(errno));
		snprintf(s->url, sizeof(s->url), "nats://127.0.0.1:%d", s->port);
		bt_server_last_ = s;
		atexit(bt_server_rm);
	}
	snprintf(port, sizeof(port), "%d", s->port);
	snprintf(log, sizeof(log), "%s/server.log", s->dir);
	const char *argv[] = { "nats-server", "-js", "-a", "127.0.0.1", "-p", port, "-sd", s->dir,
			       NULL };
	pid_t pid = bt_exec(bt_server_path(), argv, log);
	s->pid = pid;
	bt_track(pid);
	T_AWAIT(bt_port_open(s->port), 30);
}

/* Stop it by its pid (SIGTERM: a clean shutdown, SIGKILL: a crash). */
static inline void bt_server_stop(struct bt_server *s, int sig)
{
	int st;
	if (s->pid <= 0)
		return;
	kill(s->pid, sig);
	while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
		;
	t_kids_forget_(s->pid);
	s->pid = 0;
}

static inline void bt_server_rm(void)
{
	struct bt_server *s = bt_server_last_;
	char cmd[128];
	if (!s || !s->dir[0] || s->pid < 0)
		return;
	if (s->pid > 0)
		kill(s->pid, SIGKILL);
	if (getenv("BT_KEEP")) {
		fprintf(stderr, "kept %s (BT_KEEP)\n", s->dir);
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", s->dir);
}

/* ---- the bridge ---------------------------------------------------------- */

static inline const char *bt_bridge_path(void)
{
	const char *env = getenv("IPCQ_BRIDGE");
	return env && *env ? env : s_tool("ipcq-bridge");
}

/* Fork the bridge with @argv (argv[0] is replaced); its output goes to
 * @log (appended) so that a failure can show it. */
static inline pid_t bt_bridge(const char *const *argv, const char *log)
{
	pid_t pid = bt_exec(bt_bridge_path(), argv, log);
	bt_track(pid);
	return pid;
}

/* Kill -9 a bridge and reap it. */
static inline void bt_kill(pid_t pid)
{
	int st;
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	t_kids_forget_(pid);
	if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		T_FAIL("bridge %d ended before its kill: %s", (int)pid, t_status_str(st));
}

/* Ask a bridge to stop (SIGTERM); it must exit 0. */
static inline void bt_stop(pid_t pid)
{
	kill(pid, SIGTERM);
	if (t_reap(pid) != 0)
		T_FAIL("bridge %d did not stop cleanly", (int)pid);
}

static inline void bt_show_log(const char *log)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "tail -n 30 '%s' >&2", log);
	if (system(cmd) != 0)
		fprintf(stderr, "(no log %s)\n", log);
}

/* The application counter @counter of the live participant @who of the
 * queue open at @q (UINT64_MAX when not there). */
static inline uint64_t bt_app_counter_of(struct ipcq *q, const char *who, const char *counter)
{
	struct ipcq_participant_stats p[16];
	struct ipcq_stats st;
	struct ipcq_app_counter c[IPCQ_APP_COUNTERS];
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	int n = ipcq_stats(q, &st, p, 16);
	for (int i = 0; i < n; i++) {
		if (strcmp(p[i].name, who) || !p[i].alive)
			continue;
		int k = ipcq_app_counters(q, p[i].index, c, IPCQ_APP_COUNTERS);
		for (int j = 0; j < k; j++)
			if (!strcmp(c[j].name, counter))
				return c[j].value;
	}
	return UINT64_MAX;
}

/* Was side entry @pe put by the participant @name of @q (its index and
 * its stream)? */
static inline int bt_put_by(struct ipcq *q, const struct ipcq_poison *pe, const char *name)
{
	struct ipcq_participant_stats ps[64];
	struct ipcq_stats st;
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	int n = ipcq_stats(q, &st, ps, 64);
	for (int i = 0; i < n; i++)
		if (ps[i].index == pe->producer && ps[i].stream == pe->stream && !strcmp(ps[i].name, name))
			return 1;
	return 0;
}

/* The same, of queue @qname. */
static inline uint64_t bt_app_counter(const char *qname, const char *who, const char *counter)
{
	struct ipcq *q;
	uint64_t v;
	if (ipcq_open_readonly(qname, &q) < 0)
		return UINT64_MAX;
	v = bt_app_counter_of(q, who, counter);
	ipcq_close(q);
	return v;
}

/* ---- a NATS client for the test's own looks --------------------------- */

struct bt_js {
	natsConnection *nc;
	jsCtx *js;
};

static inline struct bt_js bt_connect(const struct bt_server *s)
{
	struct bt_js c = { NULL, NULL };
	natsStatus st = natsConnection_ConnectTo(&c.nc, s->url);
	if (st == NATS_OK)
		st = natsConnection_JetStream(&c.js, c.nc, NULL);
	if (st != NATS_OK)
		T_FAIL("connect %s: %s", s->url, natsStatus_GetText(st));
	return c;
}

static inline void bt_disconnect(struct bt_js *c)
{
	jsCtx_Destroy(c->js);
	natsConnection_Destroy(c->nc);
}

/* A header of a message, "" when absent. */
static inline const char *bt_header(natsMsg *m, const char *key)
{
	const char *v = NULL;
	if (natsMsgHeader_Get(m, key, &v) != NATS_OK || !v)
		return "";
	return v;
}

/* Print stream messages [from, to] (Nats-Msg-Id, Ipcq-Deliveries): what
 * the out-bridge stored, for a failure's report. */
static inline void bt_dump_stream(const struct bt_server *s, const char *stream, uint64_t from,
				  uint64_t to)
{
	struct bt_js c = bt_connect(s);
	for (uint64_t seq = from; seq <= to; seq++) {
		natsMsg *m = NULL;
		if (js_GetMsg(&m, c.js, stream, seq, NULL, NULL) != NATS_OK)
			continue;
		fprintf(stderr, "  stream %" PRIu64 ": %s deliveries %s\n", seq,
			bt_header(m, "Nats-Msg-Id"), bt_header(m, "Ipcq-Deliveries"));
		natsMsg_Destroy(m);
	}
	bt_disconnect(&c);
}

/* ---- the flow A -> bridge out -> JetStream -> bridge in -> B ------------- */

#define BT_PRODUCERS 2

/* Shared with the children. */
struct bt_flow {
	const char *qa, *qb;
	uint64_t per_producer;            /* messages each producer sends */
	uint32_t min_len, max_len;
	uint64_t allowed;                 /* producers send up to this sequence */
	uint64_t sent[BT_PRODUCERS];
	uint64_t received;                /* messages B's consumer checked */
	uint64_t bad_seq;                 /* B's sequence of the message it refused */
	int late_ok;                      /* redelivered messages may come late */
	unsigned nlate;
	uint64_t late[256];               /* B's sequences of those that did */
	uint64_t next[BT_PRODUCERS];      /* next sequence expected per producer */
	char error[256];                  /* the consumer's complaint */
};

static uint32_t bt_producer_id_;

/* A named producer of A sending 1..per_producer, as far as allowed. */
static inline int bt_producer(void *arg)
{
	struct bt_flow *f = (struct bt_flow *)arg;
	uint32_t id = bt_producer_id_;
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	struct ipcq *q;
	char name[16], *buf = (char *)malloc(f->max_len);
	snprintf(name, sizeof(name), "p%u", id);
	o.flags = IPCQ_ATTACH_DEDUP;
	o.name = name;
	if (!buf || ipcq_open(f->qa, &q) < 0 || ipcq_attach(q, IPCQ_ROLE_PRODUCER, &o) < 0)
		return 2;
	for (uint64_t seq = 1; seq <= f->per_producer; seq++) {
		unsigned round = 0;
		while (__atomic_load_n(&f->allowed, __ATOMIC_ACQUIRE) < seq)
			t_poll_pause(&round);
		uint32_t len = t_msg_len(id, seq, f->min_len, f->max_len);
		t_fill(buf, len, id, seq);
		int rc = ipcq_send(q, buf, len, IPCQ_FOREVER);
		if (rc < 0) {
			fprintf(stderr, "producer %u: send: %s\n", id, ipcq_strerror(rc));
			return 3;
		}
		__atomic_store_n(&f->sent[id], seq, __ATOMIC_RELEASE);
	}
	ipcq_close(q);
	free(buf);
	return 0;
}

/*
 * B's consumer: every message once, every byte, each producer's in order.
 * Order has one exception that ipcq itself makes: a message that a killed
 * out-bridge had claimed in A's ring (not yet in its lease) is given again
 * only once A has been empty for the grace period, behind later messages,
 * flagged as redelivered; the out-bridge publishes it with
 * Ipcq-Deliveries >= 2.  With f->late_ok such a late message is noted in
 * f->late (B's sequence, which is the stream sequence) for the test to
 * check that the stream has it flagged; without, any reorder fails.
 */
static inline int bt_consumer(void *arg)
{
	struct bt_flow *f = (struct bt_flow *)arg;
	struct ipcq *q;
	char *buf = (char *)malloc(f->max_len);
	uint8_t *seen[BT_PRODUCERS];
	uint64_t top[BT_PRODUCERS];
	uint64_t total = f->per_producer * BT_PRODUCERS;
	if (!buf || ipcq_open(f->qb, &q) < 0 || ipcq_attach(q, IPCQ_ROLE_CONSUMER, NULL) < 0)
		return 2;
	for (uint32_t i = 0; i < BT_PRODUCERS; i++) {
		f->next[i] = 1;
		top[i] = 0;
		seen[i] = (uint8_t *)calloc(f->per_producer + 2, 1);
		if (!seen[i])
			return 2;
	}
	while (__atomic_load_n(&f->received, __ATOMIC_RELAXED) < total) {
		struct ipcq_msginfo mi;
		int len = ipcq_recv(q, buf, f->max_len, &mi, IPCQ_FOREVER);
		uint32_t p;
		uint64_t seq;
		const char *why = NULL;
		if (len < 0) {
			snprintf(f->error, sizeof(f->error), "recv: %s", ipcq_strerror(len));
			return 1;
		}
		if (len < 16) {
			snprintf(f->error, sizeof(f->error), "message of %d bytes", len);
			return 1;
		}
		t_header(buf, &p, &seq);
		if (p >= BT_PRODUCERS || seq == 0 || seq > f->per_producer ||
		    (uint32_t)len != t_msg_len(p, seq, f->min_len, f->max_len) ||
		    t_verify(buf, (size_t)len, p, seq) != 0)
			why = "bad payload";
		else if (seen[p][seq])
			why = "a duplicate";
		else if (seq != f->next[p] && !f->late_ok)
			why = "a loss or a reorder";
		else if (seq < top[p] && f->nlate == T_NELEM(f->late))
			why = "too many late messages";
		if (why) {
			f->bad_seq = mi.seq;
			snprintf(f->error, sizeof(f->error),
				 "producer %u: got sequence %" PRIu64 " (%d bytes, B's sequence %" PRIu64
				 "), expected %" PRIu64 ": %s",
				 p, seq, len, mi.seq, p < BT_PRODUCERS ? f->next[p] : 0, why);
			return 1;
		}
		if (seq < top[p])
			f->late[f->nlate++] = mi.seq;
		if (seq > top[p])
			top[p] = seq;
		seen[p][seq] = 1;
		while (f->next[p] <= f->per_producer && seen[p][f->next[p]])
			f->next[p]++;
		__atomic_store_n(&f->received, f->received + 1, __ATOMIC_RELEASE);
	}
	ipcq_close(q);
	free(buf);
	return 0;
}

/* Every late message of B (f->late) is flagged in the stream as a
 * redelivery (Ipcq-Deliveries >= 2); returns how many there were. */
static inline unsigned bt_check_late(const struct bt_server *s, const char *stream,
				     const struct bt_flow *f)
{
	struct bt_js c = bt_connect(s);
	for (unsigned i = 0; i < f->nlate; i++) {
		natsMsg *m = NULL;
		natsStatus st = js_GetMsg(&m, c.js, stream, f->late[i], NULL, NULL);
		if (st != NATS_OK)
			T_FAIL("stream %s sequence %" PRIu64 ": %s", stream, f->late[i],
			       natsStatus_GetText(st));
		if (atoi(bt_header(m, "Ipcq-Deliveries")) < 2)
			T_FAIL("stream sequence %" PRIu64 " (%s) reached B late without being a redelivery",
			       f->late[i], bt_header(m, "Nats-Msg-Id"));
		natsMsg_Destroy(m);
	}
	bt_disconnect(&c);
	return f->nlate;
}

/* Start the producers of A; returns the first pid (they are consecutive
 * entries of the kids' table, reaped with t_reap). */
static inline void bt_start_producers(struct bt_flow *f, pid_t *pids)
{
	for (uint32_t i = 0; i < BT_PRODUCERS; i++) {
		bt_producer_id_ = i;
		pids[i] = t_spawn(bt_producer, f);
	}
}

/* Let the producers send everything; reap them and B's consumer, which
 * must have checked every message. */
static inline void bt_finish_flow(struct bt_flow *f, const pid_t *prod, pid_t cons, const char *log)
{
	__atomic_store_n(&f->allowed, f->per_producer, __ATOMIC_RELEASE);
	for (int i = 0; i < BT_PRODUCERS; i++)
		if (t_reap(prod[i]) != 0)
			T_FAIL("producer %d failed", i);
	if (t_reap(cons) != 0) {
		bt_show_log(log);
		T_FAIL("B's consumer: %s", f->error);
	}
	CHECK(__atomic_load_n(&f->received, __ATOMIC_ACQUIRE) == f->per_producer * BT_PRODUCERS);
}

static inline struct bt_flow *bt_flow_new(uint64_t per_producer, uint32_t min_len, uint32_t max_len)
{
	struct bt_flow *f = (struct bt_flow *)t_shared(sizeof(*f));
	f->per_producer = per_producer;
	f->min_len = min_len;
	f->max_len = max_len;
	return f;
}

static inline uint64_t bt_received(const struct bt_flow *f)
{
	return __atomic_load_n(&f->received, __ATOMIC_ACQUIRE);
}

/* Queue A's consumer groups (0: a queue without groups); with groups, A
 * gets a lossy group "tap" beside the out-bridge's own, "bridge". */
static uint32_t bt_a_groups;

/* Queues A (with a lease pool and a side ring) and B, removed at exit. */
static inline void bt_queues(struct bt_flow *f, const char *tag, uint32_t max_b)
{
	static char a[96], b[96];
	struct ipcq_config ca = t_config(1024, 1024), cb = t_config(1024, max_b);
	struct ipcq *q;
	snprintf(a, sizeof(a), "%s", t_qname(tag));
	snprintf(b, sizeof(b), "%s", t_qname(tag));
	ca.side_capacity = 64;
	ca.lease_capacity = 1024;
	ca.max_groups = bt_a_groups;
	q = t_create(a, &ca);
	if (bt_a_groups) {
		/* the out-bridge's group exists before any message is sent (a
		 * group gets what is sent after it starts) */
		CHECK_RC(ipcq_group_create(q, "tap", IPCQ_GROUP_LOSSY), 0);
		CHECK_RC(ipcq_group_create(q, "bridge", 0), 1);
	}
	ipcq_close(q);
	q = t_create(b, &cb);
	ipcq_close(q);
	f->qa = a;
	f->qb = b;
}

#endif
