//! Running generations by task id, so that a stop request reaches them wherever they run.
//! The flag is checked between upstream chunks and wakes a waiting run at once. A task of
//! this instance is stopped directly; with shared coordination, a task of another instance
//! is found by its lease and stopped by a notice that its instance hears.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use futures_util::StreamExt;
use weir_core::coordination::{Coordination, Notice, TaskInfo, LEASE_TTL};

pub use weir_core::coordination::StopFlag;

struct Entry {
    info: TaskInfo,
    flag: Arc<StopFlag>,
}

/// Running tasks.
pub struct TaskRegistry {
    tasks: Mutex<HashMap<String, Entry>>,
    coord: Arc<dyn Coordination>,
}

/// Keeps a task registered (and its lease renewed); unregisters it when dropped.
pub struct TaskGuard {
    registry: Arc<TaskRegistry>,
    task_id: String,
    lease: Option<tokio::task::JoinHandle<()>>,
    /// The run's stop flag.
    pub flag: Arc<StopFlag>,
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.task_id);
        if let Some(lease) = self.lease.take() {
            lease.abort();
            let (coord, task_id) = (
                self.registry.coord.clone(),
                std::mem::take(&mut self.task_id),
            );
            tokio::spawn(async move {
                if let Err(e) = coord.end_task(&task_id).await {
                    tracing::warn!(error = %e, task_id, "a finished task keeps its lease until it runs out");
                }
            });
        }
    }
}

impl TaskRegistry {
    /// A registry coordinating through `coord`; it follows `coord`'s stop notices.
    pub fn new(coord: Arc<dyn Coordination>) -> Arc<Self> {
        let registry = Arc::new(TaskRegistry {
            tasks: Mutex::default(),
            coord,
        });
        if registry.coord.is_shared() {
            tokio::spawn(follow_stops(Arc::downgrade(&registry)));
        }
        registry
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a task of `app_id`; `owner` (an end user id) limits who may stop it.
    pub fn register(
        self: &Arc<Self>,
        task_id: &str,
        app_id: &str,
        owner: Option<&str>,
    ) -> TaskGuard {
        let flag = Arc::new(StopFlag::default());
        let info = TaskInfo {
            app_id: app_id.to_owned(),
            owner: owner.map(str::to_owned),
        };
        let lease = self.coord.is_shared().then(|| {
            let (coord, id, info) = (self.coord.clone(), task_id.to_owned(), info.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(LEASE_TTL / 3);
                loop {
                    tick.tick().await;
                    if let Err(e) = coord.lease_task(&id, &info, LEASE_TTL).await {
                        tracing::warn!(error = %e, task_id = id, "cannot renew a task lease");
                    }
                }
            })
        });
        self.lock().insert(
            task_id.to_owned(),
            Entry {
                info,
                flag: flag.clone(),
            },
        );
        TaskGuard {
            registry: self.clone(),
            task_id: task_id.to_owned(),
            lease,
            flag,
        }
    }

    /// Stops a task of `app_id` if `requester` may (the owner, or anyone for unowned
    /// tasks). Unknown and finished tasks are ignored.
    pub async fn stop(&self, task_id: &str, app_id: &str, requester: Option<&str>) -> bool {
        self.stop_if(task_id, |info| {
            info.app_id == app_id && (info.owner.is_none() || info.owner.as_deref() == requester)
        })
        .await
    }

    /// Stops a task of `app_id` whoever started it (`/openapi/v1` stop).
    pub async fn stop_any(&self, task_id: &str, app_id: &str) -> bool {
        self.stop_if(task_id, |info| info.app_id == app_id).await
    }

    async fn stop_if(&self, task_id: &str, may: impl Fn(&TaskInfo) -> bool) -> bool {
        if let Some(e) = self.lock().get(task_id) {
            if !may(&e.info) {
                return false;
            }
            e.flag.stop();
            return true;
        }
        if !self.coord.is_shared() {
            return false;
        }
        match self.coord.task(task_id).await {
            Ok(Some(info)) if may(&info) => {
                let notice = Notice::Stop {
                    task_id: task_id.to_owned(),
                };
                match self.coord.notify(&notice).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::error!(error = %e, task_id, "cannot send a stop to the task's instance");
                        false
                    }
                }
            }
            Ok(_) => false,
            Err(e) => {
                tracing::error!(error = %e, task_id, "cannot look a task up");
                false
            }
        }
    }

    /// The number of running tasks.
    pub fn running(&self) -> usize {
        self.lock().len()
    }
}

/// Raises the flags of this instance's tasks that another instance was asked to stop.
async fn follow_stops(registry: Weak<TaskRegistry>) {
    let Some(mut notices) = registry.upgrade().map(|r| r.coord.notices()) else {
        return;
    };
    while let Some(notice) = notices.next().await {
        let Some(registry) = registry.upgrade() else {
            return;
        };
        if let Notice::Stop { task_id } = notice {
            if let Some(e) = registry.lock().get(&task_id) {
                e.flag.stop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_owner_stops_an_owned_task() {
        let reg = TaskRegistry::new(weir_core::coordination::Local::new());
        let guard = reg.register("t1", "app", Some("ana"));
        assert!(!reg.stop("t1", "app", Some("bob")).await);
        assert!(!reg.stop("t1", "other-app", Some("ana")).await);
        assert!(!guard.flag.is_stopped());
        assert!(reg.stop("t1", "app", Some("ana")).await);
        guard.flag.stopped().await;
        drop(guard);
        assert_eq!(reg.running(), 0);
        assert!(
            !reg.stop("t1", "app", Some("ana")).await,
            "finished tasks are ignored"
        );
        let wf = reg.register("t2", "app", None);
        assert!(reg.stop("t2", "app", Some("anyone")).await);
        assert!(wf.flag.is_stopped());
    }
}
