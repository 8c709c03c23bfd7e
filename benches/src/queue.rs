//! Queue area: kumo-queue's `TimerWheel` and `Scheduler` against `hierarchical_hash_wheel_timer`
//! (the wheel KumoMTA's `timeq` wraps) and tokio-util's `DelayQueue`, on the same `(id, due)`
//! workloads.
//!
//! Conventions (the same for every crate):
//! - Workloads come from a fixed-seed generator: `(id, delay_ms)` pairs with ids `0..n`.
//! - kumo and hierarchical_hash_wheel_timer tick once per second: kumo with its default 1 s tick,
//!   the peer with delays given in seconds (its "millisecond" unit standing for a second), both
//!   rounded up. DelayQueue keeps its fixed 1 ms wheel and runs on a paused tokio clock.
//! - Every side holds the same content per entry: a `u32` payload (the id `i`, which for kumo
//!   is the caller's slab index) and its due time. kumo keeps the due time in its per-id due
//!   word, the peers in their entries.
//! - "drain" advances in 1 s steps through 24 h (plus the workload's tail) and counts pops; every
//!   side must pop the same count.
//! - Every timed figure is the best of the same number of repetitions on every side
//!   ([`best_of2`]; `REPS`), kumo and the peers interleaved.
//! - DelayQueue runs on tokio's paused test clock, whose `advance` costs a few hundred ns per
//!   step by itself. Figures that step the clock (drains, idle advance) subtract the cost of an
//!   `advance`-only loop of the same steps, and their peer name says so ([`DELAY_QUEUE_NET`]).
//! - Memory is requested heap bytes from the counting allocator, divided by the entry count.

use crate::{Better, CountingAlloc, Options, Reporter, best_of, best_of2};
use hierarchical_hash_wheel_timer::wheels::Skip;
use hierarchical_hash_wheel_timer::wheels::quad_wheel::QuadWheelWithOverflow;
use kumo_queue::{Scheduler, TimerWheel};
use std::hint::black_box;
use std::num::NonZeroU64;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio_util::time::DelayQueue;

/// The peer names as they appear in the report.
pub const HHWT: &str = "hierarchical_hash_wheel_timer";
/// tokio-util's `DelayQueue`.
pub const DELAY_QUEUE: &str = "tokio_util::DelayQueue";
/// tokio-util's `DelayQueue` where the figure steps tokio's paused clock: the cost of the same
/// steps of an `advance`-only loop is subtracted.
pub const DELAY_QUEUE_NET: &str = "tokio_util::DelayQueue (paused-clock advance subtracted)";

/// A fixed-seed xorshift generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator with the given seed.
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
}

/// The delay distributions of the issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Uniform delays from 1 minute to 24 hours.
    Uniform,
    /// A doubling retry ladder from 20 minutes (20, 40, 80 ... 1280 min) plus 0-60 s of jitter.
    RetryLadder,
    /// Every entry due within the same second (one hour from now).
    SameSecond,
}

impl Workload {
    /// All three.
    pub const ALL: [Workload; 3] = [
        Workload::Uniform,
        Workload::RetryLadder,
        Workload::SameSecond,
    ];

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Uniform => "uniform",
            Workload::RetryLadder => "retry_ladder",
            Workload::SameSecond => "same_second",
        }
    }

    /// `n` delays in milliseconds; entry `i` is id `i`.
    pub fn delays_ms(self, n: usize) -> Vec<u64> {
        let mut rng = Rng::new(0x5eed_0000 + self as u64);
        (0..n)
            .map(|_| match self {
                Workload::Uniform => rng.range(60_000, 86_400_000),
                Workload::RetryLadder => {
                    let step = rng.range(0, 7);
                    20 * 60_000 * (1 << step) + rng.range(0, 60_000)
                }
                Workload::SameSecond => 3_600_000 + rng.range(0, 1000),
            })
            .collect()
    }
}

/// How many seconds a drain must cover for `delays`.
pub fn horizon_secs(delays: &[u64]) -> u64 {
    delays.iter().max().map_or(0, |m| m.div_ceil(1000)) + 1
}

// ----- kumo -----

/// A kumo wheel holding `delays` (due = delay, the wheel's now being 0).
pub fn kumo_fill(delays: &[u64]) -> TimerWheel {
    let mut w = TimerWheel::new();
    for (id, &d) in delays.iter().enumerate() {
        // Delays are at least one minute, so an insert cannot be refused.
        let _ = w.insert(id as u32, Duration::from_millis(d));
    }
    w
}

