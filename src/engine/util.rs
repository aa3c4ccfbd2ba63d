//! Small helpers shared by the rule kinds: reading collected columns and
//! wording numbers.

use polars::prelude::*;

/// A string column as owned values (nulls as empty strings).
pub fn strings(df: &DataFrame, name: &str) -> anyhow::Result<Vec<String>> {
    let c = df.column(name)?;
    let c = c.cast(&DataType::String)?;
    Ok(c.str()?.iter().map(|v| v.unwrap_or_default().to_string()).collect())
}

/// A numeric column as u64 (nulls as 0).
pub fn counts(df: &DataFrame, name: &str) -> anyhow::Result<Vec<u64>> {
    let c = df.column(name)?;
    let c = c.cast(&DataType::UInt64)?;
    Ok(c.u64()?.iter().map(|v| v.unwrap_or(0)).collect())
}

/// A numeric column as f64 (nulls as 0).
pub fn floats(df: &DataFrame, name: &str) -> anyhow::Result<Vec<f64>> {
    let c = df.column(name)?;
    let c = c.cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().map(|v| v.unwrap_or(0.0)).collect())
}

/// A numeric column as i64, keeping nulls.
pub fn opt_ints(df: &DataFrame, name: &str) -> anyhow::Result<Vec<Option<i64>>> {
    let c = df.column(name)?;
    let c = c.cast(&DataType::Int64)?;
    Ok(c.i64()?.iter().collect())
}

/// A boolean column (nulls as false).
pub fn bools(df: &DataFrame, name: &str) -> anyhow::Result<Vec<bool>> {
    let c = df.column(name)?;
    Ok(c.bool()?.iter().map(|v| v.unwrap_or(false)).collect())
}

/// `85.0%`
pub fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// The smallest whole count reaching `share` of `n` (guarding against
/// 0.85 * 100 = 85.00000000000001).
pub fn needed(share: f64, n: u64) -> u64 {
    (share * n as f64 - 1e-9).ceil().max(0.0) as u64
}

/// `1 platform` / `3 platforms`
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needed_counts() {
        assert_eq!(needed(0.85, 100), 85);
        assert_eq!(needed(0.85, 101), 86);
        assert_eq!(needed(0.8, 5), 4);
        assert_eq!(needed(0.0, 7), 0);
    }
}
