//! A throwaway `docker-registry` (Debian's distribution 2.8) on 127.0.0.1 for the demo and
//! the registry benchmark: plain HTTP, deletes enabled, its storage and log in a work
//! directory, stopped by its pid when dropped.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// The program.
pub const PROGRAM: &str = "docker-registry";

/// A running registry.
#[derive(Debug)]
pub struct LocalRegistry {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl LocalRegistry {
    /// Whether `docker-registry` is installed.
    pub fn available() -> bool {
        Command::new(PROGRAM)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts one with its storage, configuration and log in `dir`; waits until `/v2/`
    /// answers.
    pub fn start(dir: &Path) -> anyhow::Result<LocalRegistry> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let mut last = String::new();
        for _ in 0..5 {
            let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
            let config = dir.join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
                     storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                     http:\n  addr: {addr}\n",
                    dir.join("data").display()
                ),
            )?;
            let log = dir.join("registry.log");
            let file = std::fs::File::create(&log)?;
            let child = Command::new(PROGRAM)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(file.try_clone()?)
                .stderr(file)
                .spawn()
                .with_context(|| format!("start {PROGRAM}"))?;
            let mut registry = LocalRegistry { child, addr, log };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if registry.child.try_wait()?.is_some() {
                    break;
                }
                if registry.answers() {
                    return Ok(registry);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            last = registry.log();
            if !last.contains("address already in use") {
                bail!("{PROGRAM} did not answer /v2/ at {addr}; its log:\n{last}");
            }
        }
        bail!("{PROGRAM} found no free port; its log:\n{last}")
    }

    fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut answer = [0u8; 12];
        s.read_exact(&mut answer).is_ok() && answer.starts_with(b"HTTP/1.1 200")
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