/// Advances a kumo wheel in 1 s steps through `secs`; returns the pops.
pub fn kumo_drain(w: &mut TimerWheel, secs: u64) -> usize {
    let mut out = Vec::with_capacity(4096);
    let mut n = 0;
    for s in 1..=secs {
        out.clear();
        n += w.advance(Duration::from_secs(s), &mut out);
        black_box(&out);
    }
    n
}

// ----- hierarchical_hash_wheel_timer -----

/// The peer wheel, ticking once per second, holding the same `u32` payload as kumo.
pub type Hhwt = QuadWheelWithOverflow<u32>;

/// A peer wheel holding `delays`, rounded up to seconds.
pub fn hhwt_fill(delays: &[u64]) -> Hhwt {
    let mut w = Hhwt::default();
    for (id, &d) in delays.iter().enumerate() {
        let _ = w.insert_with_delay(id as u32, Duration::from_millis(d.div_ceil(1000)));
    }
    w
}

/// Advances the peer by `ticks`, as KumoMTA's `TimeQ::pop` does: skip what can be skipped,
/// tick otherwise. Returns the pops.
pub fn hhwt_advance(w: &mut Hhwt, mut ticks: u32, out: &mut Vec<u32>) -> usize {
    let before = out.len();
    while ticks > 0 {
        match w.can_skip() {
            Skip::Empty => {
                w.skip(ticks);
                ticks = 0;
            }
            Skip::Millis(m) => {
                let s = m.min(ticks);
                w.skip(s);
                ticks -= s;
            }
            Skip::None => {
                out.extend(w.tick());
                ticks -= 1;
            }
        }
    }
    out.len() - before
}

/// Advances the peer in 1 s steps through `secs`; returns the pops.
pub fn hhwt_drain(w: &mut Hhwt, secs: u64) -> usize {
    let mut out = Vec::with_capacity(4096);
    let mut n = 0;
    for _ in 0..secs {
        out.clear();
        n += hhwt_advance(w, 1, &mut out);
        black_box(&out);
    }
    n
}

// ----- tokio-util DelayQueue -----

/// A current-thread runtime with a paused clock, for DelayQueue.
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds")
}

/// A DelayQueue holding `delays` from `start`; returns it with the keys.
pub fn dq_fill(
    delays: &[u64],
    start: tokio::time::Instant,
) -> (DelayQueue<u32>, Vec<tokio_util::time::delay_queue::Key>) {
    let mut q = DelayQueue::new();
    let keys = delays
        .iter()
        .enumerate()
        .map(|(id, &d)| q.insert_at(id as u32, start + Duration::from_millis(d)))
        .collect();
    (q, keys)
}

/// Pops everything that is expired now. When the queue says "pending" the task yields once, so
/// that tokio's timer driver can fire the queue's re-armed sleep (as it would for a real
/// consumer task), and polls again.
pub async fn dq_pop_ready(q: &mut DelayQueue<u32>) -> usize {
    let mut n = 0;
    let mut yielded = false;
    loop {
        let r = std::future::poll_fn(|cx| Poll::Ready(q.poll_expired(cx))).await;
        match r {
            Poll::Ready(Some(e)) => {
                black_box(e.into_inner());
                n += 1;
                yielded = false;
            }
            Poll::Ready(None) => return n,
            Poll::Pending if yielded => return n,
            Poll::Pending => {
                tokio::task::yield_now().await;
                yielded = true;
            }
        }
    }
}

/// Advances the paused clock in 1 s steps through `secs`; returns the pops.
pub async fn dq_drain(q: &mut DelayQueue<u32>, secs: u64) -> usize {
    let mut n = 0;
    for _ in 0..secs {
        tokio::time::advance(Duration::from_secs(1)).await;
        n += dq_pop_ready(q).await;
    }
    n
}

