//! The language of what the tools print for people: Portuguese or English.
//!
//! The messages live in one catalogue per language (`bin/locales/en.toml`, `pt.toml`), read at
//! build time by [rust-i18n](https://docs.rs/rust-i18n), and are looked up with its `t!` macro:
//! a course taught in Portuguese sees its reports, narration, errors and `--help` in
//! Portuguese with no flag to remember. rust-i18n was chosen over Fluent because its
//! catalogues are plain key-value files a teacher can edit, loaded into the binary at build
//! time, with named placeholders and nothing else to learn; the one thing Fluent adds, plural
//! rules, is covered here by choosing between two words ([`crate::text::count`]), which
//! Portuguese and English agree on (1 passo, 2 passos).
//!
//! The language follows `LC_ALL`, then `LC_MESSAGES`, then `LANG` (the first one set and
//! not empty, as the C library does): `pt_BR`, `pt_PT` and `pt` give Portuguese, anything else
//! English. `--lang pt|en` overrides them. Numbers keep the decimal point, and `--json` keys
//! and values never change.

/// The message `key` in the language chosen, its `%{name}` placeholders replaced by `args`:
/// for the binaries, which share this crate's catalogues (the library's own code uses
/// rust-i18n's `t!`).
pub fn tr(key: &str, args: &[(&str, &dyn std::fmt::Display)]) -> std::borrow::Cow<'static, str> {
    let mut text = rust_i18n::t!(key).into_owned();
    for (name, value) in args {
        text = text.replace(&format!("%{{{name}}}"), &value.to_string());
    }
    std::borrow::Cow::Owned(text)
}

/// `t!("key", name = value)` for the binaries: [`tr`] with named arguments.
#[macro_export]
macro_rules! tr {
    ($key:expr) => {
        $crate::lang::tr($key, &[])
    };
    ($key:expr, $($name:ident = $value:expr),+ $(,)?) => {
        $crate::lang::tr($key, &[$((stringify!($name), &$value as &dyn std::fmt::Display)),+])
    };
}

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

