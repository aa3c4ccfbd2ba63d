//! Writes generated rows as CSV or Parquet, batch by batch.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::{GenerateError, Merchant, OFFSET_SECS};
use crate::contract::{Dataset, Kind};

/// The file format `generate` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Csv,
    Parquet,
}

/// One generated payment attempt.
#[derive(Debug, Clone)]
pub struct TxnRow {
    pub txn_id: u64,
    /// Unix seconds.
    pub ts: i64,
    pub platform: &'static str,
    pub channel: &'static str,
    pub scene: &'static str,
    pub merchant: usize,
    pub method: &'static str,
    pub wallet_app: &'static str,
    pub code_issuer: &'static str,
    pub amount_fen: u64,
    /// The failure code of a failed payment; `None` for a success.
    pub failure: Option<&'static str>,
    /// The merchant's fee for a successful payment, in fen.
    pub fee_fen: u64,
    pub latency: u32,
    pub discount_fen: u64,
    pub funder: &'static str,
}

/// One generated checkout option.
#[derive(Debug, Clone)]
pub struct CheckoutRow {
    pub session_id: u64,
    pub ts: i64,
    pub platform: &'static str,
    pub merchant: usize,
    pub method: &'static str,
    pub position: u32,
    pub is_default: bool,
    pub folded: bool,
    pub surcharge_fen: u64,
    pub discount_fen: u64,
    pub funder: &'static str,
    pub selected: bool,
}

enum Sink {
    Csv(BufWriter<File>),
    // Boxed: the batched writer is large and there is one sink per file.
    Parquet(Box<polars::io::parquet::write::BatchedWriter<File>>),
}

struct Output {
    dataset: Dataset,
    path: PathBuf,
    sink: Option<Sink>,
}

/// The three output files.
pub struct Writers {
    format: OutputFormat,
    txn: Output,
    checkout: Output,
    merchants: PathBuf,
    /// Merchant id, region and name by index, for rows that refer to them.
    merchant_info: Vec<(String, &'static str)>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> GenerateError + '_ {
    move |cause| GenerateError::Io { path: path.to_path_buf(), cause }
}

fn pq_err(path: &Path) -> impl FnOnce(PolarsError) -> GenerateError + '_ {
    move |cause| GenerateError::Parquet { path: path.to_path_buf(), cause }
}

impl Writers {
    pub fn create(dir: &Path, format: OutputFormat) -> Result<Writers, GenerateError> {
        let ext = match format {
            OutputFormat::Csv => "csv",
            OutputFormat::Parquet => "parquet",
        };
        let txn = Output { dataset: Dataset::Transactions, path: dir.join(format!("transactions.{ext}")), sink: None };
        let checkout = Output { dataset: Dataset::Checkout, path: dir.join(format!("checkout.{ext}")), sink: None };
        let merchants = dir.join(format!("merchants.{ext}"));
        Ok(Writers { format, txn, checkout, merchants, merchant_info: Vec::new() })
    }

    pub fn merchants(&mut self, merchants: &[Merchant]) -> Result<(), GenerateError> {
        self.merchant_info = merchants.iter().map(|m| (m.id.clone(), m.region)).collect();
        let col = |name: &str, f: &dyn Fn(&Merchant) -> String| -> Column {
            Column::new(name.into(), merchants.iter().map(f).collect::<Vec<_>>())
        };
        let mut df = DataFrame::new_infer_height(vec![
            col("merchant_id", &|m| m.id.clone()),
            col("platform", &|m| m.platform.to_string()),
            col("region", &|m| m.region.to_string()),
            col("mcc", &|m| m.mcc.to_string()),
            col("name", &|m| m.name.clone()),
        ])
        .map_err(pq_err(&self.merchants))?;
        let file = File::create(&self.merchants).map_err(io_err(&self.merchants))?;
        match self.format {
            OutputFormat::Csv => {
                CsvWriter::new(file).finish(&mut df).map_err(pq_err(&self.merchants))?;
            }
            OutputFormat::Parquet => {
                ParquetWriter::new(file).finish(&mut df).map_err(pq_err(&self.merchants))?;
            }
        }
        Ok(())
    }

