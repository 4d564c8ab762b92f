//! Reading `pi-master`'s numbers: counts written the way people write them.
//!
//! `100000000`, `100_000_000`, `1e8`, `1E8` and `2.5e9` are all accepted; anything that is not
//! a whole positive number within the limit is refused with an [`InputError`] that says which
//! rule it broke (in English by `Display`; the tools say it in the user's language from its
//! [`InputError::id`] and [`InputError::args`]). clap prints it after
//! `invalid value '...' for '--steps <N>':`.

use std::fmt;

use crate::partition::MAX_STEPS;

/// Why a number (or a list of them) was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum InputError {
    /// Nothing was given.
    Empty,
    /// A minus sign.
    Negative,
    /// Not a number at all.
    NotANumber(String),
    /// Zero.
    Zero,
    /// A fraction.
    NotWhole(String),
    /// Past `u64`.
    TooLarge(String),
    /// More steps than can be counted exactly.
    TooManySteps(u64),
    /// More worker processes than allowed.
    TooManyProcs(u64),
    /// Not a number of seconds.
    NotSeconds(String),
    /// Zero or fewer seconds.
    NotPositiveSeconds(String),
    /// More than a year.
    OverAYear(f64),
    /// More retries than allowed.
    TooManyRetries(u64),
    /// More runs of each measurement than allowed.
    TooManyRepeats(u64),
    /// An empty item of a list: its place (1-based) and the whole list.
    EmptyItem(usize, String),
    /// An item of a list refused: its place (1-based), the item, and why.
    Item(usize, String, Box<InputError>),
    /// Said by someone else's parser, as it is.
    Other(String),
}

impl InputError {
    /// The message's name (`not_a_number`), for a catalogue of translations.
    pub fn id(&self) -> &'static str {
        match self {
            InputError::Empty => "empty",
            InputError::Negative => "negative",
            InputError::NotANumber(_) => "not_a_number",
            InputError::Zero => "zero",
            InputError::NotWhole(_) => "not_whole",
            InputError::TooLarge(_) => "too_large",
            InputError::TooManySteps(_) => "too_many_steps",
            InputError::TooManyProcs(_) => "too_many_procs",
            InputError::NotSeconds(_) => "not_seconds",
            InputError::NotPositiveSeconds(_) => "not_positive_seconds",
            InputError::OverAYear(_) => "over_a_year",
            InputError::TooManyRetries(_) => "too_many_retries",
            InputError::TooManyRepeats(_) => "too_many_repeats",
            InputError::EmptyItem(..) => "empty_item",
            InputError::Item(..) => "item",
            InputError::Other(_) => "other",
        }
    }

    /// The values the message names, by placeholder (`text`, `n`, `max`, ...).
    pub fn args(&self) -> Vec<(&'static str, String)> {
        match self {
            InputError::Empty | InputError::Negative | InputError::Zero => Vec::new(),
            InputError::NotANumber(t)
            | InputError::NotWhole(t)
            | InputError::TooLarge(t)
            | InputError::NotSeconds(t)
            | InputError::NotPositiveSeconds(t)
            | InputError::Other(t) => vec![("text", t.clone())],
            InputError::TooManySteps(n) => {
                vec![("n", n.to_string()), ("max", MAX_STEPS.to_string())]
            }
            InputError::TooManyProcs(n) => {
                vec![("n", n.to_string()), ("max", MAX_PROCS.to_string())]
            }
            InputError::TooManyRetries(n) => {
                vec![("n", n.to_string()), ("max", MAX_RETRIES.to_string())]
            }
            InputError::TooManyRepeats(n) => {
                vec![("n", n.to_string()), ("max", MAX_REPEAT.to_string())]
            }
            InputError::OverAYear(s) => {
                vec![
                    ("seconds", s.to_string()),
                    ("max", MAX_TIMEOUT_SECONDS.to_string()),
                ]
            }
            InputError::EmptyItem(i, list) => {
                vec![("index", i.to_string()), ("text", list.clone())]
            }
            InputError::Item(i, part, _) => vec![("index", i.to_string()), ("text", part.clone())],
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::Empty => write!(f, "expected a number, got nothing"),
            InputError::Negative => write!(f, "must be a positive whole number"),
            InputError::NotANumber(t) => write!(
                f,
                "`{t}` is not a number (examples: 100000000, 100_000_000, 1e8)"
            ),
            InputError::Zero => write!(f, "must be at least 1"),
            InputError::NotWhole(t) => write!(f, "`{t}` is not a whole number"),
            InputError::TooLarge(t) => write!(f, "`{t}` is too large"),
            InputError::TooManySteps(n) => write!(
                f,
                "{n} is more than the {MAX_STEPS} (2^52) steps that indices can be counted exactly in doubles"
            ),
            InputError::TooManyProcs(n) => write!(
                f,
                "{n} is more than the {MAX_PROCS} worker processes pi-master will start"
            ),
            InputError::NotSeconds(t) => write!(
                f,
                "`{t}` is not a number of seconds (examples: 30, 2.5, 1e3)"
            ),
            InputError::NotPositiveSeconds(t) => {
                write!(f, "must be more than 0 seconds, not `{t}`")
            }
            InputError::OverAYear(s) => write!(
                f,
                "{s} s is more than a year ({MAX_TIMEOUT_SECONDS} s); leave the option out for no limit"
            ),
            InputError::TooManyRetries(n) => {
                write!(f, "{n} is more than the {MAX_RETRIES} retries allowed")
            }
            InputError::TooManyRepeats(n) => {
                write!(
                    f,
                    "{n} runs of each would take too long (at most {MAX_REPEAT})"
                )
            }
            InputError::EmptyItem(i, list) => {
                write!(f, "item {i} of `{list}` is empty (write a list like 1,2,4)")
            }
            InputError::Item(i, part, why) => write!(f, "item {i} (`{part}`): {why}"),
            InputError::Other(t) => write!(f, "{t}"),
        }
    }
}

