//! How every `sync` fills the cache: download (with a size limit), lay the files out
//! in a staging folder inside their destination (a downloaded file as it is, or the
//! named files of a zip), check that they load, then move them in with a rename. A
//! failure leaves the cache as it was, and the staging folder is removed in any case.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};

/// Largest download accepted, and largest file taken from a zip (the standards are
/// each under 1 MB).
pub const MAX_DOWNLOAD: u64 = 32 * 1024 * 1024;

/// Downloads `url` whole, refusing bodies over [`MAX_DOWNLOAD`].
pub fn download(url: &str) -> anyhow::Result<Vec<u8>> {
    let mut resp = ureq::get(url)
        .call()
        .with_context(|| format!("cannot download {url}"))?;
    resp.body_mut()
        .with_config()
        .limit(MAX_DOWNLOAD)
        .read_to_vec()
        .with_context(|| format!("cannot read the body of {url}"))
}

/// The files to take from a zip archive, wherever in it they sit.
#[derive(Debug, Clone, Copy)]
pub struct ZipFiles<'a> {
    /// What the archive is, for the errors ("the WTH bundle").
    pub archive: &'a str,
    /// Take only the files directly inside a folder of this name (at any depth):
    /// a repository zip holds files of the same name elsewhere.
    pub folder: Option<&'a str>,
    /// The file names to take; each must be there.
    pub names: &'a [&'a str],
    /// Instead of `names`: every `.csv` file below the folder of this name (the first
    /// found in the archive, at any depth), with the paths below it kept, into a
    /// folder of that name.
    pub tree: Option<&'a str>,
}

/// One entry of what a sync installs, under its name in the destination folder.
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    /// Its name in the destination folder.
    pub name: &'a str,
    /// What was downloaded.
    pub bytes: &'a [u8],
    /// `None`: the bytes are the file. `Some`: they are a zip archive, and these of
    /// its files make the folder (flattened).
    pub unzip: Option<ZipFiles<'a>>,
}

impl Part<'_> {
    fn stage(&self, staging: &Path) -> anyhow::Result<()> {
        let path = staging.join(self.name);
        match &self.unzip {
            None => std::fs::write(&path, self.bytes)
                .with_context(|| format!("cannot write {}", path.display())),
            Some(files) => extract(self.bytes, files, &path),
        }
    }
}

/// Installs `parts` into the folder `dest` (created if needed): each is laid out in a
/// staging folder inside `dest`, `check` is given that folder (a part is at
/// `staging/<name>`) and must accept them all, then each part replaces its
/// namesake in `dest` by a rename.
pub fn install(
    dest: &Path,
    parts: &[Part<'_>],
    check: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dest)
        .with_context(|| format!("cannot create the cache directory {}", dest.display()))?;
    // Inside `dest`, so that installing is a rename on one file system; removed when
    // dropped, on success as on failure.
    let staging = tempfile::Builder::new()
        .prefix(".sync.")
        .tempdir_in(dest)
        .with_context(|| format!("cannot create a staging folder in {}", dest.display()))?;
    for part in parts {
        part.stage(staging.path())?;
    }
    check(staging.path())?;
    let replaced = staging.path().join(".replaced");
    std::fs::create_dir(&replaced)
        .with_context(|| format!("cannot create {}", replaced.display()))?;
    for part in parts {
        let name = part.name;
        move_in(
            &staging.path().join(name),
            &dest.join(name),
            &replaced.join(name),
        )?;
    }
    Ok(())
}

/// Renames `from` to `to`. A folder cannot be renamed over another one, so an old
/// folder is first renamed to `aside` (inside the staging folder, removed with it)
/// and put back if the new one cannot take its place.
fn move_in(from: &Path, to: &Path, aside: &Path) -> anyhow::Result<()> {
    let old_folder = to.is_dir();
    if old_folder {
        std::fs::rename(to, aside).with_context(|| format!("cannot replace {}", to.display()))?;
    }
    if let Err(e) = std::fs::rename(from, to) {
        if old_folder {
            let _ = std::fs::rename(aside, to);
        }
        return Err(anyhow::Error::new(e).context(format!("cannot move {}", to.display())));
    }
    Ok(())
}

/// Writes the wanted files of `zip_bytes` flat into the new folder `dest`; an error
/// names the files the archive lacks.
pub fn extract(zip_bytes: &[u8], files: &ZipFiles<'_>, dest: &Path) -> anyhow::Result<()> {
    if let Some(folder) = files.tree {
        return extract_tree(zip_bytes, files.archive, folder, dest);
    }
    let archive_name = files.archive;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes))
        .with_context(|| format!("{archive_name} is not a zip archive"))?;
    std::fs::create_dir(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let mut found: Vec<&str> = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .with_context(|| format!("unreadable entry in {archive_name}"))?;
        if !entry.is_file() {
            continue;
        }
        let Some(name) = files.wanted(entry.name()) else {
            continue;
        };
        if found.contains(&name) {
            continue;
        }
        // Only the file name is used: nothing is written outside `dest`.
        let path = dest.join(name);
        let mut out = std::fs::File::create(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let copied = std::io::copy(&mut entry.by_ref().take(MAX_DOWNLOAD + 1), &mut out)
            .with_context(|| format!("cannot extract {name} from {archive_name}"))?;
        if copied > MAX_DOWNLOAD {
            bail!("{name} in {archive_name} is over {MAX_DOWNLOAD} bytes: not a standard's table");
        }
        found.push(name);
    }
    let missing: Vec<String> = files
        .names
        .iter()
        .filter(|n| !found.contains(n))
        .map(|n| match files.folder {
            Some(folder) => format!("{folder}/{n}"),
            None => n.to_string(),
        })
        .collect();
    if !missing.is_empty() {
        bail!("{archive_name} lacks {}", missing.join(", "));
    }
    Ok(())
}