    /// Opens a dataset's file with its header (CSV) or schema (Parquet), both
    /// from the data contract.
    fn open(out: &mut Output, format: OutputFormat) -> Result<(), GenerateError> {
        if out.sink.is_some() {
            return Ok(());
        }
        let file = File::create(&out.path).map_err(io_err(&out.path))?;
        out.sink = Some(match format {
            OutputFormat::Csv => {
                let mut w = BufWriter::with_capacity(1 << 20, file);
                writeln!(w, "{}", out.dataset.header()).map_err(io_err(&out.path))?;
                Sink::Csv(w)
            }
            OutputFormat::Parquet => Sink::Parquet(Box::new(
                ParquetWriter::new(file).batched(&schema(out.dataset)).map_err(pq_err(&out.path))?,
            )),
        });
        Ok(())
    }

    pub fn transactions(&mut self, rows: &[TxnRow]) -> Result<(), GenerateError> {
        Self::open(&mut self.txn, self.format)?;
        let info = &self.merchant_info;
        let path = &self.txn.path;
        match self.txn.sink.as_mut() {
            Some(Sink::Csv(w)) => {
                let mut line = String::with_capacity(256);
                for r in rows {
                    line.clear();
                    let (mid, region) = &info[r.merchant];
                    let status = match r.failure {
                        Some(code) => format!("failed,{code}"),
                        None => "success,".to_string(),
                    };
                    let fee = if r.failure.is_none() { yuan(r.fee_fen) } else { String::new() };
                    use std::fmt::Write as _;
                    let _ = writeln!(
                        line,
                        "T{:010},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                        r.txn_id,
                        timestamp(r.ts),
                        r.platform,
                        r.channel,
                        r.scene,
                        mid,
                        region,
                        r.method,
                        r.wallet_app,
                        r.code_issuer,
                        yuan(r.amount_fen),
                        status,
                        r.latency,
                        fee,
                        if r.discount_fen > 0 { yuan(r.discount_fen) } else { String::new() },
                        r.funder,
                    );
                    w.write_all(line.as_bytes()).map_err(io_err(path))?;
                }
            }
            Some(Sink::Parquet(w)) => {
                let df = txn_frame(rows, info).map_err(pq_err(path))?;
                w.write_batch(&df).map_err(pq_err(path))?;
            }
            None => {}
        }
        Ok(())
    }

    pub fn checkout(&mut self, rows: &[CheckoutRow], merchants: &[Merchant]) -> Result<(), GenerateError> {
        Self::open(&mut self.checkout, self.format)?;
        let path = &self.checkout.path;
        match self.checkout.sink.as_mut() {
            Some(Sink::Csv(w)) => {
                let mut line = String::with_capacity(160);
                for r in rows {
                    line.clear();
                    let m = &merchants[r.merchant];
                    use std::fmt::Write as _;
                    let _ = writeln!(
                        line,
                        "S{:09},{},{},{},{},checkout,{},{},{},{},{},{},{},{}",
                        r.session_id,
                        timestamp(r.ts),
                        r.platform,
                        m.id,
                        m.region,
                        r.method,
                        r.position,
                        r.is_default,
                        r.folded,
                        yuan(r.surcharge_fen),
                        if r.discount_fen > 0 { yuan(r.discount_fen) } else { String::new() },
                        r.funder,
                        r.selected,
                    );
                    w.write_all(line.as_bytes()).map_err(io_err(path))?;
                }
            }
            Some(Sink::Parquet(w)) => {
                let df = checkout_frame(rows, merchants).map_err(pq_err(path))?;
                w.write_batch(&df).map_err(pq_err(path))?;
            }
            None => {}
        }
        Ok(())
    }

