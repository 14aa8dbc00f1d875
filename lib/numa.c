/*
 * numa.c - placing a queue on a NUMA node, pinning threads near it, and
 * reading back where its pages are.
 *
 * Owns: the decisions of placement.  Writes nothing in the segment but
 * the header's numa_node at create (segment.c copies it).
 *
 * Facts this file relies on (hwloc 2.x on Linux):
 *  - only HWLOC_MEMBIND_BIND with HWLOC_MEMBIND_STRICT is a hard bind;
 *    without STRICT hwloc merely prefers the node;
 *  - hwloc_alloc_membind() returns private memory and cannot serve a
 *    shared segment, so the mapped area is bound (hwloc_set_area_membind),
 *    which for a shared tmpfs mapping sets the policy of the shared object:
 *    pages faulted later by any process that maps it follow it;
 *  - the binding must come before the first touch of a page, so create
 *    binds right after mmap and only then reserves (posix_fallocate) and
 *    initializes the segment;
 *  - on a topology that is not the running system (synthetic, XML) the
 *    binding calls do nothing, so the tests check decisions there and
 *    placement only on the real machine;
 *  - a node can have CPUs and no memory (or memory and no CPUs): for
 *    IPCQ_NUMA_LOCAL on such a CPU the nearest node with memory is the one
 *    at the smallest latency in the distance matrix the firmware gave
 *    (ACPI SLIT, read by hwloc as HWLOC_DISTANCES_KIND_FROM_OS |
 *    HWLOC_DISTANCES_KIND_MEANS_LATENCY); a machine that gives none gets
 *    the first node with memory.
 */
#include <errno.h>
#include <stdio.h>
/* hwloc's inline helpers assert(); the library never aborts */
#ifndef NDEBUG
#define NDEBUG 1
#endif
#include <hwloc.h>
#include <numaif.h>
#include <sched.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <unistd.h>

#include "numa_internal.h"

static int topo_load(hwloc_topology_t *t)
{
	if (hwloc_topology_init(t) < 0) {
		ipcq__errdetail("NUMA: hwloc could not start (out of memory)");
		return -ENOMEM;
	}
	if (hwloc_topology_load(*t) < 0) {
		hwloc_topology_destroy(*t);
		ipcq__errdetail("NUMA: hwloc could not read this machine's topology");
		return -ENOSYS;
	}
	return 0;
}

static int has_memory(hwloc_obj_t o)
{
	return o && o->attr && o->attr->numanode.local_memory;
}

/* "0, 2, 5": the OS indexes of the nodes with memory, for a detail. */
static const char *memory_nodes(hwloc_topology_t t, char *buf, size_t cap)
{
	hwloc_obj_t o = NULL;
	size_t n = 0;

	buf[0] = '\0';
	while ((o = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_NUMANODE, o)) && n + 16 < cap)
		if (has_memory(o))
			n += (size_t)snprintf(buf + n, cap - n, "%s%u", n ? ", " : "", o->os_index);
	if (!n)
		snprintf(buf, cap, "none");
	return buf;
}

/*
 * The node with memory nearest to the memory-less nodes in @ns, by the
 * latencies the firmware reported; -1 when the machine gave none that
 * cover them.  Ties go to the node met first in the matrix.
 */
static int nearest_by_latency(hwloc_topology_t t, hwloc_const_nodeset_t ns)
{
	struct hwloc_distances_s *d[4];
	unsigned nr = 4;
	int best = -1;
	hwloc_uint64_t best_v = 0;

	if (hwloc_distances_get_by_type(t, HWLOC_OBJ_NUMANODE, &nr, d,
					HWLOC_DISTANCES_KIND_FROM_OS |
						HWLOC_DISTANCES_KIND_MEANS_LATENCY,
					0) < 0)
		return -1;
	if (nr > 4)
		nr = 4; /* the count says how many exist; only 4 were returned */
	for (unsigned m = 0; m < nr; m++) {
		for (unsigned i = 0; i < d[m]->nbobjs; i++) {
			hwloc_obj_t from = d[m]->objs[i];
			if (!from || !hwloc_bitmap_isset(ns, from->os_index))
				continue;
			for (unsigned j = 0; j < d[m]->nbobjs; j++) {
				hwloc_obj_t to = d[m]->objs[j];
				hwloc_uint64_t v = d[m]->values[i * d[m]->nbobjs + j];
				if (!has_memory(to))
					continue;
				if (best < 0 || v < best_v) {
					best = (int)to->os_index;
					best_v = v;
				}
			}
		}
		hwloc_distances_release(t, d[m]);
	}
	return best;
}

