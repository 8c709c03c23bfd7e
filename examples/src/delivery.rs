//! The simulated delivery stage: walks a session's connection plan and answers each attempt at
//! random, with configurable weights, so that deliveries, retries and bounces all happen.
//!
//! The simulation takes its random numbers from the caller (seed it for repeatable runs) and reads
//! no clock. Each address of the plan is one connection attempt: it may fail to connect (then the
//! next address is tried, as an MTA does), or it answers the transaction with success, a temporary
//! failure (the message is deferred and retried later) or a permanent failure (it bounces).

use std::net::IpAddr;

use rand::Rng;

/// Weights of the simulated answers. They are relative: they need not add up to 1.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probabilities {
    /// Weight of `250 OK`.
    pub success: f64,
    /// Weight of a temporary failure (`451 4.3.0`): the message is retried.
    pub transient: f64,
    /// Weight of a permanent failure (`550 5.1.1`): the message bounces.
    pub permanent: f64,
    /// Probability in `[0, 1)` that connecting to one address fails, so the next address is tried.
    #[serde(default)]
    pub connect_failure: f64,
}

impl Default for Probabilities {
    fn default() -> Self {
        Self {
            success: 0.85,
            transient: 0.12,
            permanent: 0.03,
            connect_failure: 0.05,
        }
    }
}

/// Weights that cannot drive a simulation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProbabilityError {
    /// A weight is negative, infinite or NaN.
    #[error("weight {name} must be a finite number >= 0, not {value}")]
    BadWeight {
        /// The field.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// All three answer weights are zero.
    #[error("at least one of success, transient, permanent must be above 0")]
    AllZero,
    /// `connect_failure` is outside `[0, 1)`.
    #[error("connect_failure must be in [0, 1), not {0}")]
    ConnectFailure(f64),
}

impl Probabilities {
    /// Checks that the weights can drive a simulation.
    ///
    /// # Errors
    /// [`ProbabilityError`] naming the first bad field.
    pub fn validate(&self) -> Result<(), ProbabilityError> {
        for (name, value) in [
            ("success", self.success),
            ("transient", self.transient),
            ("permanent", self.permanent),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(ProbabilityError::BadWeight { name, value });
            }
        }
        if self.success + self.transient + self.permanent <= 0.0 {
            return Err(ProbabilityError::AllZero);
        }
        if !(0.0..1.0).contains(&self.connect_failure) {
            return Err(ProbabilityError::ConnectFailure(self.connect_failure));
        }
        Ok(())
    }

    /// Draws one transaction answer.
    pub fn draw_answer<R: Rng + ?Sized>(&self, rng: &mut R) -> Answer {
        let total = self.success + self.transient + self.permanent;
        let x = rng.random::<f64>() * total;
        if x < self.success {
            Answer::Accepted
        } else if x < self.success + self.transient || self.permanent <= 0.0 {
            Answer::Transient
        } else {
            Answer::Permanent
        }
    }
}

/// The answer of a simulated SMTP transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Answer {
    /// `250 2.0.0 OK`.
    Accepted,
    /// `451 4.3.0 try again later`.
    Transient,
    /// `550 5.1.1 no such user`.
    Permanent,
}

impl Answer {
    /// The SMTP response line the simulation pretends to have read.
    pub fn response(self) -> &'static str {
        match self {
            Answer::Accepted => "250 2.0.0 OK queued as simulated",
            Answer::Transient => "451 4.3.0 simulated temporary failure, try again later",
            Answer::Permanent => "550 5.1.1 simulated permanent failure: no such user",
        }
    }
}

/// What happened on one connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptResult {
    /// The connection failed; the next address is tried.
    ConnectFailed,
    /// The connection was made and the transaction answered.
    Answered(Answer),
}

/// One connection attempt of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionAttempt {
    /// The MX host name (A-label, no trailing dot).
    pub host: String,
    /// The address connected to.
    pub addr: IpAddr,
    /// What happened.
    pub result: AttemptResult,
}

/// How a session ended for its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disposition {
    /// Delivered.
    Delivered,
    /// A temporary failure: the message goes back to the scheduled queue.
    Transient,
    /// A permanent failure: the message bounces.
    Permanent,
}

/// The result of walking one connection plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOutcome {
    /// Every attempt, in order.
    pub attempts: Vec<ConnectionAttempt>,
    /// How the session ended.
    pub disposition: Disposition,
    /// The response (or reason) that decided it.
    pub response: String,
}

