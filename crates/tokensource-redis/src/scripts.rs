//! The Lua scripts that make compare-and-set and compare-and-delete atomic in Redis.
//!
//! Values are compared whole: the token is encrypted with a random nonce, so only the process
//! that read a value can recognize it, and the scripts check that it is still there. A value
//! that is missing, of another Redis type or longer than the cap reads as the empty string, in
//! the scripts and in [`READ`] alike, so every kind of foreign content can be overwritten.

use std::sync::LazyLock;

use redis::Script;

/// `KEYS[1]` token key; `ARGV[1]` length cap. Returns the value, or `""`.
pub(crate) static READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.pcall('GET', KEYS[1])
if type(v) ~= 'string' or #v > tonumber(ARGV[1]) then return '' end
return v
",
    )
});

/// `KEYS[1]` token key; `ARGV[1]` length cap, `ARGV[2]` the value expected (as [`READ`] returns
/// it), `ARGV[3]` the new value, `ARGV[4]` its time to live in milliseconds, `ARGV[5]` the change
/// channel. Returns `{1, ""}` when set (and announced), or `{0, current}` with the value found
/// instead (as [`READ`] would return it), so that the caller can judge it without another round
/// trip.
pub(crate) static COMPARE_AND_SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.pcall('GET', KEYS[1])
if type(v) ~= 'string' or #v > tonumber(ARGV[1]) then v = '' end
if v ~= ARGV[2] then return {0, v} end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
redis.call('PUBLISH', ARGV[5], '1')
return {1, ''}
",
    )
});

/// `KEYS[1]` token key; `ARGV[1]` length cap, `ARGV[2]` the value expected. Returns 1 when
/// deleted, 0 when the value was no longer the one expected.
pub(crate) static COMPARE_AND_DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.pcall('GET', KEYS[1])
if type(v) ~= 'string' or #v > tonumber(ARGV[1]) then v = '' end
if v ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
return 1
",
    )
});

/// `KEYS[1]` lease key; `ARGV[1]` lease id, `ARGV[2]` the change channel. Deletes the lease if
/// it is still that one and announces it (waiters may take it); returns how many keys were
/// deleted.
pub(crate) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.pcall('GET', KEYS[1]) == ARGV[1] then
  local n = redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], '1')
  return n
end
return 0
",
    )
});

/// `KEYS[1]` lease key; `ARGV[1]` lease id, `ARGV[2]` the new time to live in milliseconds.
/// Extends the lease if it is still that one; returns 1 if so, 0 if it was lost.
pub(crate) static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.pcall('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
",
    )
});

/// `KEYS[1]` failure key; `ARGV[1]` the sealed record, `ARGV[2]` its time to live in
/// milliseconds, `ARGV[3]` the change channel. Stores the record and announces it.
pub(crate) static RECORD_FAILURE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], '1')
return 1
",
    )
});
