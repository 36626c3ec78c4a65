//! One bash session (commands share the working directory and exported
//! variables, as in a terminal) plus the long-running commands started in
//! the background, each in its own process group.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::matching::{lines_of, match_prefix};

/// End-of-command marker the wrapper prints (ASCII unit separator first).
const MARK: &str = "\u{1f}END ";
/// Core's default URL, which the docs show.
pub const DEFAULT_CORE: &str = "http://127.0.0.1:8077";
/// Longest a foreground command may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(180);

/// A long-running command.
struct Background {
    command: String,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// Lines already matched by the docs.
    cursor: usize,
}

/// The session.
pub struct Session {
    /// The working directory, also `HOME`.
    pub work: tempfile::TempDir,
    shell: Child,
    stdin: ChildStdin,
    output: Receiver<Vec<u8>>,
    pending: Vec<u8>,
    background: Vec<Background>,
    /// Core's URL once a background command printed `listening on URL`.
    pub core_url: Option<String>,
}

impl Session {
    /// bash in a fresh temporary directory, with the binaries of `bin` first on `PATH`.
    pub fn start(bin: &std::path::Path) -> Session {
        let work = tempfile::tempdir().unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into())
        );
        let (reader, writer) = std::io::pipe().unwrap();
        let mut shell = Command::new("bash")
            .args(["--noprofile", "--norc"])
            .current_dir(work.path())
            .env_clear()
            .env("PATH", path)
            .env("HOME", work.path())
            .env("LANG", "C.UTF-8")
            .env("TERM", "dumb")
            .env("NO_COLOR", "1")
            .env("PX_LISTEN", "127.0.0.1:0")
            .stdin(Stdio::piped())
            .stdout(writer.try_clone().unwrap())
            .stderr(writer)
            .process_group(0)
            .spawn()
            .expect("starting bash");
        let stdin = shell.stdin.take().unwrap();
        let (tx, output) = channel();
        std::thread::spawn(move || {
            let mut reader = reader;
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Session {
            work,
            shell,
            stdin,
            output,
            pending: Vec::new(),
            background: Vec::new(),
            core_url: None,
        }
    }

    /// Runs `command` in the session; its combined stdout and stderr
    /// ([normalized](Session::normalize)) and exit status. `$?` of the next
    /// command is this command's status, as in a terminal. Core's default URL
    /// in the command stands for the real one.
    pub fn run(&mut self, command: &str) -> (String, i32) {
        let command = match &self.core_url {
            Some(url) => command.replace(DEFAULT_CORE, url),
            None => command.to_owned(),
        };
        let (output, status) = self.run_raw(&command);
        (self.normalize(&output), status)
    }

    fn run_raw(&mut self, command: &str) -> (String, i32) {
        let script = format!(
            "{{ {command}\n}} < /dev/null; __px_status=$?; printf '\\n{MARK}%s\\n' $__px_status; (exit $__px_status)\n"
        );
        self.stdin.write_all(script.as_bytes()).unwrap();
        self.stdin.flush().unwrap();
        let deadline = Instant::now() + COMMAND_LIMIT;
        loop {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            if let Some(at) = text.find(MARK)
                && let Some(end) = text[at..].find('\n')
            {
                let status: i32 = text[at + MARK.len()..at + end].trim().parse().unwrap();
                // the wrapper's own newline before the mark
                let output = text[..at].strip_suffix('\n').unwrap_or(&text[..at]);
                let output = output.to_owned();
                self.pending = text.as_bytes()[at + end + 1..].to_vec();
                return (output, status);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(bytes) => self.pending.extend(bytes),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("`{command}` did not finish within {COMMAND_LIMIT:?}; so far:\n{text}")
                }
                Err(RecvTimeoutError::Disconnected) => panic!("bash exited during `{command}`"),
            }
        }
    }

    /// Starts `command` in the background with the session's current
    /// directory and exported variables.
    pub fn spawn(&mut self, command: &str) {
        let (env, _) = self.run_raw("env -0; printf '\\n'");
        let (cwd, _) = self.run_raw("pwd");
        let command = match &self.core_url {
            Some(url) => command.replace(DEFAULT_CORE, url),
            None => command.to_owned(),
        };
        let mut child = Command::new("bash");
        child
            .args(["-c", &command])
            .current_dir(cwd.trim())
            .env_clear();
        for pair in env.trim_end_matches('\n').split('\0') {
            if let Some((key, value)) = pair.split_once('=') {
                child.env(key, value);
            }
        }
        let (reader, writer) = std::io::pipe().unwrap();
        let child = child
            .stdin(Stdio::null())
            .stdout(writer.try_clone().unwrap())
            .stderr(writer)
            .process_group(0)
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line.trim_end().to_owned());
            }
        });
        self.background.push(Background {
            command: command.to_owned(),
            child,
            lines,
            cursor: 0,
        });
    }

    /// Waits until the newest background command's next output lines match
    /// `expected` (up to `limit`), then moves past them.
    pub fn expect_background(&mut self, expected: &[String], limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut expected = expected.to_vec();
        while expected.last().is_some_and(|l| l.is_empty()) {
            expected.pop();
        }
        loop {
            let raw: Vec<String> = {
                let job = self.background.last().expect("no background command");
                job.lines.lock().unwrap()[job.cursor..].to_vec()
            };
            self.note_core_url(&raw);
            let job = self.background.last().expect("no background command");
            let seen: Vec<String> = raw.iter().map(|l| self.normalize(l)).collect();
            if let Some(n) = match_prefix(&expected, &seen) {
                self.background.last_mut().unwrap().cursor += n;
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "`{}` printed, after what the docs matched so far:\n{}\n\nthe docs expect:\n{}",
                    job.command,
                    seen.join("\n"),
                    expected.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Ctrl-C to the newest background command; waits for it to exit.
    pub fn interrupt(&mut self) -> i32 {
        let job = self.background.last_mut().expect("no background command");
        signal(job.child.id(), "INT");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = job.child.try_wait().unwrap() {
                // let the reader thread take the last lines
                std::thread::sleep(Duration::from_millis(100));
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "`{}` ignored Ctrl-C",
                job.command
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Forgets the newest background command (after [`Session::interrupt`]
    /// and the docs have matched its last lines).
    pub fn finish_background(&mut self) {
        self.background.pop();
    }

    /// Stops every background command (Ctrl-C, then SIGKILL after 20 s).
    pub fn stop_all(&mut self) {
        while !self.background.is_empty() {
            let status = self.interrupt();
            let job = self.background.pop().unwrap();
            assert_eq!(
                status, 0,
                "`{}` exited with {status} on Ctrl-C",
                job.command
            );
        }
    }

    /// A Core that starts (`listening on URL`) becomes the session's Core.
    fn note_core_url(&mut self, lines: &[String]) {
        for line in lines {
            if let Some(url) = line.strip_prefix("listening on ")
                && self.core_url.as_deref() != Some(url.trim())
            {
                let url = url.trim().to_owned();
                self.run_raw(&format!("export PX_CORE_URL={url}"));
                self.core_url = Some(url);
            }
        }
    }

    /// Output as a reader sees it: Core's URL as its default
    /// `http://127.0.0.1:8077`, the session's home directory as `~`.
    pub fn normalize(&self, text: &str) -> String {
        let mut text = text.to_owned();
        if let Some(url) = &self.core_url {
            text = text.replace(url.as_str(), DEFAULT_CORE);
        }
        text.replace(&self.work.path().display().to_string(), "~")
    }

    /// The lines of `text`, normalized.
    pub fn lines(&self, text: &str) -> Vec<String> {
        lines_of(text)
    }

    /// Where the session runs.
    pub fn path(&self) -> PathBuf {
        self.work.path().to_owned()
    }
}

fn signal(pgid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

impl Drop for Session {
    fn drop(&mut self) {
        for job in &mut self.background {
            signal(job.child.id(), "INT");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for job in &mut self.background {
            while job.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            signal(job.child.id(), "KILL");
            let _ = job.child.wait();
        }
        signal(self.shell.id(), "KILL");
        let _ = self.shell.wait();
    }
}
