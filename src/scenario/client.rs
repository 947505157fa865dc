//! Runs the client under test: one process (group) per case, with the case's environment, a
//! timeout that kills the whole group, and the tails of its output kept as evidence.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt as _};
use tokio::process::Command;

use crate::case_record::{ClientExit, ClientRun};
use crate::error::{Error, Result};

use super::template::display_argv;

/// How much of each output stream is kept (the end of it).
const TAIL_BYTES: usize = 2048;
/// The longest last line of stdout kept whole (a client's `--json` result, read by steps).
const LAST_LINE_BYTES: usize = 64 * 1024;

/// What to run.
#[derive(Debug)]
pub struct ClientSpec {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Working directory, if not the runner's.
    pub cwd: Option<std::path::PathBuf>,
    /// Kill after this long.
    pub timeout: Duration,
}

/// Runs `spec` to its end or its timeout. A program that cannot be started at all (not found,
/// not executable) is an error for the whole run: every case would fail the same way.
pub async fn run(spec: &ClientSpec) -> Result<ClientRun> {
    let shown = display_argv(&spec.argv);
    let (program, args) = spec
        .argv
        .split_first()
        .ok_or_else(|| Error::runtime("the client command is empty"))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    #[cfg(unix)]
    cmd.process_group(0);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::runtime(format!("cannot start the client command `{shown}`: {e}")))?;
    let pid = child.id();
    let stdout = tokio::spawn(tail(child.stdout.take()));
    let stderr = tokio::spawn(tail(child.stderr.take()));
    let exit = match tokio::time::timeout(spec.timeout, child.wait()).await {
        Ok(Ok(status)) => exit_of(status),
        Ok(Err(e)) => return Err(Error::runtime(format!("waiting for `{shown}` failed: {e}"))),
        Err(_) => {
            kill_group(pid);
            let _ = child.kill().await;
            ClientExit::TimedOut {
                after_ms: millis(spec.timeout),
            }
        }
    };
    // Whatever the client left behind in its group (a backgrounded child) goes too, so that
    // it cannot hold the output pipes open.
    kill_group(pid);
    let duration_ms = millis(started.elapsed());
    let grace = Duration::from_secs(2);
    let (stdout_tail, stdout_last_line) = tokio::time::timeout(grace, stdout)
        .await
        .ok()
        .and_then(std::result::Result::ok)
        .unwrap_or_default();
    let (stderr_tail, _) = tokio::time::timeout(grace, stderr)
        .await
        .ok()
        .and_then(std::result::Result::ok)
        .unwrap_or_default();
    Ok(ClientRun {
        command: shown,
        exit,
        duration_ms,
        stdout_tail,
        stderr_tail,
        stdout_last_line,
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn exit_of(status: std::process::ExitStatus) -> ClientExit {
    if let Some(code) = status.code() {
        return ClientExit::Exited { code };
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            return ClientExit::Signalled { signal };
        }
    }
    ClientExit::Exited { code: -1 }
}

#[cfg(unix)]
fn kill_group(pid: Option<u32>) {
    let pid = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        // ESRCH (the group is already gone) is the usual answer and not a problem.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

#[cfg(not(unix))]
fn kill_group(_pid: Option<u32>) {}

/// Reads a stream to its end, keeping the last [`TAIL_BYTES`] as text, and its last non-empty
/// line whole (up to [`LAST_LINE_BYTES`]; a longer one is cut to its start).
async fn tail(stream: Option<impl AsyncRead + Unpin>) -> (String, String) {
    let Some(mut stream) = stream else {
        return (String::new(), String::new());
    };
    let mut kept: Vec<u8> = Vec::new();
    let (mut line, mut last): (Vec<u8>, Vec<u8>) = (Vec::new(), Vec::new());
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                for &b in &buf[..n] {
                    if b == b'\n' {
                        if !line.iter().all(u8::is_ascii_whitespace) {
                            last = std::mem::take(&mut line);
                        }
                        line.clear();
                    } else if line.len() < LAST_LINE_BYTES {
                        line.push(b);
                    }
                }
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 4 * TAIL_BYTES {
                    kept.drain(..kept.len() - TAIL_BYTES);
                }
            }
        }
    }
    if kept.len() > TAIL_BYTES {
        kept.drain(..kept.len() - TAIL_BYTES);
    }
    if !line.iter().all(u8::is_ascii_whitespace) {
        last = line;
    }
    (
        String::from_utf8_lossy(&kept).trim_end().to_string(),
        String::from_utf8_lossy(&last).trim().to_string(),
    )
}
