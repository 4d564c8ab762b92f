//! The course examples' narration in Portuguese or English, chosen as `pi-master` chooses
//! (`LC_ALL`, then `LC_MESSAGES`, then `LANG`: `pt_BR`, `pt_PT`, `pt` give Portuguese). What
//! the deck itself prints (`hello bob filho`, `processed 6 items`, ...) stays as the deck has
//! it. The messages are in `examples/locales/{en,pt}.toml`.

/// Sets the language from the environment; called before `multiproc::init!`, so that the
/// example's child processes, which never get past `init!`, speak it too.
pub fn choose_language() {
    let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|value| !value.is_empty())
        .unwrap_or_default();
    let language = locale
        .split(['_', '.', '@', '-'])
        .next()
        .unwrap_or_default();
    rust_i18n::set_locale(if language.eq_ignore_ascii_case("pt") {
        "pt"
    } else {
        "en"
    });
}
