//! Command-line definitions (clap). Parsing only: the `commands` layer turns
//! these into the library's types and runs them. clap stays here: the
//! library's types carry no clap derives, and the value enums below convert
//! into them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Audit payment platforms' logs against interconnection rules.
///
/// hutong reads transaction and checkout-option logs (CSV or Parquet),
/// accounts for every row, and checks coverage, mutual recognition,
/// exclusivity, concentration and non-discrimination rules.
///
/// Exit codes: 0 success (no failing finding at or above --fail-on),
/// 1 failing findings, 2 usage, rulebook or input error.
#[derive(Debug, Parser)]
#[command(name = "hutong", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// One `Command` is parsed per run: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Summarise input logs: files, row accounting, time window, labels.
    Inspect(InspectArgs),
    /// Apply a rulebook to the logs; write findings.json and evidence.
    Audit(AuditArgs),
    /// Validate, list and explain rulebooks (no data needed).
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Rewrite validated logs as typed Parquet (streaming), for faster audits.
    ///
    /// Rejected rows are set aside in <out>/rejected/<dataset>.csv, exactly as
    /// `audit` reports them. When the rows come sorted by `session_id`
    /// (checkout) or `txn_id` (transactions), the order is recorded in the
    /// Parquet footer, and an audit of the file takes the sorted path without
    /// looking at its rows first (still checking the order as it goes).
    Convert(ConvertArgs),
    /// Turn real exports (WeChat Pay, Alipay, UnionPay, in-house) into the data contract with a profile.
    Import(ImportArgs),
    /// List, show and validate import profiles.
    #[command(subcommand)]
    Profiles(ProfilesCommand),
    /// Write synthetic logs that follow the data contract.
    Generate(GenerateArgs),
    /// Compare two audits: failing groups new, resolved and persisting.
    Diff(DiffArgs),
    /// Read collection-code payloads (EMV QR strings, wallet URLs): validity, CRC, schemes.
    Codes(CodesArgs),
    /// Print the JSON Schema of findings.json (docs/findings.schema.json).
    Schema,
    /// Run a node of an Apache Ballista cluster for `audit --engine ballista`
    /// (a hutong built with `--features distributed`; docs/scale-out.md).
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

/// What `--redact` hides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RedactArg {
    Merchants,
    All,
}

impl RedactArg {
    pub fn scope(self) -> crate::redact::Scope {
        match self {
            RedactArg::Merchants => crate::redact::Scope::Merchants,
            RedactArg::All => crate::redact::Scope::All,
        }
    }
}

