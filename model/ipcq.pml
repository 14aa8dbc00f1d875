/*
 * ipcq.pml - the crash-recovery protocol of ipcq, as a SPIN model.
 *
 * This file is the protocol's specification.  Each atomic memory operation
 * of the C code (a load, a store, a CAS of a shared word) is one step: the
 * OP() macro below, which also lets the process crash instead of taking the
 * step.  SPIN tries every interleaving of the steps under sequential
 * consistency; the memory orderings and fences of the C code are argued in
 * its comments (lib/ring.c, lib/recovery.c, lib/lease.c), not here.
 *
 * Names follow the C code: claim_send, publish_send, claim_recv, try_recv,
 * release_slot (ipcq__ring_* of ring.h), deliver_adopted (recv.c),
 * release_adopted (ring.c),
 * recover_scan, skip_orphan, resolve_claimed, live_covers, owner_alive,
 * moved_on, entry_resolved (recovery.c), lease_fill, reserve,
 * take_redeliverable, lease_recover, release_source (lease.c), side_insert,
 * side_moved, side_recover (side.c).  Labels A1, P1, R1, R2, R4, A2, C1,
 * R5, T1, L1-L9, S1-S5 are the C code's.
 *
 * Participants (one entry each, one process per entry; a process that
 * crashes may be followed by a new process on the same entry, generation
 * raised, which first recovers the dead holder's work):
 *   entry 0, 1   producers P0, P1 (M0, M1 messages)
 *   entry 2      fast-mode consumer C
 *   entry 3      ack-mode consumer D (prefetch 1)
 *   entry 4      recoverer R: a consumer whose grace period elapses at any
 *                moment (RPASSES passes, adopts and delivers)
 * Every consumer also runs a recovery pass when it has waited "a grace
 * period": modelled by SPIN's timeout (no other step is possible).
 *
 * The old rules (the released code before the fix) are kept behind
 * OLD_RULE1, OLD_RULE2, OLD_RULE3 (OLD_RULES sets all three); see
 * model/README.md for what each one breaks.  So are those of the side
 * ring: OLD_SIDE_RECORD (the move record before the claim),
 * OLD_MOVED_ON_LIVE (moved_on asks a live participant's move record) and
 * OLD_SIDE_TAKE (a purge or replay that does not settle the mover first;
 * SIDE_TAKE=N lets R try N of them).
 *
 * The sole attach mode (IPCQ_ATTACH_SOLE): SOLE_P makes every producer's
 * claim, SOLE_C the fast consumer C's, a plain store of the cursor (P1s,
 * C1s: pos + 1) instead of the CAS (P1, C1).  That is right only under
 * the seat (an exclusive OFD lock against every other producer, or
 * consumer, which holds it shared): the configurations give the cursor
 * one live claimer, a dead one replaced on its entry.  Those with two
 * (sole-noseat-*) are the rule without the seat, and fail.
 */

/* ---- configuration (spin -DNAME=value) --------------------------------- */

#ifdef OLD_RULES
#define OLD_RULE1
#define OLD_RULE2
#define OLD_RULE3
#endif

#ifndef CAP
#define CAP 2          /* ring slots */
#endif
#ifndef M0
#define M0 2           /* messages producer 0 sends (0: no producer 0) */
#endif
#ifndef M1
#define M1 1           /* messages producer 1 sends (0: no producer 1) */
#endif
#ifndef WITH_C
#define WITH_C 1       /* fast consumer C present */
#endif
#ifndef WITH_D
#define WITH_D 1       /* ack consumer D present */
#endif
#ifndef WITH_R
#define WITH_R 1       /* concurrent recoverer R present */
#endif
#ifndef RPASSES
#define RPASSES 1      /* recovery passes R makes */
#endif
#ifndef CRASHES
#define CRASHES 1      /* crash budget of a run */
#endif
#ifndef CRASHABLE
#define CRASHABLE 31   /* bit i: entry i may crash */
#endif
#ifndef REATTACH
#define REATTACH 1     /* new processes that may take a dead entry over */
#endif
#ifndef REATTACHABLE
#define REATTACHABLE 31 /* bit i: a new process may attach to entry i */
#endif
#ifndef NL
#define NL 1           /* lease entries */
#endif
#ifndef NS
#define NS 1           /* side-ring entries */
#endif
#ifndef MAXDEL
#define MAXDEL 2       /* max_deliveries */
#endif
#ifndef NACK
#define NACK 1         /* D may nack (requeue, or poison after MAXDEL) */
#endif
#define SAT 3          /* delivery counts saturate here (255 in C) */

#define NE 5
#define E_P0 0
#define E_P1 1
#define E_C 2
#define E_D 3
#define E_R 4
#define NM (M0 + M1)
#define NPROD ((M0 > 0) + (M1 > 0))
#define NONE 255

/* ---- slot sequence word: position, owner tag, adoption count, skip ----- */
/* tag 0: the C1 claimer; tag i+1: adopted by entry i (OLD_RULE1: always 0,
 * only the count changes).  The count makes every adoption a new value. */
#define W(p, t, c, k)   ((((p) * 8 + (t)) * 4 + (c)) * 2 + (k))
#define WPOS(w)         ((w) / 64)
#define WTAG(w)         (((w) / 8) % 8)
#define WCNT(w)         (((w) / 2) % 4)
#define WSKIP(w)        ((w) % 2)
#define FREE_W(p)       W(p, 0, 0, 0)
#define PUB_W(p)        W((p) + 1, 0, 0, 0)
#define REL_W(p)        W((p) + CAP, 0, 0, 0)
#ifdef OLD_RULE1
#define ADOPTED_W(w, i) W(WPOS(w), 0, (WCNT(w) + 1) % 4, WSKIP(w))
#else
#define ADOPTED_W(w, i) W(WPOS(w), (i) + 1, (WCNT(w) + 1) % 4, WSKIP(w))
#endif

#define IDLE 0
#define BUSY 1         /* prod_op ENQUEUE, cons_op DEQUEUE */

/* lease and side-ring entry states */
#define L_FREE 0
#define L_RESERVED 1
#define L_OWNED 2
#define L_REDELIVER 3
#define S_FREE 0
#define S_WRITING 1
#define S_FULL 2

#define INC(x) ((x) < SAT -> (x) + 1 : SAT)

/* ---- shared memory --------------------------------------------------- */

short seq[CAP];                 /* slot sequence words */
byte smsg[CAP];                 /* payload: the message id (0: none) */
byte sdel[CAP];                 /* deliveries so far */
bit sflag[CAP];                 /* IPCQ_SLOT_F_REDELIVERED */
byte enq, deq;                  /* cursors */

bit attached[NE];                 /* entry ACTIVE (someone attached it) */
bit alive[NE];                  /* its OFD lock is held */
byte gen[NE];                   /* generation */
byte prod_pos[NE]; bit prod_op[NE];     /* producer work record */
byte cons_pos[NE]; bit cons_op[NE];     /* consumer work record */
byte move_side[NE]; byte move_gen[NE];  /* side-ring move record */

byte lst[NL]; byte lown[NL]; byte logen[NL];  /* lease state word */
byte lsrc[NL]; byte lmsg[NL]; byte ldel[NL]; bit lflag[NL];
byte lmove[NL]; byte lmgen[NL];

byte sst[NS]; byte sown[NS]; byte sogen[NS]; byte sgen[NS]; byte smq[NS];

/* ---- ghost state (not in the C code) ---------------------------------- */

byte crashes = CRASHES;
#ifdef SIDE_TAKE
byte takes = SIDE_TAKE;         /* purges or replays of side entry 0 that R tries */
bit taken[NM + 1];              /* its side entry was purged or replayed: the
                                   message never comes from its old source */
