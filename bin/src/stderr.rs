//! Lines for stderr that never hold up the run: a thread of its own writes them, and the run
//! hands them over without waiting.
//!
//! A stderr that nobody reads (a pipe whose reader stopped, a terminal held with Ctrl-S) then
//! costs lines, never the master's attention: it still sees Ctrl-C, stops and reaps its
//! workers. Lines that do not fit in the queue are dropped and counted, and the count is said
//! at the end. [`flush`] waits a bounded time for what is queued to be written.

use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Lines that may wait to be written.
const QUEUE: usize = 4096;

struct Writer {
    lines: SyncSender<String>,
    /// Lines handed over and not yet written.
    pending: Arc<AtomicUsize>,
    /// Lines dropped because the queue was full.
    dropped: AtomicU64,
}

/// The stderr writer, once started.
static WRITER: OnceLock<Option<Writer>> = OnceLock::new();

/// Whether the thread that writes stderr was started (it counts against `ulimit -u`).
pub fn writer_started() -> bool {
    WRITER.get().is_some()
}

fn writer() -> Option<&'static Writer> {
    WRITER
        .get_or_init(|| {
            let (lines, queue) = sync_channel::<String>(QUEUE);
            let pending = Arc::new(AtomicUsize::new(0));
            let written = Arc::clone(&pending);
            std::thread::Builder::new()
                .name("stderr".into())
                .spawn(move || {
                    let stderr = std::io::stderr();
                    for mut line in queue {
                        // One write per line: stderr is unbuffered, and a line written in
                        // pieces can be cut by another process's on a shared stderr (the
                        // ranks of an MPI job).
                        line.push('\n');
                        let _ = stderr.lock().write_all(line.as_bytes());
                        written.fetch_sub(1, Ordering::SeqCst);
                    }
                })
                .ok()?;
            Some(Writer {
                lines,
                pending,
                dropped: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Queues `text` (a line, without its newline) for stderr; never waits.
pub fn line(text: impl Into<String>) {
    let text = text.into();
    let Some(w) = writer() else {
        // No thread to write for us: write here.
        let _ = std::io::stderr().write_all(format!("{text}\n").as_bytes());
        return;
    };
    w.pending.fetch_add(1, Ordering::SeqCst);
    match w.lines.try_send(text) {
        Ok(()) => {}
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
            w.pending.fetch_sub(1, Ordering::SeqCst);
            w.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Waits at most `within` for the queued lines to be written (saying first how many were
/// dropped, if any); whether they all were.
pub fn flush(within: Duration) -> bool {
    let Some(w) = writer() else {
        return true;
    };
    let dropped = w.dropped.swap(0, Ordering::Relaxed);
    if dropped > 0 {
        line(rust_i18n::t!("error.stderr_dropped", count = dropped).into_owned());
    }
    let deadline = Instant::now() + within;
    while w.pending.load(Ordering::SeqCst) > 0 {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}