#[derive(Debug, Args)]
pub struct CodesArgs {
    /// One payload per line, or a CSV with a `payload` column (a codes
    /// dataset); `-` reads the standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Map schemes to the rulebook's providers (their emv_guids, emv_tags,
    /// url_hosts, url_schemes) instead of printing raw identifiers.
    #[arg(long, value_name = "RULEBOOK")]
    pub rules: Option<PathBuf>,
    /// What to print: a line per payload, or a JSON array of payloads.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier audit: a findings.json file or an audit output directory.
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The later audit: a findings.json file or an audit output directory.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// What to print: a text list, or the comparison as JSON.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
    /// Exit with 1 when a new failing group's rule has this severity or higher.
    #[arg(long, value_enum, value_name = "SEVERITY", default_value_t = SeverityArg::High)]
    pub fail_on: SeverityArg,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Directory for <dataset>.parquet (and rejected/<dataset>.csv); not an input directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Write CSV cells exactly as found: no `'` before values a spreadsheet
    /// would run as formulas. For machine consumers.
    #[arg(long)]
    pub raw_csv: bool,
    /// Print nothing on success.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A shipped profile's name (see `hutong profiles list`) or a profile TOML file.
    #[arg(long, value_name = "NAME|PATH")]
    pub profile: String,
    /// The export files (a `.zip` is read from the entries the profile names).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Directory for transactions.<format>, set-aside.csv, rejected/ and import.json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// A constant for a contract column the export lacks, e.g. --set platform=wechat_mp
    /// (repeatable; replaces the profile's mapping of that column).
    #[arg(long = "set", value_name = "COLUMN=VALUE", value_parser = parse_set)]
    pub set: Vec<(String, String)>,
    /// The format written.
    #[arg(long, value_enum, default_value_t = FileFormat::Parquet)]
    pub format: FileFormat,
    /// The date of files whose times carry no year, when their names do not say it.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub file_date: Option<chrono::NaiveDate>,
    /// Write CSV cells exactly as found: no `'` before values a spreadsheet
    /// would run as formulas. For machine consumers.
    #[arg(long)]
    pub raw_csv: bool,
    /// Print nothing on success.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum ProfilesCommand {
    /// List the shipped profiles.
    List,
    /// Print a profile's text (a shipped name or a file).
    Show {
        #[arg(value_name = "NAME|PATH")]
        profile: String,
    },
    /// Report every problem in one or more profile files, with file:line:column.
    Check {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

fn parse_set(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not COLUMN=VALUE")),
    }
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Report every problem in one or more rulebooks, with file:line:column.
    Check {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// List the rules of one or more rulebooks.
    List {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print a complete, commented rule of a kind to start from.
    New {
        /// The rule kind (coverage, acceptance, ...).
        #[arg(value_name = "KIND")]
        kind: String,
    },
    /// Print one rule's text, parameters, rationale and citation.
    Explain {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[arg(value_name = "RULE-ID")]
        rule: String,
    },
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The rulebook (TOML) to apply.
    #[arg(long, value_name = "FILE")]
    pub rules: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
    /// Directory for findings.json, evidence/ and rejected/ (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Exit with 1 when a rule of this severity or higher fails (`none`: never).
    #[arg(long, value_enum, value_name = "SEVERITY", default_value_t = SeverityArg::High)]
    pub fail_on: SeverityArg,
    /// Also exit with 1 when a rule at or above --fail-on is inconclusive
    /// (the data cannot decide it).
    #[arg(long)]
    pub fail_on_inconclusive: bool,
    /// Also exit with 1 when a rule at or above --fail-on is not evaluable
    /// (the data lacks what it needs).
    #[arg(long)]
    pub fail_on_not_evaluable: bool,
    /// Both --fail-on-inconclusive and --fail-on-not-evaluable.
    #[arg(long)]
    pub strict: bool,
    /// Also exit with 1 for failures in data that ends before the rule's
    /// `deadline` (reported `before_deadline`).
    #[arg(long)]
    pub strict_deadlines: bool,
    /// An earlier audit (findings.json or its directory): failing groups are
    /// marked new, persisting or resolved in findings.json and the report.
    #[arg(long, value_name = "FINDINGS")]
    pub baseline: Option<PathBuf>,
    /// With --baseline: the exit code counts new failing groups only.
    #[arg(long, requires = "baseline")]
    pub fail_on_new_only: bool,
    /// Accepted exceptions (TOML, see docs/ci.md): a current waiver turns the
    /// failing groups it names into `waived`; an expired one does not apply.
    #[arg(long, value_name = "FILE")]
    pub waivers: Option<PathBuf>,
    /// The day waiver expiry is judged at (YYYY-MM-DD); default today, or the
    /// day of SOURCE_DATE_EPOCH when set.
    #[arg(long, value_name = "DATE", requires = "waivers", value_parser = parse_date)]
    pub as_of: Option<chrono::NaiveDate>,
    /// Also judge every rule in each period of the window (calendar of
    /// --timezone; weeks are ISO weeks): findings and groups gain `periods`,
    /// the report a trend chart per rule.
    #[arg(long, value_enum, value_name = "PERIOD")]
    pub period: Option<PeriodArg>,
    /// Also write JUnit XML for CI test reporters: one test case per rule.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// What to print on stdout: a text summary, or findings.json itself.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
    /// Directory of templates overriding the built-in report templates by
    /// name (report.html, macros.html, style.css, script.js).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// The language of report.html: `en`, or `zh-CN` (Chinese, with rule
    /// titles and rationales from the rulebook where it gives them).
    /// findings.json and the evidence are the same in every language.
    #[arg(long, value_name = "LANG", default_value = "en", value_parser = parse_lang)]
    pub lang: crate::lang::Lang,
    /// Embed the evidence files in report.html as downloads (up to 2 MB each,
    /// 16 MB in all), so the report alone is complete when sent on.
    #[arg(long)]
    pub embed_evidence: bool,
    /// Write a redacted edition: merchant ids and names as keyed pseudonyms,
    /// raw records and code payloads withheld, small groups suppressed
    /// (`all`: also file paths, the command line and unmapped labels).
    #[arg(long, value_enum, value_name = "WHAT")]
    pub redact: Option<RedactArg>,
    /// The secret key of the pseudonyms (a file; else HUTONG_REDACT_KEY).
    #[arg(long, value_name = "FILE", requires = "redact")]
    pub redact_key: Option<PathBuf>,
    /// In a redacted edition, suppress groups with fewer units than this.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub min_group: u64,
    /// Allow --out to be, or lie inside, a directory holding input files.
    #[arg(long)]
    pub out_inside_inputs: bool,
    /// Write CSV cells exactly as found: no `'` before values a spreadsheet
    /// would run as formulas (=, +, -, @). For machine consumers.
    #[arg(long)]
    pub raw_csv: bool,
    /// The memory the audit plans to stay within, e.g. 512MB or 4GB (KB, MB,
    /// GB: powers of 1000; KiB, MiB, GiB: of 1024). A single pass when its
    /// estimate fits; else bounded, with the aggregations whose state grows
    /// with sessions, merchants or transaction ids in as many hash partitions
    /// as the budget needs. Default: a quarter of physical memory, at most
    /// 4 GiB. A budget below what any audit holds is refused before any work
    /// (see docs/performance.md).
    #[arg(long, value_name = "SIZE", value_parser = crate::budget::parse_size)]
    pub memory_budget: Option<u64>,
    /// How the plans run: `auto` (from --memory-budget), `single-pass` (all
    /// at once over one read of the input: fastest, memory grows with the
    /// input) or `bounded` (the validated input staged once as Parquet, then
    /// one plan at a time, keyed ones in hash partitions: memory within the
    /// budget, slower).
    #[arg(long, value_enum, value_name = "STRATEGY", default_value_t = StrategyArg::Auto)]
    pub strategy: StrategyArg,
    /// Run each aggregation keyed by session, merchant or transaction id in
    /// exactly K hash partitions, whatever the budget. For tuning and
    /// testing: findings are the same for every K and strategy.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub partitions: Option<u16>,
    /// When the aggregations keyed by session or transaction id take the
    /// sorted path, one pass holding one key's rows at a time: `auto` (when
    /// the first 100,000 accepted rows come sorted by the key, or every row
    /// when a bounded audit stages CSV, or the Parquet file `hutong convert`
    /// wrote records the order, and, in a bounded audit, the budget has room
    /// for it), `always` or `never` (hash
    /// group-bys only). The same pass checks that every row
    /// is in order; an aggregation whose rows are not is run again on the
    /// hashed path, so findings never depend on this.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = SortedArg::Auto)]
    pub sorted: SortedArg,
    /// The engine that runs the rules' plans: `polars` (built in), or
    /// `datafusion` (embedded Apache DataFusion, spilling past
    /// --memory-budget) and `ballista` (an Apache Ballista cluster: the one
    /// at --scheduler, or one started in this process). The last two read
    /// the typed Parquet that `hutong convert` writes and need a hutong
    /// built with `--features distributed`; findings are the same on every
    /// engine (docs/scale-out.md).
    #[arg(long, value_enum, value_name = "ENGINE", default_value_t = EngineArg::Polars)]
    pub engine: EngineArg,
    /// The Ballista scheduler to run on, as df://HOST:PORT (--engine ballista).
    #[arg(long, value_name = "URL")]
    pub scheduler: Option<String>,
    /// Print nothing on success (files are still written).
    #[arg(long, short)]
    pub quiet: bool,
}

/// Where the logs are, and how to read them.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Directory holding transactions.{csv,parquet}, checkout.{csv,parquet}
    /// and optionally merchants.{csv,parquet} and codes.{csv,parquet} (or a
    /// folder per dataset).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Transactions: a file, a directory or a quoted glob; overrides --data.
    #[arg(long, value_name = "PATH")]
    pub transactions: Option<String>,
    /// Checkout options: a file, a directory or a quoted glob; overrides --data.
    #[arg(long, value_name = "PATH")]
    pub checkout: Option<String>,
    /// Merchants: a file, a directory or a quoted glob; overrides --data.
    #[arg(long, value_name = "PATH")]
    pub merchants: Option<String>,
    /// Collection codes (payloads captured from merchants): a file, a
    /// directory or a quoted glob; overrides --data.
    #[arg(long, value_name = "PATH")]
    pub codes: Option<String>,
    /// Audit only rows at or after this time (RFC 3339, or a date meaning its
    /// midnight at --timezone); earlier rows are counted as outside the window.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Audit only rows before this time (exclusive; RFC 3339 or a date).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// UTC offset for timestamps written without one, e.g. +08:00 or Z; also
    /// the time zone of dates, effective days, deadlines and --period.
    #[arg(long, value_name = "OFFSET", default_value = "+08:00")]
    pub timezone: String,
    /// CSV field separator: one ASCII character, or `tab` / `\t`.
    #[arg(long, value_name = "CHAR", default_value = ",")]
    pub delimiter: String,
    /// Text encoding of CSV files: auto (UTF-8 if valid, else GB18030 if it
    /// decodes cleanly), utf-8, gbk or gb18030; DATASET=ENCODING for one
    /// dataset (repeatable). Non-UTF-8 files are transcoded once.
    #[arg(long, value_name = "[DATASET=]ENCODING", default_value = "auto")]
    pub encoding: Vec<String>,
    /// Unit of amount, discount, surcharge and fee values.
    #[arg(long, value_enum, default_value_t = AmountUnit::Yuan)]
    pub amount_unit: AmountUnit,
    /// Read and check every input file in full, trusting no earlier run: by
    /// default a file read unchanged by an earlier run takes its SHA-256 and
    /// record structure from the pre-read cache (HUTONG_CACHE_DIR, else
    /// ~/.cache/hutong/preread), kept by path, inode, size and modification
    /// and status-change times; and an audit reads the Parquet files `hutong
    /// convert` wrote as they are, their rows validated when converted.
    #[arg(long)]
    pub no_cache: bool,
}

/// `audit --strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    Auto,
    SinglePass,
    Bounded,
}

impl StrategyArg {
    pub fn strategy(self) -> Option<crate::budget::Strategy> {
        match self {
            StrategyArg::Auto => None,
            StrategyArg::SinglePass => Some(crate::budget::Strategy::SinglePass),
            StrategyArg::Bounded => Some(crate::budget::Strategy::Bounded),
        }
    }
}

/// `audit --engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    Polars,
    #[value(name = "datafusion")]
    DataFusion,
    Ballista,
}