/// The archive's path of the folder `folder` (`<anything>/<folder>/`), when it has
/// one holding `marker` below it.
pub fn tree_root(zip_bytes: &[u8], folder: &str, marker: &str) -> Option<String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).ok()?;
    let suffix = format!("{folder}/{marker}");
    (0..archive.len()).find_map(|i| {
        let name = archive.by_index(i).ok()?.name().to_string();
        let at = name.find(&suffix)?;
        (at == 0 || name[..at].ends_with('/')).then(|| name[..at + folder.len() + 1].to_string())
    })
}

/// Every `.csv` below the archive's folder `folder` into `dest/<folder>/`, paths kept.
fn extract_tree(
    zip_bytes: &[u8],
    archive_name: &str,
    folder: &str,
    dest: &Path,
) -> anyhow::Result<()> {
    let root = tree_root(zip_bytes, folder, "")
        .with_context(|| format!("{archive_name} has no {folder}/ folder"))?;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes))
        .with_context(|| format!("{archive_name} is not a zip archive"))?;
    let top = dest.join(folder);
    std::fs::create_dir_all(&top).with_context(|| format!("cannot create {}", top.display()))?;
    let mut taken = 0usize;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .with_context(|| format!("unreadable entry in {archive_name}"))?;
        let name = entry.name().to_string();
        let Some(rel) = name.strip_prefix(&root) else {
            continue;
        };
        if !entry.is_file() || !rel.ends_with(".csv") {
            continue;
        }
        // Plain names only: nothing is written outside `dest`.
        let rel_path = Path::new(rel);
        if !rel_path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            continue;
        }
        let path = top.join(rel_path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let mut out = std::fs::File::create(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let copied = std::io::copy(&mut entry.by_ref().take(MAX_DOWNLOAD + 1), &mut out)
            .with_context(|| format!("cannot extract {rel} from {archive_name}"))?;
        if copied > MAX_DOWNLOAD {
            bail!("{rel} in {archive_name} is over {MAX_DOWNLOAD} bytes: not a standard's table");
        }
        taken += 1;
    }
    if taken == 0 {
        bail!("{archive_name} has no CSV file below {folder}/");
    }
    Ok(())
}

impl<'a> ZipFiles<'a> {
    /// The wanted name of the archive's entry at `path`, when it is one.
    fn wanted(&self, path: &str) -> Option<&'a str> {
        let path = Path::new(path);
        let name = path.file_name()?.to_str()?;
        if let Some(folder) = self.folder
            && path.parent().and_then(Path::file_name) != Some(folder.as_ref())
        {
            return None;
        }
        self.names.iter().copied().find(|n| *n == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const TABLES: ZipFiles<'static> = ZipFiles {
        archive: "the test bundle",
        folder: Some("tables"),
        names: &["a.csv", "b.csv"],
        tree: None,
    };

    fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, body) in files {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .expect("zip entry");
            w.write_all(body.as_bytes()).expect("zip write");
        }
        w.finish().expect("zip").into_inner()
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".sync."))
            .collect()
    }

    #[test]
    fn named_files_of_the_folder_are_installed_flat() {
        let dir = tempfile::tempdir().expect("temp dir");
        let zip = zip_of(&[
            ("repo-main/tables/a.csv", "new a"),
            ("repo-main/tables/b.csv", "new b"),
            ("repo-main/other/a.csv", "not this one"),
            ("repo-main/tables/c.csv", "not named"),
        ]);
        let parts = [
            Part {
                name: "s.json",
                bytes: b"{}",
                unzip: None,
            },
            Part {
                name: "t",
                bytes: &zip,
                unzip: Some(TABLES),
            },
        ];
        install(dir.path(), &parts, |_| Ok(())).expect("first install");
        std::fs::write(dir.path().join("t/a.csv"), "old a").expect("old");
        install(dir.path(), &parts, |staged| {
            assert!(staged.join("t/b.csv").is_file() && staged.join("s.json").is_file());
            Ok(())
        })
        .expect("second install replaces the first");
        let read = |p: &str| std::fs::read_to_string(dir.path().join(p)).expect(p);
        assert_eq!(read("t/a.csv"), "new a");
        assert_eq!(read("t/b.csv"), "new b");
        assert_eq!(read("s.json"), "{}");
        assert!(!dir.path().join("t/c.csv").exists());
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn a_failure_leaves_the_cache_as_it_was() {
        let dir = tempfile::tempdir().expect("temp dir");
        let good = zip_of(&[("tables/a.csv", "a"), ("tables/b.csv", "b")]);
        let folder = |bytes| Part {
            name: "t",
            bytes,
            unzip: Some(TABLES),
        };
        install(dir.path(), &[folder(&good)], |_| Ok(())).expect("install");
        let short = zip_of(&[("tables/a.csv", "other a")]);
        let e = install(dir.path(), &[folder(&short)], |_| Ok(())).expect_err("b is missing");
        assert_eq!(e.to_string(), "the test bundle lacks tables/b.csv");
        let e = install(dir.path(), &[folder(b"not a zip")], |_| Ok(())).expect_err("no zip");
        assert_eq!(e.to_string(), "the test bundle is not a zip archive");
        install(dir.path(), &[folder(&good)], |_| bail!("does not load")).expect_err("check");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("t/a.csv")).expect("a"),
            "a"
        );
        assert!(leftovers(dir.path()).is_empty());
    }
}
