/*
 * groups.pml - the slot protocol of a queue with consumer groups, as a
 * SPIN model (max_groups > 1; a queue with one group keeps the protocol of
 * ipcq.pml).
 *
 * As in ipcq.pml, each atomic memory operation of the C code is one step
 * (OP()), and a process may crash instead of taking any step.  What this
 * model adds to ipcq.pml's rules:
 *
 *  - The slot word belongs to the producers: == p free (first lap),
 *    == p + 1 published (with the skip bit).  It is never "released": a
 *    slot is free for position p + CAP once every durable group has
 *    released p, and it keeps showing p + 1 while the producer of p + CAP
 *    writes it, up to that producer's publish.
 *  - Each durable group g has a word per slot, gw[g][s], with the consumer
 *    half of the single-group slot word: == p (position bits) while group
 *    g has not released p (owner tag 0: the claimer by the group's cursor
 *    deq[g]; tag i + 1: adopted by entry i; the adoption count is the
 *    group's redelivery count), == p + CAP once released (R2g).
 *  - Each durable group has a tail: every position below it is released
 *    by the group.  Whoever advances it scans the group words from it and
 *    moves it by CAS over released positions only (advance_tail): a
 *    consumer after its release (or not: the C code's does after some
 *    releases only), a producer that finds the ring full.
 *  - The floor word holds (position, generation) in one word: the minimum
 *    of the durable groups' tails as of that generation; its position only
 *    moves forward.  A producer claims p only when p < FPOS(floor) + CAP
 *    (one load), so it never reads a line a consumer writes unless the
 *    ring looks full.  Then it runs advance_floor: it loads the floor,
 *    then for each present durable group advances and loads its tail, and
 *    CASes the floor from the word it loaded to the minimum (the same
 *    generation).  Consumers never write the floor.
 *  - A durable group is created during traffic (LATE_B, the creator): it
 *    loads the floor, picks its start S (OLDEST: the floor's position, the
 *    oldest message still in the ring; else enq, the newest), initialises
 *    the group's tail, cursor and words at S, stores present = 1, and CASes
 *    the floor from the word it loaded to the same position with the
 *    generation raised.  If that CAS fails (a producer moved the floor,
 *    perhaps with a minimum taken before the group was present), it
 *    stores present = 0 and starts again.  A producer's floor CAS that
 *    began before present = 1 was visible fails on the generation.
 *  - A lossy group holds no space: it claims by its own cursor, copies,
 *    then loads enq: the copy is of p only if enq <= p + CAP (no producer
 *    of a later lap has claimed the slot: a producer claims before it
 *    writes).  It counts what was overwritten under it or what it
 *    skipped when it found itself a lap behind.
 *
 * Participants: producer P (entry 0, NM messages); consumers A1, A2 of
 * durable group 0 (entries 1, 2); consumers B1, B2 of durable group 1
 * (entries 3, 4); consumer L of lossy group 2 (entry 5); under LATE_B the
 * creator of group 1 (entry 6), and B1, B2 join the group once its
 * creation completed.  Every durable consumer runs recovery passes
 * (adopting for its own group) when nothing else can move (timeout) and,
 * RPASSES times, at any moment.
 *
 * Old rules, each shown to fail (model/run.sh groups-old-tail,
 * groups-old-wordcheck, ...):
 *   OLD_TAIL  a consumer moves its group's tail to just past the position
 *             it released (tail = max(tail, p + 1)) instead of scanning:
 *             with two consumers in a group, the producer then overwrites
 *             a message the slower one has not consumed.
 *   OLD_WORDCHECK  the lossy reader re-checks the slot word after its
 *             copy instead of loading enq (right only while producers
 *             marked the word, slot word = p, before writing; they no
 *             longer do): it takes the new lap's payload for the old
 *             lap's message.
 *   OLD_NOGEN   (LATE_B) the creator stores present = 1 and does not CAS
 *             the floor, and advance_floor's CAS compares the position
 *             only: a producer that took the minimum before the group was
 *             present moves the floor past S.
 *   OLD_NORETRY (LATE_B) the creator keeps its S when its floor CAS fails.
 *   OLD_SAMEGEN (LATE_B) the creator's CAS checks that the floor did not
 *             change but does not raise the generation: a producer's CAS
 *             from the word it loaded before the group was present still
 *             succeeds after the creation.
 */

