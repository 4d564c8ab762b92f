//! Words for people: reports fit 80 columns (a projector's terminal), counts agree with their
//! nouns ("1 step", "2 steps", in the language chosen), and a debug build says it is one.

/// The width every report keeps to by default.
pub const WIDTH: usize = 80;

/// `text` wrapped to [`WIDTH`] columns, every line starting with `indent` (the first with
/// `first`), as lines ending in a newline.
pub fn wrap(text: &str, first: &str, indent: &str) -> String {
    let options = textwrap::Options::new(WIDTH)
        .initial_indent(first)
        .subsequent_indent(indent);
    let mut out = String::new();
    for line in textwrap::wrap(text, options) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `1 step`, `2 steps`: `count` and its noun, singular or plural.
pub fn count(count: u64, singular: &str, plural: &str) -> String {
    format!("{count} {}", if count == 1 { singular } else { plural })
}

/// When this program is a debug build, what a report adds to say so, with `why` its timings
/// mislead (`report.debug_pi`: only the pi kernel is optimised in every build, by
/// `profile.dev.package.multiproc-pi`; `report.debug_bench`: 1 MiB messages were measured 13
/// times slower, 8-byte ones 1.7 times).
pub fn debug_build_note(why: &str) -> Option<String> {
    cfg!(debug_assertions).then(|| rust_i18n::t!("report.debug", why = why).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_to_the_width_with_indents() {
        let text = "word ".repeat(60);
        let wrapped = wrap(&text, "> ", "  ");
        assert!(wrapped.lines().count() > 3);
        assert!(wrapped.starts_with("> word"));
        for line in wrapped.lines() {
            assert!(line.chars().count() <= WIDTH, "{line:?}");
        }
        assert!(wrapped.lines().skip(1).all(|l| l.starts_with("  word")));
    }

    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(count(1, "step", "steps"), "1 step");
        assert_eq!(count(0, "step", "steps"), "0 steps");
        assert_eq!(count(2, "process", "processes"), "2 processes");
    }

    #[test]
    fn the_debug_note_fits_and_follows_the_build() {
        for why in [
            rust_i18n::t!("report.debug_pi"),
            rust_i18n::t!("report.debug_bench"),
        ] {
            assert_eq!(debug_build_note(&why).is_some(), cfg!(debug_assertions));
            if let Some(note) = debug_build_note(&why) {
                // The report indents it by 14 columns, in parentheses.
                assert!(note.chars().count() + 16 <= WIDTH, "{note}");
            }
        }
    }
}
