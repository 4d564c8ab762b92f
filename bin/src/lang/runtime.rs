//! The runtime library's errors and a worker's end in the language chosen, from their data
//! (kinds, numbers, limits), not from the runtime's English text.

/// How a worker with exit code `code` ended, in the language chosen: `was killed by signal 9
/// (SIGKILL)`, `exited with status 3`, followed by what the runtime reported about it (a
/// panic's message and place, as the runtime words it).
pub fn describe_exit(code: i32, failure: Option<&multiproc::Failure>) -> String {
    use multiproc::supervise::signal_name;
    let words = if code < 0 {
        rust_i18n::t!("cause.killed", number = -code, name = signal_name(-code))
    } else {
        rust_i18n::t!("narrate.exit_status", code = code)
    };
    match failure {
        Some(failure) => format!(
            "{words}: {}",
            rust_i18n::t!("failure.it", what = failure_words(failure))
        ),
        None => words.into_owned(),
    }
}

/// An error of the runtime in the language chosen: its kind and numbers said by the
/// catalogue (a limit that starting the workers would pass, a message over the size limit, a
/// peer gone, a shared object broken by a death, an operating-system error and the limit it
/// names). In English, an operating-system error is said whole as the runtime says it (with
/// what it was doing); in Portuguese, its reason and limit (the sentence around it says what
/// failed). The codec's own words, quoted, stay as the codec says them.
pub fn runtime_error(e: &multiproc::Error) -> String {
    if let Some(shortfall) = e.shortfall() {
        return shortfall_words(shortfall);
    }
    if e.io_error().is_some() && *rust_i18n::locale() == *"en" {
        return e.to_string();
    }
    runtime_words(e, &rust_i18n::locale()).unwrap_or_else(|| e.to_string())
}

/// The catalogue's words for an error of the runtime, when its kind has them.
fn runtime_words(e: &multiproc::Error, locale: &str) -> Option<String> {
    use multiproc::ErrorKind as K;
    if let Some(io) = e.io_error() {
        // Its reason and, when it is one, the system limit reached (the sentence around it
        // says what failed).
        let reason = os_reason(io, locale);
        return Some(match e.system_limit() {
            Some(limit) => format!("{reason}: {}", limit_words(limit, locale)),
            None => reason,
        });
    }
    let text = match e.kind() {
        K::Closed => rust_i18n::t!("runtime.closed", locale = locale),
        K::Truncated => {
            let (received, expected) = e.cut_short()?;
            rust_i18n::t!(
                "runtime.truncated",
                locale = locale,
                received = received,
                expected = expected
            )
        }
        K::TooLarge => {
            let (len, max) = e.over_limit()?;
            rust_i18n::t!("runtime.too_large", locale = locale, len = len, max = max)
        }
        K::Timeout => rust_i18n::t!("runtime.timeout", locale = locale),
        K::Codec => rust_i18n::t!("runtime.codec", locale = locale, words = e.codec_words()?),
        K::Broken => match e.broken_by() {
            Some(pid) => rust_i18n::t!("runtime.broken", locale = locale, pid = pid),
            None => rust_i18n::t!("runtime.broken_unknown", locale = locale),
        },
        _ => return None,
    };
    Some(text.into_owned())
}

/// An operating-system error's reason: the catalogue's words for the errors a run can meet,
/// with their number; others as the C library says them.
fn os_reason(io: &std::io::Error, locale: &str) -> String {
    let Some(errno) = io.raw_os_error() else {
        return io.to_string();
    };
    use nix::errno::Errno as E;
    let key = match E::from_raw(errno) {
        E::EAGAIN => "os.eagain",
        E::EMFILE => "os.emfile",
        E::ENFILE => "os.enfile",
        E::ENOMEM => "os.enomem",
        E::EPERM => "os.eperm",
        E::EACCES => "os.eacces",
        E::ENOENT => "os.enoent",
        E::EPIPE => "os.epipe",
        E::ECONNRESET => "os.econnreset",
        E::ENOSPC => "os.enospc",
        E::ESRCH => "os.esrch",
        _ => return io.to_string(),
    };
    rust_i18n::t!(
        "runtime.os",
        locale = locale,
        reason = rust_i18n::t!(key, locale = locale),
        errno = errno
    )
    .into_owned()
}

