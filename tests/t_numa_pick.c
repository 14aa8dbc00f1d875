/* NUMA decisions on synthetic and XML hwloc topologies (2 and 4 nodes, sparse indexes, memory-less nodes, a memory-less node placed by latency, one node): ipcq__numa_pick, its ipcq_errdetail(), and ipcq__numa_pin. */
#include <limits.h>

#include "numa_internal.h"
#include "testutil.h"

/*
 * These topologies are not the running system: hwloc's binding calls
 * succeed and do nothing on them, so this test checks the decisions
 * (which node, which error) and that pinning on them leaves the thread's
 * real affinity alone.  Placement itself is checked by t_numa_local and
 * t_numa_multi on the real machine.
 */

/* The topology under test, destroyed at exit when a check fails. */
static hwloc_topology_t live;

static void topo_exit(void)
{
	if (live != NULL)
		hwloc_topology_destroy(live);
	live = NULL;
}

static void topo_done(hwloc_topology_t t)
{
	CHECK(t == live);
	hwloc_topology_destroy(t);
	live = NULL;
}

static hwloc_topology_t topo_synthetic(const char *desc)
{
	hwloc_topology_t t;
	CHECK(live == NULL && hwloc_topology_init(&t) == 0);
	live = t;
	if (hwloc_topology_set_synthetic(t, desc) < 0)
		T_FAIL("hwloc refused the synthetic description \"%s\"", desc);
	if (hwloc_topology_load(t) < 0)
		T_FAIL("hwloc could not load \"%s\"", desc);
	/* the premise of this test: binding on it touches nothing real */
	CHECK(!hwloc_topology_is_thissystem(t));
	return t;
}

static hwloc_topology_t topo_xml(const char *xml, const char *label)
{
	hwloc_topology_t t;
	CHECK(live == NULL && hwloc_topology_init(&t) == 0);
	live = t;
	if (hwloc_topology_set_xmlbuffer(t, xml, (int)strlen(xml) + 1) < 0)
		T_FAIL("%s: hwloc refused the XML topology", label);
	if (hwloc_topology_load(t) < 0)
		T_FAIL("%s: hwloc could not load the XML topology", label);
	CHECK(!hwloc_topology_is_thissystem(t));
	return t;
}

/* hwloc must have built what the test means: node @os with @mem bytes. */
static void expect_node(hwloc_topology_t t, unsigned os, uint64_t mem, const char *label)
{
	hwloc_obj_t o = hwloc_get_numanode_obj_by_os_index(t, os);
	if (o == NULL)
		T_FAIL("%s: topology has no NUMA node P#%u", label, os);
	if (o->attr->numanode.local_memory != mem)
		T_FAIL("%s: node P#%u has %llu bytes, the test meant %llu", label, os,
		       (unsigned long long)o->attr->numanode.local_memory, (unsigned long long)mem);
}

static const char *req_name(int requested)
{
	static char buf[4][32];
	static unsigned n;
	char *b = buf[n++ % 4];
	if (requested == IPCQ_NUMA_ANY)
		return "IPCQ_NUMA_ANY";
	if (requested == IPCQ_NUMA_LOCAL)
		return "IPCQ_NUMA_LOCAL";
	snprintf(b, sizeof(buf[0]), "node %d", requested);
	return b;
}

static void pick_is(hwloc_topology_t t, int requested, int cpu, int want, const char *label)
{
	int rc = ipcq__numa_pick(t, requested, cpu);
	if (rc != want)
		T_FAIL("%s: ipcq__numa_pick(%s, cpu %d) returned %d (%s), expected %d (%s)", label,
		       req_name(requested), cpu, rc, rc < -2 ? ipcq_strerror(rc) : "a node",
		       want, want < -2 ? ipcq_strerror(want) : "a node");
}

