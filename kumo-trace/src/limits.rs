//! [`TraceHubConfig`] and [`SubscribeError`]: how many subscribers a hub takes, and when a
//! subscriber that does not read stops costing anything.

use std::time::Duration;

/// The default of [`TraceHubConfig::max_subscribers`].
pub const DEFAULT_MAX_SUBSCRIBERS: usize = 64;

/// The default of [`TraceHubConfig::park_after`]: 10 ms.
///
/// Until it is parked, a full subscriber takes every event and drops its oldest, a locked
/// queue operation per event; with 500 stuck subscribers that is about 230 µs a publish. At
/// 100 ms a demo injecting with 500 stuck trace streams ran at 0.45-0.65 times its rate; at
/// 10 ms at 0.81-0.96. A reader that comes back after a pause is not lost: it gets what its
/// queue held, a lag notice, then new events.
pub const DEFAULT_PARK_AFTER: Duration = Duration::from_millis(10);

/// The default of [`TraceHubConfig::stall_timeout`].
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The limits of a [`TraceHub`](crate::TraceHub): how many subscribers it takes, and what
/// happens to a subscriber whose queue is full while its reader takes nothing.
///
/// A subscriber is *full* when its queue holds [`SubscribeOptions::capacity`] events or
/// [`SubscribeOptions::max_bytes`] bytes. While it is full and its reader receives now and
/// then, it loses its oldest events and is told how many (a lag notice). When it stays full
/// without a single receive:
///
/// 1. after [`park_after`](Self::park_after) it is **parked**: publishers skip it (its queue
///    keeps the events it holds, newer ones are only counted), so publishing costs what it
///    costs without it; when only parked subscribers remain, events are not even built. If
///    its reader receives again, it gets the events it holds, a lag notice with the count it
///    missed, and then new events.
/// 2. after [`stall_timeout`](Self::stall_timeout) it is **dropped**: its queue is freed, its
///    last event is a lag notice saying so, and then its stream ends. Its place counts no
///    more against [`max_subscribers`](Self::max_subscribers).
///
/// Time is the publishers': the `when` of the events published, or the `now` passed to
/// [`TraceHub::expire_stalled`](crate::TraceHub::expire_stalled) (call it now and then, since
/// nothing is built while only parked subscribers remain). The hub never reads the clock for
/// this.
///
/// [`SubscribeOptions::capacity`]: crate::SubscribeOptions::capacity
/// [`SubscribeOptions::max_bytes`]: crate::SubscribeOptions::max_bytes
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use kumo_trace::{TraceHub, TraceHubConfig};
///
/// let mut config = TraceHubConfig::default();
/// config.max_subscribers = 8;
/// config.stall_timeout = Duration::from_secs(5);
/// let hub = TraceHub::with_config(config);
/// assert_eq!(hub.config().max_subscribers, 8);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TraceHubConfig {
    /// How many subscriptions may be attached at once (parked ones included); beyond it
    /// [`TraceHub::try_subscribe`](crate::TraceHub::try_subscribe) fails
    /// ([`TraceHub::subscribe`](crate::TraceHub::subscribe), for the host's own consumers,
    /// attaches anyway and counts). At least 1;
    /// default [`DEFAULT_MAX_SUBSCRIBERS`].
    pub max_subscribers: usize,
    /// How long a subscriber may stay full without a receive before publishers skip it.
    /// Default [`DEFAULT_PARK_AFTER`].
    pub park_after: Duration,
    /// How long a subscriber may stay full without a receive before it is dropped.
    /// Default [`DEFAULT_STALL_TIMEOUT`].
    pub stall_timeout: Duration,
}

impl Default for TraceHubConfig {
    fn default() -> Self {
        Self {
            max_subscribers: DEFAULT_MAX_SUBSCRIBERS,
            park_after: DEFAULT_PARK_AFTER,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
        }
    }
}

/// The error of [`TraceHub::try_subscribe`](crate::TraceHub::try_subscribe).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The hub has [`TraceHubConfig::max_subscribers`] subscriptions attached (transient: a
    /// place frees when one is dropped, ends or stalls past its deadline; an HTTP endpoint
    /// answers `503` with `Retry-After`).
    #[error("too many trace subscribers (at most {max})")]
    TooManySubscribers {
        /// The limit in force.
        max: usize,
    },
}
