//! Running the command: spawn, read with a cap, time out, kill and reap.

use std::io::ErrorKind as IoErrorKind;
use std::process::Stdio;
use std::time::Duration;

use tokensource_core::Error;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use zeroize::Zeroizing;

use crate::{CommandTokenSource, MAX_OUTPUT_LEN, PROVIDER};

/// How long reading goes on after the command exited, for output still in the pipe. A child the
/// command left running with the pipe open does not hold the fetch longer than this.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);

/// How many times a program file that is still open for writing somewhere (`ETXTBSY`) is tried
/// again, waiting 10 ms, then twice as long each time (310 ms in all). A file this process has
/// just written is in that state for a moment: a child that another thread forks meanwhile holds
/// the written descriptor until it calls exec.
const BUSY_RETRIES: u32 = 5;

/// Kills the command's process group when dropped (a timeout, a cancelled fetch), so that nothing
/// it started outlives the fetch; the process itself is reaped by its owner or by tokio.
struct GroupGuard {
    #[cfg(unix)]
    group: Option<rustix::process::Pid>,
}

impl GroupGuard {
    fn new(child: &Child) -> Self {
        GroupGuard {
            #[cfg(unix)]
            group: child
                .id()
                .and_then(|id| rustix::process::Pid::from_raw(id.cast_signed())),
        }
    }

    /// The command exited on its own: leave whatever it started alone.
    fn disarm(&mut self) {
        #[cfg(unix)]
        {
            self.group = None;
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(group) = self.group.take() {
            // It may be gone already; nothing to do then.
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
}

/// Starts `command`, trying again while its program file is busy (see [`BUSY_RETRIES`]).
async fn spawn(command: &mut Command) -> std::io::Result<Child> {
    let mut wait = Duration::from_millis(10);
    for _ in 0..BUSY_RETRIES {
        match command.spawn() {
            Err(e) if e.kind() == IoErrorKind::ExecutableFileBusy => {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            result => return result,
        }
    }
    command.spawn()
}

/// Runs the command and returns its stdout.
pub(crate) async fn run(source: &CommandTokenSource) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut command = Command::new(&source.program);
    command
        .args(&source.args)
        .envs(source.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    let shown = source.program.display().to_string();
    let mut child = spawn(&mut command).await.map_err(|e| match e.kind() {
        IoErrorKind::NotFound | IoErrorKind::PermissionDenied => {
            Error::configuration("command", format!("cannot start {shown}: {e}"))
                .with_provider(PROVIDER)
        }
        _ => Error::unavailable(PROVIDER, format!("cannot start {shown}: {e}")),
    })?;
    let mut guard = GroupGuard::new(&child);
    let Some(mut stdout) = child.stdout.take() else {
        return Err(Error::unavailable(
            PROVIDER,
            "the command's output could not be read",
        ));
    };

    let deadline = tokio::time::Instant::now() + source.timeout;
    let mut output = Zeroizing::new(Vec::new());
    let mut chunk = Zeroizing::new(vec![0u8; 16 * 1024]);
    let mut status = None;
    let mut eof = false;
    let mut drain_until = None;
    while !(eof && status.is_some()) {
        tokio::select! {
            read = stdout.read(&mut chunk), if !eof => match read {
                Ok(0) | Err(_) => eof = true,
                Ok(n) => {
                    output.extend_from_slice(&chunk[..n]);
                    if output.len() > MAX_OUTPUT_LEN {
                        let _ = child.start_kill();
                        let _ = child.wait().await;
                        return Err(Error::invalid_response(
                            PROVIDER,
                            format!("the command printed more than {MAX_OUTPUT_LEN} bytes"),
                        ));
                    }
                }
            },
            exited = child.wait(), if status.is_none() => {
                status = Some(exited.map_err(|e| {
                    Error::unavailable(PROVIDER, format!("waiting for {shown} failed: {e}"))
                })?);
                drain_until = Some(tokio::time::Instant::now() + DRAIN_AFTER_EXIT);
            },
            () = sleep_until_some(drain_until), if !eof => eof = true,
            () = tokio::time::sleep_until(deadline) => {
                let _ = child.start_kill();
                drop(guard);
                let _ = child.wait().await;
                return Err(Error::unavailable(
                    PROVIDER,
                    format!(
                        "{shown} did not finish within {} s and was killed",
                        source.timeout.as_secs_f64()
                    ),
                ));
            },
        }
    }
    guard.disarm();
    let Some(status) = status else {
        return Err(Error::unavailable(PROVIDER, "the command did not exit"));
    };
    if !status.success() {
        return Err(Error::unavailable(
            PROVIDER,
            format!("{shown} failed ({status})"),
        ));
    }
    Ok(output)
}

/// Sleeps until `at`, or forever when there is no `at`.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
