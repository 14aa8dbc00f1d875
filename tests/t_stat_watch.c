/* t_stat_watch: ipcq-stat -w driven in tmux like a user: it draws the queue in the alternate screen, follows a resize, quits on q and on Ctrl-C, and gives the terminal back as it found it. */
#include "statutil.h"

#include <stdarg.h>

static char g_sock[64];
static char g_dir[64];

/* Run a shell command line; returns its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Output of a shell command line (at most @cap - 1 bytes). */
static char *sh_out(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static char *sh_out(char *buf, size_t cap, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *p = popen(cmd, "r");
	if (!p)
		T_FAIL("popen: %s", strerror(errno));
	size_t n = fread(buf, 1, cap - 1, p);
	buf[n] = '\0';
	pclose(p);
	return buf;
}

static char *screen(char *buf, size_t cap)
{
	return sh_out(buf, cap, "tmux -L %s capture-pane -p -t w 2>/dev/null", g_sock);
}

static int alternate_on(void)
{
	char b[32];
	sh_out(b, sizeof(b), "tmux -L %s display -p -t w '#{alternate_on}' 2>/dev/null", g_sock);
	return atoi(b);
}

/* Type a line into the pane's shell. */
static void type_line(const char *line)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/line", g_dir);
	FILE *f = fopen(path, "w");
	if (!f)
		T_FAIL("fopen %s: %s", path, strerror(errno));
	fputs(line, f);
	fclose(f);
	/* through a tmux buffer: no quoting of the line for send-keys */
	CHECK(sh("tmux -L %s load-buffer -b l %s && tmux -L %s paste-buffer -d -b l -t w && "
		 "tmux -L %s send-keys -t w Enter", g_sock, path, g_sock, g_sock) == 0);
}

static void show_screen(const char *why)
{
	char b[16384];
	fprintf(stderr, "%s; the screen:\n%s\n", why, screen(b, sizeof(b)));
}

/* Poll the screen (at most @secs) until @pred holds. */
static int await_screen(int (*pred)(const char *scr, const void *arg), const void *arg,
			unsigned secs)
{
	char b[16384];
	uint64_t end = t_now_ns() + (uint64_t)secs * 1000000000ull;
	do {
		if (pred(screen(b, sizeof(b)), arg))
			return 1;
		struct timespec ts = { 0, 50000000 };
		nanosleep(&ts, NULL);
	} while (t_now_ns() < end);
	return 0;
}

static int has_text(const char *scr, const void *arg)
{
	return strstr(scr, (const char *)arg) != NULL;
}

/* The monitor is on screen: header on the first row, the queue, its participants. */
static int shows_queue(const char *scr, const void *arg)
{
	char q[160];
	snprintf(q, sizeof(q), "queue %s", (const char *)arg);
	return strncmp(scr, "ipcq-stat ", 10) == 0 && strstr(scr, q) && strstr(scr, "depth") &&
	       strstr(scr, "participants") && strstr(scr, S_PROD_NAME) && alternate_on() == 1;
}

/* After a resize: every row fits the new width, and the header is still on row 0. */
static int shows_narrow(const char *scr, const void *arg)
{
	int width = *(const int *)arg;
	char b[32];
	sh_out(b, sizeof(b), "tmux -L %s display -p -t w '#{pane_width}'", g_sock);
	if (atoi(b) != width || strncmp(scr, "ipcq-stat ", 10) != 0 || !strstr(scr, "depth"))
		return 0;
	for (const char *l = scr; *l;) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		if (len > (size_t)width)
			return 0;
		l += len + (nl != NULL);
	}
	return 1;
}

static void stop_server(void)
{
	if (g_sock[0])
		sh("tmux -L %s kill-server >/dev/null 2>&1", g_sock);
	if (g_dir[0])
		sh("rm -rf %s", g_dir);
}

static int same_file(const char *a, const char *b)
{
	return sh("cmp -s %s/%s %s/%s", g_dir, a, g_dir, b) == 0;
}

static void session_start(void)
{
	/* a fixed size, no user configuration, a shell with a known prompt */
	CHECK(sh("tmux -L %s -f /dev/null new-session -d -s w -x 100 -y 40 "
		 "\"env PS1='READY> ' HOME=%s sh\"", g_sock, g_dir) == 0);
	sh("tmux -L %s set -g window-size manual >/dev/null 2>&1", g_sock);
	if (!await_screen(has_text, "READY>", 20)) {
		show_screen("no shell prompt");
		T_FAIL("the shell in tmux did not start");
	}
}

