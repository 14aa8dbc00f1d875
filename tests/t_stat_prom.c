/* t_stat_prom: ipcq-stat --prometheus is valid text exposition format 0.0.4 (HELP/TYPE, names, escaped labels, _total counters) and its values match known activity. */
#include "statutil.h"

#include <ctype.h>
#include <math.h>

#define MAX_LABELS 8
#define MAX_FAMILIES 512

struct sample {
	char name[128];
	int nlabels;
	char lname[MAX_LABELS][64];
	char lval[MAX_LABELS][128];
	double value;
	char series[1024];      /* name and labels as written, to find duplicates */
};

struct family {
	char name[128];
	char type[16];
	int help, typed, samples, closed;
};

struct expo {
	struct sample *s;
	size_t ns;
	struct family *f;
	size_t nf;
};

static int name_ok(const char *s, size_t n, int colon)
{
	if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || (colon && s[0] == ':')))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || (colon && s[i] == ':')))
			return 0;
	return 1;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static struct family *family_find(struct expo *e, const char *name)
{
	for (size_t i = 0; i < e->nf; i++)
		if (strcmp(e->f[i].name, name) == 0)
			return &e->f[i];
	return NULL;
}

static struct family *family_add(struct expo *e, const char *name, size_t len, int lineno)
{
	char n[128];
	if (len >= sizeof(n))
		T_FAIL("line %d: metric name too long", lineno);
	memcpy(n, name, len);
	n[len] = '\0';
	struct family *f = family_find(e, n);
	if (f)
		return f;
	/* a fixed table: pointers to families stay valid */
	if (e->nf == MAX_FAMILIES)
		T_FAIL("line %d: more than %d metric families", lineno, MAX_FAMILIES);
	f = &e->f[e->nf++];
	memset(f, 0, sizeof(*f));
	memcpy(f->name, n, len + 1);
	return f;
}

