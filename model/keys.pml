/*
 * model/keys.pml - per-key order (IPCQ_CF_KEYED) in ack mode, as lib/lease.c
 * does it: the key gate (G1 over the ring, K1 key_done, G2 over the lease
 * pool), parking (K2, L4, L7, the re-check K3), the wake-ups (K4 and the
 * consumers' look at the pool, ipcq__lease_due()), taking a parked or given
 * back entry (L6), ack (L3), nack (L4), and recovery of a dead consumer's
 * keyed work: its reserved entry freed, its leases taken over (L9) with
 * their source slot released (release_source) and given back, its claim of
 * a ring slot adopted by another consumer.
 *
 * Participants: a producer (never dies here: its crashes are ipcq.pml's),
 * two ack-mode consumers with prefetch 1 (entries 0 and 1), either of which
 * may die at any step (CRASHES, 1 by default), and a recoverer (2) that
 * runs its pass at any moment a dead consumer holds work.  The ring has 2
 * slots and carries 3 messages over two laps, keys K K K (KEY2=0) or
 * K K J (KEY2=1); the lease pool has 3 entries.
 *
 * Properties:
 *   - at each delivery of message m, every earlier message of its key has
 *     been acked (order, and never two consumers at once);
 *   - a message delivered before is delivered again only with the
 *     redelivered mark, and never while a live consumer still holds it;
 *   - end state: every message acked, nobody waiting (a lost wake-up or a
 *     gate that never opens is an invalid end state).
 *
 * Old rules, each of which must fail:
 *   OLD_NO_G1      the gate looks at the lease pool only: a message of the
 *                  key claimed from the ring but not yet in a lease is passed
 *   OLD_G2_OWNED   the pool look counts OWNED entries only: a message given
 *                  back (nacked, parked, recovered) is passed
 *   OLD_NO_K3      the parker does not look at its gate again after it is
 *                  counted: a gate opened by an acker that saw no parked
 *                  entry stays unseen, and the consumers wait for ever
 *   OLD_STALE_PARK a consumer parks an entry given back unparked on the
 *                  verdict of its look, without asking again once it holds
 *                  it: a message taken, delivered and nacked meanwhile is
 *                  parked, and its next delivery loses the redelivered mark
 *   OLD_LATE_KH1   an entry is counted in key_held after its release (R2)
 *                  instead of before its L1: G2 skips the pool while a
 *                  message of the key sits in it uncounted
 */

#ifndef CRASHES
#define CRASHES 1
#endif
#ifndef KEY2
#define KEY2 0
#endif
#ifndef CRASHABLE
#define CRASHABLE 2             /* bit i: consumer i may die (they are alike) */
#endif
#ifndef NACKS
#define NACKS 1
#endif

#ifndef NMSG
#define NMSG 3                  /* 2 or 3 */
#endif
#define CAP 2
#ifndef NLEASE
#define NLEASE 3                /* 2 or 3 */
#endif
#define RID 2                   /* the recoverer's participant index */
#define NONE 3

#define S_FREE 0                /* slot word states */
#define S_PUB 1
#define S_CLAIMED 2

#define E_FREE 0                /* lease entry states */
#define E_RESERVED 1
#define E_OWNED 2
#define E_REDELIVER 3

/* the ring: each slot word (position of its lap, state, claimer) is one
 * word in C and is read and written here in one step */
byte spos[CAP];
byte sst[CAP];
byte sown[CAP];
byte skey[CAP];                 /* the key word before the tail */
byte smsg[CAP];                 /* the payload: a message number */
byte deq;                       /* control.deq */

/* control words of the keyed queue */
byte key_done;                  /* K1: every position below it released */
byte key_parked;                /* K2: entries parked */
byte delayed;                   /* entries given back but not due (parked) */
byte redeliverable;             /* L7: entries given back */
byte gen;                       /* control.delayed_gen, bumped by K4 */
byte key_held;                  /* KH1/KH2: entries holding a keyed message */

/* the lease pool: state word (state, owner, generation) and the fields the
 * filler stores before L1 */
