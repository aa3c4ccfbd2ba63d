//! `hutong import` and `hutong profiles`: real exports into the data contract
//! by a profile, and the profiles themselves.

use anyhow::bail;

use crate::cli::{FileFormat, ImportArgs, ProfilesCommand};
use crate::import::{self, profile};
use crate::ingest::convert::OutputFormat;

pub fn run_cli(args: &ImportArgs) -> anyhow::Result<u8> {
    let progress = crate::progress::Progress::new(args.quiet);
    crate::text::set_raw_csv(args.raw_csv);
    crate::output::ensure_writable(&args.out)?;
    let p = profile::resolve(&args.profile)?;
    // Outputs beside the inputs could overwrite them (or be read back as input).
    if let Ok(out) = args.out.canonicalize() {
        for f in &args.files {
            if f.canonicalize().is_ok_and(|f| f.starts_with(&out)) {
                bail!("--out {} holds the input {}: choose another output directory", args.out.display(), f.display());
            }
        }
    }
    let _lock = crate::output::lock(&args.out)?;
    let req = import::Request {
        profile: &p,
        files: &args.files,
        out: &args.out,
        set: args.set.iter().cloned().collect(),
        format: match args.format {
            FileFormat::Parquet => OutputFormat::Parquet,
            FileFormat::Csv => OutputFormat::Csv,
        },
        file_date: args.file_date,
    };
    let r = import::run(&req, &progress)?;
    if !args.quiet {
        for f in &r.files {
            println!(
                "{}: {} rows read = {} imported + {} set aside + {} rejected",
                f.path, f.rows_read, f.imported, f.set_aside, f.rejected
            );
        }
        let reasons = |m: &std::collections::BTreeMap<String, u64>| {
            m.iter().map(|(k, n)| format!("{k} ({n})")).collect::<Vec<_>>().join(", ")
        };
        if !r.set_aside_by_reason.is_empty() {
            println!(
                "set aside: {}; see {}",
                reasons(&r.set_aside_by_reason),
                args.out.join("set-aside.csv").display()
            );
        }
        if !r.rejected_by_reason.is_empty() {
            println!("rejected: {}; see {}", reasons(&r.rejected_by_reason), args.out.join("rejected").display());
        }
        println!(
            "{} rows imported into {} (profile {}); not in this export: {}",
            r.imported,
            args.out.join(&r.output).display(),
            r.profile.id,
            if r.lacks.is_empty() { "nothing".to_string() } else { r.lacks.join(", ") }
        );
    }
    Ok(0)
}

pub fn profiles_cli(cmd: &ProfilesCommand) -> anyhow::Result<u8> {
    match cmd {
        ProfilesCommand::List => {
            for (name, text) in profile::SHIPPED {
                let p = profile::parse(name, text)?;
                println!("{:<22} {}", p.id, p.title);
            }
            Ok(0)
        }
        ProfilesCommand::Show { profile: name } => {
            if let Some((_, text)) = profile::SHIPPED.iter().find(|(n, _)| n == name) {
                print!("{text}");
                return Ok(0);
            }
            let text = std::fs::read_to_string(name).map_err(|e| anyhow::anyhow!("cannot read profile {name}: {e}"))?;
            profile::parse(name, &text)?;
            print!("{text}");
            Ok(0)
        }
        ProfilesCommand::Check { files } => {
            let mut bad = 0;
            for f in files {
                let shown = f.display().to_string();
                match std::fs::read_to_string(f) {
                    Err(e) => {
                        eprintln!("error: cannot read {shown}: {e}");
                        bad += 1;
                    }
                    Ok(text) => match profile::parse(&shown, &text) {
                        Ok(p) => println!("{shown}: ok (profile {}, {} columns mapped)", p.id, p.columns.len()),
                        Err(e) => {
                            eprint!("{e}");
                            bad += 1;
                        }
                    },
                }
            }
            if bad > 0 {
                bail!("{bad} of {} profile files have problems", files.len());
            }
            Ok(0)
        }
    }
}