/* ---- configuration ----------------------------------------------------- */

#ifndef CAP
#define CAP 2
#endif
#ifndef NM
#define NM 3            /* messages P sends */
#endif
#ifndef WITH_A2
#define WITH_A2 1       /* second consumer of group 0 */
#endif
#ifndef WITH_B1
#define WITH_B1 1       /* durable group 1 and its first consumer */
#endif
#ifndef WITH_B2
#define WITH_B2 0       /* second consumer of group 1 */
#endif
#ifndef WITH_L
#define WITH_L 0        /* the lossy group and its consumer */
#endif
#ifndef CRASHES
#define CRASHES 1
#endif
#ifndef CRASHABLE
#define CRASHABLE 31    /* bit i: entry i may crash (L never does here) */
#endif
#ifndef RPASSES
#define RPASSES 1       /* passes a consumer may run at any moment */
#endif
#ifndef LATE_B
#define LATE_B 0        /* group 1 is created by the creator during traffic */
#endif
#ifndef OLDEST
#define OLDEST 0        /* the created group starts at the floor, else at enq */
#endif

#define NE 7
#define E_P 0
#define E_A1 1
#define E_A2 2
#define E_B1 3
#define E_B2 4
#define E_L 5
#define E_C 6
#define NGD 2           /* durable groups 0 and 1 */
#define G_L 2           /* the lossy group */
#define NP (NM + CAP + 1)
#define NONE 255

/* slot word: position, skip bit */
#define SW(p, k)        ((p) * 2 + (k))
#define SPOS(w)         ((w) / 2)
#define SSKIP(w)        ((w) % 2)
/* group word: position, owner tag (entry + 1), adoption count */
#define GW(p, t, c)     ((((p) * 8) + (t)) * 4 + (c))
#define GPOS(w)         ((w) / 32)
#define GTAG(w)         (((w) / 4) % 8)
#define GCNT(w)         ((w) % 4)
/* floor word: position, generation */
#define FW(p, gen)      ((p) * 4 + (gen))
#define FPOS(w)         ((w) / 4)
#define FGEN(w)         ((w) % 4)
/* the first position >= S that maps to slot s */
#define FIRST_AT(S, s)  ((S) + ((s) + CAP - (S) % CAP) % CAP)

#define IDLE 0
#define BUSY 1

/* ---- shared memory ----------------------------------------------------- */

byte seq[CAP];                  /* slot words */
byte smsg[CAP];                 /* payload: the message id */
byte enq;                       /* producers' cursor */
byte deq[3];                    /* each group's cursor */
byte tail[NGD];                 /* each durable group's released frontier */
short gw[NGD * CAP];            /* group words, gw[g * CAP + s] */
bit present[3];                 /* the group exists */
byte floor;                     /* FW(min of the durable tails, generation) */

bit alive[NE];
byte prod_pos[NE]; bit prod_op[NE];
byte cons_pos[NE]; bit cons_op[NE]; byte cons_grp[NE];

/* ---- ghost state ------------------------------------------------------- */

byte crashes = CRASHES;
byte delivered[NGD * (NM + 1)]; /* deliveries per durable group */
bit may[NGD * (NM + 1)];        /* a delivery is expected now */
bit sent[NM + 1];               /* published */
byte posmsg[NP];                /* the message published at a position */
bit rel[NGD * NP];              /* released by the group at a position */
byte hold[NE];                  /* message a live consumer owns */
bit pfin;                       /* the producer is done (or dead) */
bit pwait;                      /* the producer waits for room */
bit made[NGD];                  /* the group's creation completed */
byte start[NGD];                /* its first position */
byte ldel, ldrop, lskip;        /* lossy group: delivered, dropped, passed */

#define T(...) printf(__VA_ARGS__)
#define CRASH_OK (crashes > 0 && ((CRASHABLE >> me) & 1))

#define OP(...) \
	if \
	:: d_step { CRASH_OK -> crashes--; die() }; goto crashed \
	:: d_step { __VA_ARGS__ } \
	fi

inline die()
{
	T("@%d CRASH\n", me);
	alive[me] = 0;
	if
	:: hold[me] != 0 -> may[mygrp * (NM + 1) + hold[me]] = 1; hold[me] = 0
	:: else
	fi;
	if
	:: me == E_P -> pfin = 1; pwait = 0
	:: else
	fi
}

