//! `cargo xtask package [--no-verify]`: the library crates as crates.io would take them.
//!
//! 1. `cargo publish --dry-run -p oci-spec-types`: the one library crate without workspace
//!    dependencies, checked against crates.io as a real publish would be (nothing is
//!    uploaded).
//! 2. `cargo package -p` every library crate at once: cargo packages them in dependency
//!    order and, unless `--no-verify`, builds each package against the others' packages
//!    (a local overlay stands in for crates.io). A `cargo publish --dry-run` of these
//!    would fail until the crates they depend on are on crates.io: publish them in the
//!    order of [`crate::api::CRATES`].

use std::process::Command;

/// Runs the task; `Ok(false)` means a step failed.
pub fn run(args: &[String]) -> anyhow::Result<bool> {
    let mut verify = true;
    for arg in args {
        match arg.as_str() {
            "--no-verify" => verify = false,
            other => anyhow::bail!(
                "unknown argument {other:?} (usage: cargo xtask package [--no-verify])"
            ),
        }
    }
    let mut ok = cargo(&["publish", "--dry-run", "--locked", "-p", "oci-spec-types"])?;
    let mut package = vec!["package", "--locked"];
    if !verify {
        package.push("--no-verify");
    }
    for name in crate::api::CRATES {
        package.extend(["-p", name]);
    }
    ok &= cargo(&package)?;
    println!(
        "package: {} (packages in target/package/)",
        if ok { "ok" } else { "FAILED" }
    );
    Ok(ok)
}

/// Runs cargo with `args` from the repository root; returns whether it succeeded.
fn cargo(args: &[&str]) -> anyhow::Result<bool> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    println!("package: cargo {}", args.join(" "));
    let status = Command::new(cargo)
        .current_dir(crate::project_root())
        .args(args)
        .status()?;
    Ok(status.success())
}

#[cfg(test)]
mod tests {
    /// Every library crate is one cargo can package: the metadata crates.io asks for, and
    /// no file outside the crate (as a `#[path]` into another directory would be).
    #[test]
    fn library_crates_have_publish_metadata_and_stay_inside_themselves() {
        let root = crate::project_root();
        for name in crate::api::CRATES {
            let dir = root.join(name);
            let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
            for key in [
                "description",
                "license",
                "repository",
                "readme",
                "keywords",
                "categories",
                "rust-version",
            ] {
                assert!(
                    manifest.lines().any(|l| l.starts_with(&format!("{key} "))
                        || l.starts_with(&format!("{key}.workspace"))),
                    "{name}/Cargo.toml has no {key}"
                );
            }
            assert!(
                !manifest.contains("publish = false"),
                "{name} is not publishable"
            );
            let crate_dir = dir.canonicalize().expect("crate dir");
            let mut stack = vec![dir.clone()];
            while let Some(d) = stack.pop() {
                for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        if entry.file_name() != "target" {
                            stack.push(path);
                        }
                        continue;
                    }
                    if path.extension().is_some_and(|e| e == "rs") {
                        let text = std::fs::read_to_string(&path).expect("read");
                        for line in text.lines() {
                            let Some(target) = line
                                .trim_start()
                                .strip_prefix("#[path = \"")
                                .and_then(|rest| rest.split('"').next())
                            else {
                                continue;
                            };
                            let parent = path.parent().expect("a parent");
                            let resolved = parent.join(target).canonicalize();
                            assert!(
                                resolved.is_ok_and(|r| r.starts_with(&crate_dir)),
                                "{}: #[path = {target:?}] is outside {name} (a packaged \
                                 crate cannot see it)",
                                path.display()
                            );
                        }
                    }
                }
            }
        }
    }
}