byte lst[NLEASE];
byte lown[NLEASE];
byte lgen[NLEASE];
byte lkey[NLEASE];
byte lsrc[NLEASE];
byte lmsg[NLEASE];
bool lparked[NLEASE];           /* IPCQ_LEASE_F_PARKED */
bool lredel[NLEASE];            /* the redelivered mark */

bool alive[3];
byte crashes = CRASHES;
byte nacks = NACKS;

/* ghost state */
byte mkey[NMSG];
bool acked[NMSG];
byte delivered[NMSG];
byte holder[NMSG];              /* consumer + 1 holding it delivered */
byte done;

/* One memory operation of the C code (a load, a store, an RMW on a shared
 * word; with the purely local work around it), or a crash instead. */
#define OP(...) \
	if \
	:: atomic { crashes > 0 && ((CRASHABLE >> me) & 1) -> crashes--; alive[me] = false; \
		    printf("@%d CRASH\n", me) }; goto dead \
	:: d_step { __VA_ARGS__ } \
	fi

#define RELEASED(i)     (spos[(i) % CAP] >= (i) + CAP)
#define RING_HAS_DATA   (spos[deq % CAP] == deq && sst[deq % CAP] == S_PUB)
/* a dead consumer's claim that no lease holds (moved_on() is false):
 * another consumer adopts it */
#define HOLDS(j, s)     ((lst[j] == E_OWNED || lst[j] == E_REDELIVER) && lsrc[j] == spos[s])
#if NLEASE > 2
#define MOVED_ON(s)     (HOLDS(0, s) || HOLDS(1, s) || HOLDS(2, s))
#else
#define MOVED_ON(s)     (HOLDS(0, s) || HOLDS(1, s))
#endif
#define ADOPTABLE(s) \
	(sst[s] == S_CLAIMED && sown[s] < 2 && !alive[sown[s]] && !MOVED_ON(s))
#define ANY_ADOPTABLE   (ADOPTABLE(0) || ADOPTABLE(1))
#define DEAD_ENTRY(j) \
	((lst[j] == E_RESERVED || lst[j] == E_OWNED) && lown[j] < 2 && !alive[lown[j]])
#if NLEASE > 2
#define DEAD_WORK       (DEAD_ENTRY(0) || DEAD_ENTRY(1) || DEAD_ENTRY(2))
#else
#define DEAD_WORK       (DEAD_ENTRY(0) || DEAD_ENTRY(1))
#endif
/* ipcq__lease_due() without retry delays: an entry due at once, or parked
 * ones and a delayed_gen moved since our last look */
#define LEASE_DUE       (redeliverable > delayed || delayed > 0 && gen != seen)

/* K4, key_moved(): after our release or free, a look at key_parked
 * (after the full fence), and a bump of delayed_gen if any are parked */
inline key_moved() {
	OP(kpl = key_parked);
	if
	:: kpl > 0 -> OP(gen = (gen + 1) % 8; printf("@%d K4 bumps delayed_gen\n", me))
	:: else -> skip
	fi
}

