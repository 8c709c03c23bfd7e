//! `LiveConfig`: a layered configuration reloaded when the epoch moves, last good value kept.

use crate::cache::{CacheError, CacheStats, EpochCache, RefreshStrategy};
use crate::epoch::EpochHandle;
use crate::layer_error::LayerError;
use crate::layered::{Layered, Loaded};
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::Arc;

/// A [`Layered`] configuration behind an [`EpochCache`] of one entry: [`LiveConfig::get`] is an
/// atomic load and a lookup while the epoch stands still, reloads the files once when it moved
/// (however many callers ask), and keeps serving the last good configuration when the files are
/// broken (the error is in [`LiveConfig::last_error`]).
///
/// A failed reload is reported three ways: [`LiveConfig::last_error`] holds the typed
/// [`LayerError`] until a reload succeeds, [`CacheStats::load_errors`] (in
/// [`LiveConfig::stats`]) counts it, and a `tracing` warning (target `kumo_config::live`) carries
/// the fields `file`, `key`, `kind` (`missing`, `io`, `content`), `epoch`, `kept_epoch` (the epoch
/// of the configuration still in force, if any) and `error` (the message with its causes). A
/// required file that was deleted, or any file that cannot be read (`EACCES`, `EMFILE`, `EIO`),
/// is such a failure: it never falls back to an empty or default configuration.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use kumo_config::{ConfigEpoch, Layered, LiveConfig};
/// use serde::Deserialize;
///
/// #[derive(Debug, Deserialize)]
/// struct Limits { max_connections: u32 }
///
/// let dir = tempfile::tempdir()?;
/// let file = dir.path().join("limits.toml");
/// std::fs::write(&file, "max_connections = 10")?;
/// let epoch = ConfigEpoch::builder().glob(file.display().to_string()).build()?;
/// let live = LiveConfig::new(Layered::<Limits>::new([&file]), epoch.handle());
/// assert_eq!(live.get()?.value.max_connections, 10);
///
/// std::fs::write(&file, "max_connections = oops")?; // broken
/// epoch.scan();
/// assert_eq!(live.get()?.value.max_connections, 10); // last good
/// assert!(live.last_error().is_some());
///
/// std::fs::write(&file, "max_connections = 20")?; // fixed
/// epoch.scan();
/// assert_eq!(live.get()?.value.max_connections, 20);
/// assert!(live.last_error().is_none());
/// # Ok(()) }
/// ```
pub struct LiveConfig<T> {
    layered: Layered<T>,
    cache: EpochCache<(), Arc<Loaded<T>>, LayerError>,
}

impl<T> fmt::Debug for LiveConfig<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveConfig")
            .field("layered", &self.layered)
            .field("cache", &self.cache)
            .finish()
    }
}

impl<T: DeserializeOwned> LiveConfig<T> {
    /// A live configuration that reloads `layered` when `epoch` moves.
    pub fn new(layered: Layered<T>, epoch: EpochHandle) -> Self {
        Self {
            layered,
            cache: EpochCache::new(epoch, RefreshStrategy::Epoch, 1),
        }
    }

    /// The current configuration, loading it if the epoch moved since the last load.
    ///
    /// # Errors
    ///
    /// Only when no load ever succeeded: the [`LayerError`] of the last attempt.
    pub fn get(&self) -> Result<Arc<Loaded<T>>, CacheError<LayerError>> {
        self.cache.get_with(&(), |_| self.load())
    }

    fn load(&self) -> Result<Arc<Loaded<T>>, LayerError> {
        self.layered.load().map(Arc::new).inspect_err(|e| {
            let kind = match e {
                LayerError::Missing { .. } | LayerError::NoMatch { .. } => "missing",
                e if e.is_io() => "io",
                _ => "content",
            };
            tracing::warn!(
                file = e.file().map(|f| f.display().to_string()),
                key = e.key_path().map(|k| k.to_string()),
                kind,
                epoch = self.cache.epoch().current(),
                kept_epoch = self.cache.value_epoch(&()),
                error = %chain(e),
                "config reload failed; the last good configuration stays in force"
            );
        })
    }

    /// The async twin of [`LiveConfig::get`] (waiting for a reload does not block the thread;
    /// the files are read on the calling task).
    ///
    /// # Errors
    ///
    /// Only when no load ever succeeded: the [`LayerError`] of the last attempt.
    pub async fn get_async(&self) -> Result<Arc<Loaded<T>>, CacheError<LayerError>> {
        self.cache
            .get_with_async(&(), |_| async move { self.load() })
            .await
    }

    /// The last failed load, until a later one succeeds.
    pub fn last_error(&self) -> Option<Arc<LayerError>> {
        self.cache.last_error().map(|e| e.error)
    }

    /// The epoch the configuration now served was loaded at.
    pub fn loaded_epoch(&self) -> Option<u64> {
        self.cache.value_epoch(&())
    }

    /// Load counters (loads, errors, last-good answers).
    pub fn stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// The layered files.
    pub fn layered(&self) -> &Layered<T> {
        &self.layered
    }
}

/// `error: cause: cause`, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
