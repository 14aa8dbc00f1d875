/* NUMA placement on the running machine through node 0: create on a node and IPCQ_NUMA_LOCAL, the memory policy of the shared segment (MPOL_BIND to that node, seen through any process's mapping; default for IPCQ_NUMA_ANY), page placement, thread pinning, -ENODEV/-EINVAL cases, node seen again after reopen. */
#include <limits.h>
#include <numa.h>
#include <numaif.h>

#include "testutil.h"

#define CAPACITY 256u
#define MSG_SIZE 4000u

/* t_qname() recycles its buffers: keep our own copies */
static char qnode[96]; /* created on node 0 */
static char qlocal[96]; /* created with IPCQ_NUMA_LOCAL */
static char qany[96]; /* IPCQ_NUMA_ANY */
static int local_node; /* the node IPCQ_NUMA_LOCAL must give */

static void affinity_get(cpu_set_t *s)
{
	CPU_ZERO(s);
	if (sched_getaffinity(0, sizeof(*s), s) != 0)
		T_FAIL("sched_getaffinity: %s", strerror(errno));
}

static void affinity_set(const cpu_set_t *s)
{
	if (sched_setaffinity(0, sizeof(*s), s) != 0)
		T_FAIL("sched_setaffinity: %s", strerror(errno));
}

/* The CPUs of @node as libnuma (sysfs) lists them. */
static void node_cpus(int node, cpu_set_t *s)
{
	struct bitmask *b = numa_allocate_cpumask();
	CHECK(b != NULL);
	if (numa_node_to_cpus(node, b) != 0)
		T_FAIL("numa_node_to_cpus(%d): %s", node, strerror(errno));
	CPU_ZERO(s);
	for (unsigned i = 0; i < b->size && i < CPU_SETSIZE; i++)
		if (numa_bitmask_isbitset(b, i))
			CPU_SET(i, s);
	numa_free_cpumask(b);
}

static struct ipcq_config node_config(int node)
{
	struct ipcq_config cfg = t_config(CAPACITY, MSG_SIZE);
	cfg.numa_node = node;
	return cfg;
}

/* ipcq_numa_node() and ipcq_stats() must both report @want for @q. */
static void node_is(struct ipcq *q, int want, const char *who)
{
	struct ipcq_stats st;
	int rc = ipcq_numa_node(q);
	if (rc != want)
		T_FAIL("%s: ipcq_numa_node returned %d, expected %d%s", who, rc, want,
		       want == IPCQ_NUMA_ANY ? " (IPCQ_NUMA_ANY: not bound)" : "");
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	CHECK_OK(ipcq_stats(q, &st, NULL, 0));
	if (st.numa_node != want)
		T_FAIL("%s: ipcq_stats says numa_node %d, expected %d%s", who, (int)st.numa_node,
		       want, want == IPCQ_NUMA_ANY ? " (IPCQ_NUMA_ANY: not bound)" : "");
}

/*
 * Pin the calling thread to @q's node and check that its affinity is now
 * a non-empty subset of the node's CPUs (and of what it was allowed
 * before: hwloc binds within the allowed set).
 */
static void pin_and_check(struct ipcq *q, int node, const char *who)
{
	cpu_set_t before, after, cpus;
	affinity_get(&before);
	CHECK_RC(ipcq_pin_thread(q), 0);
	affinity_get(&after);
	node_cpus(node, &cpus);
	if (CPU_COUNT(&after) == 0)
		T_FAIL("%s: pinned to no CPU at all", who);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &after) && (!CPU_ISSET(c, &cpus) || !CPU_ISSET(c, &before)))
			T_FAIL("%s: after ipcq_pin_thread the thread may run on CPU %d, which is %s",
			       who, c, CPU_ISSET(c, &cpus) ? "outside its allowed set"
							: "not a CPU of the queue's node");
	affinity_set(&before);
}

struct pin_arg {
	struct ipcq *q;
	int node;
	int done;
};

static void *pin_thread_main(void *p)
{
	struct pin_arg *a = (struct pin_arg *)p;
	pin_and_check(a->q, a->node, "pinned thread");
	/* leave it pinned: the main thread must not have moved */
	CHECK_RC(ipcq_pin_thread(a->q), 0);
	a->done = 1;
	return NULL;
}

/* ipcq_pin_thread binds the calling thread, not the whole process. */
static void pin_one_thread(struct ipcq *q, int node)
{
	cpu_set_t before, after;
	struct pin_arg a = { q, node, 0 };
	pthread_t th;
	affinity_get(&before);
	CHECK(pthread_create(&th, NULL, pin_thread_main, &a) == 0);
	CHECK(pthread_join(th, NULL) == 0);
	CHECK(a.done);
	affinity_get(&after);
	if (!CPU_EQUAL(&before, &after))
		T_FAIL("ipcq_pin_thread in another thread changed the main thread's affinity");
}

