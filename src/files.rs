//! Reading the files the daemon is pointed at (the configuration, AlmaLinux's `mirrors.d`,
//! the state file, CA files) without ever blocking on something that is not a file.
//!
//! A FIFO (or a character device) at one of those paths would make a plain `open` or `read`
//! wait for a writer forever: at start, before the daemon serves, or, on a reload, on a
//! runtime worker, so that the daemon froze and ignored SIGTERM. Here the path is opened
//! with `O_NONBLOCK`, which never waits, and anything but a regular file is refused before
//! a byte is read. Checking the type first and opening after would leave a window in which
//! the path could be swapped.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use rustix::fs::{Mode, OFlags};

/// `path` opened for reading, if it is a regular file (symbolic links followed); anything
/// else is an `InvalidInput` error saying what it is.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let file = File::from(rustix::fs::open(path, flags, Mode::empty())?);
    let kind = file.metadata()?.file_type();
    if kind.is_file() {
        return Ok(file);
    }
    let what = if kind.is_dir() {
        "a directory"
    } else if std::os::unix::fs::FileTypeExt::is_fifo(&kind) {
        "a FIFO"
    } else {
        "not a regular file"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what}, not a regular file"),
    ))
}

/// The whole of the regular file at `path`.
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open_regular(path)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The whole of the regular file at `path`, which must be UTF-8.
pub fn read_to_string(path: &Path) -> io::Result<String> {
    let mut text = String::new();
    open_regular(path)?.read_to_string(&mut text)?;
    Ok(text)
}

/// The whole of the regular file at `path`, which must be UTF-8 and at most `max` bytes
/// long; a longer one is an `InvalidData` error, read no further than `max` + 1 bytes.
pub fn read_to_string_at_most(path: &Path, max: u64) -> io::Result<String> {
    let mut text = String::new();
    open_regular(path)?
        .take(max.saturating_add(1))
        .read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than the {max} bytes allowed"),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_and_directories_are_refused_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let error = read_to_string(&fifo).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(error.to_string(), "a FIFO, not a regular file");
        let error = read(dir.path()).unwrap_err();
        assert!(error.to_string().starts_with("a directory"), "{error}");
        let file = dir.path().join("f");
        std::fs::write(&file, "text").unwrap();
        assert_eq!(read_to_string(&file).unwrap(), "text");
        assert_eq!(
            read(&dir.path().join("missing")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }
}
