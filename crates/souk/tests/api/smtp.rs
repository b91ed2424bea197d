//! A real SMTP server process for tests: aiosmtpd (PyPI) storing every message in a Maildir.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
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
