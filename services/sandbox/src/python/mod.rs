//! Python 3 in a child process: `-I` (isolated mode), inputs on stdin, the result between
//! markers on stdout.
//!
//! Each run gets a fresh empty working directory and no inherited environment. Before
//! `exec` the child starts its own session (so the whole process group is killed at the
//! deadline), takes rlimits (address space, CPU seconds, file size, open files), drops its
//! capabilities, and — where the kernel can (see the `isolation` module) — a Landlock ruleset and an
//! allowlist seccomp filter. Its stdout and stderr are read up to a cap; past it the group
//! is killed. Where the kernel cannot isolate, local Python is refused unless the operator
//! opts in (`[code] allow_unisolated = true`).

mod isolation;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::{extract_result, CodeError, RESULT_MARK};
use weir_core::settings::CodeSettings;

const RUNNER: &str = r#"
import json, sys
payload = json.loads(sys.stdin.read())
namespace = {"__name__": "__weir__"}
try:
    exec(compile(payload["code"], "<code>", "exec"), namespace)
    result = namespace["main"](**payload["inputs"])
except MemoryError:
    sys.stderr.write("MemoryError")
    sys.exit(3)
except BaseException as exc:
    sys.stderr.write("%s: %s" % (type(exc).__name__, exc))
    sys.exit(2)
sys.stdout.write(MARK + json.dumps(result) + MARK)
"#;

/// Largest stdout of one run (the result travels there).
pub const MAX_STDOUT_BYTES: usize = 4 * 1024 * 1024;
/// Largest stderr of one run.
pub const MAX_STDERR_BYTES: usize = 256 * 1024;
/// Largest file the code may write in its working directory.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Most open files.
const MAX_OPEN_FILES: u64 = 64;

/// The interpreter as found at startup: the real executable (not a shim) and the
/// directories it reads its standard library from.
#[derive(Clone, Debug)]
struct Interpreter {
    executable: PathBuf,
    read_roots: Vec<PathBuf>,
}

impl Interpreter {
    /// Asks `python` where it lives (the configured command may be a shim script).
    fn probe(python: &str) -> Result<Interpreter, String> {
        const PROBE: &str = "import sys, json; print(json.dumps([sys.executable, sys.prefix, \
                             sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]))";
        let out = std::process::Command::new(python)
            .args(["-I", "-c", PROBE])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot start {python}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{python} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let paths: Vec<String> = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("{python} answered oddly: {e}"))?;
        let real = |p: &String| std::fs::canonicalize(p).ok();
        let executable = paths
            .first()
            .and_then(real)
            .ok_or_else(|| format!("{python} reports no executable"))?;
        let mut read_roots: Vec<PathBuf> = paths[1..].iter().filter_map(real).collect();
        read_roots.sort();
        read_roots.dedup();
        // Never the whole filesystem, whatever the prefix says.
        read_roots.retain(|p| p.parent().is_some());
        Ok(Interpreter {
            executable,
            read_roots,
        })
    }
}

/// How local Python runs here, decided once at startup.
#[derive(Clone, Debug)]
enum Mode {
    /// Behind Landlock and seccomp.
    Isolated(Arc<Interpreter>),
    /// With rlimits and a process group only: the operator opted in.
    Unisolated(Arc<Interpreter>),
    /// Not at all; the text says why.
    Refused(String),
}

/// Why local Python is refused on a kernel that cannot isolate it.
fn refusal(why: &str) -> String {
    format!(
        "local Python code is disabled: this kernel cannot isolate it ({why}); \
         set [code] sandbox_endpoint to Dify's sandbox, or [code] allow_unisolated = true \
         to run it without isolation"
    )
}

/// Local Python execution.
#[derive(Debug)]
pub struct PythonSandbox {
    /// The configured interpreter command; `None` when local Python is off altogether.
    python: Option<String>,
    /// What the kernel offers (checked at startup: it is cheap).
    kernel: Result<(), String>,
    allow_unisolated: bool,
    /// Decided on first use: asking the interpreter where it lives starts a process, which
    /// would slow every start of the server.
    mode: tokio::sync::OnceCell<Mode>,
}

impl PythonSandbox {
    /// Checks the kernel's isolation and logs, once, if local Python will be refused or run
    /// unisolated. The interpreter itself is probed on first use.
    pub fn new(settings: &CodeSettings) -> Self {
        let kernel = isolation::kernel_support();
        match &kernel {
            Ok(()) => {}
            Err(_) if settings.allow_unisolated => tracing::warn!(
                "local Python code runs WITHOUT isolation ([code] allow_unisolated = true): \
                 this kernel offers no Landlock or seccomp"
            ),
            Err(why) => tracing::warn!("{}", refusal(why)),
        }
        PythonSandbox {
            python: Some(settings.python.clone()),
            kernel,
            allow_unisolated: settings.allow_unisolated,
            mode: tokio::sync::OnceCell::new(),
        }
    }

