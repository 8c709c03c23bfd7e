//! A tokio driver that ticks a [`Scheduler`] and hands due batches to the host.
//!
//! The driver owns the scheduler behind a mutex and runs one task: it advances the scheduler to
//! the current time, reports each popped message's tardiness (`now - due`) to an optional hook,
//! hands the batch to the host (a channel or a callback), then sleeps until the next due time
//! or until a newly scheduled message is earlier. It is the only part of the crate that reads a
//! clock (tokio's, so tests can pause time).
//!
//! # Examples
//!
//! ```
//! use kumo_queue::Scheduler;
//! use kumo_queue::driver::Driver;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (driver, mut batches) = Driver::builder(Scheduler::new())
//!     .on_tardiness(|late| assert!(late < Duration::from_secs(1)))
//!     .spawn_channel();
//! let handle = driver.handle();
//! let due = handle.now() + Duration::from_secs(30);
//! handle.schedule("example.com", "hello", due).map_err(|r| r.reason)?;
//!
//! let batch = batches.recv().await.ok_or("driver stopped")?;
//! assert_eq!(batch.items()[0].message, "hello");
//!
//! let rest = driver.shutdown().await;
//! assert!(rest.scheduler.is_empty());
//! # Ok(())
//! # }
//! ```

use crate::batch::{Due, DueBatch};
use crate::error::{Rejected, ScheduleError};
use crate::scheduler::Scheduler;
use crate::slab::Key;
use crate::strategy::{SingletonTimerWheel, Strategy};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A tardiness hook: called with `now - due` for every message the driver pops.
type Hook = Box<dyn FnMut(Duration) + Send>;
/// A batch callback.
type Callback<M> = Box<dyn FnMut(DueBatch<M>) + Send>;

struct Shared<M, S: Strategy> {
    scheduler: Mutex<Option<Scheduler<M, S>>>,
    wake: Notify,
    stop: AtomicBool,
    epoch: Instant,
}

impl<M, S: Strategy> Shared<M, S> {
    fn lock(&self) -> MutexGuard<'_, Option<Scheduler<M, S>>> {
        // A panic in another thread while holding the lock leaves the scheduler consistent
        // (every method finishes its bookkeeping before it could panic), so keep using it.
        self.scheduler
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }
}

/// Builds a [`Driver`]; from [`Driver::builder`].
pub struct DriverBuilder<M, S: Strategy = SingletonTimerWheel> {
    scheduler: Scheduler<M, S>,
    epoch: Option<Instant>,
    hook: Option<Hook>,
    max_sleep: Duration,
}

impl<M, S: Strategy> fmt::Debug for DriverBuilder<M, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DriverBuilder")
            .field("epoch", &self.epoch)
            .field("max_sleep", &self.max_sleep)
            .finish_non_exhaustive()
    }
}

impl<M: Send + 'static, S: Strategy + Send + 'static> DriverBuilder<M, S> {
    /// The instant that the scheduler's time is measured from. The default is the moment the
    /// driver is spawned, minus the scheduler's current `now`.
    #[must_use]
    pub fn epoch(mut self, epoch: Instant) -> Self {
        self.epoch = Some(epoch);
        self
    }

    /// Calls `hook(now - due)` for every popped message (for a histogram such as KumoMTA's
    /// `timeq_pop_tardiness`). It runs on the driver's task, outside the scheduler's lock.
    #[must_use]
    pub fn on_tardiness(mut self, hook: impl FnMut(Duration) + Send + 'static) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }

    /// The longest the driver sleeps without checking the scheduler (default 60 s). It only
    /// matters as a safety net: the driver also wakes at the next due time and when an earlier
    /// message is scheduled through a [`DriverHandle`].
    #[must_use]
    pub fn max_sleep(mut self, max_sleep: Duration) -> Self {
        self.max_sleep = max_sleep.max(Duration::from_millis(1));
        self
    }

    /// Spawns the driver on the current tokio runtime; it calls `on_due` with every non-empty
    /// batch, on its task.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime (as `tokio::spawn`).
    pub fn spawn(self, on_due: impl FnMut(DueBatch<M>) + Send + 'static) -> Driver<M, S> {
        self.start(Sink::Callback(Box::new(on_due)))
    }

    /// Spawns the driver on the current tokio runtime and returns the receiver of its batches.
    /// If the receiver is dropped the driver stops, and the batch it could not deliver is
    /// returned by [`Driver::shutdown`].
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime (as `tokio::spawn`).
    pub fn spawn_channel(self) -> (Driver<M, S>, mpsc::UnboundedReceiver<DueBatch<M>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (self.start(Sink::Channel(tx)), rx)
    }

    fn start(self, sink: Sink<M>) -> Driver<M, S> {
        let now = Instant::now();
        let epoch = self
            .epoch
            .unwrap_or_else(|| now.checked_sub(self.scheduler.now()).unwrap_or(now));
        let shared = Arc::new(Shared {
            scheduler: Mutex::new(Some(self.scheduler)),
            wake: Notify::new(),
            stop: AtomicBool::new(false),
            epoch,
        });
        let task = tokio::spawn(run(shared.clone(), sink, self.hook, self.max_sleep));
        Driver {
            handle: DriverHandle { shared },
            task: Some(task),
        }
    }
}

enum Sink<M> {
    Callback(Callback<M>),
    Channel(mpsc::UnboundedSender<DueBatch<M>>),
}

impl<M> Sink<M> {
    /// Delivers a batch, or hands it back when the receiver is gone.
    fn deliver(&mut self, batch: DueBatch<M>) -> Result<(), DueBatch<M>> {
        match self {
            Sink::Callback(f) => {
                f(batch);
                Ok(())
            }
            Sink::Channel(tx) => tx.send(batch).map_err(|e| e.0),
        }
    }
}

async fn run<M, S: Strategy>(
    shared: Arc<Shared<M, S>>,
    mut sink: Sink<M>,
    mut hook: Option<Hook>,
    max_sleep: Duration,
) -> Vec<Due<M>> {
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return Vec::new();
        }
        let now = shared.now();
        let (batch, next) = {
            let mut guard = shared.lock();
            let Some(s) = guard.as_mut() else {
                return Vec::new();
            };
            (s.advance(now), s.next_due())
        };
        if !batch.is_empty() {
            if let Some(h) = hook.as_mut() {
                for d in batch.items() {
                    h(d.tardiness(now));
                }
            }
            if let Err(undelivered) = sink.deliver(batch) {
                return undelivered.into_items();
            }
        }
        let wake_at = next.map_or(max_sleep, |d| d.saturating_sub(now).min(max_sleep));
        let deadline = Instant::now() + wake_at;
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {}
            () = shared.wake.notified() => {}
        }
    }
}

