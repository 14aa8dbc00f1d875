/*
 * atomic_internal.h - the only file of ipcq that names atomics.
 *
 * Every access to a word of the shared segment that another process may
 * touch at the same time goes through these macros.  Normal builds map
 * them to liburcu (uatomic_*, cmm_*, caa_cpu_relax).  liburcu 0.13 has no
 * acquire/release API and implements x86 atomics with inline asm that
 * ThreadSanitizer cannot see, so the tsan build (IPCQ_TSAN) maps the same
 * names to the C11 __atomic builtins with the orders named below.
 *
 * The orders, as the rest of lib/ uses them:
 *   ipcq__load_relaxed / ipcq__store_relaxed   no ordering, no tearing
 *   ipcq__load_acquire                         later accesses stay after it
 *   ipcq__store_release                        earlier accesses stay before it
 *   ipcq__cas / ipcq__fetch_add / ipcq__xchg   full barrier (sequentially
 *                                              consistent read-modify-write)
 *   ipcq__load_seq_cst                         a load that takes part in the
 *                                              single total order of the
 *                                              read-modify-writes above
 *   ipcq__fence                                full barrier
 *   ipcq__fence_acquire                        earlier loads stay before
 *                                              later loads and stores
 *   ipcq__fence_release                        earlier loads and stores
 *                                              stay before later stores
 *
 * A read-modify-write is a full barrier on x86-64 and with liburcu's
 * atomics on AArch64, but C11 does not promise that a seq_cst CAS orders
 * the plain accesses after it for other threads: where an argument needs
 * that (a speculative read re-checked against the slot word, the data
 * stores after a claim), the code says so with an explicit fence.
 *
 * On x86-64 (TSO) the liburcu mapping compiles loads and stores to plain
 * moves plus a compiler barrier, and read-modify-writes to lock-prefixed
 * instructions; a plain load after a lock-prefixed instruction is already
 * ordered after it, which is what makes ipcq__load_seq_cst a plain load.
 */
#ifndef IPCQ_ATOMIC_INTERNAL_H
#define IPCQ_ATOMIC_INTERNAL_H

#include <stdint.h>

/* A non-lock-free atomic would use a process-local lock and not
 * synchronize across processes at all. */
_Static_assert(__atomic_always_lock_free(8, 0), "8-byte atomics must be lock-free");
_Static_assert(__atomic_always_lock_free(4, 0), "4-byte atomics must be lock-free");

#if defined(IPCQ_TSAN)

#define ipcq__load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define ipcq__store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define ipcq__load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define ipcq__store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ipcq__load_seq_cst(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define ipcq__fetch_add(p, v) __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define ipcq__xchg(p, v) __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
/* Returns nonzero when *p was @old and is now @new. */
#define ipcq__cas(p, old, new)                                              \
	({                                                                  \
		__typeof__(*(p)) ipcq_exp_ = (old);                         \
		__atomic_compare_exchange_n((p), &ipcq_exp_, (new), 0,      \
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); \
	})
/* ThreadSanitizer does not model fences: a seq_cst RMW on a private
 * word stands in for one in this build. */
static int ipcq__tsan_fence_word __attribute__((unused));
#define ipcq__fence() ((void)__atomic_fetch_add(&ipcq__tsan_fence_word, 0, __ATOMIC_SEQ_CST))
#define ipcq__fence_acquire() ipcq__fence()
#define ipcq__fence_release() ipcq__fence()
#if defined(__x86_64__) || defined(__i386__)
#define ipcq__cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define ipcq__cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define ipcq__cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif

#else /* liburcu */

#include <urcu/arch.h>
#include <urcu/compiler.h>
#include <urcu/system.h>
#include <urcu/uatomic.h>

#define ipcq__load_relaxed(p) uatomic_read(p)
#define ipcq__store_relaxed(p, v) uatomic_set((p), (v))
/* smp_rmb after the load: later loads cannot move above it. */
#define ipcq__load_acquire(p)                                               \
	({                                                                  \
		__typeof__(*(p)) ipcq_v_ = uatomic_read(p);                 \
		cmm_smp_mb__after_load_();                                  \
		ipcq_v_;                                                    \
	})
/* a full smp_mb before the store orders earlier loads and stores. */
#define ipcq__store_release(p, v)                                           \
	do {                                                                \
		cmm_smp_mb__before_store_();                                \
		uatomic_set((p), (v));                                      \
	} while (0)
#define ipcq__load_seq_cst(p)                                               \
	({                                                                  \
		__typeof__(*(p)) ipcq_v_;                                   \
		cmm_smp_mb__before_seq_cst_load_();                         \
		ipcq_v_ = uatomic_read(p);                                  \
		cmm_smp_mb__after_load_();                                  \
		ipcq_v_;                                                    \
	})
#define ipcq__fetch_add(p, v)                                               \
	({                                                                  \
		__typeof__(*(p)) ipcq_a_ = (v);                             \
		(__typeof__(*(p)))(uatomic_add_return((p), ipcq_a_) - ipcq_a_); \
	})
#define ipcq__xchg(p, v) uatomic_xchg((p), (v))
#define ipcq__cas(p, old, new)                                              \
	({                                                                  \
		__typeof__(*(p)) ipcq_o_ = (old);                           \
		uatomic_cmpxchg((p), ipcq_o_, (new)) == ipcq_o_;            \
	})
#define ipcq__fence() cmm_smp_mb()
#define ipcq__fence_acquire() cmm_smp_mb__after_load_()
#define ipcq__fence_release() cmm_smp_mb__before_store_()
#define ipcq__cpu_relax() caa_cpu_relax()

#if defined(__x86_64__) || defined(__i386__)
/* TSO: loads are not reordered with older loads, stores not with older
 * loads or stores, and nothing crosses a locked instruction. */
#define cmm_smp_mb__after_load_() cmm_barrier()
#define cmm_smp_mb__before_store_() cmm_barrier()
#define cmm_smp_mb__before_seq_cst_load_() cmm_barrier()
#else
#define cmm_smp_mb__after_load_() cmm_smp_mb()
#define cmm_smp_mb__before_store_() cmm_smp_mb()
#define cmm_smp_mb__before_seq_cst_load_() cmm_smp_mb()
#endif

#endif /* IPCQ_TSAN */

#endif
