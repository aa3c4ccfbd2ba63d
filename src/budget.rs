//! The memory budget of an audit (`--memory-budget`) and the execution it
//! chooses: one streaming pass, or hash-partitioned passes so that the
//! aggregations whose state grows with a key (one group per session, per
//! merchant, per transaction id) hold one share of their keys at a time,
//! in as many shares as the budget needs and each key's distinct values ask
//! for; and which keys' aggregations take the sorted path, from a look at
//! the first rows of the input.

use std::sync::{Arc, Mutex};

use anyhow::{bail, Context as _};

use polars::prelude::*;

use crate::findings::Execution;
pub use crate::findings::Strategy;
use crate::ingest::Inputs;

/// What a bounded audit holds whatever the input size: the program,
/// polars' thread pools and read buffers, the rulebook, the small aggregate
/// tables and the report (see docs/performance.md, "Memory").
pub const FIXED_BYTES: u64 = 320 << 20;

/// Peak memory per input row of a single-pass audit with the CN rulebook,
/// above [`FIXED_BYTES`]: every plan runs at once over one shared scan, and
/// polars buffers that scan for the slowest plan, so the whole grows with
/// the input. Measured at 1M and 10M transactions (3M and 30M rows).
pub const SINGLE_PASS_BYTES_PER_ROW: u64 = 220;

/// Memory per input row that the largest keyed aggregation of a bounded
/// audit holds (one group per session, with its flags), shared out over
/// the partitions. Measured at 1M and 10M transactions.
pub const BOUNDED_BYTES_PER_ROW: u64 = 40;

/// Rows per partition a bounded audit aims at whatever the budget: fewer
/// keys per pass made the 10M CSV audit faster (83.7 s at 7 partitions of
/// 4.1M rows against 107.5 s at one), while the 1M audit was fastest whole.
pub const ROWS_PER_PARTITION: u64 = 4_000_000;

/// The most partitions chosen for speed alone: each partition reads the
/// staged input once more, so past the measured range more would cost more
/// reading than they save (only the budget asks for more).
pub const SPEED_PARTITIONS: u64 = 8;

/// Distinct keys per partition a bounded audit aims at for speed: a keyed
/// plan over fewer keys than this ran faster whole than split (the 10M
/// audit's per-merchant plans), one over many more faster split (its
/// per-session plans).
pub const KEYS_PER_PARTITION: u64 = 1_000_000;

/// The most passes a keyed aggregation is split into: past this, each pass's
/// share is smaller than the cost of reading the input again.
pub const MAX_PARTITIONS: usize = 64;

/// The default budget: a quarter of physical memory, at most 4 GiB.
pub fn default_budget() -> u64 {
    (physical_memory() / 4).min(4 << 30)
}

/// Total physical memory, from /proc/meminfo; 8 GiB where it cannot be read.
fn physical_memory() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(8 << 30, |kb| kb << 10)
}

/// Parses a size such as `512MB`, `4GB`, `1.5GiB` or `800000000` (bytes).
/// Decimal units are powers of 1000, binary ones (KiB, MiB, GiB) of 1024.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("`{s}` is not a size such as 512MB or 4GB"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!("unknown size unit `{other}` in `{s}`: use B, KB, MB, GB, TB or KiB, MiB, GiB, TiB"))
        }
    };
    let bytes = value * scale;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(format!("`{s}` is not a usable memory size"));
    }
    Ok(bytes as u64)
}

/// "512 MB", "4.3 GB": a size as people read it.
pub fn size_text(bytes: u64) -> String {
    if bytes >= 1_000_000_000 {
        format!("{:.1} GB", bytes as f64 / 1e9)
    } else {
        format!("{} MB", bytes / 1_000_000)
    }
}

/// The rows of every input, from the pre-read's record counts (CSV) and the
/// Parquet footers: known before any data is aggregated.
pub fn input_of(inputs: &Inputs) -> anyhow::Result<Input> {
    let mut rows = 0u64;
    for file in inputs.datasets.values().flat_map(|d| d.files.iter()) {
        rows += file.rows().with_context(|| format!("{}: counting its rows", file.path.display()))?;
    }
    Ok(Input { rows })
}