/// An argument's help with its default and its possible values said in the language chosen
/// (clap would add them in English): `[padrão: pipe]`, and for a value to choose, the values,
/// each with its help in `--help`.
fn said_in_full(arg: clap::Arg) -> clap::Arg {
    let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
    let mut short = help.clone();
    let mut long = help;
    let values: Vec<clap::builder::PossibleValue> = if arg.get_action().takes_values() {
        arg.get_possible_values()
            .into_iter()
            .filter(|v| !v.is_hide_set())
            .collect()
    } else {
        Vec::new()
    };
    if !values.is_empty() {
        let names: Vec<&str> = values.iter().map(|v| v.get_name()).collect();
        short.push_str(&format!(
            " [{}: {}]",
            rust_i18n::t!("help.values_label"),
            names.join(", ")
        ));
        long.push_str(&format!("\n\n{}:", rust_i18n::t!("help.values_heading")));
        for v in &values {
            let said = v.get_help().map(|h| h.to_string()).unwrap_or_default();
            long.push_str(&format!("\n- {}: {said}", v.get_name()));
        }
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if !defaults.is_empty() && arg.get_action().takes_values() {
        let default = format!(
            " [{}: {}]",
            rust_i18n::t!("help.default_label"),
            defaults.join(", ")
        );
        short.push_str(&default);
        if values.is_empty() {
            long.push_str(&default);
        } else {
            long.push_str(&format!("\n\n{}", default.trim_start()));
        }
    }
    if !arg.get_action().takes_values() {
        return arg;
    }
    arg.help(short)
        .long_help(long)
        .hide_default_value(true)
        .hide_possible_values(true)
}

/// Gives `cmd` and its subcommands the chosen language's headings ("Uso:", "Opções",
/// "Comandos") and their own `-h`/`--help` (and, at the top, `-V`/`--version`) said in that
/// language; the arguments' help comes from the catalogues, set by the caller.
pub fn localize_help(cmd: clap::Command) -> clap::Command {
    fn each(cmd: clap::Command, top: bool) -> clap::Command {
        let options = rust_i18n::t!("help.options_heading").into_owned();
        let template = format!(
            "{{before-help}}{{about-with-newline}}\n{} {{usage}}\n\n{{all-args}}{{after-help}}",
            rust_i18n::t!("help.usage_heading")
        );
        let ids: Vec<clap::Id> = cmd.get_arguments().map(|a| a.get_id().clone()).collect();
        let mut cmd = cmd
            .help_template(template)
            .disable_help_flag(true)
            .disable_help_subcommand(true)
            .subcommand_help_heading(rust_i18n::t!("help.commands_heading").into_owned())
            .arg(
                clap::Arg::new("help")
                    .short('h')
                    .long("help")
                    .action(clap::ArgAction::Help)
                    .help(rust_i18n::t!("help.help").into_owned()),
            );
        if top {
            cmd = cmd.disable_version_flag(true).arg(
                clap::Arg::new("version")
                    .short('V')
                    .long("version")
                    .action(clap::ArgAction::Version)
                    .help(rust_i18n::t!("help.version").into_owned()),
            );
        }
        for id in ids.iter().map(|id| id.as_str().to_string()) {
            let heading = options.clone();
            cmd = cmd.mut_arg(id, |a| said_in_full(a).help_heading(heading));
        }
        let heading = options.clone();
        cmd = cmd.mut_arg("help", |a| a.help_heading(heading.clone()));
        if top {
            cmd = cmd.mut_arg("version", |a| a.help_heading(heading));
        }
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        for name in names {
            cmd = cmd.mut_subcommand(name, |s| each(s, false));
        }
        cmd
    }
    each(cmd, true)
}

/// A refused number in the language chosen (`input.*` in the catalogues).
pub fn input_error(e: &multiproc_pi::input::InputError) -> String {
    use multiproc_pi::input::InputError as E;
    let text = match e {
        E::Empty => rust_i18n::t!("input.empty"),
        E::Negative => rust_i18n::t!("input.negative"),
        E::NotANumber(t) => rust_i18n::t!("input.not_a_number", text = t),
        E::Zero => rust_i18n::t!("input.zero"),
        E::NotWhole(t) => rust_i18n::t!("input.not_whole", text = t),
        E::TooLarge(t) => rust_i18n::t!("input.too_large", text = t),
        E::TooManySteps(n) => rust_i18n::t!(
            "input.too_many_steps",
            n = n,
            max = multiproc_pi::partition::MAX_STEPS
        ),
        E::TooManyProcs(n) => {
            rust_i18n::t!(
                "input.too_many_procs",
                n = n,
                max = multiproc_pi::input::MAX_PROCS
            )
        }
        E::NotSeconds(t) => rust_i18n::t!("input.not_seconds", text = t),
        E::NotPositiveSeconds(t) => rust_i18n::t!("input.not_positive_seconds", text = t),
        E::OverAYear(s) => rust_i18n::t!(
            "input.over_a_year",
            seconds = s,
            max = multiproc_pi::input::MAX_TIMEOUT_SECONDS
        ),
        E::TooManyRetries(n) => {
            rust_i18n::t!(
                "input.too_many_retries",
                n = n,
                max = multiproc_pi::input::MAX_RETRIES
            )
        }
        E::EmptyItem(i, list) => rust_i18n::t!("input.empty_item", index = i, text = list),
        E::Item(i, part, why) => {
            rust_i18n::t!("input.item", index = i, text = part, why = input_error(why))
        }
        E::Other(t) => t.clone().into(),
    };
    text.into_owned()
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
        T::Cancelled => rust_i18n::t!("task.cancelled", locale = locale, locale = locale),
        T::Codec(why) => rust_i18n::t!("task.codec", locale = locale, why = why),
        other => other.to_string().into(),
    }
    .into_owned()
}

/// Words said in the language chosen, kept with their English: a run's JSON carries the
/// English, so that it is the same whatever the language, and people read the other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Said {
    text: String,
    english: String,
}

impl Said {
    /// `words` said in the language chosen and in English (it is called once for each).
    pub fn new(words: impl Fn() -> String) -> Said {
        let chosen = rust_i18n::locale().to_string();
        if chosen == "en" {
            let text = words();
            return Said {
                english: text.clone(),
                text,
            };
        }
        rust_i18n::set_locale("en");
        let english = words();
        rust_i18n::set_locale(&chosen);
        Said {
            text: words(),
            english,
        }
    }

    /// The words in the language chosen.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The words in English.
    pub fn english(&self) -> &str {
        &self.english
    }

