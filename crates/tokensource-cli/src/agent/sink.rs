//! The agent's token file: replaced whole by an atomic rename, mode 0600.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tokensource::Error;

/// The file the agent keeps a token in.
#[derive(Debug)]
pub(crate) struct Sink {
    path: PathBuf,
    dir: PathBuf,
    /// The file name, for naming the temporary files beside it.
    name: String,
}

impl Sink {
    /// Checks `path` before anything is fetched: it names a file (not a folder) in a folder
    /// that exists. Whether the folder is writable shows at the first write.
    pub(crate) fn new(path: &Path) -> Result<Sink, Error> {
        let usage = |detail: String| Error::configuration("--sink", detail);
        let name = path
            .file_name()
            .ok_or_else(|| usage(format!("{} names no file", path.display())))?;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        match std::fs::metadata(&dir) {
            Ok(metadata) if metadata.is_dir() => {}
            Ok(_) => return Err(usage(format!("{} is not a folder", dir.display()))),
            Err(e) => {
                return Err(usage(format!(
                    "the folder {} cannot be used ({e}); create it first (in Kubernetes, mount a \
                     volume there)",
                    dir.display()
                )));
            }
        }
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
            return Err(usage(format!("{} is a folder", path.display())));
        }
        Ok(Sink {
            path: path.to_path_buf(),
            dir,
            name: name.to_string_lossy().into_owned(),
        })
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the file with `contents`: written to a new private file in the same folder,
    /// flushed, then renamed over the sink, so that a reader opens the old file or the new one,
    /// whole, never an empty or partial one. (`tempfile` removes the temporary file if anything
    /// fails before the rename.)
    pub(crate) fn write(&self, contents: &[u8]) -> io::Result<()> {
        let mut file = tempfile::Builder::new()
            .prefix(&format!(".{}.", self.name))
            .suffix(".tmp")
            .tempfile_in(&self.dir)?;
        // tempfile creates it 0600 already; set it whatever the umask or the platform did.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(contents)?;
        file.as_file().sync_all()?;
        file.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_the_file_whole_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let sink = Sink::new(&path).unwrap();
        sink.write(b"first\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first\n");
        sink.write(b"second\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["token"]);
    }

    #[test]
    fn an_unusable_path_is_refused_before_anything_is_fetched() {
        let dir = tempfile::tempdir().unwrap();
        for bad in [
            dir.path().join("missing").join("token"),
            dir.path().to_path_buf(),
            dir.path().join(".."),
        ] {
            let error = Sink::new(&bad).unwrap_err();
            assert_eq!(
                error.kind(),
                tokensource::ErrorKind::Configuration,
                "{bad:?}"
            );
            assert!(error.to_string().contains("--sink"), "{error}");
        }
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(Sink::new(&file.join("token")).is_err());
        // A relative name is in the current folder.
        assert_eq!(Sink::new(Path::new("token")).unwrap().dir, Path::new("."));
    }
}
