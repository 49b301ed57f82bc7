"""The tags a machine's states may carry: the one vocabulary the YAML is written in and the engine
reads. Code asks "is this state protected?", never "is it `open` or `partial_tp`?", so a machine may
rename or add states freely as long as it tags them.

What each tag promises is said in machines/position.yaml and machines/bot.yaml; the loader checks the promises it can
(`validate`: exactly the terminal states end, every exposed state can reach an emergency one) and
the event contract checks the rest (`contract`: which events arrive in states of which tag).
"""

from __future__ import annotations

from enum import StrEnum


class Tag(StrEnum):
    INFLIGHT = "inflight"  # an order is out and its answer is awaited
    EXPOSED = "exposed"  # the venue may hold a position for it
    PROTECTED = "protected"  # exposed with a resting stop-loss
    EMERGENCY = "emergency"  # being flattened by any means
    TERMINAL = "terminal"  # done: nothing more happens to it
    ENTRY = "entry"  # its entry order is out
    EXIT = "exit"  # its closing order is out
    RESTING = "resting"  # its LIMIT entry rests on the order book until a deadline (fills may come in parts)
    CANCELLING = "cancelling"  # the cancel of its resting entry is out: the venue's confirmation arrives here
    # the bot's own machine (machines/bot.yaml)
    ENTRIES = "entries"  # new entries are allowed in this state
    FLATTENING = "flattening"  # every position is being flattened; the machine leaves once all are flat
    LATCHED = "latched"  # stays until an explicit command (rearm), across restarts