/// Walks `plan` (MX host, address) in order and simulates a session.
///
/// The walk stops at the first address that answers. When every connection fails, or the plan is
/// empty, the outcome is a temporary failure, as for an MTA whose MX hosts are all unreachable.
///
/// # Examples
/// ```
/// use kumo_examples::delivery::{simulate, Disposition, Probabilities};
/// use rand::SeedableRng;
/// let always = Probabilities { success: 1.0, transient: 0.0, permanent: 0.0, connect_failure: 0.0 };
/// let plan = [("mx1.example.test", "192.0.2.10".parse()?)];
/// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
/// let out = simulate(plan.iter().map(|(h, a)| (*h, *a)), &always, &mut rng);
/// assert_eq!(out.disposition, Disposition::Delivered);
/// assert_eq!(out.attempts.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn simulate<'a, I, R>(plan: I, probs: &Probabilities, rng: &mut R) -> SessionOutcome
where
    I: IntoIterator<Item = (&'a str, IpAddr)>,
    R: Rng + ?Sized,
{
    let mut attempts = Vec::new();
    for (host, addr) in plan {
        let host = host.trim_end_matches('.').to_owned();
        if probs.connect_failure > 0.0 && rng.random::<f64>() < probs.connect_failure {
            attempts.push(ConnectionAttempt {
                host,
                addr,
                result: AttemptResult::ConnectFailed,
            });
            continue;
        }
        let answer = probs.draw_answer(rng);
        attempts.push(ConnectionAttempt {
            host,
            addr,
            result: AttemptResult::Answered(answer),
        });
        let disposition = match answer {
            Answer::Accepted => Disposition::Delivered,
            Answer::Transient => Disposition::Transient,
            Answer::Permanent => Disposition::Permanent,
        };
        return SessionOutcome {
            attempts,
            disposition,
            response: answer.response().to_owned(),
        };
    }
    let response = if attempts.is_empty() {
        "no address to connect to".to_owned()
    } else {
        format!("all {} connection attempts failed", attempts.len())
    };
    SessionOutcome {
        attempts,
        disposition: Disposition::Transient,
        response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn plan() -> Vec<(&'static str, IpAddr)> {
        vec![
            ("mx1.example.test.", "192.0.2.10".parse().unwrap()),
            ("mx2.example.test", "192.0.2.11".parse().unwrap()),
        ]
    }

    #[test]
    fn validation() {
        assert!(Probabilities::default().validate().is_ok());
        let p = Probabilities {
            transient: -1.0,
            ..Probabilities::default()
        };
        assert!(matches!(
            p.validate(),
            Err(ProbabilityError::BadWeight {
                name: "transient",
                ..
            })
        ));
        let p = Probabilities {
            success: 0.0,
            transient: 0.0,
            permanent: 0.0,
            connect_failure: 0.0,
        };
        assert_eq!(p.validate(), Err(ProbabilityError::AllZero));
        let p = Probabilities {
            connect_failure: 1.0,
            ..Probabilities::default()
        };
        assert_eq!(p.validate(), Err(ProbabilityError::ConnectFailure(1.0)));
        let p = Probabilities {
            success: f64::NAN,
            ..Probabilities::default()
        };
        assert!(p.validate().is_err());
    }

    #[test]
    fn connect_failures_move_to_the_next_address() {
        let p = Probabilities {
            success: 1.0,
            transient: 0.0,
            permanent: 0.0,
            connect_failure: 0.5,
        };
        let mut rng = StdRng::seed_from_u64(3);
        let mut seen_second = false;
        for _ in 0..200 {
            let out = simulate(plan(), &p, &mut rng);
            if out.attempts.len() == 2 && out.disposition == Disposition::Delivered {
                assert_eq!(out.attempts[0].result, AttemptResult::ConnectFailed);
                assert_eq!(out.attempts[1].host, "mx2.example.test");
                seen_second = true;
            }
            if out.attempts.len() == 2 && out.attempts[1].result == AttemptResult::ConnectFailed {
                assert_eq!(out.disposition, Disposition::Transient);
                assert_eq!(out.response, "all 2 connection attempts failed");
            }
            assert_eq!(
                out.attempts[0].host, "mx1.example.test",
                "trailing dot trimmed"
            );
        }
        assert!(seen_second);
    }

    #[test]
    fn empty_plan_is_transient() {
        let out = simulate([], &Probabilities::default(), &mut StdRng::seed_from_u64(1));
        assert_eq!(out.disposition, Disposition::Transient);
        assert!(out.attempts.is_empty());
    }

    #[test]
    fn answer_frequencies_follow_weights() {
        let p = Probabilities {
            success: 2.0,
            transient: 1.0,
            permanent: 1.0,
            connect_failure: 0.0,
        };
        let mut rng = StdRng::seed_from_u64(9);
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            match p.draw_answer(&mut rng) {
                Answer::Accepted => counts[0] += 1,
                Answer::Transient => counts[1] += 1,
                Answer::Permanent => counts[2] += 1,
            }
        }
        assert!((19_000..21_000).contains(&counts[0]), "{counts:?}");
        assert!((9_300..10_700).contains(&counts[1]), "{counts:?}");
        assert!((9_300..10_700).contains(&counts[2]), "{counts:?}");
    }

    #[test]
    fn seeded_runs_repeat() {
        let p = Probabilities::default();
        let a: Vec<_> = (0..50)
            .scan(StdRng::seed_from_u64(42), |r, _| {
                Some(simulate(plan(), &p, r))
            })
            .collect();
        let b: Vec<_> = (0..50)
            .scan(StdRng::seed_from_u64(42), |r, _| {
                Some(simulate(plan(), &p, r))
            })
            .collect();
        assert_eq!(a, b);
    }

    #[test]
    fn zero_weight_answers_never_happen() {
        let p = Probabilities {
            success: 1.0,
            transient: 0.0,
            permanent: 0.0,
            connect_failure: 0.0,
        };
        let mut rng = StdRng::seed_from_u64(5);
        assert!((0..10_000).all(|_| p.draw_answer(&mut rng) == Answer::Accepted));
        let p = Probabilities {
            success: 0.0,
            transient: 1.0,
            permanent: 0.0,
            connect_failure: 0.0,
        };
        assert!((0..10_000).all(|_| p.draw_answer(&mut rng) == Answer::Transient));
    }
}
