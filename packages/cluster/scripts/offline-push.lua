-- Keeps a direct message for a user until it is acknowledged or expires, unless the user's queue is
-- full, and tells every node (which sends it to the user's connections there).
-- KEYS: order (zset id → arrival), expiry (zset id → expiry ms), messages (hash id → JSON), seq
-- ARGV: id, message JSON, expires at (ms), now (ms), max per user, channel, notice JSON
local order, expiry, messages, seq = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
for _, id in ipairs(redis.call('ZRANGEBYSCORE', expiry, '-inf', ARGV[4])) do
  redis.call('ZREM', order, id)
  redis.call('ZREM', expiry, id)
  redis.call('HDEL', messages, id)
end
if redis.call('ZCARD', order) >= tonumber(ARGV[5]) then return 0 end
redis.call('ZADD', order, redis.call('INCR', seq), ARGV[1])
redis.call('ZADD', expiry, ARGV[3], ARGV[1])
redis.call('HSET', messages, ARGV[1], ARGV[2])
-- The user's keys live as long as the newest message in them.
local ttl = tonumber(ARGV[3]) - tonumber(ARGV[4])
for _, key in ipairs(KEYS) do
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
redis.call('PUBLISH', ARGV[6], ARGV[7])
return 1
