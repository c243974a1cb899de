//! Request rate limits per client address and per user, kept in memory per process (each
//! replica limits on its own, which bounds a client at replicas × rate).
//!
//! The buckets are `governor`'s keyed GCRA limiter (a DashMap of one timestamp per key):
//! the common, well-tested choice for in-process rate limiting in Rust, with exact waiting
//! times and no lock shared by unrelated keys. What stays here is the portal's shape of it:
//! a sustained rate with a burst, a retry time for `Retry-After`, and forgetting idle keys.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter as Governor};

/// A sustained rate and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

impl Rate {
    /// governor's form: one request per `1 / per_second`, `burst` at once.
    fn quota(self) -> Quota {
        let period = Duration::from_secs_f64(1.0 / self.per_second.max(1e-6)).max(Duration::from_nanos(1));
        let burst = NonZeroU32::new(self.burst.max(1.0).min(f64::from(u32::MAX)) as u32).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN)).allow_burst(burst)
    }
}

pub struct RateLimiter {
    limiter: Governor<String, DefaultKeyedStateStore<String>, DefaultClock>,
    clock: DefaultClock,
    checks: AtomicU64,
}

/// Every this many checks, keys whose buckets are full again are forgotten.
const FORGET_EVERY: u64 = 10_000;

impl RateLimiter {
    pub fn new(rate: Rate) -> Self {
        let clock = DefaultClock::default();
        Self { limiter: Governor::dashmap_with_clock(rate.quota(), clock.clone()), clock, checks: AtomicU64::new(0) }
    }

    /// Takes one request's place for `key`, or says how long until one is free.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()).min(Duration::from_secs(3600)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_requests_wait() {
        let limiter = RateLimiter::new(Rate { per_second: 1.0, burst: 3.0 });
        assert!(limiter.check("a").is_ok());
        assert!(limiter.check("a").is_ok());
        assert!(limiter.check("a").is_ok());
        let wait = limiter.check("a").unwrap_err();
        assert!(wait > Duration::from_millis(500) && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limiter.check("b").is_ok(), "keys are independent");
    }

    #[test]
    fn slow_rates_wait_their_period() {
        let limiter = RateLimiter::new(Rate { per_second: 0.5, burst: 1.0 });
        assert!(limiter.check("a").is_ok());
        let wait = limiter.check("a").unwrap_err();
        assert!(wait > Duration::from_millis(1500) && wait <= Duration::from_secs(2), "{wait:?}");
    }
}
