//! The plans: a seeded rng and the operations it picks.

use super::*;

pub(crate) fn steps() -> usize {
    std::env::var("MODEL_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(STEPS)
}

/// xorshift64: enough randomness for a plan, and the same plan for a seed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One operation on the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// Install a fresh healthy version.
    Good,
    /// A version whose process exits at once.
    Exit,
    /// A version that never listens: health times out.
    NeverListen,
    /// A version that exits [`CRASH_AFTER_MS`] after it started: at the
    /// latest in probation.
    Crash,
    /// A healthy version that fails its liveness probes after [`UNHEALTHY_AFTER_MS`].
    Unhealthy,
    /// Roll back to revision `1 + pick % newest revision seen`.
    Rollback {
        pick: u64,
    },
    /// After `delay_ms`, `SIGKILL` every process of the revision the detail
    /// calls current (an instance of it that is starting included).
    Kill {
        delay_ms: u64,
    },
    Uninstall,
    /// Stop Core gracefully and start it over the same data directory.
    Restart,
    /// The same while a good install is in flight (`delay_ms` after it was sent).
    RestartDuringInstall {
        delay_ms: u64,
    },
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Step {
    One(Op),
    /// Two operations at once; the plugin's task serializes them.
    Both(Op, Op),
    /// The second starts `.1` ms after the first, while it runs (fixed plans only).
    Staggered(Op, u64, Op),
}

pub(crate) fn random_op(rng: &mut Rng, solo: bool) -> Op {
    loop {
        let op = match rng.below(20) {
            0..=4 => Op::Good,
            5 => Op::Exit,
            6 => Op::NeverListen,
            7 => Op::Crash,
            8 => Op::Unhealthy,
            9..=11 => Op::Rollback { pick: rng.next() },
            12..=14 => Op::Kill {
                delay_ms: rng.below(400),
            },
            15 => Op::Uninstall,
            16 | 17 => Op::Restart,
            _ => Op::RestartDuringInstall {
                delay_ms: rng.below(300),
            },
        };
        if solo || !matches!(op, Op::Restart | Op::RestartDuringInstall { .. }) {
            return op;
        }
    }
}

/// The steps of a seed; the first installs something to act on.
pub(crate) fn plan(seed: u64, steps: usize) -> Vec<Step> {
    let mut rng = Rng::new(seed);
    let mut plan = vec![Step::One(Op::Good)];
    while plan.len() < steps {
        plan.push(if rng.below(3) == 0 {
            Step::Both(random_op(&mut rng, false), random_op(&mut rng, false))
        } else {
            Step::One(random_op(&mut rng, true))
        });
    }
    plan
}
