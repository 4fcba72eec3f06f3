//! Fault injection: how a bank node misbehaves on purpose, for tests and demos. Latency drawn
//! from a distribution, server errors, 429/503 with `Retry-After`, no answer at all, a garbage
//! body, an answer signed with the wrong key, and an outage window after start-up.
//!
//! Decisions are drawn from a seeded random generator, so a test can make a fault certain
//! (`rate = 1.0`) or a demo realistic (`rate = 0.2`). With the default configuration the node
//! behaves.

use rand::{RngExt, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How long the node takes before it answers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Latency {
    /// Answer at once.
    #[default]
    None,
    /// Always the same delay.
    Fixed {
        /// Milliseconds.
        ms: u64,
    },
    /// Uniform between two bounds.
    Uniform {
        /// Lower bound, milliseconds.
        min_ms: u64,
        /// Upper bound, milliseconds.
        max_ms: u64,
    },
    /// Log-normal with the given median and 99th percentile: most answers quick, a long tail.
    LogNormal {
        /// Median, milliseconds.
        median_ms: u64,
        /// 99th percentile, milliseconds.
        p99_ms: u64,
    },
}

/// Fault injection settings (`[faults]` in the node's configuration file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Delay before each answer.
    pub latency: Latency,
    /// Share of requests answered `500` with a problem document.
    pub error_rate: f64,
    /// Share of requests answered `429 Too Many Requests` with `Retry-After`.
    pub throttle_rate: f64,
    /// Share of requests answered `503 Service Unavailable` with `Retry-After`.
    pub unavailable_rate: f64,
    /// Share of requests never answered (the connection stays open until the client gives up;
    /// in callback mode: accepted, never called back).
    pub silent_rate: f64,
    /// Share of requests answered `200` with a body that is not a protocol message.
    pub garbage_rate: f64,
    /// Share of requests answered with a correct body signed by a key the hub does not know.
    pub bad_signature_rate: f64,
    /// The value of `Retry-After`, seconds.
    pub retry_after_secs: u64,
    /// For this many seconds after start-up every request gets `503` ("down for a while").
    pub down_for_secs: u64,
    /// Seed of the decisions; `None` draws one from the operating system.
    pub seed: Option<u64>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            latency: Latency::None,
            error_rate: 0.0,
            throttle_rate: 0.0,
            unavailable_rate: 0.0,
            silent_rate: 0.0,
            garbage_rate: 0.0,
            bad_signature_rate: 0.0,
            retry_after_secs: 2,
            down_for_secs: 0,
            seed: None,
        }
    }
}

/// The configuration is inconsistent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultConfigError {
    /// A rate outside 0..=1.
    #[error("faults.{0} must be between 0 and 1")]
    RateOutOfRange(&'static str),
    /// The rates add up to more than 1.
    #[error("the fault rates add up to more than 1")]
    RatesExceedOne,
    /// Latency bounds in the wrong order or zero median.
    #[error("faults.latency: {0}")]
    Latency(&'static str),
}

/// What the node does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Behave.
    None,
    /// `500`.
    ServerError,
    /// `429` with `Retry-After`.
    Throttle,
    /// `503` with `Retry-After`.
    Unavailable,
    /// Never answer.
    Silent,
    /// `200` with garbage.
    Garbage,
    /// A correct body signed with the wrong key.
    BadSignature,
}

