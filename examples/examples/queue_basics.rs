//! kumo-queue basics: one timer wheel for every queue of an MTA's scheduled (deferred) queue.
//!
//! Shows a `Scheduler` holding retries for several destination queues: interning queue names,
//! scheduling on a retry ladder, a due-now message handed straight back, a reschedule, a cancel,
//! a per-queue drain (as for a bounce), and `advance(now)` returning due messages grouped by
//! queue. Time is simulated: the scheduler never reads a clock, so the program walks a virtual
//! clock forward. Finally the bare `TimerWheel` with caller-supplied ids.
//!
//! Run it with `cargo run -p kumo-examples --example queue_basics`.
#![allow(
    clippy::print_stdout,
    reason = "an example program prints what it does"
)]

use kumo_queue::{Scheduler, TimerWheel};
use std::time::Duration;

/// A message handle as an MTA would keep it (here just an id and a recipient).
#[derive(Debug)]
struct Msg {
    id: u32,
    rcpt: &'static str,
}

fn minutes(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut scheduler = Scheduler::new(); // default 1 s tick, one wheel for every queue
    let rcpts = [
        ("campaign-7:tenant-3@gmail.com", "ann@gmail.com"),
        ("campaign-7:tenant-3@yahoo.com", "bob@yahoo.com"),
        ("campaign-7:tenant-3@example.net", "cyd@example.net"),
    ];

    // Schedule each message's first retry 20 minutes out, and a second one per queue later.
    let mut keys = Vec::new();
    for (i, (queue, rcpt)) in rcpts.iter().enumerate() {
        let q = scheduler.queue(queue)?;
        let id = i as u32;
        let key = scheduler
            .schedule(q, Msg { id, rcpt }, minutes(20))
            .map_err(|r| r.reason)?;
        keys.push(key);
        scheduler
            .schedule(q, Msg { id: id + 10, rcpt }, minutes(40 + i as u64))
            .map_err(|r| r.reason)?;
    }
    println!(
        "{} messages over {} queues; next due at {:?}",
        scheduler.len(),
        scheduler.queue_count(),
        scheduler.next_due()
    );

    // A due time that has already passed is handed back for the ready queue.
    let q = scheduler.queue(rcpts[0].0)?;
    let rejected = scheduler
        .schedule(
            q,
            Msg {
                id: 99,
                rcpt: "now@gmail.com",
            },
            Duration::ZERO,
        )
        .unwrap_err();
    println!(
        "due now, straight to the ready queue: message {} ({})",
        rejected.message.id, rejected.reason
    );

    // Reschedule one retry, cancel another; a second cancel is a typed error, not a panic.
    scheduler.reschedule(keys[1], minutes(80))?;
    let cancelled = scheduler.cancel(keys[2])?;
    println!("cancelled message {} for {}", cancelled.id, cancelled.rcpt);
    println!(
        "cancelling it again: {}",
        scheduler.cancel(keys[2]).unwrap_err()
    );

    // Bounce everything queued for example.net: the other queues keep their messages.
    let bounced = scheduler
        .find_queue(rcpts[2].0)
        .map(|q| scheduler.drain_queue(q))
        .transpose()?
        .unwrap_or_default();
    println!(
        "bounced {} message(s) from {}; {} left",
        bounced.len(),
        rcpts[2].0,
        scheduler.len()
    );

    // Walk a virtual clock forward a minute at a time and deliver what is due, by queue.
    for minute in 1..=90 {
        let batch = scheduler.advance(minutes(minute));
        for (queue, due) in batch.groups() {
            let ids: Vec<u32> = due.iter().map(|d| d.message.id).collect();
            println!(
                "t={minute:>2} min: {} -> messages {ids:?}",
                scheduler.queue_name(queue).unwrap_or("?")
            );
        }
    }
    assert!(scheduler.is_empty());

    // The bare wheel: the caller supplies u32 ids (its slab indices) and passes `now`.
    let mut wheel = TimerWheel::new();
    for id in 0..1000u32 {
        wheel.insert(id, Duration::from_secs(60 + u64::from(id % 600)))?;
    }
    wheel.cancel(7);
    let mut due = Vec::new();
    wheel.advance(Duration::from_secs(120), &mut due);
    println!(
        "wheel: {} ids due by 2 min, {} still scheduled, {:?}",
        due.len(),
        wheel.len(),
        wheel.stats()
    );
    Ok(())
}
