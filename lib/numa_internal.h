/*
 * numa_internal.h - the placement decisions of numa.c, exposed to the
 * tests so that they can be checked on synthetic hwloc topologies.
 * Never included from outside lib/ and tests/.
 */
#ifndef IPCQ_NUMA_INTERNAL_H
#define IPCQ_NUMA_INTERNAL_H

#include <hwloc.h>

#include "ipcq_internal.h"

/* The node for a request (a node number, IPCQ_NUMA_LOCAL with the caller
 * running on @cpu, or IPCQ_NUMA_ANY) on topology @t: its OS index,
 * IPCQ_NUMA_ANY, or -EINVAL (unknown or memory-less node, or no node with
 * memory at all), with ipcq_errdetail() saying which.  IPCQ_NUMA_LOCAL
 * from a CPU whose node has no memory gives the node with memory at the
 * smallest OS-reported latency from it (the first node with memory when
 * the topology has no latencies, or @cpu is unknown). */
IPCQ_HIDDEN int ipcq__numa_pick(hwloc_topology_t t, int requested, int cpu);

/* Bind the calling thread to the CPUs of @node on @t; -EINVAL (with a
 * detail) when the node does not exist or has no CPUs. */
IPCQ_HIDDEN int ipcq__numa_pin(hwloc_topology_t t, int node);

#endif