    /// Appends the dirty-rows plant: malformed lines with documented reasons
    /// (CSV only; Parquet's types cannot hold most of them).
    pub fn dirty_rows(&mut self) -> Result<(u64, u64), GenerateError> {
        let (Some(Sink::Csv(t)), Some(Sink::Csv(c))) = (self.txn.sink.as_mut(), self.checkout.sink.as_mut()) else {
            return Ok((0, 0));
        };
        let txn_lines = [
            // invalid_timestamp:ts
            "TBAD000001,2021-13-45 99:00:00,taobao,online,checkout,M000001,110000,Alipay,,,10.00,success,,200,0.006,,",
            // negative_value:amount
            "TBAD000002,2021-10-01T00:30:00+08:00,taobao,online,checkout,M000001,110000,Alipay,,,-12.50,success,,200,0.006,,",
            // invalid_number:amount
            "TBAD000003,2021-10-01T00:31:00+08:00,taobao,online,checkout,M000001,110000,Alipay,,,abc,success,,200,0.006,,",
            // invalid_value:status
            "TBAD000004,2021-10-01T00:32:00+08:00,taobao,online,checkout,M000001,110000,Alipay,,,10.00,REFUND,,200,0.006,,",
            // missing_value:merchant_id
            "TBAD000005,2021-10-01T00:33:00+08:00,taobao,online,checkout,,110000,Alipay,,,10.00,success,,200,0.006,,",
            // wrong_field_count
            "TBAD000006,2021-10-01T00:34:00+08:00,taobao,online,checkout,M000001,110000,Alipay,10.00,success",
        ];
        let checkout_lines = [
            // out_of_range:position
            "SBAD000001,2021-10-01T00:35:00+08:00,taobao,M000001,110000,checkout,Alipay,0,true,false,0.00,,,false",
            // invalid_bool:is_default
            "SBAD000002,2021-10-01T00:36:00+08:00,taobao,M000001,110000,checkout,Alipay,1,maybe,false,0.00,,,false",
        ];
        for l in txn_lines {
            writeln!(t, "{l}").map_err(io_err(&self.txn.path))?;
        }
        for l in checkout_lines {
            writeln!(c, "{l}").map_err(io_err(&self.checkout.path))?;
        }
        Ok((txn_lines.len() as u64, checkout_lines.len() as u64))
    }

    pub fn finish(mut self) -> Result<Vec<PathBuf>, GenerateError> {
        let mut files = Vec::new();
        for out in [&mut self.txn, &mut self.checkout] {
            if out.sink.is_none() {
                Self::open(out, self.format)?;
            }
            match out.sink.take() {
                Some(Sink::Csv(mut w)) => w.flush().map_err(io_err(&out.path))?,
                Some(Sink::Parquet(w)) => {
                    w.finish().map_err(pq_err(&out.path))?;
                }
                None => {}
            }
            files.push(out.path.clone());
        }
        files.push(self.merchants.clone());
        Ok(files)
    }
}

/// `2021-10-01T08:00:00+08:00` for Unix seconds, in China Standard Time.
pub fn timestamp(unix: i64) -> String {
    let cst = chrono::FixedOffset::east_opt(OFFSET_SECS as i32).expect("+08:00 is a valid offset");
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.with_timezone(&cst).format("%Y-%m-%dT%H:%M:%S%:z").to_string())
        .unwrap_or_default()
}

fn yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

fn local_dt() -> DataType {
    DataType::Datetime(TimeUnit::Microseconds, None)
}

/// A dataset's Parquet schema, from the data contract: text and enums as
/// strings, timestamps as local-time microseconds, decimals as f64, whole
/// numbers as i64.
fn schema(ds: Dataset) -> Schema {
    Schema::from_iter(ds.columns().iter().map(|c| {
        let dtype = match c.kind {
            Kind::Text | Kind::Enum(_) => DataType::String,
            Kind::Timestamp => local_dt(),
            Kind::Decimal { .. } => DataType::Float64,
            Kind::Integer { .. } => DataType::Int64,
            Kind::Bool => DataType::Boolean,
        };
        Field::new(c.name.into(), dtype)
    }))
}

