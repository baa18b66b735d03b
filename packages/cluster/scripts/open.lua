-- Opens a room: creates its epoch when the room is new, and answers where its sequence stands.
-- KEYS: meta, events, users, order
-- ARGV: the epoch for a new room, historySize
-- Returns { epoch, head, history (newest first), members (user, sessions, ...) }
local meta, events, users, order = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', meta, 'epoch', epoch, 'head', 0, 'closed', 0)
end
local head = tonumber(redis.call('HGET', meta, 'head') or '0')
local history = {}
local size = tonumber(ARGV[2])
if size > 0 then history = redis.call('XREVRANGE', events, '+', '-', 'COUNT', size) end
local members = {}
for _, user in ipairs(redis.call('ZRANGE', order, 0, -1)) do
  members[#members + 1] = user
  members[#members + 1] = redis.call('HGET', users, user) or '0'
end
return { epoch, head, history, members }
