//! Printing a result on stdout, as one JSON line or as a table, and the exit status that
//! follows. A closed stdout (`pi-master | head -3`) is not an error.

use std::io::{self, Write};
use std::process::ExitCode;

use serde::Serialize;

/// Prints `value` as one line of JSON when `json` is set, else writes `table`; returns the
/// exit status: success, also when stdout was closed early, else 1 with a message naming
/// `program`.
pub fn print_result<T: Serialize + ?Sized>(
    program: &str,
    json: bool,
    value: &T,
    table: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> ExitCode {
    let mut stdout = io::stdout().lock();
    let written = if json {
        serde_json::to_writer(&mut stdout, value)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(stdout))
    } else {
        table(&mut stdout)
    };
    match written.and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            let _ = writeln!(
                io::stderr(),
                "{program}: {}",
                rust_i18n::t!("error.cannot_write", error = e)
            );
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}
