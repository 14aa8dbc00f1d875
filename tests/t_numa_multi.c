/* NUMA placement where the kernel has several nodes: a queue on node 1 has every page there, also after another process used every slot; each node with memory; IPCQ_NUMA_LOCAL. */
#include <numa.h>

#include "testutil.h"

#define CAPACITY 1024u
#define MSG_SIZE 2048u
#define LAPS 3u
#define MAX_NODES_TRIED 16

/* The node the main queue lives on. */
#define TARGET 1

static char qname[96];

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

/* The CPUs of @node (libnuma, from sysfs) that this process may use. */
static int node_cpus(int node, cpu_set_t *s)
{
	struct bitmask *b = numa_allocate_cpumask();
	cpu_set_t allowed;
	CHECK(b != NULL);
	affinity_get(&allowed);
	CPU_ZERO(s);
	if (numa_node_to_cpus(node, b) == 0)
		for (unsigned i = 0; i < b->size && i < CPU_SETSIZE; i++)
			if (numa_bitmask_isbitset(b, i) && CPU_ISSET(i, &allowed))
				CPU_SET(i, s);
	numa_free_cpumask(b);
	return CPU_COUNT(s);
}

/* A node this process may put memory on. */
static int node_usable(int node)
{
	struct bitmask *mems = numa_get_mems_allowed();
	int ok = numa_node_size64(node, NULL) > 0 && numa_bitmask_isbitset(mems, (unsigned)node);
	numa_bitmask_free(mems);
	return ok;
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

/* Pin to @q's node (when it has CPUs) and check the thread's affinity. */
static void pin_and_check(struct ipcq *q, int node, const char *who)
{
	cpu_set_t cpus, after;
	if (node_cpus(node, &cpus) == 0)
		return; /* a node without CPUs (memory only): nothing to compare with */
	CHECK_RC(ipcq_pin_thread(q), 0);
	affinity_get(&after);
	CHECK(CPU_COUNT(&after) > 0);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &after) && !CPU_ISSET(c, &cpus))
			T_FAIL("%s: pinned to node %d, the thread may run on CPU %d of node %d", who,
			       node, c, numa_node_of_cpu(c));
}

/* Fill every slot, check the ring is full, drain it and check every byte. */
static void lap(struct ipcq *q, uint64_t *seq, uint8_t *buf)
{
	uint64_t first = *seq;
	for (uint32_t i = 0; i < CAPACITY; i++) {
		uint64_t s = ++*seq;
		uint32_t len = t_msg_len(0, s, 16, MSG_SIZE);
		t_fill(buf, len, 0, s);
		int rc = ipcq_send(q, buf, len, IPCQ_NOWAIT);
		if (rc != 0)
			T_FAIL("send %" PRIu64 " into slot %u: %d (%s)", s, i, rc, ipcq_strerror(rc));
	}
	t_fill(buf, 16, 0, 0);
	CHECK_RC(ipcq_send(q, buf, 16, IPCQ_NOWAIT), -EAGAIN);
	for (uint64_t s = first + 1; s <= *seq; s++) {
		struct ipcq_msginfo mi;
		memset(&mi, 0, sizeof(mi));
		memset(buf, 0, 16);
		int rc = ipcq_recv(q, buf, MSG_SIZE, &mi, IPCQ_NOWAIT);
		uint32_t len = t_msg_len(0, s, 16, MSG_SIZE);
		if (rc != (int)len || t_verify(buf, len, 0, s) != 0)
			T_FAIL("receive %" PRIu64 ": %d (%s), expected %u bytes of message %" PRIu64, s,
			       rc, rc < 0 ? ipcq_strerror(rc) : "bytes", len, s);
	}
	struct ipcq_msginfo mi;
	CHECK_RC(ipcq_recv(q, buf, MSG_SIZE, &mi, IPCQ_NOWAIT), -EAGAIN);
}

/*
 * Another process, running on the CPUs of another node when there is one
 * (so that memory it faulted in by itself would land there), opens the
 * queue, checks the node, and sends and receives through every slot.
 */