    /// No local Python: every run goes to the configured sandbox service.
    pub fn remote_only() -> Self {
        PythonSandbox {
            python: None,
            kernel: Err("a sandbox service is configured".into()),
            allow_unisolated: false,
            mode: tokio::sync::OnceCell::new(),
        }
    }

    /// How local Python runs here (decided once).
    async fn mode(&self) -> &Mode {
        self.mode
            .get_or_init(|| async {
                let Some(python) = self.python.clone() else {
                    return Mode::Refused(
                        "local Python code is disabled: a sandbox service is configured".into(),
                    );
                };
                let probed = tokio::task::spawn_blocking(move || Interpreter::probe(&python))
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()));
                Self::decide(probed, self.kernel.clone(), self.allow_unisolated)
            })
            .await
    }

    fn decide(
        interpreter: Result<Interpreter, String>,
        kernel: Result<(), String>,
        allow_unisolated: bool,
    ) -> Mode {
        let interpreter = match interpreter {
            Ok(i) => Arc::new(i),
            Err(e) => return Mode::Refused(format!("local Python code is disabled: {e}")),
        };
        match kernel {
            Ok(()) => Mode::Isolated(interpreter),
            Err(_) if allow_unisolated => Mode::Unisolated(interpreter),
            Err(why) => Mode::Refused(refusal(&why)),
        }
    }

    /// Runs `main(**inputs)`.
    pub async fn run(
        &self,
        settings: &CodeSettings,
        code: &str,
        inputs: &Map<String, Value>,
        timeout: Duration,
    ) -> Result<Value, CodeError> {
        let (interpreter, isolated) = match self.mode().await {
            Mode::Isolated(i) => (i, true),
            Mode::Unisolated(i) => (i, false),
            Mode::Refused(why) => return Err(CodeError::Sandbox(why.clone())),
        };
        let workdir = WorkDir::create()?;
        let mut cmd = command(interpreter, &workdir.0);
        let limits = Rlimits {
            memory: settings.memory_mb.max(32) * 1024 * 1024,
            cpu: timeout.as_secs().max(1) + 1,
        };
        let mut walls = if isolated {
            let ruleset =
                isolation::ruleset(&interpreter.executable, &interpreter.read_roots, &workdir.0)
                    .map_err(CodeError::Sandbox)?;
            Some((
                ruleset,
                isolation::seccomp_filters().map_err(CodeError::Sandbox)?,
            ))
        } else {
            None
        };
        // SAFETY: the closure makes system calls only (setsid, setrlimit, prctl, capset,
        // landlock_restrict_self, seccomp); everything it uses was built before the fork.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                limits.apply()?;
                isolation::drop_capabilities();
                if let Some((ruleset, filters)) = walls.take() {
                    ruleset
                        .restrict_self()
                        .map_err(|_| std::io::Error::other("landlock"))?;
                    for filter in &filters {
                        seccompiler::apply_filter(filter)
                            .map_err(|_| std::io::Error::other("seccomp"))?;
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| {
            CodeError::Sandbox(format!(
                "cannot start {}: {e}",
                interpreter.executable.display()
            ))
        })?;
        let payload = json!({"code": code, "inputs": inputs}).to_string();
        let (status, out, err) = supervise(child, payload, timeout).await?;
        interpret(status, &out, &err, settings.memory_mb, timeout)
    }
}

