//! Test support shared by the integration tests: a collecting sink and a Python finder.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a part of it"
)]

use kumo_inject::{BatchReport, GeneratedMessage, MessageSink, RecipientFailure, SinkError};
use std::sync::Mutex;

/// A sink that keeps everything it is given.
#[derive(Debug, Default)]
pub struct Collect {
    pub messages: Mutex<Vec<GeneratedMessage>>,
    pub failures: Mutex<Vec<(u32, String)>>,
    pub reports: Mutex<Vec<BatchReport>>,
}

impl MessageSink for Collect {
    fn accept(&self, m: GeneratedMessage) -> Result<(), SinkError> {
        self.messages.lock().unwrap().push(m);
        Ok(())
    }
    fn recipient_failed(&self, f: &RecipientFailure<'_>) {
        self.failures
            .lock()
            .unwrap()
            .push((f.index, f.error.to_string()));
    }
    fn batch_finished(&self, report: &BatchReport) {
        self.reports.lock().unwrap().push(report.clone());
    }
}

/// The Python to run the independent checks with: `$KUMO_TEST_PYTHON`, else `python3`. `None`
/// (with a note) when there is none and `CI` is unset; a panic when `CI` is set.
pub fn python() -> Option<String> {
    let candidate = std::env::var("KUMO_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = std::process::Command::new(&candidate)
        .args(["-c", "import email.policy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(candidate);
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but no Python is available ({candidate}); set KUMO_TEST_PYTHON");
    }
    #[allow(clippy::print_stderr, reason = "the note the common brief asks for")]
    {
        eprintln!("note: no Python ({candidate}); skipping the independent email check");
    }
    None
}