/* A node that exists and has memory (what a queue can be bound to). */
static int node_has_memory(hwloc_topology_t t, int node)
{
	if (node < 0)
		return 0;
	hwloc_obj_t o = hwloc_get_numanode_obj_by_os_index(t, (unsigned)node);
	return o != NULL && o->attr->numanode.local_memory > 0;
}

static void affinity_get(cpu_set_t *s)
{
	CPU_ZERO(s);
	if (sched_getaffinity(0, sizeof(*s), s) != 0)
		T_FAIL("sched_getaffinity: %s", strerror(errno));
}

static void pin_is(hwloc_topology_t t, int node, int want, const char *label)
{
	cpu_set_t before, after;
	affinity_get(&before);
	int rc = ipcq__numa_pin(t, node);
	if (rc != want)
		T_FAIL("%s: ipcq__numa_pin(%s) returned %d (%s), expected %d (%s)", label,
		       req_name(node), rc, ipcq_strerror(rc), want, ipcq_strerror(want));
	affinity_get(&after);
	if (!CPU_EQUAL(&before, &after))
		T_FAIL("%s: ipcq__numa_pin(%s) on a synthetic topology changed the real affinity"
		       " of the thread", label, req_name(node));
}

/* Requests that no topology accepts. */
static void bad_requests(hwloc_topology_t t, int nodes_end, const char *label)
{
	const int bad[] = { nodes_end, nodes_end + 1, 7, 63, 64, 1023, 1024, INT_MAX,
			    -3, -4, -1000, INT_MIN };
	for (size_t i = 0; i < T_NELEM(bad); i++) {
		if (bad[i] >= 0 && bad[i] < nodes_end)
			continue;
		pick_is(t, bad[i], 0, -EINVAL, label);
		pick_is(t, bad[i], -1, -EINVAL, label);
		pin_is(t, bad[i], -EINVAL, label);
	}
	/* "no node" and "my node" are requests, not nodes: nothing to pin to */
	pin_is(t, IPCQ_NUMA_ANY, -EINVAL, label);
	pin_is(t, IPCQ_NUMA_LOCAL, -EINVAL, label);
}

/* IPCQ_NUMA_ANY is "no binding", whatever the CPU. */
static void any_is_any(hwloc_topology_t t, int ncpus, const char *label)
{
	for (int cpu = -1; cpu <= ncpus; cpu++)
		pick_is(t, IPCQ_NUMA_ANY, cpu, IPCQ_NUMA_ANY, label);
}

/* Two packages, one node each: CPUs 0-1 on node 0, CPUs 2-3 on node 1. */
static void two_nodes(void)
{
	const char *label = "2 nodes";
	hwloc_topology_t t = topo_synthetic("pack:2 [numa(memory=1GB)] core:2 pu:1");
	expect_node(t, 0, 1000000000ull, label);
	expect_node(t, 1, 1000000000ull, label);
	CHECK(hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE) == 2);
	CHECK(hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU) == 4);

	/* an explicit node is taken as it is, wherever the caller runs */
	for (int cpu = -1; cpu < 4; cpu++) {
		pick_is(t, 0, cpu, 0, label);
		pick_is(t, 1, cpu, 1, label);
	}
	for (int cpu = 0; cpu < 4; cpu++)
		pick_is(t, IPCQ_NUMA_LOCAL, cpu, cpu / 2, label);
	any_is_any(t, 4, label);
	bad_requests(t, 2, label);
	pin_is(t, 0, 0, label);
	pin_is(t, 1, 0, label);
	topo_done(t);
}

