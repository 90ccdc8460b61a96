/* The ledger's ids and clock, the same on every backend (the policy is in
 * stdlib/drun/ledger/): ULIDs, and UTC times as text that sorts as time does.
 * Lua-free. */
#ifndef DRUN_LEDGER_ID_H
#define DRUN_LEDGER_ID_H

/* now + offset seconds: "2026-11-21T21:55:10.123Z" */
int ledger_at(double offset, char out[32]);
int ledger_now(char out[32]);
void ledger_new_id(char out[27]); /* ULID: time-sortable, unique */
#endif