impl std::error::Error for InputError {}

impl From<String> for InputError {
    fn from(text: String) -> Self {
        InputError::Other(text)
    }
}

impl From<InputError> for String {
    fn from(e: InputError) -> Self {
        e.to_string()
    }
}

/// The most worker processes `pi-master` starts: 1024. Beyond that a 2-core classroom machine
/// only thrashes, and the master would hold over 3000 descriptors.
pub const MAX_PROCS: u64 = 1024;

/// Parses a step count: a whole number from 1 to 2^52.
pub fn parse_steps(text: &str) -> Result<u64, InputError> {
    let n = parse_count(text)?;
    if n > MAX_STEPS {
        return Err(InputError::TooManySteps(n));
    }
    Ok(n)
}

/// Parses a process count: a whole number from 1 to [`MAX_PROCS`].
pub fn parse_procs(text: &str) -> Result<usize, InputError> {
    let n = parse_count(text)?;
    if n > MAX_PROCS {
        return Err(InputError::TooManyProcs(n));
    }
    Ok(n as usize)
}

/// The longest `--timeout` accepted: a year, in seconds. Past that a limit means nothing,
/// and a `Duration` built from a huge float would overflow.
pub const MAX_TIMEOUT_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// Parses a time limit in seconds: a number greater than 0 (`2`, `0.5`, `1e3`), at most a
/// year.
pub fn parse_seconds(text: &str) -> Result<std::time::Duration, InputError> {
    let t = text.trim();
    let seconds: f64 = t
        .parse()
        .map_err(|_| InputError::NotSeconds(text.to_string()))?;
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(InputError::NotPositiveSeconds(text.to_string()));
    }
    if seconds > MAX_TIMEOUT_SECONDS {
        return Err(InputError::OverAYear(seconds));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

/// The most `--retries` accepted: more lost workers than this in one run is not bad luck.
pub const MAX_RETRIES: u64 = 1000;

/// Parses a retry budget: a whole number from 0 to [`MAX_RETRIES`].
pub fn parse_retries(text: &str) -> Result<u32, InputError> {
    if text.trim() == "0" {
        return Ok(0);
    }
    let n = parse_count(text)?;
    if n > MAX_RETRIES {
        return Err(InputError::TooManyRetries(n));
    }
    Ok(n as u32)
}

/// The most runs of each measurement (`--repeat`): past this a median changes no more.
pub const MAX_REPEAT: u64 = 99;

/// Parses how many times to run each measurement: a whole number from 1 to [`MAX_REPEAT`].
pub fn parse_repeat(text: &str) -> Result<usize, InputError> {
    let n = parse_count(text)?;
    if n > MAX_REPEAT {
        return Err(InputError::TooManyRepeats(n));
    }
    Ok(n as usize)
}

/// Parses a whole number ≥ 1, allowing `_` between digits and a decimal exponent.
pub fn parse_count(text: &str) -> Result<u64, InputError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(InputError::Empty);
    }
    if t.starts_with('-') {
        return Err(InputError::Negative);
    }
    let t = t.strip_prefix('+').unwrap_or(t);
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(at) => (&t[..at], Some(&t[at + 1..])),
        None => (t, None),
    };
    let (int_part, frac_part) = match mantissa.find('.') {
        Some(at) => (&mantissa[..at], &mantissa[at + 1..]),
        None => (mantissa, ""),
    };
    let not_a_number = || InputError::NotANumber(text.to_string());
    let digits = |part: &str| -> Result<String, InputError> {
        if part.starts_with('_') || part.ends_with('_') || part.contains("__") {
            return Err(not_a_number());
        }
        let d: String = part.chars().filter(|c| *c != '_').collect();
        if !d.chars().all(|c| c.is_ascii_digit()) {
            return Err(not_a_number());
        }
        Ok(d)
    };
    let int_digits = digits(int_part)?;
    let frac_digits = digits(frac_part)?;
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(not_a_number());
    }
    let exp: i64 = match exponent {
        None => 0,
        Some(e) => {
            let e = e.strip_prefix('+').unwrap_or(e);
            let body = e.strip_prefix('-').unwrap_or(e);
            if body.is_empty() || !body.chars().all(|c| c.is_ascii_digit()) {
                return Err(not_a_number());
            }
            // An exponent too long for i64 is still a number, just far out of range.
            e.parse::<i64>()
                .unwrap_or(if e.starts_with('-') { -1000 } else { 1000 })
                .clamp(-1000, 1000)
        }
    };
    // value = (int_digits frac_digits) · 10^(exp - len(frac_digits)), computed exactly.
    let all = format!("{int_digits}{frac_digits}");
    let all = all.trim_start_matches('0');
    let mut scale = exp - frac_digits.len() as i64;
    let mut significant = all.to_string();
    while scale < 0 && significant.ends_with('0') {
        significant.pop();
        scale += 1;
    }
    if significant.is_empty() {
        return Err(InputError::Zero);
    }
    if scale < 0 {
        return Err(InputError::NotWhole(text.to_string()));
    }
    let too_big = || InputError::TooLarge(text.to_string());
    if significant.len() as i64 + scale > 20 {
        return Err(too_big());
    }
    let mut value: u64 = significant.parse().map_err(|_| too_big())?;
    for _ in 0..scale {
        value = value.checked_mul(10).ok_or_else(too_big)?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_hundred_million() {
        for s in [
            "100000000",
            "100_000_000",
            "1e8",
            "1E8",
            "1e+8",
            "1.0e8",
            "0.1e9",
            " 1e8 ",
            "+1e8",
        ] {
            assert_eq!(parse_count(s), Ok(100_000_000), "{s}");
        }
        assert_eq!(parse_count("2.5e9"), Ok(2_500_000_000));
        assert_eq!(parse_count("1"), Ok(1));
    }

    #[test]
    fn refusals_name_the_problem() {
        let cases = [
            ("", "got nothing"),
            ("0", "at least 1"),
            ("0e5", "at least 1"),
            ("-4", "positive"),
            ("abc", "not a number"),
            ("1e", "not a number"),
            ("1_", "not a number"),
            ("_1", "not a number"),
            ("1__0", "not a number"),
            ("1.5", "not a whole number"),
            ("1e-3", "not a whole number"),
            ("99999999999999999999999", "too large"),
            ("1e30", "too large"),
            ("1e999999999999999999999", "too large"),
            ("1e--3", "not a number"),
        ];
        for (input, needle) in cases {
            let err = parse_count(input).expect_err(input).to_string();
            assert!(err.contains(needle), "{input:?}: {err}");
        }
    }

    #[test]
    fn limits() {
        assert_eq!(parse_procs("1024"), Ok(1024));
        assert!(
            parse_procs("1025")
                .unwrap_err()
                .to_string()
                .contains("1024")
        );
        assert_eq!(parse_steps("4503599627370496"), Ok(1 << 52));
        assert!(parse_steps("4503599627370497").is_err());
        assert_eq!(parse_steps("1e12"), Ok(1_000_000_000_000));
    }
}

