/* t_bridge_opts: ipcq-bridge refuses, with exit status 2 (bad usage) and a message that gives the range, a --duplicates window or a --pub-timeout too large to be counted in nanoseconds (or of no use), and accepts the largest of each; it refuses an in-bridge without --subject, and a --dlq subject with wildcards or taken by the consumer's filter (what is dead-lettered would come back); nothing is connected to. */
#include "bridgetest.h"

/* Run ipcq-bridge with @argv (NULL-terminated, after the program name);
 * its exit status, its standard error in @err. */
static int run_bridge(const char *const *argv, char *err, size_t cap)
{
	const char *path = bt_bridge_path();
	const char *av[16] = { path };
	size_t n = 1;
	for (; argv[n - 1] && n < 15; n++)
		av[n] = argv[n - 1];
	av[n] = NULL;
	int fd[2];
	CHECK(pipe(fd) == 0);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(fd[1], 2);
		int dn = open("/dev/null", O_WRONLY);
		dup2(dn, 1);
		execv(path, (char *const *)av);
		_exit(127);
	}
	close(fd[1]);
	size_t got = 0;
	ssize_t r;
	while (got < cap - 1 && (r = read(fd[0], err + got, cap - 1 - got)) > 0)
		got += (size_t)r;
	err[got] = '\0';
	close(fd[0]);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void refused(const char *opt, const char *value, const char *want)
{
	char err[2048];
	/* a port nothing listens on: a refusal must come before any connect */
	const char *argv[] = { "out", t_qname("bopts"), "-s", "nats://127.0.0.1:1", "--subject",
			       "o.a", opt, value, NULL };
	int rc = run_bridge(argv, err, sizeof(err));
	if (rc != 2 || !strstr(err, want))
		T_FAIL("%s %s: status %d, stderr:\n%s\n(want '%s')", opt, value, rc, err, want);
}

/* `in` with @a and @b after the queue and the stream (NULL: none) must be
 * refused with @want. */
static void refused_in(const char *a, const char *b, const char *want)
{
	char err[2048];
	const char *argv[] = { "in", t_qname("bopts"), "-s", "nats://127.0.0.1:1", "--stream", "S",
			       a, b, NULL };
	int rc = run_bridge(argv, err, sizeof(err));
	if (rc != 2 || !strstr(err, want))
		T_FAIL("in %s %s: status %d, stderr:\n%s\n(want '%s')", a ? a : "", b ? b : "", rc,
		       err, want);
}

int main(void)
{
	t_watchdog(t_limit(60), "t_bridge_opts", NULL);
	refused("--duplicates", "10000000000",
		"ipcq-bridge: --duplicates 10000000000: out of range: 1..31536000 seconds (a year)\n");
	refused("--duplicates", "31536001", "--duplicates 31536001: out of range");
	refused("--duplicates", "0", "bad number '0'");
	refused("--pub-timeout", "20000000000000",
		"ipcq-bridge: --pub-timeout 20000000000000: out of range: 1..86400000 milliseconds "
		"(a day)\n");
	refused("--pub-timeout", "86400001", "--pub-timeout 86400001: out of range");
	/* in: without a filter the consumer would take the out-bridge's
	 * <subject>.dlq too; what is dead-lettered must not come back */
	refused_in(NULL, NULL, "in needs --subject");
	refused_in("--subject=o.a", "--dlq=o.a", "is taken by the consumer's filter");
	refused_in("--subject=o.>", "--dlq=o.dead", "--dlq=o.dead is taken by the consumer's filter");
	refused_in("--subject=o.*", "--dlq=o.dead", "is taken by the consumer's filter");
	refused_in("--subject=o.a", "--dlq=o.*", "--dlq=o.*: a subject to publish to, without wildcards");
	/* a --dlq subject beside the filter parses: the run then fails on its queue */
	char err_in[2048];
	const char *in_ok[] = { "in", t_qname("bopts"), "-s", "nats://127.0.0.1:1", "--stream", "S",
				"--subject=o.a", "--dlq=o.a.dlq", NULL };
	run_bridge(in_ok, err_in, sizeof(err_in));
	if (strstr(err_in, "--dlq") || strstr(err_in, "--subject"))
		T_FAIL("--subject=o.a --dlq=o.a.dlq refused:\n%s", err_in);
	/* the largest of each parses: the run then fails on its queue, not on them */
	char err[2048];
	const char *argv[] = { "out", t_qname("bopts"), "-s", "nats://127.0.0.1:1", "--subject",
			       "o.a", "--duplicates", "31536000", "--pub-timeout", "86400000", NULL };
	run_bridge(argv, err, sizeof(err));
	if (strstr(err, "out of range") || strstr(err, "bad number"))
		T_FAIL("the largest values refused:\n%s", err);
	printf("t_bridge_opts: ok\n");
	return 0;
}
