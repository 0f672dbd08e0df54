//! Running generations by task id, so that a stop request reaches them. The flag is checked
//! between upstream chunks and wakes a waiting run at once. (A shared store can carry the
//! flags across instances behind the same interface.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use weir_core::coordination::StopFlag;

struct Entry {
    app_id: String,
    owner: Option<String>,
    flag: Arc<StopFlag>,
}

/// Running tasks.
#[derive(Default)]
pub struct TaskRegistry {
    tasks: Mutex<HashMap<String, Entry>>,
}

/// Keeps a task registered; unregisters it when dropped.
pub struct TaskGuard {
    registry: Arc<TaskRegistry>,
    task_id: String,
    /// The run's stop flag.
    pub flag: Arc<StopFlag>,
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.registry
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.task_id);
    }
}

impl TaskRegistry {
    /// Registers a task of `app_id`; `owner` (an end user id) limits who may stop it.
    pub fn register(
        self: &Arc<Self>,
        task_id: &str,
        app_id: &str,
        owner: Option<&str>,
    ) -> TaskGuard {
        let flag = Arc::new(StopFlag::default());
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).insert(
            task_id.to_owned(),
            Entry {
                app_id: app_id.to_owned(),
                owner: owner.map(str::to_owned),
                flag: flag.clone(),
            },
        );
        TaskGuard {
            registry: self.clone(),
            task_id: task_id.to_owned(),
            flag,
        }
    }

    /// Stops a task of `app_id` if `requester` may (the owner, or anyone for unowned
    /// tasks). Unknown and finished tasks are ignored.
    pub fn stop(&self, task_id: &str, app_id: &str, requester: Option<&str>) -> bool {
        let tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        match tasks.get(task_id) {
            Some(e)
                if e.app_id == app_id && (e.owner.is_none() || e.owner.as_deref() == requester) =>
            {
                e.flag.stop();
                true
            }
            _ => false,
        }
    }

    /// Stops a task of `app_id` whoever started it (`/openapi/v1` stop).
    pub fn stop_any(&self, task_id: &str, app_id: &str) -> bool {
        let tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        match tasks.get(task_id) {
            Some(e) if e.app_id == app_id => {
                e.flag.stop();
                true
            }
            _ => false,
        }
    }

    /// The number of running tasks.
    pub fn running(&self) -> usize {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_owner_stops_an_owned_task() {
        let reg = Arc::new(TaskRegistry::default());
        let guard = reg.register("t1", "app", Some("ana"));
        assert!(!reg.stop("t1", "app", Some("bob")));
        assert!(!reg.stop("t1", "other-app", Some("ana")));
        assert!(!guard.flag.is_stopped());
        assert!(reg.stop("t1", "app", Some("ana")));
        guard.flag.stopped().await;
        drop(guard);
        assert_eq!(reg.running(), 0);
        assert!(
            !reg.stop("t1", "app", Some("ana")),
            "finished tasks are ignored"
        );
        let wf = reg.register("t2", "app", None);
        assert!(reg.stop("t2", "app", Some("anyone")));
        assert!(wf.flag.is_stopped());
    }
}