    /// These words, `between`, then `more`, in both languages.
    pub fn then(&self, between: &str, more: &Said) -> Said {
        Said {
            text: format!("{}{between}{}", self.text, more.text),
            english: format!("{}{between}{}", self.english, more.english),
        }
    }
}

/// In JSON, the English.
impl serde::Serialize for Said {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.english)
    }
}

impl std::fmt::Display for Said {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// The languages there are catalogues for.
pub const LANGUAGES: [&str; 2] = ["en", "pt"];

/// The language the environment asks for: `pt` for a Portuguese locale, else `en`.
pub fn from_environment(get: impl Fn(&str) -> Option<String>) -> &'static str {
    let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .into_iter()
        .filter_map(get)
        .find(|value| !value.is_empty())
        .unwrap_or_default();
    let language = locale
        .split(['_', '.', '@', '-'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if language == "pt" { "pt" } else { "en" }
}

/// What `--lang VALUE` asks for, or the usage error that names the choices.
pub fn parse(value: &str) -> Result<&'static str, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "pt" | "pt_br" | "pt-br" | "pt_pt" | "pt-pt" => Ok("pt"),
        "en" => Ok("en"),
        _ => Err(rust_i18n::t!("error.unknown_lang", value = value).into_owned()),
    }
}

/// The `--lang` value on a command line (`--lang pt`, `--lang=pt`), if any: read before the
/// full parse, so that `--help` and the parser's own errors come in that language.
pub fn from_args(args: &[std::ffi::OsString]) -> Option<String> {
    let mut args = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(arg) = args.next() {
        if arg == "--" {
            return None;
        }
        if arg == "--lang" {
            return Some(args.next().map(|v| v.into_owned()).unwrap_or_default());
        }
        if let Some(value) = arg.strip_prefix("--lang=") {
            return Some(value.to_string());
        }
    }
    None
}

/// The command line of `program`, parsed in the language chosen: the language first (from
/// `--lang` or the environment), then `build` makes the command's definition in it, then
/// parses (clap's own words for help and version; mistakes said in the language). An unknown
/// `--lang` is a usage error: said, exit status 2.
pub fn command_line(program: &str, build: impl FnOnce() -> clap::Command) -> clap::ArgMatches {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Err(e) = choose(&args) {
        usage_exit(program, &e);
    }
    parse_or_exit(program, build(), args)
}

/// Says a usage error of `program` and exits with status 2.
fn usage_exit(program: &str, message: &str) -> ! {
    eprintln!(
        "{program}: {}: {message}\n\n{}",
        rust_i18n::t!("error.prefix"),
        rust_i18n::t!("error.usage_more")
    );
    std::process::exit(2);
}

