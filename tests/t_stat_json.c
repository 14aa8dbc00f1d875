/* t_stat_json: ipcq-stat --json parses as strict JSON and matches a queue's known activity, alive and dead participants, and its errors. */
#include "statutil.h"

#include <ctype.h>

/* ------------------------------------------------------------------ */
/* A small strict JSON parser (RFC 8259), enough for the checks         */
/* ------------------------------------------------------------------ */

enum jt { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jt t;
	int b;
	double num;
	char *str;              /* J_STR */
	struct jv **items;      /* J_ARR, J_OBJ */
	char **keys;            /* J_OBJ */
	size_t n;
};

struct jp {
	const char *p;
	const char *err;
};

static struct jv *jv_new(enum jt t)
{
	struct jv *v = (struct jv *)calloc(1, sizeof(*v));
	if (!v)
		T_FAIL("out of memory");
	v->t = t;
	return v;
}

static void jv_free(struct jv *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		jv_free(v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->str);
	free(v);
}

static void jp_ws(struct jp *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static struct jv *jp_value(struct jp *j, int depth);

static char *jp_string(struct jp *j)
{
	size_t cap = 16, n = 0;
	char *s = (char *)malloc(cap);
	if (!s)
		T_FAIL("out of memory");
	if (*j->p != '"') {
		j->err = "expected string";
		free(s);
		return NULL;
	}
	j->p++;
	for (;;) {
		unsigned char c = (unsigned char)*j->p++;
		if (n + 8 > cap) {
			cap *= 2;
			s = (char *)realloc(s, cap);
			if (!s)
				T_FAIL("out of memory");
		}
		if (c == '"')
			break;
		if (c < 0x20) {
			j->err = "control character in string";
			free(s);
			return NULL;
		}
		if (c != '\\') {
			s[n++] = (char)c;
			continue;
		}
		c = (unsigned char)*j->p++;
		switch (c) {
		case '"': s[n++] = '"'; break;
		case '\\': s[n++] = '\\'; break;
		case '/': s[n++] = '/'; break;
		case 'b': s[n++] = '\b'; break;
		case 'f': s[n++] = '\f'; break;
		case 'n': s[n++] = '\n'; break;
		case 'r': s[n++] = '\r'; break;
		case 't': s[n++] = '\t'; break;
		case 'u': {
			unsigned v = 0;
			for (int i = 0; i < 4; i++) {
				char h = *j->p++;
				if (!isxdigit((unsigned char)h)) {
					j->err = "bad \\u escape";
					free(s);
					return NULL;
				}
				v = v * 16 + (unsigned)(isdigit((unsigned char)h) ? h - '0'
							: tolower((unsigned char)h) - 'a' + 10);
			}
			if (v >= 0x80) { /* the tool writes ASCII only; keep a marker */
				s[n++] = '?';
			} else {
				s[n++] = (char)v;
			}
			break;
		}
		default:
			j->err = "bad escape";
			free(s);
			return NULL;
		}
	}
	s[n] = '\0';
	return s;
}

static struct jv *jp_number(struct jp *j)
{
	const char *start = j->p;
	if (*j->p == '-')
		j->p++;
	if (*j->p == '0') {
		j->p++;
	} else if (*j->p >= '1' && *j->p <= '9') {
		while (isdigit((unsigned char)*j->p))
			j->p++;
	} else {
		j->err = "bad number";
		return NULL;
	}
	if (*j->p == '.') {
		j->p++;
		if (!isdigit((unsigned char)*j->p)) {
			j->err = "bad fraction";
			return NULL;
		}
		while (isdigit((unsigned char)*j->p))
			j->p++;
	}
	if (*j->p == 'e' || *j->p == 'E') {
		j->p++;
		if (*j->p == '+' || *j->p == '-')
			j->p++;
		if (!isdigit((unsigned char)*j->p)) {
			j->err = "bad exponent";
			return NULL;
		}
		while (isdigit((unsigned char)*j->p))
			j->p++;
	}
	struct jv *v = jv_new(J_NUM);
	v->num = strtod(start, NULL);
	return v;
}

static void jv_push(struct jv *v, char *key, struct jv *item)
{
	v->items = (struct jv **)realloc(v->items, (v->n + 1) * sizeof(*v->items));
	if (!v->items)
		T_FAIL("out of memory");
	if (v->t == J_OBJ) {
		v->keys = (char **)realloc(v->keys, (v->n + 1) * sizeof(*v->keys));
		if (!v->keys)
			T_FAIL("out of memory");
		v->keys[v->n] = key;
	}
	v->items[v->n++] = item;
}

static struct jv *jp_value(struct jp *j, int depth)
{
	jp_ws(j);
	if (depth > 64) {
		j->err = "too deep";
		return NULL;
	}
	if (*j->p == '{' || *j->p == '[') {
		int obj = *j->p == '{';
		struct jv *v = jv_new(obj ? J_OBJ : J_ARR);
		j->p++;
		jp_ws(j);
		if (*j->p == (obj ? '}' : ']')) {
			j->p++;
			return v;
		}
		for (;;) {
			char *key = NULL;
			jp_ws(j);
			if (obj) {
				key = jp_string(j);
				if (!key)
					goto bad;
				for (size_t i = 0; i < v->n; i++)
					if (strcmp(v->keys[i], key) == 0) {
						j->err = "duplicate key";
						free(key);
						goto bad;
					}
				jp_ws(j);
				if (*j->p++ != ':') {
					j->err = "expected ':'";
					free(key);
					goto bad;
				}
			}
			struct jv *item = jp_value(j, depth + 1);
			if (!item) {
				free(key);
				goto bad;
			}
			jv_push(v, key, item);
			jp_ws(j);
			if (*j->p == ',') {
				j->p++;
				continue;
			}
			if (*j->p == (obj ? '}' : ']')) {
				j->p++;
				return v;
			}
			j->err = "expected ',' or end of container";
			goto bad;
		}
bad:
		jv_free(v);
		return NULL;
	}
	if (*j->p == '"') {
		char *s = jp_string(j);
		if (!s)
			return NULL;
		struct jv *v = jv_new(J_STR);
		v->str = s;
		return v;
	}
	if (strncmp(j->p, "true", 4) == 0 || strncmp(j->p, "false", 5) == 0) {
		struct jv *v = jv_new(J_BOOL);
		v->b = *j->p == 't';
		j->p += v->b ? 4 : 5;
		return v;
	}
	if (strncmp(j->p, "null", 4) == 0) {
		j->p += 4;
		return jv_new(J_NULL);
	}
	return jp_number(j);
}

/* Parse a whole document; fails the test on any syntax error. */
static struct jv *json_parse(const char *text)
{
	struct jp j = { text, NULL };
	struct jv *v = jp_value(&j, 0);
	if (v) {
		jp_ws(&j);
		if (*j.p) {
			j.err = "trailing garbage";
			jv_free(v);
			v = NULL;
		}
	}
	if (!v)
		T_FAIL("invalid JSON (%s) at offset %zu: %.60s\n%s", j.err ? j.err : "?",
		       (size_t)(j.p - text), j.p, text);
	return v;
}

static struct jv *jget(const struct jv *o, const char *key)
{
	if (!o || o->t != J_OBJ)
		T_FAIL("not an object looking for '%s'", key);
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->keys[i], key) == 0)
			return o->items[i];
	T_FAIL("no key '%s'", key);
	return NULL;
}

