//! Request rate limits per client address and per user: token buckets kept in memory
//! (per process; each replica limits on its own, which bounds a client at replicas × rate).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A sustained rate and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

pub struct RateLimiter {
    rate: Rate,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Above this many tracked keys, full (idle) buckets are forgotten.
const MAX_TRACKED: usize = 100_000;

impl RateLimiter {
    pub fn new(rate: Rate) -> Self {
        Self { rate, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `key`, or says how long until one is free.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        if buckets.len() > MAX_TRACKED {
            let rate = self.rate;
            buckets
                .retain(|_, b| b.tokens + now.duration_since(b.updated).as_secs_f64() * rate.per_second < rate.burst);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket { tokens: self.rate.burst, updated: now });
        let refill = now.duration_since(bucket.updated).as_secs_f64() * self.rate.per_second;
        bucket.tokens = (bucket.tokens + refill).min(self.rate.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.rate.per_second.max(f64::MIN_POSITIVE);
            Err(Duration::from_secs_f64(wait.min(3600.0)))
        }
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
        assert!(wait > Duration::from_millis(500) && wait <= Duration::from_secs(1));
        assert!(limiter.check("b").is_ok(), "keys are independent");
    }
}
