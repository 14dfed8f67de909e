//! Progress events from the engine. The CLI renders them (bars on a terminal, lines when
//! piped, JSON with --json); the default methods do nothing, so library callers and tests
//! can ignore progress entirely.

use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading and chunking the data folder.
    Snapshot,
    /// Sending packs to the remote.
    Upload,
    /// Receiving packs from the remote.
    Download,
    /// Writing files into the data folder.
    Write,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::Snapshot => "reading",
            Phase::Upload => "uploading",
            Phase::Download => "downloading",
            Phase::Write => "writing",
        }
    }
}

pub trait Progress: Sync {
    /// A phase starts; `total_bytes` is what it expects to process (0 if unknown).
    fn begin(&self, _phase: Phase, _total_bytes: u64) {}
    fn advance(&self, _bytes: u64) {}
    fn end(&self, _phase: Phase) {}
    /// Something the user should know that does not stop the operation.
    fn warn(&self, _message: &str) {}
}

pub struct NoProgress;
impl Progress for NoProgress {}

/// Set by the CLI's Ctrl-C handler; long loops check it and stop at a safe point.
#[derive(Default)]
pub struct Interrupt(AtomicBool);

impl Interrupt {
    pub fn trigger(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn check(&self) -> crate::error::Result<()> {
        if self.0.load(Ordering::Relaxed) {
            Err(crate::error::Error::Interrupted)
        } else {
            Ok(())
        }
    }
}
