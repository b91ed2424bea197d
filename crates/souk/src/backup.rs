//! Backups: one `.tar.gz` archive holding a consistent copy of the database (SQLite: taken
//! online with `VACUUM INTO`; PostgreSQL: `pg_dump --format=custom` when it is installed), the
//! server key and the data directory's other files a shop cannot recreate (`media/`,
//! `templates/`), with a manifest listing every file's size and SHA-256. Restoring checks every
//! checksum and the database's integrity before anything is used.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use souk_storage::Db;

/// The archive's manifest, `manifest.json` at its root.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Format of the archive (1).
    pub format: u32,
    pub souk_version: String,
    /// UTC, RFC 3339.
    pub created_at: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The database copy inside the archive (`souk.db` or `souk.pgdump`), or `None` when it
    /// could not be included (PostgreSQL without `pg_dump`), with the reason in `notes`.
    pub database: Option<String>,
    pub files: Vec<ManifestFile>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestFile {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Directories of the data directory that hold what only the shop has.
const KEPT_DIRS: &[&str] = &["media", "templates"];
/// Files of the data directory that do.
const KEPT_FILES: &[&str] = &["secret.key"];

fn sha256_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        hasher.update(&buf[..n]);
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    Ok((bytes, hex))
}

/// Files under `dir`, relative to `root`, in a stable order.
fn files_under(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            files_under(root, &path, out)?;
        } else if kind.is_file() {
            out.push(path.strip_prefix(root)?.to_path_buf());
        }
    }
    Ok(())
}

/// What [`create`] made.
#[derive(Debug)]
pub struct Created {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub bytes: u64,
}

