use super::*;

fn settings() -> CodeSettings {
    CodeSettings {
        timeout_s: 5,
        memory_mb: 256,
        ..Default::default()
    }
}

async fn py(code: &str, inputs: Value) -> Result<Value, CodeError> {
    let sandbox = PythonSandbox::new(&settings());
    let mode = sandbox.mode().await;
    assert!(
        matches!(mode, Mode::Isolated(_)),
        "this machine isolates: {mode:?}"
    );
    sandbox
        .run(
            &settings(),
            code,
            inputs.as_object().unwrap(),
            Duration::from_secs(5),
        )
        .await
}

fn failed(r: Result<Value, CodeError>) -> String {
    match r {
        Err(CodeError::Failed(m)) => m,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn returns_main_result_with_the_standard_library() {
    let code = "import re, math, datetime, hashlib, random, base64, collections, threading\n\
        def main(a: int, b: str) -> dict:\n\
        \x20   box = []\n\
        \x20   t = threading.Thread(target=lambda: box.append(math.sqrt(16)))\n\
        \x20   t.start(); t.join()\n\
        \x20   return {'sum': a + 1, 'b': b.upper(), 'root': box[0],\n\
        \x20           'digest': hashlib.sha256(b'x').hexdigest()[:8],\n\
        \x20           'year': datetime.date(2024, 1, 2).year, 'r': random.random() < 1}\n";
    let out = py(code, json!({"a": 1, "b": "x"})).await.unwrap();
    assert_eq!(
        out,
        json!({"sum": 2, "b": "X", "root": 4.0, "digest": "2d711642", "year": 2024, "r": true})
    );
}

#[tokio::test]
async fn errors_loops_memory_and_network_are_stopped() {
    let err = py("def main():\n    raise ValueError('nope')\n", json!({})).await;
    assert_eq!(failed(err), "ValueError: nope");
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
    let m = failed(py("import socket\ndef main():\n    socket.create_connection(('127.0.0.1', 9))\n    return {}\n", json!({})).await);
    assert!(m.contains("PermissionError"), "{m}");
}

#[tokio::test]
async fn files_outside_the_working_directory_are_unreadable() {
    let secret = std::env::temp_dir().join(format!("weir-secret-{}", uuid::Uuid::new_v4()));
    std::fs::write(&secret, "top secret").unwrap();
    let code = "def main(path: str) -> dict:\n    return {'x': open(path).read()}\n";
    for path in [
        secret.display().to_string(),
        "/etc/passwd".into(),
        format!("/proc/{}/environ", std::process::id()),
        "/proc/self/environ".into(),
    ] {
        let m = failed(py(code, json!({"path": path})).await);
        assert!(m.contains("PermissionError"), "{path}: {m}");
    }
    std::fs::remove_file(&secret).unwrap();
    // The parent's environment is not inherited; its own directory is writable.
    let code = "import os\ndef main() -> dict:\n    open('scratch.txt', 'w').write('hi')\n    \
                return {'env': sorted(os.environ), 'back': open('scratch.txt').read(), 'listing': os.listdir('.')}\n";
    let out = py(code, json!({})).await.unwrap();
    assert_eq!(out["back"], "hi");
    assert_eq!(out["listing"], json!(["scratch.txt"]));
    let allowed = ["HOME", "LANG", "LC_CTYPE", "TMPDIR"];
    for name in out["env"].as_array().unwrap() {
        assert!(
            allowed.contains(&name.as_str().unwrap()),
            "{name} inherited"
        );
    }
}

#[tokio::test]
async fn no_processes_no_signals_no_privileges() {
    let m = failed(
        py(
            "import os\ndef main() -> dict:\n    for _ in range(1000):\n        os.fork()\n    return {}\n",
            json!({}),
        )
        .await,
    );
    assert!(m.contains("PermissionError"), "{m}");
    let m = failed(py("import subprocess\ndef main() -> dict:\n    return {'o': subprocess.check_output(['id'])}\n", json!({})).await);
    assert!(m.contains("PermissionError"), "{m}");
    let m = failed(
        py(
            &format!(
                "import os, signal\ndef main() -> dict:\n    os.kill({}, signal.SIGTERM)\n    return {{}}\n",
                std::process::id()
            ),
            json!({}),
        )
        .await,
    );
    assert!(m.contains("PermissionError"), "{m}");
    let m = failed(py("import resource\ndef main() -> dict:\n    resource.setrlimit(resource.RLIMIT_AS, (-1, -1))\n    return {}\n", json!({})).await);
    assert!(m.contains("Error"), "{m}");
    let m = failed(
        py(
            "import os\ndef main() -> dict:\n    os.chmod('/tmp', 0o700)\n    return {}\n",
            json!({}),
        )
        .await,
    );
    assert!(m.contains("PermissionError"), "{m}");
}

#[tokio::test]
async fn output_is_capped() {
    let err = py(
        "import sys\ndef main() -> dict:\n    for _ in range(100):\n        sys.stdout.write('x' * 1048576)\n    return {}\n",
        json!({}),
    )
    .await
    .unwrap_err();
    assert_eq!(err, CodeError::OutputTooLarge(MAX_STDOUT_BYTES));
    let err = py(
        "import sys\ndef main() -> dict:\n    while True:\n        sys.stderr.write('y' * 65536)\n",
        json!({}),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CodeError::OutputTooLarge(_)), "{err:?}");
}

#[test]
fn refused_without_isolation_unless_opted_in() {
    let interp = || {
        Ok(Interpreter {
            executable: "/usr/bin/python3".into(),
            read_roots: vec![],
        })
    };
    let no_kernel = || Err("Landlock is not available".to_owned());
    match PythonSandbox::decide(interp(), no_kernel(), false) {
        Mode::Refused(why) => assert!(why.contains("allow_unisolated"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        PythonSandbox::decide(interp(), no_kernel(), true),
        Mode::Unisolated(_)
    ));
    assert!(matches!(
        PythonSandbox::decide(interp(), Ok(()), false),
        Mode::Isolated(_)
    ));
    assert!(matches!(
        PythonSandbox::decide(Err("no python".into()), Ok(()), true),
        Mode::Refused(_)
    ));
}
