//! The same audit on every engine (feature `distributed`): polars, embedded
//! DataFusion, Ballista in-process and a Ballista cluster of one scheduler
//! and two executors on 127.0.0.1 (`bench/ballista-local.sh`). Every
//! aggregate table must be equal (integers exactly, floats to 1e-9
//! relative) and findings.json identical apart from the recorded engine and
//! command line, on the sample, on a generated 1M-transaction set and on a
//! row-shuffled copy of it.
#![cfg(feature = "distributed")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::{audit_output, run, RULES};
use hutong::distributed::{SqlRunner, Target};
use hutong::engine::{kinds, Context};
use hutong::exec::{Batch, Runner};
use hutong::ingest::{self, IngestOptions, InputSpec};
use hutong::rulebook::Taxonomy;
use polars::prelude::*;
use serde_json::Value;

/// `hutong convert` of `data` into `out`.
fn convert(data: &Path, out: &Path) {
    let (code, _, err) = run(&["convert", "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, Some(0), "{err}");
}

/// Every aggregate table of the shipped rulebook's audit of `data`
/// (converted Parquet), on polars or on `runner`.
fn tables(data: &Path, runner: Option<Arc<dyn Runner>>) -> Vec<(String, DataFrame)> {
    let rb = kinds::load(Path::new(RULES)).unwrap();
    let spec = InputSpec { data: Some(data.to_path_buf()), ..Default::default() };
    let mut inputs = ingest::open(&spec, IngestOptions::default()).unwrap();
    if runner.is_some() {
        inputs.as_converted().unwrap();
    }
    let taxonomy = Arc::new(Taxonomy::new(&rb).unwrap());
    let ctx = Context { rulebook: &rb, taxonomy, inputs: &inputs, period: None, part: None, sorted: false };
    hutong::engine::tables(&ctx, Batch::new().running_on(runner)).unwrap()
}

/// A frame's rows as text cells, sorted, with its float cells apart (the
/// order of rows is no engine's promise).
fn rows(df: &DataFrame) -> Vec<(Vec<String>, Vec<Option<f64>>)> {
    let mut out = Vec::new();
    for i in 0..df.height() {
        let mut text = Vec::new();
        let mut floats = Vec::new();
        for c in df.columns() {
            let v = c.get(i).unwrap();
            match v {
                AnyValue::Float64(x) => floats.push(Some(x)),
                AnyValue::Float32(x) => floats.push(Some(f64::from(x))),
                AnyValue::Null if c.dtype().is_float() => floats.push(None),
                v => text.push(format!("{v}")),
            }
        }
        out.push((text, floats));
    }
    // Sorted by the exact cells, then by the floats rounded far below 1e-9.
    out.sort_by(|a, b| {
        a.0.cmp(&b.0).then_with(|| {
            let r = |v: &[Option<f64>]| v.iter().map(|x| x.map(|x| format!("{x:.6e}"))).collect::<Vec<_>>();
            r(&a.1).cmp(&r(&b.1))
        })
    });
    out
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) || (a.is_nan() && b.is_nan())
}

/// Asserts that two engines' tables are equal, table by table.
fn assert_same_tables(expected: &[(String, DataFrame)], got: &[(String, DataFrame)], engine: &str) {
    let names = |t: &[(String, DataFrame)]| t.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(expected), names(got), "{engine}: the same tables");
    for ((name, a), (_, b)) in expected.iter().zip(got) {
        assert_eq!(a.schema(), b.schema(), "{engine}: {name}: the same columns and types");
        let (ra, rb) = (rows(a), rows(b));
        assert_eq!(ra.len(), rb.len(), "{engine}: {name}: the same number of rows");
        for (x, y) in ra.iter().zip(&rb) {
            assert_eq!(x.0, y.0, "{engine}: {name}: the same exact cells");
            for (p, q) in x.1.iter().zip(&y.1) {
                match (p, q) {
                    (Some(p), Some(q)) => assert!(close(*p, *q), "{engine}: {name}: {p} against {q}"),
                    (p, q) => assert_eq!(p.is_none(), q.is_none(), "{engine}: {name}: a null float"),
                }
            }
        }
    }
    assert!(!expected.is_empty());
}

/// findings.json without what records how it ran: `execution` (the engine,
/// and on polars its passes and sorted path) and the command line naming
/// the engine. Everything else must be the same.
fn comparable(out: &Path) -> Value {
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(out.join("findings.json")).unwrap()).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("command");
    o.remove("execution");
    v
}

/// The engine findings.json records.
fn engine_of(out: &Path) -> Value {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(out.join("findings.json")).unwrap()).unwrap();
    v["execution"]["engine"].clone()
}

/// Audits converted `data` on `engine` (with `extra` options) into `out`.
fn audit(data: &Path, out: &Path, engine: &str, extra: &[&str]) -> Value {
    let o = audit_output(data, out, &[&["--engine", engine], extra].concat());
    assert!(o.status.code() != Some(2), "{engine}: {}", String::from_utf8_lossy(&o.stderr));
    comparable(out)
}