/// A running driver; see the [module docs](self).
///
/// Dropping it stops the task (without handing anything back); prefer
/// [`shutdown`](Self::shutdown).
pub struct Driver<M, S: Strategy = SingletonTimerWheel> {
    handle: DriverHandle<M, S>,
    task: Option<JoinHandle<Vec<Due<M>>>>,
}

impl<M, S: Strategy> fmt::Debug for Driver<M, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver").finish_non_exhaustive()
    }
}

/// What a driver hands back when it shuts down.
#[derive(Debug)]
#[non_exhaustive]
pub struct Shutdown<M, S: Strategy = SingletonTimerWheel> {
    /// The scheduler with everything that is still scheduled.
    pub scheduler: Scheduler<M, S>,
    /// A batch that was due but could not be delivered because the receiver was gone.
    pub undelivered: Vec<Due<M>>,
}

impl<M: Send + 'static> Driver<M> {
    /// Starts building a driver for `scheduler`.
    pub fn builder<S: Strategy + Send + 'static>(
        scheduler: Scheduler<M, S>,
    ) -> DriverBuilder<M, S> {
        DriverBuilder {
            scheduler,
            epoch: None,
            hook: None,
            max_sleep: Duration::from_secs(60),
        }
    }
}

impl<M, S: Strategy> Driver<M, S> {
    /// A cloneable handle for scheduling from other tasks.
    pub fn handle(&self) -> DriverHandle<M, S> {
        self.handle.clone()
    }

    /// Stops the task and hands back the scheduler (with everything still scheduled) and any
    /// batch that could not be delivered.
    pub async fn shutdown(mut self) -> Shutdown<M, S>
    where
        S: Default,
    {
        self.handle.shared.stop.store(true, Ordering::Release);
        self.handle.shared.wake.notify_one();
        let undelivered = match self.task.take() {
            Some(task) => task.await.unwrap_or_default(),
            None => Vec::new(),
        };
        let scheduler = self.handle.shared.lock().take();
        let scheduler = match scheduler {
            Some(s) => s,
            // Only reachable if the scheduler was already taken; hand back an empty one.
            None => Scheduler::with_default_tick(S::default()),
        };
        Shutdown {
            scheduler,
            undelivered,
        }
    }
}

impl<M, S: Strategy> Drop for Driver<M, S> {
    fn drop(&mut self) {
        if self.task.is_some() {
            self.handle.shared.stop.store(true, Ordering::Release);
            self.handle.shared.wake.notify_one();
        }
    }
}

/// A cloneable handle to a running [`Driver`]'s scheduler.
pub struct DriverHandle<M, S: Strategy = SingletonTimerWheel> {
    shared: Arc<Shared<M, S>>,
}

impl<M, S: Strategy> Clone for DriverHandle<M, S> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<M, S: Strategy> fmt::Debug for DriverHandle<M, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DriverHandle").finish_non_exhaustive()
    }
}

impl<M, S: Strategy> DriverHandle<M, S> {
    /// The driver's current time: the time since its epoch, on tokio's clock.
    pub fn now(&self) -> Duration {
        self.shared.now()
    }

    /// Schedules `message` on the queue named `queue` at `due` (time since the epoch) and wakes
    /// the driver if it is now the earliest message.
    ///
    /// # Errors
    ///
    /// As [`Scheduler::schedule_named`], plus [`ScheduleError::Stopped`] after shutdown.
    pub fn schedule(&self, queue: &str, message: M, due: Duration) -> Result<Key, Rejected<M>> {
        let mut guard = self.shared.lock();
        let Some(s) = guard.as_mut() else {
            return Err(Rejected {
                message,
                reason: ScheduleError::Stopped,
            });
        };
        let earlier = s.next_due().is_none_or(|n| due < n);
        let key = s.schedule_named(queue, message, due)?;
        drop(guard);
        if earlier {
            self.shared.wake.notify_one();
        }
        Ok(key)
    }

    /// Runs `f` on the scheduler under its lock (to cancel, drain a queue, read counts), then
    /// wakes the driver so it sees any change. Returns `None` after shutdown.
    pub fn with<R>(&self, f: impl FnOnce(&mut Scheduler<M, S>) -> R) -> Option<R> {
        let r = self.shared.lock().as_mut().map(f);
        self.shared.wake.notify_one();
        r
    }
}
