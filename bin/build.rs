//! Rebuilds the apps when a message catalogue changes: rust-i18n reads `locales/` at build
//! time, and cargo only knows to look again when told.
fn main() {
    println!("cargo:rerun-if-changed=locales");
}
