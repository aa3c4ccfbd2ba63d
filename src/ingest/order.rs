//! The order of a dataset's accepted rows, followed row by row as they are
//! written (by `convert`, and by a bounded audit's staging of CSV): whether
//! they come sorted by the dataset's sortable key, and which of the columns
//! grouped beside that key hold one value within each of its runs.
//!
//! On rows sorted by the key every key is one run, so a column constant
//! within each run is constant per key, on any subset of the rows in any
//! order: the sorted path then has nothing to check for it
//! (`exec::Stage::sorted`).

use polars::prelude::*;

use super::sortmeta::SortedKey;
use crate::contract::{Dataset, SORTABLE};

/// The columns the per-key stages group by beside their key (platform,
/// merchant, region): those whose constancy within each key is followed.
pub const COMPANIONS: &[&str] = &["platform", "merchant_id", "region"];

/// What the whole pass proved of the accepted rows' order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RowOrder {
    /// Not followed (a dataset read without a pass that follows it).
    #[default]
    Unknown,
    /// Followed, and not sorted by the key: one row out of order, or a null key.
    Unsorted,
    Sorted(Proven),
}

impl RowOrder {
    /// The proof for `key` in ascending order (the order the sorted path
    /// takes), if there is one.
    pub fn ascending_by(&self, key: &str) -> Option<&Proven> {
        match self {
            RowOrder::Sorted(p) if p.key.column == key && !p.key.descending => Some(p),
            _ => None,
        }
    }
}

/// Rows proven sorted by `key`, with `constant` the companions that never
/// change within a run of equal keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proven {
    pub key: SortedKey,
    pub constant: Vec<String>,
}

/// The order of a key column's values seen so far, in row order, with
/// whether each companion changed within a run of equal keys.
#[derive(Debug)]
pub struct Order {
    column: &'static str,
    companions: Vec<&'static str>,
    /// The last row seen: its key and companions.
    last: Option<(String, Vec<Option<String>>)>,
    ascending: bool,
    descending: bool,
    nulls: bool,
    varies: Vec<bool>,
}

impl Order {
    /// The order to follow for `ds`, when it has a sortable key among its
    /// columns `present`; the companions followed are those present.
    pub fn of(ds: Dataset, present: &[&str]) -> Option<Order> {
        let (_, key) = SORTABLE.iter().find(|(d, key)| *d == ds && present.contains(key))?;
        let companions: Vec<&'static str> =
            COMPANIONS.iter().copied().filter(|c| c != key && present.contains(c)).collect();
        Some(Order::new(key, companions))
    }

    fn new(column: &'static str, companions: Vec<&'static str>) -> Order {
        let varies = vec![false; companions.len()];
        Order { column, companions, last: None, ascending: true, descending: true, nulls: false, varies }
    }

