//! The tour: every stage, one after another, against one built-in site, then a comparison.
//!
//! ```text
//! cargo run --example tour
//! cargo run --example tour -- --delay-ms 100 --count 20
//! ```
use std::process::ExitCode;
use std::time::Instant;

use crawler::cli::{self, InFlight, NoOptions};
use crawler::report::{self, Crawl, plural};

fn main() -> ExitCode {
    // The same command line as every stage, with no options of its own.
    let about = "every stage in a row against one built-in site, then a comparison table";
    let args = match cli::example::<NoOptions>("tour", about).parse_env() {
        Ok(args) => args,
        Err(code) => return code,
    };
    cli::init_logging();
    let (urls, site) = match cli::targets(&args) {
        Ok(targets) => targets,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    // Stages 1–4 (and stage 0 --threads) start every URL at once: the most any stage needs.
    let name = "the tour (stages 1-4)";
    if let Err(message) = cli::fits(name, InFlight::Every(urls.len()), site.is_some()) {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }

    let mut rows = Vec::new();
    for stage in crawler::stages() {
        if let Some(site) = &site {
            site.reset_counters();
        }
        let started = Instant::now();
        let outcomes = (stage.crawl)(&urls, started + args.timeout);
        let crawl = Crawl {
            stage: format!("{} ({})", stage.name, stage.idea),
            started,
            wall: started.elapsed(),
            outcomes,
        };
        println!("{}", report::render(&crawl));
        let site_peak = site.as_ref().map(|s| s.peak_connections());
        rows.push((stage, crawl, site_peak));
    }

    println!("the tour: {} per stage", plural(urls.len(), "URL", "URLs"));
    println!(
        "  {:<18} {:<38} {:>8} {:>9} {:>6}",
        "stage", "idea", "wall ms", "in flight", "ok"
    );
    let mut all_ok = true;
    for (stage, crawl, _) in &rows {
        all_ok &= crawl.ok() == crawl.outcomes.len();
        println!(
            "  {:<18} {:<38} {:>8} {:>9} {:>3}/{}",
            stage.name,
            stage.idea,
            crawl.wall.as_millis(),
            crawl.peak_in_flight(),
            crawl.ok(),
            crawl.outcomes.len()
        );
    }
    if let Some(site) = site {
        site.stop();
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
