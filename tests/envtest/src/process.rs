//! Child processes and directories that cannot outlive the test process.
//!
//! Statics never drop and a SIGKILLed test runs no destructors, so cleanup cannot rely on `Drop`.
//! Each guarded child gets a sibling watchdog: a tiny `sh` whose stdin is a pipe whose only write
//! end lives in this process. When this process ends, however it ends, the kernel closes that
//! pipe; the watchdog reads EOF and terminates the child (TERM, then KILL after 5 s). A normal
//! drop first reaps the child and then "disarms" the watchdog with one line on the pipe, so a
//! recycled pid is never signalled. Directories are guarded the same way (removed on EOF).
//!
//! Use [`spawn_guarded`] for any long-running process a test starts (our own binaries too):
//!
//! ```no_run
//! // In an integration test the path is env!("CARGO_BIN_EXE_coder-k8s").
//! let mut cmd = std::process::Command::new("target/debug/coder-k8s");
//! cmd.arg("--app=aggregated-apiserver");
//! let mut server = envtest::process::spawn_guarded("aggregated-apiserver", cmd, None).unwrap();
//! server.signal("TERM").unwrap();
//! ```

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Watchdog of one child: on EOF kill it; on the line `disarm` exit quietly.
/// INT/HUP are ignored so that a Ctrl-C, which also reaches the test process, still ends in cleanup.
const CHILD_WATCHDOG: &str = r#"trap '' INT HUP
pid="$1"
if read -r line && [ "$line" = disarm ]; then exit 0; fi
kill -TERM "$pid" 2>/dev/null
i=0
while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i+1)); done
kill -KILL "$pid" 2>/dev/null
exit 0"#;

/// Watchdog of one directory: on EOF remove it once the guarded children have had a moment to
/// die, and once more after their watchdogs' KILL (5 s) in case a slow one wrote again.
const DIR_WATCHDOG: &str = r#"trap '' INT HUP
dir="$1"
if read -r line && [ "$line" = disarm ]; then exit 0; fi
sleep 1
rm -rf -- "$dir"
sleep 5
rm -rf -- "$dir"
exit 0"#;

/// A watchdog `sh` holding the read end of our pipe.
struct Watchdog {
    stdin: Option<ChildStdin>,
    process: Child,
}

impl Watchdog {
    fn spawn(script: &str, arg: &str) -> io::Result<Watchdog> {
        let mut process = Command::new("sh")
            .args(["-c", script, "envtest-watchdog", arg])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let stdin = process.stdin.take();
        Ok(Watchdog { stdin, process })
    }

    /// Tells the watchdog its charge was dealt with; it exits without acting.
    fn disarm(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"disarm\n");
        }
        let _ = self.process.wait();
    }
}

/// A child process that is terminated when this value drops or when the test process exits
/// (even on SIGKILL). Its pid stays valid (never recycled) until this value reaps it.
pub struct GuardedChild {
    name: String,
    child: Child,
    exit: Option<ExitStatus>,
    watchdog: Watchdog,
    log: Option<PathBuf>,
}