/*
 * The memory policy of queue @name's segment must be a strict bind to
 * @node (IPCQ_NUMA_ANY: the default policy, nothing bound).  On a one-node
 * machine every page is on node 0 bound or not, so placement alone cannot
 * tell; the policy can.  tmpfs keeps the policy on the shared object, so
 * a mapping of our own reports what the creator set, for every page,
 * touched or not.
 */
static void policy_is(const char *name, int node, const char *who)
{
	struct stat st;
	int fd = open(t_shm_path(name), O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0)
		T_FAIL("%s: open %s: %s", who, t_shm_path(name), strerror(errno));
	uint8_t *p = (uint8_t *)mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		T_FAIL("%s: mmap %s: %s", who, t_shm_path(name), strerror(errno));
	close(fd);
	unsigned long maxnode = ((unsigned long)numa_num_possible_nodes() + 63) / 64 * 64;
	unsigned long *mask = (unsigned long *)calloc(maxnode / 64, sizeof(*mask));
	CHECK(mask != NULL);
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	for (size_t off = 0; off < (size_t)st.st_size; off += page) {
		int mode = -1;
		memset(mask, 0, maxnode / 64 * sizeof(*mask));
		if (get_mempolicy(&mode, mask, maxnode, p + off, MPOL_F_ADDR) != 0)
			T_FAIL("%s: get_mempolicy at offset %zu: %s", who, off, strerror(errno));
		mode &= 0xff; /* MPOL_F_STATIC_NODES and the like */
		int only_node = 1;
		for (unsigned long b = 0; b < maxnode; b++)
			if (((mask[b / 64] >> (b % 64)) & 1) != ((int)b == node))
				only_node = 0;
		if (node == IPCQ_NUMA_ANY ? mode != MPOL_DEFAULT : mode != MPOL_BIND || !only_node)
			T_FAIL("%s: the page at offset %zu of %zu has memory policy %d, node mask %#lx"
			       " (%s)", who, off, (size_t)st.st_size, mode, mask[0],
			       node == IPCQ_NUMA_ANY ? "expected the default policy: not bound"
						     : "expected MPOL_BIND to the queue's node only");
	}
	free(mask);
	munmap(p, (size_t)st.st_size);
}

/* Refused configs: -EINVAL, and no segment (nor a half-built one) left. */
static void refused(int node)
{
	const char *name = t_qname("numabad");
	struct ipcq_config cfg = node_config(node);
	struct ipcq *q = NULL;
	t_cleanup(name);
	int rc = ipcq_create(name, &cfg, &q);
	if (rc != -EINVAL)
		T_FAIL("ipcq_create with numa_node %d returned %d (%s), expected -EINVAL", node, rc,
		       ipcq_strerror(rc));
	CHECK(q == NULL);
	if (t_shm_exists(name))
		T_FAIL("ipcq_create with numa_node %d failed but left %s", node, t_shm_path(name));
	/* nor the temporary file create builds the queue under */
	char suffix[128];
	snprintf(suffix, sizeof(suffix), ".%s", name);
	DIR *d = opendir("/dev/shm");
	CHECK(d != NULL);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name), sl = strlen(suffix);
		if (l > sl && strcmp(e->d_name + l - sl, suffix) == 0 &&
		    strncmp(e->d_name, ".ipcq-new.", 10) == 0)
			T_FAIL("ipcq_create with numa_node %d failed but left /dev/shm/%s", node,
			       e->d_name);
	}
	closedir(d);
	CHECK_RC(ipcq_open(name, &q), -ENOENT);
}

/* Another process opens the queues: same node, pages where they were. */
static int reopen_child(void *arg)
{
	struct ipcq *q;
	(void)arg;
	CHECK_OK(ipcq_open(qnode, &q));
	node_is(q, 0, "reopened node-0 queue");
	policy_is(qnode, 0, "reopened node-0 queue");
	pin_and_check(q, 0, "reopened node-0 queue");
	/* a fresh handle that touched nothing: the pages are still on node 0 */
	t_numa_all_on(q, 0, "reopened node-0 queue, fresh handle");
	CHECK_OK(ipcq_close(q));

	CHECK_OK(ipcq_open(qlocal, &q));
	node_is(q, local_node, "reopened IPCQ_NUMA_LOCAL queue");
	policy_is(qlocal, local_node, "reopened IPCQ_NUMA_LOCAL queue");
	CHECK_OK(ipcq_close(q));

	CHECK_OK(ipcq_open(qany, &q));
	node_is(q, IPCQ_NUMA_ANY, "reopened IPCQ_NUMA_ANY queue");
	CHECK_RC(ipcq_pin_thread(q), -ENODEV);
	CHECK_OK(ipcq_close(q));
	return 0;
}