/* key_gate_open(e): G1, then G2.  open is the verdict. */
inline key_gate(e) {
	OP(p = lsrc[e]; k = lkey[e]; open = true);  /* ours, or a look */
#ifndef OLD_NO_G1
	/* G1: no position below p claimed but not released holds key k */
	OP(kd = key_done;                       /* K1: acquire */
	   from = kd;
	   if
	   :: p >= CAP && from + CAP <= p -> from = p - CAP + 1
	   :: else -> skip
	   fi;
	   prefix = from;
	   i = from);
	do
	:: i < p ->
		OP(w1 = spos[i % CAP] * 4 + sst[i % CAP]);  /* A2-like */
		if
		:: w1 / 4 >= i + CAP ->                 /* released */
			d_step {
				if
				:: prefix == i -> prefix = i + 1
				:: else -> skip
				fi;
				i++
			}
		:: else ->
			OP(sk = skey[i % CAP]);         /* relaxed */
			OP(w2 = spos[i % CAP] * 4 + sst[i % CAP]);  /* F2, re-read */
			if
			:: w1 != w2 -> skip             /* released meanwhile: again */
			:: else ->
				if
				:: sk == k -> open = false; break
				:: else -> i++
				fi
			fi
		fi
	:: else -> break
	od;
	if
	:: open && prefix > kd ->
		OP(if :: key_done == kd -> key_done = prefix :: else -> skip fi)  /* K1 CAS */
	:: else -> skip
	fi;
#endif
	/* G2: no other entry, OWNED or REDELIVER, holds key k from below p;
	 * read only when key_held counts another entry than ours */
	j2 = 0;
#ifndef NO_KEY_HELD
	if
	:: open -> OP(if :: key_held <= 1 -> j2 = NLEASE :: else -> skip fi)  /* KH1 */
	:: else -> skip
	fi;
#endif
	do
	:: open && j2 < NLEASE ->
		if
		:: j2 != e ->
			OP(st2 = lst[j2]);              /* L2 */
#ifdef OLD_G2_OWNED
			if
			:: st2 == E_OWNED ->
#else
			if
			:: st2 == E_OWNED || st2 == E_REDELIVER ->
#endif
				OP(if                   /* relaxed: key, src_pos */
				   :: lkey[j2] == k && lsrc[j2] < p -> open = false
				   :: else -> skip
				   fi)
			:: else -> skip
			fi
		:: else -> skip
		fi;
		j2++
	:: else -> break
	od
}

/* hint_dec() */
#define HINT_DEC(c)     if :: c > 0 -> c-- :: else -> skip fi

proctype Producer() {
	byte m = 0, s;
	do
	:: m < NMSG ->
		s = m % CAP;
		(spos[s] == m && sst[s] == S_FREE);     /* A1: free for m */
		d_step {
			skey[s] = mkey[m]; smsg[s] = m; /* key and payload, */
			sst[s] = S_PUB                  /* then R1: publish */
		}
		m++
	:: else -> break
	od
}