#endif
#ifdef EXPIRE
byte expiries = 1;              /* claimed messages found expired (budget) */
#endif
byte reattach = REATTACH;
byte delivered[NM + 1];         /* deliveries to the application */
bit may[NM + 1];                /* a delivery is expected now: set by the
                                   publish, by a nack and by the death of
                                   a process that held the message */
bit sent[NM + 1];               /* published (R1) */
bit quar[NM + 1];               /* in the side ring */
bit xdrop[NM + 1];              /* found expired with the side ring full:
                                   dropped, counted (quar set too) */
byte mpos[NM + 1];              /* the position it was published at */
byte hold[NE];                  /* message a live process owns as consumer */
byte rhold[NE];                 /* message of a lease it took over (L9) */
byte pwait;                     /* live producers waiting for room */
byte pfin;                      /* producers finished for good */
byte unacc;                     /* sent, neither delivered nor quarantined */
bit ack_alive;                  /* a live ack-mode consumer exists */

/* ---- steps and crashes ------------------------------------------------ */

/* Trace lines for counterexamples (printed by spin -t only). */
#define T(...) printf(__VA_ARGS__)

#define CRASH_OK (crashes > 0 && ((CRASHABLE >> me) & 1))

/* One atomic memory operation of the C code, or a crash instead. */
#define OP(...) \
	if \
	:: d_step { CRASH_OK -> crashes--; die() }; goto crashed \
	:: d_step { __VA_ARGS__ } \
	fi

/* The process dies: the kernel drops its lock; what it held is now the
 * recoverers' business (a redelivery of it is expected). */
inline die()
{
	T("@%d CRASH\n", me);
	alive[me] = 0;
	if
	:: hold[me] != 0 -> may[hold[me]] = 1; hold[me] = 0
	:: else
	fi;
	if
	:: rhold[me] != 0 -> may[rhold[me]] = 1; rhold[me] = 0
	:: else
	fi;
	if
	:: me == E_D -> ack_alive = 0
	:: else
	fi
}

/* A live process comes to own message m: nobody else alive holds it
 * (one live owner per message, so per slot). */
#define CHECK_OWNERS(m) \
	gk = 0; \
	do \
	:: gk < NE -> assert(gk == me || (hold[gk] != m && rhold[gk] != m)); gk++ \
	:: else -> break \
	od

inline acquire(m)
{
	CHECK_OWNERS(m);
	assert(rhold[me] != m);
	hold[me] = m
}

inline racquire(m)
{
	CHECK_OWNERS(m);
	assert(hold[me] != m);
	rhold[me] = m
}

/* The process stops holding m. */
inline drop_msg(m)
{
	if
	:: hold[me] == m -> hold[me] = 0
	:: rhold[me] == m -> rhold[me] = 0
	:: else
	fi
}

/* A delivery to the application. */
inline deliver_ghost(m, fl)
{
	assert(m != 0);
	T("@%d DELIVERS msg %d flagged %d (delivered before: %d)\n", me, m, fl, delivered[m]);
	assert(may[m]);                 /* delivered again only after a crash or a nack */
#ifdef SIDE_TAKE
	assert(!taken[m]);              /* a purged (or replayed) message is not
	                                   delivered again from its source */
#endif
	may[m] = 0;
	if
	:: delivered[m] == 0 && !quar[m] -> unacc--
	:: else
	fi;
	delivered[m]++;
	assert(delivered[m] == 1 || fl) /* a repeat carries the redelivered flag */
}

/* The message of a slot that is being adopted is in no lease and not in
 * the side ring (else two copies would be delivered). */
inline assert_one_copy(m)
{
	gk = 0;
	do
	:: gk < NL -> assert(!((lst[gk] == L_OWNED || lst[gk] == L_REDELIVER) && lmsg[gk] == m)); gk++
	:: else -> break
	od;
	gk = 0;
	do
	:: gk < NS -> assert(!(sst[gk] == S_FULL && smq[gk] == m)); gk++
	:: else -> break
	od
}

/* A lease being handed to any consumer: the ring no longer holds it. */
#define RING_HOLDS(m) (WPOS(seq[mpos[m] % CAP]) == mpos[m] + 1 && !WSKIP(seq[mpos[m] % CAP]) \
		       && smsg[mpos[m] % CAP] == m)

/* ---- locals every role uses ------------------------------------------- */

/* Temporaries are cleared when a process goes to sleep, so that states
 * that differ only in dead locals are one state. */
#define CLEAR_TEMPS \
	pos = 0; p = 0; e = 0; j = 0; i = 0; k = 0; w = 0; w2 = 0; ok = 0; \
	lc = 0; mv = 0; isdead = 0; anydead = 0; res = 0; acted = 0; pending = 0; \
	m = 0; past = 0; d = 0; ls = 0; lo = 0; log = 0; lsp = 0; mvs = 0; mvg = 0; \
	ss = 0; fl = 0; rp_op = 0; rp_pos = 0; rc_op = 0; rc_pos = 0; r_mvs = 0; \
	r_mvg = 0; gk = 0; sbusy = 0; sneed = 0; sround = 0; tgen = 0; dcov = 0; \
	k = 0; do :: k < NE -> dead[k] = 0; k++ :: else -> break od; k = 0

#define LOCALS \
	byte gk; \
	byte pos, p, e, j, i, k; \
	short w, w2; \
	bit ok, lc, mv, isdead, anydead, res; \
	byte acted, pending; \
	byte also_dead = NONE; \
	bit adopt; \
	bit have_adopted; byte adopted_p; short adopted_w; \
	byte m, past, d, ls, lo, log, lsp, mvs, mvg, ss; \
	bit fl; \
	byte rp_op, rp_pos, rc_op, rc_pos, r_mvs, r_mvg; \
	bit sbusy, sneed, sround; byte tgen; byte dcov; \
	byte mylease = NONE; \
	byte ret; \
	SNAP_LOCALS \
	byte dead[NE]

#ifdef OLD_RULE1
#define SNAP_LOCALS byte snp_pop[NE], snp_ppos[NE], snp_cop[NE], snp_cpos[NE], snp_mvs[NE], snp_mvg[NE];
#else
#define SNAP_LOCALS
#endif

/* ======================================================================== */
/* ring.c                                                                   */
/* ======================================================================== */

/* claim_send: ok = 1 with pos claimed, or ok = 0 (ring full). */
inline claim_send()
{
	ok = 1;                                         /* ok: take a fresh hint */
	do
	:: /* the cursor hint (relaxed) and A1: one step (the hint only picks
	    * the slot; A1 and P1 decide) */
	   OP(if :: ok -> pos = enq :: else fi; w = seq[pos % CAP]; ok = 0);
	   if
	   :: w == FREE_W(pos) ->
		OP(prod_pos[me] = pos; prod_op[me] = BUSY;      /* record */
		   T("@%d prod record = %d\n", me, pos));
		/* send.before_claim */
#ifdef SOLE_P
		/* P1s (ipcq__claim_enq): a sole producer's claim, the store
		 * enq = pos + 1, no compare.  Right only because the seat makes
		 * the holder enq's only writer: enq is still the pos its hint
		 * load read. */
		OP(enq = pos + 1; ok = 1; T("@%d P1s stores enq = %d\n", me, pos + 1));
#else
		/* P1; a lost CAS retries from the cursor's new value */
		OP(if
		   :: enq == pos -> enq++; ok = 1; T("@%d P1 claims %d\n", me, pos)
		   :: else -> ok = 0; T("@%d P1 lost %d\n", me, pos); pos = enq
		   fi);
#endif
		/* a lost P1 retries from the cursor value it read */
		if
		:: ok -> break
		:: else
		fi
	   :: WPOS(w) < pos ->                          /* previous lap: full */
#ifndef OLD_RULE2
		if
		:: prod_op[me] == BUSY -> OP(prod_op[me] = IDLE)   /* R4 on this path too */
		:: else
		fi;
#endif
		T("@%d full at %d\n", me, pos);
		ok = 0; break
	   :: else -> ok = 1                            /* another producer got it: catch up */
	   fi
	od
}

