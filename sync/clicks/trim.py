"""Trimming the click stream: exactly, atomically, and in the drain's acknowledgement path.

Why not ``XTRIM MINID ~`` every few seconds (what the drain did until issue 12): Valkey caps an
approximate trim at 100 stream nodes (10,000 entries) per call, so above ~2,000 clicks/s the
stream grew without bound. See docs/decisions/0008-bounded-click-stream.md.

The script runs in the same MULTI as the batch's XACK (and alone, periodically, for a stream
with nothing to acknowledge). It computes the floor from every consumer group of the stream —
the lower of the group's last delivered id and its oldest pending entry — and removes exactly
the entries below it. Being a script, nothing can be delivered or claimed between computing
the floor and trimming, so no unacknowledged entry is ever removed. A stream no group reads
is never trimmed.

With click stream shards (REDIS_PARTITIONS > 1) there is one Trimmer per shard: each shard has
its own groups, so each floor is exact for its shard.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.cluster import ClusterPipeline

from core import keys

# Ids are compared as strings of decimal digits (shorter is smaller; equal lengths compare
# lexicographically): exact for 64-bit parts, which Lua's doubles are not.
_TRIM = """
local function less_part(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local function less(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  if ams ~= bms then return less_part(ams, bms) end
  return less_part(aseq, bseq)
end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local floor = nil
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, low
  for i = 1, #group, 2 do
    if group[i] == 'name' then name = group[i + 1] end
    if group[i] == 'last-delivered-id' then low = group[i + 1] end
  end
  local pending = redis.call('XPENDING', KEYS[1], name)
  if pending[1] > 0 and less(pending[2], low) then low = pending[2] end
  if floor == nil or less(low, floor) then floor = low end
end
if floor == nil or floor == '0-0' then return 0 end
return redis.call('XTRIM', KEYS[1], 'MINID', floor)
"""


class Trimmer:
    def __init__(self, client: redis.Redis, stream: str = keys.CLICK_STREAM) -> None:
        self.stream = stream
        self._script = client.register_script(_TRIM)

    def queue(self, pipe: redis.client.Pipeline) -> None:
        """Trim as part of ``pipe`` (after its XACK, in the same MULTI; on a cluster in the same
        pipeline to the stream's master, after the XACK there)."""
        if isinstance(pipe, ClusterPipeline):
            # redis-py's cluster pipeline cannot load a script a master lacks (a promoted
            # replica has an empty script cache): the script's text, a few hundred bytes.
            pipe.execute_command("EVAL", _TRIM, 1, self.stream)
            return
        self._script(keys=[self.stream], args=[], client=pipe)

    def __call__(self, client: redis.Redis | None = None) -> int:
        """Trim now; returns how many entries were removed."""
        removed: Any = self._script(keys=[self.stream], args=[], client=client)
        return int(removed)