static double jnum(const struct jv *o, const char *key)
{
	const struct jv *v = jget(o, key);
	if (v->t != J_NUM)
		T_FAIL("'%s' is not a number", key);
	return v->num;
}

static int jbool(const struct jv *o, const char *key)
{
	const struct jv *v = jget(o, key);
	if (v->t != J_BOOL)
		T_FAIL("'%s' is not a boolean", key);
	return v->b;
}

static const char *jstr(const struct jv *o, const char *key)
{
	const struct jv *v = jget(o, key);
	if (v->t != J_STR)
		T_FAIL("'%s' is not a string", key);
	return v->str;
}

/* The participant called @name in the queue object @q. */
static const struct jv *jpart(const struct jv *q, const char *name)
{
	const struct jv *ps = jget(q, "participants");
	CHECK(ps->t == J_ARR);
	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(jstr(ps->items[i], "name"), name) == 0)
			return ps->items[i];
	T_FAIL("no participant named %s", name);
	return NULL;
}

/* The parser must refuse what is not JSON (so that a pass means something). */
static void parser_self_test(void)
{
	static const char *const bad[] = { "{\"a\":1,}", "[1 2]", "{\"a\" 1}", "01", "1.",
					   "\"a\nb\"", "{\"a\":1,\"a\":2}", "[nan]", "tru", "[1]x" };
	for (size_t i = 0; i < T_NELEM(bad); i++) {
		struct jp j = { bad[i], NULL };
		struct jv *v = jp_value(&j, 0);
		if (v) {
			jp_ws(&j);
			if (*j.p == '\0')
				T_FAIL("parser accepted invalid JSON: %s", bad[i]);
			jv_free(v);
		}
	}
	struct jv *v = json_parse(" {\"a\": [1, -2.5e3, true, null, \"x\\\"\\\\\\u0041\"]} ");
	CHECK(jget(v, "a")->n == 5);
	CHECK(jget(v, "a")->items[1]->num == -2500.0);
	CHECK(strcmp(jget(v, "a")->items[4]->str, "x\"\\A") == 0);
	jv_free(v);
}