/* publish_send: payload, R1, R4. */
inline publish_send()
{
	/* header and payload (invisible until R1: one step with it) */
	OP(assert(seq[pos % CAP] == FREE_W(pos));       /* nobody took our slot meanwhile */
	   smsg[pos % CAP] = m; sdel[pos % CAP] = 0; sflag[pos % CAP] = 0;
	   seq[pos % CAP] = PUB_W(pos);                 /* R1 */
	   sent[m] = 1; may[m] = 1; mpos[m] = pos; unacc++;
	   next++;                                      /* a new process resends from the next one */
	   T("@%d R1 publishes msg %d at %d\n", me, m, pos));
	/* send.published */
	OP(prod_op[me] = IDLE; T("@%d R4 prod record idle\n", me))  /* R4 */
}

/* claim_recv: ok = 1 with pos claimed (w: its word), or ok = 0 (empty). */
inline claim_recv()
{
	ok = 1;
	do
	:: /* the cursor hint and A2: one step, as in claim_send() */
	   OP(if :: ok -> pos = deq :: else fi; w = seq[pos % CAP]; ok = 0);
	   if
	   :: WPOS(w) == pos + 1 && WTAG(w) == 0 && WCNT(w) == 0 ->
		OP(cons_pos[me] = pos; cons_op[me] = BUSY;      /* record */
		   T("@%d cons record = %d\n", me, pos));
		/* recv.before_claim */
#ifdef SOLE_C
		if
		:: me == E_C ->
			/* C1s (ipcq__claim_deq): the sole consumer's claim, the
			 * store deq = pos + 1, no compare.  Right only because the
			 * seat makes the holder deq's only writer: deq is still the
			 * pos its hint load read.  (D, where present, keeps the
			 * CAS: sole-noseat-consumers.) */
			OP(deq = pos + 1; ok = 1;       /* C1s */
			   T("@%d C1s stores deq = %d (skip %d)\n", me, pos + 1, WSKIP(w));
			   if :: !WSKIP(w) -> acquire(smsg[pos % CAP]) :: else fi)
		:: else ->
#endif
		OP(if
		   :: deq == pos -> deq++; ok = 1;      /* C1 */
			T("@%d C1 claims %d (skip %d)\n", me, pos, WSKIP(w));
			if :: !WSKIP(w) -> acquire(smsg[pos % CAP]) :: else fi
		   :: else -> ok = 0; T("@%d C1 lost %d\n", me, pos);
			pos = deq                       /* lost: retry from the new value */
		   fi);
#ifdef SOLE_C
		fi;
#endif
		if
		:: ok -> break
		:: else
		fi
	   :: WPOS(w) < pos + 1 ->                      /* empty */
#ifndef OLD_RULE2
		if
		:: cons_op[me] == BUSY -> OP(cons_op[me] = IDLE)
		:: else
		fi;
#endif
		T("@%d empty at %d\n", me, pos);
		ok = 0; break
	   :: else -> ok = 1                            /* catch up */
	   fi
	od
}

/* release_slot (R2): a CAS from exactly the word the owner holds.  drop:
 * the process no longer holds the message (fast mode; an ack-mode
 * consumer keeps it in its lease). */
inline release_slot(held, drop)
{
	OP(if
	   :: seq[pos % CAP] == held -> seq[pos % CAP] = REL_W(pos); ok = 1
	   :: else -> ok = 0
	   fi;
	   T("@%d R2 releases %d: %d\n", me, pos, ok);
	   assert(ok);                                  /* a live owner is never robbed */
	   if :: drop -> hold[me] = 0 :: else fi)
}

/* ipcq__adopted_raise: the count saturates, the flag is its own bit. */
inline adopted_raise()
{
	OP(past = INC(sdel[adopted_p % CAP]); sdel[adopted_p % CAP] = past;
	   sflag[adopted_p % CAP] = 1)
}

/* ipcq__release_adopted: R2 from the adopted word, then R4. */
inline release_adopted(drop)
{
#ifdef OLD_RULE1
	/* old: a plain store */
	OP(T("@%d R2 stores released %d\n", me, adopted_p);
	   assert(WPOS(seq[adopted_p % CAP]) == adopted_p + 1);   /* no later lap overwritten */
	   seq[adopted_p % CAP] = REL_W(adopted_p);
	   if :: drop -> hold[me] = 0 :: else fi);
#else
	OP(if
	   :: seq[adopted_p % CAP] == adopted_w -> seq[adopted_p % CAP] = REL_W(adopted_p); ok = 1
	   :: else -> ok = 0
	   fi;
	   T("@%d R2 releases adopted %d: %d\n", me, adopted_p, ok);
	   assert(ok);                                  /* a live adopter is never robbed */
	   if :: drop -> hold[me] = 0 :: else fi);
#endif
	OP(cons_op[me] = IDLE; T("@%d R4 cons record idle\n", me));   /* R4 */
	have_adopted = 0
}

/* ipcq__quarantine_slot: the adopted slot to the side ring (ok = 1), or
 * ok = 0 when the side ring is full. */
inline quarantine_slot()
{
	m = smsg[adopted_p % CAP];                      /* ours since T1 */
	side_insert_entry();
	if
	:: ok ->
		release_adopted(1);
		OP(move_side[me] = 0)
	:: else
	fi
}

/* deliver_adopted (fast mode). */
inline deliver_adopted()
{
	adopted_raise();
	ok = 0;
	if
	:: past >= MAXDEL -> quarantine_slot()
	:: else
	fi;
	if
	:: !ok ->
		/* deliver: copy out; recv.adopted_copied */
		OP(m = smsg[adopted_p % CAP];
		   deliver_ghost(m, sdel[adopted_p % CAP] + 1 > 1 || sflag[adopted_p % CAP]));
		release_adopted(1)
	:: else
	fi
}

/* try_recv (fast mode): one message.  ok = 0 when empty. */
inline try_recv()
{
	do
	:: claim_recv();
	   if
	   :: ok ->
		/* recv.claimed; copy out unless a skip (recv.copied) */
		if
#ifdef EXPIRE
		:: !WSKIP(w) && expiries > 0 ->
			/* expired (ipcq__expire_slot, IPCQ_CF_EXPIRED_TO_SIDE):
			 * into the side ring under our move record, then passed
			 * and released like a skip; the record is cleared only
			 * after the release (try_recv_one) */
			d_step { expiries--; m = smsg[pos % CAP] };
			side_insert_entry();
			if
			:: !ok ->       /* side ring full: dropped, counted */
				d_step { quar[m] = 1; xdrop[m] = 1; if :: delivered[m] == 0 -> unacc-- :: else fi }
			:: else
			fi;
#ifdef OLD_EXPIRE_CLEAR
			OP(move_side[me] = 0);          /* the old rule: cleared first */
#endif
			mv = 1                          /* passed: look again, as for a skip */
#endif
		:: !WSKIP(w) ->
			OP(m = smsg[pos % CAP];
			   deliver_ghost(m, sdel[pos % CAP] + 1 > 1 || sflag[pos % CAP]))
		:: else
		fi;
		release_slot(PUB_W(pos) + WSKIP(w), 1); /* R2 */
		OP(cons_op[me] = IDLE);                 /* R4 */
		if
#ifdef OLD_EXPIRE_AGAIN
		:: mv -> mv = 0                         /* the old rule: the record kept over the next claim */
#else
		:: mv -> OP(move_side[me] = 0); mv = 0  /* expired: the move is over; again */
#endif
		:: !mv && WSKIP(w) -> skip              /* a passed-over slot: again */
		:: else -> break
		fi
	   :: else -> break
	   fi
	od
#ifdef OLD_EXPIRE_AGAIN
	;
	OP(move_side[me] = 0)                           /* cleared once the receive is over */
#endif
}

