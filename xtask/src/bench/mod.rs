//! `cargo xtask bench [digest|layers]`: side-by-side benchmarks against the peers.

mod digest;
mod layers_apply;
mod layers_create;

/// Runs the named benchmarks (all when none is named).
pub fn run(args: &[String]) -> anyhow::Result<bool> {
    let all = args.is_empty();
    let wants = |name: &str| all || args.iter().any(|a| a == name);
    let mut ok = true;
    if wants("digest") {
        ok &= digest::run()?;
    }
    if wants("layers") {
        ok &= layers_create::run()?;
        ok &= layers_apply::run()?;
    }
    Ok(ok)
}
