//! Error types, one per failure domain.

use std::fmt;

/// Why the wheel or the scheduler did not accept a due time.
///
/// Every variant is permanent for the given input: retrying the same call gives the same answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InsertError {
    /// The due time is at or before `now` (the time of the last advance): the item is due at once
    /// and belongs in the caller's ready queue, not in the wheel.
    #[error("due time is not in the future")]
    DueNow,
    /// The due time lies beyond the last tick the wheel can represent (`u32::MAX` ticks after the
    /// epoch: about 136 years at the default 1 s tick).
    #[error("due time is beyond the wheel's range")]
    BeyondRange,
    /// The id is at or above the wheel's configured id limit.
    #[error("id is out of range")]
    IdOutOfRange,
}

/// A [`TimerWheel`](crate::TimerWheel) insert that was refused; it hands the id back.
///
/// The common case is [`InsertError::DueNow`]: the caller makes the item ready at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("wheel refused id {id}")]
pub struct Refused {
    /// The id that was not scheduled.
    pub id: u32,
    /// Why.
    #[source]
    pub reason: InsertError,
}

/// A tick length that the wheel cannot use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TickError {
    /// The tick is zero.
    #[error("tick must be longer than zero")]
    Zero,
    /// The tick is longer than `u64::MAX` nanoseconds.
    #[error("tick is too long")]
    TooLong,
}

/// A [`Scheduler`](crate::Scheduler) call that named a message or queue that is not there.
///
/// Permanent: the key or queue id does not become valid later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key's message was already popped, drained or cancelled (its slot may hold another message now).
    #[error("message key is stale")]
    Stale,
    /// The queue id was not issued by this scheduler.
    #[error("unknown queue id")]
    UnknownQueue,
}

/// Why a queue name could not be interned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The name is longer than 65535 bytes.
    #[error("queue name is too long")]
    NameTooLong,
    /// The scheduler already holds [`MAX_QUEUES`](crate::MAX_QUEUES) (2^24) queues.
    #[error("too many queues")]
    TooManyQueues,
}

/// Why [`Scheduler::schedule`](crate::Scheduler::schedule) refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// The due time could not be used (most often [`InsertError::DueNow`]).
    #[error("due time refused")]
    Due(#[source] InsertError),
    /// The queue id is unknown, or the message key stale.
    #[error("message or queue not found")]
    Key(#[source] KeyError),
    /// The queue name could not be interned.
    #[error("queue refused")]
    Queue(#[source] QueueError),
    /// The scheduler already holds `u32::MAX - 1` messages.
    #[error("scheduler is full")]
    Full,
    /// The driver that owned the scheduler has shut down.
    #[error("driver has shut down")]
    Stopped,
}

/// A message handed back by the scheduler together with the reason it was not (re)scheduled.
///
/// With [`ScheduleError::Due`]`(`[`InsertError::DueNow`]`)` the message is due at once: the caller
/// puts it straight into its ready queue.
pub struct Rejected<M> {
    /// The message, returned to the caller unchanged.
    pub message: M,
    /// Why it was refused.
    pub reason: ScheduleError,
}

impl<M> Rejected<M> {
    /// Whether the message was refused because it is already due.
    pub fn is_due_now(&self) -> bool {
        self.reason == ScheduleError::Due(InsertError::DueNow)
    }
}

impl<M> fmt::Debug for Rejected<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<M> fmt::Display for Rejected<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("message not scheduled")
    }
}

impl<M> std::error::Error for Rejected<M> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.reason)
    }
}