int main(void)
{
	struct ipcq *q0, *ql, *qa;

	if (numa_available() < 0) {
		printf("SKIP: the kernel has no NUMA support (numa_available() < 0)\n");
		return T_SKIP;
	}
	if (numa_node_size64(0, NULL) <= 0) {
		printf("SKIP: node 0 has no memory here\n");
		return T_SKIP;
	}
	t_watchdog(t_limit(60), "t_numa_local", NULL);
	snprintf(qnode, sizeof(qnode), "%s", t_qname("numa0"));
	snprintf(qlocal, sizeof(qlocal), "%s", t_qname("numaloc"));
	snprintf(qany, sizeof(qany), "%s", t_qname("numaany"));

	/* an explicit node */
	struct ipcq_config cfg = node_config(0);
	q0 = t_create(qnode, &cfg);
	node_is(q0, 0, "node-0 queue");
	policy_is(qnode, 0, "node-0 queue");
	t_numa_all_on(q0, 0, "node-0 queue");
	CHECK_RC(ipcq_numa_placement(q0, NULL, 0, NULL), 1);

	/* IPCQ_NUMA_LOCAL from a thread held on one CPU: that CPU's node */
	cpu_set_t all, one;
	affinity_get(&all);
	int cpu = -1;
	for (int c = 0; c < CPU_SETSIZE && cpu < 0; c++)
		if (CPU_ISSET(c, &all) && numa_node_of_cpu(c) >= 0 &&
		    numa_node_size64(numa_node_of_cpu(c), NULL) > 0)
			cpu = c;
	if (cpu < 0)
		T_FAIL("no allowed CPU sits on a node with memory");
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	affinity_set(&one);
	local_node = numa_node_of_cpu(cpu);
	cfg = node_config(IPCQ_NUMA_LOCAL);
	ql = t_create(qlocal, &cfg);
	affinity_set(&all);
	/* the handle reports the node chosen, never the request */
	node_is(ql, local_node, "IPCQ_NUMA_LOCAL queue (creator held on one CPU)");
	policy_is(qlocal, local_node, "IPCQ_NUMA_LOCAL queue");
	t_numa_all_on(ql, local_node, "IPCQ_NUMA_LOCAL queue");

	/* pinning: the calling thread only, onto the node's CPUs */
	pin_and_check(q0, 0, "main thread, node-0 queue");
	pin_and_check(ql, local_node, "main thread, IPCQ_NUMA_LOCAL queue");
	pin_one_thread(q0, 0);

	/* no node: nothing to pin to */
	cfg = node_config(IPCQ_NUMA_ANY);
	qa = t_create(qany, &cfg);
	node_is(qa, IPCQ_NUMA_ANY, "IPCQ_NUMA_ANY queue");
	policy_is(qany, IPCQ_NUMA_ANY, "IPCQ_NUMA_ANY queue");
	cpu_set_t before, after;
	affinity_get(&before);
	CHECK_RC(ipcq_pin_thread(qa), -ENODEV);
	affinity_get(&after);
	CHECK(CPU_EQUAL(&before, &after));
	if (numa_num_configured_nodes() == 1)
		t_numa_all_on(qa, 0, "IPCQ_NUMA_ANY queue on a one-node machine");

	/* unknown nodes and bad values: refused, nothing created */
	int absent = 7;
	while (absent < 1023 && numa_bitmask_isbitset(numa_nodes_ptr, (unsigned)absent))
		absent++;
	refused(absent);
	refused(1023 + 1);
	refused(-3);
	refused(-4);
	refused(INT_MIN);
	refused(INT_MAX);

	/* the node survives reopening, in another process */
	CHECK_RC(t_reap(t_spawn(reopen_child, NULL)), 0);
	/* and in this one */
	struct ipcq *q;
	CHECK_OK(ipcq_open(qnode, &q));
	node_is(q, 0, "node-0 queue opened again by its creator");
	CHECK_OK(ipcq_close(q));

	CHECK_OK(ipcq_close(qa));
	CHECK_OK(ipcq_close(ql));
	CHECK_OK(ipcq_close(q0));
	CHECK_RC(ipcq_numa_node(NULL), -EINVAL);
	CHECK_RC(ipcq_pin_thread(NULL), -EINVAL);
	return 0;
}
