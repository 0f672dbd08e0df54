//! Keywords of `economy` datasets: the most frequent non-stopword terms of a chunk (up to
//! [`KEYWORD_NUMBER`]), and the keyword score of a query against them.

use std::collections::HashMap;

/// Keywords kept per chunk (Dify's `keyword_number` default).
pub const KEYWORD_NUMBER: usize = 10;

const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "he",
    "her", "his", "i", "if", "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on",
    "or", "our", "she", "so", "such", "that", "the", "their", "them", "then", "there", "these",
    "they", "this", "to", "was", "we", "were", "what", "when", "which", "who", "will", "with",
    "you", "your",
];

/// The lower-cased terms of a text (letters and digits), stopwords removed.
pub fn terms(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !STOPWORDS.contains(w))
        .map(str::to_owned)
        .collect()
}

/// The keywords of a chunk: its most frequent terms, ties by first appearance.
pub fn extract(text: &str) -> Vec<String> {
    let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
    for (i, t) in terms(text).into_iter().enumerate() {
        counts.entry(t).or_insert((0, i)).0 += 1;
    }
    let mut ranked: Vec<(String, (usize, usize))> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.1 .1.cmp(&b.1 .1)));
    ranked
        .into_iter()
        .take(KEYWORD_NUMBER)
        .map(|(t, _)| t)
        .collect()
}

/// The share of the query's distinct terms among a chunk's keywords (0 when none match).
pub fn score(query_terms: &[String], keywords: &[String]) -> f64 {
    let mut distinct: Vec<&String> = query_terms.iter().collect();
    distinct.sort();
    distinct.dedup();
    if distinct.is_empty() {
        return 0.0;
    }
    let hits = distinct.iter().filter(|t| keywords.contains(t)).count();
    hits as f64 / distinct.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_frequent_terms() {
        let k = extract("The river flows. The river is long; rivers flow to the sea.");
        assert_eq!(k[0], "river");
        assert!(!k.contains(&"the".to_owned()));
        assert_eq!(score(&terms("long river"), &k), 1.0);
        assert_eq!(score(&terms("mountain river"), &k), 0.5);
        assert_eq!(score(&terms("the"), &k), 0.0);
    }
}
