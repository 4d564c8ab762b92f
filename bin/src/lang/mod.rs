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

mod cli;
mod runtime;

pub use cli::{command_line, input_error, localize_help};
pub use runtime::{describe_exit, os_error, pool_error, runtime_error, task_error};

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