/* ======================================================================== */
/* side.c                                                                   */
/* ======================================================================== */

/* The move record: written after the claim (S5), so that it names an
 * entry the mover owns (WRITING(me) until S1), at the generation its claim
 * took.  OLD_SIDE_RECORD keeps the old rule, the record written before the
 * claim: it may then name a FREE entry at the generation that another
 * mover claims and fills (our claim lost, or never made: we died first),
 * and side_moved() takes that mover's FULL entry for our move.  Two
 * relaxed stores, two steps. */
#define SIDE_RECORD(gv, sv) \
	OP(gv = mvg); \
	OP(sv = j + 1; T("@%d move record: side entry %d, generation %d\n", me, j, mvg))

/* side_insert: the entries in turn: S2, then S5 (the claim) on a FREE one;
 * the move record in gv/sv (our participant entry, or the lease's);
 * ok = 0 when full (the record cleared). */
#ifdef OLD_SIDE_RECORD
#define SIDE_CLAIM(gv, sv) \
	ok = 0; \
	j = 0; \
	do \
	:: j < NS -> \
		OP(ss = sst[j]; mvg = sgen[j]);                 /* S2 */ \
		if \
		:: ss == S_FREE -> \
			SIDE_RECORD(gv, sv);                    /* the old rule: first */ \
			OP(if                                   /* S5 */ \
			   :: sst[j] == S_FREE && sgen[j] == mvg -> \
				sst[j] = S_WRITING; sown[j] = me; sogen[j] = gen[me]; ok = 1 \
			   :: else \
			   fi); \
			if :: ok -> break :: else fi \
		:: else \
		fi; \
		j++ \
	:: else -> break \
	od
#else
#define SIDE_CLAIM(gv, sv) \
	ok = 0; \
	j = 0; \
	do \
	:: j < NS -> \
		OP(ss = sst[j]; mvg = sgen[j]);                 /* S2 */ \
		if \
		:: ss == S_FREE -> \
			/* side.before_claim */ \
			OP(if                                   /* S5 */ \
			   :: sst[j] == S_FREE && sgen[j] == mvg -> \
				sst[j] = S_WRITING; sown[j] = me; sogen[j] = gen[me]; ok = 1 \
			   :: else \
			   fi); \
			if :: ok -> break :: else fi \
		:: else \
		fi; \
		j++ \
	:: else -> break \
	od; \
	if \
	:: ok -> SIDE_RECORD(gv, sv)                    /* ours: WRITING(me) */ \
	:: else \
	fi
#endif

/* side_insert, for the adopted slot (move record in our entry): m goes to
 * a side entry; ok = 0 when full. */
inline side_insert_entry()
{
	SIDE_CLAIM(move_gen[me], move_side[me]);
	if
	:: ok ->
		/* side.claimed; data, then S1 */
		/* never quarantined twice; but a message dropped as expired
		 * (side ring full) whose consumer died before its release is
		 * adopted again, and may find room then */
		OP(assert(!quar[m] || xdrop[m]); smq[j] = m; sst[j] = S_FULL;
		   T("@%d S1 side entry %d holds msg %d\n", me, j, m);
		   quar[m] = 1; if :: delivered[m] == 0 -> unacc-- :: else fi)
	:: else ->
		OP(move_side[me] = 0)
	fi
}

/* side_insert for a lease e we own (move record in the lease). */
inline side_insert_lease()
{
	SIDE_CLAIM(lmgen[e], lmove[e]);
	if
	:: ok ->
		OP(assert(!quar[lmsg[e]]); smq[j] = lmsg[e]; sst[j] = S_FULL;
		   T("@%d S1 side entry %d holds msg %d (lease %d)\n", me, j, lmsg[e], e);
		   quar[lmsg[e]] = 1; if :: delivered[lmsg[e]] == 0 -> unacc-- :: else fi)
	:: else ->
		OP(lmove[e] = 0)
	fi
}

/* ipcq__side_moved(mvs, mvg): mv = 1 when the move it names is done. */
inline side_moved()
{
	if
	:: mvs != 0 && mvs <= NS ->
		OP(mv = (sst[mvs - 1] == S_FULL && sgen[mvs - 1] == mvg))
	:: else -> mv = 0
	fi
}

#ifdef SIDE_TAKE
/*
 * ipcq_poison_purge() / ipcq_poison_replay() of side entry 0 (manage.c),
 * by R.  The take is one CAS, FULL(g) -> FREE(g + 1): a purge's S3, or a
 * replay's S7 (FULL -> TAKING, which side_moved takes for FULL) followed by
 * its S3 once published; the replayed copy itself is not modelled (it is
 * a new message to the ring), only that the old source never delivers the
 * message again (taken[]).  Before it, ipcq__side_settle(): the movers
 * whose records name (0, g), a participant's record then its lock (a live
 * one: pass the entry over; a dead one: does it still hold its slot?), an
 * OWNED lease's record then its owner (live: pass over; dead: holds it).
 * A dead holder is settled by a recovery pass (adopt 0), then looked at
 * again.  OLD_SIDE_TAKE takes the entry without looking.
 */
inline settle()
{
	sround = 0;
	do
	:: sbusy = 0; sneed = 0;
	   k = 0;
	   do
	   :: k < NE && !sbusy ->
		OP(ok = (attached[k] && move_side[k] == 1 && move_gen[k] == tgen));    /* record */
		if
		:: ok ->
			OP(isdead = (k == also_dead || !alive[k]));      /* then its lock */
			if
			:: !isdead -> sbusy = 1
			:: else ->
				/* cons_holds(): a dead one's record no longer
				 * changes, and its slot only goes from held to
				 * released, so one step (a stale read only says
				 * held) */
				OP(sneed = sneed || (cons_op[k] == BUSY && deq > cons_pos[k] &&
				   deq - cons_pos[k] <= CAP &&
				   WPOS(seq[cons_pos[k] % CAP]) == cons_pos[k] + 1 &&
				   (WTAG(seq[cons_pos[k] % CAP]) == 0 || WTAG(seq[cons_pos[k] % CAP]) == k + 1)))
			fi
		:: else
		fi;
		k++
	   :: else -> break
	   od;
	   e = 0;
	   do
	   :: e < NL && !sbusy ->
		OP(ls = lst[e]; lo = lown[e]; log = logen[e]);          /* L2 */
		if
		:: ls == L_OWNED ->
			OP(ok = (lmove[e] == 1 && lmgen[e] == tgen));   /* record */
			if
			:: ok ->
				owner_dead();
				if :: isdead -> sneed = 1 :: else -> sbusy = 1 fi
			:: else
			fi
		:: else
		fi;
		e++
	   :: else -> break
	   od;
	   if
	   :: sbusy || !sneed -> break
	   :: !sbusy && sneed && sround == 0 ->
		/* a recovery pass settles the dead, then look again */
		sround = 1; adopt = 0;
		ret = 4; goto scan;
r4:		skip
	   :: !sbusy && sneed && sround == 1 -> sbusy = 1; break
	   fi
	od
}