/* Four packages, one node each, 2 cores of 2 threads: CPU c on node c / 4. */
static void four_nodes(void)
{
	const char *label = "4 nodes";
	hwloc_topology_t t = topo_synthetic("pack:4 [numa(memory=2GB)] core:2 pu:2");
	for (unsigned n = 0; n < 4; n++)
		expect_node(t, n, 2000000000ull, label);
	CHECK(hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE) == 4);
	CHECK(hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU) == 16);

	for (int n = 0; n < 4; n++) {
		pick_is(t, n, 0, n, label);
		pick_is(t, n, 15, n, label);
		pin_is(t, n, 0, label);
	}
	for (int cpu = 0; cpu < 16; cpu++)
		pick_is(t, IPCQ_NUMA_LOCAL, cpu, cpu / 4, label);
	any_is_any(t, 16, label);
	bad_requests(t, 4, label);
	topo_done(t);
}

/*
 * OS indexes that are not the logical ones: nodes P#5 (package 0) and P#3
 * (package 1); package 0 holds CPUs 2-3, package 1 CPUs 0-1.  A mix-up of
 * logical and OS indexes (of nodes or of CPUs) gives the wrong answer.
 */
static void sparse_indexes(void)
{
	const char *label = "sparse indexes";
	hwloc_topology_t t =
		topo_synthetic("pack:2 [numa(memory=1GB indexes=5,3)] core:2 pu:1(indexes=2,3,0,1)");
	expect_node(t, 5, 1000000000ull, label);
	expect_node(t, 3, 1000000000ull, label);
	CHECK(hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE) == 2);

	pick_is(t, 3, 0, 3, label);
	pick_is(t, 5, 0, 5, label);
	/* logical indexes 0 and 1 are not node numbers here */
	for (int n = 0; n <= 8; n++)
		if (n != 3 && n != 5) {
			pick_is(t, n, 0, -EINVAL, label);
			pin_is(t, n, -EINVAL, label);
		}
	pick_is(t, IPCQ_NUMA_LOCAL, 0, 3, label);
	pick_is(t, IPCQ_NUMA_LOCAL, 1, 3, label);
	pick_is(t, IPCQ_NUMA_LOCAL, 2, 5, label);
	pick_is(t, IPCQ_NUMA_LOCAL, 3, 5, label);
	any_is_any(t, 4, label);
	pin_is(t, 3, 0, label);
	pin_is(t, 5, 0, label);
	topo_done(t);
}

/*
 * Memory-less nodes, described in XML: package 0 has node 0 without memory
 * (CPUs 0-1), package 1 node 1 with memory (CPUs 2-3).
 */
