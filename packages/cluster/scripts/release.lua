-- Lets a claim go, only when that session holds it (a later claim of another session stays).
-- KEYS[1]: the room's claims hash; ARGV[1]: the user; ARGV[2]: the claim, JSON [node, session].
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