/// Takes a backup of the shop whose database is `db` (at `database_url`) and whose data
/// directory is `data_dir`, into the archive `dest` (written under a temporary name, then
/// renamed: a crash never leaves a half archive under the final name).
pub async fn create(
    db: &Db,
    database_url: &str,
    data_dir: &Path,
    dest: &Path,
) -> anyhow::Result<Created> {
    if dest.exists() {
        bail!("{} already exists", dest.display());
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // The archive holds the database and the server key: a directory made for it is private
    // (an existing one is left as it is: it may be /tmp or a mounted volume).
    if !parent.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let staging = tempfile_dir(parent)?;
    let result = stage_and_pack(db, database_url, data_dir, dest, &staging).await;
    let _ = std::fs::remove_dir_all(&staging);
    result
}

fn tempfile_dir(parent: &Path) -> anyhow::Result<PathBuf> {
    let dir = parent.join(format!(".souk-backup-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

async fn stage_and_pack(
    db: &Db,
    database_url: &str,
    data_dir: &Path,
    dest: &Path,
    staging: &Path,
) -> anyhow::Result<Created> {
    let mut notes = Vec::new();
    let backend = match db.backend() {
        souk_storage::Backend::Sqlite => "sqlite",
        souk_storage::Backend::Postgres => "postgres",
    };
    let database = if souk_storage::backup::snapshot_sqlite(db, &staging.join("souk.db")).await? {
        if let Err(problem) =
            souk_storage::backup::check_sqlite_file(&staging.join("souk.db")).await?
        {
            bail!("the database copy failed its integrity check: {problem}");
        }
        Some("souk.db".to_owned())
    } else {
        pg_dump(database_url, &staging.join("souk.pgdump"), &mut notes)?
    };
    // The shop's own files, copied into the staging directory (as they are now).
    let mut copied = Vec::new();
    for name in KEPT_FILES {
        let from = data_dir.join(name);
        if from.is_file() {
            std::fs::copy(&from, staging.join(name))?;
            copied.push(PathBuf::from(name));
        }
    }
    for name in KEPT_DIRS {
        let from = data_dir.join(name);
        if from.is_dir() {
            let mut files = Vec::new();
            files_under(data_dir, &from, &mut files)?;
            for rel in files {
                let to = staging.join(&rel);
                if let Some(p) = to.parent() {
                    std::fs::create_dir_all(p)?;
                }
                std::fs::copy(data_dir.join(&rel), &to)?;
                copied.push(rel);
            }
        }
    }
    if !data_dir.join("secret.key").is_file() {
        notes.push(
            "no secret.key in the data directory (the key is set by SOUK_SECRET_KEY): keep that \
             setting with the backup, or restored sessions and order links stop working"
                .to_owned(),
        );
    }
    let mut entries: Vec<PathBuf> = database.iter().map(PathBuf::from).collect();
    entries.extend(copied);
    let mut files = Vec::with_capacity(entries.len());
    for rel in &entries {
        let (bytes, sha256) = sha256_file(&staging.join(rel))?;
        files.push(ManifestFile {
            path: rel.to_string_lossy().replace('\\', "/"),
            bytes,
            sha256,
        });
    }
    let manifest = Manifest {
        format: 1,
        souk_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: souk_domain::time::rfc3339(souk_storage::now_ms()),
        backend: backend.to_owned(),
        database,
        files,
        notes,
    };
    std::fs::write(
        staging.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )?;

    let partial = dest.with_extension("partial");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options
            .open(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        tar.append_path_with_name(staging.join("manifest.json"), "manifest.json")?;
        for rel in &entries {
            tar.append_path_with_name(staging.join(rel), rel)?;
        }
        let gz = tar.into_inner()?;
        let file = gz.finish()?;
        file.sync_all()?;
    }
    std::fs::rename(&partial, dest)?;
    let bytes = std::fs::metadata(dest)?.len();
    Ok(Created {
        path: dest.to_path_buf(),
        manifest,
        bytes,
    })
}

/// `pg_dump --format=custom` of the database into `out`, if `pg_dump` is installed.
fn pg_dump(url: &str, out: &Path, notes: &mut Vec<String>) -> anyhow::Result<Option<String>> {
    let ran = std::process::Command::new("pg_dump")
        .arg("--format=custom")
        .arg("--no-owner")
        .arg("--file")
        .arg(out)
        .arg("--dbname")
        .arg(url)
        .output();
    match ran {
        Ok(o) if o.status.success() => Ok(Some("souk.pgdump".to_owned())),
        Ok(o) => bail!(
            "pg_dump failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            notes.push(
                "pg_dump is not installed here: the database is not in this archive; back it up \
                 with pg_dump (or your provider's snapshots) beside it"
                    .to_owned(),
            );
            Ok(None)
        }
        Err(e) => Err(e).context("cannot run pg_dump"),
    }
}

/// What [`restore`] did.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    /// Where the restored SQLite database is, if the archive held one.
    pub sqlite: Option<PathBuf>,
    /// The PostgreSQL dump, left in the data directory for `pg_restore`.
    pub pgdump: Option<PathBuf>,
}

/// Unpacks `archive` into `data_dir` (which must be empty or absent), checking every file
/// against the manifest and the database's integrity. A failed restore leaves nothing behind.
pub async fn restore(archive: &Path, data_dir: &Path) -> anyhow::Result<Restored> {
    if data_dir.exists()
        && std::fs::read_dir(data_dir)
            .with_context(|| format!("cannot read {}", data_dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty: restore into a new, empty data directory",
            data_dir.display()
        );
    }
    crate::startup::private_data_dir(data_dir)?;
    let result = unpack_and_check(archive, data_dir).await;
    if result.is_err() {
        // Leave the directory as it was found: empty.
        if let Ok(entries) = std::fs::read_dir(data_dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        }
    }
    result
}

async fn unpack_and_check(archive: &Path, data_dir: &Path) -> anyhow::Result<Restored> {
    let file = std::fs::File::open(archive)
        .with_context(|| format!("cannot read {}", archive.display()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    // `unpack` refuses entries that would land outside the directory (`..`, absolute paths).
    tar.unpack(data_dir)
        .with_context(|| format!("{} is not a Souk backup archive", archive.display()))?;
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(data_dir.join("manifest.json")).context("the archive has no manifest")?,
    )
    .context("the archive's manifest is not readable")?;
    if manifest.format != 1 {
        bail!("unknown backup format {}", manifest.format);
    }
    for f in &manifest.files {
        let (bytes, sha256) = sha256_file(&data_dir.join(&f.path))
            .with_context(|| format!("{} is missing from the archive", f.path))?;
        if bytes != f.bytes || sha256 != f.sha256 {
            bail!(
                "{} does not match its checksum: the archive is damaged",
                f.path
            );
        }
    }
    std::fs::remove_file(data_dir.join("manifest.json"))?;
    let mut restored = Restored {
        manifest: manifest.clone(),
        sqlite: None,
        pgdump: None,
    };
    match manifest.database.as_deref() {
        Some("souk.db") => {
            let path = data_dir.join("souk.db");
            if let Err(problem) = souk_storage::backup::check_sqlite_file(&path).await? {
                bail!("the restored database failed its integrity check: {problem}");
            }
            crate::startup::private_file(&path)?;
            restored.sqlite = Some(path);
        }
        Some(other) => restored.pgdump = Some(data_dir.join(other)),
        None => {}
    }
    if data_dir.join("secret.key").is_file() {
        crate::startup::private_file(&data_dir.join("secret.key"))?;
    }
    Ok(restored)
}

/// The archive name for a backup taken now: `souk-backup-20261203T161500Z.tar.gz`.
pub fn default_name() -> String {
    let at = souk_domain::time::rfc3339(souk_storage::now_ms());
    let compact: String = at
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    format!("souk-backup-{compact}Z.tar.gz")
}

/// Keeps the `keep` newest `souk-backup-*.tar.gz` archives of `dir` and removes the rest;
/// returns how many it removed.
pub fn prune(dir: &Path, keep: usize) -> anyhow::Result<usize> {
    let mut archives: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("souk-backup-") && n.ends_with(".tar.gz"))
        })
        .collect();
    // The names sort by time.
    archives.sort();
    let excess = archives.len().saturating_sub(keep);
    for old in &archives[..excess] {
        std::fs::remove_file(old)?;
    }
    Ok(excess)
}