/*
 * Decide the node for a request: a node number (must exist and have
 * memory), IPCQ_NUMA_LOCAL (the node of @cpu, the CPU the caller runs on;
 * when that node has no memory, the nearest node that has some) or
 * IPCQ_NUMA_ANY (none).  Returns 0 with the node's OS index, or
 * IPCQ_NUMA_ANY, in *@out; or -EINVAL or -ENOMEM (with the detail set).
 * The node and the error travel apart: IPCQ_NUMA_ANY (-1) is -EPERM's
 * value, and no caller should have to tell them apart by the number.
 */
static int pick(hwloc_topology_t t, int requested, int cpu, int *out)
{
	char have[128];

	if (requested == IPCQ_NUMA_ANY) {
		*out = IPCQ_NUMA_ANY;
		return 0;
	}
	if (requested == IPCQ_NUMA_LOCAL) {
		hwloc_obj_t pu = cpu >= 0 ? hwloc_get_pu_obj_by_os_index(t, (unsigned)cpu) : NULL;
		hwloc_nodeset_t ns = hwloc_bitmap_alloc();
		int node = -EINVAL;
		if (!ns) {
			ipcq__errdetail("IPCQ_NUMA_LOCAL: out of memory");
			return -ENOMEM;
		}
		if (pu) {
			hwloc_cpuset_to_nodeset(t, pu->cpuset, ns);
			int i;
			hwloc_bitmap_foreach_begin(i, ns) {
				hwloc_obj_t o = hwloc_get_numanode_obj_by_os_index(t, (unsigned)i);
				if (node < 0 && has_memory(o))
					node = i;
			} hwloc_bitmap_foreach_end();
			/* the CPU's node has no memory: the nearest that has */
			if (node < 0 && !hwloc_bitmap_iszero(ns))
				node = nearest_by_latency(t, ns);
		}
		if (node < 0) {
			/* no latencies (or an unknown CPU): the first node
			 * with memory */
			hwloc_obj_t o = NULL;
			while ((o = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_NUMANODE, o)))
				if (has_memory(o)) {
					node = (int)o->os_index;
					break;
				}
		}
		hwloc_bitmap_free(ns);
		if (node < 0) {
			ipcq__errdetail("IPCQ_NUMA_LOCAL: no NUMA node of this machine has memory");
			return -EINVAL;
		}
		*out = node;
		return 0;
	}
	if (requested < 0) {
		ipcq__errdetail("numa_node %d: a node number, IPCQ_NUMA_ANY (-1) or "
				"IPCQ_NUMA_LOCAL (-2)", requested);
		return -EINVAL;
	}
	hwloc_obj_t o = hwloc_get_numanode_obj_by_os_index(t, (unsigned)requested);
	if (!o) {
		ipcq__errdetail("NUMA node %d does not exist (nodes with memory: %s)", requested,
				memory_nodes(t, have, sizeof(have)));
		return -EINVAL;
	}
	if (!has_memory(o)) {
		ipcq__errdetail("NUMA node %d has no memory (nodes with memory: %s)", requested,
				memory_nodes(t, have, sizeof(have)));
		return -EINVAL;
	}
	*out = requested;
	return 0;
}

/* For the tests (numa_internal.h): the node, IPCQ_NUMA_ANY, or -errno.
 * pick() only fails with -EINVAL or -ENOMEM, neither of which is
 * IPCQ_NUMA_ANY, so this one return value stays unambiguous. */
int ipcq__numa_pick(hwloc_topology_t t, int requested, int cpu)
{
	int node;
	int rc = pick(t, requested, cpu, &node);
	return rc ? rc : node;
}

/* Check a requested node before anything is created. */
int ipcq__numa_resolve(int requested, int *node)
{
	hwloc_topology_t t;
	if (requested == IPCQ_NUMA_ANY) {
		*node = IPCQ_NUMA_ANY;
		return 0;
	}
	int rc = topo_load(&t);
	if (rc)
		return rc;
	rc = pick(t, requested, sched_getcpu(), node);
	hwloc_topology_destroy(t);
	return rc;
}

