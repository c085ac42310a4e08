//! Files on the server named by a statement (`COPY … FROM/TO 'path'`, `CREATE MODEL … FROM
//! 'path'`): what may be read and written.
//!
//! Reads are of regular files (and, for models, folders) only: a device, FIFO or socket
//! (`/dev/zero`, a named pipe) is refused before it is opened, so no statement can tie the
//! server up reading something endless or slow. Writes never land inside the data directory
//! (the server's own RocksDB files, which a stray COPY TO would corrupt), whatever path
//! leads there (`..`, symbolic links), and never replace anything but a regular file.
//! Refusals are 42501. Errors about a file's data never quote the data (see
//! `coord/copy.rs`).

use crate::AdapterError;
use std::path::{Path, PathBuf};

/// Checks that `path` names a regular file (or, with `folders`, a folder) that may be read.
pub(crate) fn check_readable(path: &str, folders: bool) -> Result<(), AdapterError> {
    let meta = std::fs::metadata(path).map_err(|e| AdapterError::File(format!("could not open file \"{path}\" for reading: {e}")))?;
    if meta.is_file() || (folders && meta.is_dir()) {
        Ok(())
    } else {
        Err(AdapterError::PermissionDenied(format!(
            "cannot read \"{path}\": not a regular file"
        )))
    }
}

/// Checks that `path` may be written: not inside `data_dir`, and not an existing file of
/// another kind than a regular one.
pub(crate) fn check_writable(path: &str, data_dir: &Path) -> Result<(), AdapterError> {
    let target = Path::new(path);
    if let Ok(meta) = std::fs::symlink_metadata(target) {
        if !meta.is_file() {
            return Err(AdapterError::PermissionDenied(format!(
                "cannot write \"{path}\": not a regular file"
            )));
        }
    }
    // The folder it would land in, with every link and `..` resolved.
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let folder = std::fs::canonicalize(&parent).map_err(|e| AdapterError::File(format!("could not write file \"{path}\": {e}")))?;
    let data_dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    if folder.starts_with(&data_dir) {
        return Err(AdapterError::PermissionDenied(format!(
            "cannot write \"{path}\": it is inside the server's data directory"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_not_read_and_the_data_directory_is_not_written() {
        let dir = std::env::temp_dir().join(format!("riffle-server-files-{}", std::process::id()));
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let plain = dir.join("rows.csv");
        std::fs::write(&plain, "1\n").unwrap();
        assert!(check_readable(plain.to_str().unwrap(), false).is_ok());
        assert!(check_readable(dir.to_str().unwrap(), true).is_ok());
        let code = |r: Result<(), AdapterError>| r.unwrap_err().code();
        assert_eq!(code(check_readable("/dev/zero", false)), "42501");
        assert_eq!(code(check_readable(dir.to_str().unwrap(), false)), "42501");
        assert!(check_writable(dir.join("out.csv").to_str().unwrap(), &data).is_ok());
        assert_eq!(code(check_writable(data.join("CURRENT").to_str().unwrap(), &data)), "42501");
        // Through `..` and through a link.
        let sneaky = format!("{}/data/../data/x", dir.display());
        assert_eq!(code(check_writable(&sneaky, &data)), "42501");
        let link = dir.join("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&data, &link).unwrap();
        assert_eq!(code(check_writable(link.join("x").to_str().unwrap(), &data)), "42501");
        assert_eq!(code(check_writable("/dev/null", &data)), "42501");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
