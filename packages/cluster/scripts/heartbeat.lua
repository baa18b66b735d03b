-- A node's heartbeat: records it alive at Redis's own clock, and answers whether it was missing
-- (taken for dead and removed) and which nodes have not beaten for `timeout` ms.
-- KEYS: nodes
-- ARGV: node, timeout (ms)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = redis.call('ZADD', KEYS[1], now, ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[2])))
return { added, dead, now }
