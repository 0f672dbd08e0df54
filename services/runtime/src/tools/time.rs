//! Dify's built-in `time` provider, natively: `current_time`, `weekday`,
//! `timezone_conversion`.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};
use weir_core::BoxFuture;

use super::{arg_text, Tool, ToolError, ToolParam, ToolSpec};

const PROVIDER: &str = "time";

fn param(
    name: &str,
    kind: &'static str,
    description: &str,
    required: bool,
    llm: bool,
) -> ToolParam {
    ToolParam {
        name: name.into(),
        kind,
        description: description.into(),
        required,
        llm,
    }
}

fn timezone(args: &Map<String, Value>, key: &str) -> Result<Tz, ToolError> {
    let name = arg_text(args, key)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "UTC".into());
    name.parse::<Tz>()
        .map_err(|_| ToolError(format!("Invalid timezone: {name}")))
}

/// All tools of the provider.
pub fn tools() -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(CurrentTime {
            spec: ToolSpec {
                provider: PROVIDER.into(),
                name: "current_time".into(),
                description: "A tool for getting the current time.".into(),
                params: vec![
                    param(
                        "format",
                        "string",
                        "Time format in strftime standard.",
                        false,
                        false,
                    ),
                    param(
                        "timezone",
                        "string",
                        "Time zone, e.g. UTC or Asia/Tokyo.",
                        false,
                        false,
                    ),
                ],
            },
        }),
        Arc::new(Weekday {
            spec: ToolSpec {
                provider: PROVIDER.into(),
                name: "weekday".into(),
                description: "A tool for calculating the weekday of a given date.".into(),
                params: vec![
                    param("year", "number", "Year", true, true),
                    param("month", "number", "Month", true, true),
                    param("day", "number", "Day", true, true),
                ],
            },
        }),
        Arc::new(Conversion {
            spec: ToolSpec {
                provider: PROVIDER.into(),
                name: "timezone_conversion".into(),
                description: "Converts a time from one time zone to another.".into(),
                params: vec![
                    param(
                        "current_time",
                        "string",
                        "Time to convert, %Y-%m-%d %H:%M:%S",
                        true,
                        true,
                    ),
                    param("current_timezone", "string", "Its time zone", true, true),
                    param(
                        "target_timezone",
                        "string",
                        "The time zone to convert to",
                        true,
                        true,
                    ),
                ],
            },
        }),
    ]
}

struct CurrentTime {
    spec: ToolSpec,
}

impl Tool for CurrentTime {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn invoke<'a>(
        &'a self,
        args: &'a Map<String, Value>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(async move {
            let tz = timezone(args, "timezone")?;
            let format = arg_text(args, "format")
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "%Y-%m-%d %H:%M:%S %Z".into());
            let now = Utc::now().with_timezone(&tz);
            let mut out = String::new();
            use std::fmt::Write;
            write!(out, "{}", now.format(&format))
                .map_err(|_| ToolError(format!("Invalid format: {format}")))?;
            Ok(out)
        })
    }
}

struct Weekday {
    spec: ToolSpec,
}

fn int_arg(args: &Map<String, Value>, key: &str) -> Result<i64, ToolError> {
    arg_text(args, key)
        .and_then(|s| s.trim().trim_matches('"').parse::<f64>().ok())
        .map(|f| f as i64)
        .ok_or_else(|| ToolError(format!("Invalid {key}")))
}

impl Tool for Weekday {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn invoke<'a>(
        &'a self,
        args: &'a Map<String, Value>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(async move {
            let (y, m, d) = (
                int_arg(args, "year")?,
                int_arg(args, "month")?,
                int_arg(args, "day")?,
            );
            let date = NaiveDate::from_ymd_opt(y as i32, m as u32, d as u32)
                .ok_or_else(|| ToolError("Invalid date.".into()))?;
            Ok(format!(
                "{} is {}.",
                date.format("%B %-d, %Y"),
                date.weekday_name()
            ))
        })
    }
}

trait WeekdayName {
    fn weekday_name(&self) -> &'static str;
}

impl WeekdayName for NaiveDate {
    fn weekday_name(&self) -> &'static str {
        match self.weekday() {
            chrono::Weekday::Mon => "Monday",
            chrono::Weekday::Tue => "Tuesday",
            chrono::Weekday::Wed => "Wednesday",
            chrono::Weekday::Thu => "Thursday",
            chrono::Weekday::Fri => "Friday",
            chrono::Weekday::Sat => "Saturday",
            chrono::Weekday::Sun => "Sunday",
        }
    }
}

struct Conversion {
    spec: ToolSpec,
}

impl Tool for Conversion {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn invoke<'a>(
        &'a self,
        args: &'a Map<String, Value>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(async move {
            let from = timezone(args, "current_timezone")?;
            let to = timezone(args, "target_timezone")?;
            let text = arg_text(args, "current_time").unwrap_or_default();
            let naive = NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S")
                .map_err(|_| ToolError("Invalid time format, expected %Y-%m-%d %H:%M:%S".into()))?;
            let local = from
                .from_local_datetime(&naive)
                .single()
                .ok_or_else(|| ToolError("Ambiguous or invalid local time".into()))?;
            Ok(local
                .with_timezone(&to)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn call(name: &str, args: Value) -> Result<String, ToolError> {
        let tools = tools();
        let tool = tools.iter().find(|t| t.spec().name == name).unwrap();
        let args = args.as_object().unwrap().clone();
        tool.invoke(&args).await
    }

    #[tokio::test]
    async fn time_tools() {
        let now = call("current_time", json!({"format": "%Y", "timezone": "UTC"}))
            .await
            .unwrap();
        assert_eq!(now, Utc::now().format("%Y").to_string());
        assert!(call("current_time", json!({"timezone": "Mars/Olympus"}))
            .await
            .is_err());
        assert_eq!(
            call("weekday", json!({"year": 2024, "month": 1, "day": 1}))
                .await
                .unwrap(),
            "January 1, 2024 is Monday."
        );
        assert!(
            call("weekday", json!({"year": 2024, "month": 2, "day": 30}))
                .await
                .is_err()
        );
        assert_eq!(
            call("timezone_conversion", json!({"current_time": "2024-01-01 12:00:00", "current_timezone": "UTC", "target_timezone": "Asia/Tokyo"})).await.unwrap(),
            "2024-01-01 21:00:00"
        );
    }
}
