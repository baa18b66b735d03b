-- Removes a dead node from the node list, unless it has beaten again since it was found dead.
-- KEYS: nodes
-- ARGV: node, the latest heartbeat time (ms) that still counts as dead
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= tonumber(ARGV[2]) then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