/* The creation of group g completes with start S: every message at a
 * position >= S already published is due to the group (later ones at
 * their publish). */
inline made_ghost(g, S)
{
	made[g] = 1; start[g] = S;
	x = S;
	do
	:: x < NP -> if :: posmsg[x] != 0 -> may[g * (NM + 1) + posmsg[x]] = 1 :: else fi; x++
	:: else -> break
	od;
	x = 0;
	T("@%d group %d created at %d\n", me, g, S)
}

/* The floor never passes the tail of a group that exists. */
inline floor_ghost()
{
	x = 0;
	do
	:: x < NGD -> assert(!made[x] || FPOS(floor) <= tail[x]); x++
	:: else -> break
	od;
	x = 0
}

inline deliver_ghost(g, m, fl)
{
	assert(m != 0);
	T("@%d group %d DELIVERS msg %d flagged %d (before: %d)\n", me, g, m, fl,
	  delivered[g * (NM + 1) + m]);
	assert(may[g * (NM + 1) + m]);   /* again only after its holder died */
	may[g * (NM + 1) + m] = 0;
	delivered[g * (NM + 1) + m]++;
	assert(delivered[g * (NM + 1) + m] == 1 || fl)
}

#define LOCALS \
	byte pos, p, t, t2, d, e, i, g, m, x; \
	short w, w2, gx; \
	bit ok, acted, pend, have_adopted; \
	byte adopted_p; short adopted_w; \
	byte ret; byte passes = 0

#define CLEAR_TEMPS \
	pos = 0; p = 0; t = 0; t2 = 0; d = 0; e = 0; i = 0; g = 0; m = 0; x = 0; \
	w = 0; w2 = 0; gx = 0; ok = 0; acted = 0; pend = 0

/* ---- the tail (ring layer) --------------------------------------------- */

/* advance_tail(g): from the tail, over released positions below the
 * group's cursor; a CAS from the value read, so it never moves back. */
inline advance_tail(grp)
{
	OP(t = tail[grp]);
	t2 = t;
	do
	:: OP(d = deq[grp]);
	   if
	   :: t2 < d ->
		OP(gx = gw[grp * CAP + t2 % CAP]);
		if
		:: gx == GW(t2 + CAP, 0, 0) -> t2++
		:: else -> break
		fi
	   :: else -> break
	   fi
	od;
	if
	:: t2 > t ->
		OP(if
		   :: tail[grp] == t ->
			i = t;
			do
			:: i < t2 -> assert(rel[grp * NP + i]); i++   /* only released ones */
			:: else -> break
			od;
			tail[grp] = t2; i = 0;
			T("@%d group %d tail %d -> %d\n", me, grp, t, t2)
		   :: else
		   fi)
	:: else
	fi
}

/* ---- producer ---------------------------------------------------------- */

/* advance_floor: the floor loaded first, then each present group's tail
 * (advanced on the way); the CAS from the word loaded fails if a group
 * was created since (its generation). */
inline advance_floor()
{
	OP(fw = floor; T("@%d advance_floor loads floor %d gen %d\n", me, FPOS(fw), FGEN(fw)));   /* acquire */
	have = 0; mn = 0;
	g = 0;
	do
	:: g < NGD ->
		OP(x = present[g]; if :: g == 1 && LATE_B -> T("@%d group 1 present %d\n", me, x) :: else fi);
		if
		:: x ->
			advance_tail(g);
			OP(t = tail[g]);
			if :: !have || t < mn -> mn = t; have = 1 :: else fi
		:: else
		fi;
		g++
	:: else -> break
	od;
	if :: !have -> OP(mn = enq) :: else fi;
	if
	:: mn > FPOS(fw) ->
		OP(if
#ifdef OLD_NOGEN
		   :: FPOS(floor) == FPOS(fw) -> floor = FW(mn, FGEN(floor));
#else
		   :: floor == fw -> floor = FW(mn, FGEN(fw));
#endif
			T("@%d floor %d -> %d\n", me, FPOS(fw), mn);
			floor_ghost()
		   :: else
		   fi)
	:: else
	fi
}

/* Room for pos: one load of the floor; when the ring looks full, the
 * floor moved on and loaded again. */