/// How the audit runs within `budget` (bytes; `given` when the user set it)
/// for `rows` input rows: a single pass when its estimate fits, else bounded
/// with as many partitions as the keyed aggregations need. `strategy` and
/// `partitions` (`--strategy`, `--partitions`) override the choice. A budget
/// no strategy fits is refused before any work is done.
pub fn choose(
    budget: u64,
    given: bool,
    input: Input,
    strategy: Option<Strategy>,
    partitions: Option<usize>,
) -> anyhow::Result<Execution> {
    let rows = input.rows;
    let single = estimate(Strategy::SinglePass, input, 1);
    let strategy = strategy.unwrap_or(if single <= budget { Strategy::SinglePass } else { Strategy::Bounded });
    let partitions = match (strategy, partitions) {
        (_, Some(k)) => k.max(1),
        (Strategy::SinglePass, None) => 1,
        (Strategy::Bounded, None) => bounded_partitions(budget, input)?,
    };
    Ok(Execution {
        memory_budget: given.then_some(budget),
        estimated_rows: rows,
        strategy,
        partitions: partitions as u64,
        estimated_peak: Some(estimate(strategy, input, partitions)),
        partitioned: Vec::new(),
        sorted: Vec::new(),
        engine: crate::findings::Engine::Polars,
    })
}

/// What the budget is weighed against: the input's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Input {
    pub rows: u64,
}

/// The estimated peak memory of a strategy, in bytes.
pub fn estimate(strategy: Strategy, input: Input, partitions: usize) -> u64 {
    let data = match strategy {
        Strategy::SinglePass => input.rows.saturating_mul(SINGLE_PASS_BYTES_PER_ROW),
        Strategy::Bounded => input.rows.saturating_mul(BOUNDED_BYTES_PER_ROW).div_ceil(partitions.max(1) as u64),
    };
    FIXED_BYTES.saturating_add(data)
}

/// The partitions a bounded audit of `input` needs to stay within `budget`.
fn bounded_partitions(budget: u64, input: Input) -> anyhow::Result<usize> {
    let (fixed, rows) = (FIXED_BYTES, input.rows);
    if budget.checked_sub(fixed).is_none_or(|room| room < 16 << 20) {
        bail!(
            "--memory-budget {} is below what an audit holds whatever its size ({} plus at least 16 MB \
             for the data): give at least {}",
            size_text(budget),
            size_text(fixed),
            size_text(fixed + (16 << 20))
        );
    }
    let k = memory_partitions(budget, input).max(1);
    if k > MAX_PARTITIONS as u64 {
        let needed = rows.saturating_mul(BOUNDED_BYTES_PER_ROW);
        bail!(
            "--memory-budget {} is too small for {rows} rows: the keyed aggregations would take {k} passes \
             over the input (at most {MAX_PARTITIONS}); give at least {}, or audit a shorter window (--from/--to)",
            size_text(budget),
            size_text(fixed + needed.div_ceil(MAX_PARTITIONS as u64))
        );
    }
    // Smaller shares are faster too, within the measured range.
    Ok(k.max(rows.div_ceil(ROWS_PER_PARTITION).min(SPEED_PARTITIONS)) as usize)
}

/// The partitions the keyed aggregations of `input` need for their state
/// (which grows with the rows they read, whatever their key) to fit
/// `budget`; 0 for no rows.
pub fn memory_partitions(budget: u64, input: Input) -> u64 {
    let room = budget.saturating_sub(FIXED_BYTES).max(1);
    input.rows.saturating_mul(BOUNDED_BYTES_PER_ROW).div_ceil(room)
}