inline side_take()
{
	OP(ss = sst[0]; tgen = sgen[0]);                                /* S2 */
	if
	:: ss == S_FULL ->
#ifndef OLD_SIDE_TAKE
		settle();
#endif
		if
		:: !sbusy ->
			OP(if                                           /* S3 / S7 */
			   :: sst[0] == S_FULL && sgen[0] == tgen ->
				sst[0] = S_FREE; sgen[0] = (sgen[0] + 1) % 4; taken[smq[0]] = 1;
				T("@%d takes side entry 0 (msg %d): purged or replayed\n", me, smq[0])
			   :: else
			   fi)
		:: else -> T("@%d passes side entry 0 over: its mover still holds its source\n", me)
		fi
	:: else
	fi
}
#endif

/* ======================================================================== */
/* lease.c                                                                  */
/* ======================================================================== */

/* reserve: mylease = a FREE entry now RESERVED(me), or NONE. */
inline reserve()
{
	mylease = NONE;
	e = 0;
	do
	:: e < NL ->
		/* L2 and L5: the load only gates the CAS, one step */
		OP(if
		   :: lst[e] == L_FREE -> lst[e] = L_RESERVED; lown[e] = me; logen[e] = gen[me];
			mylease = e; T("@%d L5 reserves lease %d\n", me, e)
		   :: else
		   fi);
		if :: mylease != NONE -> break :: else fi;
		e++
	:: else -> break
	od
}

inline unreserve()
{
	OP(if                                           /* L3 */
	   :: lst[mylease] == L_RESERVED && lown[mylease] == me && logen[mylease] == gen[me] ->
		lst[mylease] = L_FREE
	   :: else
	   fi);
	mylease = NONE
}

/* ipcq__lease_fill(mylease, slot of position p) and L1. */
inline lease_fill(fp)
{
	OP(lsrc[mylease] = fp; lmsg[mylease] = smsg[fp % CAP];
	   ldel[mylease] = INC(sdel[fp % CAP]); lflag[mylease] = sflag[fp % CAP];
	   lmove[mylease] = 0);
	/* ack.filling */
	OP(lst[mylease] = L_OWNED; lown[mylease] = me; logen[mylease] = gen[me];     /* L1 */
	   T("@%d L1 lease %d holds msg %d of %d\n", me, mylease, lmsg[mylease], fp))
	/* ack.leased / ack.adopted_leased */
}

/* hand_out: the application gets the lease's copy. */
inline hand_out()
{
	OP(deliver_ghost(lmsg[mylease], ldel[mylease] > 1 || lflag[mylease]))
}

/* take_redeliverable: ok = 1 with mylease taken (L6) and handed out. */
inline take_redeliverable()
{
	ok = 0;
	e = 0;
	do
	:: e < NL ->
		/* L2 and L6 in one step, as in reserve() */
		OP(if
		   :: lst[e] == L_REDELIVER ->
			assert(!RING_HOLDS(lmsg[e]));
			lst[e] = L_OWNED; lown[e] = me; logen[e] = gen[me]; ok = 1;
			T("@%d L6 takes lease %d (msg %d)\n", me, e, lmsg[e]);
			acquire(lmsg[e])
		   :: else
		   fi);
		if :: ok -> break :: else fi;
		e++
	:: else -> break
	od;
	if
	:: ok ->
		mylease = e;
		OP(ldel[e] = INC(ldel[e]); lflag[e] = 1);
		hand_out()
	:: else
	fi
}

/* make_redeliverable (L4) from the owned word. */
inline make_redeliverable()
{
	OP(if
	   :: lst[e] == L_OWNED && lown[e] == me && logen[e] == gen[me] ->
		assert(!RING_HOLDS(lmsg[e]));           /* the message exists once */
		lst[e] = L_REDELIVER; may[lmsg[e]] = 1; drop_msg(lmsg[e]);
		T("@%d L4 lease %d to REDELIVER\n", me, e)
	   :: else
	   fi)
}

/* lease_to_side: ok = 1 when moved (the lease is freed). */
inline lease_to_side()
{
	side_insert_lease();
	if
	:: ok ->
		OP(if                                   /* L3 */
		   :: lst[e] == L_OWNED && lown[e] == me && logen[e] == gen[me] -> lst[e] = L_FREE
		   :: else
		   fi;
		   drop_msg(lmsg[e]))
	:: else
	fi
}

/* ipcq_ack / ipcq_nack of the lease we hold. */
inline ack_or_nack()
{
	e = mylease;
	if
	:: true ->
		OP(if                                   /* L3: ack */
		   :: lst[e] == L_OWNED && lown[e] == me && logen[e] == gen[me] -> lst[e] = L_FREE
		   :: else -> assert(false)
		   fi;
		   T("@%d L3 acks lease %d\n", me, e);
		   drop_msg(lmsg[e]))
	:: NACK ->
		/* nack.start */
		if
		:: ldel[e] >= MAXDEL ->
			lease_to_side();
			if
			:: !ok ->                       /* side ring full: -ENOSPC, ack it */
				OP(if
				   :: lst[e] == L_OWNED && lown[e] == me && logen[e] == gen[me] -> lst[e] = L_FREE
				   :: else -> assert(false)
				   fi;
				   drop_msg(lmsg[e]))
			:: else
			fi
		:: else -> make_redeliverable()
		fi
	fi;
	mylease = NONE
}

/* release_source: the dead owner's slot fp, if still unreleased. */
inline release_source(fp)
{
	OP(d = deq);
	if
	:: d > fp && d - fp <= CAP ->
		do
		:: OP(w2 = seq[fp % CAP]);              /* A2 */
		   if
		   :: WPOS(w2) != fp + 1 -> break       /* released already */
		   :: else ->
			OP(if                           /* R2 for the dead owner */
			   :: seq[fp % CAP] == w2 -> seq[fp % CAP] = REL_W(fp); ok = 1;
				T("@%d release_source releases %d\n", me, fp)
			   :: else -> ok = 0
			   fi);
			if :: ok -> acted++; break :: else fi
		   fi
		od
	:: else
	fi
}

/* ipcq__owner_dead(owner lo, generation log): isdead. */
inline owner_dead()
{
	OP(isdead = (lo == also_dead || gen[lo] != log || !alive[lo]))
}

/* ipcq__lease_recover. */
inline lease_recover()
{
	e = 0;
	do
	:: e < NL ->
		OP(ls = lst[e]; lo = lown[e]; log = logen[e]);  /* L2 */
		if
		:: ls == L_RESERVED || ls == L_OWNED ->
			/* decided now (the C code first skips owners the pass
			 * found alive: a later pass does what it skips) */
			owner_dead();
			if
			:: isdead && ls == L_RESERVED ->
				OP(if                   /* L3 */
				   :: lst[e] == L_RESERVED && lown[e] == lo && logen[e] == log ->
					lst[e] = L_FREE; acted++
				   :: else
				   fi)
			:: isdead && ls == L_OWNED ->
				OP(if                   /* L9: take it over */
				   :: lst[e] == L_OWNED && lown[e] == lo && logen[e] == log ->
					lown[e] = me; logen[e] = gen[me]; ok = 1; acted++;
					T("@%d L9 takes over lease %d of dead %d\n", me, e, lo);
					racquire(lmsg[e]); lsp = lsrc[e]
				   :: else -> ok = 0
				   fi);
				if
				:: ok ->
					/* recover.lease_taken */
					release_source(lsp);
					OP(mvs = lmove[e]; mvg = lmgen[e]);
					side_moved();
					if
					:: mv ->                /* in the side ring already: L3 */
						OP(if
						   :: lst[e] == L_OWNED && lown[e] == me && logen[e] == gen[me] ->
							lst[e] = L_FREE
						   :: else
						   fi;
						   drop_msg(lmsg[e]))
					:: else ->
						OP(lmove[e] = 0);
						if
						:: ldel[e] >= MAXDEL ->
							lease_to_side();
							if
							:: !ok ->       /* side full: back to the dead's tag */
								OP(if
								   :: lst[e] == L_OWNED && lown[e] == me && logen[e] == gen[me] ->
									lown[e] = lo; logen[e] = log
								   :: else
								   fi;
								   drop_msg(lmsg[e]))
							:: else
							fi
						:: else -> make_redeliverable()
						fi
					fi
				:: else
				fi
			:: else
			fi
		:: else
		fi;
		e++
	:: else -> break
	od
}