/* Parse one sample line: name{l="v",...} value; fails the test on bad syntax. */
static void parse_sample(struct expo *e, const char *line, int lineno, struct family **cur)
{
	struct sample s;
	const char *p = line;
	memset(&s, 0, sizeof(s));

	while (isalnum((unsigned char)*p) || *p == '_' || *p == ':')
		p++;
	if (!name_ok(line, (size_t)(p - line), 1) || (size_t)(p - line) >= sizeof(s.name))
		T_FAIL("line %d: bad metric name: %s", lineno, line);
	memcpy(s.name, line, (size_t)(p - line));
	if (*p == '{') {
		p++;
		while (*p != '}') {
			const char *ln = p;
			while (isalnum((unsigned char)*p) || *p == '_')
				p++;
			if (!name_ok(ln, (size_t)(p - ln), 0) || strncmp(ln, "__", 2) == 0)
				T_FAIL("line %d: bad label name: %s", lineno, line);
			if (s.nlabels == MAX_LABELS)
				T_FAIL("line %d: too many labels", lineno);
			snprintf(s.lname[s.nlabels], 64, "%.*s", (int)(p - ln), ln);
			for (int i = 0; i < s.nlabels; i++)
				if (strcmp(s.lname[i], s.lname[s.nlabels]) == 0)
					T_FAIL("line %d: duplicate label %s", lineno, s.lname[i]);
			if (p[0] != '=' || p[1] != '"')
				T_FAIL("line %d: expected =\" after label name: %s", lineno, line);
			p += 2;
			size_t n = 0;
			for (;;) {
				char c = *p++;
				if (c == '\0' || c == '\n')
					T_FAIL("line %d: unterminated label value", lineno);
				if (c == '"')
					break;
				if (c == '\\') {
					c = *p++;
					if (c == 'n')
						c = '\n';
					else if (c != '\\' && c != '"')
						T_FAIL("line %d: bad escape \\%c in label value", lineno, c);
				}
				if (n + 1 >= sizeof(s.lval[0]))
					T_FAIL("line %d: label value too long", lineno);
				s.lval[s.nlabels][n++] = c;
			}
			s.lval[s.nlabels][n] = '\0';
			s.nlabels++;
			if (*p == ',')
				p++;
			else if (*p != '}')
				T_FAIL("line %d: expected , or } in labels: %s", lineno, line);
		}
		p++;
	}
	snprintf(s.series, sizeof(s.series), "%.*s", (int)(p - line), line);
	if (*p != ' ')
		T_FAIL("line %d: expected one space before the value: %s", lineno, line);
	p++;
	if (strcmp(p, "+Inf") == 0) {
		s.value = INFINITY;
	} else if (strcmp(p, "-Inf") == 0) {
		s.value = -INFINITY;
	} else if (strcmp(p, "NaN") == 0) {
		s.value = NAN;
	} else {
		char *end;
		errno = 0;
		s.value = strtod(p, &end);
		/* no timestamps are written: the value ends the line */
		if (end == p || *end != '\0' || errno || isalpha((unsigned char)*p))
			T_FAIL("line %d: bad value '%s'", lineno, p);
	}
	/* samples of one family come together, after its HELP and TYPE */
	struct family *f = family_find(e, s.name);
	if (!f || !f->help || !f->typed)
		T_FAIL("line %d: sample of %s without HELP and TYPE before it", lineno, s.name);
	if (*cur != f)
		T_FAIL("line %d: sample of %s outside its family's block", lineno, s.name);
	f->samples++;
	for (size_t i = 0; i < e->ns; i++)
		if (strcmp(e->s[i].series, s.series) == 0)
			T_FAIL("line %d: duplicate series %s", lineno, s.series);
	if ((e->ns & (e->ns - 1)) == 0) { /* grow at powers of two */
		e->s = (struct sample *)realloc(e->s, (e->ns ? 2 * e->ns : 64) * sizeof(*e->s));
		if (!e->s)
			T_FAIL("out of memory");
	}
	e->s[e->ns++] = s;
}

static struct expo parse_exposition(char *text)
{
	struct expo e = { NULL, 0, NULL, 0 };
	struct family *cur = NULL;

	e.f = (struct family *)calloc(MAX_FAMILIES, sizeof(*e.f));
	if (!e.f)
		T_FAIL("out of memory");
	int lineno = 0;
	size_t len = strlen(text);

	if (len == 0 || text[len - 1] != '\n')
		T_FAIL("exposition must end with a newline");
	for (char *line = text, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		*nl = '\0';
		lineno++;
		if (line[0] == '\0')
			T_FAIL("line %d: empty line", lineno);
		if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
			int help = line[2] == 'H';
			const char *n = line + 7;
			const char *sp = strchr(n, ' ');
			if (!sp || !name_ok(n, (size_t)(sp - n), 1) || sp[1] == '\0')
				T_FAIL("line %d: bad %s line: %s", lineno, help ? "HELP" : "TYPE", line);
			struct family *f = family_add(&e, n, (size_t)(sp - n), lineno);
			if (f->samples)
				T_FAIL("line %d: %s of %s after its samples", lineno, help ? "HELP" : "TYPE",
				       f->name);
			if (cur && cur != f)
				cur->closed = 1;
			if (f->closed)
				T_FAIL("line %d: family %s appears twice", lineno, f->name);
			if (help) {
				if (f->help++)
					T_FAIL("line %d: second HELP for %s", lineno, f->name);
			} else {
				if (f->typed++)
					T_FAIL("line %d: second TYPE for %s", lineno, f->name);
				snprintf(f->type, sizeof(f->type), "%s", sp + 1);
				if (strcmp(f->type, "counter") && strcmp(f->type, "gauge") &&
				    strcmp(f->type, "histogram") && strcmp(f->type, "summary") &&
				    strcmp(f->type, "untyped"))
					T_FAIL("line %d: unknown type %s", lineno, f->type);
			}
			cur = f;
			continue;
		}
		if (line[0] == '#')
			continue; /* other comments are allowed */
		parse_sample(&e, line, lineno, &cur);
	}
	for (size_t i = 0; i < e.nf; i++) {
		struct family *f = &e.f[i];
		if (!f->help || !f->typed)
			T_FAIL("family %s lacks HELP or TYPE", f->name);
		if (strcmp(f->type, "counter") == 0 && !ends_with(f->name, "_total"))
			T_FAIL("counter %s does not end in _total", f->name);
		if (strcmp(f->type, "counter") != 0 && ends_with(f->name, "_total"))
			T_FAIL("%s ends in _total but is a %s", f->name, f->type);
		if (strncmp(f->name, "ipcq_", 5) != 0)
			T_FAIL("metric %s lacks the ipcq_ prefix", f->name);
	}
	return e;
}