inline room(pos)
{
	OP(fw = floor);
	if
	:: pos < FPOS(fw) + CAP -> ok = 1
	:: else ->
		advance_floor();
		OP(fw = floor);
		ok = (pos < FPOS(fw) + CAP)
	fi
}

inline claim_send()
{
	/* hint and A1: the slot shows the first lap free, or the previous
	 * lap published (or skipped) */
	OP(pos = enq; w = seq[pos % CAP]);
	if
	:: w == SW(pos, 0) || (pos >= CAP && SPOS(w) == pos - CAP + 1) -> room(pos)
	:: else -> ok = 0
	fi;
	if
	:: ok ->
		OP(prod_pos[me] = pos; prod_op[me] = BUSY);
		OP(if                                           /* P1 */
		   :: enq == pos -> enq++
		   :: else -> ok = 0
		   fi);
		if :: !ok -> OP(prod_op[me] = IDLE) :: else fi
	:: else
	fi
}

/* Room for the producer again: the floor moved, or advance_floor would
 * move it (every present group's tail is above it, or can be moved). */
#define RELEASED_AT_TAIL(g) (present[g] && tail[g] < deq[g] && \
	gw[(g) * CAP + tail[g] % CAP] == GW(tail[g] + CAP, 0, 0))
#define ABOVE_FLOOR(g) (!present[g] || tail[g] > FPOS(floor) || RELEASED_AT_TAIL(g))
#define ROOM_NOW (enq < FPOS(floor) + CAP || \
	((present[0] || present[1]) && ABOVE_FLOOR(0) && ABOVE_FLOOR(1)) || \
	(!present[0] && !present[1] && enq > FPOS(floor)))

inline publish_send()
{
	/* payload (F1 before it: after the claim, P1) */
	OP(g = 0;
	   do
	   :: g < NGD -> assert(!made[g] || pos < start[g] + CAP || rel[g * NP + pos - CAP]); g++
	   :: else -> break
	   od;                                          /* never over an unconsumed message */
	   g = 0;
	   smsg[pos % CAP] = m);
	OP(seq[pos % CAP] = SW(pos + 1, 0);              /* R1 */
	   posmsg[pos] = m; sent[m] = 1;
	   if :: made[0] && pos >= start[0] -> may[0 * (NM + 1) + m] = 1 :: else fi;
	   if :: made[1] && pos >= start[1] -> may[1 * (NM + 1) + m] = 1 :: else fi;
	   T("@%d R1 publishes msg %d at %d\n", me, m, pos));
	OP(prod_op[me] = IDLE)                          /* R4 */
}

proctype producer()
{
	byte me = E_P; byte mygrp = 0;
	LOCALS;

	byte next = 1;
	byte fw, mn; bit have;

	do
	:: next <= NM ->
		m = next;
		claim_send();
		if
		:: ok -> publish_send(); d_step { next++; CLEAR_TEMPS; fw = 0; mn = 0; have = 0 }
		:: else ->
			d_step { CLEAR_TEMPS; fw = 0; mn = 0; have = 0; pwait = 1 };
			atomic { ROOM_NOW -> pwait = 0 }
		fi
	:: else -> break
	od;
	pfin = 1;
	goto out;
crashed:
	skip;
out:
	skip
}

/* ---- durable consumers ------------------------------------------------- */

inline claim_recv()
{
	OP(pos = deq[mygrp]; w = seq[pos % CAP]);       /* hint and A2 */
	if
	:: SPOS(w) == pos + 1 ->
		OP(cons_pos[me] = pos; cons_grp[me] = mygrp; cons_op[me] = BUSY);
		OP(if                                           /* C1 */
		   :: deq[mygrp] == pos -> deq[mygrp]++; ok = 1;
			if
			:: !SSKIP(w) -> assert(hold[me] == 0); hold[me] = smsg[pos % CAP]
			:: else
			fi;
			T("@%d group %d C1 claims %d\n", me, mygrp, pos)
		   :: else -> ok = 0
		   fi);
		if :: !ok -> OP(cons_op[me] = IDLE) :: else fi
	:: else -> ok = 0
	fi
}

