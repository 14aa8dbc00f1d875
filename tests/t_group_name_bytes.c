/* t_group_name_bytes: a group name in the segment holding control bytes, DEL and invalid UTF-8 comes out of ipcq_group_list() with each such byte as '?', and so reaches no terminal or exporter: ipcq-stat (text, JSON, Prometheus), ipcq-ctl group list (text, JSON) and poison dump. */
#include "statutil.h"
#include "ipcq_internal.h"

#include <stddef.h>

/* ESC [2J (clear screen), DEL, a UTF-8 lead byte alone, a quote, a
 * backslash, a newline and a tab */
static const char raw[] = "g\x1b[2J\x7f\xc3\"q\\\n\t";

static char want[sizeof(raw)];

/* Write @s as group @g's name, straight into the segment of queue @name. */
static void poke_group_name(const char *name, uint32_t g, const char *s)
{
	struct ipcq_shm_header h;
	char field[IPCQ_GROUP_NAME_MAX + 1] = { 0 };
	int fd = open(t_shm_path(name), O_RDWR | O_NOFOLLOW);
	CHECK(fd >= 0);
	CHECK(pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h));
	CHECK(strlen(s) < sizeof(field));
	memcpy(field, s, strlen(s));
	off_t off = (off_t)(h.off_groups + g * sizeof(struct ipcq_shm_group) +
			    offsetof(struct ipcq_shm_group, name));
	CHECK(pwrite(fd, field, sizeof(field), off) == (ssize_t)sizeof(field));
	close(fd);
}

/* Nothing but printable ASCII and newlines in @s. */
static int clean(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && *p != '\n') || *p > 0x7e)
			return 0;
	return 1;
}

/* @run exited 0 with clean output holding @needle. */
static void shows(const char *what, struct s_run r, const char *needle)
{
	if (r.status != 0 || !clean(r.out) || !clean(r.err) || !strstr(r.out, needle)) {
		s_run_show(what, &r);
		T_FAIL("%s: not exit 0 with printable output holding '%s'", what, needle);
	}
	s_run_free(&r);
}

int main(void)
{
	char buf[512], id[32];

	t_watchdog(t_limit(60), "t_group_name_bytes", NULL);
	for (size_t i = 0; i < sizeof(raw); i++)
		want[i] = raw[i] && ((unsigned char)raw[i] < 0x20 || (unsigned char)raw[i] > 0x7e)
				  ? '?' : raw[i];
	CHECK(strcmp(want, "g?[2J??\"q\\??") == 0);

	const char *name = t_qname("gbytes");
	struct ipcq_config cfg = t_config(16, 64);
	cfg.max_groups = 2;
	struct ipcq *q = t_create(name, &cfg);
	CHECK_RC(ipcq_group_create(q, "work", 0), 0);
	/* a member that nacks one message as poison: a side entry of the group */
	struct ipcq *p = t_open_attach(name, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *c = t_group_consumer(name, "work", IPCQ_ATTACH_ACK);
	struct ipcq_msginfo mi;
	CHECK_OK(ipcq_send(p, "poison-me", 9, IPCQ_NOWAIT));
	CHECK_OK(ipcq_send(p, "waiting", 7, IPCQ_NOWAIT));
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), &mi, IPCQ_NOWAIT), 9);
	CHECK_RC(ipcq_nack(c, mi.token, IPCQ_NACK_POISON), 1);
	struct ipcq_poison e;
	CHECK_RC(ipcq_poison_list(q, 0, &e, 1), 1);
	CHECK(e.group == 1);
	snprintf(id, sizeof(id), "%" PRIu64, e.id);

	poke_group_name(name, 0, raw);

	/* the library: printable only, NUL-terminated, every other byte kept */
	struct ipcq_group_info gi[2];
	memset(gi, 0x7f, sizeof(gi));
	CHECK_RC(ipcq_group_list(q, gi, 2), 1);
	CHECK(strcmp(gi[0].name, want) == 0);
	/* a name filling the whole field, no NUL: cut at the last byte */
	{
		char full[IPCQ_GROUP_NAME_MAX + 2];
		memset(full, '\x9b', sizeof(full) - 1); /* CSI in C1 */
		full[sizeof(full) - 1] = '\0';
		struct ipcq_shm_header h;
		int fd = open(t_shm_path(name), O_RDWR | O_NOFOLLOW);
		CHECK(fd >= 0);
		CHECK(pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h));
		CHECK(pwrite(fd, full, IPCQ_GROUP_NAME_MAX + 1,
			     (off_t)(h.off_groups + offsetof(struct ipcq_shm_group, name))) ==
		      IPCQ_GROUP_NAME_MAX + 1);
		close(fd);
		CHECK_RC(ipcq_group_list(q, gi, 2), 1);
		CHECK(strlen(gi[0].name) == IPCQ_GROUP_NAME_MAX);
		CHECK(strspn(gi[0].name, "?") == IPCQ_GROUP_NAME_MAX);
		poke_group_name(name, 0, raw);
	}

	/* the tools: what the library gives, escaped as each format wants */
	shows("ipcq-stat NAME", s_tool_runv("ipcq-stat", "-i", "0.01", name, NULL), want);
	shows("ipcq-stat --json NAME", s_tool_runv("ipcq-stat", "-i", "0.01", "--json", name, NULL),
	      "\"name\": \"g?[2J??\\\"q\\\\??\"");
	shows("ipcq-stat -p NAME", s_tool_runv("ipcq-stat", "-p", name, NULL),
	      "group=\"g?[2J??\\\"q\\\\??\"");
	shows("ipcq-ctl group list", s_tool_runv("ipcq-ctl", "group", "list", name, NULL), want);
	shows("ipcq-ctl group list --json",
	      s_tool_runv("ipcq-ctl", "group", "list", name, "--json", NULL),
	      "\"name\": \"g?[2J??\\\"q\\\\??\"");
	snprintf(buf, sizeof(buf), "\ngroup          %s (index 0;", want);
	shows("ipcq-ctl poison dump", s_tool_runv("ipcq-ctl", "poison", "dump", name, id, NULL), buf);
	snprintf(buf, sizeof(buf), " %s\n", want);
	shows("ipcq-ctl poison list", s_tool_runv("ipcq-ctl", "poison", "list", name, NULL), buf);

	ipcq_close(c);
	ipcq_close(p);
	ipcq_close(q);
	CHECK_OK(ipcq_unlink(name));
	printf("t_group_name_bytes: ok\n");
	return 0;
}
