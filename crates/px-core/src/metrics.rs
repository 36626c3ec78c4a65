//! Prometheus metrics of the dev loop (SPEC §3.7) and the alert state Admin
//! shows. Each Core owns its own recorder (not the process-global one), so
//! several Cores in one test process keep separate numbers.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use serde::Serialize;

/// How many recent installs the success rate covers.
const WINDOW: usize = 20;
/// Consecutive failures that fire the alert.
const CONSECUTIVE_FAILURES_ALERT: u64 = 2;
/// Success rate below which the alert fires.
const SUCCESS_RATE_ALERT: f64 = 0.95;

/// Install duration buckets, in seconds.
const BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// This Core's dev-loop metrics.
pub struct Metrics {
    recorder: PrometheusRecorder,
    recent: Mutex<Recent>,
}

#[derive(Default)]
struct Recent {
    outcomes: VecDeque<bool>,
    consecutive_failures: u64,
}

/// One alert as Admin and the API show it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Alert {
    /// Alert name, as in `deploy/prometheus/alerts.yml`.
    pub name: &'static str,
    /// Whether it fires now.
    pub firing: bool,
    /// What it means, with the current value.
    pub message: String,
}

impl Metrics {
    /// A fresh registry with every series described and at its zero value.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("plugin_dev_install_duration_seconds".into()),
                BUCKETS,
            )
            .expect("static buckets are valid")
            .build_recorder();
        let metrics = Metrics {
            recorder,
            recent: Mutex::default(),
        };
        metrics::with_local_recorder(&metrics.recorder, || {
            describe_histogram!(
                "plugin_dev_install_duration_seconds",
                Unit::Seconds,
                "Time from receiving a dev install to its outcome, by result (success or failure)"
            );
            describe_counter!(
                "plugin_dev_install_total",
                "Dev installs and reloads, by result (success or failure)"
            );
            describe_gauge!(
                "plugin_dev_install_success_rate",
                "Share of the last 20 dev installs that succeeded (1 when none yet)"
            );
            describe_counter!(
                "plugin_dev_rollback_total",
                "Times a failed revision was rolled back to the stable one"
            );
            describe_gauge!(
                "plugin_dev_install_consecutive_failures",
                "Dev installs that failed in a row since the last success"
            );
            for result in ["success", "failure"] {
                counter!("plugin_dev_install_total", "result" => result).absolute(0);
            }
            counter!("plugin_dev_rollback_total").absolute(0);
            gauge!("plugin_dev_install_success_rate").set(1.0);
            gauge!("plugin_dev_install_consecutive_failures").set(0.0);
        });
        metrics
    }

    /// Records the outcome of one install or reload.
    pub fn install_finished(&self, success: bool, duration: Duration) {
        let (rate, consecutive) = {
            let mut recent = self.recent.lock().expect("metrics lock");
            recent.outcomes.push_back(success);
            if recent.outcomes.len() > WINDOW {
                recent.outcomes.pop_front();
            }
            recent.consecutive_failures = if success {
                0
            } else {
                recent.consecutive_failures + 1
            };
            (recent.success_rate(), recent.consecutive_failures)
        };
        let result = if success { "success" } else { "failure" };
        metrics::with_local_recorder(&self.recorder, || {
            histogram!("plugin_dev_install_duration_seconds", "result" => result)
                .record(duration.as_secs_f64());
            counter!("plugin_dev_install_total", "result" => result).increment(1);
            gauge!("plugin_dev_install_success_rate").set(rate);
            gauge!("plugin_dev_install_consecutive_failures").set(consecutive as f64);
        });
    }

    /// Records a rollback to the stable revision.
    pub fn rolled_back(&self) {
        metrics::with_local_recorder(&self.recorder, || {
            counter!("plugin_dev_rollback_total").increment(1)
        });
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.recorder.handle().render()
    }

    /// The alerts of `deploy/prometheus/alerts.yml`, evaluated on this Core's numbers.
    pub fn alerts(&self) -> Vec<Alert> {
        let recent = self.recent.lock().expect("metrics lock");
        let rate = recent.success_rate();
        vec![
            Alert {
                name: "PluginDevInstallConsecutiveFailures",
                firing: recent.consecutive_failures >= CONSECUTIVE_FAILURES_ALERT,
                message: format!(
                    "{} dev installs failed in a row",
                    recent.consecutive_failures
                ),
            },
            Alert {
                name: "PluginDevInstallSuccessRateLow",
                firing: rate < SUCCESS_RATE_ALERT,
                message: format!(
                    "{:.0}% of the last {} dev installs succeeded",
                    rate * 100.0,
                    recent.outcomes.len()
                ),
            },
        ]
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Recent {
    fn success_rate(&self) -> f64 {
        if self.outcomes.is_empty() {
            return 1.0;
        }
        self.outcomes.iter().filter(|ok| **ok).count() as f64 / self.outcomes.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_follow_outcomes() {
        let m = Metrics::new();
        assert!(m.alerts().iter().all(|a| !a.firing));
        m.install_finished(false, Duration::from_millis(10));
        assert!(!m.alerts()[0].firing);
        m.install_finished(false, Duration::from_millis(10));
        assert!(m.alerts()[0].firing, "two failures in a row fire");
        assert!(m.alerts()[1].firing, "0% success is below 95%");
        for _ in 0..WINDOW {
            m.install_finished(true, Duration::from_millis(10));
        }
        assert!(m.alerts().iter().all(|a| !a.firing));
    }

    #[test]
    fn render_has_every_series_with_help() {
        let m = Metrics::new();
        m.install_finished(true, Duration::from_millis(30));
        m.rolled_back();
        let text = m.render();
        for name in [
            "plugin_dev_install_duration_seconds",
            "plugin_dev_install_total",
            "plugin_dev_install_success_rate",
            "plugin_dev_rollback_total",
            "plugin_dev_install_consecutive_failures",
        ] {
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "{name} has HELP in:\n{text}"
            );
        }
        assert!(text.contains("plugin_dev_rollback_total 1"), "{text}");
    }
}
