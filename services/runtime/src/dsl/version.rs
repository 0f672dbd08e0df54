//! DSL versions and the import status they give.

/// The DSL version weir writes and understands (Dify's `CURRENT_APP_DSL_VERSION`).
pub const CURRENT_VERSION: &str = "0.6.0";

/// The outcome of an import, by version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportStatus {
    /// Imported.
    Completed,
    /// Imported; the file is older than the current minor version.
    CompletedWithWarnings,
    /// Needs confirmation (newer file, or an older major).
    Pending,
    /// Refused.
    Failed,
}

impl ImportStatus {
    /// The status as Dify spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Completed => "completed",
            ImportStatus::CompletedWithWarnings => "completed-with-warnings",
            ImportStatus::Pending => "pending",
            ImportStatus::Failed => "failed",
        }
    }
}

fn parse(version: &str) -> Option<(u64, u64, u64)> {
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    let patch = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    parts.next().is_none().then_some((major, minor, patch))
}

/// The import status of a file at `version`, compared with [`CURRENT_VERSION`].
pub fn import_status(version: &str) -> ImportStatus {
    let Some(imported) = parse(version) else {
        return ImportStatus::Failed;
    };
    let current = parse(CURRENT_VERSION).expect("valid current version");
    if imported > current || imported.0 < current.0 {
        ImportStatus::Pending
    } else if imported.1 < current.1 {
        ImportStatus::CompletedWithWarnings
    } else {
        ImportStatus::Completed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_table() {
        assert_eq!(import_status("0.6.0"), ImportStatus::Completed);
        assert_eq!(import_status("0.6.1"), ImportStatus::Pending);
        assert_eq!(import_status("0.7.0"), ImportStatus::Pending);
        assert_eq!(import_status("1.0.0"), ImportStatus::Pending);
        assert_eq!(import_status("0.1.3"), ImportStatus::CompletedWithWarnings);
        assert_eq!(import_status("0.5"), ImportStatus::CompletedWithWarnings);
        assert_eq!(import_status("abc"), ImportStatus::Failed);
        assert_eq!(import_status("0.1.x"), ImportStatus::Failed);
    }
}