fn opt_str(v: &'static str) -> Option<&'static str> {
    (!v.is_empty()).then_some(v)
}

/// Naive local timestamps: Parquet `ts` is wall time in +08:00, which the
/// contract reads in the audit's time zone (default +08:00).
fn local_micros(unix: i64) -> i64 {
    (unix + OFFSET_SECS) * 1_000_000
}

fn txn_frame(rows: &[TxnRow], info: &[(String, &'static str)]) -> PolarsResult<DataFrame> {
    let ts = Int64Chunked::from_vec("ts".into(), rows.iter().map(|r| local_micros(r.ts)).collect())
        .into_datetime(TimeUnit::Microseconds, None);
    let s = |name: &str, f: &dyn Fn(&TxnRow) -> Option<String>| -> Column {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>())
    };
    DataFrame::new(
        rows.len(),
        vec![
            s("txn_id", &|r| Some(format!("T{:010}", r.txn_id))),
            ts.into_column(),
            s("platform", &|r| Some(r.platform.into())),
            s("channel", &|r| Some(r.channel.into())),
            s("scene", &|r| Some(r.scene.into())),
            s("merchant_id", &|r| Some(info[r.merchant].0.clone())),
            s("region", &|r| Some(info[r.merchant].1.into())),
            s("method", &|r| Some(r.method.into())),
            s("wallet_app", &|r| opt_str(r.wallet_app).map(Into::into)),
            s("code_issuer", &|r| opt_str(r.code_issuer).map(Into::into)),
            Column::new("amount".into(), rows.iter().map(|r| r.amount_fen as f64 / 100.0).collect::<Vec<_>>()),
            s("status", &|r| Some(if r.failure.is_some() { "failed" } else { "success" }.into())),
            s("failure_code", &|r| r.failure.map(Into::into)),
            Column::new("latency_ms".into(), rows.iter().map(|r| i64::from(r.latency)).collect::<Vec<_>>()),
            Column::new(
                "fee".into(),
                rows.iter().map(|r| r.failure.is_none().then(|| r.fee_fen as f64 / 100.0)).collect::<Vec<_>>(),
            ),
            Column::new(
                "discount".into(),
                rows.iter().map(|r| (r.discount_fen > 0).then(|| r.discount_fen as f64 / 100.0)).collect::<Vec<_>>(),
            ),
            s("discount_funder", &|r| opt_str(r.funder).map(Into::into)),
        ],
    )
}

fn checkout_frame(rows: &[CheckoutRow], merchants: &[Merchant]) -> PolarsResult<DataFrame> {
    let ts = Int64Chunked::from_vec("ts".into(), rows.iter().map(|r| local_micros(r.ts)).collect())
        .into_datetime(TimeUnit::Microseconds, None);
    let s = |name: &str, f: &dyn Fn(&CheckoutRow) -> Option<String>| -> Column {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>())
    };
    let b = |name: &str, f: &dyn Fn(&CheckoutRow) -> bool| -> Column {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>())
    };
    DataFrame::new(
        rows.len(),
        vec![
            s("session_id", &|r| Some(format!("S{:09}", r.session_id))),
            ts.into_column(),
            s("platform", &|r| Some(r.platform.into())),
            s("merchant_id", &|r| Some(merchants[r.merchant].id.clone())),
            s("region", &|r| Some(merchants[r.merchant].region.into())),
            s("scene", &|_| Some("checkout".into())),
            s("method", &|r| Some(r.method.into())),
            Column::new("position".into(), rows.iter().map(|r| i64::from(r.position)).collect::<Vec<_>>()),
            b("is_default", &|r| r.is_default),
            b("folded", &|r| r.folded),
            Column::new("surcharge".into(), rows.iter().map(|r| r.surcharge_fen as f64 / 100.0).collect::<Vec<_>>()),
            Column::new(
                "discount".into(),
                rows.iter().map(|r| (r.discount_fen > 0).then(|| r.discount_fen as f64 / 100.0)).collect::<Vec<_>>(),
            ),
            s("discount_funder", &|r| opt_str(r.funder).map(Into::into)),
            b("selected", &|r| r.selected),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_china_standard_time() {
        assert_eq!(timestamp(super::super::START), "2021-10-01T00:00:00+08:00");
        assert_eq!(timestamp(0), "1970-01-01T08:00:00+08:00");
        // 2024-02-29T23:59:59+08:00, a leap day.
        assert_eq!(timestamp(1_709_222_399), "2024-02-29T23:59:59+08:00");
    }

    #[test]
    fn yuan_from_fen() {
        assert_eq!(yuan(12_345), "123.45");
        assert_eq!(yuan(5), "0.05");
    }
}
