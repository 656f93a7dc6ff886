//! Where the cache reads the time.
//!
//! The cache's hot path reads a coarse monotonic clock (about a millisecond of resolution, a few
//! nanoseconds a read): refresh margins are seconds, so this is plenty, and it is several times
//! cheaper than `Instant::now()`. A monotonic clock stops while the machine is suspended, and a
//! token's expiry does not, so [`CoarseClock`] is corrected by a clock that keeps counting
//! (`CLOCK_BOOTTIME` on Linux and Android, the wall clock elsewhere, forward jumps only). Tests
//! swap in [`TokioClock`], which follows `tokio::time::pause` and `advance`, or a
//! [`ManualClock`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// A monotonic clock with millisecond resolution plus the wall-clock time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Milliseconds since an arbitrary, fixed origin. Never goes backwards.
    fn now_millis(&self) -> u64;

    /// The wall-clock time, for absolute expiry times (JWT `exp`, shared stores).
    fn system_time(&self) -> SystemTime;
}

/// How often (in coarse milliseconds) [`CoarseClock`] compares itself with its reference.
const CHECK_EVERY_MS: u64 = 50;

/// The default clock: the operating system's coarse monotonic clock
/// (`CLOCK_MONOTONIC_COARSE` on Linux), plus the time the machine spent suspended, and
/// `SystemTime::now()`.
///
/// Every 50 ms of its own time, whichever reader comes first compares it with a reference
/// that keeps counting through suspend (`CLOCK_BOOTTIME` on Linux and Android; the wall clock
/// elsewhere) and moves it forward by any difference that appeared. It never moves backwards: a
/// wall clock set back is ignored, one set forward only makes tokens refresh early. After a
/// resume the correction lands within 50 ms of the clock's own time.
pub struct CoarseClock {
    origin: coarsetime::Instant,
    reference: fn() -> u64,
    reference_origin: u64,
    check_every: u64,
    /// Time the coarse clock missed (suspend), in milliseconds; only grows.
    offset: AtomicU64,
    /// The coarse time of the next comparison with the reference.
    next_check: AtomicU64,
}

impl Default for CoarseClock {
    fn default() -> Self {
        CoarseClock::with_reference(reference_millis, CHECK_EVERY_MS)
    }
}

impl CoarseClock {
    fn with_reference(reference: fn() -> u64, check_every: u64) -> Self {
        CoarseClock {
            origin: coarsetime::Instant::now(),
            reference,
            reference_origin: reference(),
            check_every,
            offset: AtomicU64::new(0),
            next_check: AtomicU64::new(0),
        }
    }

    #[cold]
    fn check(&self, coarse: u64) {
        let reference = (self.reference)().saturating_sub(self.reference_origin);
        self.offset
            .fetch_max(reference.saturating_sub(coarse), Ordering::Relaxed);
        self.next_check
            .store(coarse.saturating_add(self.check_every), Ordering::Relaxed);
    }
}

impl Clock for CoarseClock {
    #[inline]
    fn now_millis(&self) -> u64 {
        let coarse = coarsetime::Instant::now_without_cache_update()
            .duration_since(self.origin)
            .as_millis();
        if coarse >= self.next_check.load(Ordering::Relaxed) {
            self.check(coarse);
        }
        coarse.saturating_add(self.offset.load(Ordering::Relaxed))
    }

    fn system_time(&self) -> SystemTime {
        SystemTime::now()
    }
}

impl fmt::Debug for CoarseClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoarseClock")
            .field("suspended_ms", &self.offset.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Milliseconds on a clock that keeps counting while the machine is suspended.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn reference_millis() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let millis = u64::try_from(now.tv_nsec).unwrap_or(0) / 1_000_000;
    secs.saturating_mul(1000).saturating_add(millis)
}

/// Milliseconds on a clock that keeps counting while the machine is suspended: the wall clock
/// (since the Unix epoch; a time before it reads as zero, never a panic).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn reference_millis() -> u64 {
    crate::token::unix_millis(SystemTime::now())
}

/// A clock that follows tokio's clock, so `tokio::time::pause()` and `advance()` move it.
///
/// Its wall-clock time is the system time at creation plus tokio's elapsed time, so absolute
/// and monotonic times stay consistent under a paused clock.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: tokio::time::Instant,
    system_origin: SystemTime,
}

impl TokioClock {
    /// A clock whose origin is tokio's "now".
    pub fn new() -> Self {
        TokioClock {
            origin: tokio::time::Instant::now(),
            system_origin: SystemTime::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock::new()
    }
}

impl Clock for TokioClock {
    fn now_millis(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn system_time(&self) -> SystemTime {
        self.system_origin + self.origin.elapsed()
    }
}

/// A clock that moves only when told to.
///
/// ```
/// use std::time::Duration;
/// use tokensource_core::clock::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// clock.advance(Duration::from_secs(2));
/// assert_eq!(clock.now_millis(), 2000);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    millis: Arc<AtomicU64>,
    system_origin: SystemTime,
}

impl ManualClock {
    /// A clock at zero, whose wall-clock time starts at the system time now.
    pub fn new() -> Self {
        ManualClock {
            millis: Arc::new(AtomicU64::new(0)),
            system_origin: SystemTime::now(),
        }
    }

    /// Moves the clock forward (clones share the same time).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        // Saturating: a clock far in the future stays there rather than wrapping.
        let _ = self
            .millis
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |m| {
                Some(m.saturating_add(by))
            });
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.millis.load(Ordering::Acquire)
    }

    fn system_time(&self) -> SystemTime {
        self.system_origin + Duration::from_millis(self.now_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_pause() {
        let clock = TokioClock::new();
        let wall = clock.system_time();
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now_millis(), 90_000);
        assert_eq!(clock.system_time(), wall + Duration::from_secs(90));
    }

    static FAKE_REFERENCE: AtomicU64 = AtomicU64::new(1_000_000);

    fn fake_reference() -> u64 {
        FAKE_REFERENCE.load(Ordering::SeqCst)
    }

    #[test]
    fn coarse_clock_counts_suspended_time_and_never_goes_back() {
        let clock = CoarseClock::with_reference(fake_reference, 0);
        let before = clock.now_millis();
        // The machine sleeps an hour: the reference moves, the coarse clock does not.
        FAKE_REFERENCE.fetch_add(3_600_000, Ordering::SeqCst);
        let after = clock.now_millis();
        assert!(after >= before + 3_600_000, "{before} -> {after}");
        // A reference set back (a wall clock adjusted) never moves the clock back.
        FAKE_REFERENCE.fetch_sub(7_200_000, Ordering::SeqCst);
        assert!(clock.now_millis() >= after);
    }

    #[test]
    fn the_reference_clock_reads() {
        let a = reference_millis();
        assert!(a > 0);
        assert!(reference_millis() >= a);
    }

    #[test]
    fn coarse_clock_is_monotonic() {
        let clock = CoarseClock::default();
        let a = clock.now_millis();
        let b = clock.now_millis();
        assert!(b >= a);
    }
}
