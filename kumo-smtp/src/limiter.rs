//! [`ConnectionLimiter`]: caps on concurrent connections, in all and per peer address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Counts open connections, in all and per peer IP address, and refuses those over either
/// limit. Cheap to clone: clones share the counts.
///
/// A host's accept loop asks for a [`ConnectionPermit`] for each accepted connection and
/// keeps it for the session's life; [`serve`](crate::serve) does this, and answers a refused
/// connection `421 4.3.2` before closing it (as KumoMTA does above `max_connections`).
///
/// # Examples
///
/// ```
/// use kumo_smtp::{ConnectionLimiter, LimitExceeded};
///
/// let limiter = ConnectionLimiter::new(100, 1);
/// let peer = "192.0.2.7".parse()?;
/// let permit = limiter.try_acquire(peer)?;
/// assert_eq!(limiter.try_acquire(peer).unwrap_err(), LimitExceeded::PerPeer { limit: 1 });
/// assert!(limiter.try_acquire("192.0.2.8".parse()?).is_ok());
/// drop(permit);
/// assert!(limiter.try_acquire(peer).is_ok());
/// assert_eq!(limiter.denied(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConnectionLimiter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    max_total: usize,
    max_per_peer: usize,
    counts: Mutex<Counts>,
    denied: AtomicU64,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    /// Only addresses with an open connection: the map never outgrows `max_total`.
    per_peer: HashMap<IpAddr, usize>,
}

/// Why a connection was refused. Transient: the client should retry later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitExceeded {
    /// As many connections as the global limit are open.
    #[error("too many connections (limit {limit})")]
    Global {
        /// The limit in force.
        limit: usize,
    },
    /// As many connections from this peer address as its limit are open.
    #[error("too many connections from this address (limit {limit})")]
    PerPeer {
        /// The limit in force.
        limit: usize,
    },
}

impl Default for ConnectionLimiter {
    /// 32,768 in all (KumoMTA `max_connections`), 50 per peer address (Postfix
    /// `smtpd_client_connection_count_limit`).
    fn default() -> Self {
        Self::new(32_768, 50)
    }
}

impl ConnectionLimiter {
    /// A limiter allowing `max_total` connections in all and `max_per_peer` from any one IP
    /// address.
    pub fn new(max_total: usize, max_per_peer: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                max_total,
                max_per_peer,
                counts: Mutex::new(Counts::default()),
                denied: AtomicU64::new(0),
            }),
        }
    }

    /// A permit for one more connection from `peer`, held until dropped.
    ///
    /// # Errors
    ///
    /// [`LimitExceeded`] when either limit is reached; the refusal is counted
    /// ([`denied`](Self::denied)).
    pub fn try_acquire(&self, peer: IpAddr) -> Result<ConnectionPermit, LimitExceeded> {
        let mut counts = self.inner.lock();
        let refused = if counts.total >= self.inner.max_total {
            Some(LimitExceeded::Global {
                limit: self.inner.max_total,
            })
        } else if counts.per_peer.get(&peer).copied().unwrap_or(0) >= self.inner.max_per_peer {
            Some(LimitExceeded::PerPeer {
                limit: self.inner.max_per_peer,
            })
        } else {
            None
        };
        if let Some(refused) = refused {
            self.inner.denied.fetch_add(1, Ordering::Relaxed);
            return Err(refused);
        }
        counts.total += 1;
        *counts.per_peer.entry(peer).or_default() += 1;
        Ok(ConnectionPermit {
            inner: self.inner.clone(),
            peer,
        })
    }

    /// Connections open now.
    pub fn active(&self) -> usize {
        self.inner.lock().total
    }

    /// Connections open now from `peer`.
    pub fn active_from(&self, peer: IpAddr) -> usize {
        self.inner.lock().per_peer.get(&peer).copied().unwrap_or(0)
    }

    /// Connections refused so far (KumoMTA's `total_connections_denied`).
    pub fn denied(&self) -> u64 {
        self.inner.denied.load(Ordering::Relaxed)
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Counts> {
        // The counts stay consistent whatever panicked while holding the lock: each update
        // is a pair of increments or decrements with nothing that can panic between them.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One open connection counted by a [`ConnectionLimiter`]; dropping it frees the place.
#[derive(Debug)]
pub struct ConnectionPermit {
    inner: Arc<Inner>,
    peer: IpAddr,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut counts = self.inner.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_peer.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                counts.per_peer.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_limit_and_the_map_empties() {
        let limiter = ConnectionLimiter::new(2, 5);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let p1 = limiter.try_acquire(a).unwrap();
        let p2 = limiter.try_acquire(b).unwrap();
        assert_eq!(
            limiter.try_acquire(a).unwrap_err(),
            LimitExceeded::Global { limit: 2 }
        );
        assert_eq!((limiter.active(), limiter.active_from(a)), (2, 1));
        drop((p1, p2));
        assert_eq!(limiter.active(), 0);
        assert!(limiter.inner.lock().per_peer.is_empty());
        assert_eq!(limiter.denied(), 1);
    }
}
