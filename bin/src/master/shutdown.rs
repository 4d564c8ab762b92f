//! Stopping every worker when a run cannot go on, through the runtime's supervision:
//! `SIGTERM`, a grace period, then `SIGKILL` (a second signal to the master skips the grace),
//! every worker reaped and its exit reported.

use std::time::Duration;

use multiproc::Process;
use multiproc::signals::SignalWatch;
use multiproc::supervise::Shutdown;

use super::Event;
use super::watch::Worker;

/// How long stopped workers get to exit after SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// Stops and reaps every live worker, telling `observe` what happens.
pub(super) fn stop_all(
    workers: &mut [Worker],
    watch: &SignalWatch,
    observe: &mut dyn FnMut(&Event),
) {
    let live = workers.iter().filter(|w| w.process.is_alive()).count();
    if live > 0 {
        observe(&Event::Stopping {
            reason: rust_i18n::t!(
                "narrate.stopping_workers",
                live = live,
                grace = STOP_GRACE.as_secs()
            )
            .into_owned(),
        });
    }
    let who: Vec<(usize, u32)> = workers.iter().map(|w| (w.index, w.pid())).collect();
    let mut processes: Vec<&mut Process> = workers.iter_mut().map(|w| &mut w.process).collect();
    Shutdown::new(STOP_GRACE).stop(&mut processes, Some(watch), &mut |i, exitcode| {
        let (index, pid) = who[i];
        observe(&Event::Exited {
            index,
            pid,
            exitcode,
        });
    });
}
