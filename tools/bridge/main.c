/*
 * ipcq-bridge - join a local ipcq queue to a NATS JetStream stream.
 *
 *   ipcq-bridge out QUEUE --subject SUBJ [options]   queue -> JetStream
 *   ipcq-bridge in QUEUE --stream NAME --subject SUBJ [options]
 *                                                    JetStream -> queue
 *
 * This file: options, the connection (the client reconnects by itself,
 * forever), the stream (made with --create), signals and counters.  The
 * two directions live in out.c and in.c.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge.h"

volatile sig_atomic_t bridge_stop;

static void on_signal(int sig)
{
	(void)sig;
	bridge_stop = 1;
}

uint64_t bridge_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void bridge_sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000l };
	nanosleep(&ts, NULL);
}

/* The counters, as the bridge's participant entry shows them to ipcq-stat
 * (application counters, in this order). */
static const char *const counter_names[BC_COUNT_] = {
	[BC_INFLIGHT] = "in_flight",   [BC_FORWARDED] = "forwarded",
	[BC_ACKED] = "acked",          [BC_RETRIED] = "retried",
	[BC_RECONNECTS] = "reconnects", [BC_LATENCY_NS] = "latency_ns",
	[BC_DUPLICATES] = "duplicates", [BC_REFUSED] = "refused",
};
_Static_assert(BC_COUNT_ <= IPCQ_APP_COUNTERS, "the counters fit the participant entry");

/* Counters change from the main thread and the client's; the entry gets
 * the value each change made (before the attach, -EPERM: nothing). */
void bridge_count(struct bridge *b, unsigned c, uint64_t v)
{
	ipcq_app_counter_set(b->q, c, NULL, __atomic_add_fetch(&b->ctr[c], v, __ATOMIC_RELAXED));
}

void bridge_set(struct bridge *b, unsigned c, uint64_t v)
{
	__atomic_store_n(&b->ctr[c], v, __ATOMIC_RELAXED);
	ipcq_app_counter_set(b->q, c, NULL, v);
}

/* Just attached: name the counters in the participant entry. */
void bridge_attached(struct bridge *b)
{
	for (unsigned c = 0; c < BC_COUNT_; c++)
		ipcq_app_counter_set(b->q, c, counter_names[c],
				     __atomic_load_n(&b->ctr[c], __ATOMIC_RELAXED));
}

