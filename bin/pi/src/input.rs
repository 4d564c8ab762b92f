//! Reading `pi-master`'s numbers: counts written the way people write them.
//!
//! `100000000`, `100_000_000`, `1e8`, `1E8` and `2.5e9` are all accepted; anything that is not
//! a whole positive number within the limit is refused with a message that says which rule it
//! broke. These return messages, not errors, because clap prints them after
//! `invalid value '...' for '--steps <N>':`.

use crate::partition::MAX_STEPS;

/// The most worker processes `pi-master` starts: 1024. Beyond that a 2-core classroom machine
/// only thrashes, and the master would hold over 3000 descriptors.
pub const MAX_PROCS: u64 = 1024;

/// Parses a step count: a whole number from 1 to 2^52.
pub fn parse_steps(text: &str) -> Result<u64, String> {
    let n = parse_count(text)?;
    if n > MAX_STEPS {
        return Err(format!(
            "{n} is more than the {MAX_STEPS} (2^52) steps that indices can be counted exactly in doubles"
        ));
    }
    Ok(n)
}

/// Parses a process count: a whole number from 1 to [`MAX_PROCS`].
pub fn parse_procs(text: &str) -> Result<usize, String> {
    let n = parse_count(text)?;
    if n > MAX_PROCS {
        return Err(format!(
            "{n} is more than the {MAX_PROCS} worker processes pi-master will start"
        ));
    }
    Ok(n as usize)
}

/// The longest `--timeout` accepted: a year, in seconds. Past that a limit means nothing,
/// and a `Duration` built from a huge float would overflow.
pub const MAX_TIMEOUT_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// Parses a time limit in seconds: a number greater than 0 (`2`, `0.5`, `1e3`), at most a
/// year.
pub fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let seconds: f64 = t
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds (examples: 30, 2.5, 1e3)"))?;
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(format!("must be more than 0 seconds, not `{text}`"));
    }
    if seconds > MAX_TIMEOUT_SECONDS {
        return Err(format!(
            "{seconds} s is more than a year ({MAX_TIMEOUT_SECONDS} s); leave the option out for no limit"
        ));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

/// The most `--retries` accepted: more lost workers than this in one run is not bad luck.
pub const MAX_RETRIES: u64 = 1000;

/// Parses a retry budget: a whole number from 0 to [`MAX_RETRIES`].
pub fn parse_retries(text: &str) -> Result<u32, String> {
    if text.trim() == "0" {
        return Ok(0);
    }
    let n = parse_count(text)?;
    if n > MAX_RETRIES {
        return Err(format!(
            "{n} is more than the {MAX_RETRIES} retries allowed"
        ));
    }
    Ok(n as u32)
}

/// Parses a whole number ≥ 1, allowing `_` between digits and a decimal exponent.
pub fn parse_count(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("expected a number, got nothing".into());
    }
    if t.starts_with('-') {
        return Err("must be a positive whole number".into());
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
    let not_a_number =
        || format!("`{text}` is not a number (examples: 100000000, 100_000_000, 1e8)");
    let digits = |part: &str| -> Result<String, String> {
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
        return Err("must be at least 1".into());
    }
    if scale < 0 {
        return Err(format!("`{text}` is not a whole number"));
    }
    let too_big = || format!("`{text}` is too large");
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
            let err = parse_count(input).expect_err(input);
            assert!(err.contains(needle), "{input:?}: {err}");
        }
    }

    #[test]
    fn limits() {
        assert_eq!(parse_procs("1024"), Ok(1024));
        assert!(parse_procs("1025").unwrap_err().contains("1024"));
        assert_eq!(parse_steps("4503599627370496"), Ok(1 << 52));
        assert!(parse_steps("4503599627370497").is_err());
        assert_eq!(parse_steps("1e12"), Ok(1_000_000_000_000));
    }
}

/// Parses a comma-separated list (`1,2,4,8`, `8,4K,1M`), each item with `item`; an empty
/// item, or one `item` refuses, is named by its position.
pub fn parse_list<T>(
    text: &str,
    item: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    text.split(',')
        .enumerate()
        .map(|(i, part)| {
            if part.trim().is_empty() {
                Err(format!(
                    "item {} of `{text}` is empty (write a list like 1,2,4)",
                    i + 1
                ))
            } else {
                item(part).map_err(|e| format!("item {} (`{}`): {e}", i + 1, part.trim()))
            }
        })
        .collect()
}

/// Parses a comma-separated list of process counts (`1,2,4,8`), each as [`parse_procs`];
/// returns them sorted, without repeats.
pub fn parse_procs_list(text: &str) -> Result<Vec<usize>, String> {
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
        assert!(parse_procs_list("1,,x").unwrap_err().contains("empty"));
        assert!(
            parse_procs_list("1,x")
                .unwrap_err()
                .contains("not a number")
        );
        assert!(parse_procs_list("0,2").unwrap_err().contains("at least 1"));
        assert!(parse_procs_list("").unwrap_err().contains("empty"));
        assert_eq!(parse_list("3,1e2", parse_count), Ok(vec![3, 100]));
        assert!(
            parse_list("3,x", parse_count)
                .unwrap_err()
                .starts_with("item 2 (`x`)")
        );
    }
}
