/*
 * crashpoints.h - every named crash point of the protocol, for the tests
 * that kill a process at each one in turn (IPCQ_CRASH) or freeze it there
 * (IPCQ_FREEZE).  Keep in step with the IPCQ_CRASHPOINT() calls in lib/.
 * X(name, role) with role P (producer side), D (named producer), C
 * (consumer side), A (ack-mode consumer), R (management), K (creator), G (groups),
 * Y (per-key order), L (priority lanes: t_priority) or X (recoverers racing:
 * t_lease_pool).
 */
#ifndef IPCQ_CRASHPOINTS_H
#define IPCQ_CRASHPOINTS_H

#define IPCQ_CRASHPOINT_LIST(X)                                              \
	X("send.before_claim", 'P')   /* record written, claim CAS not yet made */ \
	X("send.claimed", 'P')        /* after the claim CAS, nothing written */ \
	X("send.written", 'P')        /* first payload written, unpublished */   \
	X("send.published", 'P')     /* published, record not yet idle */       \
	X("send.published_unrecorded", 'D') /* named: published, last seq not yet recorded */ \
	X("send.dedup_recorded", 'D') /* named: published, last seq recorded */  \
	X("dedup.takeover", 'D')      /* taking over a dead holder's name */     \
	X("recv.before_claim", 'C')   /* record written, claim CAS not yet made */ \
	X("recv.claimed", 'C')        /* after the claim CAS, nothing read */    \
	X("recv.copied", 'C')         /* copied out, slot not released */        \
	X("recv.released", 'C')       /* released, record not yet idle */        \
	X("recv.adopted_copied", 'C') /* redelivered copy made, not released */  \
	X("recover.skipped", 'C')     /* a dead producer's slot skipped */       \
	X("recover.owner_dead", 'C')  /* a claimed slot's owner found dead, moved on? not yet asked */ \
	X("recover.checked", 'C')     /* a slot's owner found dead, CAS not made */ \
	X("recover.adopted", 'C')     /* a dead consumer's slot adopted */       \
	X("ack.reserved", 'A')        /* lease reserved, ring not claimed */     \
	X("ack.filling", 'A')         /* lease filled, not yet OWNED */          \
	X("ack.leased", 'A')          /* lease OWNED, ring slot not released */  \
	X("ack.adopted_leased", 'A')  /* adopted message leased, slot not released */ \
	X("ack.acking", 'A')          /* in ipcq_ack before the free */          \
	X("nack.start", 'A')          /* in ipcq_nack before anything */         \
	X("side.before_claim", 'A')   /* free side entry seen, claim CAS not yet made (no move record) */ \
	X("side.claimed", 'A')        /* side entry claimed and recorded, not written */ \
	X("side.written", 'A')        /* side entry FULL, source not freed */    \
	X("recover.lease_taken", 'A') /* a dead consumer's lease taken over */   \
	X("lease.given_back", 'A')    /* a lease given back (L4), not yet counted (L7) */ \
	X("ack.adopted_waits", 'L')   /* adopted message, no free lease entry for it */ \
	X("recover.lease_taking", 'X') /* a dead consumer's lease seen, takeover CAS not made */ \
	X("recover.lease_giving", 'X') /* a dead consumer's lease taken over, not yet given back (L4) */ \
	X("replay.taking", 'R')       /* side entry taken for replay */          \
	X("replay.published", 'R')    /* replayed, side entry not freed */       \
	X("create.reserved", 'K')     /* segment reserved, not yet named */      \
	X("group.durable", 'G')       /* a new group durable, generation not raised */ \
	X("lossy.claimed", 'G')       /* a lossy reader's claim made, nothing copied */ \
	X("lossy.checked", 'G')       /* a lossy reader's copy found this lap's */ \
	X("lossy.noted", 'G')         /* a lossy reader noted a named producer's message consumed */ \
	X("key.gate", 'Y')            /* keyed lease OWNED, slot released, gate not yet looked at */ \
	X("key.parked", 'Y')          /* keyed lease parked, gate not yet re-checked */

#endif