void bridge_log(const struct bridge *b, const char *fmt, ...)
{
	va_list ap;
	if (!b->o.verbose)
		return;
	fprintf(stderr, "ipcq-bridge %s %s: ", b->o.dir == BRIDGE_OUT ? "out" : "in", b->o.queue);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void on_disconnected(natsConnection *nc, void *arg)
{
	struct bridge *b = arg;
	(void)nc;
	if (b->o.dir == BRIDGE_OUT)
		bridge_out_disconnected(nc);
	bridge_log(b, "disconnected");
}

static void usage(FILE *f)
{
	fputs("usage: ipcq-bridge out QUEUE --subject SUBJ [options]\n"
	      "       ipcq-bridge in QUEUE --stream NAME --subject SUBJ [options]\n"
	      "  -s, --server URL        NATS server(s), comma-separated (nats://127.0.0.1:4222)\n"
	      "      --subject SUBJ      out: subject to publish to; in: filter of the consumer\n"
	      "                          (it must not take the --dlq subject nor SUBJ.dlq)\n"
	      "      --stream NAME       the JetStream stream (in: required; out: with --create)\n"
	      "      --consumer NAME     in: durable consumer name (ipcq)\n"
	      "      --group NAME        out, a queue with consumer groups: the group to read in\n"
	      "                          (bridge; made durable, from the oldest message, if missing)\n"
	      "      --create            create the stream when missing (subjects SUBJ and SUBJ.dlq)\n"
	      "      --duplicates SECS   duplicate window of a created stream (120; at most a year)\n"
	      "      --max-msgs N        MaxMsgs of a created stream, discard new (none)\n"
	      "      --replicas N        replicas of a created stream in a cluster (1)\n"
	      "  -w, --window N          out: publishes awaiting their PubAck (256)\n"
	      "      --pub-timeout MS    out: a PubAck not back by then is retried (5000; at most a day)\n"
	      "      --dlq               out: forward the side ring to SUBJ.dlq and purge it\n"
	      "      --dlq SUBJ          in: publish too-large messages (whole) and those the side\n"
	      "                          ring cannot take to SUBJ (a stream must take SUBJ)\n"
	      "  -b, --batch N           in: messages per fetch (256)\n"
	      "      --max-deliver N     in: deliveries after which a message is refused (10)\n"
	      "  -n, --count N           stop after N messages\n"
	      "  -v, --verbose           say what happens on stderr\n",
	      f);
}

/* The largest --duplicates (seconds) and --pub-timeout (milliseconds). */
#define DUP_MAX_S (365 * 86400)
#define PUBTO_MAX_MS (86400 * 1000)

/* Does the subject filter @filter (tokens separated by '.'; '*' takes one
 * token, a last '>' one or more) take the subject @subj? */
static int subject_matches(const char *filter, const char *subj)
{
	for (;;) {
		const char *fe = strchr(filter, '.'), *se = strchr(subj, '.');
		size_t fl = fe ? (size_t)(fe - filter) : strlen(filter);
		size_t sl = se ? (size_t)(se - subj) : strlen(subj);
		if (fl == 1 && filter[0] == '>' && !fe)
			return sl > 0;
		if (!(fl == 1 && filter[0] == '*') && (fl != sl || memcmp(filter, subj, fl)))
			return 0;
		if (!fe || !se)
			return !fe && !se;
		filter = fe + 1;
		subj = se + 1;
	}
}

static int parse_i64(const char *s, int64_t min, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min)
		return -1;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct bridge_opts *o)
{
	enum { O_SUBJECT = 256, O_STREAM, O_CONSUMER, O_CREATE, O_DUP, O_MAXMSGS, O_PUBTO,
	       O_DLQ, O_MAXDELIVER, O_REPLICAS, O_GROUP };
	static const struct option lo[] = {
		{ "server", required_argument, NULL, 's' },
		{ "subject", required_argument, NULL, O_SUBJECT },
		{ "stream", required_argument, NULL, O_STREAM },
		{ "consumer", required_argument, NULL, O_CONSUMER },
		{ "group", required_argument, NULL, O_GROUP },
		{ "create", no_argument, NULL, O_CREATE },
		{ "duplicates", required_argument, NULL, O_DUP },
		{ "max-msgs", required_argument, NULL, O_MAXMSGS },
		{ "replicas", required_argument, NULL, O_REPLICAS },
		{ "window", required_argument, NULL, 'w' },
		{ "pub-timeout", required_argument, NULL, O_PUBTO },
		{ "dlq", optional_argument, NULL, O_DLQ },
		{ "batch", required_argument, NULL, 'b' },
		{ "max-deliver", required_argument, NULL, O_MAXDELIVER },
		{ "count", required_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t v;
	int c;

	if (argc < 3) {
		usage(stderr);
		return -1;
	}
	if (!strcmp(argv[1], "out"))
		o->dir = BRIDGE_OUT;
	else if (!strcmp(argv[1], "in"))
		o->dir = BRIDGE_IN;
	else {
		fprintf(stderr, "ipcq-bridge: direction must be out or in, not '%s'\n", argv[1]);
		return -1;
	}
	o->queue = argv[2];
	optind = 3;
	while ((c = getopt_long(argc, argv, "s:w:b:n:vh", lo, NULL)) != -1) {
		switch (c) {
		case 's': o->server = optarg; break;
		case O_SUBJECT: o->subject = optarg; break;
		case O_STREAM: o->stream = optarg; break;
		case O_CONSUMER: o->consumer = optarg; break;
		case O_GROUP: o->group = optarg; break;
		case O_CREATE: o->create = 1; break;
		case O_DLQ:
			if (o->dir == BRIDGE_OUT) {
				if (optarg) {
					fprintf(stderr, "ipcq-bridge: out takes --dlq without a subject (SUBJ.dlq)\n");
					return -1;
				}
				o->dlq_fwd = 1;
			} else {
				if (!optarg) {
					fprintf(stderr, "ipcq-bridge: in needs --dlq=SUBJ\n");
					return -1;
				}
				o->dlq = optarg;
			}
			break;
		case O_DUP:
		case O_MAXMSGS:
		case O_REPLICAS:
		case O_PUBTO:
		case O_MAXDELIVER:
		case 'w':
		case 'b':
		case 'n':
			if (parse_i64(optarg, c == O_MAXMSGS || c == 'n' ? 0 : 1, &v) < 0 ||
			    ((c == 'w' || c == 'b' || c == O_MAXDELIVER) && v > 65536) ||
			    (c == O_REPLICAS && v > 5)) {
				fprintf(stderr, "ipcq-bridge: bad number '%s'\n", optarg);
				return -1;
			}
			/* both become nanoseconds: bounded well inside 64 bits */
			if (c == O_DUP && v > DUP_MAX_S) {
				fprintf(stderr, "ipcq-bridge: --duplicates %s: out of range: 1..%d "
						"seconds (a year)\n", optarg, DUP_MAX_S);
				return -1;
			}
			if (c == O_PUBTO && v > PUBTO_MAX_MS) {
				fprintf(stderr, "ipcq-bridge: --pub-timeout %s: out of range: 1..%d "
						"milliseconds (a day)\n", optarg, PUBTO_MAX_MS);
				return -1;
			}
			if (c == O_DUP) o->dup_window_s = v;
			else if (c == O_MAXMSGS) o->max_msgs = v;
			else if (c == O_REPLICAS) o->replicas = v;
			else if (c == O_PUBTO) o->pub_timeout_ms = v;
			else if (c == O_MAXDELIVER) o->max_deliver = (unsigned)v;
			else if (c == 'w') o->window = (unsigned)v;
			else if (c == 'b') o->batch = (unsigned)v;
			else o->count = v;
			break;
		case 'v': o->verbose = 1; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ipcq-bridge: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (o->dir == BRIDGE_OUT && !o->subject) {
		fprintf(stderr, "ipcq-bridge: out needs --subject\n");
		return -1;
	}
	if (o->dir == BRIDGE_IN && !o->stream) {
		fprintf(stderr, "ipcq-bridge: in needs --stream\n");
		return -1;
	}
	/* Without a filter the consumer would take every subject of the
	 * stream, the <subject>.dlq of an out-bridge --dlq among them. */
	if (o->dir == BRIDGE_IN && !o->subject) {
		fprintf(stderr, "ipcq-bridge: in needs --subject (the consumer's filter: the subject "
				"the out-bridge publishes to)\n");
		return -1;
	}
	if (o->dlq && (strchr(o->dlq, '*') || strchr(o->dlq, '>') || !*o->dlq)) {
		fprintf(stderr, "ipcq-bridge: --dlq=%s: a subject to publish to, without wildcards\n",
			o->dlq);
		return -1;
	}
	/* what is dead-lettered must not come back into the queue */
	if (o->dlq && subject_matches(o->subject, o->dlq)) {
		fprintf(stderr, "ipcq-bridge: --dlq=%s is taken by the consumer's filter --subject %s: "
				"refused messages would come back\n", o->dlq, o->subject);
		return -1;
	}
	if (o->create && (!o->stream || !o->subject)) {
		fprintf(stderr, "ipcq-bridge: --create needs --stream and --subject\n");
		return -1;
	}
	return 0;
}

/*
 * Connect and make the JetStream context.  The bridge does not let the
 * client reconnect by itself.  While reconnecting, the client keeps what
 * is published in a buffer and sends it first on the new connection,
 * ahead of earlier publishes that the broken connection lost and that
 * come back only as PubAck timeouts: they would be stored out of their
 * order.  And a pull subscription carried over a reconnect has deliveries
 * the old server made that never arrive.  So a broken connection is closed
 * and the bridge connects again itself: the out-bridge counts every
 * publish in flight as failed and sends those again, in order, before
 * anything new (out.c); the in-bridge makes its consumer again right
 * after the last sequence the queue accepted (in.c).
 */
int bridge_connect(struct bridge *b)
{
	natsOptions *no = NULL;
	natsConnection *nc = NULL;
	jsOptions jo;
	natsStatus s;
	char *servers[16];
	char *list = strdup(b->o.server);
	int n = 0, out = b->o.dir == BRIDGE_OUT;

	if (!list)
		return -1;
	for (char *save = NULL, *t = strtok_r(list, ",", &save); t && n < 16;
	     t = strtok_r(NULL, ",", &save))
		servers[n++] = t;
	s = natsOptions_Create(&no);
	if (s == NATS_OK)
		s = natsOptions_SetServers(no, (const char **)servers, n);
	if (s == NATS_OK)
		s = natsOptions_SetName(no, "ipcq-bridge");
	if (s == NATS_OK)
		s = natsOptions_SetAllowReconnect(no, false);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(no, on_disconnected, b);
	if (s == NATS_OK)
		s = natsOptions_SetMaxPendingMsgs(no, 1 << 20);
	/* until connected, or stopped */
	for (unsigned tries = 0; s == NATS_OK; tries++) {
		s = natsConnection_Connect(&nc, no);
		if (s == NATS_OK || bridge_stop)
			break;
		if (tries % 50 == 0)
			bridge_log(b, "connect %s: %s; trying again", b->o.server, natsStatus_GetText(s));
		bridge_sleep_ms(100);
		s = NATS_OK;
	}
	natsOptions_Destroy(no);
	free(list);
	if (s != NATS_OK) {
		fprintf(stderr, "ipcq-bridge: connect %s: %s\n", b->o.server, natsStatus_GetText(s));
		return -1;
	}
	jsOptions_Init(&jo);
	jo.Wait = 5000;
	if (out)
		bridge_out_setup(b, &jo);
	if (natsConnection_JetStream(&b->js, nc, &jo) != NATS_OK) {
		fprintf(stderr, "ipcq-bridge: no JetStream context\n");
		natsConnection_Destroy(nc);
		return -1;
	}
	if (out)
		bridge_out_connected(nc);
	b->nc = nc;
	return 0;
}

/* A closed connection does not come back by itself: connect again.
 * Returns 1 when it did, 0 when the connection was up, -1 when stopped. */
int bridge_reconnect_if_closed(struct bridge *b)
{
	if (b->nc && !natsConnection_IsClosed(b->nc))
		return 0;
	bridge_disconnect(b);
	if (bridge_connect(b) < 0)
		return -1;
	bridge_count(b, BC_RECONNECTS, 1);
	return 1;
}

void bridge_disconnect(struct bridge *b)
{
	jsCtx_Destroy(b->js);
	natsConnection_Destroy(b->nc);
	b->js = NULL;
	b->nc = NULL;
}

/* The stream, when --create asks for it: the subject and its .dlq. */
static int create_stream(struct bridge *b)
{
	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	char dlq[512];
	const char *subjects[2] = { b->o.subject, dlq };
	natsStatus s;

	snprintf(dlq, sizeof(dlq), "%s.dlq", b->o.subject);
	for (int tries = 0;; tries++) {
		s = js_GetStreamInfo(&si, b->js, b->o.stream, NULL, &jerr);
		if (s == NATS_OK) {
			jsStreamInfo_Destroy(si);
			return 0;
		}
		if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr)
			break;
		if (bridge_stop)
			return -1;
		if (tries % 50 == 0)
			fprintf(stderr, "ipcq-bridge: stream %s: %s; trying again\n", b->o.stream,
				natsStatus_GetText(s));
		bridge_sleep_ms(100);
		if (bridge_reconnect_if_closed(b) < 0)
			return -1;
	}
	jsStreamConfig_Init(&sc);
	sc.Name = b->o.stream;
	sc.Subjects = subjects;
	sc.SubjectsLen = 2;
	sc.Storage = js_FileStorage;
	sc.Duplicates = b->o.dup_window_s * 1000000000ll;
	sc.Replicas = b->o.replicas;
	if (b->o.max_msgs > 0) {
		sc.MaxMsgs = b->o.max_msgs;
		sc.Discard = js_DiscardNew;
	}
	s = js_AddStream(&si, b->js, &sc, NULL, &jerr);
	if (s != NATS_OK && jerr != JSStreamNameExistErr) {
		fprintf(stderr, "ipcq-bridge: create stream %s: %s (%d)\n", b->o.stream,
			natsStatus_GetText(s), (int)jerr);
		return -1;
	}
	jsStreamInfo_Destroy(si);
	return 0;
}

int main(int argc, char **argv)
{
	struct bridge b;
	struct sigaction sa;
	int rc;

	memset(&b, 0, sizeof(b));
	b.o.server = "nats://127.0.0.1:4222";
	b.o.consumer = "ipcq";
	b.o.dup_window_s = 120;
	b.o.replicas = 1;
	b.o.window = 256;
	b.o.batch = 256;
	b.o.max_deliver = 10;
	b.o.pub_timeout_ms = 5000;
	if (parse_args(argc, argv, &b.o) < 0)
		return 2;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = ipcq_open(b.o.queue, &b.q);
	if (rc < 0) {
		fprintf(stderr, "ipcq-bridge: open %s: %s %s\n", b.o.queue, ipcq_strerror(rc),
			ipcq_errdetail());
		return 1;
	}
	if ((size_t)b.o.window * 2 > (size_t)INT32_MAX)
		return 2;
	if (nats_Open(-1) != NATS_OK || bridge_connect(&b) < 0)
		return 1;
	if (b.o.create && create_stream(&b) < 0)
		return 1;
	rc = b.o.dir == BRIDGE_OUT ? bridge_out(&b) : bridge_in(&b);

	bridge_disconnect(&b);
	ipcq_close(b.q);
	nats_Close();
	return rc < 0 ? 1 : 0;
}
