//! A real SMTP server process for tests: aiosmtpd (PyPI) storing every message in a Maildir.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nothing listens on now, for a server process the test starts next.
///
/// Taken below the kernel's ephemeral range (`ip_local_port_range`, 32768–60999 by default),
/// where no other test's `bind(":0")` and no outgoing connection can be handed it between this
/// check and the child's own bind: a port from `bind(":0")` could be, and then the child failed
/// to bind while the readiness probe reached the other test's server (an email test saw no
/// email at all).
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    let (low, high) = (20_000u64, 32_000u64);
    let seed = RandomState::new().hash_one((std::process::id(), Instant::now()));
    (0..high - low)
        .map(|step| (low + (seed + step * 7_919) % (high - low)) as u16)
        .find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a free port below the ephemeral range")
}

/// Whether the process `pid` holds the socket listening on 127.0.0.1:`port` (Linux `/proc`):
/// a probe that connects could reach another process's server on that port.
pub fn listens_on(pid: u32, port: u16) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    let wanted = format!("0100007F:{port:04X}");
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|cols| cols.len() > 9 && cols[1] == wanted && cols[3] == "0A")
        .map(|cols| format!("socket:[{}]", cols[9]))
        .collect();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|target| {
            inodes
                .iter()
                .any(|inode| target.as_os_str() == inode.as_str())
        })
    })
}

pub struct SmtpServer {
    pub port: u16,
    pub maildir: PathBuf,
    /// Extra aiosmtpd arguments (TLS certificates).
    pub args: Vec<String>,
    /// A handler class (`module.Class`, taking the maildir) and the folder its module is in,
    /// instead of aiosmtpd's plain `Mailbox`.
    pub handler: Option<(String, PathBuf)>,
    child: Option<Child>,
}

impl SmtpServer {
    /// A server that will listen on `port` once started.
    pub fn new(port: u16, maildir: &Path) -> SmtpServer {
        SmtpServer {
            port,
            maildir: maildir.to_owned(),
            args: Vec::new(),
            handler: None,
            child: None,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn start(&mut self) {
        let mut command = Command::new("python3");
        let handler = match &self.handler {
            Some((class, dir)) => {
                command.env("PYTHONPATH", dir);
                class.as_str()
            }
            None => "aiosmtpd.handlers.Mailbox",
        };
        let child = command
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{}", self.port),
            ])
            .args(&self.args)
            .args(["-c", handler])
            .arg(&self.maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "python3 with aiosmtpd is needed (scripts/test installs it: pip install aiosmtpd)",
            );
        let pid = child.id();
        self.child = Some(child);
        // Ready when aiosmtpd itself listens: a connection alone could reach another process.
        let started = Instant::now();
        while !listens_on(pid, self.port) {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "aiosmtpd exited ({status}) before listening on {}",
                    self.port
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "aiosmtpd did not start (is it installed?)"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every message received so far: Message-ID → (copies, raw text of one copy).
    pub fn messages(&self) -> HashMap<String, (usize, String)> {
        let mut out: HashMap<String, (usize, String)> = HashMap::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                let raw = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let id = raw
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("Message-ID: ")
                            .or_else(|| l.strip_prefix("Message-Id: "))
                    })
                    .unwrap_or("")
                    .trim()
                    .to_owned();
                let slot = out.entry(id).or_insert((0, raw.clone()));
                slot.0 += 1;
            }
        }
        out
    }

    /// Waits until `n` distinct messages arrived, waits a little more for strays, and asserts
    /// that exactly `n` arrived, each exactly once (where a test's flow promises "once").
    pub async fn wait_for_exactly(
        &self,
        n: usize,
        within: Duration,
    ) -> HashMap<String, (usize, String)> {
        self.wait_for(n, within).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let messages = self.messages();
        let summary = || {
            messages
                .iter()
                .map(|(id, (copies, raw))| {
                    let subject = raw.lines().find(|l| l.starts_with("Subject: "));
                    format!("{id} ×{copies} {}", subject.unwrap_or_default())
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(messages.len(), n, "distinct emails: {:#?}", summary());
        assert!(
            messages.values().all(|(copies, _)| *copies == 1),
            "an email arrived more than once: {:#?}",
            summary()
        );
        messages
    }

    /// Waits until `n` distinct messages arrived.
    pub async fn wait_for(&self, n: usize, within: Duration) -> HashMap<String, (usize, String)> {
        let started = Instant::now();
        loop {
            let messages = self.messages();
            if messages.len() >= n || started.elapsed() > within {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}