/// An operating-system error in the language chosen: its reason and number.
pub fn os_error(io: &std::io::Error) -> String {
    os_reason(io, &rust_i18n::locale())
}

/// A system limit reached, in the language chosen.
fn limit_words(limit: multiproc::SystemLimit, locale: &str) -> String {
    use multiproc::SystemLimit as L;
    match limit {
        L::OpenDescriptors { limit: Some(n) } => {
            rust_i18n::t!("runtime.limit_descriptors", locale = locale, n = n)
        }
        L::OpenDescriptors { limit: None } => {
            rust_i18n::t!("runtime.limit_descriptors_unknown", locale = locale)
        }
        L::SystemFiles => rust_i18n::t!("runtime.limit_files", locale = locale),
        L::Processes { limit: Some(n) } => {
            rust_i18n::t!("runtime.limit_processes", locale = locale, n = n)
        }
        L::Processes { limit: None } => {
            rust_i18n::t!("runtime.limit_processes_system", locale = locale)
        }
        _ => limit.to_string().into(),
    }
    .into_owned()
}

/// A limit that starting the workers would pass, with its numbers.
fn shortfall_words(shortfall: &multiproc::Shortfall) -> String {
    match shortfall {
        multiproc::Shortfall::Descriptors {
            needed,
            open,
            more,
            soft,
            hard,
        } => rust_i18n::t!(
            "limits.descriptors",
            needed = needed,
            open = open,
            more = more,
            soft = soft,
            hard = hard
        )
        .into_owned(),
        multiproc::Shortfall::Processes {
            more,
            limit,
            running,
        } => rust_i18n::t!(
            "limits.processes",
            more = more,
            limit = limit,
            running = running,
            total = running + more
        )
        .into_owned(),
        other => other.to_string(),
    }
}

/// What a worker's target reported about its failure, in the language chosen.
fn failure_words(failure: &multiproc::Failure) -> String {
    failure_words_in(failure, &rust_i18n::locale())
}

fn failure_words_in(failure: &multiproc::Failure, locale: &str) -> String {
    use multiproc::Failure as F;
    match failure {
        F::Error(message) => rust_i18n::t!("failure.error", locale = locale, message = message),
        F::Panic {
            message,
            location: Some(at),
        } => rust_i18n::t!(
            "failure.panic_at",
            locale = locale,
            at = at,
            message = message
        ),
        F::Panic {
            message,
            location: None,
        } => rust_i18n::t!("failure.panic", locale = locale, message = message),
        F::BadArguments(why) => rust_i18n::t!("failure.bad_arguments", locale = locale, why = why),
    }
    .into_owned()
}

/// Why a pool call failed, in the language chosen.
pub fn pool_error(e: &multiproc::pool::PoolError) -> String {
    use multiproc::pool::PoolError as P;
    match e {
        P::Tasks(failed) => failed
            .iter()
            .map(|(_, why)| task_error(why))
            .next()
            .unwrap_or_else(|| e.to_string()),
        P::Timeout => rust_i18n::t!("runtime.timeout").into_owned(),
        P::Pool(e) => runtime_error(e),
        other => other.to_string(),
    }
}

/// Why a pool task gave no result, in the language chosen.
pub fn task_error(e: &multiproc::pool::TaskError) -> String {
    task_error_in(e, &rust_i18n::locale())
}

