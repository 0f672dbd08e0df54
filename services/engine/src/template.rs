//! Workflow templates: `{{#node_id.var.path#}}` references (node id 1–50 characters of
//! `[a-zA-Z0-9_]`, then 1–10 `.identifier` segments). A reference that cannot be resolved
//! stays in the text verbatim. Templates are parsed once, rendered many times.

use super::pool::Pool;
use super::value::text;

/// One piece of a template.
#[derive(Clone, Debug, PartialEq)]
pub enum Segment {
    /// Literal text.
    Text(String),
    /// A reference, with its original spelling.
    Ref(Vec<String>, String),
}

/// A parsed template.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Template {
    /// Its segments in order.
    pub segments: Vec<Segment>,
}

fn is_node_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 50 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && s.len() <= 30
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_ref(inner: &str) -> Option<Vec<String>> {
    let mut parts = inner.split('.');
    let node = parts.next()?;
    if !is_node_id(node) {
        return None;
    }
    let rest: Vec<&str> = parts.collect();
    if rest.is_empty() || rest.len() > 10 || !rest.iter().all(|p| is_ident(p)) {
        return None;
    }
    let mut out = vec![node.to_owned()];
    out.extend(rest.into_iter().map(str::to_owned));
    Some(out)
}

impl Template {
    /// Parses a template.
    pub fn parse(src: &str) -> Template {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = src;
        while let Some(start) = rest.find("{{#") {
            literal.push_str(&rest[..start]);
            let after = &rest[start + 3..];
            match after
                .find("#}}")
                .and_then(|end| parse_ref(&after[..end]).map(|sel| (end, sel)))
            {
                Some((end, sel)) => {
                    if !literal.is_empty() {
                        segments.push(Segment::Text(std::mem::take(&mut literal)));
                    }
                    segments.push(Segment::Ref(
                        sel,
                        rest[start..start + 3 + end + 3].to_owned(),
                    ));
                    rest = &after[end + 3..];
                }
                None => {
                    literal.push_str("{{#");
                    rest = after;
                }
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Text(literal));
        }
        Template { segments }
    }

    /// Renders against a pool.
    pub fn render(&self, pool: &Pool) -> String {
        let mut out = String::new();
        for s in &self.segments {
            match s {
                Segment::Text(t) => out.push_str(t),
                Segment::Ref(sel, raw) => match pool.get(sel) {
                    Some(v) => out.push_str(&text(&v)),
                    None => out.push_str(raw),
                },
            }
        }
        out
    }

    /// The selectors it references.
    pub fn refs(&self) -> impl Iterator<Item = &Vec<String>> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Ref(sel, _) => Some(sel),
            Segment::Text(_) => None,
        })
    }
}

/// Parses and renders in one go.
pub fn render(src: &str, pool: &Pool) -> String {
    Template::parse(src).render(pool)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_renders() {
        let pool = Pool::new();
        pool.set("sys", "query", json!("hello"));
        pool.set("1718000000001", "text", json!("body"));
        pool.set("llm", "obj", json!({"k": {"v": 2}}));
        let t = Template::parse("Q: {{#sys.query#}} / {{#1718000000001.text#}} / {{#llm.obj.k.v#}} / {{#missing.x#}} / {{#context#}} / {{# bad #}}");
        assert_eq!(
            t.render(&pool),
            "Q: hello / body / 2 / {{#missing.x#}} / {{#context#}} / {{# bad #}}"
        );
        assert_eq!(t.refs().count(), 4);
    }

    #[test]
    fn literal_only() {
        assert_eq!(
            Template::parse("plain").segments,
            vec![Segment::Text("plain".into())]
        );
        assert!(Template::parse("").segments.is_empty());
    }
}