int main(void)
{
	if (sh("tmux -V >/dev/null 2>&1") != 0) {
		printf("tmux not installed\n");
		return T_SKIP;
	}
	snprintf(g_sock, sizeof(g_sock), "ipcq-t-%d", (int)getpid());
	snprintf(g_dir, sizeof(g_dir), "/tmp/ipcq-watch.XXXXXX");
	if (!mkdtemp(g_dir))
		T_FAIL("mkdtemp: %s", strerror(errno));
	atexit(stop_server);

	const char *name = t_qname("sw");
	const char *tool = s_tool("ipcq-stat");
	struct s_scene s = s_scene_start(name, 9, 4);
	char line[1024];

	session_start();

	/* 1. start the monitor as a user would, with the terminal settings saved before and after */
	snprintf(line, sizeof(line),
		 "stty -g > %s/tty.before; %s -w 0.2 %s; echo EXIT=$?; stty -g > %s/tty.after",
		 g_dir, tool, name, g_dir);
	type_line(line);
	if (!await_screen(shows_queue, name, 30)) {
		show_screen("the monitor did not show the queue");
		T_FAIL("no monitor screen");
	}
	char b[16384];
	screen(b, sizeof(b));
	CHECK(strstr(b, "depth      5 / 64") != NULL);
	CHECK(strstr(b, "alive") != NULL);
	CHECK(strstr(b, "READY>") == NULL); /* the alternate screen hides the shell */

	/* 2. a narrower window: the next frames fit it */
	int width = 60;
	CHECK(sh("tmux -L %s resize-window -t w -x %d -y 20", g_sock, width) == 0);
	if (!await_screen(shows_narrow, &width, 20)) {
		show_screen("the monitor did not follow the resize");
		T_FAIL("resize not handled");
	}

	/* 3. q quits at once (no Enter: the terminal is in non-canonical mode) */
	CHECK(sh("tmux -L %s send-keys -t w q", g_sock) == 0);
	if (!await_screen(has_text, "EXIT=0", 20)) {
		show_screen("q did not end the monitor with status 0");
		T_FAIL("q did not quit");
	}
	T_AWAIT(alternate_on() == 0, 10);
	char path[128];
	snprintf(path, sizeof(path), "%s/tty.after", g_dir);
	T_AWAIT(access(path, F_OK) == 0, 10);
	if (!same_file("tty.before", "tty.after")) {
		sh("cat %s/tty.before %s/tty.after >&2", g_dir, g_dir);
		T_FAIL("terminal settings not restored after q");
	}
	screen(b, sizeof(b));
	CHECK(strstr(b, "READY>") != NULL); /* the normal screen, with the shell, is back */

	/* 4. Ctrl-C: the monitor restores the terminal, then dies of SIGINT (status 130) */
	CHECK(sh("tmux -L %s send-keys -t w clear Enter", g_sock) == 0);
	snprintf(line, sizeof(line),
		 "trap '' INT; %s --watch 0.2 %s; echo STATUS=$?; stty -g > %s/tty.after2", tool,
		 name, g_dir);
	type_line(line);
	if (!await_screen(shows_queue, name, 30)) {
		show_screen("the monitor did not show the queue (second run)");
		T_FAIL("no monitor screen");
	}
	CHECK(sh("tmux -L %s send-keys -t w C-c", g_sock) == 0);
	if (!await_screen(has_text, "STATUS=130", 20)) {
		show_screen("Ctrl-C did not end the monitor by SIGINT");
		T_FAIL("Ctrl-C not handled");
	}
	snprintf(path, sizeof(path), "%s/tty.after2", g_dir);
	T_AWAIT(access(path, F_OK) == 0, 10);
	CHECK(alternate_on() == 0);
	if (!same_file("tty.before", "tty.after2"))
		T_FAIL("terminal settings not restored after Ctrl-C");

	/* 5. the list view (no name) also draws and quits */
	CHECK(sh("tmux -L %s send-keys -t w clear Enter", g_sock) == 0);
	snprintf(line, sizeof(line), "%s -w 0.2; echo LIST=$?", tool);
	type_line(line);
	if (!await_screen(has_text, "ALIVE/DEAD", 30)) {
		show_screen("the list view did not show the queue");
		T_FAIL("no list screen");
	}
	CHECK(alternate_on() == 1);
	CHECK(sh("tmux -L %s send-keys -t w q", g_sock) == 0);
	if (!await_screen(has_text, "LIST=0", 20)) {
		show_screen("q did not end the list view");
		T_FAIL("q did not quit the list view");
	}

	s_scene_end(&s);
	printf("t_stat_watch: ok\n");
	return 0;
}
