//! [`Durability`]: when a spool write counts as done.

/// When a spool write returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Durability {
    /// On stable storage before the call returns: it survives a crash of the process and of
    /// the machine. Concurrent writes share one sync (group commit). The default.
    #[default]
    Sync,
    /// Handed to the spool without waiting for a sync: it becomes durable with the next
    /// [`Sync`](Self::Sync) write of any caller, or at the latest with the 64th group commit
    /// after it (every 64th group commit in a row of buffered ones syncs). A crash before that may lose it (with the
    /// file backend only a crash of the machine; with the database backend also a crash of
    /// the process). Meant for removals and metadata updates whose loss only repeats work.
    Buffered,
}
