//! The command layer: turns parsed arguments (`crate::cli`) into the
//! library's types, runs one command and returns its exit code. The only
//! layer that knows about clap.

mod audit;
mod cluster;
mod codes;
mod convert;
mod diff;
mod generate;
mod import;
mod inspect;
mod rules;

use anyhow::Context as _;

use crate::cli::{AmountUnit, Command, FileFormat, InputArgs, SeverityArg};
use crate::generate::OutputFormat;
use crate::ingest::encoding::{Encodings, TextEncoding};
use crate::ingest::{IngestOptions, InputSpec, Offset};
use crate::rulebook::Severity;

/// Runs one command: 0 success, 1 failing findings; errors map to exit code 2.
pub fn run(command: &Command) -> anyhow::Result<u8> {
    match command {
        Command::Inspect(args) => inspect::run_cli(args),
        Command::Audit(args) => audit::run_cli(args),
        Command::Rules(cmd) => rules::run_cli(cmd),
        Command::Convert(args) => convert::run_cli(args),
        Command::Import(args) => import::run_cli(args),
        Command::Profiles(cmd) => import::profiles_cli(cmd),
        Command::Generate(args) => generate::run_cli(args),
        Command::Diff(args) => diff::run_cli(args),
        Command::Codes(args) => codes::run_cli(args),
        Command::Cluster(cmd) => cluster::run_cli(cmd),
        Command::Schema => {
            print!("{}", crate::findings::schema());
            Ok(0)
        }
    }
}

impl SeverityArg {
    /// The lowest severity that fails the run; `None` for `--fail-on none`.
    pub(crate) fn threshold(self) -> Option<Severity> {
        match self {
            SeverityArg::None => None,
            SeverityArg::Info => Some(Severity::Info),
            SeverityArg::Low => Some(Severity::Low),
            SeverityArg::Medium => Some(Severity::Medium),
            SeverityArg::High => Some(Severity::High),
            SeverityArg::Critical => Some(Severity::Critical),
        }
    }
}

/// `--encoding ENC` and `--encoding DATASET=ENC`, in order (later wins).
fn encodings(args: &[String]) -> anyhow::Result<Encodings> {
    let mut out = Encodings::default();
    for a in args {
        let (ds, name) = match a.split_once('=') {
            Some((d, e)) => (Some(d.trim()), e.trim()),
            None => (None, a.trim()),
        };
        let Some(e) = TextEncoding::parse(name) else {
            anyhow::bail!("--encoding {a}: `{name}` is not an encoding (auto, utf-8, gbk or gb18030)");
        };
        match ds {
            None => out.all = e,
            Some(d) => match crate::contract::Dataset::ALL.iter().find(|x| x.name() == d) {
                Some(ds) => out.set(*ds, e),
                None => {
                    anyhow::bail!("--encoding {a}: `{d}` is not a dataset (transactions, checkout, merchants, codes)")
                }
            },
        }
    }
    Ok(out)
}

impl From<FileFormat> for OutputFormat {
    fn from(f: FileFormat) -> OutputFormat {
        match f {
            FileFormat::Csv => OutputFormat::Csv,
            FileFormat::Parquet => OutputFormat::Parquet,
        }
    }
}

/// Where the logs are, from the input arguments.
pub(crate) fn input_spec(args: &InputArgs) -> InputSpec {
    InputSpec {
        data: args.data.clone(),
        transactions: args.transactions.clone(),
        checkout: args.checkout.clone(),
        merchants: args.merchants.clone(),
        codes: args.codes.clone(),
    }
}

/// How to read the logs, from the input arguments.
pub(crate) fn ingest_options(args: &InputArgs) -> anyhow::Result<IngestOptions> {
    let timezone = Offset::parse(&args.timezone)
        .with_context(|| format!("--timezone `{}`: expected an offset such as +08:00, -05:30 or Z", args.timezone))?;
    let delimiter = match args.delimiter.as_str() {
        "tab" | "\\t" | "\t" => b'\t',
        d if d.len() == 1 && d.is_ascii() && d != "\"" && d != "\n" && d != "\r" => d.as_bytes()[0],
        d => anyhow::bail!("--delimiter `{d}`: expected one ASCII character other than a quote or line end, or `tab`"),
    };
    let instant = |flag: &str, text: &Option<String>| -> anyhow::Result<Option<i64>> {
        let Some(t) = text else { return Ok(None) };
        // A bare date is its midnight in the audit's time zone.
        let day = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").ok();
        match day.map_or_else(|| crate::ingest::parse::timestamp_micros(t, timezone), |d| timezone.day_start_micros(d))
        {
            Some(us) => Ok(Some(us)),
            None => anyhow::bail!("{flag} `{t}`: expected a date (2021-10-05) or an RFC 3339 time"),
        }
    };
    let (from, to) = (instant("--from", &args.from)?, instant("--to", &args.to)?);
    if let (Some(f), Some(t)) = (from, to) {
        if f >= t {
            anyhow::bail!("--from must be before --to: the window would be empty");
        }
    }
    Ok(IngestOptions {
        timezone,
        delimiter,
        encoding: encodings(&args.encoding)?,
        window: (from, to),
        amounts_in_fen: args.amount_unit == AmountUnit::Fen,
        preread_cache: !args.no_cache,
    })
}
