//! Property: over any window, the recipients the GCRA core admits for one key stay within
//! `burst + window / T` (and so within `burst + window * limit / period`), with simulated time, in
//! reject and wait mode; in reject mode its decisions equal a token-bucket oracle; a request over
//! the burst is never admitted.

use std::time::Duration;

use kumo_inject::ratelimit::{Gcra, GcraDecision, GcraState, RateLimitConfig};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Op {
    /// Simulated time passing before the request.
    dt_ns: u64,
    /// Recipients requested (may exceed the burst).
    n: u64,
    /// The request's longest wait (0: reject mode).
    max_wait_ns: u64,
}

fn config() -> impl Strategy<Value = RateLimitConfig> {
    (1u64..2_000, 1u64..3_000, 1u64..60).prop_map(|(limit, period_ms, burst)| {
        RateLimitConfig::new(limit, Duration::from_millis(period_ms), burst)
    })
}

fn ops(period_ns: u64, burst: u64, wait: bool) -> impl Strategy<Value = Vec<Op>> {
    let op = (
        prop_oneof![Just(0u64), 0..period_ns / 4 + 1, 0..period_ns * 2],
        0..=burst + 2,
        if wait {
            prop_oneof![Just(0u64), 0..period_ns].boxed()
        } else {
            Just(0u64).boxed()
        },
    )
        .prop_map(|(dt_ns, n, max_wait_ns)| Op {
            dt_ns,
            n,
            max_wait_ns,
        });
    prop::collection::vec(op, 1..250)
}

fn scenario(wait: bool) -> impl Strategy<Value = (RateLimitConfig, Vec<Op>)> {
    config().prop_flat_map(move |c| {
        let period_ns = c.period.as_nanos() as u64;
        (Just(c), ops(period_ns, c.burst, wait))
    })
}

/// Runs `ops` from `start_ns`; returns the admissions as (admission instant, recipients).
fn run(gcra: &Gcra, start_ns: u64, ops: &[Op]) -> Vec<(u64, u64)> {
    let mut state = GcraState::default();
    let mut now = start_ns;
    let mut admitted = Vec::new();
    for op in ops {
        now += op.dt_ns;
        match gcra.check(&mut state, now, op.n, op.max_wait_ns) {
            GcraDecision::Admit { wait_ns, .. } => {
                assert!(op.n <= gcra.burst(), "admitted {} > burst", op.n);
                assert!(wait_ns <= op.max_wait_ns);
                admitted.push((now + wait_ns, op.n));
            }
            GcraDecision::Deny { retry_after_ns, .. } => {
                assert!(op.n <= gcra.burst());
                assert!(retry_after_ns > op.max_wait_ns);
            }
            GcraDecision::TooLarge { requested, burst } => {
                assert!(requested > burst);
                assert_eq!(requested, op.n);
            }
        }
    }
    admitted
}

/// Every window [a_i, a_j] of admissions holds at most the GCRA bound.
fn assert_within_bound(gcra: &Gcra, c: &RateLimitConfig, admitted: &[(u64, u64)]) {
    for w in admitted.windows(2) {
        assert!(w[0].0 <= w[1].0, "admission instants go back in time");
    }
    let period_ns = c.period.as_nanos();
    for i in 0..admitted.len() {
        let mut sum = 0u64;
        for j in i..admitted.len() {
            sum += admitted[j].1;
            let window = admitted[j].0 - admitted[i].0;
            assert!(
                sum <= gcra.bound(window),
                "{sum} admitted within {window} ns > bound {}",
                gcra.bound(window)
            );
            // The same bound in the configuration's terms: burst + window * limit / period.
            let rate_bound =
                u128::from(c.burst) + u128::from(window) * u128::from(c.limit) / period_ns;
            assert!(u128::from(sum) <= rate_bound, "{sum} > {rate_bound}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn reject_mode_stays_within_the_bound((c, ops) in scenario(false), start in 0u64..1 << 50) {
        let gcra = Gcra::new(&c).unwrap();
        let admitted = run(&gcra, start, &ops);
        assert_within_bound(&gcra, &c, &admitted);
    }

    #[test]
    fn wait_mode_stays_within_the_bound((c, ops) in scenario(true), start in 0u64..1 << 50) {
        let gcra = Gcra::new(&c).unwrap();
        let admitted = run(&gcra, start, &ops);
        assert_within_bound(&gcra, &c, &admitted);
    }

    /// In reject mode GCRA is a token bucket of `burst * T` nanoseconds of credit, refilled at
    /// one nanosecond per nanosecond; each recipient costs `T`.
    #[test]
    fn reject_mode_equals_a_token_bucket((c, ops) in scenario(false)) {
        let gcra = Gcra::new(&c).unwrap();
        let t = gcra.emission_ns();
        let capacity = t * c.burst;
        let mut level = capacity;
        let mut state = GcraState::default();
        let mut now = 0u64;
        for op in &ops {
            level = (level + op.dt_ns).min(capacity);
            now += op.dt_ns;
            let oracle = op.n <= c.burst && op.n * t <= level;
            if oracle {
                level -= op.n * t;
            }
            let got = gcra.check(&mut state, now, op.n, 0);
            prop_assert_eq!(matches!(got, GcraDecision::Admit { .. }), oracle, "{:?}", got);
            if let GcraDecision::Admit { remaining, .. } = got {
                prop_assert_eq!(remaining, level / t);
            }
        }
    }

    /// A refused request is admitted when retried after its `retry_after`, absent other traffic.
    #[test]
    fn retry_after_is_exact((c, ops) in scenario(false)) {
        let gcra = Gcra::new(&c).unwrap();
        let mut state = GcraState::default();
        let mut now = 0u64;
        for op in &ops {
            now += op.dt_ns;
            let before = state;
            if let GcraDecision::Deny { retry_after_ns, .. } = gcra.check(&mut state, now, op.n, 0) {
                prop_assert!(retry_after_ns > 0);
                let mut early = before;
                let early = gcra.check(&mut early, now + retry_after_ns - 1, op.n, 0);
                prop_assert!(matches!(early, GcraDecision::Deny { .. }), "early retry: {:?}", early);
                let mut retry = before;
                let retry = gcra.check(&mut retry, now + retry_after_ns, op.n, 0);
                prop_assert!(matches!(retry, GcraDecision::Admit { wait_ns: 0, .. }), "retry: {:?}", retry);
            }
        }
    }
}
