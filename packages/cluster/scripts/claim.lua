-- Claims a room that admits one session per user, for one session of the user.
-- KEYS[1]: the room's claims hash (user -> claim); ARGV[1]: the user; ARGV[2]: the claim, JSON [node, session].
-- Returns 1 when that session holds the claim now (it did already, or nobody did), 0 when another does.
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held and held ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
