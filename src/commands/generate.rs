//! `hutong generate`: writes synthetic logs.

use crate::generate::model::Plant;
use crate::generate::{describe, run, Config};

/// `hutong generate`: parses the plant list, generates, reports what was written.
pub fn run_cli(args: &crate::cli::GenerateArgs) -> anyhow::Result<u8> {
    let plants = Plant::parse_list(&args.plant).map_err(anyhow::Error::msg)?;
    let cfg = Config {
        out: args.out.clone(),
        seed: args.seed,
        merchants: args.merchants,
        days: args.days,
        scale: args.scale,
        format: args.format.into(),
        plants,
    };
    let summary = run(&cfg)?;
    eprintln!("{}", describe(&cfg, &summary));
    Ok(0)
}