/// A local cluster from `bench/ballista-local.sh`, stopped when dropped.
struct Cluster {
    dir: PathBuf,
    port: u16,
}

impl Cluster {
    fn start(dir: &Path, port: u16) -> Cluster {
        let status = Command::new("bash")
            .args(["bench/ballista-local.sh", "start"])
            .env("HUTONG", env!("CARGO_BIN_EXE_hutong"))
            .env("BALLISTA_DIR", dir)
            .env("BALLISTA_PORT", port.to_string())
            .status()
            .unwrap();
        assert!(status.success(), "the local cluster starts");
        Cluster { dir: dir.to_path_buf(), port }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .args(["bench/ballista-local.sh", "stop"])
            .env("BALLISTA_DIR", &self.dir)
            .env("BALLISTA_PORT", self.port.to_string())
            .status();
    }
}

/// The first of five free ports in a row on the loopback address (the
/// scheduler's, then two per executor).
fn free_ports() -> u16 {
    let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
    let start = 41_000 + (std::process::id() % 1000) as u16 * 10;
    (0..2000u16)
        .map(|i| 41_000 + (start - 41_000 + i * 10) % 20_000)
        .find(|&p| (p..p + 5).all(free))
        .expect("five free ports in a row")
}

/// One local cluster at a time: the tests run in parallel.
static CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Every engine on one converted data directory: tables, then findings.
fn every_engine_agrees(data: &Path, tmp: &Path) {
    let polars = tables(data, None);
    let df: Arc<dyn Runner> = Arc::new(SqlRunner::new(&Target::DataFusion { memory: None }).unwrap());
    assert_same_tables(&polars, &tables(data, Some(df)), "datafusion");
    let standalone: Arc<dyn Runner> = Arc::new(SqlRunner::new(&Target::Ballista { scheduler: None }).unwrap());
    assert_same_tables(&polars, &tables(data, Some(standalone)), "ballista (in-process)");

    let expected = audit(data, &tmp.join("polars"), "polars", &[]);
    assert_eq!(expected, audit(data, &tmp.join("datafusion"), "datafusion", &[]), "datafusion findings");
    assert_eq!(expected, audit(data, &tmp.join("ballista"), "ballista", &[]), "ballista (in-process) findings");
    assert_eq!(engine_of(&tmp.join("polars")), Value::Null, "polars, the default, is not recorded");
    assert_eq!(engine_of(&tmp.join("datafusion")), "datafusion");
    assert_eq!(engine_of(&tmp.join("ballista")), "ballista");
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let port = free_ports();
    let cluster = Cluster::start(&tmp.join("cluster"), port);
    let url = format!("df://127.0.0.1:{port}");
    let remote: Arc<dyn Runner> = Arc::new(SqlRunner::new(&Target::Ballista { scheduler: Some(url.clone()) }).unwrap());
    assert_same_tables(&polars, &tables(data, Some(remote)), "ballista (cluster)");
    let got = audit(data, &tmp.join("remote"), "ballista", &["--scheduler", &url]);
    assert_eq!(expected, got, "ballista (cluster) findings");
    drop(cluster);
}

#[test]
fn every_engine_gives_the_same_tables_and_findings_on_the_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    convert(Path::new("testdata/sample"), &data);
    every_engine_agrees(&data, tmp.path());
}

#[test]
fn every_engine_gives_the_same_tables_and_findings_on_1m_transactions_in_any_order() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("csv");
    let (code, _, err) = run(&["generate", "--out", csv.to_str().unwrap(), "--scale", "48"]);
    assert_eq!(code, Some(0), "{err}");
    let data = tmp.path().join("data");
    convert(&csv, &data);
    every_engine_agrees(&data, &tmp.path().join("sorted"));
    let shuffled = tmp.path().join("shuffled-csv");
    let status = Command::new("bash").arg("bench/shuffle.sh").arg(&csv).arg(&shuffled).status().unwrap();
    assert!(status.success());
    let data = tmp.path().join("shuffled");
    convert(&shuffled, &data);
    every_engine_agrees(&data, &tmp.path().join("shuffled-out"));
}

#[test]
fn a_csv_input_or_a_foreign_parquet_file_is_refused_with_the_way_out() {
    let tmp = tempfile::tempdir().unwrap();
    let o = audit_output(Path::new("testdata/sample"), &tmp.path().join("o"), &["--engine", "datafusion"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("was not written by `hutong convert` (it is CSV)"), "{err}");
    assert!(err.contains("hutong convert --data DIR --out DIR"), "{err}");

    // The same rows, written by another tool: no footer entry, refused.
    let data = tmp.path().join("data");
    convert(Path::new("testdata/sample"), &data);
    let path = data.join("checkout.parquet");
    let mut df = ParquetReader::new(std::fs::File::open(&path).unwrap()).finish().unwrap();
    ParquetWriter::new(std::fs::File::create(&path).unwrap()).finish(&mut df).unwrap();
    let o = audit_output(&data, &tmp.path().join("o2"), &["--engine", "ballista"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("checkout.parquet was not written by `hutong convert`"), "{err}");
    assert!(err.contains("its footer has no `hutong.converted` entry"), "{err}");
}
