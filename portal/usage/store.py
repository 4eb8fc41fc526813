"""The shared usage buffer on Redis, and how flushers claim batches from it.

Calls wait in one list. A flusher claims a batch atomically (a Lua script
moves up to N calls from the list to a batch of its own, named by a random
id, and notes the claim's time), folds the batch into the database in one
transaction that also records the batch id, and only then deletes the batch.
A flusher killed at any point leaves its batch claimed; once the claim is
older than ``USAGE_CLAIM_TIMEOUT_SECONDS`` another flusher takes it over, and
the recorded batch id tells it whether the first one had committed.
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache

_CLAIM = """
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items == 0 then return {} end
redis.call('LTRIM', KEYS[1], #items, -1)
for i = 1, #items, 1000 do
  redis.call('RPUSH', KEYS[3], unpack(items, i, math.min(i + 999, #items)))
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return items
"""

# Take over a claim only if it is still as old as the caller saw it.
_TAKE_OVER = """
local at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not at or tonumber(at) > tonumber(ARGV[2]) then return false end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return redis.call('LRANGE', KEYS[2], 0, -1)
"""

# Push a chunk of calls once: a retry of a chunk whose first push reached
# Redis but whose reply was lost (a crash, a cut connection) finds its mark
# and pushes nothing. ARGV[1] is the mark's lifetime, the rest the calls.
_PUSH_ONCE = """
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then return 0 end
for i = 2, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return 1
"""
# How long a chunk's mark is kept: longer than any retry of it waits.
CHUNK_MARK_SECONDS = 6 * 3600

_scripts: dict = {}


def _client():
    from django_redis import get_redis_connection

    return get_redis_connection("default")


def _key(name: str) -> str:
    return cache.make_key(f"usage:{name}")


def _script(name: str, source: str):
    if name not in _scripts:
        _scripts[name] = _client().register_script(source)
    return _scripts[name]


def redis_push(raw_calls: list[str]) -> bool:
    """Append the calls to the shared list, once per chunk.

    The chunk is named by a digest of its calls (each carries its request
    id), so pushing the very same chunk again is a no-op: False.
    """
    digest = hashlib.blake2b("\n".join(raw_calls).encode(), digest_size=16)
    pushed = _script("push_once", _PUSH_ONCE)(
        keys=[_key("pending"), _key(f"chunk:{digest.hexdigest()}")],
        args=[CHUNK_MARK_SECONDS, *raw_calls],
    )
    return bool(pushed)


def pending() -> int:
    return int(_client().llen(_key("pending")))


def claim(batch_id: str, limit: int, now: float) -> list[bytes]:
    return _script("claim", _CLAIM)(
        keys=[_key("pending"), _key("claims"), _key(f"batch:{batch_id}")],
        args=[limit, now, batch_id],
    )


def stale_claims(older_than: float) -> list[str]:
    found = _client().zrangebyscore(_key("claims"), "-inf", older_than)
    return [b.decode() for b in found]


def take_over(batch_id: str, seen_before: float, now: float) -> list[bytes] | None:
    items = _script("take_over", _TAKE_OVER)(
        keys=[_key("claims"), _key(f"batch:{batch_id}")],
        args=[batch_id, seen_before, now],
    )
    return None if items is None else list(items)


def release(batch_id: str) -> None:
    """The batch is in the database: forget it."""
    pipe = _client().pipeline(transaction=True)
    pipe.delete(_key(f"batch:{batch_id}"))
    pipe.zrem(_key("claims"), batch_id)
    pipe.execute()
