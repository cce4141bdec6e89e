//! `vaultline-load seed`: fills an empty database (see `vaultline::seed`).

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "vaultline-load seed", about = "Fill an empty database with N customers and their history")]
pub struct SeedArgs {
    /// Customers to make (at least; whole copies of the template customers).
    #[arg(long, default_value_t = 10_000)]
    customers: u64,
    /// Seed of the generated ids, keys and amounts.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// `sqlite://path` or `postgres://user@host:port/db` (created and migrated if empty).
    #[arg(long, env = "VAULTLINE__DATABASE__URL")]
    database_url: String,
}

pub async fn seed(args: SeedArgs) -> Result<(), String> {
    let opts = vaultline::seed::Options {
        database_url: args.database_url,
        customers: args.customers,
        seed: args.seed,
        progress: true,
    };
    let summary = vaultline::seed::run(opts).await?;
    let rows: i64 = summary.rows.iter().map(|(_, n)| n).sum();
    for (table, n) in &summary.rows {
        eprintln!("  {table:<18} {n:>12}");
    }
    let secs = summary.elapsed.as_secs_f64();
    let cloning = (summary.elapsed - summary.templates_took).as_secs_f64().max(1e-9);
    println!(
        "SEED customers={} templates={} rows={rows} written={} elapsed={secs:.1}s templates={:.1}s \
         customers_per_s={:.0} rows_per_s={:.0} password={:?}",
        summary.customers,
        summary.templates,
        summary.rows_written,
        summary.templates_took.as_secs_f64(),
        summary.customers as f64 / secs,
        summary.rows_written as f64 / cloning,
        vaultline::seed::PASSWORD,
    );
    Ok(())
}