/// The partitions of each key's aggregations: as many as the budget needs
/// for `input` ([`memory_partitions`], the same for every key), and as many
/// more as speed asks for the key's estimated distinct values
/// ([`KEYS_PER_PARTITION`]); never more than the audit's `partitions`,
/// chosen for the input's rows alone.
pub fn key_partitions(
    budget: u64,
    input: Input,
    partitions: usize,
    distinct: &[(&'static str, u64)],
) -> Vec<(&'static str, usize)> {
    let memory = memory_partitions(budget, input);
    distinct
        .iter()
        .map(|(key, d)| {
            // The sketch's standard error is about 1.6% (2^12 registers): a
            // tenth more leaves room.
            let speed = d.saturating_add(d / 10).div_ceil(KEYS_PER_PARTITION);
            (*key, memory.max(speed).clamp(1, partitions.max(1) as u64) as usize)
        })
        .collect()
}

/// A sketch of a key's distinct values.
type Sketch = cardinality_estimator::CardinalityEstimator<[u8]>;

/// The distinct values of each of `keys` among the accepted rows, estimated
/// by HyperLogLog++ sketches fed in one streaming pass per dataset; a key
/// in several datasets counts the distinct values of all of them together.
pub fn distinct_keys(inputs: &Inputs, keys: &[&'static str]) -> anyhow::Result<Vec<(&'static str, u64)>> {
    let sketches: Vec<(&'static str, Arc<Mutex<Sketch>>)> = keys.iter().map(|k| (*k, Arc::default())).collect();
    let mut plans = Vec::new();
    for input in inputs.datasets.values() {
        let feeds = sketches.iter().filter(|(k, _)| input.has_column(k)).map(|(k, s)| sketched(col(*k), s.clone()));
        let Some(any) = feeds.reduce(Expr::or) else { continue };
        plans.push(input.accepted().filter(any).select([len()]));
    }
    anyhow::Context::context(crate::exec::collect_all(plans), "estimating the distinct keys")?;
    let estimate = |s: &Mutex<Sketch>| s.lock().map_or(0, |s| s.estimate() as u64);
    Ok(sketches.iter().map(|(k, s)| (*k, estimate(s))).collect())
}

/// False on every row of `key`, whose values it adds to `sketch`: a filter
/// on it reads the column in the streaming engine's batches and keeps
/// nothing. Integers are sketched by their value's bytes, anything else by
/// its text; nulls not at all.
fn sketched(key: Expr, sketch: Arc<Mutex<Sketch>>) -> Expr {
    key.map(
        move |c: Column| {
            let mut s = sketch.lock().map_err(|_| polars_err!(ComputeError: "a distinct-key sketch was poisoned"))?;
            if c.dtype().is_integer() {
                for v in c.cast(&DataType::Int64)?.i64()?.iter().flatten() {
                    s.insert(&v.to_le_bytes()[..]);
                }
            } else {
                for v in c.cast(&DataType::String)?.str()?.iter().flatten() {
                    s.insert(v.as_bytes());
                }
            }
            Ok(BooleanChunked::full(c.name().clone(), false, c.len()).into_column())
        },
        |_, f| Ok(Field::new(f.name().clone(), DataType::Boolean)),
    )
}

pub use crate::contract::SORTABLE;

/// Accepted rows `--sorted auto` looks at: enough that a file in no
/// particular order shows it (two random keys in a row are out of order
/// half the time), few enough to cost nothing beside the audit.
pub const PROBE_ROWS: u32 = 100_000;

/// Peak memory per input row of the largest plan on the sorted path, above
/// [`FIXED_BYTES`]: its group-by holds one session at a time, but polars'
/// reading ahead of it still grows with the input, more slowly. Measured on
/// generated Parquet: 630 MB at 28.8M rows (10 B per row above the fixed
/// part), 826 MB at 144M (3.5 B); the larger rate is kept.
pub const SORTED_BYTES_PER_ROW: u64 = 11;

/// When aggregations take the sorted path (`audit --sorted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortedPath {
    /// For each key whose dataset's first accepted rows come sorted by it.
    Auto,
    /// For every key that has one.
    Always,
    Never,
}

/// The sorted path's estimated peak for `input`, in bytes.
pub fn sorted_estimate(input: Input) -> u64 {
    FIXED_BYTES.saturating_add(input.rows.saturating_mul(SORTED_BYTES_PER_ROW))
}

/// Which keys' aggregations take the sorted path, and why not when the
/// rows come sorted but the path is declined.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortedChoice {
    pub keys: Vec<&'static str>,
    /// Set when `auto` found sorted keys but a bounded audit's budget is
    /// below the sorted path's estimate: the hashed partitions stay.
    pub declined: Option<String>,
    /// The keys whose order `auto` took from the Parquet footer that
    /// `hutong convert` wrote, without looking at the rows.
    pub recorded: Vec<&'static str>,
    /// The keys whose order `auto` took from staging, which saw every row.
    pub staged: Vec<&'static str>,
}

/// The keys whose aggregations take the sorted path. `auto` takes it for
/// the keys the first rows come sorted by, unless the audit runs bounded and
/// the sorted path's estimate exceeds `budget`; `always` whatever the
/// budget. Whatever is chosen, the pass that runs them checks every row,
/// and an aggregation whose rows were not sorted after all runs again on
/// the hashed path.
pub fn sorted_keys(
    inputs: &Inputs,
    when: SortedPath,
    execution: &Execution,
    budget: u64,
) -> anyhow::Result<SortedChoice> {
    let (keys, known) = sorted_by(inputs, when)?;
    let estimate = sorted_estimate(Input { rows: execution.estimated_rows });
    if when == SortedPath::Auto && !keys.is_empty() && !sorted_fits(execution, budget) {
        let declined = format!(
            "the rows come sorted by {}, but the sorted path's estimated peak ({}) exceeds the memory \
             budget: hash partitions instead",
            keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" and "),
            size_text(estimate)
        );
        return Ok(SortedChoice { keys: Vec::new(), declined: Some(declined), ..SortedChoice::default() });
    }
    let (staged, recorded) = known.into_iter().partition(|k| seen_while_staging(inputs, k));
    Ok(SortedChoice { keys, declined: None, recorded, staged })
}

/// Whether the sorted path fits `budget`: a single pass already holds more
/// than it; a bounded audit must have room for its estimate.
pub fn sorted_fits(execution: &Execution, budget: u64) -> bool {
    execution.strategy == Strategy::SinglePass || sorted_estimate(Input { rows: execution.estimated_rows }) <= budget
}

/// Whether staging saw the rows of sortable `key`'s dataset sorted by it
/// (else a Parquet footer recorded it).
fn seen_while_staging(inputs: &Inputs, key: &str) -> bool {
    SORTABLE.iter().any(|(ds, k)| {
        *k == key
            && inputs.get(*ds).is_some_and(|i| {
                !i.converted && matches!(&i.order, crate::ingest::order::RowOrder::Sorted(p) if p.key.column == key)
            })
    })
}

/// The keys `when` asks the sorted path for, by the order of the rows; and
/// those of them whose order was known without looking at the rows (a
/// Parquet footer, or staging, which saw every row).
fn sorted_by(inputs: &Inputs, when: SortedPath) -> anyhow::Result<(Vec<&'static str>, Vec<&'static str>)> {
    let (mut keys, mut known) = (Vec::new(), Vec::new());
    for (ds, key) in SORTABLE {
        let Some(input) = inputs.get(*ds).filter(|i| i.has_column(key)) else { continue };
        let take = match when {
            SortedPath::Never => false,
            SortedPath::Always => true,
            SortedPath::Auto if recorded_order(input, key) => {
                known.push(*key);
                true
            }
            // Staging saw a row out of order: the sorted path's check would fail.
            SortedPath::Auto if input.order == crate::ingest::order::RowOrder::Unsorted => false,
            SortedPath::Auto => {
                let head = input.accepted().select([col(*key)]).slice(0, PROBE_ROWS);
                let probe = head.select([
                    col(*key).is_sorted(None, None).alias("sorted"),
                    col(*key).null_count().cast(DataType::UInt64).alias("nulls"),
                    col(*key).n_unique().cast(DataType::UInt64).alias("keys"),
                ]);
                let df = anyhow::Context::with_context(crate::exec::collect_all(vec![probe]), || {
                    format!("{ds}: looking at the order of `{key}`")
                })?
                .remove(0);
                let first = |name: &str| df.column(name).ok().and_then(|c| c.get(0).ok()).map(|v| v.into_static());
                // At least two keys: a single session says nothing of the order.
                first("sorted") == Some(AnyValue::Boolean(true))
                    && first("nulls") == Some(AnyValue::UInt64(0))
                    && first("keys").and_then(|v| v.extract::<u64>()).is_some_and(|n| n >= 2)
            }
        };
        if take {
            keys.push(*key);
        }
    }
    Ok((keys, known))
}

/// Whether the dataset's rows are known sorted by `key`: staging saw every
/// accepted row in order, or the dataset is one Parquet file whose footer
/// records its rows as sorted by it (`hutong convert` writes that). The
/// audit's accepted rows are among those rows, so they keep the order; the
/// pass that runs the sorted plans still checks it, for a file changed since.
fn recorded_order(input: &crate::ingest::DatasetInput, key: &str) -> bool {
    matches!(&input.order, crate::ingest::order::RowOrder::Sorted(p) if p.key.column == key)
        || crate::ingest::sortmeta::recorded_for(&input.files).iter().any(|k| k.column == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_size("512MB"), Ok(512_000_000));
        assert_eq!(parse_size("4GB"), Ok(4_000_000_000));
        assert_eq!(parse_size("1.5 GiB"), Ok(1_610_612_736));
        assert_eq!(parse_size("800000000"), Ok(800_000_000));
        assert_eq!(parse_size("64mib"), Ok(67_108_864));
        assert!(parse_size("lots").unwrap_err().contains("not a size"));
        assert!(parse_size("5 parsecs").unwrap_err().contains("unknown size unit `parsecs`"));
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn each_key_takes_the_partitions_its_distinct_values_need() {
        let keys = [("merchant_id", 1_000), ("latency_ms", 0), ("session_id", 6_000_000), ("txn_id", 10_000_000)];
        // 30M rows in 4 GiB: 1.2 GB of keyed state in 3,959,422,976 B of
        // room, one partition by memory; speed asks for 1 (1,100 keys), 1,
        // 7 (6.6M) and 11 (11M, at most the audit's 8).
        let rows = Input { rows: 30_000_000 };
        let want = [("merchant_id", 1), ("latency_ms", 1), ("session_id", 7), ("txn_id", 8)];
        assert_eq!(key_partitions(4 << 30, rows, 8, &keys), want);
        // In 512 MiB (201,326,592 B of room) memory asks for 6 whatever the key.
        let want = [("merchant_id", 6), ("latency_ms", 6), ("session_id", 7), ("txn_id", 8)];
        assert_eq!(key_partitions(512 << 20, rows, 8, &keys), want);
        // Never more than the audit's partitions, never fewer than one.
        assert_eq!(key_partitions(512 << 20, rows, 1, &keys[2..3]), [("session_id", 1)]);
        assert_eq!(key_partitions(4 << 30, Input { rows: 0 }, 8, &keys[1..2]), [("latency_ms", 1)]);
    }

    #[test]
    fn a_sketch_counts_distinct_values_and_skips_nulls() {
        // 90 distinct ids on 270 rows and a null; 40 distinct integers on
        // 120 rows: few enough that the sketch holds every value.
        let ids: Vec<Option<String>> = (0..270).map(|i| Some(format!("m{}", i % 90))).chain([None]).collect();
        let ms: Vec<i64> = (0..120).map(|i| i % 40).collect();
        for (df, key, want) in [
            (df!("merchant_id" => ids).unwrap(), "merchant_id", 90),
            (df!("latency_ms" => ms).unwrap(), "latency_ms", 40),
        ] {
            let sketch = Arc::new(Mutex::new(Sketch::new()));
            let kept = df.lazy().filter(sketched(col(key), sketch.clone())).select([len()]).collect().unwrap();
            assert_eq!(kept.column("len").unwrap().get(0).unwrap().extract::<u64>(), Some(0));
            assert_eq!(sketch.lock().unwrap().estimate(), want);
        }
    }

    #[test]
    fn the_strategy_follows_rows_and_budget() {
        let gib = 1u64 << 30;
        let csv = |rows| Input { rows };
        // The sample (61,775 rows) fits a single pass of the default budget:
        // 320 MiB + 61,775 × 220 B.
        let e = choose(4 * gib, false, csv(61_775), None, None).unwrap();
        assert_eq!((e.strategy.name(), e.partitions, e.memory_budget), ("single pass", 1, None));
        assert_eq!(e.estimated_peak, Some((320 << 20) + 61_775 * 220));
        // 30M rows: a single pass needs 320 MiB + 6.6 GB, so bounded; 512 MiB
        // leaves 192 MiB (201,326,592 B) for 30M × 40 B = 1.2 GB: 6 partitions
        // by the budget, 8 of at most 4M rows.
        let e = choose(512 << 20, true, csv(30_000_000), None, None).unwrap();
        assert_eq!((e.strategy.name(), e.partitions, e.memory_budget), ("bounded", 8, Some(512 << 20)));
        assert_eq!(e.estimated_peak, Some((320 << 20) + 150_000_000));
        // 100M rows in 4 GiB: 4 GB / 3.7 GiB (3,959,422,976 B) → 2 by the
        // budget, 25 of at most 4M rows, capped at 8 for speed.
        let e = choose(4 * gib, true, csv(100_000_000), None, None).unwrap();
        assert_eq!((e.strategy.name(), e.partitions), ("bounded", 8));
        // 600M rows in 2 GiB: 24 GB / 1.7 GiB (1,811,939,328 B) → 14 by the budget.
        assert_eq!(choose(2 * gib, true, csv(600_000_000), None, None).unwrap().partitions, 14);
        // Forced.
        let e = choose(4 * gib, false, csv(61_775), Some(Strategy::Bounded), Some(7)).unwrap();
        assert_eq!((e.strategy.name(), e.partitions), ("bounded", 7));
        assert_eq!(choose(4 * gib, false, csv(61_775), None, Some(2)).unwrap().partitions, 2);
        // Refused before any work.
        let err = choose(300 << 20, true, csv(10), None, None).unwrap_err().to_string();
        assert!(err.contains("below what an audit holds"), "{err}");
        let err = choose(400 << 20, true, csv(10_000_000_000), None, None).unwrap_err().to_string();
        assert!(err.contains("passes over the input"), "{err}");
    }

    #[test]
    fn the_sorted_path_is_taken_within_the_budget() {
        let gib = 1u64 << 30;
        // 28.8M rows (the 10M-transaction benchmark) bounded in 512 MB: the
        // sorted path needs 320 MiB + 28,770,344 × 11 B = 652,018,104 B.
        let e = choose(512_000_000, true, Input { rows: 28_770_344 }, None, None).unwrap();
        assert_eq!(sorted_estimate(Input { rows: 28_770_344 }), 652_018_104);
        assert!(!sorted_fits(&e, 512_000_000));
        assert!(sorted_fits(&e, 652_018_104));
        // The default 4 GiB budget runs it bounded, with room for the sorted path.
        let e = choose(4 * gib, false, Input { rows: 28_770_344 }, None, None).unwrap();
        assert_eq!(e.strategy, Strategy::Bounded);
        assert!(sorted_fits(&e, 4 * gib));
        // A single pass holds more than the sorted path whatever the budget.
        let e = choose(4 * gib, false, Input { rows: 61_775 }, None, None).unwrap();
        assert_eq!(e.strategy, Strategy::SinglePass);
        assert!(sorted_fits(&e, 1));
    }
}
