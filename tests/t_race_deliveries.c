/* The delivery count of a message that keeps killing its consumers saturates instead of wrapping: with no side ring and max_deliveries 255, 260 consumers in turn die holding one message (inside ipcq_recv, or holding an ipcq_peek); every delivery after the first is flagged IPCQ_MSG_REDELIVERED with deliveries > 1, never reported as a first one again. */
#include "testutil.h"

enum { CAP = 8, MAX = 64, LEN = 40, NKIDS = 260, PARTICIPANTS = NKIDS + 8 };

#define HOLD_QNAME "deliveries"
#define HOLD_TEST "t_race_deliveries"
#define HOLD_LIMIT 120
#define HOLD_LAST_MIN 255
#include "holders.h"

static void hold_config(struct ipcq_config *cfg)
{
	/* room for every dead consumer's entry (PARTICIPANTS): this test is
	 * about the count, not about freeing entries (t_race_entry_leak) */
	cfg->side_capacity = 0; /* nowhere to quarantine it: delivered again and again */
}

static void hold_attach_failed(unsigned k)
{
	SOFT_FAIL("consumer %u of %u: ipcq_attach returned %d (%s)", k + 1, NKIDS,
		  st->attach_rc[k], ipcq_strerror(st->attach_rc[k]));
}

static void hold_check_delivery(unsigned k, const struct ipcq_msginfo *mi, uint32_t prev)
{
	/* delivery k + 1: counted up to 255 at least, then saturated */
	uint32_t want = k + 1 < 255 ? k + 1 : 255;
	if (k > 0 && (mi->deliveries < want || !(mi->flags & IPCQ_MSG_REDELIVERED)))
		SOFT_FAIL("delivery %u of the same message reported deliveries %u flags %#x"
			  " (the one before: %u): %s", k + 1, mi->deliveries, mi->flags, prev,
			  mi->deliveries <= 1 ? "the count wrapped, a redelivery passed for a"
			  " first delivery" : "expected the count to go on (saturating at 255),"
			  " flagged IPCQ_MSG_REDELIVERED");
	else if (k == 0 && mi->deliveries != 1)
		SOFT_FAIL("first delivery reported deliveries %u", mi->deliveries);
}
