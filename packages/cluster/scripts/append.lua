-- Sequences one batch of a room's events: gives each the room's next id, decides what a session's
-- arrival or departure is from who is in the room on every node, appends them to the room's stream
-- (trimmed to about `maxlen` entries) and answers the id of each (0: not appended). Atomic: every
-- node's batches of the room are ordered here.
-- KEYS: meta, events, sessions, users, order
-- ARGV: epoch ('' = whatever it is), node, maxlen, room (as JSON), now (ms),
--       then per event: kind, session key, session value, tail
--   kind m: a message; j: a session joins; l: a session leaves; c: the node closes its part of the
--   room; x: every session of the node leaves (the node died, or let the room go).
--   session key: JSON [user, session]; session value: JSON [node, user, session].
--   tail: the event's JSON after its `type` (`,"userId":...}`).
local meta, events, sessions, users, order = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local epoch = redis.call('HGET', meta, 'epoch')
if ARGV[1] ~= '' and epoch ~= ARGV[1] then
  return redis.error_reply('SEQUENCE_RESET the sequence of this room is not the one it was opened with')
end
if not epoch then return {} end
local node, maxlen, room, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local head = tonumber(redis.call('HGET', meta, 'head') or '0')
local closed = redis.call('HGET', meta, 'closed') == '1'
-- An entry put in the stream by someone else must not make XADD fail for good: go on after it.
local top = redis.call('XREVRANGE', events, '+', '-', 'COUNT', 1)[1]
if top then
  local major = tonumber(string.match(top[1], '^(%d+)'))
  if major and major > head then head = major end
end

local function add(kind, tail)
  head = head + 1
  -- '%d': Lua would write a large id in exponent notation.
  local id = string.format('%d', head)
  redis.call('XADD', events, 'MAXLEN', '~', maxlen, id .. '-0', 'e',
    '{"id":' .. id .. ',"chatroomId":' .. room .. ',"type":"' .. kind .. '"' .. tail)
  closed = kind == 'close'
  return head
end

local function depart(key, user, tail)
  redis.call('HDEL', sessions, key)
  if redis.call('HINCRBY', users, user, -1) > 0 then return add('remove', tail) end
  redis.call('HDEL', users, user)
  redis.call('ZREM', order, user)
  return add('leave', tail)
end

-- The sessions `node` holds: { key, user, session } each; and how many sessions the room has.
local function held()
  local all = redis.call('HGETALL', sessions)
  local mine = {}
  for i = 1, #all, 2 do
    local value = cjson.decode(all[i + 1])
    if value[1] == node then mine[#mine + 1] = { all[i], value[2], value[3] } end
  end
  return mine, #all / 2
end

local function departAll(mine)
  local last = 0
  for _, s in ipairs(mine) do
    last = depart(s[1], s[2], ',"userId":' .. cjson.encode(s[2]) .. ',"sessionId":' .. cjson.encode(s[3]) .. ',"unixTime":' .. now .. '}')
  end
  return last
end

local out = {}
for i = 6, #ARGV, 4 do
  local kind, key, value, tail = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local id = 0
  if kind == 'm' then
    id = add('message', tail)
  elseif kind == 'j' then
    if redis.call('HSETNX', sessions, key, value) == 1 then
      local user = cjson.decode(value)[2]
      if redis.call('HINCRBY', users, user, 1) == 1 then
        redis.call('ZADD', order, head + 1, user)
        id = add('join', tail)
      else
        id = add('add', tail)
      end
    end
  elseif kind == 'l' then
    local value = redis.call('HGET', sessions, key)
    if value then
      local s = cjson.decode(value)
      if s[1] == node then id = depart(key, s[2], tail) end
    end
  elseif kind == 'c' then
    local mine, total = held()
    if #mine < total then
      id = departAll(mine)
    else
      -- Nobody else is in the room: this node's sessions end with the room's close.
      redis.call('DEL', sessions, users, order)
      if not closed then id = add('close', tail) end
    end
  elseif kind == 'x' then
    id = departAll((held()))
  end
  out[#out + 1] = id
end
redis.call('HSET', meta, 'head', head, 'closed', closed and '1' or '0')
return out
