//! Helpers shared by the integration tests: temporary config folders and the ways editors and
//! orchestrators change files.
#![allow(dead_code, unreachable_pub, reason = "each feature set uses a subset")]

use kumo_config::ConfigEpoch;
use std::path::{Path, PathBuf};

/// A `ConfigEpoch` over `dir/*.toml` and `dir/*.json`.
pub fn epoch_for(dir: &Path) -> ConfigEpoch {
    ConfigEpoch::builder()
        .glob(format!("{}/*.toml", dir.display()))
        .glob(format!("{}/*.json", dir.display()))
        .build()
        .expect("valid patterns")
}

/// Writes `text` the way editors save: into a temporary file, then renamed over `path`.
pub fn atomic_write(path: &Path, text: &str) {
    let tmp = path.with_file_name(format!(
        ".{}.swp",
        path.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[cfg(unix)]
/// A Kubernetes-style ConfigMap folder: `dir/NAME -> ..data/NAME`, `..data -> ..vN`.
pub struct ConfigMap {
    pub dir: PathBuf,
    version: u32,
}

#[cfg(unix)]
impl ConfigMap {
    pub fn new(dir: &Path, files: &[(&str, &str)]) -> Self {
        let mut cm = Self {
            dir: dir.to_path_buf(),
            version: 0,
        };
        cm.publish(files);
        for (name, _) in files {
            std::os::unix::fs::symlink(format!("..data/{name}"), dir.join(name)).unwrap();
        }
        cm
    }

    /// Writes a new version folder and swaps the `..data` link to it atomically.
    pub fn publish(&mut self, files: &[(&str, &str)]) {
        self.version += 1;
        let v = format!("..v{}", self.version);
        std::fs::create_dir(self.dir.join(&v)).unwrap();
        for (name, text) in files {
            std::fs::write(self.dir.join(&v).join(name), text).unwrap();
        }
        let tmp = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&v, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
    }
}
