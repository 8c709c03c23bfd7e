//! [`SessionKey`] and [`Side`]: which session an event belongs to, and which end of SMTP we are.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Which end of an SMTP conversation the host plays in a traced session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The host receives mail: a peer connected to our listener. A session opens with
    /// [`Payload::Connected`](crate::Payload::Connected).
    Server,
    /// The host delivers mail: we connect out. A session opens with
    /// [`Payload::BeginSession`](crate::Payload::BeginSession), before the connection exists.
    Client,
}

/// Identifies one traced session; the empty key means "no session" (global diagnostics).
///
/// Cheap to clone (an `Arc<str>`). By convention a server session is keyed
/// `"{peer}->{local}"` ([`SessionKey::server`]) and a client session by its own id
/// ([`SessionKey::new`]), as KumoMTA's tracer does; any string works as long as it is unique
/// among the sessions open at one time.
///
/// # Examples
///
/// ```
/// use kumo_trace::SessionKey;
///
/// let k = SessionKey::server("192.0.2.1:40000".parse()?, "198.51.100.7:25".parse()?);
/// assert_eq!(k.as_str(), "192.0.2.1:40000->198.51.100.7:25");
/// assert!(SessionKey::global().is_global());
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionKey(Arc<str>);

impl SessionKey {
    /// A key from any text.
    pub fn new(key: impl Into<Arc<str>>) -> Self {
        Self(key.into())
    }

    /// The key of a server-side session: `"{peer}->{local}"`.
    pub fn server(peer: SocketAddr, local: SocketAddr) -> Self {
        Self(format!("{peer}->{local}").into())
    }

    /// The empty key, used by events that belong to no session (global diagnostics).
    pub fn global() -> Self {
        Self(Arc::from(""))
    }

    /// Whether this is the empty key of global events.
    pub fn is_global(&self) -> bool {
        self.0.is_empty()
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for SessionKey {
    fn default() -> Self {
        Self::global()
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for SessionKey {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for SessionKey {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}