proctype Consumer(byte me) {
	byte e, j, i, p, k, kd, from, prefix, w1, w2, sk, st2, j2, kpl, m, s, g, seen, wgen, lsj;
	bool open, took, adopted, look;

	do
	:: done == NMSG -> break
	:: else ->
again:
		skip;
		/* dead locals forgotten: fewer states */
		d_step {
			i = 0; k = 0; kd = 0; from = 0; prefix = 0; w1 = 0; w2 = 0;
			sk = 0; st2 = 0; j2 = 0; kpl = 0; m = 0; s = 0; g = 0; wgen = 0;
			lsj = 0; j = 0; p = 0; e = 0; open = false; took = false; adopted = false
		}
		/* take_redeliverable(), when the pool is worth a look, or
		 * once a grace period has passed (q->look_pool) */
		if
		:: look || redeliverable > 0 && LEASE_DUE ->
			look = false;
			OP(g = 0;
			   if
			   :: delayed > 0 -> g = gen    /* acquire */
			   :: else -> skip
			   fi;
			   took = false;
			   j = 0);
			do
			:: j < NLEASE ->
				OP(wgen = lgen[j]; lsj = lst[j]);  /* L2: a look */
				if
				:: lsj == E_REDELIVER ->
					e = j;
					key_gate(e);
					if
					:: open ->
						OP(if           /* L6 */
						   :: lst[j] == E_REDELIVER && lgen[j] == wgen ->
							lst[j] = E_OWNED; lown[j] = me; took = true
						   :: else -> skip
						   fi);
						if
						:: took -> break
						:: else -> skip
						fi
					:: else ->
#ifndef OLD_NO_REPARK
						/* closed, and given back unparked (its
						 * holder died before its gate): L6, then
						 * park it */
						if
						:: !lparked[j] ->       /* a look */
							OP(if           /* L6 */
							   :: lst[j] == E_REDELIVER && lgen[j] == wgen ->
								lst[j] = E_OWNED; lown[j] = me; took = true
							   :: else -> skip
							   fi);
							if
							:: took ->
								/* ours: ask again (the look may be stale) */
#ifndef OLD_STALE_PARK
								key_gate(e);
#else
								open = false;
#endif
								if
								:: !open ->
									OP(HINT_DEC(redeliverable));
									goto park
								:: else ->
									OP(lst[e] = E_REDELIVER; lown[e] = NONE);  /* L4: back */
									took = false
								fi
							:: else -> skip
							fi
						:: else -> skip
						fi
#else
						skip
#endif
					fi
				:: else -> skip
				fi;
				j++
			:: else -> break
			od;
			if
			:: took ->
				/* parked: counted no more, first delivery; else the
				 * redelivered mark; one fewer given back (hint_dec) */
				OP(if
				   :: lparked[e] ->
					HINT_DEC(delayed); HINT_DEC(key_parked); lparked[e] = false
				   :: else -> lredel[e] = true
				   fi;
				   HINT_DEC(redeliverable);
				   printf("@%d L6 takes entry %d (message %d)\n", me, e, lmsg[e]));
				goto deliver
			:: else -> seen = g
			fi
		:: else -> skip
		fi;
		/* reserve(): L5 */
		OP(e = NONE;
		   if
		   :: lst[0] == E_FREE -> e = 0
		   :: lst[1] == E_FREE -> e = 1
#if NLEASE > 2
		   :: lst[2] == E_FREE -> e = 2
#endif
		   :: else -> skip
		   fi;
		   if
		   :: e != NONE -> lst[e] = E_RESERVED; lown[e] = me
		   :: else -> skip
		   fi);
		if
		:: e == NONE -> goto wait               /* a full pool: -EAGAIN */
		:: else -> skip
		fi;
		/* the claim: a dead consumer's claim first (adoption, T1), or
		 * the next position (C1) */
		OP(p = NONE;
		   if
		   :: ADOPTABLE(0) -> s = 0; p = spos[0]; sown[0] = me; adopted = true
		   :: ADOPTABLE(1) -> s = 1; p = spos[1]; sown[1] = me; adopted = true
		   :: RING_HAS_DATA ->
			s = deq % CAP; p = deq; sst[s] = S_CLAIMED; sown[s] = me;
			deq++; adopted = false
		   :: else -> skip
		   fi;
		   if
		   :: p != NONE -> printf("@%d C1 claims position %d (message %d), adopted %d\n", me, p, smsg[s], adopted)
		   :: else -> skip
		   fi);
		if
		:: p == NONE ->
			OP(lst[e] = E_FREE; lgen[e] = (lgen[e] + 1) % 4; lown[e] = NONE);  /* unreserve */
			goto wait
		:: else -> skip
		fi;
		/* lease_fill(): KH1, then L1 */
#ifndef OLD_LATE_KH1
		OP(key_held++);
#endif
		OP(lkey[e] = skey[s]; lsrc[e] = p; lmsg[e] = smsg[s];
		   lredel[e] = adopted; lparked[e] = false;
		   lst[e] = E_OWNED;
		   printf("@%d L1 fills entry %d\n", me, e));
		/* R2: the release */
		OP(spos[s] = p + CAP; sst[s] = S_FREE; sown[s] = NONE;
		   printf("@%d R2 releases position %d\n", me, p));
#ifdef OLD_LATE_KH1
		OP(key_held++);
#endif
		key_moved();                            /* a slot released */
		/* crash point key.gate: here, as before every OP */
		key_gate(e);
		if
		:: !open ->
park:			/* park(e) */
			OP(lparked[e] = true; printf("@%d gate closed: parks entry %d\n", me, e));
			OP(key_parked++; delayed++);        /* K2 */
			OP(lst[e] = E_REDELIVER; lown[e] = NONE;  /* L4 */
			   printf("@%d L4 entry %d parked\n", me, e));
			/* crash point lease.given_back */
			OP(redeliverable++);                /* L7 */
			/* crash point key.parked */
#ifndef OLD_NO_K3
			key_gate(e);                        /* K3 */
			if
			:: open -> key_moved()
			:: else -> skip
			fi;
#endif
			goto again
		:: else -> skip
		fi;
deliver:
		skip;
		/* hand_out(): the properties */
		d_step {
			m = lmsg[e];
			assert(delivered[m] == 0 || lredel[e]);
			assert(holder[m] == 0 || !alive[holder[m] - 1]);
			j = 0;
			do
			:: j < m ->
				assert(mkey[j] != mkey[m] || acked[j]);
				j++
			:: else -> break
			od;
			delivered[m]++;
			holder[m] = me + 1;
			printf("@%d delivers message %d (key %d), redelivered %d\n", me, m, mkey[m], lredel[e])
		}
		if
		:: nacks > 0 ->
			/* ipcq_nack(): requeue (L4, then L7) */
			OP(nacks--; lst[e] = E_REDELIVER; lown[e] = NONE; holder[m] = 0;
			   printf("@%d nack: L4 entry %d\n", me, e));
			OP(redeliverable++)
		:: true ->
			/* ipcq_ack(): L3, then K4 */
			OP(lst[e] = E_FREE; lgen[e] = (lgen[e] + 1) % 4; lown[e] = NONE;
			   acked[m] = true; done++; holder[m] = 0;
			   printf("@%d ack: L3 entry %d (message %d)\n", me, e, m));
			OP(HINT_DEC(key_held));             /* KH2 */
			key_moved()
		fi;
		goto next;
wait:
		/* the blocking receive sleeps until one of these holds (W1-W4;
		 * a dead consumer's claim is found once the grace period is
		 * over), or a grace period passes with nothing moving */
		if
		:: (done == NMSG || RING_HAS_DATA || ANY_ADOPTABLE ||
		    redeliverable > 0 && LEASE_DUE) -> skip
#ifndef NO_GRACE_LOOK
		:: timeout -> look = true; printf("@%d a grace period: looks at the pool\n", me)
#endif
		fi;
next:
		skip
	od;
dead:
	skip
}