static void check_queue(const struct jv *q, const char *name, unsigned n_send, unsigned n_recv,
			int cons_alive)
{
	unsigned depth = n_send - n_recv;

	CHECK(q->t == J_OBJ);
	CHECK(strcmp(jstr(q, "name"), name) == 0);
	CHECK(jnum(q, "capacity") == 64);
	CHECK(jnum(q, "max_msg_size_bytes") == 256);
	CHECK(jnum(q, "depth") == depth);
	CHECK(jnum(q, "enqueued") == n_send);
	CHECK(jnum(q, "dequeued") == n_recv);
	CHECK(jnum(q, "in_flight") == 0);
	CHECK(strcmp(jstr(q, "mode"), "0600") == 0);
	/* rates: nothing moves while the tool samples */
	const struct jv *r = jget(q, "rates");
	CHECK(jnum(r, "in_per_second") == 0);
	CHECK(jnum(r, "out_per_second") == 0);
	CHECK(jnum(r, "interval_seconds") > 0);
	const struct jv *lag = jget(q, "lag");
	CHECK(jnum(lag, "velocity_per_second") == 0);
	CHECK(jnum(lag, "oldest_age_seconds") >= 0);
	CHECK(jget(lag, "time_to_full_seconds")->t == J_NULL);  /* not filling */
	CHECK(jget(lag, "time_to_drain_seconds")->t == J_NULL); /* not draining */
	const struct jv *side = jget(q, "side_ring");
	CHECK(jnum(side, "depth") == 0);
	CHECK(jnum(side, "capacity") == 8);
	CHECK(jget(side, "by_reason")->t == J_OBJ);
	CHECK(jbool(jget(q, "pressure"), "on") == 0);
	CHECK(jget(q, "recovery")->t == J_OBJ);
	CHECK(jget(q, "numa")->t == J_OBJ);
	CHECK(jnum(q, "participants_alive") == (cons_alive ? 2 : 1));
	CHECK(jnum(q, "participants_dead") == (cons_alive ? 0 : 1));
	CHECK(jget(q, "participants")->n == 2);

	const struct jv *p = jpart(q, S_PROD_NAME);
	CHECK(strcmp(jstr(p, "role"), "producer") == 0);
	CHECK(jbool(p, "alive") == 1);
	CHECK(jnum(p, "sent") == n_send);
	CHECK(jnum(p, "sent_bytes") == (double)n_send * S_MSG_LEN);
	CHECK(jnum(p, "received") == 0);
	CHECK(jnum(p, "pid") > 0);
	CHECK(jnum(p, "sent_per_second") == 0);

	const struct jv *c = jpart(q, S_CONS_NAME);
	CHECK(strcmp(jstr(c, "role"), "consumer") == 0);
	CHECK(jbool(c, "alive") == cons_alive);
	CHECK(jnum(c, "received") == n_recv);
	CHECK(jnum(c, "received_bytes") == (double)n_recv * S_MSG_LEN);
	CHECK(jnum(c, "sent") == 0);
}

