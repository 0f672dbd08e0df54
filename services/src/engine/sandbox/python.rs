//! Python 3 in a child process: `-I` (isolated), inputs on stdin, the result between
//! markers on stdout. Before `exec` the child gets rlimits (address space, CPU seconds,
//! file size, open files) and a seccomp filter under which `socket(2)` fails, so no network
//! is reachable; the parent kills it at the wall-clock limit.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{extract_result, CodeError, RESULT_MARK};
use crate::settings::CodeSettings;

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

fn network_filter() -> Option<seccompiler::BpfProgram> {
    use seccompiler::{SeccompAction, SeccompFilter, TargetArch};
    let arch = TargetArch::try_from(std::env::consts::ARCH).ok()?;
    let rules = [libc::SYS_socket, libc::SYS_socketpair]
        .into_iter()
        .map(|s| (s, vec![]))
        .collect();
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EACCES as u32),
        arch,
    )
    .ok()?;
    filter.try_into().ok()
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: value as libc::rlim_t,
        rlim_max: value as libc::rlim_t,
    };
    // SAFETY: setrlimit with a valid struct; called in the child before exec.
    if unsafe { libc::setrlimit(resource, &lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Runs Python code in the sandboxed child.
pub async fn run(
    settings: &CodeSettings,
    code: &str,
    inputs: &Map<String, Value>,
    timeout: Duration,
) -> Result<Value, CodeError> {
    let filter = network_filter()
        .ok_or_else(|| CodeError::Sandbox("cannot build the seccomp filter".into()))?;
    let memory = settings.memory_mb.max(32) * 1024 * 1024;
    let cpu = timeout.as_secs().max(1) + 1;
    let runner = RUNNER.replace("MARK", &format!("{RESULT_MARK:?}"));
    let mut cmd = tokio::process::Command::new(&settings.python);
    cmd.arg("-I")
        .arg("-c")
        .arg(runner)
        .env_clear()
        .env("PYTHONIOENCODING", "utf-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: the closure only calls async-signal-safe functions (setrlimit, prctl, seccomp).
    unsafe {
        cmd.pre_exec(move || {
            set_limit(libc::RLIMIT_AS, memory)?;
            set_limit(libc::RLIMIT_CPU, cpu)?;
            set_limit(libc::RLIMIT_FSIZE, 16 * 1024 * 1024)?;
            set_limit(libc::RLIMIT_CORE, 0)?;
            seccompiler::apply_filter(&filter).map_err(|e| std::io::Error::other(e.to_string()))?;
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| CodeError::Sandbox(format!("cannot start {}: {e}", settings.python)))?;
    let payload = json!({"code": code, "inputs": inputs}).to_string();
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| CodeError::Sandbox("no stdin".into()))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| CodeError::Sandbox("no stdout".into()))?;
    let mut stderr = child
        .stderr
        .take()
        .ok_or_else(|| CodeError::Sandbox("no stderr".into()))?;
    let io = async {
        stdin.write_all(payload.as_bytes()).await?;
        drop(stdin);
        let mut out = Vec::new();
        let mut err = Vec::new();
        let (a, b) = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
        a?;
        b?;
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, out, err))
    };
    let (status, out, err) = match tokio::time::timeout(timeout, io).await {
        Ok(r) => r.map_err(|e| CodeError::Sandbox(e.to_string()))?,
        Err(_) => return Err(CodeError::Timeout(timeout.as_secs())),
    };
    let stdout = String::from_utf8_lossy(&out);
    let stderr = String::from_utf8_lossy(&err).trim().to_owned();
    use std::os::unix::process::ExitStatusExt;
    match status.code() {
        Some(0) => extract_result(&stdout)
            .ok_or_else(|| CodeError::Failed("the code printed no result".into())),
        Some(3) => Err(CodeError::Memory(settings.memory_mb)),
        Some(_) if stderr.contains("MemoryError") => Err(CodeError::Memory(settings.memory_mb)),
        Some(_) => Err(CodeError::Failed(if stderr.is_empty() {
            "the code failed".into()
        } else {
            stderr
        })),
        None => match status.signal() {
            Some(libc::SIGXCPU) | Some(libc::SIGKILL) => Err(CodeError::Timeout(timeout.as_secs())),
            Some(libc::SIGSEGV) | Some(libc::SIGABRT) => Err(CodeError::Memory(settings.memory_mb)),
            other => Err(CodeError::Failed(format!(
                "the code was killed by signal {other:?}"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CodeSettings {
        CodeSettings {
            timeout_s: 3,
            memory_mb: 128,
            ..Default::default()
        }
    }

    async fn py(code: &str, inputs: Value) -> Result<Value, CodeError> {
        run(
            &settings(),
            code,
            inputs.as_object().unwrap(),
            Duration::from_secs(3),
        )
        .await
    }

    #[tokio::test]
    async fn returns_main_result() {
        let out = py(
            "def main(a: int, b: str) -> dict:\n    return {'sum': a + 1, 'b': b.upper()}\n",
            json!({"a": 1, "b": "x"}),
        )
        .await
        .unwrap();
        assert_eq!(out, json!({"sum": 2, "b": "X"}));
    }

    #[tokio::test]
    async fn errors_loops_memory_and_network_are_stopped() {
        let err = py("def main():\n    raise ValueError('nope')\n", json!({}))
            .await
            .unwrap_err();
        assert_eq!(err, CodeError::Failed("ValueError: nope".into()));
        let err = py("def main():\n    while True:\n        pass\n", json!({}))
            .await
            .unwrap_err();
        assert!(matches!(err, CodeError::Timeout(_)), "{err:?}");
        let err = py(
            "def main():\n    x = 'a' * (1024 * 1024 * 1024)\n    return {'n': len(x)}\n",
            json!({}),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, CodeError::Memory(_)), "{err:?}");
        let err = py("import socket\ndef main():\n    socket.create_connection(('127.0.0.1', 9))\n    return {}\n", json!({})).await.unwrap_err();
        match err {
            CodeError::Failed(m) => assert!(m.contains("PermissionError"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