static const char *label(const struct sample *s, const char *name)
{
	for (int i = 0; i < s->nlabels; i++)
		if (strcmp(s->lname[i], name) == 0)
			return s->lval[i];
	return NULL;
}

/* The value of @metric for @queue, and (if not NULL) label @lname == @lval. */
static double value(const struct expo *e, const char *metric, const char *queue,
		    const char *lname, const char *lval)
{
	const struct sample *hit = NULL;
	for (size_t i = 0; i < e->ns; i++) {
		const struct sample *s = &e->s[i];
		const char *q = label(s, "queue");
		if (strcmp(s->name, metric) || !q || strcmp(q, queue))
			continue;
		if (lname) {
			const char *v = label(s, lname);
			if (!v || strcmp(v, lval))
				continue;
		}
		if (hit)
			T_FAIL("several samples of %s for %s", metric, queue);
		hit = s;
	}
	if (!hit)
		T_FAIL("no sample of %s for queue %s%s%s%s", metric, queue, lname ? " " : "",
		       lname ? lname : "", lval ? lval : "");
	return hit->value;
}

static void expo_free(struct expo *e)
{
	free(e->s);
	free(e->f);
}

static void check(const char *name, unsigned n_send, unsigned n_recv, int cons_alive)
{
	struct s_run r = s_tool_run("ipcq-stat", "--prometheus", name, NULL, NULL, NULL);
	S_EXPECT(r.status == 0, r);
	struct expo e = parse_exposition(r.out);

	CHECK(value(&e, "ipcq_queue_up", name, NULL, NULL) == 1);
	CHECK(value(&e, "ipcq_queue_depth", name, NULL, NULL) == n_send - n_recv);
	CHECK(value(&e, "ipcq_queue_capacity", name, NULL, NULL) == 64);
	CHECK(value(&e, "ipcq_queue_enqueued_total", name, NULL, NULL) == n_send);
	CHECK(value(&e, "ipcq_queue_dequeued_total", name, NULL, NULL) == n_recv);
	CHECK(value(&e, "ipcq_queue_in_flight", name, NULL, NULL) == 0);
	CHECK(value(&e, "ipcq_queue_side_depth", name, NULL, NULL) == 0);
	CHECK(value(&e, "ipcq_queue_pressure", name, NULL, NULL) == 0);
	CHECK(value(&e, "ipcq_queue_oldest_message_age_seconds", name, NULL, NULL) >= 0);
	CHECK(value(&e, "ipcq_queue_max_message_size_bytes", name, NULL, NULL) == 256);
	CHECK(value(&e, "ipcq_queue_participants", name, "state", "alive") == (cons_alive ? 2 : 1));
	CHECK(value(&e, "ipcq_queue_participants", name, "state", "dead") == (cons_alive ? 0 : 1));
	/* the producer's name needs escaping: the label must come back intact */
	CHECK(value(&e, "ipcq_messages_sent_total", name, "name", S_PROD_NAME) == n_send);
	CHECK(value(&e, "ipcq_sent_bytes_total", name, "name", S_PROD_NAME) == n_send * S_MSG_LEN);
	CHECK(value(&e, "ipcq_messages_received_total", name, "name", S_PROD_NAME) == 0);
	CHECK(value(&e, "ipcq_messages_received_total", name, "name", S_CONS_NAME) == n_recv);
	CHECK(value(&e, "ipcq_received_bytes_total", name, "name", S_CONS_NAME) ==
	      n_recv * S_MSG_LEN);
	CHECK(value(&e, "ipcq_participant_up", name, "name", S_PROD_NAME) == 1);
	CHECK(value(&e, "ipcq_participant_up", name, "name", S_CONS_NAME) == cons_alive);
	CHECK(value(&e, "ipcq_blocked_seconds_total", name, "name", S_CONS_NAME) >= 0);
	for (size_t i = 0; i < e.ns; i++) {
		const struct sample *s = &e.s[i];
		const char *q = label(s, "queue");
		if (!q || strcmp(q, name) || strncmp(s->name, "ipcq_queue_", 11) == 0)
			continue;
		const char *role = label(s, "role");
		CHECK(label(s, "participant") != NULL && role != NULL && label(s, "pid") != NULL);
		CHECK(strcmp(role, strcmp(label(s, "name"), S_CONS_NAME) ? "producer" : "consumer") == 0);
	}
	expo_free(&e);
	s_run_free(&r);
}