/* Recovery of the leases of dead consumers (ipcq__lease_recover()),
 * and the K4 after it (recovery.c).  It never dies here. */
proctype Recoverer() {
	byte j, st, o, w, src, s;
	bool took, acted;

	do
	:: done == NMSG -> break
	:: timeout && DEAD_WORK ->              /* the grace period */
		acted = false;
		j = 0;
		do
		:: j < NLEASE ->
			d_step { st = lst[j]; o = lown[j]; w = lgen[j] }   /* L2 */
			if
			:: st == E_RESERVED && o < 2 && !alive[o] ->
				d_step {                        /* L3 */
					if
					:: lst[j] == st && lown[j] == o && lgen[j] == w ->
						lst[j] = E_FREE; lgen[j] = (lgen[j] + 1) % 4; lown[j] = NONE; acted = true
					:: else -> skip
					fi
				}
			:: st == E_OWNED && o < 2 && !alive[o] ->
				took = false;
				d_step {                        /* L9 */
					if
					:: lst[j] == st && lown[j] == o && lgen[j] == w ->
						lown[j] = RID; took = true; acted = true;
						printf("@2 L9 takes dead entry %d over\n", j)
					:: else -> skip
					fi
				}
				if
				:: took ->
					src = lsrc[j]; s = src % CAP;
					d_step {                /* release_source() */
						if
						:: spos[s] == src && sst[s] == S_CLAIMED ->
							spos[s] = src + CAP; sst[s] = S_FREE; sown[s] = NONE
						:: else -> skip
						fi
					}
					d_step { lst[j] = E_REDELIVER; lown[j] = NONE }  /* L4 */
					redeliverable++                  /* L7 */
				:: else -> skip
				fi
			:: else -> skip
			fi;
			j++
		:: else -> break
		od;
		if
		:: acted ->
			if                              /* K4 */
			:: key_parked > 0 -> gen = (gen + 1) % 8
			:: else -> skip
			fi
		:: else -> skip
		fi
	od
}

init {
	atomic {
		spos[0] = 0; spos[1] = 1;
		sown[0] = NONE; sown[1] = NONE;
		lown[0] = NONE; lown[1] = NONE;
#if NLEASE > 2
		lown[2] = NONE;
#endif
		mkey[0] = 1; mkey[1] = 1;
#if NMSG > 2
		mkey[2] = 1 + KEY2;
#endif
		alive[0] = true; alive[1] = true; alive[2] = true;
		run Producer();
		run Consumer(0);
		run Consumer(1);
		run Recoverer()
	}
}
