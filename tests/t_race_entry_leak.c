/* A message that kills every consumer that takes it must not use up the participant table: with 4 entries, 12 consumers in turn die holding the same message (inside ipcq_recv, or holding an ipcq_peek), each adopted by the next; every attach succeeds and a live consumer finally gets it. */
#include "testutil.h"

enum { CAP = 8, MAX = 64, LEN = 40, NKIDS = 12, PARTICIPANTS = 4 };

#define HOLD_QNAME "entryleak"
#define HOLD_TEST "t_race_entry_leak"
#define HOLD_LIMIT 60
#define HOLD_LAST_MIN 2
#include "holders.h"

static void hold_config(struct ipcq_config *cfg)
{
	(void)cfg; /* 4 entries for 12 consumers: PARTICIPANTS */
}

static void hold_attach_failed(unsigned k)
{
	SOFT_FAIL("consumer %u of %u: ipcq_attach returned %d (%s) with %u entries:"
		  " the entries of the %u consumers that died holding the message were"
		  " never freed", k + 1, NKIDS, st->attach_rc[k],
		  ipcq_strerror(st->attach_rc[k]), PARTICIPANTS, k);
}

static void hold_check_delivery(unsigned k, const struct ipcq_msginfo *mi, uint32_t prev)
{
	if (mi->deliveries <= prev ||
	    (mi->deliveries > 1) != ((mi->flags & IPCQ_MSG_REDELIVERED) != 0))
		SOFT_FAIL("consumer %u: deliveries %u flags %#x after %u", k + 1,
			  mi->deliveries, mi->flags, prev);
}