/// Spawns `cmd` under a watchdog. With `log`, stdout and stderr are appended to that file
/// (see [`GuardedChild::log_tail`]); without it the command's own stdio settings apply, so a test
/// may pipe stdout and read it with [`GuardedChild::take_stdout`]. Stdin is `/dev/null` unless the
/// command set it.
pub fn spawn_guarded(name: &str, mut cmd: Command, log: Option<&Path>) -> io::Result<GuardedChild> {
    if let Some(path) = log {
        let file = File::options().create(true).append(true).open(path)?;
        cmd.stdout(file.try_clone()?).stderr(file);
    }
    let child = cmd.spawn().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("spawning {name} ({:?}): {e}", cmd.get_program()),
        )
    })?;
    let watchdog = match Watchdog::spawn(CHILD_WATCHDOG, &child.id().to_string()) {
        Ok(w) => w,
        Err(e) => {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    Ok(GuardedChild {
        name: name.to_string(),
        child,
        exit: None,
        watchdog,
        log: log.map(Path::to_path_buf),
    })
}

impl GuardedChild {
    /// The child's pid (valid while [`GuardedChild::try_wait`] has not reported an exit).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The name given at spawn, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends a signal by name (`TERM`, `KILL`, `INT`, `STOP`, `CONT`, ...). Errors once the child
    /// has been reaped, so a recycled pid is never hit.
    pub fn signal(&mut self, signal: &str) -> io::Result<()> {
        if self.try_wait()?.is_some() {
            return Err(io::Error::other(format!(
                "{} already exited; not sending SIG{signal}",
                self.name
            )));
        }
        let status = Command::new("sh")
            .args(["-c", r#"kill -s "$1" "$2""#, "envtest-kill", signal])
            .arg(self.child.id().to_string())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "kill -s {signal} {} ({}) failed: {status}",
                self.child.id(),
                self.name
            )))
        }
    }

    /// The exit status if the child has exited (reaping it), else `None`.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait()?;
        }
        Ok(self.exit)
    }

    /// Blocks up to `timeout` for the child to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Like [`GuardedChild::wait_timeout`] without blocking an async runtime thread.
    pub async fn wait_timeout_async(
        &mut self,
        timeout: Duration,
    ) -> io::Result<Option<ExitStatus>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL; returns the exit status.
    pub fn stop(&mut self, grace: Duration) -> io::Result<ExitStatus> {
        if let Some(status) = self.try_wait()? {
            return Ok(status);
        }
        self.signal("TERM")?;
        if let Some(status) = self.wait_timeout(grace)? {
            return Ok(status);
        }
        self.kill()
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.try_wait()? {
            return Ok(status);
        }
        self.child.kill()?;
        let status = self.child.wait()?;
        self.exit = Some(status);
        Ok(status)
    }

    /// The child's stdout pipe, when the command was spawned with `Stdio::piped()` and no log.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    /// The child's stderr pipe, when the command was spawned with `Stdio::piped()` and no log.
    pub fn take_stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.child.stderr.take()
    }

    /// The log file given at spawn.
    pub fn log_path(&self) -> Option<&Path> {
        self.log.as_deref()
    }

    /// The last `lines` lines of the log file (empty without one).
    pub fn log_tail(&self, lines: usize) -> String {
        self.log
            .as_deref()
            .map(|p| file_tail(p, lines))
            .unwrap_or_default()
    }
}

impl Drop for GuardedChild {
    fn drop(&mut self) {
        let _ = self.kill();
        self.watchdog.disarm();
    }
}

/// A directory removed when this value drops or, a second later, when the test process exits.
pub struct GuardedDir {
    path: PathBuf,
    watchdog: Option<Watchdog>,
}

impl GuardedDir {
    /// Creates a fresh directory named `prefix…` under the fastest scratch space available
    /// (`/dev/shm` when writable: etcd's fsyncs cost nothing there), else the system temp dir.
    pub fn create(prefix: &str) -> io::Result<GuardedDir> {
        let shm = Path::new("/dev/shm");
        let base = if is_writable_dir(shm) {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        // keep() disowns tempfile's own Drop: removal is ours (on drop and by the watchdog).
        let path = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(base)?
            .keep();
        let path_text = path
            .to_str()
            .ok_or_else(|| io::Error::other(format!("temp dir {} is not UTF-8", path.display())))?;
        let watchdog = Watchdog::spawn(DIR_WATCHDOG, path_text)?;
        Ok(GuardedDir {
            path,
            watchdog: Some(watchdog),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for GuardedDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        if let Some(mut watchdog) = self.watchdog.take() {
            watchdog.disarm();
        }
    }
}

fn is_writable_dir(path: &Path) -> bool {
    tempfile::Builder::new()
        .prefix(".envtest-probe")
        .tempfile_in(path)
        .is_ok()
}

/// The last `lines` lines of a (log) file; a note instead when it cannot be read.
pub fn file_tail(path: &Path, lines: usize) -> String {
    const MAX_BYTES: u64 = 64 * 1024;
    let read = || -> io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(MAX_BYTES)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (callers retry when a race loses it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("envtest: cannot bind 127.0.0.1:0 to find a free port")
}