static const char xml_memless[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<!DOCTYPE topology SYSTEM \"hwloc2.dtd\">\n"
	"<topology version=\"2.0\">\n"
	" <object type=\"Machine\" os_index=\"0\" cpuset=\"0x0000000f\" complete_cpuset=\"0x0000000f\""
	" allowed_cpuset=\"0x0000000f\" nodeset=\"0x00000003\" complete_nodeset=\"0x00000003\""
	" allowed_nodeset=\"0x00000003\">\n"
	"  <object type=\"Package\" os_index=\"0\" cpuset=\"0x00000003\" complete_cpuset=\"0x00000003\""
	" nodeset=\"0x00000001\" complete_nodeset=\"0x00000001\">\n"
	"   <object type=\"NUMANode\" os_index=\"0\" cpuset=\"0x00000003\" complete_cpuset=\"0x00000003\""
	" nodeset=\"0x00000001\" complete_nodeset=\"0x00000001\" local_memory=\"0\"/>\n"
	"   <object type=\"PU\" os_index=\"0\" cpuset=\"0x00000001\" complete_cpuset=\"0x00000001\""
	" nodeset=\"0x00000001\" complete_nodeset=\"0x00000001\"/>\n"
	"   <object type=\"PU\" os_index=\"1\" cpuset=\"0x00000002\" complete_cpuset=\"0x00000002\""
	" nodeset=\"0x00000001\" complete_nodeset=\"0x00000001\"/>\n"
	"  </object>\n"
	"  <object type=\"Package\" os_index=\"1\" cpuset=\"0x0000000c\" complete_cpuset=\"0x0000000c\""
	" nodeset=\"0x00000002\" complete_nodeset=\"0x00000002\">\n"
	"   <object type=\"NUMANode\" os_index=\"1\" cpuset=\"0x0000000c\" complete_cpuset=\"0x0000000c\""
	" nodeset=\"0x00000002\" complete_nodeset=\"0x00000002\" local_memory=\"1073741824\"/>\n"
	"   <object type=\"PU\" os_index=\"2\" cpuset=\"0x00000004\" complete_cpuset=\"0x00000004\""
	" nodeset=\"0x00000002\" complete_nodeset=\"0x00000002\"/>\n"
	"   <object type=\"PU\" os_index=\"3\" cpuset=\"0x00000008\" complete_cpuset=\"0x00000008\""
	" nodeset=\"0x00000002\" complete_nodeset=\"0x00000002\"/>\n"
	"  </object>\n"
	" </object>\n"
	"</topology>\n";

/*
 * Package 0: node 0 with memory (CPUs 0-1).  Package 1: node 1 without
 * memory and node 2 with memory, both local to CPUs 2-3.  The first node
 * with memory in the machine (node 0) is remote for CPUs 2-3.
 */
static const char xml_mixed[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<!DOCTYPE topology SYSTEM \"hwloc2.dtd\">\n"
	"<topology version=\"2.0\">\n"
	" <object type=\"Machine\" os_index=\"0\" cpuset=\"0x0000000f\" complete_cpuset=\"0x0000000f\""
	" allowed_cpuset=\"0x0000000f\" nodeset=\"0x00000007\" complete_nodeset=\"0x00000007\""
	" allowed_nodeset=\"0x00000007\">\n"
	"  <object type=\"Package\" os_index=\"0\" cpuset=\"0x00000003\" complete_cpuset=\"0x00000003\""
	" nodeset=\"0x00000001\" complete_nodeset=\"0x00000001\">\n"
	"   <object type=\"NUMANode\" os_index=\"0\" cpuset=\"0x00000003\" complete_cpuset=\"0x00000003\""
	" nodeset=\"0x00000001\" complete_nodeset=\"0x00000001\" local_memory=\"1073741824\"/>\n"
	"   <object type=\"PU\" os_index=\"0\" cpuset=\"0x00000001\" complete_cpuset=\"0x00000001\""
	" nodeset=\"0x00000001\" complete_nodeset=\"0x00000001\"/>\n"
	"   <object type=\"PU\" os_index=\"1\" cpuset=\"0x00000002\" complete_cpuset=\"0x00000002\""
	" nodeset=\"0x00000001\" complete_nodeset=\"0x00000001\"/>\n"
	"  </object>\n"
	"  <object type=\"Package\" os_index=\"1\" cpuset=\"0x0000000c\" complete_cpuset=\"0x0000000c\""
	" nodeset=\"0x00000006\" complete_nodeset=\"0x00000006\">\n"
	"   <object type=\"NUMANode\" os_index=\"1\" cpuset=\"0x0000000c\" complete_cpuset=\"0x0000000c\""
	" nodeset=\"0x00000002\" complete_nodeset=\"0x00000002\" local_memory=\"0\"/>\n"
	"   <object type=\"NUMANode\" os_index=\"2\" cpuset=\"0x0000000c\" complete_cpuset=\"0x0000000c\""
	" nodeset=\"0x00000004\" complete_nodeset=\"0x00000004\" local_memory=\"1073741824\"/>\n"
	"   <object type=\"PU\" os_index=\"2\" cpuset=\"0x00000004\" complete_cpuset=\"0x00000004\""
	" nodeset=\"0x00000006\" complete_nodeset=\"0x00000006\"/>\n"
	"   <object type=\"PU\" os_index=\"3\" cpuset=\"0x00000008\" complete_cpuset=\"0x00000008\""
	" nodeset=\"0x00000006\" complete_nodeset=\"0x00000006\"/>\n"
	"  </object>\n"
	" </object>\n"
	"</topology>\n";

static void memoryless(void)
{
	const char *label = "memory-less node 0";
	hwloc_topology_t t = topo_xml(xml_memless, label);
	expect_node(t, 0, 0, label);
	expect_node(t, 1, 1073741824ull, label);

	/* a node without memory cannot hold a queue */
	for (int cpu = -1; cpu < 4; cpu++)
		pick_is(t, 0, cpu, -EINVAL, label);
	pick_is(t, 1, 0, 1, label);
	/* CPUs 0-1 sit on the memory-less node: the only node with memory */
	for (int cpu = 0; cpu < 4; cpu++)
		pick_is(t, IPCQ_NUMA_LOCAL, cpu, 1, label);
	any_is_any(t, 4, label);
	bad_requests(t, 2, label);
	pin_is(t, 1, 0, label);
	topo_done(t);

	label = "no node with memory";
	t = topo_synthetic("pack:2 [numa(memory=0)] core:2 pu:1");
	expect_node(t, 0, 0, label);
	expect_node(t, 1, 0, label);
	for (int cpu = -1; cpu < 4; cpu++) {
		pick_is(t, 0, cpu, -EINVAL, label);
		pick_is(t, 1, cpu, -EINVAL, label);
		pick_is(t, IPCQ_NUMA_LOCAL, cpu, -EINVAL, label);
	}
	any_is_any(t, 4, label);
	topo_done(t);
}

/*
 * IPCQ_NUMA_LOCAL from a CPU that has a memory-less node and a node with
 * memory (xml_mixed): the node with memory beside it, not the first node
 * with memory in the machine.  Last, so that a failure here leaves every
 * other check done.
 */
static void memoryless_beside(void)
{
	const char *label = "memory-less node 1 beside node 2";
	hwloc_topology_t t = topo_xml(xml_mixed, label);
	expect_node(t, 0, 1073741824ull, label);
	expect_node(t, 1, 0, label);
	expect_node(t, 2, 1073741824ull, label);
	pick_is(t, 0, 2, 0, label);
	pick_is(t, 1, 2, -EINVAL, label);
	pick_is(t, 2, 0, 2, label);
	pick_is(t, IPCQ_NUMA_LOCAL, 0, 0, label);
	pick_is(t, IPCQ_NUMA_LOCAL, 1, 0, label);
	for (int cpu = 2; cpu < 4; cpu++) {
		int rc = ipcq__numa_pick(t, IPCQ_NUMA_LOCAL, cpu);
		if (!node_has_memory(t, rc))
			T_FAIL("%s: IPCQ_NUMA_LOCAL from CPU %d gave %d (%s), not a node with memory",
			       label, cpu, rc, ipcq_strerror(rc));
		/* CPU 2's own package has memory (node 2): the queue belongs there */
		if (rc != 2)
			T_FAIL("%s: IPCQ_NUMA_LOCAL from CPU %d picked node %d, remote from the CPU,"
			       " although node 2, local to it, has memory", label, cpu, rc);
	}
	pin_is(t, 0, 0, label);
	pin_is(t, 2, 0, label);
	bad_requests(t, 3, label);
	topo_done(t);

}

/*
 * Three packages: node 0 with memory (CPUs 0-1), node 1 without memory
 * (CPUs 2-3), node 2 with memory (CPUs 4-5); @distances is the
 * <distances2> element (or ""), between the objects and </topology>.
 */
static const char *xml_far_memless(char *buf, size_t cap, const char *distances)
{
	static const char pkg[] =
		"  <object type=\"Package\" os_index=\"%d\" cpuset=\"0x%08x\" complete_cpuset=\"0x%08x\""
		" nodeset=\"0x%08x\" complete_nodeset=\"0x%08x\">\n"
		"   <object type=\"NUMANode\" os_index=\"%d\" cpuset=\"0x%08x\" complete_cpuset=\"0x%08x\""
		" nodeset=\"0x%08x\" complete_nodeset=\"0x%08x\" local_memory=\"%s\"/>\n"
		"   <object type=\"PU\" os_index=\"%d\" cpuset=\"0x%08x\" complete_cpuset=\"0x%08x\""
		" nodeset=\"0x%08x\" complete_nodeset=\"0x%08x\"/>\n"
		"   <object type=\"PU\" os_index=\"%d\" cpuset=\"0x%08x\" complete_cpuset=\"0x%08x\""
		" nodeset=\"0x%08x\" complete_nodeset=\"0x%08x\"/>\n"
		"  </object>\n";
	size_t n = (size_t)snprintf(buf, cap,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<!DOCTYPE topology SYSTEM \"hwloc2.dtd\">\n"
		"<topology version=\"2.0\">\n"
		" <object type=\"Machine\" os_index=\"0\" cpuset=\"0x0000003f\" complete_cpuset=\"0x0000003f\""
		" allowed_cpuset=\"0x0000003f\" nodeset=\"0x00000007\" complete_nodeset=\"0x00000007\""
		" allowed_nodeset=\"0x00000007\">\n");
	for (int p = 0; p < 3; p++) {
		unsigned cpus = 3u << (2 * p), node = 1u << p;
		CHECK(n < cap);
		n += (size_t)snprintf(buf + n, cap - n, pkg, p, cpus, cpus, node, node, p, cpus, cpus,
				      node, node, p == 1 ? "0" : "1073741824", 2 * p, 1u << (2 * p),
				      1u << (2 * p), node, node, 2 * p + 1, 2u << (2 * p),
				      2u << (2 * p), node, node);
	}
	CHECK(n < cap);
	n += (size_t)snprintf(buf + n, cap - n, " </object>\n%s</topology>\n", distances);
	CHECK(n < cap);
	return buf;
}

/* How many latency matrices between NUMA nodes hwloc has (what the test meant). */
static unsigned latency_matrices(hwloc_topology_t t)
{
	unsigned nr = 0;
	CHECK(hwloc_distances_get_by_type(t, HWLOC_OBJ_NUMANODE, &nr, NULL,
					  HWLOC_DISTANCES_KIND_MEANS_LATENCY, 0) == 0);
	return nr;
}

/*
 * IPCQ_NUMA_LOCAL from CPUs of a memory-less node whose package has no
 * memory at all: the node with memory at the smallest latency the
 * firmware reports, not the first node with memory; with no latencies
 * (none given, or only bandwidths), the first node with memory.
 */
static void memoryless_by_distance(void)
{
	static char xml[8192];
	const struct {
		const char *label;
		const char *distances;
		unsigned matrices;
		int want; /* the node for CPUs 2-3 */
	} cases[] = {
		{ "memory-less node 1, node 2 nearer",
		  "  <distances2 type=\"NUMANode\" nbobjs=\"3\" kind=\"5\" indexing=\"os\">\n"
		  "    <indexes length=\"6\">0 1 2 </indexes>\n"
		  "    <u64values length=\"27\">10 30 20 30 10 15 20 15 10 </u64values>\n"
		  "  </distances2>\n", 1, 2 },
		{ "memory-less node 1, node 0 nearer",
		  "  <distances2 type=\"NUMANode\" nbobjs=\"3\" kind=\"5\" indexing=\"os\">\n"
		  "    <indexes length=\"6\">0 1 2 </indexes>\n"
		  "    <u64values length=\"27\">10 12 20 12 10 15 20 15 10 </u64values>\n"
		  "  </distances2>\n", 1, 0 },
		{ "memory-less node 1, no distances", "", 0, 0 },
		/* bandwidths (kind FROM_OS | MEANS_BANDWIDTH) are not latencies:
		 * the highest figure is the best one there, so they are ignored */
		{ "memory-less node 1, bandwidths only",
		  "  <distances2 type=\"NUMANode\" nbobjs=\"3\" kind=\"9\" indexing=\"os\">\n"
		  "    <indexes length=\"6\">0 1 2 </indexes>\n"
		  "    <u64values length=\"27\">90 10 30 10 90 80 30 80 90 </u64values>\n"
		  "  </distances2>\n", 0, 0 },
	};

	for (size_t i = 0; i < T_NELEM(cases); i++) {
		const char *label = cases[i].label;
		hwloc_topology_t t = topo_xml(xml_far_memless(xml, sizeof(xml), cases[i].distances),
					      label);
		expect_node(t, 0, 1073741824ull, label);
		expect_node(t, 1, 0, label);
		expect_node(t, 2, 1073741824ull, label);
		if (latency_matrices(t) != cases[i].matrices)
			T_FAIL("%s: hwloc has %u latency matrices, the test meant %u", label,
			       latency_matrices(t), cases[i].matrices);
		pick_is(t, IPCQ_NUMA_LOCAL, 0, 0, label);
		pick_is(t, IPCQ_NUMA_LOCAL, 1, 0, label);
		pick_is(t, IPCQ_NUMA_LOCAL, 2, cases[i].want, label);
		pick_is(t, IPCQ_NUMA_LOCAL, 3, cases[i].want, label);
		pick_is(t, IPCQ_NUMA_LOCAL, 4, 2, label);
		pick_is(t, IPCQ_NUMA_LOCAL, 5, 2, label);
		/* an unknown CPU: the first node with memory */
		pick_is(t, IPCQ_NUMA_LOCAL, 6, 0, label);
		pick_is(t, 0, 2, 0, label);
		pick_is(t, 2, 2, 2, label);
		/* the detail names the node and the nodes that would do */
		pick_is(t, 1, 2, -EINVAL, label);
		if (!strstr(ipcq_errdetail(), "NUMA node 1 has no memory (nodes with memory: 0, 2)"))
			T_FAIL("%s: detail for node 1: \"%s\"", label, ipcq_errdetail());
		pick_is(t, 7, 2, -EINVAL, label);
		if (!strstr(ipcq_errdetail(), "NUMA node 7 does not exist (nodes with memory: 0, 2)"))
			T_FAIL("%s: detail for node 7: \"%s\"", label, ipcq_errdetail());
		bad_requests(t, 3, label);
		pin_is(t, 0, 0, label);
		pin_is(t, 2, 0, label);
		topo_done(t);
	}
}

/* A machine with one node (what most laptops and CI machines are). */
static void one_node(void)
{
	const char *descs[] = { "pack:1 [numa(memory=4GB)] core:4 pu:1", "core:2 pu:2" };
	for (size_t i = 0; i < T_NELEM(descs); i++) {
		const char *label = descs[i];
		hwloc_topology_t t = topo_synthetic(descs[i]);
		CHECK(hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE) == 1);
		CHECK(node_has_memory(t, 0));
		for (int cpu = 0; cpu < 4; cpu++) {
			pick_is(t, 0, cpu, 0, label);
			pick_is(t, IPCQ_NUMA_LOCAL, cpu, 0, label);
		}
		/* a CPU the topology does not know (sched_getcpu() failed, or
		 * a CPU hot-added since): still a node with memory */
		pick_is(t, IPCQ_NUMA_LOCAL, -1, 0, label);
		pick_is(t, IPCQ_NUMA_LOCAL, 4, 0, label);
		pick_is(t, IPCQ_NUMA_LOCAL, 1000, 0, label);
		any_is_any(t, 4, label);
		bad_requests(t, 1, label);
		pin_is(t, 0, 0, label);
		topo_done(t);
	}
}

int main(void)
{
	atexit(topo_exit);
	two_nodes();
	four_nodes();
	sparse_indexes();
	memoryless();
	one_node();
	memoryless_by_distance();
	memoryless_beside();
	return 0;
}
