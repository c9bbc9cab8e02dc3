//! Small JSON config files (topics, offsets, KV config …) written so that a crash at any
//! moment leaves either the old or the new content readable.
//!
//! Write: new content to `<name>.tmp`, fsync; the current file renamed to `<name>.bak`;
//! `<name>.tmp` renamed to `<name>`; the directory fsynced. Read: `<name>`, or `<name>.bak`
//! when `<name>` is missing or empty (as RocketMQ's `ConfigManager` does).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Replaces the file at `path` with `content`, keeping the previous content as `.bak`.
pub fn write_atomic(path: &Path, content: &[u8]) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = dir {
        fs::create_dir_all(dir)?;
    }
    let tmp = sibling(path, ".tmp");
    {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        file.write_all(content)?;
        file.sync_all()?;
    }
    match fs::rename(path, sibling(path, ".bak")) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = dir {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Reads the file at `path`, falling back to its `.bak`; `None` when neither has content.
pub fn read(path: &Path) -> io::Result<Option<Vec<u8>>> {
    for candidate in [path.to_path_buf(), sibling(path, ".bak")] {
        match fs::read(&candidate) {
            Ok(bytes) if !bytes.is_empty() => return Ok(Some(bytes)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_previous_version_and_falls_back_to_it() {
        let dir = std::env::temp_dir().join(format!("apogee-cfg-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let path = dir.join("config").join("kv.json");
        assert_eq!(read(&path).unwrap(), None);
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(read(&path).unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!(fs::read(sibling(&path, ".bak")).unwrap(), b"one");
        // A crash between the two renames leaves only the .bak: it is read instead.
        fs::remove_file(&path).unwrap();
        assert_eq!(read(&path).unwrap().as_deref(), Some(&b"one"[..]));
        // So is an emptied file.
        fs::write(&path, b"").unwrap();
        assert_eq!(read(&path).unwrap().as_deref(), Some(&b"one"[..]));
        fs::remove_dir_all(&dir).unwrap();
    }
}