/* A sole producer: "sole", and how it claims as the library says
 * (IPCQ_PART_SOLE_STORE_ENQ in ipcq_stats(): by store where the kernel
 * offers membarrier, by CAS otherwise); a shared consumer: not sole. */
static void sole_claims(void)
{
	const char *name = t_qname("sj-sole");
	struct ipcq_config cfg = t_config(16, 64);
	struct ipcq *q = t_create(name, &cfg);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = IPCQ_ATTACH_SOLE;
	o.name = "solo";
	struct ipcq *p = t_open_attach(name, IPCQ_ROLE_PRODUCER, &o);
	struct ipcq_attach_opts oc = IPCQ_ATTACH_OPTS_INIT;
	oc.name = "shared";
	struct ipcq *c = t_open_attach(name, IPCQ_ROLE_CONSUMER, &oc);
	struct ipcq_participant_stats ps[4];
	CHECK(t_parts(q, ps, T_NELEM(ps)) == 2);
	int by_store = (t_my_stats(p).flags & IPCQ_PART_SOLE_STORE_ENQ) != 0;
	struct s_run r = s_tool_run("ipcq-stat", "--json", "-i", "0.05", name, NULL);
	S_EXPECT(r.status == 0, r);
	struct jv *v = json_parse(r.out);
	const struct jv *jp = jpart(v, "solo");
	CHECK(jbool(jp, "sole") == 1);
	CHECK(jbool(jp, "sole_store_enq") == by_store);
	CHECK(jbool(jp, "sole_store_deq") == 0);
	CHECK(jbool(jpart(v, "shared"), "sole") == 0);
	jv_free(v);
	s_run_free(&r);
	printf("sole producer: claims by %s\n", by_store ? "store" : "CAS");
	CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(q));
	ipcq_unlink(name);
}