/* R2g: a CAS from exactly the word the owner holds. */
inline release_group(p, held)
{
	OP(if
	   :: gw[mygrp * CAP + p % CAP] == held ->
		gw[mygrp * CAP + p % CAP] = GW(p + CAP, 0, 0);
		rel[mygrp * NP + p] = 1; ok = 1
	   :: else -> ok = 0
	   fi;
	   assert(ok);                                  /* a live owner is never robbed */
	   hold[me] = 0;
	   T("@%d group %d R2g releases %d\n", me, mygrp, p))
}

inline after_release(p)
{
	OP(cons_op[me] = IDLE);                         /* R4 */
#ifdef OLD_TAIL
	OP(if
	   :: tail[mygrp] < p + 1 -> tail[mygrp] = p + 1;
		T("@%d group %d tail -> %d (old rule)\n", me, mygrp, p + 1)
	   :: else
	   fi)
#else
	/* the C code's member moves the tail only after releasing
	 * the last position of a run of IPCQ__TAIL_EVERY: here it may, or not */
	if
	:: advance_tail(mygrp)
	:: skip
	fi
#endif
}

inline try_recv()
{
	claim_recv();
	if
	:: ok ->
		if
		:: SSKIP(w) -> skip                     /* passed over */
		:: else ->
			OP(m = smsg[pos % CAP]; deliver_ghost(mygrp, m, 0))   /* copy out */
		fi;
		release_group(pos, GW(pos, 0, 0));
		after_release(pos)
	:: else
	fi
}

inline deliver_adopted()
{
	OP(m = smsg[adopted_p % CAP]; deliver_ghost(mygrp, m, 1));
	release_group(adopted_p, adopted_w);
	after_release(adopted_p);
	have_adopted = 0
}

/* Is a live process's record covering p in group g? (live_covers) */
#define LIVE_COVERS(p, g) \
	((alive[1] && cons_op[1] == BUSY && cons_pos[1] == (p) && cons_grp[1] == (g)) || \
	 (alive[2] && cons_op[2] == BUSY && cons_pos[2] == (p) && cons_grp[2] == (g)) || \
	 (alive[3] && cons_op[3] == BUSY && cons_pos[3] == (p) && cons_grp[3] == (g)) || \
	 (alive[4] && cons_op[4] == BUSY && cons_pos[4] == (p) && cons_grp[4] == (g)))

/* skip_orphan: a dead producer's claim becomes a skip. */
inline skip_orphan(p)
{
	OP(e = enq);
	if
	:: e > p && e - p <= CAP ->
		OP(w = seq[p % CAP]);
		if
		:: w == SW(p, 0) || (p >= CAP && SPOS(w) == p - CAP + 1) ->
			OP(if                               /* R5 */
			   :: seq[p % CAP] == w -> seq[p % CAP] = SW(p + 1, 1); acted = 1;
				T("@%d R5 skips %d\n", me, p)
			   :: else
			   fi)
		:: else
		fi
	:: else
	fi
}

/* resolve_claimed: a dead consumer's claim of p in group g. */
inline resolve_claimed(p, g)
{
	OP(d = deq[g]);
	if
	:: d > p && d - p <= CAP ->
		OP(gx = gw[g * CAP + p % CAP]);
		if
		:: GPOS(gx) == p ->
			/* owner alive?  (each lock looked at now) */
			OP(ok = (GTAG(gx) == 0 && LIVE_COVERS(p, g)) ||
				(GTAG(gx) != 0 && alive[GTAG(gx) - 1]));
			if
			:: ok -> pend = 1                       /* pending */
			:: else ->
				OP(w = seq[p % CAP]);
				if
				:: SSKIP(w) ->                  /* nothing to deliver: release */
					OP(if
					   :: gw[g * CAP + p % CAP] == gx ->
						gw[g * CAP + p % CAP] = GW(p + CAP, 0, 0);
						rel[g * NP + p] = 1; acted = 1
					   :: else
					   fi)
				:: !SSKIP(w) && g == mygrp && !have_adopted ->
					OP(cons_pos[me] = p; cons_grp[me] = g; cons_op[me] = BUSY);
					OP(if                   /* T1: the adoption */
					   :: gw[g * CAP + p % CAP] == gx ->
						/* the count goes 1..3, then 1 again: never
						 * back to the claimer's 0 (ipcq__seq_adopted) */
						gw[g * CAP + p % CAP] = GW(p, me + 1, GCNT(gx) % 3 + 1);
						adopted_w = GW(p, me + 1, GCNT(gx) % 3 + 1);
						adopted_p = p; have_adopted = 1; acted = 1;
						assert(hold[me] == 0); hold[me] = smsg[p % CAP];
						T("@%d group %d T1 adopts %d\n", me, g, p)
					   :: else -> ok = 1
					   fi);
					if :: ok -> OP(cons_op[me] = IDLE) :: else fi
				:: else -> pend = 1             /* a member of its group adopts */
				fi
			fi
		:: else
		fi
	:: else
	fi
}