int main(void)
{
	const unsigned n_send = 17, n_recv = 5;
	const char *name = t_qname("sp");
	struct s_scene s = s_scene_start(name, n_send, n_recv);

	check(name, n_send, n_recv, 1);

	/* every queue on the machine, ours among them; some may be foreign or vanish */
	struct s_run r = s_tool_run("ipcq-stat", "--prometheus", NULL, NULL, NULL, NULL);
	S_EXPECT(r.status == 0, r);
	struct expo e = parse_exposition(r.out);
	CHECK(value(&e, "ipcq_queue_depth", name, NULL, NULL) == n_send - n_recv);
	expo_free(&e);
	s_run_free(&r);

	s_scene_kill_consumer(&s);
	check(name, n_send, n_recv, 0);

	r = s_tool_run("ipcq-stat", "--prometheus", "--watch", NULL, NULL, NULL);
	S_EXPECT(r.status == 1, r);
	s_run_free(&r);
	/* a named queue that cannot be read: exit 1, and its series says 0,
	 * as in the list, so that a textfile collector keeps it */
	const char *missing = t_qname("sp-missing");
	char want[160];
	snprintf(want, sizeof(want), "ipcq_queue_up{queue=\"%s\"} 0\n", missing);
	r = s_tool_run("ipcq-stat", "--prometheus", missing, NULL, NULL, NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "no such queue") && strstr(r.out, want) &&
		 !strncmp(r.out, "# HELP ipcq_queue_up ", 21) &&
		 strstr(r.out, "\n# TYPE ipcq_queue_up gauge\n"), r);
	s_run_free(&r);
	const char *garbage = t_qname("sp-garbage");
	s_make_garbage(garbage);
	snprintf(want, sizeof(want), "ipcq_queue_up{queue=\"%s\"} 0\n", garbage);
	r = s_tool_run("ipcq-stat", "-p", garbage, NULL, NULL, NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, garbage) && strstr(r.out, want), r);
	s_run_free(&r);
	r = s_tool_run("ipcq-stat", "--prometheus", NULL, NULL, NULL, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, want), r);
	s_run_free(&r);
	/* text and JSON say nothing on stdout for it */
	r = s_tool_run("ipcq-stat", "--json", garbage, NULL, NULL, NULL);
	S_EXPECT(r.status == 1 && !r.out[0], r);
	s_run_free(&r);

	s_scene_end(&s);
	printf("t_stat_prom: ok\n");
	return 0;
}
