//! Login throttling against password guessing: after a few failures for a
//! name or an address, further attempts wait, doubling each time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before attempts are locked out.
const FREE_FAILURES: u32 = 5;
/// First lockout; doubles with each further failure.
const BASE_LOCKOUT: Duration = Duration::from_secs(2);
/// Longest lockout.
const MAX_LOCKOUT: Duration = Duration::from_secs(300);

/// Failure counts per user name and per address.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginThrottle {
    /// Ok when an attempt may proceed, else how long to wait.
    pub fn check(&self, name: &str, remote: IpAddr) -> Result<(), Duration> {
        let failures = self.failures.lock().expect("throttle lock");
        let now = Instant::now();
        let wait = [user_key(name), addr_key(remote)]
            .iter()
            .filter_map(|key| failures.get(key))
            .filter_map(|(count, last)| {
                lockout(*count).map(|d| (*last + d).saturating_duration_since(now))
            })
            .max()
            .unwrap_or_default();
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Records a failed attempt.
    pub fn failed(&self, name: &str, remote: IpAddr) {
        let mut failures = self.failures.lock().expect("throttle lock");
        let now = Instant::now();
        for key in [user_key(name), addr_key(remote)] {
            let entry = failures.entry(key).or_insert((0, now));
            entry.0 += 1;
            entry.1 = now;
        }
        if failures.len() > 10_000 {
            failures.retain(|_, (_, last)| now.duration_since(*last) < MAX_LOCKOUT);
        }
    }

    /// Clears the name's and address's failures after a success.
    pub fn succeeded(&self, name: &str, remote: IpAddr) {
        let mut failures = self.failures.lock().expect("throttle lock");
        failures.remove(&user_key(name));
        failures.remove(&addr_key(remote));
    }
}

fn user_key(name: &str) -> String {
    format!("user:{name}")
}

fn addr_key(remote: IpAddr) -> String {
    format!("addr:{remote}")
}

fn lockout(failures: u32) -> Option<Duration> {
    let over = failures.checked_sub(FREE_FAILURES)?;
    Some(
        BASE_LOCKOUT
            .saturating_mul(1 << over.min(16))
            .min(MAX_LOCKOUT),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_out_after_free_failures_and_clears_on_success() {
        let t = LoginThrottle::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..FREE_FAILURES - 1 {
            t.failed("alice", ip);
            assert!(t.check("alice", ip).is_ok());
        }
        t.failed("alice", ip);
        let wait = t.check("alice", ip).unwrap_err();
        assert!(
            wait > Duration::from_secs(1) && wait <= BASE_LOCKOUT,
            "{wait:?}"
        );
        let other: IpAddr = "10.0.0.9".parse().unwrap();
        assert!(
            t.check("alice", other).is_err(),
            "the name is locked from any address"
        );
        assert!(
            t.check("bob", ip).is_err(),
            "the address is locked for any name"
        );
        t.succeeded("alice", ip);
        assert!(t.check("alice", ip).is_ok());
    }

    #[test]
    fn lockout_doubles_and_caps() {
        assert_eq!(lockout(FREE_FAILURES - 1), None);
        assert_eq!(lockout(FREE_FAILURES), Some(BASE_LOCKOUT));
        assert_eq!(lockout(FREE_FAILURES + 1), Some(BASE_LOCKOUT * 2));
        assert_eq!(lockout(FREE_FAILURES + 40), Some(MAX_LOCKOUT));
    }
}