/* recover_scan over the dead entries. */
inline recover_scan()
{
	i = 0;
	do
	:: i < NE ->
		if
		:: i != me && !alive[i] ->
			if
			:: i == E_P && prod_op[i] == BUSY -> p = prod_pos[i]; skip_orphan(p)
			:: else
			fi;
			if
			:: i != E_P && i != E_L && cons_op[i] == BUSY ->
				p = cons_pos[i]; g = cons_grp[i]; resolve_claimed(p, g)
			:: else
			fi
		:: else
		fi;
		i++
	:: else -> break
	od
}

/* Stuck (a pass at timeout changed nothing): the producer must not be
 * waiting, and each durable group got every message from its start.  A
 * group whose creator died before the creation completed is present and
 * has no members: it holds space until it is removed, so the producer may
 * wait for ever then (the creator may die at any step). */
#define MEMBERLESS (present[1] && !made[1])
inline stuck_check()
{
	d_step {
		assert(!pwait || MEMBERLESS);
		g = 0;
		do
		:: g < NGD ->
			p = start[g];
			do
			:: p < NP ->
				assert(!made[g] || posmsg[p] == 0 || delivered[g * (NM + 1) + posmsg[p]] > 0);
				p++
			:: else -> break
			od;
			g++
		:: else -> break
		od;
		g = 0; p = 0
	}
}

#define DATA_AT(grp) (SPOS(seq[deq[grp] % CAP]) == deq[grp] + 1)

proctype consumer(byte me; byte mygrp)
{
	LOCALS;

	if
	:: mygrp == 1 && LATE_B ->
end_join:	made[1]                 /* joins once the creation completed */
	:: else
	fi;
	do
	:: have_adopted -> deliver_adopted(); d_step { CLEAR_TEMPS }
	:: !have_adopted && passes < RPASSES ->
		/* a recovery pass at any moment */
		d_step { passes++; CLEAR_TEMPS };
		recover_scan();
		skip;   /* (a d_step may not be the target of the loop's break) */
		d_step { CLEAR_TEMPS }
	:: !have_adopted ->
		try_recv();
		if
		:: !ok ->
			d_step { CLEAR_TEMPS };
			if
			:: DATA_AT(mygrp) -> skip
			:: timeout ->
				recover_scan();
				if
				:: !acted && !pend && !have_adopted ->
					stuck_check();
					if
					:: pfin && deq[mygrp] == enq -> break
					:: else
					fi
				:: else
				fi;
				d_step { CLEAR_TEMPS }
			fi
		:: else -> d_step { CLEAR_TEMPS }
		fi
	od;
	goto out;
crashed:
	skip;
out:
	skip
}

/* ---- the lossy group --------------------------------------------------- */

