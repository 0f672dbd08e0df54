//! JavaScript in embedded QuickJS: a fresh runtime per run with a memory limit and an
//! interrupt handler that ends the run at its deadline. QuickJS has no network or file APIs.

use std::time::{Duration, Instant};

use rquickjs::{CatchResultExt, Context, Function, Runtime};
use serde_json::{Map, Value};

use super::CodeError;

/// Runs `main(inputs)`.
pub fn run(
    code: &str,
    inputs: &Map<String, Value>,
    timeout: Duration,
    memory_mb: u64,
) -> Result<Value, CodeError> {
    let rt = Runtime::new().map_err(|e| CodeError::Sandbox(e.to_string()))?;
    rt.set_memory_limit((memory_mb.max(16) * 1024 * 1024) as usize);
    rt.set_max_stack_size(1024 * 1024);
    let deadline = Instant::now() + timeout;
    rt.set_interrupt_handler(Some(Box::new(move || Instant::now() > deadline)));
    let ctx = Context::full(&rt).map_err(|e| CodeError::Sandbox(e.to_string()))?;
    let input = Value::Object(inputs.clone()).to_string();
    let result: Result<Option<String>, String> = ctx.with(|ctx| {
        ctx.eval::<(), _>(code)
            .catch(&ctx)
            .map_err(|e| e.to_string())?;
        let main: Function = ctx
            .globals()
            .get("main")
            .map_err(|_| "the code defines no main function".to_owned())?;
        let arg = ctx
            .json_parse(input)
            .catch(&ctx)
            .map_err(|e| e.to_string())?;
        let out: rquickjs::Value = main.call((arg,)).catch(&ctx).map_err(|e| e.to_string())?;
        let text = ctx
            .json_stringify(out)
            .catch(&ctx)
            .map_err(|e| e.to_string())?;
        Ok(text.map(|s| s.to_string().unwrap_or_default()))
    });
    match result {
        Ok(Some(text)) => serde_json::from_str(&text).map_err(|e| CodeError::Failed(e.to_string())),
        Ok(None) => Ok(Value::Null),
        Err(e) if Instant::now() > deadline || e.contains("interrupted") => {
            Err(CodeError::Timeout(timeout.as_secs()))
        }
        Err(e) if e.contains("out of memory") => Err(CodeError::Memory(memory_mb)),
        Err(e) => Err(CodeError::Failed(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn js(code: &str, inputs: Value) -> Result<Value, CodeError> {
        run(
            code,
            inputs.as_object().unwrap(),
            Duration::from_secs(1),
            32,
        )
    }

    #[test]
    fn returns_main_result() {
        let code = "function main({ticket, customer}) { return {reply: `Hi ${customer}`, has_error: /error/i.test(ticket)}; }";
        assert_eq!(
            js(code, json!({"ticket": "An ERROR here", "customer": "Ana"})).unwrap(),
            json!({"reply": "Hi Ana", "has_error": true})
        );
    }

    #[test]
    fn errors_loops_and_memory_are_stopped() {
        assert!(
            matches!(js("function main() { throw new Error('bad'); }", json!({})), Err(CodeError::Failed(m)) if m.contains("bad"))
        );
        assert!(matches!(
            js("function main() { while (true) {} }", json!({})),
            Err(CodeError::Timeout(_))
        ));
        let bomb = "function main() { let a = []; while (true) { a.push('x'.repeat(1000000)); } }";
        assert!(matches!(
            js(bomb, json!({})),
            Err(CodeError::Memory(_)) | Err(CodeError::Failed(_))
        ));
        assert!(
            matches!(js("var x = 1;", json!({})), Err(CodeError::Failed(m)) if m.contains("main"))
        );
        assert!(matches!(
            js("function main() { return fetch('http://x'); }", json!({})),
            Err(CodeError::Failed(_))
        ));
    }

    #[test]
    fn deep_recursion_hits_the_stack_limit() {
        let deep = "function f(n) { return f(n + 1) + 1; } function main() { return {v: f(0)}; }";
        match js(deep, json!({})) {
            Err(CodeError::Failed(m)) => assert!(m.contains("stack"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