impl EngineArg {
    pub fn engine(self) -> crate::findings::Engine {
        match self {
            EngineArg::Polars => crate::findings::Engine::Polars,
            EngineArg::DataFusion => crate::findings::Engine::DataFusion,
            EngineArg::Ballista => crate::findings::Engine::Ballista,
        }
    }
}

/// `hutong cluster`.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Run an Apache Ballista scheduler until stopped.
    Scheduler(SchedulerArgs),
    /// Run an Apache Ballista executor until stopped.
    Executor(ExecutorArgs),
}

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// The address to listen on (loopback by default: open a cluster to a
    /// network on purpose).
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1")]
    pub bind: String,
    /// The port clients and executors connect to.
    #[arg(long, default_value_t = 50050)]
    pub port: u16,
}

#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The address to listen on (loopback by default).
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1")]
    pub bind: String,
    /// The Arrow Flight port that serves shuffle data and results.
    #[arg(long, default_value_t = 50051)]
    pub port: u16,
    /// The gRPC port the scheduler sends tasks to.
    #[arg(long, default_value_t = 50052)]
    pub grpc_port: u16,
    /// The scheduler's host.
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1")]
    pub scheduler_host: String,
    /// The scheduler's port.
    #[arg(long, default_value_t = 50050)]
    pub scheduler_port: u16,
    /// Where shuffle files are written (default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Tasks run at once (default: the machine's cores).
    #[arg(long, value_name = "N")]
    pub slots: Option<usize>,
    /// Memory its tasks may hold before they spill, e.g. 2GB.
    #[arg(long, value_name = "SIZE", value_parser = crate::budget::parse_size)]
    pub memory: Option<u64>,
}

