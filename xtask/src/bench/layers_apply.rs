//! (being written)

pub fn run() -> anyhow::Result<bool> {
    anyhow::bail!("being written")
}
