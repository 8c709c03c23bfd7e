//! Shows how a host wires kumo-config together: a `ConfigEpoch` watching a folder, a
//! `LiveConfig` with the merged shaping files, and a per-domain `EpochCache` derived from it.
//! It edits a file, waits for the watcher to notice, and prints the settings before and after.
//!
//! ```text
//! cargo run -p kumo-config --features notify --example live_reload
//! ```
#![allow(clippy::print_stdout, reason = "an example program")]

use kumo_config::{
    CacheError, ConfigEpoch, EpochCache, LayerError, Layered, LiveConfig, Merge, MergePolicy,
    RefreshStrategy, WatchOptions,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Deserialize)]
struct Shaping {
    #[serde(default)]
    default: Params,
    #[serde(default)]
    provider: BTreeMap<String, Provider>,
    #[serde(flatten)]
    domains: BTreeMap<String, Params>,
}

#[derive(Debug, Default, Clone, Deserialize)]
struct Params {
    connection_limit: Option<u32>,
    max_message_rate: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
struct Provider {
    #[serde(rename = "match", default)]
    suffixes: Vec<String>,
    #[serde(flatten)]
    params: Params,
}

impl Params {
    fn overlay(mut self, o: &Params) -> Self {
        self.connection_limit = o.connection_limit.or(self.connection_limit);
        self.max_message_rate = o.max_message_rate.clone().or(self.max_message_rate);
        self
    }
}

impl Shaping {
    fn for_domain(&self, domain: &str) -> Params {
        let mut p = self.default.clone();
        for prov in self.provider.values() {
            if prov.suffixes.iter().any(|s| domain.ends_with(s.as_str())) {
                p = p.overlay(&prov.params);
            }
        }
        match self.domains.get(domain) {
            Some(d) => p.overlay(d),
            None => p,
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("00-default.toml"),
        "[default]\nconnection_limit = 10\n\n[provider.google]\nmatch = [\"gmail.com\"]\nmax_message_rate = \"100/s\"\n",
    )?;
    std::fs::write(
        dir.path().join("10-site.toml"),
        "[provider.google]\nmatch = [\"googlemail.com\"]\n\n[\"example.com\"]\nconnection_limit = 2\n",
    )?;
    let pattern = format!("{}/*.toml", dir.path().display());

    let epoch = ConfigEpoch::builder().glob(pattern.clone()).build()?;
    let watcher = epoch.spawn_watcher(WatchOptions::new().interval(Duration::from_secs(1)))?;
    let live = Arc::new(LiveConfig::new(
        Layered::<Shaping>::new(Vec::<std::path::PathBuf>::new())
            .glob(pattern)
            .policy(
                MergePolicy::new()
                    .replace_base("*")
                    .replace_base("provider.*")
                    .rule("provider.*.match", Merge::Append),
            ),
        epoch.handle(),
    ));
    let per_domain: EpochCache<String, Params, CacheError<LayerError>> =
        EpochCache::new(epoch.handle(), RefreshStrategy::Epoch, 100_000);
    let lookup = |d: &str| per_domain.get_with(d, |d| Ok(live.get()?.value.for_domain(d)));

    for d in ["gmail.com", "x.googlemail.com", "example.com"] {
        println!("{d}: {:?}", lookup(d)?);
    }

    let mut sub = epoch.subscribe();
    std::fs::write(
        dir.path().join("20-override.toml"),
        "[\"example.com\"]\nreplace_base = true\nmax_message_rate = \"1/s\"\n",
    )?;
    let seen = sub.wait_timeout(Duration::from_secs(5));
    println!(
        "epoch now {seen:?} (watcher: {} scans, notify {})",
        watcher.scans(),
        watcher.notify_active()
    );
    println!("example.com: {:?}", lookup("example.com")?);
    println!("loads of the merged files: {}", live.stats().loads);
    Ok(())
}