int main(void)
{
	const unsigned n_send = 20, n_recv = 7;
	const char *name = t_qname("sj");

	parser_self_test();
	struct s_scene s = s_scene_start(name, n_send, n_recv);

	/* one queue: one object */
	struct s_run r = s_tool_run("ipcq-stat", "--json", "-i", "0.05", name, NULL);
	S_EXPECT(r.status == 0, r);
	struct jv *v = json_parse(r.out);
	check_queue(v, name, n_send, n_recv, 1);
	jv_free(v);
	s_run_free(&r);

	/* every queue: an array that holds ours */
	r = s_tool_run("ipcq-stat", "--json", "-i", "0.05", NULL, NULL);
	S_EXPECT(r.status == 0, r);
	v = json_parse(r.out);
	CHECK(v->t == J_ARR);
	int found = 0;
	for (size_t i = 0; i < v->n; i++) {
		if (strcmp(jstr(v->items[i], "name"), name) == 0) {
			check_queue(v->items[i], name, n_send, n_recv, 1);
			found++;
		}
	}
	CHECK(found == 1);
	jv_free(v);
	s_run_free(&r);

	/* the consumer dies: still listed, not alive */
	s_scene_kill_consumer(&s);
	r = s_tool_run("ipcq-stat", "--json", "-i", "0.05", name, NULL);
	S_EXPECT(r.status == 0, r);
	v = json_parse(r.out);
	check_queue(v, name, n_send, n_recv, 0);
	jv_free(v);
	s_run_free(&r);

	/* watch mode without a terminal: one compact document per line */
	r = s_tool_run("ipcq-stat", "--json", "-w", "0.05", "-n", "2");
	S_EXPECT(r.status == 0, r);
	{
		int lines = 0;
		for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
			v = json_parse(line);
			CHECK(v->t == J_ARR);
			jv_free(v);
			lines++;
		}
		CHECK(lines == 2);
	}
	s_run_free(&r);
	{
		char *argv[] = { (char *)s_tool("ipcq-stat"), (char *)"--json", (char *)"-w",
				 (char *)"0.05", (char *)"-n", (char *)"3", (char *)name, NULL };
		r = s_exec(argv);
		S_EXPECT(r.status == 0, r);
		int lines = 0;
		for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
			v = json_parse(line);
			check_queue(v, name, n_send, n_recv, 0);
			jv_free(v);
			lines++;
		}
		CHECK(lines == 3);
		s_run_free(&r);
	}

	/* errors: exit 1 with a clear message */
	const char *missing = t_qname("sj-missing");
	r = s_tool_run("ipcq-stat", "--json", missing, NULL, NULL, NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "no such queue") && strstr(r.err, missing), r);
	s_run_free(&r);

	const char *garbage = t_qname("sj-garbage");
	s_make_garbage(garbage);
	r = s_tool_run("ipcq-stat", garbage, NULL, NULL, NULL, NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, garbage) &&
		 (strstr(r.err, "corrupt") || strstr(r.err, "incompatible")), r);
	s_run_free(&r);

	/* a file larger than its header says: grown, not truncated */
	{
		const char *grown = t_qname("sj-grown");
		struct ipcq_config gc = t_config(8, 64);
		ipcq_close(t_create(grown, &gc));
		CHECK(truncate(t_shm_path(grown), 200000) == 0);
		r = s_tool_run("ipcq-stat", grown, NULL, NULL, NULL, NULL);
		S_EXPECT(r.status == 1 && strstr(r.err, grown) &&
			 strstr(r.err, "the segment file is 200000 bytes, larger than the") &&
			 strstr(r.err, "grown or corrupt") && !strstr(r.err, "truncated or corrupt"), r);
		s_run_free(&r);
		r = s_tool_run("ipcq-ctl", "peek", grown, NULL, NULL, NULL);
		S_EXPECT(r.status == 1 && strstr(r.err, "grown or corrupt") &&
			 !strstr(r.err, "segment truncated"), r);
		s_run_free(&r);
	}

	r = s_tool_run("ipcq-stat", "--bogus", NULL, NULL, NULL, NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "--bogus"), r);
	s_run_free(&r);
	/* bad usage, not the last option silently taken or ignored */
	r = s_tool_run("ipcq-stat", "--json", "--prometheus", name, NULL, NULL);
	S_EXPECT(r.status == 1 && !r.out[0] && strstr(r.err, "one format at a time") &&
		 strstr(r.err, "--help"), r);
	s_run_free(&r);
	r = s_tool_run("ipcq-stat", "-p", "-j", NULL, NULL, NULL);
	S_EXPECT(r.status == 1 && !r.out[0] && strstr(r.err, "one format at a time"), r);
	s_run_free(&r);
	r = s_tool_run("ipcq-stat", "--json", "-j", name, NULL, NULL);
	S_EXPECT(r.status == 0, r);
	s_run_free(&r);
	r = s_tool_run("ipcq-stat", "--json", "-n", "2", name, NULL);
	S_EXPECT(r.status == 1 && !r.out[0] && strstr(r.err, "-n (--count)") &&
		 strstr(r.err, "-w"), r);
	s_run_free(&r);
	r = s_tool_run("ipcq-stat", "--count=1", NULL, NULL, NULL, NULL);
	S_EXPECT(r.status == 1 && !r.out[0] && strstr(r.err, "-n (--count)"), r);
	s_run_free(&r);
	r = s_tool_run("ipcq-stat", "--help", NULL, NULL, NULL, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "usage"), r);
	s_run_free(&r);
	r = s_tool_run("ipcq-stat", "--version", NULL, NULL, NULL, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, ipcq_version_string()), r);
	s_run_free(&r);

	sole_claims();

	/* the monitor never wrote: the queue's figures are as the participants left them */
	struct ipcq_info info = t_info(s.q);
	CHECK(info.depth == n_send - n_recv);
	s_scene_end(&s);
	printf("t_stat_json: ok\n");
	return 0;
}
