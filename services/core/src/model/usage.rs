//! Token usage and its price, as Dify reports it (`metadata.usage`): prices are decimal
//! strings quantised to 7 places; a model without configured pricing costs zero.

use serde::{Deserialize, Serialize};

/// Prices of one model (`[providers.NAME.pricing.MODEL]`), as decimal strings.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct Pricing {
    /// Price of `unit` prompt tokens' worth, per token unit.
    pub input: String,
    /// Price per completion token unit.
    pub output: String,
    /// The unit (e.g. `0.000001` = per million tokens).
    pub unit: String,
    /// Currency.
    pub currency: String,
}

impl Default for Pricing {
    fn default() -> Self {
        Pricing {
            input: "0".into(),
            output: "0".into(),
            unit: "0".into(),
            currency: "USD".into(),
        }
    }
}

/// Usage of one answer (or the sum of several).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Unit price of prompt tokens.
    pub prompt_unit_price: String,
    /// Price unit of prompt tokens.
    pub prompt_price_unit: String,
    /// Price of the prompt.
    pub prompt_price: String,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Unit price of completion tokens.
    pub completion_unit_price: String,
    /// Price unit of completion tokens.
    pub completion_price_unit: String,
    /// Price of the completion.
    pub completion_price: String,
    /// Prompt + completion tokens.
    pub total_tokens: u64,
    /// Total price.
    pub total_price: String,
    /// Currency.
    pub currency: String,
    /// Seconds from the request to the end of the answer.
    pub latency: f64,
    /// Seconds to the first token (streaming).
    pub time_to_first_token: Option<f64>,
    /// Seconds from the first to the last token (streaming).
    pub time_to_generate: Option<f64>,
}

impl Default for Usage {
    fn default() -> Self {
        Usage::priced(0, 0, &Pricing::default())
    }
}

/// Fixed-point decimals with 12 places.
const SCALE: i128 = 1_000_000_000_000;

fn parse_decimal(s: &str) -> i128 {
    let s = s.trim();
    let (neg, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let int: i128 = int.parse().unwrap_or(0);
    let mut frac_digits: String = frac.chars().take(12).collect();
    while frac_digits.len() < 12 {
        frac_digits.push('0');
    }
    let v = int * SCALE + frac_digits.parse::<i128>().unwrap_or(0);
    if neg {
        -v
    } else {
        v
    }
}

/// Formats a scaled decimal with 7 places, rounding half up.
fn format_price(v: i128) -> String {
    let step = SCALE / 10_000_000;
    let rounded = (v + step / 2).div_euclid(step);
    format!("{}.{:07}", rounded / 10_000_000, rounded % 10_000_000)
}

/// The price of `tokens` in 1e-12 units, rounded to 7 places as Dify does: its prices are
/// floats made decimal, so `27 × 0.15e-6` comes out as `0.0000040`, not `0.0000041`.
fn price(tokens: u64, unit_price: &str, price_unit: &str) -> i128 {
    let unit_price: f64 = unit_price.trim().parse().unwrap_or(0.0);
    let price_unit: f64 = price_unit.trim().parse().unwrap_or(0.0);
    let sevenths = (tokens as f64 * unit_price * price_unit * 1e7).round() as i128;
    sevenths * (SCALE / 10_000_000)
}

impl Usage {
    /// Usage of these token counts at these prices.
    pub fn priced(prompt_tokens: u64, completion_tokens: u64, pricing: &Pricing) -> Usage {
        let prompt = price(prompt_tokens, &pricing.input, &pricing.unit);
        let completion = price(completion_tokens, &pricing.output, &pricing.unit);
        Usage {
            prompt_tokens,
            prompt_unit_price: pricing.input.clone(),
            prompt_price_unit: pricing.unit.clone(),
            prompt_price: format_price(prompt),
            completion_tokens,
            completion_unit_price: pricing.output.clone(),
            completion_price_unit: pricing.unit.clone(),
            completion_price: format_price(completion),
            total_tokens: prompt_tokens + completion_tokens,
            total_price: format_price(prompt + completion),
            currency: pricing.currency.clone(),
            latency: 0.0,
            time_to_first_token: None,
            time_to_generate: None,
        }
    }

    /// The sum of two usages (tokens and prices; the later latency).
    pub fn add(&self, other: &Usage) -> Usage {
        let sum = |a: &str, b: &str| format_price(parse_decimal(a) + parse_decimal(b));
        Usage {
            prompt_tokens: self.prompt_tokens + other.prompt_tokens,
            prompt_price: sum(&self.prompt_price, &other.prompt_price),
            completion_tokens: self.completion_tokens + other.completion_tokens,
            completion_price: sum(&self.completion_price, &other.completion_price),
            total_tokens: self.total_tokens + other.total_tokens,
            total_price: sum(&self.total_price, &other.total_price),
            latency: self.latency + other.latency,
            ..other.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mini() -> Pricing {
        Pricing {
            input: "0.15".into(),
            output: "0.60".into(),
            unit: "0.000001".into(),
            currency: "USD".into(),
        }
    }

    #[test]
    fn prices_match_difys_wire() {
        // 01-chat-simple.chat-blocking: 42 prompt, 10 completion tokens at gpt-4o-mini prices.
        let u = Usage::priced(42, 10, &mini());
        assert_eq!(
            (
                u.prompt_price.as_str(),
                u.completion_price.as_str(),
                u.total_price.as_str()
            ),
            ("0.0000063", "0.0000060", "0.0000123")
        );
        let u = Usage::priced(27, 13, &mini());
        assert_eq!(
            (
                u.prompt_price.as_str(),
                u.completion_price.as_str(),
                u.total_price.as_str()
            ),
            ("0.0000040", "0.0000078", "0.0000118")
        );
        assert_eq!(u.total_tokens, 40);
    }

    #[test]
    fn unpriced_models_cost_zero() {
        let u = Usage::priced(100, 5, &Pricing::default());
        assert_eq!(u.total_price, "0.0000000");
        assert_eq!(u.prompt_unit_price, "0");
    }

    #[test]
    fn usages_add() {
        let a = Usage::priced(42, 10, &mini());
        let b = Usage::priced(27, 13, &mini());
        let s = a.add(&b);
        assert_eq!((s.total_tokens, s.total_price.as_str()), (92, "0.0000241"));
    }
}