/* ipcq__side_recover: a WRITING entry of a dead mover is freed. */
inline side_recover()
{
	j = 0;
	do
	:: j < NS ->
		OP(ss = sst[j]; lo = sown[j]; log = sogen[j]);
		if
		:: ss == S_WRITING ->
			owner_dead();
			if
			:: isdead ->
				OP(if                   /* S3 */
				   :: sst[j] == S_WRITING && sown[j] == lo && sogen[j] == log ->
					sst[j] = S_FREE; sgen[j] = (sgen[j] + 1) % 4; acted++
				   :: else
				   fi)
			:: else
			fi
		:: else
		fi;
		j++
	:: else -> break
	od
}

/* ======================================================================== */
/* recovery.c                                                               */
/* ======================================================================== */

/* live_covers(p, producer side?): lc = 1 when a live participant's record
 * covers p.  Every entry is looked at (OLD_RULE1: not those the pass found
 * dead at its start); the record first, then the lock. */
#define COVERS(k, prodside) \
	(attached[k] && (prodside -> prod_op[k] == BUSY && prod_pos[k] == p \
	                           : cons_op[k] == BUSY && cons_pos[k] == p))

inline live_covers(prodside)
{
	lc = 0;
	dcov = 0;
	k = 0;
#ifdef OLD_RULE1
	do
	:: k < NE && !lc ->
		if
		:: dead[k] -> skip                      /* old: the pass-start verdict */
		:: else -> OP(lc = COVERS(k, prodside))   /* old: alive at the pass start */
		fi;
		k++
	:: else -> break
	od
#else
	do
	:: k < NE && !lc ->
		/* the records, up to the next one that covers p (reads of
		 * records that do not cover p are one step with it) */
		OP(do
		   :: k < NE && !COVERS(k, prodside) -> k++
		   :: else -> break
		   od);
		if
		:: k < NE ->
			OP(lc = !(k == also_dead || !alive[k]);    /* then its lock, now */
			   if :: !lc -> dcov = dcov | (1 << k) :: else fi);   /* dead: kept */
			k++
		:: else
		fi
	:: else -> break
	od
#endif
}

/* skip_orphan(p) */
inline skip_orphan()
{
	OP(d = enq);                                    /* seq_cst */
	if
	:: d > p && d - p <= CAP ->
		OP(w = seq[p % CAP]);                   /* A1 */
		if
		:: w == FREE_W(p) ->
			live_covers(1);
			if
			:: lc -> pending++; T("@%d skip_orphan(%d): a live record covers it\n", me, p)
			:: else ->
				/* recover.checked */
				OP(if                           /* R5: the skip */
				   :: seq[p % CAP] == w -> seq[p % CAP] = W(p + 1, 0, 0, 1); acted++;
		T("@%d R5 publishes a skip at %d\n", me, p)
				   :: else
				   fi)
			fi
		:: else
		fi
	:: else
	fi
}

/* moved_on(w, p) of the owner of slot p; d0 (i) is the dead entry whose
 * record named p. */
inline moved_on()
{
	mv = 0;
	if
	:: WSKIP(w) -> mv = 1
	:: else ->
		/* ipcq__lease_holds(p) */
		k = 0;
		do
		:: k < NL && !mv ->
#ifdef OLD_RULE3
			/* old: only the leases of the dead entry at hand */
			OP(mv = (lst[k] == L_OWNED || lst[k] == L_REDELIVER) && lsrc[k] == p
			        && lown[k] == i && logen[k] == gen[i]);
#else
			OP(mv = (lst[k] == L_OWNED || lst[k] == L_REDELIVER) && lsrc[k] == p);
#endif
			k++
		:: else -> break
		od;
#ifdef OLD_RULE3
		/* old: the move record of the dead entry at hand, from the snapshot */
		if
		:: !mv -> mvs = r_mvs; mvg = r_mvg; side_moved()
		:: else
		fi
#else
		/* the owner's move record, read now */
		if
		:: !mv && WTAG(w) != 0 ->
			OP(mvs = move_side[WTAG(w) - 1]; mvg = move_gen[WTAG(w) - 1]);
			side_moved()
		:: !mv && WTAG(w) == 0 ->
			/* the claimer is among those whose record covers p */
			k = 0;
			do
			:: k < NE && !mv ->
#if defined(OLD_MOVED_ON_LIVE) || defined(OLD_RULE1)
				/* old: every record that covers p now, alive or dead */
				OP(ok = (cons_op[k] == BUSY && cons_pos[k] == p));
#else
				/* only those live_covers() found dead with a
				 * record covering p (dcov): their records no
				 * longer change.  One that covers p now but did
				 * not then lost its claim, or is adopting, and
				 * its move record may be of another message */
				ok = (dcov >> k) & 1;
#endif
				if
				:: ok ->
					OP(mvs = move_side[k]; mvg = move_gen[k]);
					side_moved()
				:: else
				fi;
				k++
			:: else -> break
			od
		:: else
		fi
#endif
	fi
}

/* resolve_claimed(p) */
inline resolve_claimed()
{
	OP(d = deq);                                    /* seq_cst */
	if
	:: d > p && d - p <= CAP ->
		OP(w = seq[p % CAP]);                   /* A2 */
		if
		:: WPOS(w) == p + 1 ->
			/* owner_alive */
#ifdef OLD_RULE1
			live_covers(0);                 /* old: no owner in the word */
#else
			if
			:: WTAG(w) == 0 -> live_covers(0)
			:: else -> OP(lc = !(WTAG(w) - 1 == also_dead || !alive[WTAG(w) - 1]))
			fi;
#endif
			if
			:: lc -> pending++; T("@%d resolve_claimed(%d): owner alive\n", me, p)
			:: else ->
				moved_on();
				if
				:: mv ->
					/* recover.checked; R2 for the dead */
					OP(if
					   :: seq[p % CAP] == w -> seq[p % CAP] = REL_W(p); acted++;
						T("@%d recovery releases %d (moved on)\n", me, p)
					   :: else
					   fi)
				:: !mv && (!adopt || have_adopted || me == also_dead) -> pending++
				:: else ->
					/* adopt: our record first, then T1 */
					OP(cons_pos[me] = p; cons_op[me] = BUSY; move_side[me] = 0;
					   T("@%d cons record = %d (to adopt)\n", me, p));
					/* recover.checked */
					OP(if
					   :: seq[p % CAP] == w ->
						seq[p % CAP] = ADOPTED_W(w, me); ok = 1;
						T("@%d T1 adopts %d (msg %d)\n", me, p, smsg[p % CAP]);
						assert_one_copy(smsg[p % CAP]);
						acquire(smsg[p % CAP])
					   :: else -> ok = 0
					   fi);
					if
					:: ok ->
						/* recover.adopted */
						have_adopted = 1; adopted_p = p; adopted_w = ADOPTED_W(w, me);
						acted++
					:: else ->
						OP(cons_op[me] = IDLE)  /* R4: given up */
					fi
				fi
			fi
		:: else
		fi
	:: else
	fi
}

