//! The log data contract: datasets, their columns, types, and allowed values.
//!
//! This is the single source of truth for what hutong accepts; ingestion
//! validates against it and `docs/data-contract.md` documents it.

use std::fmt;

/// One of the datasets an audit reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Dataset {
    Transactions,
    Checkout,
    Merchants,
    /// Collection codes as captured in the field or at onboarding.
    Codes,
}

/// The keys an aggregation may take the sorted path on, by the dataset
/// whose order decides it (and whose order `convert` records).
pub const SORTABLE: &[(Dataset, &str)] = &[(Dataset::Checkout, "session_id"), (Dataset::Transactions, "txn_id")];

impl Dataset {
    pub const ALL: [Dataset; 4] = [Dataset::Transactions, Dataset::Checkout, Dataset::Merchants, Dataset::Codes];

    pub fn name(self) -> &'static str {
        match self {
            Dataset::Transactions => "transactions",
            Dataset::Checkout => "checkout",
            Dataset::Merchants => "merchants",
            Dataset::Codes => "codes",
        }
    }

    pub fn columns(self) -> &'static [Column] {
        match self {
            Dataset::Transactions => TRANSACTIONS,
            Dataset::Checkout => CHECKOUT,
            Dataset::Merchants => MERCHANTS,
            Dataset::Codes => CODES,
        }
    }

    /// The CSV header of the dataset: every contract column, in order.
    pub fn header(self) -> String {
        self.columns().iter().map(|c| c.name).collect::<Vec<_>>().join(",")
    }

    pub fn column(self, name: &str) -> Option<&'static Column> {
        self.columns().iter().find(|c| c.name == name)
    }

    /// Whether an audit can run without this dataset.
    pub fn optional(self) -> bool {
        matches!(self, Dataset::Merchants | Dataset::Codes)
    }

    /// The column holding when a row happened, which `--from` / `--to`,
    /// `--period` and effective dates read.
    pub fn time_column(self) -> Option<&'static str> {
        match self {
            Dataset::Transactions | Dataset::Checkout => Some("ts"),
            Dataset::Codes => Some("captured_at"),
            Dataset::Merchants => None,
        }
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The type a column's values must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text; required string columns must not be empty.
    Text,
    /// RFC 3339 timestamp; without an offset it is read in the audit's time zone.
    Timestamp,
    /// A decimal number; `non_negative` rejects values below zero.
    Decimal { non_negative: bool },
    /// A whole number no smaller than `min`.
    Integer { min: i64 },
    /// `true/false`, `1/0`, `yes/no`, case-insensitive.
    Bool,
    /// One of a fixed set of lower-case values, matched case-insensitively.
    Enum(&'static [&'static str]),
}

impl Kind {
    pub fn describe(self) -> String {
        match self {
            Kind::Text => "string".into(),
            Kind::Timestamp => "timestamp".into(),
            Kind::Decimal { non_negative: true } => "decimal >= 0".into(),
            Kind::Decimal { non_negative: false } => "decimal".into(),
            Kind::Integer { min } => format!("integer >= {min}"),
            Kind::Bool => "bool".into(),
            Kind::Enum(values) => values.join(" | "),
        }
    }
}

/// One column of a dataset.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

const fn req(name: &'static str, kind: Kind) -> Column {
    Column { name, kind, required: true }
}

const fn opt(name: &'static str, kind: Kind) -> Column {
    Column { name, kind, required: false }
}

pub const CHANNELS: &[&str] = &["online", "offline"];
pub const STATUSES: &[&str] = &["success", "failed"];
pub const FUNDERS: &[&str] = &["platform", "merchant", "provider"];

const AMOUNT: Kind = Kind::Decimal { non_negative: true };

pub const TRANSACTIONS: &[Column] = &[
    req("txn_id", Kind::Text),
    req("ts", Kind::Timestamp),
    req("platform", Kind::Text),
    req("channel", Kind::Enum(CHANNELS)),
    opt("scene", Kind::Text),
    req("merchant_id", Kind::Text),
    req("region", Kind::Text),
    req("method", Kind::Text),
    opt("wallet_app", Kind::Text),
    opt("code_issuer", Kind::Text),
    req("amount", AMOUNT),
    req("status", Kind::Enum(STATUSES)),
    opt("failure_code", Kind::Text),
    opt("latency_ms", Kind::Integer { min: 0 }),
    opt("fee", Kind::Decimal { non_negative: false }),
    opt("discount", AMOUNT),
    opt("discount_funder", Kind::Enum(FUNDERS)),
];

pub const CHECKOUT: &[Column] = &[
    req("session_id", Kind::Text),
    req("ts", Kind::Timestamp),
    req("platform", Kind::Text),
    req("merchant_id", Kind::Text),
    req("region", Kind::Text),
    opt("scene", Kind::Text),
    req("method", Kind::Text),
    req("position", Kind::Integer { min: 1 }),
    req("is_default", Kind::Bool),
    req("folded", Kind::Bool),
    opt("surcharge", AMOUNT),
    opt("discount", AMOUNT),
    opt("discount_funder", Kind::Enum(FUNDERS)),
    opt("selected", Kind::Bool),
];

pub const MERCHANTS: &[Column] = &[
    req("merchant_id", Kind::Text),
    opt("platform", Kind::Text),
    opt("region", Kind::Text),
    opt("mcc", Kind::Text),
    opt("name", Kind::Text),
];

pub const CODES: &[Column] = &[
    req("code_id", Kind::Text),
    req("captured_at", Kind::Timestamp),
    req("region", Kind::Text),
    req("merchant_id", Kind::Text),
    opt("platform", Kind::Text),
    req("payload", Kind::Text),
];

/// Spellings accepted as `true` / `false` (compared lower-cased).
pub const TRUE_WORDS: &[&str] = &["true", "1", "yes"];
pub const FALSE_WORDS: &[&str] = &["false", "0", "no"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_unique_per_dataset() {
        for ds in Dataset::ALL {
            let mut names: Vec<_> = ds.columns().iter().map(|c| c.name).collect();
            names.sort_unstable();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len(), "{ds}");
        }
    }

    #[test]
    fn required_columns_match_the_documented_contract() {
        let required =
            |ds: Dataset| -> Vec<&str> { ds.columns().iter().filter(|c| c.required).map(|c| c.name).collect() };
        assert_eq!(
            required(Dataset::Transactions),
            ["txn_id", "ts", "platform", "channel", "merchant_id", "region", "method", "amount", "status"]
        );
        assert_eq!(
            required(Dataset::Checkout),
            ["session_id", "ts", "platform", "merchant_id", "region", "method", "position", "is_default", "folded"]
        );
        assert_eq!(required(Dataset::Merchants), ["merchant_id"]);
        assert_eq!(required(Dataset::Codes), ["code_id", "captured_at", "region", "merchant_id", "payload"]);
    }
}