proctype lossy()
{
	byte me = E_L; byte mygrp = G_L;
	LOCALS;

	do
	:: OP(pos = deq[G_L]; w = seq[pos % CAP]);      /* hint and A2 */
	   if
	   :: SPOS(w) == pos + 1 ->
		OP(if                                   /* C1 */
		   :: deq[G_L] == pos -> deq[G_L]++; ok = 1
		   :: else -> ok = 0
		   fi);
		if
		:: ok && SSKIP(w) -> d_step { lskip++ }
		:: ok && !SSKIP(w) ->
			OP(m = smsg[pos % CAP]);                /* copy */
#ifdef OLD_WORDCHECK
			OP(w2 = seq[pos % CAP]);                /* F2, the word again */
			if
			:: w2 == w ->
#else
			OP(e = enq);                            /* F2, then the cursor */
			if
			:: e <= pos + CAP ->
#endif
				d_step {
					assert(posmsg[pos] == m);       /* the message of pos */
					ldel++;
					T("@%d lossy DELIVERS msg %d\n", me, m)
				}
			:: else -> d_step { ldrop++; T("@%d lossy lost %d under it\n", me, pos) }
			fi
		:: else
		fi
	   :: SPOS(w) > pos + 1 ->
		/* a lap behind: jump to the oldest position still in the
		 * ring, counting what is passed */
		OP(e = enq);
		if
		:: e >= CAP && e - CAP > pos ->
			OP(if
			   :: deq[G_L] == pos -> deq[G_L] = e - CAP; ldrop = ldrop + (e - CAP - pos);
				T("@%d lossy jumps %d -> %d\n", me, pos, e - CAP)
			   :: else
			   fi)
		:: else
		fi
	   :: else ->
		d_step { CLEAR_TEMPS };
		if
		:: SPOS(seq[deq[G_L] % CAP]) > deq[G_L] -> skip
		:: timeout ->
			recover_scan();
			if
			:: !acted && pfin && deq[G_L] == enq ->
				assert(ldel + ldrop + lskip == enq);
				break
			:: else
			fi
		fi
	   fi;
	   d_step { CLEAR_TEMPS }
	od;
	goto out;
crashed:
	skip;
out:
	skip
}

/* ---- group creation during traffic ------------------------------------ */

proctype creator()
{
	byte me = E_C; byte mygrp = 1;
	LOCALS;
	byte fw, S, s;

	do
	:: OP(fw = floor; T("@%d loads floor %d gen %d\n", me, FPOS(fw), FGEN(fw)));   /* acquire */
#if OLDEST
	   S = FPOS(fw);
#else
	   OP(S = enq);
#endif
	   /* nobody writes group 1's words while it has no members, but a
	    * producer that found it present in an attempt before may still
	    * read them: one store each */
	   OP(tail[1] = S);
	   OP(deq[1] = S);
	   s = 0;
	   do
	   :: s < CAP -> OP(gw[1 * CAP + s] = GW(FIRST_AT(S, s), 0, 0)); s++
	   :: else -> break
	   od;
	   s = 0;
#ifdef OLD_NOGEN
	   OP(present[1] = 1; made_ghost(1, S));
	   break
#else
	   OP(present[1] = 1; T("@%d group 1 present (start %d)\n", me, S));
	   OP(if
#ifdef OLD_SAMEGEN
	      :: floor == fw -> ok = 1; made_ghost(1, S)  /* checked, not raised */
#else
	      :: floor == fw -> floor = FW(FPOS(fw), FGEN(fw) + 1); ok = 1; made_ghost(1, S)
#endif
#ifdef OLD_NORETRY
	      :: else -> ok = 1; made_ghost(1, S)       /* keeps S */
#else
	      :: else -> ok = 0
#endif
	      fi);
	   if
	   :: ok -> break
	   :: else -> OP(present[1] = 0; T("@%d floor moved: again\n", me)); d_step { CLEAR_TEMPS; S = 0; fw = 0 }
	   fi
#endif
	od;
	goto out;
crashed:
	skip;
out:
	skip
}

init {
	byte s;
	atomic {
		s = 0;
		do
		:: s < CAP ->
			seq[s] = SW(s, 0);
			gw[0 * CAP + s] = GW(s, 0, 0);
			gw[1 * CAP + s] = GW(s, 0, 0);
			s++
		:: else -> break
		od;
		present[0] = 1;
		present[1] = WITH_B1 && !LATE_B;
		present[G_L] = WITH_L;
		made[0] = 1;
		made[1] = WITH_B1 && !LATE_B;
		floor = FW(0, 0);
		alive[E_P] = 1; run producer();
		alive[E_A1] = 1; run consumer(E_A1, 0);
		if :: WITH_A2 -> alive[E_A2] = 1; run consumer(E_A2, 0) :: else fi;
		if :: WITH_B1 -> alive[E_B1] = 1; run consumer(E_B1, 1) :: else fi;
		if :: WITH_B2 -> alive[E_B2] = 1; run consumer(E_B2, 1) :: else fi;
		if :: WITH_L -> alive[E_L] = 1; run lossy() :: else fi;
		if :: LATE_B -> alive[E_C] = 1; run creator() :: else fi
	}
}
