//! The command line in the language chosen: `--help` with clap's added words said in it,
//! the parser's mistakes said in it (exit status 2), and the refusals of the numbers a user
//! types.

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
        E::TooManyRepeats(n) => {
            rust_i18n::t!(
                "input.too_many_repeats",
                n = n,
                max = multiproc_pi::input::MAX_REPEAT
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

/// The command line of `program`, parsed in the language chosen: the language first (from
/// `--lang` or the environment), then `build` makes the command's definition in it, then
/// parses (clap's own words for help and version; mistakes said in the language). An unknown
/// `--lang` is a usage error: said, exit status 2.
pub fn command_line(program: &str, build: impl FnOnce() -> clap::Command) -> clap::ArgMatches {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Err(e) = super::choose(&args) {
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