/// `audit --sorted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortedArg {
    Auto,
    Always,
    Never,
}

impl SortedArg {
    pub fn path(self) -> crate::budget::SortedPath {
        match self {
            SortedArg::Auto => crate::budget::SortedPath::Auto,
            SortedArg::Always => crate::budget::SortedPath::Always,
            SortedArg::Never => crate::budget::SortedPath::Never,
        }
    }
}

/// A finding severity, as `--fail-on` takes it; `none` never fails on findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    None,
    Info,
    Low,
    Medium,
    High,
    Critical,
}

/// The file format `generate` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    Csv,
    Parquet,
}

/// The unit money columns are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AmountUnit {
    Yuan,
    /// Hundredths of a yuan, as WeChat Pay logs amounts.
    Fen,
}

/// The periods `audit --period` cuts the window into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PeriodArg {
    Day,
    /// ISO 8601 weeks, Monday to Sunday, labelled like 2021-W40.
    Week,
    Month,
    Quarter,
}

impl PeriodArg {
    pub fn period(self) -> crate::ingest::period::Period {
        use crate::ingest::period::Period;
        match self {
            PeriodArg::Day => Period::Day,
            PeriodArg::Week => Period::Week,
            PeriodArg::Month => Period::Month,
            PeriodArg::Quarter => Period::Quarter,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
    /// Also write every rejected row to DIR/rejected/<dataset>.csv.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// How many distinct labels to list per column (the rest are counted).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub top: usize,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Directory to write transactions, checkout and merchants files into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Random seed: the same seed and options give byte-identical files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of merchants (70% online across platforms, 30% physical shops).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub merchants: u32,
    /// Length of the window in days, starting 2021-10-01 (+08:00).
    #[arg(long, value_name = "N", default_value_t = 7)]
    pub days: u32,
    /// Volume multiplier: scale 1 is about 21,000 transactions and 39,000
    /// checkout rows; scale 480 about 10 million transactions.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub scale: u32,
    /// File format.
    #[arg(long, value_enum, default_value_t = FileFormat::Csv)]
    pub format: FileFormat,
    /// Violations to plant: `all`, `none`, or a comma-separated list of
    /// exclusive-merchants, low-unionpay-coverage, folded-rivals, one-way,
    /// dead-cell, slow-rival, failing-rival, rival-surcharge, own-discount,
    /// rival-fee, dirty-rows.
    #[arg(long, value_name = "LIST", default_value = "all")]
    pub plant: String,
}

fn parse_date(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("`{s}` is not a date such as 2022-03-31"))
}

fn parse_lang(s: &str) -> Result<crate::lang::Lang, String> {
    crate::lang::Lang::parse(s).ok_or_else(|| {
        let tags: Vec<&str> = crate::lang::Lang::ALL.iter().map(|l| l.tag()).collect();
        format!("unknown report language `{s}`: expected one of {}", tags.join(", "))
    })
}
