-- After a reconnect: is the room's sequence still the one a node follows? Answers 1 when it is.
-- A sequence that went back (Redis restarted from an older snapshot, or failed over to a replica
-- that had not received the latest writes) keeps its epoch but has lost ids that somebody has seen:
-- it is given a new epoch, so that nobody takes the new events for the ones they had.
-- KEYS: meta
-- ARGV: the epoch followed, the last id delivered, a new epoch
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if epoch ~= ARGV[1] then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'head') or '0') >= tonumber(ARGV[2]) then return 1 end
redis.call('HSET', KEYS[1], 'epoch', ARGV[3])
return 0
