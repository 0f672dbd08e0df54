//! Read-side SQL building shared by the store's listings: a `WHERE` clause with its bound
//! parameters, substring filters, paged selects and id lists fetched in bounded batches.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::write::{bind_all, Val};
use super::{Result, Store};

/// The most ids bound in one `IN (…)` list.
const IN_BATCH: usize = 200;

/// The escaped `%…%` pattern of a case-insensitive substring filter.
pub(crate) fn like_pattern(text: &str) -> String {
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// `$n, $n+1, …` for `count` parameters after the first `bound`.
fn placeholders(bound: usize, count: usize) -> String {
    (bound + 1..=bound + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A `WHERE` clause and the values its `$n` placeholders bind.
pub(crate) struct Filter {
    sql: String,
    params: Vec<Val>,
}

impl Filter {
    /// Starts from a condition whose placeholders bind `params`.
    pub(crate) fn new(sql: &str, params: Vec<Val>) -> Filter {
        Filter {
            sql: sql.to_owned(),
            params,
        }
    }

    /// `AND LOWER(column)` contains `keyword`, when there is one.
    pub(crate) fn contains(mut self, column: &str, keyword: Option<&str>) -> Filter {
        if let Some(k) = keyword {
            self.params.push(like_pattern(k).into());
            let n = self.params.len();
            self.sql
                .push_str(&format!(" AND LOWER({column}) LIKE ${n} ESCAPE '\\'"));
        }
        self
    }

    /// `AND` this condition, its one `{}` replaced by the placeholders of `values`; nothing
    /// when `values` is empty.
    pub(crate) fn any_of(mut self, condition: &str, values: &[String]) -> Filter {
        if !values.is_empty() {
            let list = placeholders(self.params.len(), values.len());
            self.params.extend(values.iter().map(Val::from));
            self.sql
                .push_str(&format!(" AND {}", condition.replace("{}", &list)));
        }
        self
    }

    /// `AND` this condition, every `{}` in it bound to the same `value`.
    pub(crate) fn and_with(mut self, condition: &str, value: Val) -> Filter {
        self.params.push(value);
        let n = format!("${}", self.params.len());
        self.sql.push_str(" AND ");
        self.sql.push_str(&condition.replace("{}", &n));
        self
    }

    /// `AND` this fixed condition.
    pub(crate) fn and(mut self, condition: &str) -> Filter {
        self.sql.push_str(" AND ");
        self.sql.push_str(condition);
        self
    }
}

impl Store {
    /// A page of `SELECT {columns} FROM {table} WHERE {filter} ORDER BY {order}` and the
    /// filter's total count; `(page, limit)` picks the page.
    pub(crate) async fn page_rows(
        &self,
        columns: &str,
        table: &str,
        filter: Filter,
        order: &str,
        (page, limit): (i64, i64),
    ) -> Result<(Vec<AnyRow>, i64)> {
        let Filter {
            sql: filter,
            mut params,
        } = filter;
        let total: i64 = bind_all(
            sqlx::query(&format!("SELECT COUNT(*) FROM {table} WHERE {filter}")),
            &params,
        )
        .fetch_one(&self.pool)
        .await?
        .try_get(0)?;
        let sql = format!(
            "SELECT {columns} FROM {table} WHERE {filter} ORDER BY {order} LIMIT ${} OFFSET ${}",
            params.len() + 1,
            params.len() + 2
        );
        params.push(limit.into());
        params.push(((page - 1) * limit).into());
        let rows = bind_all(sqlx::query(&sql), &params)
            .fetch_all(&self.pool)
            .await?;
        Ok((rows, total))
    }

    /// The rows of `sql` (its one `{}` an `IN` list) for these ids, fetched in batches.
    pub(crate) async fn rows_in(&self, sql: &str, ids: &[String]) -> Result<Vec<AnyRow>> {
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(IN_BATCH) {
            let sql = sql.replace("{}", &placeholders(0, batch.len()));
            let params: Vec<Val> = batch.iter().map(Val::from).collect();
            out.extend(
                bind_all(sqlx::query(&sql), &params)
                    .fetch_all(&self.pool)
                    .await?,
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_number_their_placeholders_in_order() {
        let f = Filter::new("a = $1", crate::vals!["x"])
            .any_of("s IN ({})", &["p".into(), "q".into()])
            .contains("name", Some("50%_off"))
            .any_of("t IN ({})", &[])
            .and("b = 0");
        assert_eq!(
            f.sql,
            "a = $1 AND s IN ($2, $3) AND LOWER(name) LIKE $4 ESCAPE '\\' AND b = 0"
        );
        assert_eq!(f.params.len(), 4);
        assert_eq!(like_pattern("50%_Off"), "%50\\%\\_off%");
    }
}