/* ipcq__recover_scan(adopt, also_dead): acted, pending. */
inline recover_scan()
{
	acted = 0; pending = 0; anydead = 0;
	i = 0;
	do :: i < NE -> dead[i] = 0; i++ :: else -> break od;
#ifdef OLD_RULE1
	/* old: liveness decided once, at the start of the pass */
	i = 0;
	do
	:: i < NE ->
		if
		:: (i != me || i == also_dead) && attached[i] ->
			OP(snp_pop[i] = prod_op[i]; snp_ppos[i] = prod_pos[i];
			   snp_cop[i] = cons_op[i]; snp_cpos[i] = cons_pos[i];
			   snp_mvs[i] = move_side[i]; snp_mvg[i] = move_gen[i];
			   dead[i] = (i == also_dead || !alive[i]));
			if :: dead[i] -> anydead = 1 :: else fi
		:: else
		fi;
		i++
	:: else -> break
	od;
	i = 0;
	do
	:: i < NE ->
		if
		:: dead[i] ->
			rp_op = snp_pop[i]; rp_pos = snp_ppos[i];
			rc_op = snp_cop[i]; rc_pos = snp_cpos[i];
			r_mvs = snp_mvs[i]; r_mvg = snp_mvg[i];
			if :: rp_op == BUSY -> p = rp_pos; skip_orphan() :: else fi;
			if :: rc_op == BUSY -> p = rc_pos; resolve_claimed() :: else fi
		:: else
		fi;
		i++
	:: else -> break
	od;
#else
	i = 0;
	do
	:: i < NE ->
		/* snap (the records) and dead_now, entry by entry; the entries
		 * that look alive are passed in the same step as the next
		 * dead one (records only say where to look: every action
		 * checks again) */
		OP(do
		   :: i < NE && !((i != me || i == also_dead) && attached[i] &&
		                  (i == also_dead || !alive[i])) -> i++
		   :: else -> break
		   od;
		   if
		   :: i < NE ->
			rp_op = prod_op[i]; rp_pos = prod_pos[i];
			rc_op = cons_op[i]; rc_pos = cons_pos[i];
			r_mvs = move_side[i]; r_mvg = move_gen[i];
			dead[i] = 1; anydead = 1
		   :: else
		   fi);
		if
		:: i < NE ->
			if :: rp_op == BUSY -> p = rp_pos; skip_orphan() :: else fi;
			if :: rc_op == BUSY -> p = rc_pos; resolve_claimed() :: else fi;
			i++
		:: else
		fi
	:: else -> break
	od;
#endif
	if
	:: anydead ->
		lease_recover();
		side_recover()
	:: else
	fi
}

/* ipcq__entry_resolved(me): res = 1 when the dead holder owns nothing. */
inline entry_resolved()
{
	/* one step: the dead holder cannot change any of it, and other
	 * recoverers only take its work over (a lease given back to its tag
	 * after the check is a dead incarnation's: its generation is old) */
	OP(res = 1;
	   if
	   :: prod_op[me] == BUSY && enq > prod_pos[me] && enq - prod_pos[me] <= CAP &&
	      seq[prod_pos[me] % CAP] == FREE_W(prod_pos[me]) -> res = 0
	   :: else
	   fi;
	   if
	   :: cons_op[me] == BUSY && deq > cons_pos[me] && deq - cons_pos[me] <= CAP &&
	      WPOS(seq[cons_pos[me] % CAP]) == cons_pos[me] + 1 &&
	      (WTAG(seq[cons_pos[me] % CAP]) == 0 || WTAG(seq[cons_pos[me] % CAP]) == me + 1) -> res = 0
	   :: else
	   fi;
	   e = 0;
	   do
	   :: e < NL -> if :: (lst[e] == L_RESERVED || lst[e] == L_OWNED) && lown[e] == me -> res = 0 :: else fi; e++
	   :: else -> break
	   od;
	   j = 0;
	   do
	   :: j < NS -> if :: sst[j] == S_WRITING && sown[j] == me -> res = 0 :: else fi; j++
	   :: else -> break
	   od;
	   e = 0; j = 0)
}

/*
 * The attach of a new process to the dead entry me: it takes the entry's
 * lock, recovers the dead holder's work (without adopting), and takes the
 * entry over (generation + 1, records cleared) only if the dead holder
 * owns nothing.  ok = 1 when it did.
 */
inline attach_dead()
{
	atomic { !alive[me] -> alive[me] = 1; T("@%d a new process locks the dead entry\n", me);  /* the OFD lock */
#ifndef ATTACH_KEEPS_GEN
	/* The generation is raised as soon as the lock is held, before the
	 * pass: a lease the attacher takes over (L9) is then tagged with an
	 * incarnation the dead holder never had, so the takeover CAS changes
	 * the word, and a recoverer that judged the old tag dead before the
	 * lock was taken fails its own L9.  (With the dead holder's tag, the
	 * L9 CAS leaves the word as it was, and both win: ATTACH_KEEPS_GEN.) */
		 gen[me] = gen[me] + 1; T("@%d raises the generation to %d\n", me, gen[me])
#endif
	};
	also_dead = me; adopt = 0;
	ret = 1; goto scan;                             /* recover_scan() */
r1:	skip;
	entry_resolved();
	if
	:: res ->
		OP(T("@%d takes the entry over\n", me);
#ifdef ATTACH_KEEPS_GEN
		   gen[me] = gen[me] + 1;
#endif
		   prod_op[me] = IDLE; cons_op[me] = IDLE;
		   move_side[me] = 0; hold[me] = 0; rhold[me] = 0; CLEAR_TEMPS;
		   if :: me == E_D -> ack_alive = 1 :: else fi);
		also_dead = NONE; have_adopted = 0; mylease = NONE; ok = 1
	:: else ->
		OP(alive[me] = 0; CLEAR_TEMPS; T("@%d entry not resolved: unlocks\n", me));   /* not ours */
		also_dead = NONE; ok = 0
	fi
}

/* After a crash: maybe a new process takes the entry over. */
#define AFTER_CRASH(start, finish) \
crashed: \
	if \
	:: d_step { reattach > 0 && ((REATTACHABLE >> me) & 1) -> reattach-- }; \
	   attach_dead(); \
	   if :: ok -> goto start :: else -> goto finish fi \
	:: goto finish \
	fi

/* recover_scan() is expanded once per process type, at the label scan, and
 * returns to the label r<ret> (only to keep pan.c small). */
#define SCAN_SUB(back) \
scan: \
	recover_scan(); \
	back

#define BACK1 if :: ret == 1 -> goto r1 fi
#define BACK12 if :: ret == 1 -> goto r1 :: ret == 2 -> goto r2 fi
#if defined(SIDE_TAKE) && !defined(OLD_SIDE_TAKE)
#define BACK13 if :: ret == 1 -> goto r1 :: ret == 3 -> goto r3 :: ret == 4 -> goto r4 fi
#else
#define BACK13 if :: ret == 1 -> goto r1 :: ret == 3 -> goto r3 fi
#endif

/* ---- the end state ------------------------------------------------------ */

/* Called by a consumer whose recovery pass, run when nothing else could
 * move (timeout), changed nothing: the system is stuck for good.  Then no
 * producer may be waiting for room, and every published message must have
 * been delivered or quarantined (one still waiting in a REDELIVER lease is
 * excused only when no ack-mode consumer is left alive to take it); and
 * one due again (may: its holder died, or it was given back) was
 * delivered since, or is quarantined, or a lease or the ring still holds
 * it (a dead holder's lease left pending while the side ring is full). */
