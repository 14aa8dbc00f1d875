/*
 * message.c - the demo's messages: their checksums, the order generator
 * (every field of an order follows from its id, so the order is its own
 * log and the sink can recompute it) and the worker's risk check.
 */
#include <string.h>

#include "demo.h"

/* FNV-1a, 64 bits: enough to catch a torn or misplaced record. */
static uint64_t checksum(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t order_checksum(const struct order *o)
{
	return checksum(o, offsetof(struct order, checksum));
}

uint64_t fill_checksum(const struct fill *f)
{
	return checksum(f, offsetof(struct fill, checksum));
}

/* splitmix64: the order's fields are a pure function of its id. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

void make_order(struct order *o, uint64_t id, uint32_t gateway,
		       bool poison, uint64_t sent_ns)
{
	uint64_t r = mix(id);

	memset(o, 0, sizeof(*o));
	o->type = MSG_ORDER;
	o->gateway = gateway;
	o->order_id = id;
	o->client_id = (uint32_t)(r % 5000u);
	o->side = (r >> 13) & 1u ? SIDE_SELL : SIDE_BUY;
	o->price = 100 * PRICE_SCALE + (int64_t)((r >> 16) % (20u * PRICE_SCALE));
	o->quantity = 1u + (uint32_t)((r >> 40) % 1000u);
	o->flags = poison ? ORDER_POISON : 0u;
	o->sent_ns = sent_ns;
	o->checksum = order_checksum(o);
}

void risk_check(const struct order *o, int64_t *notional,
		       uint32_t *status)
{
	*notional = o->price * (int64_t)o->quantity;
	*status = *notional > NOTIONAL_LIMIT ? FILL_REJECTED : FILL_ACCEPTED;
}