/// Parses `args` with `cmd`, or exits: help and version as clap prints them; a mistake on the
/// command line, exit status 2, said by clap in English and by us in Portuguese (clap has no
/// hook for its messages, but its errors carry what went wrong: which argument, which value,
/// why).
fn parse_or_exit(
    program: &str,
    mut cmd: clap::Command,
    args: Vec<std::ffi::OsString>,
) -> clap::ArgMatches {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let e = match cmd.try_get_matches_from_mut(args) {
        Ok(matches) => return matches,
        Err(e) => e,
    };
    let said_by_clap = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) || *rust_i18n::locale() == *"en";
    if said_by_clap {
        e.exit();
    }
    let context = |kind: ContextKind| match e.get(kind) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(list)) => list.join(", "),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let arg = context(ContextKind::InvalidArg);
    let value = context(ContextKind::InvalidValue);
    let message = match e.kind() {
        ErrorKind::ValueValidation => {
            let why = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_default();
            rust_i18n::t!("usage.invalid_because", value = value, arg = arg, why = why)
        }
        ErrorKind::InvalidValue if value.is_empty() => {
            rust_i18n::t!("usage.value_required", arg = arg)
        }
        ErrorKind::InvalidValue => rust_i18n::t!(
            "usage.invalid_value",
            value = value,
            arg = arg,
            values = context(ContextKind::ValidValue)
        ),
        ErrorKind::UnknownArgument => rust_i18n::t!("usage.unknown_argument", arg = arg),
        ErrorKind::InvalidSubcommand => rust_i18n::t!(
            "usage.unknown_command",
            name = context(ContextKind::InvalidSubcommand)
        ),
        ErrorKind::ArgumentConflict if e.get(ContextKind::InvalidSubcommand).is_some() => {
            rust_i18n::t!(
                "usage.command_conflict",
                name = context(ContextKind::InvalidSubcommand),
                other = context(ContextKind::PriorArg)
            )
        }
        ErrorKind::ArgumentConflict if context(ContextKind::PriorArg) == arg => {
            rust_i18n::t!("usage.used_twice", arg = arg)
        }
        ErrorKind::ArgumentConflict => rust_i18n::t!(
            "usage.conflict",
            arg = arg,
            other = context(ContextKind::PriorArg)
        ),
        ErrorKind::TooManyValues => {
            rust_i18n::t!("usage.no_value_expected", value = value, arg = arg)
        }
        ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => rust_i18n::t!(
            "usage.number_of_values",
            arg = arg,
            expected = context(ContextKind::ExpectedNumValues),
            actual = context(ContextKind::ActualNumValues)
        ),
        ErrorKind::MissingRequiredArgument => rust_i18n::t!("usage.missing_required", args = arg),
        ErrorKind::MissingSubcommand => rust_i18n::t!(
            "usage.missing_command",
            name = context(ContextKind::InvalidSubcommand)
        ),
        ErrorKind::NoEquals => rust_i18n::t!("usage.no_equals", arg = arg),
        ErrorKind::InvalidUtf8 => rust_i18n::t!("usage.not_utf8"),
        // Not a mistake on the command line (clap failing to write, a malformed template):
        // said as clap says it.
        _ => e
            .to_string()
            .trim_start_matches("error: ")
            .trim()
            .to_string()
            .into(),
    };
    let similar = [ContextKind::SuggestedArg, ContextKind::SuggestedSubcommand]
        .into_iter()
        .map(context)
        .find(|s| !s.is_empty());
    match similar {
        Some(name) => usage_exit(
            program,
            &format!(
                "{message}\n\n{}",
                rust_i18n::t!("usage.similar", name = name)
            ),
        ),
        None => usage_exit(program, &message),
    }
}

/// Sets the language (`en` or `pt`) for everything said from now on.
pub fn set(language: &str) {
    rust_i18n::set_locale(language);
}

/// Sets the language the environment asks for ([`from_environment`]).
pub fn set_from_environment() {
    rust_i18n::set_locale(from_environment(|name| std::env::var(name).ok()));
}

/// Sets the language for everything printed from now on: `--lang` if given (an unknown one is
/// the returned usage error, said in the environment's language), else the environment's.
pub fn choose(args: &[std::ffi::OsString]) -> Result<(), String> {
    set_from_environment();
    if let Some(value) = from_args(args) {
        rust_i18n::set_locale(parse(&value)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn the_environment_chooses_as_the_c_library_does() {
        assert_eq!(from_environment(env(&[("LANG", "pt_BR.UTF-8")])), "pt");
        assert_eq!(from_environment(env(&[("LANG", "pt_PT.UTF-8")])), "pt");
        assert_eq!(from_environment(env(&[("LANG", "pt")])), "pt");
        assert_eq!(from_environment(env(&[("LANG", "C")])), "en");
        assert_eq!(from_environment(env(&[("LANG", "de_DE.UTF-8")])), "en");
        assert_eq!(from_environment(env(&[])), "en");
        // LC_ALL first, then LC_MESSAGES, then LANG; an empty one does not count.
        assert_eq!(
            from_environment(env(&[("LC_ALL", "C"), ("LANG", "pt_BR.UTF-8")])),
            "en"
        );
        assert_eq!(
            from_environment(env(&[("LC_ALL", ""), ("LC_MESSAGES", "pt_BR.UTF-8")])),
            "pt"
        );
    }

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

    #[test]
    fn lang_is_found_on_the_command_line_before_parsing() {
        let args =
            |list: &[&str]| -> Vec<std::ffi::OsString> { list.iter().map(|s| s.into()).collect() };
        assert_eq!(
            from_args(&args(&["pi-master", "--lang", "pt"])),
            Some("pt".into())
        );
        assert_eq!(
            from_args(&args(&["pi-master", "--lang=en"])),
            Some("en".into())
        );
        assert_eq!(from_args(&args(&["pi-master", "--procs", "2"])), None);
        assert!(parse("pt").is_ok() && parse("EN").is_ok());
        assert!(parse("fr").is_err());
    }
}