/// The paused clock alone: `steps` 1 s advances with no queue; returns the elapsed time, which
/// the DelayQueue figures that step the clock subtract.
pub async fn clock_only(steps: u64) -> Duration {
    let t = Instant::now();
    for _ in 0..steps {
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    t.elapsed()
}

// ----- compare -----

fn mops(n: usize, t: Duration) -> f64 {
    n as f64 / t.as_secs_f64() / 1e6
}

fn ns_per(n: usize, t: Duration) -> f64 {
    t.as_nanos() as f64 / n.max(1) as f64
}

/// Heap bytes that `f`'s result holds, per entry.
fn bytes_per<T>(alloc: &CountingAlloc, n: usize, f: impl FnOnce() -> T) -> (T, f64) {
    let before = alloc.snapshot().live;
    let v = f();
    let after = alloc.snapshot().live;
    (v, (after - before) as f64 / n as f64)
}

/// The queue names of the scheduler workload: `campaign-C:tenant-T@domain-D.example.com`.
pub fn queue_name(i: usize) -> String {
    format!(
        "campaign-{}:tenant-{}@domain-{i}.example.com",
        i % 10,
        i % 7
    )
}

/// Repetitions for every timed figure, on every side (the best one counts).
const REPS: usize = 9;

/// Runs the queue area.
pub fn run(opts: &Options, alloc: &CountingAlloc, r: &mut Reporter) {
    let n = opts.n.unwrap_or(1_000_000) as usize;
    let nn = n as u64;
    let reps = opts.reps(REPS);
    let delays = Workload::Uniform.delays_ms(n);
    let horizon = horizon_secs(&delays);
    let rt = paused_runtime();
    // The paused clock's own cost per step, subtracted from the DelayQueue figures that step it.
    let clock_ns_per_step = |steps: u64| {
        best_of(reps, Better::Lower, || {
            ns_per(steps as usize, rt.block_on(clock_only(steps)))
        })
    };

    // bytes_per_entry (uniform workload): the same u32 payload and due times on every side.
    let (kumo, kb) = bytes_per(alloc, n, || kumo_fill(&delays));
    assert_eq!(kumo.len(), n, "kumo holds every entry");
    drop(kumo);
    let (hh, hb) = bytes_per(alloc, n, || hhwt_fill(&delays));
    drop(hh);
    let (dq, db) = rt.block_on(async {
        let start = tokio::time::Instant::now();
        bytes_per(alloc, n, || dq_fill(&delays, start).0)
    });
    assert_eq!(dq.len(), n, "DelayQueue holds every entry");
    drop(dq);
    r.peer("bytes_per_entry", nn, kb, HHWT, hb, Better::Lower);
    r.peer("bytes_per_entry", nn, kb, DELAY_QUEUE, db, Better::Lower);

    // insert_mops and drain_mops per workload (the headline numbers are "uniform").
    for wl in Workload::ALL {
        let delays = wl.delays_ms(n);
        let horizon = horizon_secs(&delays);
        let suffix = if wl == Workload::Uniform {
            String::new()
        } else {
            format!("_{}", wl.name())
        };
        let clock = clock_ns_per_step(horizon);

        // Best of `reps` for every side, the three interleaved, so that none pays for warming
        // up the allocator and all see the same background load.
        let (mut k_ins, mut k_drain, mut h_ins, mut h_drain) = (0f64, 0f64, 0f64, 0f64);
        let (mut d_ins, mut d_drain) = (0f64, 0f64);
        for _ in 0..reps {
            let t = Instant::now();
            let mut kumo = kumo_fill(&delays);
            k_ins = k_ins.max(mops(n, t.elapsed()));
            let t = Instant::now();
            let popped = kumo_drain(&mut kumo, horizon);
            k_drain = k_drain.max(mops(popped, t.elapsed()));
            assert_eq!(popped, n, "kumo lost entries");
            drop(kumo);

            let t = Instant::now();
            let mut hh = hhwt_fill(&delays);
            h_ins = h_ins.max(mops(n, t.elapsed()));
            let t = Instant::now();
            let popped = hhwt_drain(&mut hh, horizon);
            h_drain = h_drain.max(mops(popped, t.elapsed()));
            assert_eq!(popped, n, "hierarchical_hash_wheel_timer lost entries");
            drop(hh);

            let (ins, drain) = rt.block_on(async {
                let t = Instant::now();
                let (mut q, keys) = dq_fill(&delays, tokio::time::Instant::now());
                let ins = mops(n, t.elapsed());
                drop(keys);
                let t = Instant::now();
                let popped = dq_drain(&mut q, horizon).await;
                assert_eq!(popped, n, "DelayQueue lost entries");
                (ins, net_mops(popped, t.elapsed(), horizon, clock))
            });
            d_ins = d_ins.max(ins);
            d_drain = d_drain.max(drain);
        }

        let m = format!("insert_mops{suffix}");
        r.peer(&m, nn, k_ins, HHWT, h_ins, Better::Higher);
        r.peer(&m, nn, k_ins, DELAY_QUEUE, d_ins, Better::Higher);
        let m = format!("drain_mops{suffix}");
        r.peer(&m, nn, k_drain, HHWT, h_drain, Better::Higher);
        r.peer(&m, nn, k_drain, DELAY_QUEUE_NET, d_drain, Better::Higher);
    }

    // cancel_ns: cancel every other entry (hierarchical_hash_wheel_timer's quad wheel cannot).
    // kumo's cancel is lazy: it leaves the entry behind for the drain to drop, where DelayQueue's
    // remove unlinks it at once. So cancel_then_drain_ms also times what that costs: the cancels
    // plus the drain of the rest through the horizon, on both sides.
    let clock = clock_ns_per_step(horizon);
    let half = n.div_ceil(2);
    let (mut k_cancel, mut k_total, mut d_cancel, mut d_total) =
        (f64::MAX, f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..reps {
        let mut kumo = kumo_fill(&delays);
        let t = Instant::now();
        for id in (0..n as u32).step_by(2) {
            black_box(kumo.cancel(id));
        }
        let cancelled = t.elapsed();
        let popped = kumo_drain(&mut kumo, horizon);
        let total = t.elapsed();
        assert_eq!(popped, n - half, "kumo pops what was not cancelled");
        k_cancel = k_cancel.min(ns_per(half, cancelled));
        k_total = k_total.min(total.as_secs_f64() * 1e3);
        drop(kumo);

        let (c, tot) = rt.block_on(async {
            let (mut q, keys) = dq_fill(&delays, tokio::time::Instant::now());
            let t = Instant::now();
            for k in keys.iter().step_by(2) {
                black_box(q.remove(k));
            }
            let cancelled = t.elapsed();
            let popped = dq_drain(&mut q, horizon).await;
            let total = t.elapsed().as_secs_f64() * 1e3 - horizon as f64 * clock / 1e6;
            assert_eq!(popped, n - half, "DelayQueue pops what was not cancelled");
            (ns_per(half, cancelled), total)
        });
        d_cancel = d_cancel.min(c);
        d_total = d_total.min(tot);
    }
    r.peer(
        "cancel_ns",
        nn,
        k_cancel,
        DELAY_QUEUE,
        d_cancel,
        Better::Lower,
    );
    r.peer(
        "cancel_then_drain_ms",
        nn,
        k_total,
        DELAY_QUEUE_NET,
        d_total,
        Better::Lower,
    );

    // cancel_90pct_ns: cancel 9 of every 10 entries, which makes kumo compact its slots (the
    // amortized cost of compaction shows here, not in cancel_ns).
    let k_cancel90 = best_of(reps, Better::Lower, || {
        let mut kumo = kumo_fill(&delays);
        let t = Instant::now();
        let mut cancelled = 0;
        for id in (0..n as u32).filter(|id| id % 10 != 0) {
            black_box(kumo.cancel(id));
            cancelled += 1;
        }
        let ns = ns_per(cancelled, t.elapsed());
        assert_eq!(kumo_drain(&mut kumo, horizon), n - cancelled);
        ns
    });
    r.solo("cancel_90pct_ns", nn, k_cancel90, Better::Lower);

    // reschedule_ns: move every other entry by an hour (DelayQueue's reset_at).
    let (k_resched, d_resched) = best_of2(
        reps,
        Better::Lower,
        || {
            let mut kumo = kumo_fill(&delays);
            let t = Instant::now();
            for (id, &d) in delays.iter().enumerate().step_by(2) {
                let _ = black_box(kumo.insert(id as u32, Duration::from_millis(d + 3_600_000)));
            }
            let ns = ns_per(half, t.elapsed());
            assert_eq!(kumo.len(), n, "a reschedule keeps the entry");
            ns
        },
        || {
            rt.block_on(async {
                let start = tokio::time::Instant::now();
                let (mut q, keys) = dq_fill(&delays, start);
                let t = Instant::now();
                for (k, &d) in keys.iter().zip(&delays).step_by(2) {
                    q.reset_at(k, start + Duration::from_millis(d + 3_600_000));
                }
                let ns = ns_per(half, t.elapsed());
                assert_eq!(q.len(), n, "a reschedule keeps the entry");
                ns
            })
        },
    );
    r.peer(
        "reschedule_ns",
        nn,
        k_resched,
        DELAY_QUEUE,
        d_resched,
        Better::Lower,
    );

    // idle_advance_ns: n resident entries due in 20-21 days; advance 1 s at a time, nothing due
    // (`REPS` x 100k steps is under 11 days). The same steps and repetitions on every side; each
    // repetition continues from the last.
    let far: Vec<u64> = delays.iter().map(|d| 20 * 86_400_000 + d).collect();
    let steps = 100_000u64;
    let (mut k_idle, mut h_idle, mut d_idle) = (f64::MAX, f64::MAX, f64::MAX);
    let mut kumo = kumo_fill(&far);
    let mut hh = hhwt_fill(&far);
    // (The clock's cost is measured before the fill: it moves the paused clock too.)
    let clock = clock_ns_per_step(steps);
    let (mut q, _keys) = rt.block_on(async { dq_fill(&far, tokio::time::Instant::now()) });
    let mut out = Vec::new();
    let mut hout = Vec::new();
    let mut dpops = 0;
    for rep in 0..reps as u64 {
        let t = Instant::now();
        for s in 1..=steps {
            kumo.advance(Duration::from_secs(rep * steps + s), &mut out);
        }
        k_idle = k_idle.min(ns_per(steps as usize, t.elapsed()));
        let t = Instant::now();
        for _ in 0..steps {
            hhwt_advance(&mut hh, 1, &mut hout);
        }
        h_idle = h_idle.min(ns_per(steps as usize, t.elapsed()));
        let d = rt.block_on(async {
            let t = Instant::now();
            for _ in 0..steps {
                tokio::time::advance(Duration::from_secs(1)).await;
                dpops += black_box(dq_pop_ready(&mut q).await);
            }
            ns_per(steps as usize, t.elapsed()) - clock
        });
        d_idle = d_idle.min(d);
    }
    assert!(
        out.is_empty() && hout.is_empty() && dpops == 0,
        "nothing is due during the idle advance: kumo popped {}, {HHWT} {}, {DELAY_QUEUE} {dpops}",
        out.len(),
        hout.len()
    );
    drop((kumo, hh, q));
    r.peer("idle_advance_ns", nn, k_idle, HHWT, h_idle, Better::Lower);
    r.peer(
        "idle_advance_ns",
        nn,
        k_idle,
        DELAY_QUEUE_NET,
        d_idle,
        Better::Lower,
    );

    // scheduler_bytes_per_message: n messages over n/10 queues named like
    // `campaign-7:tenant-3@domain-4211.example.com`, everything the scheduler holds counted
    // (wheel, due words, message slots, keys' generations, queue ids, interned names, counts,
    // name index). Each message is an 8-byte handle (as KumoMTA's `Message`, an `Arc` pointer).
    // scheduler_overhead_bytes_per_message: the same with zero-sized messages, i.e. what the
    // scheduler itself costs on top of the caller's handles.
    let queues = (n / 10).max(1);
    let (s, sb) = bytes_per(alloc, n, || {
        fill_scheduler::<NonZeroU64>(&delays, queues, |i| {
            NonZeroU64::new(i as u64 + 1).unwrap_or(NonZeroU64::MIN)
        })
    });
    assert_eq!(s.len(), n);
    drop(s);
    r.solo("scheduler_bytes_per_message", nn, sb, Better::Lower);
    let (s, sb0) = bytes_per(alloc, n, || fill_scheduler::<()>(&delays, queues, |_| ()));
    assert_eq!(s.len(), n);
    drop(s);
    r.solo(
        "scheduler_overhead_bytes_per_message",
        nn,
        sb0,
        Better::Lower,
    );
}

/// Pops per microsecond once the paused clock's own cost (`clock_ns` per step, `steps` steps)
/// is taken out of `t`.
fn net_mops(popped: usize, t: Duration, steps: u64, clock_ns: f64) -> f64 {
    let net_ns = (t.as_nanos() as f64 - steps as f64 * clock_ns).max(1.0);
    popped as f64 / net_ns * 1e3
}

/// A scheduler holding `delays.len()` messages spread over `queues` queues.
pub fn fill_scheduler<M>(delays: &[u64], queues: usize, msg: impl Fn(usize) -> M) -> Scheduler<M> {
    let mut s = Scheduler::new();
    let ids: Vec<_> = (0..queues)
        .map(|i| s.queue(&queue_name(i)).expect("short names intern"))
        .collect();
    for (i, &d) in delays.iter().enumerate() {
        let _ = s.schedule(ids[i % queues], msg(i), Duration::from_millis(d));
    }
    s
}