static int user(void *arg)
{
	int other = *(const int *)arg;
	cpu_set_t cpus;
	if (other >= 0 && node_cpus(other, &cpus) > 0)
		affinity_set(&cpus);
	struct ipcq *q = t_open_attach(qname, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, NULL);
	node_is(q, TARGET, "the other process");
	uint8_t *buf = (uint8_t *)malloc(MSG_SIZE);
	CHECK(buf != NULL);
	uint64_t seq = 0;
	for (unsigned i = 0; i < LAPS; i++)
		lap(q, &seq, buf);
	t_numa_all_on(q, TARGET, "the other process, after using every slot");
	/* and once more pinned near the queue */
	pin_and_check(q, TARGET, "the other process");
	lap(q, &seq, buf);
	t_numa_all_on(q, TARGET, "the other process, pinned, after another lap");
	free(buf);
	CHECK_OK(ipcq_close(q));
	return 0;
}

/* A queue on each node with memory (a few at most); memory-less ones refused. */
static void each_node(void)
{
	int max = numa_max_node(), tried = 0;
	for (int n = 0; n <= max && tried < MAX_NODES_TRIED; n++) {
		const char *name = t_qname("numaeach");
		struct ipcq_config cfg = node_config(n);
		struct ipcq *q = NULL;
		char who[64];
		if (!numa_bitmask_isbitset(numa_nodes_ptr, (unsigned)n))
			continue;
		if (numa_node_size64(n, NULL) == 0) {
			/* a node without memory cannot hold a queue */
			t_cleanup(name);
			CHECK_RC(ipcq_create(name, &cfg, &q), -EINVAL);
			CHECK(!t_shm_exists(name));
			continue;
		}
		if (!node_usable(n))
			continue;
		tried++;
		q = t_create(name, &cfg);
		snprintf(who, sizeof(who), "queue on node %d", n);
		node_is(q, n, who);
		t_numa_all_on(q, n, who);
		CHECK_OK(ipcq_close(q));
		CHECK_OK(ipcq_unlink(name));
	}
	CHECK(tried >= 2);
}

/* IPCQ_NUMA_LOCAL from a CPU of the target node: the queue goes there. */
static void local_on_target(void)
{
	cpu_set_t all, cpus, one;
	if (node_cpus(TARGET, &cpus) == 0) {
		printf("node %d has no CPU here: IPCQ_NUMA_LOCAL not checked on it\n", TARGET);
		return;
	}
	affinity_get(&all);
	int cpu = -1;
	for (int c = 0; c < CPU_SETSIZE && cpu < 0; c++)
		if (CPU_ISSET(c, &cpus))
			cpu = c;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	affinity_set(&one);
	const char *name = t_qname("numalocal");
	struct ipcq_config cfg = node_config(IPCQ_NUMA_LOCAL);
	struct ipcq *q = t_create(name, &cfg);
	affinity_set(&all);
	if (ipcq_numa_node(q) != TARGET)
		T_FAIL("IPCQ_NUMA_LOCAL on CPU %d of node %d gave node %d", cpu, TARGET,
		       ipcq_numa_node(q));
	node_is(q, TARGET, "IPCQ_NUMA_LOCAL queue");
	t_numa_all_on(q, TARGET, "IPCQ_NUMA_LOCAL queue");
	CHECK_OK(ipcq_close(q));
}

int main(void)
{
	if (numa_available() < 0) {
		printf("SKIP: the kernel has no NUMA support (numa_available() < 0)\n");
		return T_SKIP;
	}
	int nodes = numa_num_configured_nodes();
	if (nodes < 2) {
		printf("SKIP: %d NUMA node with memory here; placement on node %d needs several\n",
		       nodes, TARGET);
		return T_SKIP;
	}
	if (!node_usable(TARGET)) {
		printf("SKIP: node %d has no memory, or this process may not use it\n", TARGET);
		return T_SKIP;
	}
	t_watchdog(t_limit(120), "t_numa_multi", NULL);
	snprintf(qname, sizeof(qname), "%s", t_qname("numamulti"));

	each_node();

	struct ipcq_config cfg = node_config(TARGET);
	struct ipcq *q = t_create(qname, &cfg);
	node_is(q, TARGET, "creator, new queue");
	t_numa_all_on(q, TARGET, "creator, new queue");

	/* the other process runs on the CPUs of a node that is not the target */
	int other = -1;
	cpu_set_t cpus;
	for (int n = 0; n <= numa_max_node() && other < 0; n++)
		if (n != TARGET && numa_bitmask_isbitset(numa_nodes_ptr, (unsigned)n) &&
		    node_cpus(n, &cpus) > 0)
			other = n;
	CHECK_RC(t_reap(t_spawn(user, &other)), 0);
	t_numa_all_on(q, TARGET, "creator, after another process used every slot");
	CHECK_OK(ipcq_close(q));

	local_on_target();
	return 0;
}