impl FaultConfig {
    /// Checks rates and bounds.
    pub fn validate(&self) -> Result<(), FaultConfigError> {
        let rates = [
            ("error_rate", self.error_rate),
            ("throttle_rate", self.throttle_rate),
            ("unavailable_rate", self.unavailable_rate),
            ("silent_rate", self.silent_rate),
            ("garbage_rate", self.garbage_rate),
            ("bad_signature_rate", self.bad_signature_rate),
        ];
        for (name, rate) in rates {
            if !(0.0..=1.0).contains(&rate) {
                return Err(FaultConfigError::RateOutOfRange(name));
            }
        }
        if rates.iter().map(|(_, r)| r).sum::<f64>() > 1.0 + 1e-9 {
            return Err(FaultConfigError::RatesExceedOne);
        }
        match self.latency {
            Latency::Uniform { min_ms, max_ms } if min_ms > max_ms => {
                Err(FaultConfigError::Latency("min_ms is above max_ms"))
            }
            Latency::LogNormal { median_ms, p99_ms } if median_ms == 0 || p99_ms < median_ms => {
                Err(FaultConfigError::Latency(
                    "median_ms must be positive and not above p99_ms",
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Draws fault decisions and delays.
#[derive(Debug)]
pub struct FaultInjector {
    config: FaultConfig,
    rng: Mutex<StdRng>,
}

impl FaultInjector {
    /// An injector for a validated configuration.
    pub fn new(config: FaultConfig) -> Result<Self, FaultConfigError> {
        config.validate()?;
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::seed_from_u64(rand::random()),
        };
        Ok(Self {
            config,
            rng: Mutex::new(rng),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// What to do with the next request, `since_start` after the node started.
    pub fn decide(&self, since_start: Duration) -> Fault {
        if since_start < Duration::from_secs(self.config.down_for_secs) {
            return Fault::Unavailable;
        }
        let draw: f64 = self.rng().random();
        let c = &self.config;
        let ladder = [
            (c.error_rate, Fault::ServerError),
            (c.throttle_rate, Fault::Throttle),
            (c.unavailable_rate, Fault::Unavailable),
            (c.silent_rate, Fault::Silent),
            (c.garbage_rate, Fault::Garbage),
            (c.bad_signature_rate, Fault::BadSignature),
        ];
        let mut edge = 0.0;
        for (rate, fault) in ladder {
            edge += rate;
            if draw < edge {
                return fault;
            }
        }
        Fault::None
    }

    /// How long to wait before answering.
    pub fn delay(&self) -> Duration {
        match self.config.latency {
            Latency::None => Duration::ZERO,
            Latency::Fixed { ms } => Duration::from_millis(ms),
            Latency::Uniform { min_ms, max_ms } => {
                Duration::from_millis(self.rng().random_range(min_ms..=max_ms))
            }
            Latency::LogNormal { median_ms, p99_ms } => {
                // ln X ~ N(mu, sigma): mu = ln(median), sigma from the 99th percentile (z = 2.326).
                let mu = (median_ms as f64).ln();
                let sigma = ((p99_ms as f64).ln() - mu) / 2.326;
                let (u1, u2): (f64, f64) = {
                    let mut rng = self.rng();
                    (rng.random::<f64>().max(f64::MIN_POSITIVE), rng.random())
                };
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let ms = (mu + sigma * z).exp().min(600_000.0);
                Duration::from_millis(ms as u64)
            }
        }
    }

    /// `Retry-After` in seconds.
    pub fn retry_after_secs(&self) -> u64 {
        self.config.retry_after_secs
    }

    fn rng(&self) -> std::sync::MutexGuard<'_, StdRng> {
        self.rng.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn injector(config: FaultConfig) -> FaultInjector {
        let mut config = config;
        config.seed = Some(7);
        FaultInjector::new(config).unwrap()
    }

    #[test]
    fn default_behaves() {
        let f = injector(FaultConfig::default());
        for _ in 0..1000 {
            assert_eq!(f.decide(Duration::from_secs(1)), Fault::None);
            assert_eq!(f.delay(), Duration::ZERO);
        }
    }

    #[test]
    fn certain_faults_are_certain_and_rates_are_respected() {
        let f = injector(FaultConfig {
            throttle_rate: 1.0,
            ..FaultConfig::default()
        });
        assert!((0..100).all(|_| f.decide(Duration::ZERO) == Fault::Throttle));
        let f = injector(FaultConfig {
            error_rate: 0.25,
            ..FaultConfig::default()
        });
        let errors = (0..10_000)
            .filter(|_| f.decide(Duration::ZERO) == Fault::ServerError)
            .count();
        assert!((2_000..3_000).contains(&errors), "{errors}");
    }

    #[test]
    fn down_window_answers_unavailable() {
        let f = injector(FaultConfig {
            down_for_secs: 60,
            ..FaultConfig::default()
        });
        assert_eq!(f.decide(Duration::from_secs(59)), Fault::Unavailable);
        assert_eq!(f.decide(Duration::from_secs(60)), Fault::None);
    }

    #[test]
    fn latency_distributions_stay_in_shape() {
        let f = injector(FaultConfig {
            latency: Latency::Uniform {
                min_ms: 10,
                max_ms: 20,
            },
            ..FaultConfig::default()
        });
        assert!((0..1000).all(|_| (10..=20).contains(&(f.delay().as_millis() as u64))));
        let f = injector(FaultConfig {
            latency: Latency::LogNormal {
                median_ms: 100,
                p99_ms: 1000,
            },
            ..FaultConfig::default()
        });
        let mut draws: Vec<u128> = (0..10_000).map(|_| f.delay().as_millis()).collect();
        draws.sort_unstable();
        let median = draws[5_000];
        assert!((80..125).contains(&median), "{median}");
        assert!(draws[9_900] > 500, "{}", draws[9_900]);
    }

    #[test]
    fn invalid_configurations_are_refused() {
        let bad_rate = FaultConfig {
            error_rate: 1.5,
            ..FaultConfig::default()
        };
        assert_eq!(
            bad_rate.validate(),
            Err(FaultConfigError::RateOutOfRange("error_rate"))
        );
        let too_much = FaultConfig {
            error_rate: 0.6,
            silent_rate: 0.6,
            ..FaultConfig::default()
        };
        assert_eq!(too_much.validate(), Err(FaultConfigError::RatesExceedOne));
        let bounds = FaultConfig {
            latency: Latency::Uniform {
                min_ms: 5,
                max_ms: 1,
            },
            ..FaultConfig::default()
        };
        assert!(bounds.validate().is_err());
    }
}