fn command(interpreter: &Interpreter, workdir: &Path) -> tokio::process::Command {
    let runner = RUNNER.replace("MARK", &format!("{RESULT_MARK:?}"));
    let mut cmd = tokio::process::Command::new(&interpreter.executable);
    cmd.args(["-I", "-B", "-X", "utf8", "-c"])
        .arg(runner)
        .current_dir(workdir)
        .env_clear()
        .env("LANG", "C.UTF-8")
        .env("HOME", workdir)
        .env("TMPDIR", workdir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// The rlimits of a child.
#[derive(Clone, Copy)]
struct Rlimits {
    memory: u64,
    cpu: u64,
}

impl Rlimits {
    fn apply(&self) -> std::io::Result<()> {
        set_limit(libc::RLIMIT_AS, self.memory)?;
        set_limit(libc::RLIMIT_CPU, self.cpu)?;
        set_limit(libc::RLIMIT_FSIZE, MAX_FILE_BYTES)?;
        set_limit(libc::RLIMIT_NOFILE, MAX_OPEN_FILES)?;
        set_limit(libc::RLIMIT_CORE, 0)?;
        Ok(())
    }
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: value as libc::rlim_t,
        rlim_max: value as libc::rlim_t,
    };
    // SAFETY: setrlimit with a valid struct.
    if unsafe { libc::setrlimit(resource, &lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A run's empty working directory, removed afterwards.
struct WorkDir(PathBuf);

impl WorkDir {
    fn create() -> Result<WorkDir, CodeError> {
        use std::os::unix::fs::DirBuilderExt;
        let base = std::env::temp_dir().join("weir-code");
        let dir = base.join(uuid::Uuid::new_v4().simple().to_string());
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| CodeError::Sandbox(format!("cannot create a working directory: {e}")))?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Output past a cap.
#[derive(Debug)]
struct TooMuchOutput;

impl std::fmt::Display for TooMuchOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("too much output")
    }
}

impl std::error::Error for TooMuchOutput {}

async fn read_capped(mut from: impl AsyncRead + Unpin, cap: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    (&mut from)
        .take(cap as u64 + 1)
        .read_to_end(&mut buf)
        .await?;
    if buf.len() > cap {
        return Err(std::io::Error::other(TooMuchOutput));
    }
    Ok(buf)
}

/// Kills the child's whole process group (it leads its own session).
fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: kill with a negative pid signals that process group.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// Feeds the payload, reads both streams up to their caps, and enforces the deadline.
/// The process group is killed whatever happens, before the child is reaped (so the
/// group id cannot have been reused).
async fn supervise(
    mut child: tokio::process::Child,
    payload: String,
    timeout: Duration,
) -> Result<(std::process::ExitStatus, Vec<u8>, Vec<u8>), CodeError> {
    let pid = child.id();
    let missing = || CodeError::Sandbox("the child has no standard streams".into());
    let mut stdin = child.stdin.take().ok_or_else(missing)?;
    let stdout = child.stdout.take().ok_or_else(missing)?;
    let stderr = child.stderr.take().ok_or_else(missing)?;
    let feed = async move {
        // A child that exits without reading its input is not an error of ours.
        let _ = stdin.write_all(payload.as_bytes()).await;
        Ok::<_, std::io::Error>(())
    };
    let io = async {
        let ((), out, err) = tokio::try_join!(
            feed,
            read_capped(stdout, MAX_STDOUT_BYTES),
            read_capped(stderr, MAX_STDERR_BYTES)
        )?;
        Ok::<_, std::io::Error>((out, err))
    };
    let outcome = tokio::time::timeout(timeout, io).await;
    kill_group(pid);
    let status = child
        .wait()
        .await
        .map_err(|e| CodeError::Sandbox(e.to_string()))?;
    match outcome {
        Err(_) => Err(CodeError::Timeout(timeout.as_secs())),
        Ok(Err(e)) if e.get_ref().is_some_and(|e| e.is::<TooMuchOutput>()) => {
            Err(CodeError::OutputTooLarge(MAX_STDOUT_BYTES))
        }
        Ok(Err(e)) => Err(CodeError::Sandbox(e.to_string())),
        Ok(Ok((out, err))) => Ok((status, out, err)),
    }
}

fn interpret(
    status: std::process::ExitStatus,
    out: &[u8],
    err: &[u8],
    memory_mb: u64,
    timeout: Duration,
) -> Result<Value, CodeError> {
    use std::os::unix::process::ExitStatusExt;
    let stdout = String::from_utf8_lossy(out);
    let stderr = String::from_utf8_lossy(err).trim().to_owned();
    match status.code() {
        Some(0) => extract_result(&stdout)
            .ok_or_else(|| CodeError::Failed("the code printed no result".into())),
        Some(3) => Err(CodeError::Memory(memory_mb)),
        Some(_) if stderr.contains("MemoryError") => Err(CodeError::Memory(memory_mb)),
        Some(_) => Err(CodeError::Failed(if stderr.is_empty() {
            "the code failed".into()
        } else {
            stderr
        })),
        None => match status.signal() {
            Some(libc::SIGXCPU) | Some(libc::SIGKILL) => Err(CodeError::Timeout(timeout.as_secs())),
            Some(libc::SIGSEGV) | Some(libc::SIGABRT) => Err(CodeError::Memory(memory_mb)),
            other => Err(CodeError::Failed(format!(
                "the code was killed by signal {other:?}"
            ))),
        },
    }
}

#[cfg(test)]
mod tests;