fn task_error_in(e: &multiproc::pool::TaskError, locale: &str) -> String {
    use multiproc::pool::TaskError as T;
    match e {
        T::Panicked {
            message,
            location: Some(at),
        } => rust_i18n::t!(
            "task.panicked_at",
            locale = locale,
            at = at,
            message = message
        ),
        T::Panicked {
            message,
            location: None,
        } => rust_i18n::t!("task.panicked", locale = locale, message = message),
        T::Failed(message) => rust_i18n::t!("task.failed", locale = locale, message = message),
        T::WorkerDied { pid, how, exitcode } => rust_i18n::t!(
            "task.worker_died",
            locale = locale,
            pid = pid,
            how = exitcode.map_or_else(|| how.clone(), |code| describe_exit(code, None))
        ),
        T::TimedOut { pid, after_ms } => {
            rust_i18n::t!("task.timed_out", locale = locale, ms = after_ms, pid = pid)
        }
        T::Cancelled => rust_i18n::t!("task.cancelled", locale = locale),
        T::Codec(why) => rust_i18n::t!("task.codec", locale = locale, why = why),
        other => other.to_string().into(),
    }
    .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_english_catalogue_says_errors_as_the_runtime_does_and_portuguese_in_its_own_words() {
        use std::time::Duration;
        let (mut here, there) = multiproc::pipe().expect("pipe");
        drop(there);
        let closed = here.recv::<u8>().expect_err("closed");
        let queue: multiproc::Queue<u8> = multiproc::Queue::new().expect("queue");
        let timeout = queue
            .get_timeout(Duration::from_millis(1))
            .expect_err("timeout");
        let (mut small, _other) = multiproc::pipe().expect("pipe");
        small.set_max_frame(16);
        let too_large = small.send(&vec![7u8; 100]).expect_err("too large");
        for e in [closed, timeout, too_large] {
            let en = runtime_words(&e, "en").expect("words");
            assert_eq!(en, e.to_string());
            let pt = runtime_words(&e, "pt").expect("words");
            assert_ne!(pt, en);
        }
        for errno in [
            nix::errno::Errno::EAGAIN,
            nix::errno::Errno::EMFILE,
            nix::errno::Errno::ENFILE,
            nix::errno::Errno::ENOMEM,
            nix::errno::Errno::EPERM,
            nix::errno::Errno::EACCES,
            nix::errno::Errno::ENOENT,
            nix::errno::Errno::EPIPE,
            nix::errno::Errno::ECONNRESET,
            nix::errno::Errno::ENOSPC,
            nix::errno::Errno::ESRCH,
        ] {
            let io = std::io::Error::from_raw_os_error(errno as i32);
            assert_eq!(os_reason(&io, "en"), io.to_string());
            let pt = os_reason(&io, "pt");
            assert!(
                !pt.contains(&io.to_string()) && pt.contains("erro do sistema"),
                "{pt}"
            );
        }
        for limit in [
            multiproc::SystemLimit::OpenDescriptors { limit: Some(1024) },
            multiproc::SystemLimit::OpenDescriptors { limit: None },
            multiproc::SystemLimit::SystemFiles,
            multiproc::SystemLimit::Processes { limit: Some(256) },
            multiproc::SystemLimit::Processes { limit: None },
        ] {
            assert_eq!(limit_words(limit, "en"), limit.to_string());
            assert_ne!(limit_words(limit, "pt"), limit.to_string());
        }
        let failures = [
            multiproc::Failure::Error("disk full".into()),
            multiproc::Failure::Panic {
                message: "boom".into(),
                location: Some("src/x.rs:1:2".into()),
            },
            multiproc::Failure::Panic {
                message: "boom".into(),
                location: None,
            },
            multiproc::Failure::BadArguments("bad".into()),
        ];
        for failure in &failures {
            assert_eq!(failure_words_in(failure, "en"), failure.to_string());
            assert_ne!(failure_words_in(failure, "pt"), failure.to_string());
        }
        use multiproc::pool::TaskError as T;
        for e in [
            T::Failed("no".into()),
            T::Panicked {
                message: "boom".into(),
                location: Some("src/x.rs:1:2".into()),
            },
            T::Cancelled,
            T::Codec("bytes".into()),
            T::TimedOut {
                pid: 7,
                after_ms: 30,
            },
        ] {
            assert_eq!(task_error_in(&e, "en"), e.to_string());
            assert_ne!(task_error_in(&e, "pt"), e.to_string());
        }
    }
}