/* Bind [addr, addr + len) to @node, strictly; before the first touch. */
int ipcq__numa_bind(void *addr, size_t len, int node)
{
	hwloc_topology_t t;
	if (node == IPCQ_NUMA_ANY)
		return 0;
	int rc = topo_load(&t);
	if (rc)
		return rc;
	hwloc_obj_t o = hwloc_get_numanode_obj_by_os_index(t, (unsigned)node);
	if (!o) {
		ipcq__errdetail("NUMA node %d went away between the check and the binding", node);
		rc = -EINVAL;
	} else {
		/* hwloc need not set errno on every failure: a 0 after the call
		 * is "no reason given", not some earlier call's leftover */
		errno = 0;
		if (hwloc_set_area_membind(t, addr, len, o->nodeset, HWLOC_MEMBIND_BIND,
					   HWLOC_MEMBIND_STRICT | HWLOC_MEMBIND_BYNODESET) < 0) {
			rc = errno ? -errno : -ENOSYS;
			ipcq__errdetail("binding the segment to NUMA node %d failed (%s)", node,
					ipcq_strerror(rc));
		}
	}
	hwloc_topology_destroy(t);
	return rc;
}

int ipcq__numa_pin(hwloc_topology_t t, int node)
{
	hwloc_obj_t o = node >= 0 ? hwloc_get_numanode_obj_by_os_index(t, (unsigned)node) : NULL;
	if (!o) {
		ipcq__errdetail("NUMA node %d does not exist on this machine: nothing to pin to", node);
		return -EINVAL;
	}
	if (!o->cpuset || hwloc_bitmap_iszero(o->cpuset)) {
		ipcq__errdetail("NUMA node %d has no CPUs: nothing to pin to", node);
		return -EINVAL;
	}
	errno = 0; /* as in ipcq__numa_bind() */
	if (hwloc_set_cpubind(t, o->cpuset, HWLOC_CPUBIND_THREAD) < 0)
		return errno ? -errno : -ENOSYS;
	return 0;
}

int ipcq_numa_node(struct ipcq *q)
{
	if (!q)
		return -EINVAL;
	return q->numa_node;
}

int ipcq_pin_thread(struct ipcq *q)
{
	hwloc_topology_t t;
	if (!q)
		return -EINVAL;
	if (q->numa_node == IPCQ_NUMA_ANY) {
		ipcq__errdetail("the queue was created with IPCQ_NUMA_ANY: no node to pin to");
		return -ENODEV;
	}
	int rc = topo_load(&t);
	if (rc)
		return rc;
	rc = ipcq__numa_pin(t, q->numa_node);
	hwloc_topology_destroy(t);
	return rc;
}

int ipcq_numa_placement(struct ipcq *q, uint64_t *on_node, unsigned nnodes, uint64_t *total)
{
	if (!q || (!on_node && nnodes))
		return -EINVAL;
	long page = sysconf(_SC_PAGESIZE);
	uint64_t npages = (q->size + (uint64_t)page - 1) / (uint64_t)page;
	enum { CHUNK = 1024 };
	void *pages[CHUNK];
	int status[CHUNK];
	uint64_t seen[1024 / 64] = { 0 };
	int nodes_used = 0;

	for (unsigned i = 0; i < nnodes; i++)
		on_node[i] = 0;
#ifdef MADV_POPULATE_READ
	/* the query sees only pages mapped in this process: map them all
	 * (reading only; tmpfs pages exist since create reserved them) */
	(void)madvise(q->base, q->size, MADV_POPULATE_READ);
#endif
	for (uint64_t first = 0; first < npages; first += CHUNK) {
		unsigned n = npages - first < CHUNK ? (unsigned)(npages - first) : CHUNK;
		for (unsigned i = 0; i < n; i++)
			pages[i] = q->base + (first + i) * (uint64_t)page;
		/* query mode: nodes == NULL moves nothing */
		if (move_pages(0, n, pages, NULL, status, 0) < 0)
			return errno == ENOSYS ? -ENOSYS : -errno;
		for (unsigned i = 0; i < n; i++) {
			int nd = status[i];
			if (nd < 0)
				continue; /* not present (-ENOENT) or other */
			if ((unsigned)nd < nnodes)
				on_node[nd]++;
			if (nd < 1024 && !(seen[nd / 64] & (1ull << (nd % 64)))) {
				seen[nd / 64] |= 1ull << (nd % 64);
				nodes_used++;
			}
		}
	}
	if (total)
		*total = npages;
	return nodes_used;
}