/// Parses a comma-separated list (`1,2,4,8`, `8,4K,1M`), each item with `item`; an empty
/// item, or one `item` refuses, is named by its position.
pub fn parse_list<T, E: Into<InputError>>(
    text: &str,
    item: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>, InputError> {
    text.split(',')
        .enumerate()
        .map(|(i, part)| {
            if part.trim().is_empty() {
                Err(InputError::EmptyItem(i + 1, text.to_string()))
            } else {
                item(part).map_err(|e| {
                    InputError::Item(i + 1, part.trim().to_string(), Box::new(e.into()))
                })
            }
        })
        .collect()
}

/// Parses a comma-separated list of process counts (`1,2,4,8`), each as [`parse_procs`];
/// returns them sorted, without repeats.
pub fn parse_procs_list(text: &str) -> Result<Vec<usize>, InputError> {
    let mut list = parse_list(text, parse_procs)?;
    list.sort_unstable();
    list.dedup();
    Ok(list)
}

#[cfg(test)]
mod list_tests {
    use super::{parse_count, parse_list, parse_procs_list};

    #[test]
    fn lists() {
        assert_eq!(parse_procs_list("1,2,4,8"), Ok(vec![1, 2, 4, 8]));
        assert_eq!(parse_procs_list("4, 1,4"), Ok(vec![1, 4]));
        assert!(
            parse_procs_list("1,,x")
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        assert!(
            parse_procs_list("1,x")
                .unwrap_err()
                .to_string()
                .contains("not a number")
        );
        assert!(
            parse_procs_list("0,2")
                .unwrap_err()
                .to_string()
                .contains("at least 1")
        );
        assert!(
            parse_procs_list("")
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        assert_eq!(parse_list("3,1e2", parse_count), Ok(vec![3, 100]));
        assert!(
            parse_list("3,x", parse_count)
                .unwrap_err()
                .to_string()
                .starts_with("item 2 (`x`)")
        );
    }
}