inline stuck_check()
{
#ifndef NO_STUCK_CHECK
	d_step {
		T("@%d stuck: nothing can move; checking the end state\n", me);
		assert(pwait == 0);                     /* no wedge on the producer side */
		gk = 1;
		do
		:: gk <= NM ->
			ok = 0;
			e = 0;
			do
			:: e < NL -> ok = ok || (lst[e] == L_REDELIVER && lmsg[e] == gk); e++
			:: else -> break
			od;
			assert(!sent[gk] || delivered[gk] > 0 || quar[gk] || (ok && !ack_alive));
			/* one whose holder died (or that was given back) since
			 * its last delivery is still somewhere: a lease, the
			 * ring or the side ring (a lost move is caught here) */
			e = 0;
			do
			:: e < NL -> ok = ok || ((lst[e] == L_OWNED || lst[e] == L_REDELIVER) && lmsg[e] == gk); e++
			:: else -> break
			od;
			assert(!sent[gk] || !may[gk] || quar[gk] || ok || RING_HOLDS(gk));
			gk++
		:: else -> break
		od;
		e = 0
	}
#else
	skip    /* left to the progress property (-DLIVENESS) */
#endif
}

/* ======================================================================== */
/* roles                                                                    */
/* ======================================================================== */

proctype producer(byte me; byte first; byte n)
{
	LOCALS;
	byte next = first;

start:
	do
	:: next < first + n ->
		d_step { CLEAR_TEMPS; m = next };
		claim_send();
		if
		:: ok ->
			publish_send()
		:: else ->
			/* full: wait for room (a consumer's R2 or recovery) */
			d_step { pwait++; CLEAR_TEMPS };
			atomic { (seq[enq % CAP] == FREE_W(enq)) -> pwait-- }
		fi
	:: else -> break
	od;
finish:
	skip;
	d_step { pfin++ };
	goto out;
	AFTER_CRASH(start, finish);
	SCAN_SUB(BACK1);
out:
	skip
}

#define DATA_AT_DEQ (WPOS(seq[deq % CAP]) == deq + 1 && WTAG(seq[deq % CAP]) == 0 && WCNT(seq[deq % CAP]) == 0)

/* After a wait that only the grace period ended: a pass; when it changed
 * nothing the system is stuck, and then everything must be done. */
#define GRACE_PASS(done) \
	adopt = 1; \
	ret = 2; goto scan;     /* recover_scan() */ \
r2:	skip; \
	if \
	:: acted == 0 && !have_adopted -> \
		stuck_check(); \
		if \
		:: pfin == NPROD && unacc == 0 -> goto done \
		:: else \
		fi \
	:: else \
	fi

proctype consumer(byte me)
{
	LOCALS;

start:
	do
	:: have_adopted -> deliver_adopted()
	:: else ->
		try_recv();
		if
		:: !ok ->
			d_step { CLEAR_TEMPS };
			if
			:: DATA_AT_DEQ -> skip          /* woken up */
			:: timeout -> GRACE_PASS(finish)
			fi
		:: else -> d_step { CLEAR_TEMPS }
		fi
	od;
finish:
	goto out;
	AFTER_CRASH(start, finish);
	SCAN_SUB(BACK12);
out:
	skip
}

#define LEASE_FREE (lst[0] == L_FREE || (NL > 1 && lst[NL - 1] == L_FREE))
#define LEASE_REDELIVER (lst[0] == L_REDELIVER || (NL > 1 && lst[NL - 1] == L_REDELIVER))

proctype ackconsumer(byte me)
{
	LOCALS;

start:
	do
	:: mylease != NONE -> ack_or_nack(); d_step { CLEAR_TEMPS }
	:: else ->
		ok = 0;
		if
		:: LEASE_REDELIVER -> take_redeliverable()
		:: else
		fi;
		if
		:: !ok ->
			reserve();
			if
			:: mylease == NONE -> skip      /* -EBUSY */
			:: mylease != NONE && have_adopted ->
				/* the adopted message goes first */
				adopted_raise();
				ok = 0;
				if
				:: past >= MAXDEL ->
					quarantine_slot();
					if :: ok -> unreserve() :: else fi
				:: else
				fi;
				if
				:: !ok ->
					lease_fill(adopted_p);
					release_adopted(0);
					hand_out();
					ok = 1
				:: else -> ok = 0
				fi
			:: mylease != NONE && !have_adopted ->
				do
				:: claim_recv();
				   if
				   :: ok && WSKIP(w) ->
					release_slot(PUB_W(pos) + 1, 1);
					OP(cons_op[me] = IDLE)      /* passed over: again */
				   :: ok && !WSKIP(w) ->
					lease_fill(pos);
					release_slot(PUB_W(pos), 0);   /* R2 */
					/* R4, and the copy to the application */
					OP(cons_op[me] = IDLE;
					   deliver_ghost(lmsg[mylease], ldel[mylease] > 1 || lflag[mylease]));
					break
				   :: else -> unreserve(); break
				   fi
				od
			fi
		:: else
		fi;
		if
		:: !ok && mylease == NONE ->
			/* wait: new data, or a lease to take */
			d_step { CLEAR_TEMPS };
			if
			:: !have_adopted && DATA_AT_DEQ && LEASE_FREE -> skip
			:: have_adopted && LEASE_FREE -> skip
			:: LEASE_REDELIVER -> skip
			:: timeout -> GRACE_PASS(finish)
			fi
		:: else
		fi
	od;
finish:
	goto out;
	AFTER_CRASH(start, finish);
	SCAN_SUB(BACK12);
out:
	skip;
	d_step { if :: alive[me] -> ack_alive = 0 :: else fi }
}

proctype recoverer(byte me)
{
	LOCALS;
	byte passes = 0;

start:
	do
	:: passes < RPASSES ->
		adopt = 1;
		ret = 3; goto scan;                     /* recover_scan() */
r3:		skip;
		d_step { passes++; CLEAR_TEMPS };
		if
		:: have_adopted -> deliver_adopted()
		:: else
		fi
#ifdef SIDE_TAKE
	:: takes > 0 ->
		d_step { takes--; CLEAR_TEMPS };
		side_take();
		d_step { CLEAR_TEMPS }
#endif
	:: else -> break
	od;
finish:
	goto out;
	AFTER_CRASH(start, finish);
	SCAN_SUB(BACK13);
out:
	skip
}

init {
	byte s;
	atomic {
		s = 0;
		do
		:: s < CAP -> seq[s] = FREE_W(s); s++
		:: else -> break
		od;
		if :: M0 > 0 -> attached[E_P0] = 1; alive[E_P0] = 1; run producer(E_P0, 1, M0) :: else fi;
		if :: M1 > 0 -> attached[E_P1] = 1; alive[E_P1] = 1; run producer(E_P1, M0 + 1, M1) :: else fi;
		if :: WITH_C -> attached[E_C] = 1; alive[E_C] = 1; run consumer(E_C) :: else fi;
		if :: WITH_D -> attached[E_D] = 1; alive[E_D] = 1; ack_alive = 1; run ackconsumer(E_D) :: else fi;
		if :: WITH_R -> attached[E_R] = 1; alive[E_R] = 1; run recoverer(E_R) :: else fi
	}
}

#ifdef LIVENESS
/* Progress: every published message is in the end delivered or
 * quarantined (run where a live consumer keeps receiving: the configuration
 * keeps the ack-mode consumer alive).  pan -a -f: weak fairness. */
ltl progress { <> [] (unacc == 0) }
#endif