    /// The columns a batch must hold for [`Order::see`].
    pub fn columns(&self) -> Vec<&'static str> {
        std::iter::once(self.column).chain(self.companions.iter().copied()).collect()
    }

    /// Takes in the next batch of rows, those where `accepted` is true (every
    /// row when `None`).
    pub fn see(&mut self, df: &DataFrame, accepted: Option<&BooleanChunked>) -> PolarsResult<()> {
        if self.nulls || !(self.ascending || self.descending) {
            return Ok(());
        }
        let keys = df.column(self.column)?.str()?;
        let companions =
            self.companions.iter().map(|c| df.column(c).and_then(|c| c.str())).collect::<PolarsResult<Vec<_>>>()?;
        let mut companion_values: Vec<_> = companions.iter().map(|c| c.iter()).collect();
        let mut taken = accepted.map(|a| a.iter());
        let last = self.last.take();
        let mut previous: Option<&str> = last.as_ref().map(|(k, _)| k.as_str());
        let mut before: Vec<Option<&str>> = match &last {
            Some((_, values)) => values.iter().map(Option::as_deref).collect(),
            None => vec![None; self.companions.len()],
        };
        let mut row: Vec<Option<&str>> = vec![None; self.companions.len()];
        for key in keys.iter() {
            for (value, values) in row.iter_mut().zip(companion_values.iter_mut()) {
                *value = values.next().flatten();
            }
            // A null in the mask is a row not accepted, as a filter reads it.
            if !taken.as_mut().is_none_or(|t| t.next().flatten().unwrap_or(false)) {
                continue;
            }
            let Some(key) = key else {
                self.nulls = true;
                return Ok(());
            };
            if let Some(p) = previous {
                self.ascending &= p <= key;
                self.descending &= p >= key;
                if p == key {
                    for ((varies, now), then) in self.varies.iter_mut().zip(&row).zip(&before) {
                        *varies |= now != then;
                    }
                }
            }
            previous = Some(key);
            before.copy_from_slice(&row);
        }
        self.last = previous.map(|p| (p.to_string(), before.iter().map(|v| v.map(str::to_string)).collect()));
        Ok(())
    }

    /// The key and direction the rows were sorted in, if they were: with no
    /// null key, and at least one row. Rows all of one key are ascending.
    pub fn sorted_by(&self) -> Option<SortedKey> {
        if self.nulls || self.last.is_none() {
            return None;
        }
        match (self.ascending, self.descending) {
            (true, _) => Some(SortedKey { column: self.column.to_string(), descending: false }),
            (false, true) => Some(SortedKey { column: self.column.to_string(), descending: true }),
            (false, false) => None,
        }
    }

    /// What the rows seen prove.
    pub fn proven(&self) -> RowOrder {
        match self.sorted_by() {
            Some(key) => RowOrder::Sorted(Proven {
                key,
                constant: self
                    .companions
                    .iter()
                    .zip(&self.varies)
                    .filter(|(_, varies)| !**varies)
                    .map(|(c, _)| c.to_string())
                    .collect(),
            }),
            None => RowOrder::Unsorted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(rows: &[(Option<&str>, &str)]) -> DataFrame {
        df!(
            "session_id" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "platform" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    fn seen(batches: &[&[Option<&str>]]) -> Option<SortedKey> {
        let mut order = Order::new("session_id", Vec::new());
        for b in batches {
            let df = df!("session_id" => b.to_vec()).unwrap();
            order.see(&df, None).unwrap();
        }
        order.sorted_by()
    }

    #[test]
    fn the_order_is_followed_across_batches() {
        let asc = Some(SortedKey { column: "session_id".into(), descending: false });
        let desc = Some(SortedKey { column: "session_id".into(), descending: true });
        assert_eq!(seen(&[&[Some("s1"), Some("s1")], &[Some("s1"), Some("s2")], &[Some("s3")]]), asc);
        assert_eq!(seen(&[&[Some("s3"), Some("s2")], &[], &[Some("s2"), Some("s1")]]), desc);
        // Out of order only across a batch boundary.
        assert_eq!(seen(&[&[Some("s1"), Some("s2")], &[Some("s1"), Some("s3")]]), None);
        // Bytewise, as polars compares text: "s10" sorts before "s9".
        assert_eq!(seen(&[&[Some("s10"), Some("s9")]]), asc);
        assert_eq!(seen(&[&[Some("s9"), Some("s10")]]), desc);
        assert_eq!(seen(&[&[Some("s1"), None, Some("s2")]]), None);
        assert_eq!(seen(&[&[Some("s1"), Some("s1")]]), asc);
        assert_eq!(seen(&[&[]]), None);
    }

    #[test]
    fn a_companion_is_constant_unless_it_changes_within_a_run() {
        let constant = |batches: &[DataFrame], masks: &[Option<Vec<bool>>]| {
            let mut order = Order::new("session_id", vec!["platform"]);
            for (df, mask) in batches.iter().zip(masks) {
                let mask = mask.as_ref().map(|m| BooleanChunked::from_slice(PlSmallStr::EMPTY, m));
                order.see(df, mask.as_ref()).unwrap();
            }
            match order.proven() {
                RowOrder::Sorted(p) => Some(p.constant),
                _ => None,
            }
        };
        let a = frame(&[(Some("s1"), "a"), (Some("s1"), "a"), (Some("s2"), "b")]);
        // Changes only between runs: constant.
        assert_eq!(constant(std::slice::from_ref(&a), &[None]), Some(vec!["platform".to_string()]));
        // s2 on b, then on c in the next batch: the change falls on the boundary.
        let b = frame(&[(Some("s2"), "c"), (Some("s3"), "c")]);
        assert_eq!(constant(&[a.clone(), b.clone()], &[None, None]), Some(vec![]));
        // The row that changes it is not accepted: still constant.
        assert_eq!(
            constant(&[a.clone(), b.clone()], &[None, Some(vec![false, true])]),
            Some(vec!["platform".to_string()])
        );
        // A rejected row out of order does not unsort the accepted ones.
        let c = frame(&[(Some("s0"), "z"), (Some("s4"), "c")]);
        assert_eq!(constant(&[a.clone(), c.clone()], &[None, Some(vec![false, true])]), Some(vec!["platform".into()]));
        assert_eq!(constant(&[a, c], &[None, None]), None);
        // A null companion within a run differs from a value.
        let d = df!("session_id" => ["s1", "s1"], "platform" => [Some("a"), None]).unwrap();
        assert_eq!(constant(&[d], &[None]), Some(vec![]));
    }

    #[test]
    fn a_dataset_follows_its_sortable_key_and_the_companions_it_has() {
        let order = Order::of(Dataset::Checkout, &["session_id", "platform", "region", "method"]).unwrap();
        assert_eq!(order.columns(), ["session_id", "platform", "region"]);
        assert!(Order::of(Dataset::Checkout, &["platform"]).is_none());
        assert!(Order::of(Dataset::Merchants, &["merchant_id", "platform"]).is_none());
    }
}
