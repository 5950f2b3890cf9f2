//! Requests per minute per caller: per user once a token names one, per IP address for
//! everyone else (so guessing tokens is as limited as anything else).

use std::{
    net::{IpAddr, Ipv4Addr},
    num::NonZeroU32,
    sync::atomic::{AtomicU64, Ordering},
};

use governor::{
    DefaultKeyedRateLimiter, Quota,
    clock::{Clock, DefaultClock},
};
use uuid::Uuid;

use crate::{config::LimitsConfig, error::AppError};

/// Who a request is counted against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// The subject of a token whose signature and claims are valid.
    User(Uuid),
    /// The peer address of a request without a valid token (unknown behind in-process callers).
    Address(Option<IpAddr>),
}

/// Keyed token buckets (GCRA), one set for users and one for addresses.
pub struct RateLimits {
    users: Option<DefaultKeyedRateLimiter<Uuid>>,
    addresses: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Made once: making a clock calibrates it, which costs more than a whole check.
    clock: DefaultClock,
    checks: AtomicU64,
}

/// How many checks pass between sweeps of idle keys, which keep memory bounded.
const SWEEP_EVERY: u64 = 4096;

impl RateLimits {
    pub fn new(config: &LimitsConfig) -> Self {
        let users = quota(config.rate_limit_per_minute, config.rate_limit_burst).map(DefaultKeyedRateLimiter::keyed);
        let anonymous = config.anonymous_rate_limit_per_minute;
        let addresses = quota(anonymous, anonymous).map(DefaultKeyedRateLimiter::keyed);
        Self { users, addresses, clock: DefaultClock::default(), checks: AtomicU64::new(0) }
    }

    /// Takes `operations` cells from the caller's bucket, or says how long to wait.
    pub fn check(&self, caller: Caller, operations: u32) -> Result<(), AppError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep();
        }
        let operations = NonZeroU32::new(operations).unwrap_or(NonZeroU32::MIN);
        let outcome = match caller {
            Caller::User(id) => self.users.as_ref().map(|limiter| limiter.check_key_n(&id, operations)),
            Caller::Address(address) => {
                let address = address.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
                self.addresses.as_ref().map(|limiter| limiter.check_key_n(&address, operations))
            }
        };
        match outcome {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(not_until))) => {
                let wait = not_until.wait_time_from(self.clock.now());
                tracing::info!(?caller, wait_ms = wait.as_millis() as u64, "rate limited");
                Err(AppError::RateLimited { retry_after_secs: wait.as_secs().max(1) })
            }
            // More operations at once than the whole burst: they can never pass together.
            Some(Err(_)) => Err(AppError::RateLimited { retry_after_secs: 60 }),
        }
    }

    fn sweep(&self) {
        if let Some(users) = &self.users {
            users.retain_recent();
            users.shrink_to_fit();
        }
        if let Some(addresses) = &self.addresses {
            addresses.retain_recent();
            addresses.shrink_to_fit();
        }
    }
}

/// `per_minute` operations a minute with bursts of `burst`; `None` (no limit) for 0.
fn quota(per_minute: u32, burst: u32) -> Option<Quota> {
    let per_minute = NonZeroU32::new(per_minute)?;
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Some(Quota::per_minute(per_minute).allow_burst(burst))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_minute: u32, burst: u32) -> RateLimits {
        RateLimits::new(&LimitsConfig {
            rate_limit_per_minute: per_minute,
            rate_limit_burst: burst,
            anonymous_rate_limit_per_minute: per_minute,
            ..LimitsConfig::default()
        })
    }

    #[test]
    fn a_burst_passes_and_the_next_request_waits() {
        let limits = limits(60, 3);
        let user = Caller::User(Uuid::now_v7());
        for _ in 0..3 {
            assert!(limits.check(user, 1).is_ok());
        }
        let error = limits.check(user, 1).err().map(|e| e.code());
        assert_eq!(error, Some("RATE_LIMITED"));
        // Another user has a bucket of their own.
        assert!(limits.check(Caller::User(Uuid::now_v7()), 1).is_ok());
    }

    #[test]
    fn zero_turns_limiting_off() {
        let limits = limits(0, 0);
        for _ in 0..1000 {
            assert!(limits.check(Caller::Address(None), 1).is_ok());
        }
    }
}
