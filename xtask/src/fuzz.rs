//! (being written)

/// Runs the task; `Ok(false)` means a check failed.
pub fn run(_args: &[String]) -> anyhow::Result<bool> {
    anyhow::bail!("being written")
}
